/* echod — the mutual-TLS echo server. Flags -> config -> internal/server.
 *
 * Startup order: every step that can fail runs before the first listener
 * accepts, and a failure is one line on stderr and exit 2 (the command
 * line, environment, config file or a file they name is wrong) or 1 (the
 * system refused at run time). Step, then its exit status:
 *
 *   1. config: flags, environment, --config file                   2
 *   2. user: --user/--group exist and can be switched to           2
 *   3. credentials: cert/key/CA/CRL read and checked, or the dev
 *      PKI made; the I/O loops created                   2 (1: no memory)
 *   4. admin socket: another server answering there       1 (2: too long)
 *   5. metrics endpoint: bound and listening                       1
 *   6. listen addresses: bound, not listening (or socket
 *      activation's adopted)         1 (2: does not resolve, bad socket)
 *   7. privileges and sandbox: no_new_privs, --user, capabilities,
 *      the credential files readable as that user (2), Landlock,
 *      seccomp (1)
 *   8. descriptors: --max-connections fits under RLIMIT_NOFILE
 *      with what the process keeps for itself (the "descriptor
 *      limit" line; 0, the default, takes what is left)           2
 *   9. start: listen(), threads, the "listening" lines             1
 *
 * The admin socket and metrics endpoint come first so that a second echod
 * started by mistake says "admin socket in use" rather than naming a port.
 * Neither answers before ed_server_run: the control loop is not running.
 * systemd hears READY=1 on the control loop's first turn (sdnotify). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/admin/service.h"
#include "internal/base/base.h"
#include "internal/config/config.h"
#include "internal/metrics/service.h"
#include "internal/net/net.h"
#include "internal/sandbox/sandbox.h"
#include "internal/sdnotify/sdnotify.h"
#include "internal/sdnotify/service.h"
#include "internal/server/server.h"
#include "internal/version/version.h"

static int print_action(const struct ed_config *cfg) {
  if (cfg->action == ED_CONFIG_HELP) {
    fputs(ed_config_usage(), stdout);
  } else if (cfg->action == ED_CONFIG_PRINT) {
    char *json = ed_config_to_json(cfg);
    printf("%s\n", json);
    free(json);
  } else {
    char line[256];
    printf("%s\n", ed_version_line(line, sizeof(line), ED_TOOL_SERVER));
  }
  return 0;
}

/* fail prints |msg| as the one error line and returns |status|. */
static int fail(int status, const char *msg) {
  fprintf(stderr, "echod: error: %s\n", msg);
  return status;
}

/* What the control plane needs until the server is freed. */
struct control {
  struct ed_control_stats stats; /* one block, lent to admin and metrics */
  struct ed_admin_service *admin;
  struct ed_metrics_service *metrics;
  struct ed_sdnotify_service *notify;
};

/* The admin "metrics" command renders through the metrics service, which
 * starts after the admin socket; nothing is rendered before the control
 * loop runs, by which time it exists. */
static int render_metrics(void *arg, struct ed_buf *out) {
  struct control *c = arg;
  return c->metrics ? ed_metrics_service_render(c->metrics, out) : ED_E_STATE;
}

/* start_control opens the admin socket, then the metrics endpoint, and
 * readies the systemd notifications. Returns the exit status or 0. */
static int start_control(struct control *c, struct ed_server *srv) {
  char err[1024] = "";
  struct ed_admin_service_options ao = {
      .stats = &c->stats,
      .version = ED_VERSION,
      .metrics = render_metrics,
      .metrics_arg = c,
  };
  int rc = ed_admin_start(&c->admin, srv, &ao, err, sizeof(err));
  if (rc) return fail(rc == ED_E_TOOBIG ? 2 : 1, err);
  struct ed_metrics_service_options mo = {.control = &c->stats,
                                          .version = ED_VERSION};
  rc = ed_metrics_service_start(&c->metrics, srv, &mo, err, sizeof(err));
  if (rc) return fail(1, err);
  /* The descriptors their clients may hold, kept from the connections'
   * (internal/server, server_capacity.c). */
  if (c->admin)
    ed_server_reserve_fds(srv, ed_net_max_fds(ED_ADMIN_MAX_CLIENTS, 0),
                          "admin");
  const struct ed_config *cfg = ed_server_config(srv);
  if (!cfg->no_metrics && cfg->metrics_listen)
    ed_server_reserve_fds(
        srv, ed_net_max_fds(ED_METRICS_MAX_CONNS, ED_METRICS_PROBE_SLOTS),
        "metrics");
  if (ed_sdnotify_open() != 0)
    return fail(1, "cannot open a socket for $NOTIFY_SOCKET");
  rc = ed_sdnotify_service_start(&c->notify, srv);
  return rc ? fail(1, "cannot start the systemd notifications") : 0;
}

/* sandbox drops privileges and applies Landlock and seccomp, once every
 * file, socket and listen address is open and before any thread runs. */
static int sandbox(struct ed_server *srv, const struct ed_config *cfg,
                   const struct ed_sandbox_user *user, char *err,
                   size_t err_len) {
  struct ed_server_paths p;
  ed_server_cred_paths(srv, &p);
  const char **files = ed_calloc(3 + p.num_crls, sizeof(*files));
  files[0] = p.cert, files[1] = p.key, files[2] = p.ca;
  for (size_t i = 0; i < p.num_crls; i++) files[3 + i] = p.crls[i];
  char admin_dir[4096] = "";
  if (cfg->admin_socket) {
    snprintf(admin_dir, sizeof(admin_dir), "%s", cfg->admin_socket);
    char *slash = strrchr(admin_dir, '/');
    if (slash) *slash = '\0';
    if (!slash || !admin_dir[0]) snprintf(admin_dir, sizeof(admin_dir), ".");
  }
  const char *dirs[] = {cfg->state_dir, admin_dir[0] ? admin_dir : NULL};
  struct ed_sandbox_options o = {.user = user,
                                 .read_files = files,
                                 .num_read_files = 3 + p.num_crls,
                                 .write_dirs = dirs,
                                 .num_write_dirs = 2,
                                 .no_sandbox = cfg->no_sandbox};
  int rc = ed_sandbox_apply(&o, err, err_len);
  free(files);
  return rc == ED_E_USAGE ? 2 : rc ? 1 : 0;
}

static int serve(const struct ed_config *cfg) {
  char err[1024] = "";
  struct ed_sandbox_user user;
  struct ed_server *srv = NULL;
  struct control c;
  memset(&c, 0, sizeof(c));
  int rc =
      ed_sandbox_lookup_user(&user, cfg->user, cfg->group, err, sizeof(err));
  if (rc) return fail(2, err);
  rc = ed_server_new(&srv, cfg, err, sizeof(err));
  if (rc) return fail(rc == ED_E_SYS || rc == ED_E_NOMEM ? 1 : 2, err);
  int status = start_control(&c, srv);
  if (!status && (rc = ed_server_bind(srv, err, sizeof(err))) != 0)
    status = fail(rc == ED_E_USAGE ? 2 : 1, err);
  if (!status && (status = sandbox(srv, cfg, &user, err, sizeof(err))) != 0)
    fail(status, err);
  if (!status && (rc = ed_server_start(srv, err, sizeof(err))) != 0)
    status = fail(rc == ED_E_USAGE ? 2 : 1, err);
  if (!status) status = ed_server_run(srv) ? 1 : 0;
  ed_server_free(srv);
  ed_metrics_service_free(c.metrics);
  return status;
}

int main(int argc, char **argv) {
  struct ed_config *cfg = NULL;
  char err[1024] = "";
  int rc = ed_config_load(&cfg, argc, argv, err, sizeof(err));
  if (rc) return fail(2, err[0] ? err : ed_strerror(rc));
  if (cfg->action != ED_CONFIG_RUN) {
    rc = print_action(cfg);
  } else {
    ed_log_set_level(cfg->log_level);
    ed_log_set_format(cfg->log_format);
    rc = serve(cfg);
  }
  ed_config_free(cfg);
  return rc;
}

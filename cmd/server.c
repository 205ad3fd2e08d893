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
 * Started by an upgrade (internal/upgrade: the old echod's spawner sets
 * ECHOD_UPGRADE_*), steps 4-6 take the old process's sockets instead of
 * binding: after step 3 it asks the old process for them over its admin
 * socket, and once it serves it reports "ready" to the spawner (an error
 * line goes there too, so the old process can say why). Between steps 6
 * and 7 (privileges dropped, not yet sandboxed) the spawner that a later
 * upgrade needs is forked.
 *
 * The admin socket and metrics endpoint come first so that a second echod
 * started by mistake says "admin socket in use" rather than naming a port.
 * Neither answers before ed_server_run: the control loop is not running.
 * systemd hears READY=1 on the control loop's first turn (sdnotify). */
#include <malloc.h>
#include <signal.h>
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
#include "internal/upgrade/upgrade.h"
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

/* Started by an upgrade: where the error line goes too (set by serve). */
static struct ed_upgrade_child *upgrade_child;

/* fail prints |msg| as the one error line and returns |status|. */
static int fail(int status, const char *msg) {
  fprintf(stderr, "echod: error: %s\n", msg);
  if (upgrade_child) {
    char line[1200];
    snprintf(line, sizeof(line), "error echod: error: %s", msg);
    ed_upgrade_child_report(upgrade_child, line);
  }
  return status;
}

/* What the control plane needs until the server is freed. */
struct control {
  struct ed_control_stats stats; /* one block, lent to admin and metrics */
  struct ed_admin_service *admin;
  struct ed_metrics_service *metrics;
  struct ed_sdnotify_service *notify;
  struct ed_server *srv;
  char **argv;                      /* for the spawner */
  struct ed_upgrade_child child;    /* started by an upgrade: */
  struct ed_upgrade_sockets handed; /* the old process's sockets */
  uv_timer_t ready;                 /* reports "ready" on the first turn */
};

/* taken returns |*fd| for a service to adopt (0: none) and forgets it. */
static int taken(int *fd) {
  int v = *fd > 0 ? *fd : 0;
  *fd = -1;
  return v;
}

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
      .listen_fd = taken(&c->handed.admin_fd),
  };
  int rc = ed_admin_start(&c->admin, srv, &ao, err, sizeof(err));
  if (rc) return fail(rc == ED_E_TOOBIG ? 2 : 1, err);
  struct ed_metrics_service_options mo = {
      .control = &c->stats,
      .version = ED_VERSION,
      .listen_fd = taken(&c->handed.metrics_fd)};
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

/* start_spawner forks the process a later upgrade starts the new echod
 * from: privileges dropped, not sandboxed (the sandbox's before_confine).
 * Without an admin socket there is no hand-over, so no spawner. */
static int start_spawner(void *arg, char *err, size_t err_len) {
  struct control *c = arg;
  struct ed_spawner *sp = NULL;
  const struct ed_config *cfg = ed_server_config(c->srv);
  if (cfg->no_admin || !cfg->admin_socket) return 0;
  /* The spawner keeps a copy of every page resident now: not the memory
   * the credentials took to read and freed again (ed_server_reload). */
  malloc_trim(0);
  if (ed_spawner_start(&sp, NULL, c->argv, err, err_len) != 0) {
    char q[600];
    ED_WARN("upgrades off", "error=%s", ed_logq(q, sizeof(q), err));
    return 0;
  }
  ed_server_set_spawner(c->srv, sp);
  return 0;
}

/* sandbox drops privileges and applies Landlock and seccomp, once every
 * file, socket and listen address is open and before any thread runs. */
static int sandbox(struct ed_server *srv, const struct ed_config *cfg,
                   const struct ed_sandbox_user *user, struct control *c,
                   char *err, size_t err_len) {
  struct ed_server_paths p;
  ed_server_cred_paths(srv, &p);
  const char **files = ed_calloc(5 + p.num_crls, sizeof(*files));
  files[0] = p.cert, files[1] = p.key, files[2] = p.ca;
  for (size_t i = 0; i < p.num_crls; i++) files[3 + i] = p.crls[i];
  files[3 + p.num_crls] = p.ticket_keys; /* NULL without --ticket-keys */
  files[4 + p.num_crls] = p.allow_file;  /* NULL without --allow-file */
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
                                 .num_read_files = 5 + p.num_crls,
                                 .write_dirs = dirs,
                                 .num_write_dirs = 2,
                                 .no_sandbox = cfg->no_sandbox,
                                 .before_confine = start_spawner,
                                 .before_confine_arg = c};
  int rc = ed_sandbox_apply(&o, err, err_len);
  free(files);
  return rc == ED_E_USAGE ? 2 : rc ? 1 : 0;
}

static void on_ready_closed(uv_handle_t *h) {
  (void)h;
}

/* on_first_turn: the loops and every socket serve; tell the old process
 * (through its spawner) to stop accepting and drain. */
static void on_first_turn(uv_timer_t *t) {
  struct control *c = t->data;
  ED_INFO("upgrade ready", "old_pid=%d", (int)c->handed.old_pid);
  ed_upgrade_child_report(&c->child, "ready");
  uv_close((uv_handle_t *)t, on_ready_closed);
}

/* take_over asks the old process for its sockets (started by an upgrade:
 * after the credentials load, before anything would bind). */
static int take_over(struct control *c, struct ed_server *srv) {
  char err[1024];
  if (!upgrade_child) return 0;
  if (ed_upgrade_fetch(&c->child, &c->handed, err, sizeof(err)) != 0)
    return fail(1, err);
  ED_INFO("upgrade sockets received",
          "old_pid=%d listeners=%zu admin=%d "
          "metrics=%d",
          (int)c->handed.old_pid, c->handed.num_listen, c->handed.admin_fd >= 0,
          c->handed.metrics_fd >= 0);
  ed_server_adopt_listeners(srv, c->handed.listen_fds, c->handed.listen_addrs,
                            c->handed.num_listen);
  c->handed.num_listen = 0; /* the server's now */
  return 0;
}

static int serve(const struct ed_config *cfg, struct control *c) {
  char err[1024] = "";
  struct ed_sandbox_user user;
  struct ed_server *srv = NULL;
  int rc =
      ed_sandbox_lookup_user(&user, cfg->user, cfg->group, err, sizeof(err));
  if (rc) return fail(2, err);
  rc = ed_server_new(&srv, cfg, err, sizeof(err));
  if (rc) return fail(rc == ED_E_SYS || rc == ED_E_NOMEM ? 1 : 2, err);
  c->srv = srv;
  int status = take_over(c, srv);
  if (!status) status = start_control(c, srv);
  ed_upgrade_sockets_close(&c->handed); /* what this config does not use */
  if (!status && (rc = ed_server_bind(srv, err, sizeof(err))) != 0)
    status = fail(rc == ED_E_USAGE ? 2 : 1, err);
  if (!status && (status = sandbox(srv, cfg, &user, c, err, sizeof(err))) != 0)
    fail(status, err);
  if (!status && (rc = ed_server_start(srv, err, sizeof(err))) != 0)
    status = fail(rc == ED_E_USAGE ? 2 : 1, err);
  if (!status && upgrade_child) {
    uv_timer_init(ed_server_control_loop(srv), &c->ready);
    c->ready.data = c;
    uv_timer_start(&c->ready, on_first_turn, 0, 0);
  }
  if (!status) status = ed_server_run(srv) ? 1 : 0;
  ed_server_free(srv);
  ed_metrics_service_free(c->metrics);
  return status;
}

int main(int argc, char **argv) {
  struct ed_config *cfg = NULL;
  char err[1024] = "";
  struct control c;
  memset(&c, 0, sizeof(c));
  c.argv = argv;
  c.handed.admin_fd = c.handed.metrics_fd = -1;
  /* SIGUSR2 (upgrade) before the control loop handles it must not kill
   * the server (its default action); the spawner resets it for children. */
  signal(SIGUSR2, SIG_IGN);
  /* First: a new process an upgrade started reports even a bad flag. */
  int up = ed_upgrade_child_from_env(&c.child);
  if (up == 1) upgrade_child = &c.child;
  if (up < 0)
    return fail(2, "bad ECHOD_UPGRADE_* variables (set only by an upgrade)");
  int rc = ed_config_load(&cfg, argc, argv, err, sizeof(err));
  if (rc) return fail(2, err[0] ? err : ed_strerror(rc));
  if (cfg->action != ED_CONFIG_RUN) {
    rc = print_action(cfg);
  } else {
    ed_log_set_level(cfg->log_level);
    ed_log_set_format(cfg->log_format);
    rc = serve(cfg, &c);
  }
  ed_config_free(cfg);
  return rc;
}

/* internal/server — see server.h. Wires config -> credentials -> pool ->
 * loops, and runs the control loop (signals, drain; the reload triggers
 * are in server_reload.c). */
#include "internal/server/server_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal/allowfile/allowfile.h"
#include "internal/handshake/handshake.h"
#include "internal/listen/listen.h"
#include "internal/sdnotify/sdnotify.h"
#include "internal/upgrade/upgrade.h"
#include "internal/version/tool.h"
#include "pki/pki.h"

static const char *const server_state_names[] = {"starting", "running",
                                                 "draining", "stopped"};

const char *ed_server_state_name(enum ed_server_state s) {
  return (unsigned)s <= ED_SERVER_STOPPED ? server_state_names[s] : "unknown";
}

/* ---- credentials ----------------------------------------------------------
 */

struct ed_tls_snapshot *ed_server_snapshot_get(void *arg) {
  struct ed_server *srv = arg;
  pthread_mutex_lock(&srv->snap_mu);
  struct ed_tls_snapshot *s = srv->snap;
  ed_tls_snapshot_ref(s);
  pthread_mutex_unlock(&srv->snap_mu);
  return s;
}

/* merged is one allow-list as a snapshot build gets it: the flag's
 * entries, then the --allow-file's. The strings stay theirs; free the
 * array. */
static const char **merged(const struct ed_strlist *flags,
                           const struct ed_allowfile_list *file,
                           size_t *out_num) {
  const char **l = ed_calloc(flags->num + file->num + 1, sizeof(*l));
  size_t n = 0;
  for (size_t i = 0; i < flags->num; i++) l[n++] = flags->items[i];
  for (size_t i = 0; i < file->num; i++) l[n++] = file->items[i];
  *out_num = n;
  return l;
}

/* load_allow_file reads --allow-file into |af| (nothing without the flag)
 * and checks its allow-san entries here, so that every mistake in it names
 * FILE:LINE. On failure |af| is empty and |err| has the line. */
static int load_allow_file(const struct ed_config *cfg, struct ed_allowfile *af,
                           char *err, size_t err_len) {
  if (!cfg->allow_file) return 0;
  int rc = ed_allowfile_load(af, cfg->allow_file, err, err_len);
  for (size_t i = 0; rc == 0 && i < af->san.num; i++) {
    const char *why = NULL;
    if (ed_tls_allow_san_check(af->san.items[i], &why) != 0) {
      snprintf(err, err_len, "%s:%u: allow-san \"%s\" %s", cfg->allow_file,
               af->san.lines[i], af->san.items[i], why);
      rc = ED_E_PARSE;
    }
  }
  if (rc) ed_allowfile_cleanup(af);
  return rc;
}

int ed_server_build_snapshot(struct ed_server *srv,
                             struct ed_tls_snapshot **out, char *err,
                             size_t err_len) {
  const struct ed_config *cfg = srv->cfg;
  struct ed_server_paths paths;
  ed_server_cred_paths(srv, &paths);
  struct ed_allowfile af;
  memset(&af, 0, sizeof(af));
  int rc = load_allow_file(cfg, &af, err, err_len);
  if (rc) return rc;
  size_t num_cn, num_san, num_pins;
  const char **cn = merged(&cfg->allow_cn, &af.cn, &num_cn);
  const char **san = merged(&cfg->allow_san, &af.san, &num_san);
  const char **pins = merged(&cfg->allow_sha256, &af.sha256, &num_pins);
  struct ed_tls_params p = {
      .cert = srv->cert,
      .key = srv->key,
      .ca = srv->ca,
      .crls = paths.crls,
      .num_crls = paths.num_crls,
      .crl_expired_refuse =
          cfg->crl_expired && !strcmp(cfg->crl_expired, "refuse"),
      .limit_chain_depth = 1,
      .max_chain_depth = cfg->max_chain_depth,
      .allow_group_readable_key = cfg->allow_group_readable_key,
      .tls_min = cfg->tls_min,
      .allow_cn = cn,
      .num_allow_cn = num_cn,
      .allow_san = san,
      .num_allow_san = num_san,
      .allow_sha256 = pins,
      .num_allow_sha256 = num_pins,
      .allow_list_required = cfg->allow_file != NULL,
      .keyring = srv->keyring,
      .ticket_keys = cfg->ticket_keys,
      .ticket_lifetime_s = cfg->ticket_rotate_s ? 2 * cfg->ticket_rotate_s : 0,
  };
  /* The snapshot copies every entry it keeps (tls_snapshot.c). */
  rc = ed_tls_snapshot_new(out, &p, err, err_len);
  free(cn);
  free(san);
  free(pins);
  ed_allowfile_cleanup(&af);
  return rc;
}

static void created_str(char *out, size_t len, unsigned created) {
  snprintf(out, len, "%s%s%s%s", created & ED_PKI_DEV_CREATED_CA ? "ca," : "",
           created & ED_PKI_DEV_CREATED_SERVER ? "server," : "",
           created & ED_PKI_DEV_CREATED_CLIENT ? "dev-client," : "",
           created & ED_PKI_DEV_RENEWED_CRL ? "crl," : "");
  size_t n = strlen(out);
  if (n) out[n - 1] = '\0';
}

/* dev_pki makes sure the dev CA and certificates exist (zero-config) and
 * tells the user how to connect. */
static int dev_pki(struct ed_server *srv, char *err, size_t err_len) {
  struct ed_pki_dev_paths *p = ed_calloc(1, sizeof(*p));
  char dir[ED_PKI_PATH_MAX], created[64], q[4][ED_PKI_PATH_MAX + 8];
  snprintf(dir, sizeof(dir), "%s/pki", srv->cfg->state_dir);
  int rc = ed_pki_dev_setup(p, dir, err, err_len);
  /* The files do not match the CA's records (or are someone else's):
   * nothing was touched; a file mistake, so exit 2 like a bad flag. */
  if (rc == ED_E_MISMATCH || rc == ED_E_STATE || rc == ED_E_EXPIRED ||
      rc == ED_E_EXIST)
    rc = ED_E_USAGE;
  if (rc == 0) {
    srv->cert = ed_strdup(p->server_cert);
    srv->key = ed_strdup(p->server_key);
    srv->ca = ed_strdup(p->ca_cert);
    srv->crl = ed_strdup(p->crl);
    created_str(created, sizeof(created), p->created);
    if (p->warning[0])
      ED_WARN("dev PKI", "problem=%s", ed_logq(q[0], sizeof(q[0]), p->warning));
    ED_INFO("dev PKI ready", "dir=%s created=%s",
            ed_logq(q[0], sizeof(q[0]), dir), created[0] ? created : "nothing");
    ED_INFO("dev PKI files",
            "ca=%s server_cert=%s client_cert=%s "
            "client_key=%s",
            ed_logq(q[1], sizeof(q[1]), p->ca_cert),
            ed_logq(q[2], sizeof(q[2]), p->server_cert),
            ed_logq(q[3], sizeof(q[3]), p->client_cert), p->client_key);
    snprintf(srv->dev_cmd, sizeof(srv->dev_cmd), "--ca %s --cert %s --key %s",
             p->ca_cert, p->client_cert, p->client_key);
  }
  free(p);
  return rc;
}

static int resolve_creds(struct ed_server *srv, char *err, size_t err_len) {
  const struct ed_config *cfg = srv->cfg;
  if (!cfg->cert && !cfg->key && !cfg->ca) return dev_pki(srv, err, err_len);
  if (!cfg->cert || !cfg->key || !cfg->ca) {
    snprintf(err, err_len, "--cert, --key and --ca must be given together");
    return ED_E_USAGE;
  }
  srv->cert = ed_strdup(cfg->cert);
  srv->key = ed_strdup(cfg->key);
  srv->ca = ed_strdup(cfg->ca);
  srv->crl = cfg->crl.num ? ed_strdup(cfg->crl.items[0]) : NULL;
  return 0;
}

/* ---- listeners ------------------------------------------------------------
 */

static void add_addr(struct ed_server *srv, const char *addr) {
  srv->addrs = ed_realloc(srv->addrs, (srv->num_addrs + 1) * sizeof(char *));
  srv->addrs[srv->num_addrs++] = ed_strdup(addr);
}

/* bind_all binds every --listen address, or adopts the sockets of systemd
 * socket activation instead when there are any (then they are the listen
 * addresses: the .socket unit says where echod serves). */
static int bind_all(struct ed_server *srv, char *err, size_t err_len) {
  const struct ed_strlist *ls = &srv->cfg->listen;
  struct ed_listener *inherited = NULL;
  size_t num = 0;
  if (srv->from_upgrade) { /* ed_server_adopt_listeners */
    ED_INFO("upgrade", "sockets=%zu listen=ignored", srv->num_listeners);
    for (size_t i = 0; i < srv->num_listeners; i++)
      add_addr(srv, srv->listeners[i].addr);
    return 0;
  }
  int rc = ed_listen_inherit(&inherited, &num, err, err_len);
  if (rc) return rc;
  if (num) {
    srv->listeners = inherited;
    srv->num_listeners = num;
    ED_INFO("socket activation", "sockets=%zu listen=ignored", num);
  } else {
    srv->listeners = ed_calloc(ls->num, sizeof(*srv->listeners));
    for (size_t i = 0; i < ls->num; i++) {
      rc = ed_listen_bind(&srv->listeners[i], ls->items[i], err, err_len);
      if (rc) return rc;
      srv->num_listeners++;
    }
  }
  for (size_t i = 0; i < srv->num_listeners; i++)
    add_addr(srv, srv->listeners[i].addr);
  return 0;
}

/* give_listeners starts every listener and hands each loop its own dup of
 * each (the loops then share the accept queue). The server keeps its own
 * descriptor to hand to an upgrade's new process, and closes it when it
 * stops accepting (ed_server__close_listeners), so the socket closes with
 * the last loop's copy (drain). */
static int give_listeners(struct ed_server *srv, char *err, size_t err_len) {
  for (size_t i = 0; i < srv->num_listeners; i++) {
    int rc = ed_listen_start(&srv->listeners[i], err, err_len);
    if (rc) return rc;
  }
  for (size_t i = 0; i < srv->num_listeners; i++) {
    for (uint32_t w = 0; w < srv->workers; w++) {
      int fd = fcntl(srv->listeners[i].fd, F_DUPFD_CLOEXEC, 3);
      int rc = fd < 0 ? ED_E_SYS : ed_loop_add_listener(srv->loops[w], fd);
      if (rc) {
        snprintf(err, err_len, "cannot listen on %s: %s",
                 srv->listeners[i].addr,
                 fd < 0 ? strerror(errno) : ed_strerror(rc));
        return rc;
      }
    }
  }
  return 0;
}

void ed_server__close_listeners(struct ed_server *srv) {
  for (size_t i = 0; i < srv->num_listeners; i++)
    ed_listen_close(&srv->listeners[i]);
}

static uint32_t cpus(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (uint32_t)n : 1;
}

/* ---- life -----------------------------------------------------------------
 */

static int server_init(struct ed_server *srv, char *err, size_t err_len) {
  int rc = resolve_creds(srv, err, err_len);
  if (rc) return rc;
  srv->keyring = ed_tls_keyring_new(srv->cfg->ticket_rotate_s);
  char msg[512];
  rc = ed_server_build_snapshot(srv, &srv->snap, msg, sizeof(msg));
  if (rc) {
    snprintf(err, err_len, "cannot load credentials: %s", msg);
    return rc;
  }
  struct ed_tls_summary sum;
  ed_tls_snapshot_summary(srv->snap, &sum);
  srv->reload.count[ED_RELOAD_STARTUP][1] = 1;
  srv->reload.last_ok = 1;
  srv->reload.last_trigger = ED_RELOAD_STARTUP;
  srv->reload.last_wall_ns = sum.loaded_wall_ns;
  ed_server__raise_nofile(srv);
  srv->loops = ed_calloc(srv->workers, sizeof(*srv->loops));
  srv->sh.loops = srv->loops;
  srv->sh.num_loops = srv->workers;
  for (uint32_t i = 0; i < srv->workers; i++) {
    srv->loops[i] = ed_loop_new(i, &srv->sh);
    if (!srv->loops[i]) {
      snprintf(err, err_len, "cannot create I/O loop %u", i);
      return ED_E_SYS;
    }
  }
  return 0;
}

int ed_server_new(struct ed_server **out, const struct ed_config *cfg,
                  char *err, size_t err_len) {
  struct ed_server *srv = ed_calloc(1, sizeof(*srv));
  *out = NULL;
  srv->cfg = cfg;
  srv->workers = cfg->workers ? cfg->workers : cpus();
  srv->hs_threads = cfg->handshake_threads ? cfg->handshake_threads : cpus();
  srv->start_wall_ns = ed_wall_ns();
  pthread_mutex_init(&srv->snap_mu, NULL);
  ed_stats_init(&srv->control_stats);
  srv->sh.cfg = cfg;
  srv->sh.snapshot_get = ed_server_snapshot_get;
  srv->sh.snapshot_arg = srv;
  atomic_init(&srv->sh.next_id, 1);
  uv_loop_init(&srv->control);
  signal(SIGPIPE, SIG_IGN);
  int rc = server_init(srv, err, err_len);
  if (rc) {
    ed_server_free(srv);
    return rc;
  }
  *out = srv;
  return 0;
}

void ed_server_adopt_listeners(struct ed_server *srv, const int *fds,
                               char (*addrs)[80], size_t num) {
  srv->listeners = ed_calloc(num ? num : 1, sizeof(*srv->listeners));
  for (size_t i = 0; i < num; i++) {
    srv->listeners[i].fd = fds[i];
    srv->listeners[i].inherited = 1; /* listening already */
    snprintf(srv->listeners[i].addr, sizeof(srv->listeners[i].addr), "%s",
             addrs[i]);
  }
  srv->num_listeners = num;
  srv->from_upgrade = 1;
}

int ed_server_bind(struct ed_server *srv, char *err, size_t err_len) {
  return bind_all(srv, err, err_len);
}

int ed_server_start(struct ed_server *srv, char *err, size_t err_len) {
  int rc = ed_server__fit(srv, err, err_len);
  if (rc) return rc;
  rc = give_listeners(srv, err, err_len);
  if (rc) return rc;
  srv->pool = ed_hs_pool_new(srv->hs_threads, srv->cfg->max_pending_handshakes);
  if (!srv->pool) {
    snprintf(err, err_len, "cannot start the handshake pool");
    return ED_E_SYS;
  }
  srv->sh.pool = srv->pool;
  uint32_t delay = srv->cfg->test_hs_delay_ms; /* tests only */
  if (delay) {
    ed_hs_pool_set_test_delay(srv->pool, delay);
    ED_WARN("handshake pool slowed for tests", "delay_ms=%u", delay);
  }
  for (uint32_t i = 0; i < srv->workers; i++) {
    if (ed_loop_start(srv->loops[i]) != 0) {
      snprintf(err, err_len, "cannot start I/O loop %u", i);
      return ED_E_SYS;
    }
  }
  /* One line per listen address, with the real bound port (from=systemd
   * for a socket activation's):
   *   level=info msg=listening addr=127.0.0.1:45873 workers=2
   *       handshake_threads=2 */
  for (size_t i = 0; i < srv->num_listeners; i++) {
    ED_INFO("listening", "addr=%s workers=%u handshake_threads=%u%s",
            srv->addrs[i], srv->workers, srv->hs_threads,
            srv->from_upgrade             ? " from=upgrade"
            : srv->listeners[i].inherited ? " from=systemd"
                                          : "");
  }
  if (srv->dev_cmd[0] && srv->num_addrs) {
    /* The command that works for how echod was started (bazel run or
     * installed) and where it really listens. */
    char q[2][2 * sizeof(srv->dev_cmd)], cmd[2][sizeof(srv->dev_cmd) + 400];
    ed_tool_client_hint(cmd[0], sizeof(cmd[0]), srv->addrs[0],
                        srv->cfg->state_dir, NULL);
    ed_tool_client_hint(cmd[1], sizeof(cmd[1]), srv->addrs[0], NULL,
                        srv->dev_cmd);
    ED_INFO("connect with", "cmd=%s explicit=%s",
            ed_logq(q[0], sizeof(q[0]), cmd[0]),
            ed_logq(q[1], sizeof(q[1]), cmd[1]));
  }
  atomic_store(&srv->state, ED_SERVER_RUNNING);
  return 0;
}

void ed_server__stop_loops(struct ed_server *srv) {
  if (srv->loops_stopping) return;
  srv->loops_stopping = 1;
  for (uint32_t i = 0; i < srv->workers; i++) {
    if (srv->loops[i]) ed_loop_post_stop(srv->loops[i]);
  }
}

static void run_hooks(struct ed_server *srv) {
  if (srv->hooks_ran) return;
  srv->hooks_ran = 1;
  for (size_t i = 0; i < srv->num_hooks; i++)
    srv->hooks[i].fn(srv->hooks[i].arg);
}

void ed_server_free(struct ed_server *srv) {
  if (!srv) return;
  /* A start that failed: the admin socket and metrics endpoint close
   * (and the socket file goes) as after a drain. */
  int late_hooks = !srv->hooks_ran && srv->num_hooks;
  run_hooks(srv);
  if (srv->pool) ed_server__stop_loops(srv);
  for (uint32_t i = 0; srv->loops && i < srv->workers; i++)
    ed_loop_join(srv->loops[i]);
  ed_hs_pool_free(srv->pool);
  for (uint32_t i = 0; srv->loops && i < srv->workers; i++)
    ed_loop_free(srv->loops[i]);
  free(srv->loops);
  uv_run(&srv->control, late_hooks ? UV_RUN_DEFAULT : UV_RUN_NOWAIT);
  uv_loop_close(&srv->control);
  ed_spawner_free(srv->spawner); /* the spawner exits */
  for (size_t i = 0; i < srv->num_listeners; i++)
    ed_listen_close(&srv->listeners[i]);
  free(srv->listeners);
  ed_tls_snapshot_unref(srv->snap);
  ed_tls_keyring_unref(srv->keyring);
  for (size_t i = 0; i < srv->num_addrs; i++) free(srv->addrs[i]);
  free(srv->addrs);
  free(srv->cert);
  free(srv->key);
  free(srv->ca);
  free(srv->crl);
  pthread_mutex_destroy(&srv->snap_mu);
  free(srv);
}

/* ---- stop ------------------------------------------------------------------
 * (the drain that leads here: server_drain.c) */

int64_t ed_server__live_conns(struct ed_server *srv) {
  return atomic_load(&srv->sh.num_conns);
}

void ed_server__finish(struct ed_server *srv) {
  for (uint32_t i = 0; i < srv->workers; i++) ed_loop_join(srv->loops[i]);
  atomic_store(&srv->state, ED_SERVER_STOPPED);
  ED_INFO("stopped", "uptime_s=%.1f",
          (double)(ed_wall_ns() - srv->start_wall_ns) / 1e9);
  ed_server_upgrade_stop(srv); /* an upgrade under way is answered */
  run_hooks(srv);
  uv_close((uv_handle_t *)&srv->drain_timer, NULL);
  ed_server__trim_stop(srv);
  uv_close((uv_handle_t *)&srv->sig_term, NULL);
  uv_close((uv_handle_t *)&srv->sig_int, NULL);
  ed_server_reload_triggers_stop(srv);
}

static void on_signal(uv_signal_t *s, int signum) {
  struct ed_server *srv = s->data;
  if (srv->signals_seen++) {
    ED_WARN("second signal, exiting now", "signal=%d", signum);
    _exit(1);
  }
  ED_INFO("signal", "signal=%s", signum == SIGTERM ? "SIGTERM" : "SIGINT");
  ed_server_drain(srv, srv->cfg->drain_timeout_ms);
}

static void signal_on(struct ed_server *srv, uv_signal_t *h, int signum) {
  uv_signal_init(&srv->control, h);
  h->data = srv;
  uv_signal_start(h, on_signal, signum);
}

int ed_server_run(struct ed_server *srv) {
  uv_timer_init(&srv->control, &srv->drain_timer);
  srv->drain_timer.data = srv;
  signal_on(srv, &srv->sig_term, SIGTERM);
  signal_on(srv, &srv->sig_int, SIGINT);
  ed_server_reload_triggers_start(srv);
  ed_server_upgrade_start(srv);
  ed_server__trim_start(srv);
  uv_run(&srv->control, UV_RUN_DEFAULT);
  return 0;
}

uv_loop_t *ed_server_control_loop(struct ed_server *srv) {
  return &srv->control;
}

void ed_server_add_stop_hook(struct ed_server *srv, void (*fn)(void *arg),
                             void *arg) {
  if (srv->num_hooks < MAX_HOOKS)
    srv->hooks[srv->num_hooks++] = (struct hook){fn, arg};
}

/* ---- state and counters ---------------------------------------------------
 */

enum ed_server_state ed_server_get_state(const struct ed_server *srv) {
  return (enum ed_server_state)atomic_load(&srv->state);
}

uint64_t ed_server_start_time(const struct ed_server *srv) {
  return srv->start_wall_ns;
}

const struct ed_config *ed_server_config(const struct ed_server *srv) {
  return srv->cfg;
}

uint32_t ed_server_num_workers(const struct ed_server *srv) {
  return srv->workers;
}

uint32_t ed_server_num_handshake_threads(const struct ed_server *srv) {
  return srv->hs_threads;
}

const char *const *ed_server_listen_addrs(const struct ed_server *srv,
                                          size_t *out_num) {
  *out_num = srv->num_addrs;
  return (const char *const *)srv->addrs;
}

void ed_server_stats(struct ed_server *srv, struct ed_stats_snapshot *out) {
  ed_stats_snapshot_init(out);
  for (uint32_t i = 0; i < srv->workers; i++) ed_loop_stats(srv->loops[i], out);
  if (srv->pool) ed_hs_pool_stats(srv->pool, out);
  ed_stats_accumulate(out, &srv->control_stats);
}

struct ed_stats *ed_server_control_stats(struct ed_server *srv) {
  return &srv->control_stats;
}

/* internal/server — shared by server.c, server_ops.c and server_reload.c.
 * Not an API. */
#ifndef ED_SERVER_INTERNAL_H
#define ED_SERVER_INTERNAL_H

#include <pthread.h>

#include "internal/server/server.h"

#define MAX_HOOKS 16

struct hook {
  void (*fn)(void *arg);
  void *arg;
};

struct ed_server {
  const struct ed_config *cfg;
  uint32_t workers, hs_threads;
  struct ed_loop_shared sh;
  struct ed_loop **loops;
  struct ed_hs_pool *pool;
  struct ed_tls_keyring *keyring;
  pthread_mutex_t snap_mu;
  struct ed_tls_snapshot *snap; /* under snap_mu */
  char *cert, *key, *ca, *crl;  /* resolved credential paths */
  char dev_cmd[3200];           /* zero-config: the client's flags */
  char **addrs;
  size_t num_addrs;
  uv_loop_t control;
  uv_signal_t sig_term, sig_int, sig_hup;
  uv_timer_t drain_timer;
  int control_handles, signals_seen;
  _Atomic int state;
  uint64_t start_wall_ns, drain_deadline_ns;
  int loops_stopping;
  struct ed_stats control_stats;
  struct hook hooks[MAX_HOOKS];
  size_t num_hooks;
  struct ed_reload_status reload;
  struct ed_reload *watcher; /* NULL: --no-watch, or not running */
};

/* server.c */
struct ed_tls_snapshot *ed_server_snapshot_get(void *srv);
int ed_server_build_snapshot(struct ed_server *srv,
                             struct ed_tls_snapshot **out, char *err,
                             size_t err_len);

/* server_reload.c: the reload triggers on the control loop (SIGHUP, the
 * file watcher unless --no-watch), started by ed_server_run and stopped
 * when the server stops. */
void ed_server_reload_triggers_start(struct ed_server *srv);
void ed_server_reload_triggers_stop(struct ed_server *srv);

#endif /* ED_SERVER_INTERNAL_H */

/* internal/server — shared by server.c, server_ops.c, server_reload.c and
 * server_trust.c. Not an API. */
#ifndef ED_SERVER_INTERNAL_H
#define ED_SERVER_INTERNAL_H

#include <pthread.h>

#include "internal/listen/listen.h"
#include "internal/server/server.h"

#define MAX_HOOKS 16

struct hook {
  void (*fn)(void *arg);
  void *arg;
};

#define ED_SERVER_MAX_RESERVED 8

/* Descriptors: the limit and what the process keeps for itself
 * (server_capacity.c says what each part is). */
struct ed_server_fd_reserve {
  uint32_t n;
  char what[24];
};

struct ed_server_fds {
  uint64_t soft_at_start, soft, hard; /* RLIMIT_NOFILE */
  uint64_t open_now, listener_dups, inotify, reserved_total, transient;
  struct ed_server_fd_reserve reserved[ED_SERVER_MAX_RESERVED];
  size_t num_reserved;
};

struct ed_server {
  const struct ed_config *cfg;
  struct ed_server_fds fds;
  uv_timer_t trim_timer; /* server_capacity.c: memory after a mass close */
  int64_t trim_peak;     /* sessions at most since the last trim */
  uint32_t workers, hs_threads;
  struct ed_loop_shared sh;
  struct ed_loop **loops;
  struct ed_hs_pool *pool;
  struct ed_tls_keyring *keyring;
  pthread_mutex_t snap_mu;
  struct ed_tls_snapshot *snap;  /* under snap_mu */
  char *cert, *key, *ca, *crl;   /* resolved credential paths */
  char dev_cmd[3200];            /* zero-config: the client's flags */
  struct ed_listener *listeners; /* bound by ed_server_bind; each closed
                                  * once the loops have their dups */
  size_t num_listeners;
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
  int hooks_ran;
  struct ed_reload_status reload;
  struct ed_reload *watcher; /* NULL: --no-watch, or not running */
  /* server_trust.c (control thread only). */
  int trust_running;                   /* its timers are up */
  uv_timer_t recheck_timer, crl_timer; /* re-check rounds; CRL warning */
  uv_timer_t retire_timer;             /* while snapshots are retired */
  struct ed_tls_snapshot **retired;    /* replaced, still held elsewhere */
  size_t num_retired;
  struct ed_recheck_round *rounds;      /* started, not yet freed */
  struct ed_recheck_round *last_round;  /* the last publish's, if running */
  struct ed_recheck_result last_result; /* the last publish's, if none */
  /* server_drain.c (control thread only). */
  int drain_phase;                /* enum drain_phase there */
  int drain_finish;               /* sessions run until the timeout */
  int drain_stop_logged;          /* "drain stops accepting" written */
  uint32_t drain_timeout_ms;      /* once accepting stops */
  uint64_t drain_accept_until_ns; /* --drain-delay: accepting until */
  uint64_t drain_grace_until_ns;  /* finish: close_notify sent, until */
  /* server_upgrade.c (control thread only). */
  int from_upgrade;           /* the listeners came from an old process */
  struct ed_spawner *spawner; /* NULL: no upgrades */
  uv_poll_t spawner_poll;
  uv_signal_t sig_usr2;
  uv_timer_t upgrade_timer;
  int upgrade_running; /* its handles are up */
  int upgrade_state;   /* enum upgrade_state there */
  int upgrade_pid;     /* the new process, once started */
  char upgrade_token[72];
  ed_server_upgrade_fn upgrade_done;
  void *upgrade_arg;
  struct ed_server_handover_sock handover[4];
  size_t num_handover;
};

/* server.c */
struct ed_tls_snapshot *ed_server_snapshot_get(void *srv);
/* ed_server__live_conns: connections not yet freed, those accepted and
 * still waiting in a loop's inbox included. */
int64_t ed_server__live_conns(struct ed_server *srv);
void ed_server__stop_loops(struct ed_server *srv);
void ed_server__finish(struct ed_server *srv);
/* ed_server__close_listeners closes the server's own descriptors of the
 * listening sockets (the loops have theirs): when it stops accepting. */
void ed_server__close_listeners(struct ed_server *srv);

/* server_upgrade.c: SIGUSR2 and the spawner's socket on the control loop,
 * started by ed_server_run, stopped when the server stops. */
void ed_server_upgrade_start(struct ed_server *srv);
void ed_server_upgrade_stop(struct ed_server *srv);
int ed_server_build_snapshot(struct ed_server *srv,
                             struct ed_tls_snapshot **out, char *err,
                             size_t err_len);

/* server_capacity.c: raise_nofile raises the soft RLIMIT_NOFILE to the
 * hard one (ed_server_new); fit sizes the limits the loops admit by
 * (ed_server_start, before the listeners start): 0, or ED_E_USAGE with
 * one line in |err| when --max-connections does not fit. */
void ed_server__raise_nofile(struct ed_server *srv);
int ed_server__fit(struct ed_server *srv, char *err, size_t err_len);
/* trim_start/stop: the control loop's malloc_trim timer (ed_server_run,
 * and when the server stops). */
#define ED_TRIM_TICK_MS 1000
#define ED_TRIM_MIN_DROP 256
void ed_server__trim_start(struct ed_server *srv);
void ed_server__trim_stop(struct ed_server *srv);

/* server_reload.c: the reload triggers on the control loop (SIGHUP, the
 * file watcher unless --no-watch), started by ed_server_run and stopped
 * when the server stops. */
void ed_server_reload_triggers_start(struct ed_server *srv);
void ed_server_reload_triggers_stop(struct ed_server *srv);

/* server_trust.c: what keeps trust current on the control loop. start:
 * the hourly CRL warning (--crl-warn-interval) and re-check rounds become
 * possible; stop: every round still open is answered and freed (the loops
 * have exited by then), the timers close. ed_server_recheck_start runs
 * right after a publish: it starts the re-check of established sessions
 * against it and logs the "reloaded" line when that is done (at once when
 * there is nothing to re-check). */
void ed_server_trust_start(struct ed_server *srv);
void ed_server_trust_stop(struct ed_server *srv);
void ed_server_recheck_start(struct ed_server *srv,
                             const struct ed_tls_summary *sum,
                             enum ed_reload_trigger trigger);
/* ed_server_retire takes the server's reference to a snapshot a publish
 * replaced and drops it on the control thread once it is the last one
 * (at once when trust is not running). */
void ed_server_retire(struct ed_server *srv, struct ed_tls_snapshot *s);

#endif /* ED_SERVER_INTERNAL_H */

/* internal/server — the whole echod server: credentials, handshake pool,
 * I/O loops and the control loop, behind one opaque object.
 *
 * Threads (docs/architecture.md, threads and ownership):
 *   - ed_server_run() runs the CONTROL LOOP, a libuv loop on the calling
 *     (main) thread: signals, drain, reload. The admin socket (issue 4) and
 *     the metrics endpoint (issue 5) live on it too: they get the loop with
 *     ed_server_control_loop() and register a stop hook so their handles
 *     close when the server stops.
 *   - |workers| I/O loops and |handshake_threads| pool threads, started by
 *     ed_server_start(); no caller code ever runs on them.
 *
 * Unless a comment says otherwise, every function below is called on the
 * control thread (the thread that called ed_server_new/run), typically from
 * a libuv callback on ed_server_control_loop(). None of them blocks on the
 * I/O loops: they read per-loop counters and registries under short
 * per-loop locks, and post commands (kill, drain) to the loops.
 *
 * Lifecycle (cmd/server.c does the steps between, see its comment):
 *   ed_server_new(&srv, cfg, err)   credentials loaded, loops made (state
 *                                   STARTING); nothing bound
 *   ... admin socket and metrics endpoint on ed_server_control_loop(srv) ...
 *   ed_server_bind(srv, err)        every listen address bound (or the
 *                                   socket-activation sockets adopted);
 *                                   nothing accepts yet
 *   ... privileges dropped, sandbox applied (internal/sandbox) ...
 *   ed_server_start(srv, err)       listen(), threads running (state
 *                                   RUNNING); one "listening" line per
 *                                   address
 *   ed_server_run(srv)              until a signal/drain finished
 *   ed_server_free(srv)
 * Every step can fail with a one-line |err|; a server that never reached
 * ed_server_start accepted no connection.
 *
 * Log lines (logfmt, internal/base) are documented next to the code that
 * writes them: "listening" (ed_server_start, server.c), "session closed"
 * (internal/loop/conn.c log_closed), "handshake failed"
 * (internal/loop/conn_hs.c ed_conn_hs_outcome), the reload lines
 * (server_reload.c).
 */
#ifndef ED_SERVER_H
#define ED_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "internal/config/config.h"
#include "internal/loop/loop.h"
#include "internal/reload/reload_types.h"
#include "internal/stats/stats.h"
#include "internal/tls/tls.h"

struct ed_server;

enum ed_server_state {
  ED_SERVER_STARTING = 0, /* built, not yet serving */
  ED_SERVER_RUNNING,      /* accepting connections */
  ED_SERVER_DRAINING,     /* not accepting; waiting for sessions to close */
  ED_SERVER_STOPPED,      /* loops stopped; ed_server_run is returning */
};

/* ed_server_state_name returns "starting", "running", "draining" or
 * "stopped". */
const char *ed_server_state_name(enum ed_server_state s);

/* ed_server_new builds a server from |cfg| (borrowed; must outlive the
 * server). It resolves the credentials — with cfg->cert, key and ca all
 * NULL, the dev PKI in <state_dir>/pki is created (only what is missing)
 * and the client command is printed — builds the first credential
 * snapshot, raises the soft RLIMIT_NOFILE to the hard one and creates the
 * I/O loops (no thread
 * yet). It binds nothing. On success sets |*out| and returns 0. On
 * failure writes a one-line message to |err| and returns a negative
 * ED_E_* code: ED_E_SYS or ED_E_NOMEM when the system refused (loops),
 * anything else for the credentials (a file missing, unreadable, too
 * open, not parsable or not matching: the configuration's fault). */
int ed_server_new(struct ed_server **out, const struct ed_config *cfg,
                  char *err, size_t err_len);

/* ed_server_free stops everything still running and frees |srv|. When the
 * server never ran, the stop hooks run here, so the admin socket and the
 * metrics endpoint close (and the socket file is removed). NULL is fine. */
void ed_server_free(struct ed_server *srv);

/* ed_server_bind binds every --listen address (internal/listen: exclusive,
 * not listening yet) — or, under systemd socket activation, adopts the
 * inherited sockets instead and ignores --listen. Call once, after the
 * admin socket and metrics endpoint and before the sandbox. Returns 0, or
 * writes one line to |err| and returns ED_E_USAGE (a bad or unresolvable
 * address, a bad activation socket), ED_E_EXIST (an address in use; the
 * line names who holds it) or ED_E_SYS. */
int ed_server_bind(struct ed_server *srv, char *err, size_t err_len);

/* ed_server_start sizes the connection limits to the descriptor limit
 * (--max-connections 0: all that is left once the process's own are
 * counted; a larger --max-connections than that is refused; the
 * "descriptor limit" line, server_capacity.c), then makes the bound
 * sockets listen, gives every I/O loop its own descriptor of each (the
 * loops share one accept queue per address), starts the handshake pool
 * and the loops, and logs the "listening" lines. Returns 0, or writes one
 * line to |err| and returns ED_E_USAGE (--max-connections does not fit;
 * nothing listens), ED_E_EXIST (an address taken since it was bound) or
 * ED_E_SYS. */
int ed_server_start(struct ed_server *srv, char *err, size_t err_len);

/* ed_server_run runs the control loop until the server has stopped
 * (SIGTERM/SIGINT, or ed_server_drain, and the drain finished). It
 * installs the SIGTERM/SIGINT handlers: the first signal starts a drain
 * with cfg->drain_timeout_ms; a second one exits the process at once with
 * status 1. It starts the reload triggers: SIGHUP, and unless --no-watch
 * the credential file watcher (both call ed_server_reload). When the drain ends
 * the stop hooks run, then the control loop runs until its handles are closed.
 * Returns 0 (the exit status). */
int ed_server_run(struct ed_server *srv);

/* ed_server_control_loop returns the control thread's libuv loop (owned by
 * |srv|). Admin and metrics servers open their handles on it before
 * ed_server_run. */
uv_loop_t *ed_server_control_loop(struct ed_server *srv);

/* ed_server_add_stop_hook registers |fn(arg)| to run on the control thread
 * once, when the server stops (after the drain; I/O loops already
 * stopped). The hook must close its handles on the control loop so
 * ed_server_run can return. Hooks run in the order added. */
void ed_server_add_stop_hook(struct ed_server *srv, void (*fn)(void *arg),
                             void *arg);

/* ed_server_reserve_fds keeps |n| descriptors out of those the
 * connections may use, for |what| (a short name for the "descriptor
 * limit" log line): a control-plane service on the control loop declares
 * the most it may hold at run time beyond what it has open already (its
 * clients). Call before ed_server_start, which sizes --max-connections
 * under RLIMIT_NOFILE less everything the process keeps for itself
 * (server_capacity.c). */
void ed_server_reserve_fds(struct ed_server *srv, uint32_t n, const char *what);

/* ---- state and counters ---------------------------------------------------
 */

enum ed_server_state ed_server_get_state(const struct ed_server *srv);

/* ed_server_start_time returns the wall-clock start time, ns since the
 * epoch (ed_wall_ns at ed_server_new). */
uint64_t ed_server_start_time(const struct ed_server *srv);

/* ed_server_config returns the configuration (borrowed). */
const struct ed_config *ed_server_config(const struct ed_server *srv);

/* ed_server_num_workers / ed_server_num_handshake_threads return the
 * resolved thread counts (0 in the config becomes the CPU count). */
uint32_t ed_server_num_workers(const struct ed_server *srv);
uint32_t ed_server_num_handshake_threads(const struct ed_server *srv);

/* ed_server_listen_addrs returns the bound addresses ("127.0.0.1:45873",
 * "[::1]:45873"; after ed_server_bind) and sets |*out_num|. Borrowed from
 * |srv|. */
const char *const *ed_server_listen_addrs(const struct ed_server *srv,
                                          size_t *out_num);

/* ed_server_stats fills |out| with the sum of every loop's, the pool's
 * and the control loop's counters. Never blocks the loops. */
void ed_server_stats(struct ed_server *srv, struct ed_stats_snapshot *out);

/* ed_server_control_stats returns the control thread's own counters
 * (borrowed; write only on the control thread). Admin/metrics may add to
 * it; it is included in ed_server_stats. */
struct ed_stats *ed_server_control_stats(struct ed_server *srv);

/* ---- sessions -------------------------------------------------------------
 */

/* enum ed_session_state, struct ed_session_info and their name helpers
 * come from internal/loop/loop.h (included above). */

/* Filters for ed_server_sessions; zero/NULL fields match everything. */
struct ed_session_filter {
  const char *cn;        /* exact CN (same length, same bytes) */
  int state;             /* ed_session_state + 1; 0 = any */
  uint64_t older_than_s; /* started more than this many seconds ago */
  size_t limit;          /* at most this many; 0 = no limit */
};

/* ed_server_sessions sets |*out| to a new array of the sessions matching
 * |filter| (may be NULL), ordered by id, and |*out_num|; each entry holds
 * a reference to its identity: free with ed_server_sessions_free.
 * Returns 0. */
int ed_server_sessions(struct ed_server *srv, struct ed_session_info **out,
                       size_t *out_num, const struct ed_session_filter *filter);
void ed_server_sessions_free(struct ed_session_info *list, size_t num);

/* ed_server_session copies session |id| into |out| (with a reference to
 * its identity: ed_session_info_cleanup when done). Returns 0 or
 * ED_E_NOTFOUND. */
int ed_server_session(struct ed_server *srv, struct ed_session_info *out,
                      uint64_t id);

/* ed_server_kill closes session |id| (close_notify when established; close
 * reason "killed"). Returns 1 if it was found, 0 if not. The close happens
 * asynchronously on its loop, right after. */
size_t ed_server_kill(struct ed_server *srv, uint64_t id);

/* ed_server_kill_cn closes every session whose client CN equals |cn| and
 * returns how many were found. */
size_t ed_server_kill_cn(struct ed_server *srv, const char *cn);

/* ---- credentials and reload -------------------------------------------- */

/* ed_server_snapshot returns the current credential snapshot with a new
 * reference (release with ed_tls_snapshot_unref). Use
 * ed_tls_snapshot_summary() on it for `certs` and the cert metrics. */
struct ed_tls_snapshot *ed_server_snapshot(struct ed_server *srv);

/* ed_server_cred_paths returns the resolved credential files (the dev PKI
 * files in zero-config mode). Borrowed; crl may be NULL. */
struct ed_server_paths {
  const char *cert, *key, *ca, *crl; /* crl: the first CRL file, or NULL */
  const char *const *crls;           /* every CRL file (--crl may repeat) */
  size_t num_crls;
  const char *ticket_keys; /* --ticket-keys, or NULL */
  const char *allow_file;  /* --allow-file, or NULL */
};
void ed_server_cred_paths(const struct ed_server *srv,
                          struct ed_server_paths *out);

/* ed_server_reload is the one reload function: the admin socket, SIGHUP
 * and the file watcher (internal/reload) all call it, and it alone
 * publishes credentials. It re-reads the credential files, builds a
 * complete new snapshot and checks it (ed_tls_snapshot_new: key mode, key
 * matches cert, chain, expiry, CRL signature). With |check_only| it stops
 * there. Otherwise it publishes it: every handshake decides on its client
 * with it from its next step on (internal/loop, conn_hs.c), ticket keys
 * carry over, and - unless --keep-sessions-on-reload, or the I/O loops are
 * not running - every established session is re-checked against it off
 * the I/O loops, and those that no longer pass are closed with
 * close_notify (server_trust.c; ed_loop_post_recheck). That re-check
 * finishes later, on the control loop: the "reloaded" log line waits for
 * it, and ed_server_reload_wait tells a caller its outcome. Runs on the
 * control thread (a few ms of file reads and parsing; never on an I/O
 * loop). When it succeeds
 * and |out_checked| is not NULL, that gets the summary of the snapshot it
 * built (published or, with |check_only|, only checked). On failure
 * nothing changes, |err| gets the reason, and the result is logged. Every
 * call that is not |check_only| is recorded in the reload status
 * (trigger, result, time, error; see ed_server_reload_status), and leaves
 * the file watcher with the files it read as its baseline and its watches
 * where the files are now. Returns 0 or a negative ED_E_* code. */
int ed_server_reload(struct ed_server *srv, int check_only,
                     enum ed_reload_trigger trigger,
                     struct ed_tls_summary *out_checked, char *err,
                     size_t err_len);

/* What the re-check of established sessions after a reload did. */
enum ed_recheck_status {
  ED_RECHECK_DONE = 0, /* every I/O loop re-checked its sessions */
  ED_RECHECK_TIMEOUT,  /* not all had after ED_SERVER_RECHECK_WAIT_MS; the
                        * counts are those so far, the rest goes on */
  ED_RECHECK_OFF,      /* --keep-sessions-on-reload: none was re-checked */
};

/* ed_recheck_status_name returns "done", "timeout" or "off". */
const char *ed_recheck_status_name(enum ed_recheck_status s);

struct ed_recheck_result {
  enum ed_recheck_status status;
  uint64_t checked; /* established sessions re-checked */
  uint64_t closed;  /* of those, closed: they no longer pass */
};

/* How long a reload's outcome waits for the re-check of established
 * sessions: it is one job per I/O loop in the handshake pool, normally
 * done in milliseconds, but queued behind whatever handshakes wait. */
#define ED_SERVER_RECHECK_WAIT_MS 10000

/* ed_server_reload_wait calls |fn(arg, result)| once, on the control
 * thread, when the re-check that the last successful ed_server_reload
 * (not check_only) started is done, or ED_SERVER_RECHECK_WAIT_MS after
 * it started, whichever comes first. When none is running (the loops are
 * not running, --keep-sessions-on-reload) it calls |fn| before returning.
 * Call it right after that ed_server_reload. If the server stops first,
 * |fn| is called as it stops. The control loop never blocks meanwhile. */
void ed_server_reload_wait(struct ed_server *srv,
                           void (*fn)(void *arg,
                                      const struct ed_recheck_result *r),
                           void *arg);

/* ed_server_publish publishes |snap| (takes one reference) as the current
 * snapshot; the one it replaces is retired: the server drops its
 * reference on the control thread once nothing else holds it (sessions
 * and handshakes that hold it keep it). ed_server_reload calls it;
 * exposed for tests. */
void ed_server_publish(struct ed_server *srv, struct ed_tls_snapshot *snap);

/* ed_server_reload_status copies the reload bookkeeping (struct
 * ed_reload_status, internal/reload/reload_types.h) into |out|: the one record
 * of every reload, whatever started it (admin, SIGHUP, file watch). The startup
 * load counts as trigger "startup", result ok, at the time the first snapshot
 * was built. */
void ed_server_reload_status(const struct ed_server *srv,
                             struct ed_reload_status *out);

/* ---- shutdown ------------------------------------------------------------ */

/* How a drain goes (server_drain.c):
 *   1. state DRAINING at once (/readyz answers 503, STOPPING=1); the
 *      listeners keep accepting for |delay_ms|, so a balancer's health
 *      check takes the instance out before anything is refused;
 *   2. accepting stops. |finish| 0: close_notify to every session now;
 *      wait up to |timeout_ms| for them to close, then close the rest.
 *      |finish| 1: sessions run until they end; at |timeout_ms| those left
 *      get close_notify and ED_SERVER_DRAIN_GRACE_MS to answer it;
 *   3. the loops stop and ed_server_run returns 0. */
struct ed_server_drain_opts {
  uint32_t timeout_ms;
  uint32_t delay_ms;
  int finish;
};

#define ED_SERVER_DRAIN_GRACE_MS 2000

/* ed_server_drain_with starts a drain as |o| says. Calling it while
 * already draining does nothing. */
void ed_server_drain_with(struct ed_server *srv,
                          const struct ed_server_drain_opts *o);

/* ed_server_drain starts a drain of |timeout_ms| with the configured
 * --drain-delay and --drain-sessions (SIGTERM, `echoctl drain`). */
void ed_server_drain(struct ed_server *srv, uint32_t timeout_ms);

/* ---- upgrades (server_upgrade.c; docs/architecture.md, "Upgrades") ------ */

struct ed_spawner;

/* ed_server_set_spawner gives |srv| the spawner forked at startup
 * (internal/upgrade; takes ownership). Without one, upgrades are refused. */
void ed_server_set_spawner(struct ed_server *srv, struct ed_spawner *sp);

/* ed_server_adopt_listeners makes the listening sockets an old process
 * handed over (|fds|, taken; |addrs| as it named them) this server's, in
 * place of --listen and socket activation. Call before ed_server_bind. */
void ed_server_adopt_listeners(struct ed_server *srv, const int *fds,
                               char (*addrs)[80], size_t num);

/* A listening socket besides the echo listeners that goes to the new
 * process too: the admin socket, the metrics port. |get_fd| returns it
 * (borrowed) or -1; |release| stops accepting on it once the new process
 * serves, leaving a socket file to it. */
struct ed_server_handover_sock {
  const char *kind; /* "admin", "metrics" */
  int (*get_fd)(void *arg);
  void (*release)(void *arg);
  void *arg;
};

/* ed_server_add_handover registers |s| (copied; at most 4). */
void ed_server_add_handover(struct ed_server *srv,
                            const struct ed_server_handover_sock *s);

/* ed_server_upgrade_fn: an upgrade's outcome, on the control thread: |ok|
 * 1 with the new process's pid (this one drains now), or 0 with why. */
typedef void (*ed_server_upgrade_fn)(void *arg, int ok, int new_pid,
                                     const char *why);

#define ED_SERVER_UPGRADE_TIMEOUT_MS 20000

/* ed_server_upgrade starts the new process (the spawner runs the same
 * program file and arguments), waits for it to take the sockets
 * (ed_server_handover) and report ready, at most
 * ED_SERVER_UPGRADE_TIMEOUT_MS, then stops accepting everywhere (the new
 * process accepts on the same sockets), tells systemd the new main pid,
 * and drains (sessions finish, --drain-timeout). If the new process
 * fails, nothing changes here and |done| says why (and the log). Returns
 * 0 (|done| is called later, once; |done| may be NULL: SIGUSR2), or an
 * ED_E_* code with one line in |err|: not running, already upgrading, no
 * spawner or no admin socket. */
int ed_server_upgrade(struct ed_server *srv, ed_server_upgrade_fn done,
                      void *arg, char *err, size_t err_len);

/* What ed_server_handover gives: descriptors (borrowed: send duplicates
 * now) with what each is. */
struct ed_server_handover {
  size_t num;
  int fds[24];
  const char *kinds[24]; /* "listen", "admin", "metrics" */
  char addrs[24][80];    /* listen: the address */
};

/* ed_server_handover checks a hand-over request from the process with
 * pid |peer_pid| carrying |token|: an upgrade is waiting for it, the
 * token is that upgrade's (constant-time compare) and the pid the one the
 * spawner started; each token works once. Returns 0 and fills |out|, or
 * ED_E_PERM with one line in |err|. */
int ed_server_handover(struct ed_server *srv, const char *token, int peer_pid,
                       struct ed_server_handover *out, char *err,
                       size_t err_len);

#endif /* ED_SERVER_H */

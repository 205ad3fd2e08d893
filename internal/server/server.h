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
 * snapshot; the one it replaces loses the server's reference (sessions
 * that hold it keep it). ed_server_reload calls it; exposed for tests. */
void ed_server_publish(struct ed_server *srv, struct ed_tls_snapshot *snap);

/* ed_server_reload_status copies the reload bookkeeping (struct
 * ed_reload_status, internal/reload/reload_types.h) into |out|: the one record
 * of every reload, whatever started it (admin, SIGHUP, file watch). The startup
 * load counts as trigger "startup", result ok, at the time the first snapshot
 * was built. */
void ed_server_reload_status(const struct ed_server *srv,
                             struct ed_reload_status *out);

/* ---- shutdown ------------------------------------------------------------ */

/* ed_server_drain starts a graceful shutdown: stop accepting, close_notify
 * to every session, wait up to |timeout_ms| for them to close, then force
 * the rest closed and stop (ed_server_run returns 0). Calling it while
 * already draining does nothing. */
void ed_server_drain(struct ed_server *srv, uint32_t timeout_ms);

#endif /* ED_SERVER_H */

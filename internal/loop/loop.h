/* internal/loop — one I/O loop: a libuv loop on its own thread, its
 * descriptors of the server's listening sockets, and the connections
 * handed to it, each an explicit state machine (its states in loop_internal.h;
 * the public ACCEPTED -> HANDSHAKING -> ESTABLISHED -> CLOSING in
 * loop_types.h). Handshake steps go to the handshake pool; the loop itself
 * never does public-key work and never touches a connection's SSL while a step
 * is in the pool.
 *
 * Threads: ed_loop_new/add_listener/start/join/free are called by the
 * owner (the server's control thread). ed_loop_post_* and the read-side
 * functions (ed_loop_stats, ed_loop_sessions, ed_loop_num_conns) may be
 * called from any thread while the loop runs: commands are posted to the
 * loop (mutex + the loop's eventfd), the registry is read under a short
 * per-loop mutex, counters are read relaxed. */
#ifndef ED_LOOP_H
#define ED_LOOP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "internal/config/config.h"
#include "internal/handshake/handshake.h"
#include "internal/loop/loop_types.h"
#include "internal/stats/stats.h"
#include "internal/tls/tls.h"

/* A copy of one session's public state. Address strings are
 * NUL-terminated; empty when unknown. The client's identity is not copied:
 * |identity| points to the session's immutable identity object (CN, SANs,
 * serial: see ed_tls_peer_* in internal/tls/tls.h), NULL before the
 * handshake completes.
 *
 * Ownership of |identity|: inside an ed_loop_sessions callback it is
 * borrowed (the registry lock keeps it alive). A callback that keeps a
 * copy of the struct past its return must copy it with
 * ed_session_info_copy (which takes a reference, under that lock), and
 * whoever holds such a copy releases it with ed_session_info_cleanup. */
struct ed_session_info {
  uint64_t id; /* unique in this process, from 1 */
  enum ed_session_state state;
  char peer[64]; /* "127.0.0.1:50312", "[::1]:50312"; with
                  * --proxy-protocol, the address the header carried */
  char via[64];  /* the balancer's address when |peer| came from a
                  * PROXY header; else empty */
  const struct ed_tls_peer *identity; /* see above */
  /* Once established (|identity| set): the suite (ed_suite_version,
   * ed_suite_name give "TLSv1.3", "TLS_AES_128_GCM_SHA256"). */
  enum ed_suite suite;
  int resumed;       /* 1 if resumed from a ticket */
  uint64_t start_ns; /* wall clock at accept, ns since the epoch */
  uint64_t bytes_in; /* plaintext received */
  uint64_t bytes_out;
  uint32_t worker; /* index of the owning I/O loop */
};

/* How a loop reaches the handshake pool: ed_hs_pool_submit's and
 * ed_hs_pool_full's contracts (internal/handshake/handshake.h) on |pool|.
 * The loop calls submit and full once per handshake step, never on the
 * echo path.
 * A unit test substitutes a fake that runs steps when the test says. */
struct ed_loop_pool_ops {
  int (*submit)(void *pool, struct ed_hs_job *job, int is_new);
  int (*full)(void *pool);
  size_t (*busy)(void *pool); /* ed_hs_pool_busy: once per loop iteration
                               * while --handshake-share is on */
};

/* What every loop shares, owned by the server; it outlives the loops. */
struct ed_loop_shared {
  const struct ed_config *cfg;
  void *pool; /* the handshake pool (struct ed_hs_pool), or a test's fake */
  const struct ed_loop_pool_ops *pool_ops; /* NULL: the real pool's */
  /* Returns the current credential snapshot with a new reference. Any
   * thread (a handshake's first step takes it on its pool thread). */
  struct ed_tls_snapshot *(*snapshot_get)(void *arg);
  void *snapshot_arg;
  /* Counts the snapshots published: whoever publishes one increments it
   * after the snapshot is current, so a reader that loads it before
   * snapshot_get holds a snapshot at least that new. A handshake that
   * completes with an older count than the current one is re-checked
   * against the current snapshot in the pool before it is established
   * (conn_hs.c). */
  _Atomic uint64_t snap_gen;
  /* The "connection refused" log lines: at most one per second per
   * reason across every loop, with the count of refusals not logged
   * (conn.c log_refused). */
  _Atomic uint64_t refused_log_ms[ED_REJECT_REASON_COUNT];
  _Atomic uint64_t refused_unlogged[ED_REJECT_REASON_COUNT];
  _Atomic uint64_t next_id; /* session ids */
  /* Admission (conn.c ed_conn_reserve): the limits in force, set by the
   * owner before any loop starts (the server sizes max_conns to its
   * descriptor limit); and, over all loops, the connections that hold a
   * slot - from the accept that reserved it (a connection on its way to
   * another loop's inbox included) until freed - and those of them still
   * before ESTABLISHED (until established or closing). */
  uint32_t max_conns;       /* 0: no limit */
  uint32_t max_handshaking; /* 0: no limit */
  _Atomic int64_t num_conns;
  _Atomic int64_t num_handshaking;
  /* Accepting: the loop that accepts a connection hands it to the next
   * one, round-robin. |loops| lists every loop by index (the owner's
   * array, filled before any loop starts), or is NULL: each loop keeps
   * what it accepts. */
  struct ed_loop **loops;
  uint32_t num_loops;
  _Atomic uint32_t next_loop;
};

struct ed_loop;

/* ed_loop_new creates loop |index| (not yet running). Returns NULL on
 * failure. */
struct ed_loop *ed_loop_new(uint32_t index, struct ed_loop_shared *shared);

/* ed_loop_add_listener makes the loop accept on |fd| (takes ownership,
 * on failure too): a listening TCP socket, usually this loop's own
 * descriptor of one every loop polls (internal/listen). Whichever loop
 * accepts a connection hands it to the next loop in turn, so connections
 * split evenly across loops. Call before ed_loop_start. Returns 0 or a
 * negative ED_E_* code. */
int ed_loop_add_listener(struct ed_loop *l, int fd);

/* ed_loop_start runs the loop on a new thread. Returns 0 or ED_E_SYS. */
int ed_loop_start(struct ed_loop *l);

/* ed_loop_post_kill closes session |id| if this loop owns it (killed). */
void ed_loop_post_kill(struct ed_loop *l, uint64_t id);
/* ed_loop_post_kill_cn closes every established session with CN |cn|. */
void ed_loop_post_kill_cn(struct ed_loop *l, const char *cn);
/* ed_loop_post_drain stops accepting (listeners closed) and closes every
 * session: close_notify for established ones (reason drain). */
void ed_loop_post_drain(struct ed_loop *l);
/* ed_loop_post_quiesce stops accepting (the loop's descriptors of the
 * listening sockets close) and leaves every session alone: they run until
 * they end, or until ed_loop_post_drain. */
void ed_loop_post_quiesce(struct ed_loop *l);
/* ed_loop_post_stop closes whatever is left at once; the thread ends once
 * every connection is freed (also those with a step in the pool). */
void ed_loop_post_stop(struct ed_loop *l);

/* ed_loop_recheck_fn: a loop's part of a re-check is done: |checked|
 * established sessions were re-checked, |closed| of them closed (their
 * close_notify queued). Called once, on the loop's thread. */
typedef void (*ed_loop_recheck_fn)(void *arg, uint64_t checked,
                                   uint64_t closed);

/* ed_loop_post_recheck re-checks every session the loop has ESTABLISHED
 * when it runs the command against the then-current snapshot
 * (ed_tls_peer_recheck: CA bundle, validity, chain depth, CRLs,
 * allow-list), off the loop: their identities go to the handshake pool in
 * one job. Each session that no longer passes gets close_notify and is
 * closed with the re-check's reason (ed_revoke_reason, counted in
 * sessions_revoked{reason}). Then |done(arg, ...)| is called on the loop's
 * thread, exactly once, before the loop can exit; post it only to a loop
 * that has started and not been told to stop, or |done| never comes. */
void ed_loop_post_recheck(struct ed_loop *l, ed_loop_recheck_fn done,
                          void *arg);

/* ed_loop_accepting returns 0 once the loop has closed its listening
 * sockets (after a drain's quiesce, a drain or a stop), else 1. Any
 * thread. */
int ed_loop_accepting(struct ed_loop *l);
/* ed_loop_exited returns 1 once the loop thread has finished. */
int ed_loop_exited(struct ed_loop *l);
/* ed_loop_join waits for the thread (after ed_loop_post_stop). */
void ed_loop_join(struct ed_loop *l);
/* ed_loop_free frees a joined (or never started) loop; NULL is fine. */
void ed_loop_free(struct ed_loop *l);

/* ed_loop_num_conns returns this loop's connections not yet freed. */
int64_t ed_loop_num_conns(struct ed_loop *l);

/* ed_loop_stats adds this loop's counters into |out|. */
void ed_loop_stats(struct ed_loop *l, struct ed_stats_snapshot *out);

/* ed_loop_sessions calls |fn| with a copy of each session's state, under
 * the loop's registry lock (keep |fn| short; it must not call back into
 * the loop). Stops early when |fn| returns nonzero. |s->identity| is
 * borrowed for the call (see struct ed_session_info). */
void ed_loop_sessions(struct ed_loop *l,
                      int (*fn)(void *arg, const struct ed_session_info *s),
                      void *arg);

/* ed_loop_sessions_copy copies the loop's sessions for which |keep|
 * returns nonzero (NULL: all), with a reference to each identity, into
 * |out| (room for |cap|), under the registry lock: no allocation and
 * nothing but fixed-size copies happen under it, so the loop is held up
 * for microseconds whatever the caller does next. Sets |*out_num| and
 * returns 0; when more than |cap| match, returns ED_E_TOOBIG with nothing
 * kept (|*out_num| is then how many matched: call again with more room).
 * Release the copies with ed_session_info_cleanup. */
int ed_loop_sessions_copy(
    struct ed_loop *l, struct ed_session_info *out, size_t cap, size_t *out_num,
    int (*keep)(void *arg, const struct ed_session_info *s), void *arg);

/* ed_session_info_copy copies |src| into |dst| and takes a reference to
 * its identity (call it inside the ed_loop_sessions callback).
 * ed_session_info_cleanup drops |s|'s reference (NULL-safe on the
 * identity; the struct itself is the caller's). */
void ed_session_info_copy(struct ed_session_info *dst,
                          const struct ed_session_info *src);
void ed_session_info_cleanup(struct ed_session_info *s);

#endif /* ED_LOOP_H */

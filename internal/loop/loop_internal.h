/* internal/loop — shared by loop.c (the loop, mailbox, timers, registry),
 * accept.c (listeners, the hand-off between loops), conn.c (a connection's
 * states and I/O), conn_hs.c (its handshake on the loop), conn_step.c (its
 * handshake steps on a pool thread), recheck.c (re-checking established
 * sessions after a reload) and recheck_step.c (its verdicts on a pool thread).
 * Not an API. */
#ifndef ED_LOOP_INTERNAL_H
#define ED_LOOP_INTERNAL_H

#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <uv.h>

#include "internal/loop/loop.h"
#include "internal/loop/sched.h"
#include "internal/loop/share.h"
#include "internal/loop/wake.h"

#define ED_LOOP_RBUF (64 * 1024) /* one shared read buffer per loop */
#define ED_LOOP_PBUF (64 * 1024) /* plaintext batch per read */
#define ED_LINGER_MS 2000        /* wait for the peer's FIN after ours */

/* What a client may make the loop hold before its session is established
 * (conn_hs.c; docs/BENCHMARKS.md, "Bounded cost before the handshake").
 * Its first flight is a ClientHello: the first step waits, with no TLS
 * engine made yet, until the whole ClientHello is in. TLS carries it in
 * records of at most 16 KiB; a ClientHello is rarely over 2 KiB, and one
 * whose body says it is over 16 KiB is refused (BoringSSL's own limit for
 * a server that does not ask for client certificates; asking for them
 * raises it to 100 KiB, for the client's Certificate). The loop holds at
 * most ED_HS_HELLO_MAX of it, allocated to the size its record headers
 * announce; a ClientHello still incomplete by then (split into many small
 * records) goes to the engine as it is, which buffers the rest.
 * Later flights go to a step as they arrive; ED_HS_MAX_INPUT bounds the
 * largest a client may send: a Certificate message of up to 100 KiB
 * (BoringSSL's SSL_MAX_CERT_LIST_DEFAULT, the chain), CertificateVerify
 * (under 1.1 KiB even for RSA-8192), Finished, and 22 bytes of record
 * framing per 16 KiB. While a step is in the pool, what arrives waits
 * until ED_HS_READ_PAUSE bytes do (one full record), then the loop stops
 * reading. What the server sends is its own: ED_HS_MAX_OUTPUT. Each
 * buffer is freed once its bytes are consumed. */
#define ED_HS_HELLO_BODY_MAX 16384
#define ED_HS_HELLO_MAX (ED_HS_HELLO_BODY_MAX + 4 + 2 * 5)
#define ED_HS_MAX_INPUT (104 * 1024)
#define ED_HS_READ_PAUSE (16 * 1024 + 5 + 256)
#define ED_HS_MAX_OUTPUT (256 * 1024)
#define ED_MAX_LISTENERS 16
#define ED_STEPS_PER_WAKE 16 /* finished steps run per loop iteration */
/* What one established session may read in one loop iteration before the
 * others on its loop get their turn: libuv reads a readable socket up to
 * 32 times per wake (2 MiB of ED_LOOP_RBUF), and some input costs far
 * more to echo per byte than bulk data does (1-byte records, a KeyUpdate
 * before each). The session stops reading and resumes right before the
 * next poll (conn.c ed_conn_resume_yielded). */
#define ED_READ_BURST (256 * 1024)

/* Intrusive doubly-linked list. */
struct ed_link {
  struct ed_link *prev, *next;
};

/* Why a connection closed: the reason= of its "session closed" line
 * (conn.c documents the line). After these come the re-check's reasons,
 * one per ed_revoke_reason (loop_types.h), in its order:
 * CR_REVOKE_FIRST + ED_REVOKE_REVOKED is "revoked", and so on. */
#define ED_CLOSE_REASONS(X)        \
  X(NONE, "none")                  \
  X(CLIENT_CLOSE, "client_close")  \
  X(EOF, "eof")                    \
  X(RESET, "reset")                \
  X(IDLE, "idle_timeout")          \
  X(KILLED, "killed")              \
  X(DRAIN, "drain")                \
  X(ERROR, "error")                \
  X(HS_FAILED, "handshake_failed") \
  X(REJECTED, "rejected")

enum close_reason {
#define ED_CR_ENUM_(id, name) CR_##id,
  ED_CLOSE_REASONS(ED_CR_ENUM_)
#undef ED_CR_ENUM_
      CR_REVOKE_FIRST,
  CR_COUNT = CR_REVOKE_FIRST + ED_REVOKE_REASON_COUNT
};

/* What a caller asks a close to do. The connection's state decides what
 * that means (conn.c close_plan, the whole rule): before ESTABLISHED
 * there is no TLS session to notify, so NOTIFY and LAST flush; while a
 * step is in the pool every close aborts (the pool owns the TLS state, so
 * nothing can be written in order); once closing, only ABORT still does
 * something.
 *   ABORT   close the socket now; queued bytes are dropped
 *   FLUSH   send what is queued (an alert), then FIN, then linger for the
 *           peer's FIN (at most ED_LINGER_MS)
 *   NOTIFY  close_notify first, then as FLUSH
 *   LAST    the peer sent close_notify (it sends nothing more): this
 *           batch's echo (the loop's scratch) and our close_notify in one
 *           segment with the FIN, and close at once
 *   NOTHING what a close means where nothing is left to do (close_plan's
 *           answer, never a request) */
enum close_how { HOW_ABORT = 0, HOW_FLUSH, HOW_NOTIFY, HOW_LAST, HOW_NOTHING };

/* A connection's states (conn.c), each with the public state admin
 * `sessions` shows and filters on (ed_session_state) and the gauge that
 * counts it (echod_connections_active{state}).
 *   NEW          accepted, admission not decided yet (never registered
 *                if refused)
 *   PROXY        --proxy-protocol: reading the PROXY header
 *   HELLO        reading the client's first flight (no step yet)
 *   HS_READ      between handshake steps: reading the next flight
 *   HS_POOL      a step is in the pool: the pool owns |tls| and |step|;
 *                the loop only buffers what arrives (in |rx|)
 *   ESTABLISHED  echo
 *   FLUSHING     closing: our last bytes (alert, close_notify, echo) go
 *                out, then our FIN; within ED_LINGER_MS, or the idle
 *                timeout for the echo a client that finished sending
 *                (close_notify, FIN) is owed (conn.c set_timer)
 *   LINGER       closing: FIN sent; reading and dropping until the
 *                peer's FIN, at most ED_LINGER_MS
 *   CLOSED       uv_close called; freed once the handle and any step
 *                still in the pool let go (|refs|)
 * Transitions: NEW -> PROXY | HELLO | CLOSED; PROXY -> HELLO;
 * HELLO | HS_READ -> HS_POOL (step submitted) | HS_READ (inline step);
 * HS_POOL -> HS_READ (step back); HS_READ -> ESTABLISHED (only when
 * the client was decided on under the current snapshot; else HS_POOL for
 * a re-check step, conn_hs.c); any state
 * before ESTABLISHED and ESTABLISHED itself -> FLUSHING | CLOSED;
 * FLUSHING -> LINGER (queue drained, FIN sent) | CLOSED; LINGER ->
 * CLOSED. Only conn_set_state (conn.c) changes the state. */
#define ED_CONN_STATES(X)                  \
  X(NEW, ACCEPTED, NONE)                   \
  X(PROXY, ACCEPTED, HANDSHAKING)          \
  X(HELLO, ACCEPTED, HANDSHAKING)          \
  X(HS_READ, HANDSHAKING, HANDSHAKING)     \
  X(HS_POOL, HANDSHAKING, HANDSHAKING)     \
  X(ESTABLISHED, ESTABLISHED, ESTABLISHED) \
  X(FLUSHING, CLOSING, NONE)               \
  X(LINGER, CLOSING, NONE)                 \
  X(CLOSED, CLOSING, NONE)

enum ed_conn_state {
#define ED_CONN_ENUM_(id, pub, gauge) ED_CONN_##id,
  ED_CONN_STATES(ED_CONN_ENUM_)
#undef ED_CONN_ENUM_
      ED_CONN_STATE_COUNT
};

/* What the peer's side of the stream said so far. */
enum peer_end { PEER_OPEN = 0, PEER_FIN, PEER_RESET };

struct wchunk {
  struct wchunk *next;
  size_t len;
  uint8_t data[];
};

/* What a handshake step reads and writes: the pool's while the connection
 * is in ED_CONN_HS_POOL (with |tls|), the loop's otherwise. */
struct ed_conn_step {
  struct ed_buf in;  /* ciphertext for the step */
  struct ed_buf out; /* what the step wants sent (next flight, alert) */
  int rc;            /* ed_tls_conn_handshake's: 1 done, 0 more, < 0 failed */
  enum ed_hs_reason reason; /* why it failed */
  const char *detail;
  /* Set by the loop: this step only re-checks a completed handshake's
   * identity against the current snapshot (conn_hs.c hs_recheck). */
  uint8_t recheck;
  /* Set by the pool: the step needs more from the client and its output
   * all went out on |fd|; the loop has nothing to do with it until the
   * client answers, so the pool does not wake it (conn_step.c). */
  uint8_t quiet;
  /* Set by the loop before it submits the step: the pool may send the
   * step's output itself, on |fd| (nothing queued ahead of it). |lent|
   * does not change while the step is pooled; |fd| is read and written
   * under ed_conn.lend_mu then, and a close takes it back (-1) before the
   * descriptor is closed (conn.c take_back_fd). */
  uint8_t lent;
  /* Set by the loop while the step is pooled (enum step_gone): nobody
   * will take what the step would make (conn_step.c step_abandoned; the
   * TLS engine reads it too, ed_tls_conn_watch_peer). Cleared at each
   * submit. */
  _Atomic uint8_t gone;
  int fd;
};

/* Why a pooled step need not run (ed_conn_step.gone). */
enum step_gone {
  STEP_WANTED = 0,
  /* The client's FIN or RST: the step runs on what arrived (a last
   * flight may have come with it: the session then completes, or its
   * refusal is logged), but the engine does not sign for the client (no
   * client can finish a handshake without the server's first flight):
   * what it sent before leaving is still named if refused. */
  STEP_PEER_GONE,
  /* The loop closed the connection (timeout, kill, drain): skipped. */
  STEP_CLOSED,
};

struct ed_conn {
  uv_tcp_t tcp; /* tcp.data == this */
  struct ed_loop *loop;
  enum ed_conn_state st; /* loop thread; only conn_set_state writes it */
  /* The public view of |st| for readers on other threads (fill_info),
   * written under l->reg_mu by conn_set_state only. */
  enum ed_session_state state;
  uint32_t refs;        /* 1 for the handle (until on_close), +1 while a
                         * step is in the pool, +1 per re-check batch
                         * holding it (recheck.c); freed at 0 */
  uint8_t reading;      /* uv_read_start in effect: conn_io's own record */
  uint8_t peer_end;     /* enum peer_end */
  uint8_t close_reason; /* the first close's, enum close_reason */
  uint8_t resumed;      /* not a bitfield: read under reg_mu elsewhere */
  uint8_t hs_slot;      /* counted in sh->num_handshaking (conn.c admission) */
  /* The socket is lent to the step in the pool (step.fd), until the step
   * is back or a close takes it back (conn.c ed_conn_io). Loop only. */
  uint8_t pool_fd;
  /* Something happened to the connection while its step was in the pool
   * (bytes or the peer's FIN read, a close): counted in l->step_waiters
   * until the step is back. Loop only. */
  uint8_t pool_event;
  /* Read its ED_READ_BURST this iteration: not reading until the loop's
   * next poll, on l->yielded (holding a reference). Loop only. */
  uint8_t yielded;
  uint32_t burst_iter;  /* the iteration (low bits) |burst_bytes| counts */
  uint32_t burst_bytes; /* read in that iteration */
  struct ed_conn *yield_next;
  enum ed_suite suite;
  uint32_t est_ms;         /* uv_now's low 32 bits when established (sched.h) */
  uint64_t id;             /* from 1; 0: refused at accept, never admitted */
  struct ed_tls_conn *tls; /* created by the first pool step, on the
                            * snapshot current then */
  /* sh->snap_gen when the handshake's identity was last decided on (its
   * first step, or a re-check step): written by the pool while a step is
   * in it, read by the loop when the step is back. */
  uint64_t snap_gen;
  const struct ed_tls_peer *peer; /* once established (owned by tls) */
  struct ed_link reg;             /* loop registry (under l->reg_mu) */
  struct ed_link tq;              /* timeout queue (loop thread only) */
  uint64_t deadline_ms;
  uint64_t start_wall_ns, start_mono_ns;
  _Atomic uint64_t bytes_in, bytes_out;
  /* Handshake. |rx| is the loop's: the PROXY header, and what arrives
   * while a step is in the pool. */
  struct ed_hs_job job;
  struct ed_conn_step step;
  /* Held by a pool thread while it sends on the lent socket (step.fd),
   * and by the loop while it takes the socket back to close it. The loop
   * can wait for it only when it closes this very connection while its
   * flight is being sent. */
  pthread_mutex_t lend_mu;
  struct ed_conn *done_next; /* finished steps (loop.c run_steps) */
  struct ed_buf rx;
  size_t hs_read; /* bytes read before ESTABLISHED (0: the peer sent none) */
  /* The loop's own verdict on a failed handshake (hs_fail), logged when
   * the handshake ends; NULL detail: none (the close decides). Once
   * established, fail_detail is why the TLS engine ended the session, or
   * why the re-check after a reload did
   * (reason=error: the client broke the protocol), for its closed line. */
  enum ed_hs_reason fail_reason;
  const char *fail_detail;
  /* Write queue: bytes the socket did not take at once. */
  struct wchunk *wq_head, *wq_tail;
  size_t wq_bytes;
  unsigned inflight; /* chunks in the current uv_write; 0: none */
  /* One request at a time: the FIN (sreq) goes only once the queue is
   * empty and no write is in flight, and nothing is written after it
   * (ed_conn_io), so the two share their memory: 80 bytes less for every
   * session. */
  union {
    uv_write_t wreq;
    uv_shutdown_t sreq;
  };
  char peer_addr[64]; /* written under l->reg_mu once registered */
  /* The balancer, when peer_addr came from a PROXY header, else NULL
   * (allocated then: most servers never take one). Under l->reg_mu. */
  char *via;
};

/* A connection just accepted (accept.c), as it reaches ed_conn_accept,
 * possibly through another loop's inbox. */
struct ed_accepted {
  int fd;
  uint8_t data_waiting; /* from a TCP_DEFER_ACCEPT listener: its first
                         * bytes arrived before accept returned it */
  union {
    struct sockaddr sa; /* AF_UNSPEC: unknown */
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
  } peer; /* as accept4 returned it */
};

struct loop_cmd {
  struct loop_cmd *next;
  enum {
    CMD_KILL,
    CMD_KILL_CN,
    CMD_DRAIN,
    CMD_QUIESCE,
    CMD_STOP,
    CMD_RECHECK,      /* |done|, |arg|: ed_loop_post_recheck */
    CMD_RECHECK_DONE, /* |batch| is back from the pool */
  } type;
  uint64_t id;
  char cn[128];
  ed_loop_recheck_fn done;
  void *arg;
  struct ed_recheck_batch *batch;
};

/* One loop's re-check of its established sessions (recheck.c on the loop,
 * recheck_step.c on a pool thread): every established connection's
 * identity, sent to the pool in one job. While the batch is in the pool,
 * the pool reads the identities and writes the verdicts, and nothing
 * else; the loop holds a reference to each connection (refs), which keeps
 * the connection - and so its identity - alive until the batch is back,
 * and the loop from exiting before then. */
struct ed_recheck_entry {
  struct ed_conn *c;              /* the loop's; the pool never reads it */
  const struct ed_tls_peer *peer; /* read by the pool */
  uint8_t failed;                 /* the pool's verdict ... */
  uint8_t reason;                 /* ... and why (enum ed_hs_reason) */
  const char *detail;             /* ... in words (static) */
};

struct ed_recheck_batch {
  struct ed_hs_job job;
  struct ed_loop *loop;
  ed_loop_recheck_fn done;
  void *arg;
  struct ed_tls_snapshot *snap; /* what the verdicts were made against */
  size_t num;
  struct ed_recheck_entry e[];
};

struct ed_loop {
  uint32_t index;
  struct ed_loop_shared *sh;
  const struct ed_config *cfg;
  uv_loop_t uv;
  pthread_t thread;
  int started;
  _Atomic int exited;
  /* Accepting (accept.c): a poll handle on this loop's descriptor of
   * each listening socket, and the inbox of connections other loops
   * accepted for this one. */
  uv_poll_t listeners[ED_MAX_LISTENERS];
  int listener_fds[ED_MAX_LISTENERS];
  uint8_t listener_deferred[ED_MAX_LISTENERS]; /* TCP_DEFER_ACCEPT on */
  /* The loop iteration (|iterations|, counted in on_prepare) in which
   * each listener was last readable: accept.c on_readable. */
  uint64_t listener_seen[ED_MAX_LISTENERS];
  uint64_t iterations;
  size_t num_listeners;
  _Atomic int listeners_closed; /* read by the control thread too */
  pthread_mutex_t inbox_mu;
  struct ed_accepted *inbox; /* under |inbox_mu| */
  size_t inbox_len, inbox_cap;
  struct ed_accepted *inbox_spare; /* loop thread only (on_inbox) */
  size_t inbox_spare_cap;
  int inbox_closed;
  struct ed_wake inbox_wake;
  int reserve_fd;          /* for the EMFILE trick */
  uv_timer_t accept_pause; /* accepting paused: out of descriptors */
  uint64_t last_emfile_log_ms;
  struct ed_wake wake;      /* pool completions and commands */
  uv_prepare_t before_poll; /* takes finished steps (loop.c on_prepare) */
  uv_check_t after_poll;
  uv_idle_t more_steps; /* active while finished steps wait to run */
  uv_timer_t sweep;
  uint64_t tick_ms;
  int draining, stopping, closed_handles;
  /* Mailbox: commands under |mbox_mu|; finished handshake steps on a
   * lock-free stack (pool threads push, the loop takes all at once: a pool
   * thread preempted mid-push can never make the loop wait). */
  pthread_mutex_t mbox_mu;
  struct loop_cmd *cmds;
  _Atomic(struct ed_conn *) done;
  /* 1 from the loop's last look at |done| before it polls until it runs
   * again: a pool thread that pushes a step meanwhile signals |wake|;
   * otherwise the loop takes it before its next poll (loop.c on_prepare). */
  _Atomic int polling;
  /* A pool thread signalled |wake| since the loop's last look at |done|
   * (on_prepare clears it): later pushes need not signal again. */
  _Atomic int signalled;
  /* How many connections wait for their step to come back with something
   * to act on (ed_conn.pool_event). While none does, a quiet step is
   * pushed without a wake-up: the loop takes it at its next look, which
   * the client's answer causes (conn_step.c ed_conn_step_complete). */
  _Atomic int64_t step_waiters;
  /* --handshake-share, while the pool has work: when the poll under way
   * began (on_prepare; 0: none, or already counted), the loop thread's
   * CPU time then, and the loop's total time off its core in polls
   * (ed_loop_awake adds each). */
  uint64_t poll_from_ns, poll_from_cpu_ns, poll_idle_ns;
  struct ed_conn *ready_head, *ready_tail; /* taken, not yet run (loop only) */
  struct ed_conn *yielded; /* sessions that read their burst (loop only) */
  /* Registry: every live conn, under |reg_mu| for readers elsewhere. */
  pthread_mutex_t reg_mu;
  struct ed_link conns;
  _Atomic int64_t nconns;
  /* Timeout queues, ordered by deadline (loop thread only). */
  struct ed_link hs_q, idle_q, closing_q;
  struct ed_share share; /* --handshake-share (share.h; loop.c share_nap) */
  struct ed_sched sched; /* SCHED_BATCH while only handshakes (sched.h) */
  struct ed_stats stats; /* written by the loop thread only */
  uint8_t *rbuf, *pbuf;  /* shared by every conn of this loop */
  struct ed_buf scratch; /* ciphertext produced by one batch */
};

/* list helpers */
static inline void link_init(struct ed_link *h) {
  h->prev = h->next = h;
}
static inline int link_empty(const struct ed_link *h) {
  return h->next == h;
}
static inline void link_remove(struct ed_link *e) {
  if (!e->next) return;
  e->prev->next = e->next;
  e->next->prev = e->prev;
  e->prev = e->next = NULL;
}
static inline void link_tail(struct ed_link *h, struct ed_link *e) {
  link_remove(e);
  e->prev = h->prev;
  e->next = h;
  h->prev->next = e;
  h->prev = e;
}

#define CONN_OF(ptr, field) \
  ((struct ed_conn *)((char *)(ptr)-offsetof(struct ed_conn, field)))

/* accept.c */
int ed_loop_accept_init(struct ed_loop *l);
void ed_loop_accept_cleanup(struct ed_loop *l);
void ed_loop_close_listeners(struct ed_loop *l);
void ed_loop_stop_accepting(struct ed_loop *l);
/* ed_loop_test_quiesce_delay: --test-quiesce-delay (tests only) holds a
 * loop in the middle of closing its listeners (ed_loop_stop_accepting),
 * where a loop the scheduler preempts would be, so a test sees what a
 * client meets meanwhile. */
void ed_loop_test_quiesce_delay(const struct ed_loop *l);

/* conn.c: what the loop asks of a connection (loop thread). */
/* Admission. The loop that accepts |fd| first reserves a slot for it
 * (ed_conn_reserve: room under --max-connections and --max-handshaking,
 * counted at once, so that connections on their way to another loop's
 * inbox count too and the descriptors in use never pass the limit the
 * server sized). Refused: ed_conn_refuse on that loop. Reserved:
 * ed_conn_accept on the loop it goes to, which takes the slot (or gives it
 * back when it refuses: draining, the pool's queue full), or
 * ed_conn_unreserve if the descriptor is closed before that (an inbox
 * closed by a drain). */
/* ed_conn_reserve returns -1 with a slot reserved for one more
 * connection, or the enum ed_reject_reason that refuses it (nothing
 * reserved). Any loop thread. */
int ed_conn_reserve(struct ed_loop *l);
void ed_conn_unreserve(struct ed_loop_shared *sh);
/* ed_conn_refuse closes |fd| (just accepted; owned from here on), counted
 * and logged as refused for |why|. */
void ed_conn_refuse(struct ed_loop *l, int fd, enum ed_reject_reason why);
/* ed_conn_accept makes a connection of a->fd (just accepted, its slot
 * reserved; both owned from here on, also on failure). */
void ed_conn_accept(struct ed_loop *l, const struct ed_accepted *a);
/* ed_conn_close closes |c| for |why|; |how| as close_plan decides. */
void ed_conn_close(struct ed_conn *c, enum close_reason why,
                   enum close_how how);
/* ed_conn_abort closes at once; a close already under way keeps its
 * reason (else: error). */
void ed_conn_abort(struct ed_conn *c);
/* ed_conn_idle_timeout: |c|'s idle timeout passed: an established
 * session is closed with close_notify; one still flushing the echo its
 * closing client is owed (conn.c set_timer) is cut off. */
void ed_conn_idle_timeout(struct ed_conn *c);
const char *ed_close_reason_name(enum close_reason r);

/* ed_conn_pool_event: something reached |c| while its step is in the
 * pool (conn.c); its step will wake the loop when it is done. */
void ed_conn_pool_event(struct ed_conn *c);

/* conn_hs.c: the handshake on the loop. */
/* ed_conn_step_done: a step came back from the pool (run_steps). */
void ed_conn_step_done(struct ed_conn *c);
void ed_conn_hs_timeout(struct ed_conn *c);
/* ed_conn_hs_outcome counts and logs a handshake that ended in a close
 * (ed_conn_set_state calls it, leaving |from|). */
void ed_conn_hs_outcome(struct ed_conn *c, enum ed_conn_state from);
/* ed_hs_hello_need looks at the first |len| bytes a client sent: its
 * ClientHello in TLS records. Returns 1 while the first step should wait,
 * with |*out_need| the bytes (from the start) to wait for before anything
 * more can be said: the end of the record under way, or of the next
 * record's header. Returns 0 when the step should run: the ClientHello is
 * whole, or the bytes are not a ClientHello in handshake records (the TLS
 * engine answers them), or waiting would pass ED_HS_HELLO_MAX. Returns
 * ED_E_TOOBIG when the ClientHello says its body is longer than
 * ED_HS_HELLO_BODY_MAX. Pure (tests call it). */
int ed_hs_hello_need(const uint8_t *p, size_t len, size_t *out_need);

/* conn_step.c: what runs on a pool thread (and a resumption's last step
 * on the loop). */
void ed_conn_step_run(struct ed_hs_job *job);
void ed_conn_step_complete(struct ed_hs_job *job);

/* Shared by conn.c and conn_hs.c (loop thread). */
void ed_conn_set_state(struct ed_conn *c, enum ed_conn_state to);
void ed_conn_close_state(struct ed_conn *c, enum close_reason why,
                         enum close_how how);
void ed_conn_send(struct ed_conn *c, const uint8_t *data, size_t len);
void ed_conn_echo(struct ed_conn *c, const uint8_t *data, size_t len);
void ed_conn_io(struct ed_conn *c);
void ed_conn_unref(struct ed_conn *c);
/* ed_conn_resume_yielded lets the sessions that read their ED_READ_BURST
 * in the last iteration read again (loop.c, before each poll). */
void ed_conn_resume_yielded(struct ed_loop *l);
void ed_conn_hs_feed(struct ed_conn *c, const uint8_t *data, size_t len);
/* ed_conn_log_refused logs a connection refused at once for |why|,
 * rate-limited (conn.c). */
void ed_conn_log_refused(struct ed_conn *c, enum ed_reject_reason why);
/* ed_conn_log_peer formats a log line's peer= value (and " via=..."). */
const char *ed_conn_log_peer(const struct ed_conn *c, char *buf, size_t len);

/* recheck.c (loop thread) and recheck_step.c (pool thread). */
void ed_recheck_start(struct ed_loop *l, const struct loop_cmd *cmd);
void ed_recheck_finish(struct ed_loop *l, struct ed_recheck_batch *b);
void ed_recheck_batch_run(struct ed_hs_job *job);
void ed_recheck_batch_complete(struct ed_hs_job *job);

/* loop.c */
/* ed_loop_post queues |cmd| (taken) for the loop and wakes it; any
 * thread. */
void ed_loop_post(struct ed_loop *l, struct loop_cmd *cmd);
void ed_loop_conn_freed(struct ed_loop *l);
/* ed_loop_thread_cpu_ns: the calling thread's CPU time (a system call:
 * the vDSO has no per-thread clock). */
static inline uint64_t ed_loop_thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ed_loop_awake: the loop thread runs callbacks again (after a poll);
 * pool threads need not signal it until it is about to poll again. The
 * first call after a poll also ends the poll's time off the core (with
 * --handshake-share, while the pool has work): every callback that may
 * run first after a poll calls it (reads, accepts, the wake-ups, and
 * on_check at the latest). Only the time the thread did not run counts:
 * the wall time less its own CPU time, since a saturated loop's polls
 * return at once and their wall time (the system call, libuv's work
 * around it) is the loop's, not the pool's; counted as asleep, it gave
 * the pool 13-19 % of the core at --handshake-share 25. Cheap: a store
 * only when the flag was set, and two clock reads while handshakes wait. */
static inline void ed_loop_awake(struct ed_loop *l) {
  if (!atomic_load_explicit(&l->polling, memory_order_relaxed)) return;
  atomic_store_explicit(&l->polling, 0, memory_order_relaxed);
  if (!l->poll_from_ns) return;
  uint64_t wall = uv_hrtime() - l->poll_from_ns;
  uint64_t ran = ed_loop_thread_cpu_ns() - l->poll_from_cpu_ns;
  if (wall > ran) l->poll_idle_ns += wall - ran;
  l->poll_from_ns = 0;
}
/* ed_loop_pool returns the pool operations in use (never NULL). */
const struct ed_loop_pool_ops *ed_loop_pool(const struct ed_loop *l);
/* ed_loop_expire runs every timeout due at |now_ms| (the sweep timer passes
 * uv_now; tests pass a time of their choosing). Loop thread. */
void ed_loop_expire(struct ed_loop *l, uint64_t now_ms);

#endif /* ED_LOOP_INTERNAL_H */

/* internal/loop — shared by loop.c (the loop, mailbox, timers, registry),
 * accept.c (listeners, the hand-off between loops) and conn.c (one
 * connection's state machine). Not an API. */
#ifndef ED_LOOP_INTERNAL_H
#define ED_LOOP_INTERNAL_H

#include <pthread.h>
#include <uv.h>

#include "internal/loop/loop.h"
#include "internal/loop/wake.h"

#define ED_LOOP_RBUF (64 * 1024)     /* one shared read buffer per loop */
#define ED_LOOP_PBUF (64 * 1024)     /* plaintext batch per read */
#define ED_HS_MAX_INPUT (256 * 1024) /* ciphertext buffered in a handshake */
#define ED_HS_READ_PAUSE (64 * 1024) /* pause reading a handshaking conn */
#define ED_LINGER_MS 2000            /* wait for the peer's FIN after ours */
#define ED_MAX_LISTENERS 16
#define ED_STEPS_PER_WAKE 16 /* finished steps run per loop iteration */

/* Intrusive doubly-linked list. */
struct ed_link {
  struct ed_link *prev, *next;
};

enum close_reason {
  CR_NONE = 0,
  CR_CLIENT_CLOSE,
  CR_EOF,
  CR_RESET,
  CR_IDLE,
  CR_KILLED,
  CR_DRAIN,
  CR_ERROR,
  CR_HS_FAILED,
  CR_REJECTED,
};

/* How to close: abort at once; flush queued bytes first; send
 * close_notify, flush, then close (each after our FIN and the peer's, or
 * ED_LINGER_MS); or, when the peer sent close_notify (it sends nothing
 * more), HOW_LAST: the loop's scratch (this batch's echo) and our
 * close_notify in one segment with the FIN, and close at once. */
enum close_how { HOW_ABORT = 0, HOW_FLUSH, HOW_NOTIFY, HOW_LAST };

struct wchunk {
  struct wchunk *next;
  size_t len;
  uint8_t data[];
};

struct conn {
  uv_tcp_t tcp; /* tcp.data == this */
  struct ed_loop *loop;
  struct ed_hs_job job;
  struct ed_tls_conn *tls;        /* created by the first pool step */
  struct ed_tls_snapshot *snap;   /* the snapshot current at accept */
  const struct ed_tls_peer *peer; /* once established (owned by tls) */
  uint64_t id;
  struct ed_link reg; /* loop registry (under l->reg_mu) */
  struct ed_link tq;  /* timeout queue (loop thread only) */
  struct conn *done_next;
  uint64_t deadline_ms;
  uint64_t start_wall_ns, start_mono_ns;
  _Atomic uint64_t bytes_in, bytes_out;
  /* Handshake: |rx| is loop-owned; |hs_in|/|hs_out| belong to the pool
   * while |in_pool|. */
  struct ed_buf rx, hs_in, hs_out;
  int hs_rc;
  enum ed_hs_reason hs_reason;
  const char *hs_detail;
  /* Write queue: bytes the socket did not take at once. */
  struct wchunk *wq_head, *wq_tail;
  size_t wq_bytes;
  unsigned inflight; /* chunks in the current uv_write */
  uv_write_t wreq;
  uv_shutdown_t sreq;
  enum ed_session_state state; /* written under l->reg_mu */
  enum ed_suite suite;
  uint8_t close_reason;
  uint8_t resumed; /* not a bitfield: read under reg_mu elsewhere */
  unsigned in_pool : 1, hs_started : 1, got_bytes : 1, read_stopped : 1,
      writing : 1, want_shutdown : 1, shutdown_sent : 1, peer_eof : 1,
      peer_reset : 1, closing_handle : 1, handle_closed : 1, rejected : 1,
      hs_logged : 1, counted : 1,
      proxy_wait : 1; /* --proxy-protocol: the header is still to come */
  char peer_addr[64]; /* written under l->reg_mu once registered */
  char via[64];       /* the balancer, when peer_addr came from PROXY */
};

struct loop_cmd {
  struct loop_cmd *next;
  enum { CMD_KILL, CMD_KILL_CN, CMD_DRAIN, CMD_STOP } type;
  uint64_t id;
  char cn[128];
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
  size_t num_listeners;
  int listeners_closed;
  pthread_mutex_t inbox_mu;
  int *inbox; /* descriptors, under |inbox_mu| */
  size_t inbox_len, inbox_cap;
  int inbox_closed;
  struct ed_wake inbox_wake;
  int reserve_fd;          /* for the EMFILE trick */
  uv_timer_t accept_pause; /* accepting paused: out of descriptors */
  uint64_t last_emfile_log_ms;
  struct ed_wake wake; /* pool completions and commands */
  uv_timer_t sweep;
  uint64_t tick_ms;
  int draining, stopping, closed_handles;
  /* Mailbox: commands under |mbox_mu|; finished handshake steps on a
   * lock-free stack (pool threads push, the loop takes all at once: a pool
   * thread preempted mid-push can never make the loop wait). */
  pthread_mutex_t mbox_mu;
  struct loop_cmd *cmds;
  _Atomic(struct conn *) done;
  struct conn *ready_head, *ready_tail; /* taken, not yet run (loop only) */
  /* Registry: every live conn, under |reg_mu| for readers elsewhere. */
  pthread_mutex_t reg_mu;
  struct ed_link conns;
  _Atomic int64_t nconns;
  /* Timeout queues, ordered by deadline (loop thread only). */
  struct ed_link hs_q, idle_q, closing_q;
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
  ((struct conn *)((char *)(ptr)-offsetof(struct conn, field)))

/* accept.c */
int ed_loop_accept_init(struct ed_loop *l);
void ed_loop_accept_cleanup(struct ed_loop *l);
void ed_loop_close_listeners(struct ed_loop *l);

/* conn.c */
/* ed_conn_accept makes a connection of |fd| (just accepted; owned from
 * here on, also on failure). */
void ed_conn_accept(struct ed_loop *l, int fd);
void ed_conn_step_done(struct conn *c);
void ed_conn_close(struct conn *c, enum close_reason why, enum close_how how);
void ed_conn_hs_timeout(struct conn *c);
void ed_conn_abort(struct conn *c);
const char *ed_close_reason_name(enum close_reason r);

/* loop.c */
void ed_loop_set_state(struct conn *c, enum ed_session_state s);
void ed_loop_conn_freed(struct ed_loop *l);

#endif /* ED_LOOP_INTERNAL_H */

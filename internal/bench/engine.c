/* internal/bench — the connection engine: one libuv loop per thread, each
 * connection a non-blocking socket watched by a uv_poll_t and driven
 * through BoringSSL directly on the fd (a load generator wants the fewest
 * copies on its own side). One state machine per connection; on_poll is
 * the only place that dispatches on socket readiness. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "internal/base/base.h"
#include "internal/bench/bench_internal.h"

#define RBUF_LEN 65536
#define HELLO_LEN ED_BENCH_HELLO_LEN
#define TICK_MS 100
#define BULK_ROUNDS                                \
  16 /* write/read rounds per wake-up, so one fast \
        connection cannot starve the loop */

enum cstate {
  CS_OFF = 0,    /* no socket */
  CS_CONNECTING, /* TCP connect in progress */
  CS_HANDSHAKE,
  CS_MSG,      /* one message written/being written, echo awaited */
  CS_BULK,     /* streaming */
  CS_HOLD,     /* established and quiet (idle, or out of budget) */
  CS_SHUTDOWN, /* close_notify sent, waiting for the server's close */
  CS_PARTIAL,  /* partial: sending the record, then held */
  CS_SHAPE,    /* --shape: a TLS session's message pattern, plain */
  CS_DEAD,     /* failed; never reopened */
};

struct ed_bench__conn {
  struct ed_bench__worker *w;
  enum cstate state;
  int fd;
  int poll_open; /* poll handle initialised and not yet closed */
  int events;
  uv_poll_t poll;
  SSL *ssl;
  SSL_SESSION *session; /* resume: the last ticket the server sent */
  uint64_t base;        /* this connection's offset into the pattern */
  uint64_t tx_pos;      /* stream bytes written */
  uint64_t rx_pos;      /* stream bytes echoed back and verified */
  uint64_t msg_end;     /* CS_MSG: stream position that completes it */
  uint32_t msg_len;     /* CS_MSG: its length */
  uint64_t chunk_end;   /* bulk: end of the chunk being written */
  uint64_t t_start;     /* connect began (handshake latency) */
  uint64_t t_op;        /* current operation began / last progress */
  int echoed;           /* the first echo came back */
  int want_write;
  int pending_write; /* bulk: a claimed chunk not yet accepted */
  int checking;      /* idle: final echo in flight */
  int closing;       /* scale: close in flight */
  int parked;        /* echo/bulk: up, waiting for the measured window */
  int pace_wait;     /* paced echo: held until |due| */
  int step;          /* CS_SHAPE: the step being written or awaited */
  uint64_t due;      /* paced echo: when the current/next send is due */
};

typedef struct ed_bench__conn conn;
typedef struct ed_bench__worker worker;

static void conn_begin(conn *c);
static void msg_step(conn *c);
static void partial_step(conn *c);
static void bulk_step(conn *c);
static void shape_step(conn *c);

static const uint8_t *pat(const conn *c, uint64_t pos) {
  const struct ed_bench__run *r = c->w->r;
  return r->pattern + (c->base + pos) % r->period;
}

static int claim(struct ed_bench__run *r) {
  if (!r->bounded) return 1;
  return atomic_fetch_sub_explicit(&r->budget, 1, memory_order_relaxed) > 0;
}

static int phase(const worker *w) {
  return atomic_load_explicit(&w->r->phase, memory_order_relaxed);
}

static void bump(_Atomic uint64_t *v, uint64_t n) {
  atomic_fetch_add_explicit(v, n, memory_order_relaxed);
}

static void set_events(conn *c, int events);
static void on_poll(uv_poll_t *h, int status, int events);

/* ---- progress of the whole loop ------------------------------------------ */

/* opens_gradually: idle and partial open --parallel at a time. */
static int opens_gradually(const worker *w) {
  return w->kind == K_IDLE || w->kind == K_PARTIAL;
}

static void open_more(worker *w) {
  uint32_t par = w->r->o->parallel / w->r->o->threads;
  if (par == 0) par = 1;
  while (
      !w->stopping && w->opening < par && w->next_open < w->nconns &&
      (!w->fd_budget || w->opening + atomic_load(&w->alive) < w->fd_budget)) {
    conn *c = &w->conns[w->next_open++];
    w->opening++;
    conn_begin(c);
  }
}

static void settle(worker *w) {
  if (++w->settled >= w->nconns) atomic_store(&w->setup_done, 1);
}

static void check_progress(worker *w) {
  if (w->seen_phase == PH_CHECK && w->checking == 0)
    atomic_store(&w->check_done, 1);
  if (w->seen_phase == PH_CLOSE && w->closing == 0)
    atomic_store(&w->close_done, 1);
}

/* ---- teardown and failure ------------------------------------------------ */

static void on_poll_closed(uv_handle_t *h) {
  conn *c = h->data;
  if (c->w->stopping || c->state == CS_DEAD) return;
  if (c->w->kind == K_HANDSHAKE) conn_begin(c);
}

/* conn_teardown frees the SSL and closes the socket. The poll handle is
 * closed through libuv; the next connection on this slot starts from its
 * close callback. */
static void conn_teardown(conn *c) {
  if (c->ssl) {
    SSL_free(c->ssl);
    c->ssl = NULL;
  }
  if (c->poll_open) {
    c->poll_open = 0;
    uv_close((uv_handle_t *)&c->poll, on_poll_closed);
  }
  if (c->fd >= 0) {
    close(c->fd);
    c->fd = -1;
  }
  c->events = 0;
}

/* conn_fail counts a failure in |counter|, records |what| as the first
 * error if it is, and closes the connection. Handshake workers start
 * over unless TCP itself failed; other connections are dead. */
static void conn_fail(conn *c, _Atomic uint64_t *counter, const char *what) {
  worker *w = c->w;
  bump(counter, 1);
  if (counter == &w->c.limit_refused) {
    ed_bench__note_refusal(w->r, what);
  } else {
    ed_bench__note_error(w->r, what);
  }
  ERR_clear_error();
  int retry = w->kind == K_HANDSHAKE && counter != &w->c.connect_failed;
  if (opens_gradually(w) && !c->echoed) w->opening--;
  if (c->checking) {
    c->checking = 0;
    w->checking--;
  }
  if (!c->echoed && w->kind != K_HANDSHAKE) settle(w);
  c->state = retry ? CS_OFF : CS_DEAD;
  if (!retry) bump(&w->c.dead, 1);
  conn_teardown(c);
  if (opens_gradually(w)) {
    open_more(w);
    check_progress(w);
  }
}

/* fail_counter: before the first echo came back the server refused us;
 * after it, it dropped us. In scale, a connection the server turned away
 * before saying anything (TCP refused, reset or closed it with no TLS
 * alert: what a server at its connection or descriptor limit does) is a
 * refusal at the limit, counted apart from the errors. */
static _Atomic uint64_t *fail_counter(conn *c, int silent) {
  worker *w = c->w;
  if (c->echoed) return &w->c.dropped;
  if (w->r->scale && silent && (c->state <= CS_HANDSHAKE || !c->ssl))
    return &w->c.limit_refused;
  return &w->c.refused;
}

/* conn_fail_tls classifies a failed SSL call (see fail_counter). */
static void conn_fail_tls(conn *c, int ssl_err, const char *stage) {
  char msg[200];
  unsigned long e = ERR_peek_last_error();
  if (e) {
    snprintf(msg, sizeof(msg), "%s: %s", stage, ERR_reason_error_string(e));
  } else if (ssl_err == SSL_ERROR_ZERO_RETURN ||
             (ssl_err == SSL_ERROR_SYSCALL && errno == 0)) {
    snprintf(msg, sizeof(msg), "%s: connection closed by the server", stage);
  } else if (ssl_err == SSL_ERROR_SYSCALL) {
    snprintf(msg, sizeof(msg), "%s: %s", stage, strerror(errno));
  } else {
    snprintf(msg, sizeof(msg), "%s: TLS error %d", stage, ssl_err);
  }
  conn_fail(c, fail_counter(c, !e && ssl_err == SSL_ERROR_SYSCALL), msg);
}

/* conn_fail_plain: a plain-TCP call failed with |err| (0: the server
 * closed the connection). */
static void conn_fail_plain(conn *c, int err, const char *stage) {
  char msg[200];
  snprintf(msg, sizeof(msg), "%s: %s", stage,
           err ? strerror(err) : "connection closed by the server");
  conn_fail(c, fail_counter(c, 1), msg);
}

/* ---- I/O helpers --------------------------------------------------------- */

static int would_block(void) {
  return errno == EAGAIN || errno == EWOULDBLOCK;
}

/* write_chunk writes up to |len| pattern bytes at tx_pos. Returns 1 when
 * bytes were written (TLS writes all |len|; plain TCP may write part, and
 * then sets want_write), 0 when the socket is full (retry later with the
 * rest), -1 when the connection failed (already torn down). */
static int write_chunk(conn *c, size_t len) {
  errno = 0;
  if (!c->ssl) {
    ssize_t n = send(c->fd, pat(c, c->tx_pos), len, MSG_NOSIGNAL);
    if (n > 0) {
      c->tx_pos += (uint64_t)n;
      if ((size_t)n < len) c->want_write = 1;
      return 1;
    }
    if (n < 0 && would_block()) {
      c->want_write = 1;
      return 0;
    }
    conn_fail_plain(c, errno, "write");
    return -1;
  }
  int n = SSL_write(c->ssl, pat(c, c->tx_pos), (int)len);
  if (n > 0) {
    c->tx_pos += (uint64_t)n;
    return 1;
  }
  int e = SSL_get_error(c->ssl, n);
  if (e == SSL_ERROR_WANT_WRITE) {
    c->want_write = 1;
    return 0;
  }
  if (e == SSL_ERROR_WANT_READ) return 0;
  conn_fail_tls(c, e, "write");
  return -1;
}

/* io_read reads what has arrived into the loop's buffer. Returns the
 * byte count (> 0), 0 when nothing is there yet, or -1 when the
 * connection failed or was closed (already torn down). */
static int io_read(conn *c, const char *stage) {
  errno = 0;
  if (!c->ssl) {
    ssize_t n = recv(c->fd, c->w->rbuf, RBUF_LEN, 0);
    if (n > 0) return (int)n;
    if (n < 0 && would_block()) return 0;
    conn_fail_plain(c, n == 0 ? 0 : errno, stage);
    return -1;
  }
  int n = SSL_read(c->ssl, c->w->rbuf, RBUF_LEN);
  if (n > 0) return n;
  int e = SSL_get_error(c->ssl, n);
  if (e == SSL_ERROR_WANT_READ) return 0;
  if (e == SSL_ERROR_WANT_WRITE) {
    c->want_write = 1;
    return 0;
  }
  conn_fail_tls(c, e, stage);
  return -1;
}

/* read_verify reads what has arrived, up to stream position |limit|, and
 * checks it against the pattern. Returns 0 (wait for more) or -1 when
 * the connection failed (already torn down). The caller accounts the
 * bytes with the operation they complete. */
static int read_verify(conn *c, uint64_t limit) {
  worker *w = c->w;
  while (c->rx_pos < limit) {
    int n = io_read(c, c->echoed ? "read" : "first echo");
    if (n <= 0) return n;
    if (c->rx_pos + (uint64_t)n > limit ||
        memcmp(w->rbuf, pat(c, c->rx_pos), (size_t)n) != 0) {
      conn_fail(c, &w->c.mismatch, "echoed bytes differ from those sent");
      return -1;
    }
    c->rx_pos += (uint64_t)n;
  }
  return 0;
}

static void set_events(conn *c, int events) {
  if (events == c->events || !c->poll_open) return;
  c->events = events;
  uv_poll_start(&c->poll, events, on_poll);
}

/* ---- connection life ----------------------------------------------------- */

/* connect_failed counts a failed TCP connect (in scale, ECONNREFUSED is
 * a refusal at the limit). */
static void connect_failed(conn *c, const char *stage, int err) {
  worker *w = c->w;
  char msg[120];
  snprintf(msg, sizeof(msg), "%s: %s", stage, strerror(err));
  int limit = w->r->scale && err == ECONNREFUSED;
  conn_fail(c, limit ? &w->c.limit_refused : &w->c.connect_failed, msg);
}

/* bind_source binds the socket to this slot's source address (port left
 * to connect(), so each source has the whole ephemeral range for every
 * destination). Returns 0 or an errno value. */
static int bind_source(conn *c, uint32_t id) {
  const struct ed_bench__run *r = c->w->r;
  if (r->nsrc == 0) return 0;
  int one = 1;
  setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
  const struct sockaddr_in *sa = &r->src[id % r->nsrc];
  if (bind(c->fd, (const struct sockaddr *)sa, sizeof(*sa)) != 0) return errno;
  return 0;
}

/* storm_parked: a flood's storm starts no handshake in a quiet window of
 * --cycles, nor in the gap before it (PH_MEASURE comes before the storm
 * starts otherwise). */
static int storm_parked(const worker *w) {
  int ph = phase(w);
  return w->kind == K_HANDSHAKE && w->r->o->scenario == ED_BENCH_FLOOD &&
         (ph == PH_GAP || ph == PH_MEASURE);
}

static void conn_begin(conn *c) {
  worker *w = c->w;
  struct ed_bench__run *r = w->r;
  if (w->stopping || c->state == CS_DEAD) return;
  if (storm_parked(w)) {
    c->state = CS_OFF;
    c->parked = 1;
    return;
  }
  if (w->kind == K_HANDSHAKE && !claim(r)) {
    c->state = CS_OFF;
    return;
  }
  c->t_start = c->t_op = ed_now_ns();
  c->tx_pos = c->rx_pos = 0;
  c->echoed = c->want_write = c->pending_write = c->step = 0;
  c->fd =
      socket(r->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) {
    connect_failed(c, "socket", errno);
    return;
  }
  int one = 1, err;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if ((err = bind_source(c, w->first_id + (uint32_t)(c - w->conns))) != 0) {
    connect_failed(c, "bind", err);
    return;
  }
  if (connect(c->fd, (struct sockaddr *)&r->addr, r->addr_len) != 0 &&
      errno != EINPROGRESS) {
    connect_failed(c, "connect", errno);
    return;
  }
  uv_poll_init(&w->loop, &c->poll, c->fd);
  c->poll.data = c;
  c->poll_open = 1;
  c->state = CS_CONNECTING;
  set_events(c, UV_WRITABLE);
}

static void record_tls_info(struct ed_bench__run *r, SSL *ssl) {
  if (atomic_load(&r->have_tls_info)) return;
  pthread_mutex_lock(&r->mu);
  if (!atomic_load(&r->have_tls_info)) {
    const char *g = SSL_get_curve_name(SSL_get_curve_id(ssl));
    snprintf(r->version, sizeof(r->version), "%s", SSL_get_version(ssl));
    snprintf(r->cipher, sizeof(r->cipher), "%s",
             SSL_CIPHER_standard_name(SSL_get_current_cipher(ssl)));
    snprintf(r->group, sizeof(r->group), "%s", g ? g : "none");
    atomic_store(&r->have_tls_info, 1);
  }
  pthread_mutex_unlock(&r->mu);
}

static void msg_begin(conn *c, uint32_t len) {
  c->msg_end = c->tx_pos + len;
  c->msg_len = len;
  c->t_op = ed_now_ns();
  c->state = CS_MSG;
  msg_step(c);
}

static void do_handshake(conn *c) {
  errno = 0;
  int rv = SSL_do_handshake(c->ssl);
  if (rv == 1) {
    record_tls_info(c->w->r, c->ssl);
    msg_begin(c, HELLO_LEN);
    return;
  }
  int e = SSL_get_error(c->ssl, rv);
  if (e == SSL_ERROR_WANT_READ) {
    set_events(c, UV_READABLE);
  } else if (e == SSL_ERROR_WANT_WRITE) {
    set_events(c, UV_WRITABLE);
  } else {
    conn_fail_tls(c, e, "handshake");
  }
}

static void on_connected(conn *c) {
  worker *w = c->w;
  struct ed_bench__run *r = w->r;
  int err = 0;
  socklen_t len = sizeof(err);
  getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err) {
    connect_failed(c, "connect", err);
    return;
  }
  if (w->kind == K_PARTIAL) {
    c->state = CS_PARTIAL;
    partial_step(c);
    return;
  }
  if (r->shape.n) {
    c->state = CS_SHAPE;
    shape_step(c);
    return;
  }
  if (r->plain) {
    msg_begin(c, HELLO_LEN);
    return;
  }
  c->ssl = SSL_new(w->ctx);
  if (!c->ssl) {
    conn_fail(c, &w->c.refused, "SSL_new failed");
    return;
  }
  SSL_set_fd(c->ssl, c->fd);
  SSL_set_app_data(c->ssl, c);
  if (r->sni) SSL_set_tlsext_host_name(c->ssl, r->sni);
  if (c->session) SSL_set_session(c->ssl, c->session);
  SSL_set_connect_state(c->ssl);
  c->state = CS_HANDSHAKE;
  do_handshake(c);
}

int ed_bench__on_new_session(SSL *ssl, SSL_SESSION *sess) {
  conn *c = SSL_get_app_data(ssl);
  if (!c) return 0;
  SSL_SESSION_free(c->session);
  c->session = sess;
  return 1;
}

/* close_done: the connection is closed, cleanly (the server answered our
 * close_notify or FIN with its own close) or not. */
static void close_done(conn *c, int clean) {
  worker *w = c->w;
  ERR_clear_error();
  c->state = CS_OFF;
  conn_teardown(c);
  if (!c->closing) return;
  c->closing = 0;
  w->closing--;
  bump(clean ? &w->c.closed : &w->c.close_unclean, 1);
  if (!clean) ed_bench__note_error(w->r, "close: the server did not close");
  check_progress(w);
}

/* begin_shutdown sends close_notify (plain TCP: a FIN) and waits for the
 * server to close its side. */
static void begin_shutdown(conn *c) {
  c->state = CS_SHUTDOWN;
  c->t_op = ed_now_ns();
  if (!c->ssl) {
    if (shutdown(c->fd, SHUT_WR) != 0) {
      close_done(c, 0);
      return;
    }
    set_events(c, UV_READABLE);
    return;
  }
  int rv = SSL_shutdown(c->ssl);
  if (rv == 1) {
    close_done(c, 1);
    return;
  }
  if (rv < 0 && SSL_get_error(c->ssl, rv) != SSL_ERROR_WANT_READ &&
      SSL_get_error(c->ssl, rv) != SSL_ERROR_WANT_WRITE) {
    close_done(c, 0);
    return;
  }
  set_events(c, UV_READABLE);
}

static void shutdown_step(conn *c) {
  if (!c->ssl) {
    ssize_t n = recv(c->fd, c->w->rbuf, RBUF_LEN, 0);
    if (n > 0 || (n < 0 && would_block())) return;
    close_done(c, n == 0);
    return;
  }
  int rv = SSL_shutdown(c->ssl);
  if (rv < 0) {
    int e = SSL_get_error(c->ssl, rv);
    if (e == SSL_ERROR_WANT_READ) return;
    if (e == SSL_ERROR_WANT_WRITE) {
      set_events(c, UV_READABLE | UV_WRITABLE);
      return;
    }
  }
  close_done(c, rv == 1);
}

/* ---- scenarios ----------------------------------------------------------- */

static void record_rtt(worker *w, uint64_t ns) {
  int ph = phase(w);
  if (w->flood_echo) {
    if (ph == PH_MEASURE) ed_bench_hist_add(&w->quiet, ns);
    if (ph == PH_STORM) ed_bench_hist_add(&w->storm, ns);
  } else if (ph == PH_MEASURE) {
    ed_bench_hist_add(&w->lat, ns);
  }
}

static void hold(conn *c) {
  c->state = CS_HOLD;
  set_events(c, UV_READABLE);
}

/* echo_paused: the closed-loop flood parks its echo connections while the
 * storm is measured alone. */
static int echo_paused(int ph) {
  return ph == PH_PAUSE || ph == PH_SOLO;
}

/* ---- pacing (flood's echo connections) ----------------------------------- */

/* pace_arm sets the worker's timerfd to the earliest due time of the
 * connections waiting to send (a time already past fires at once). */
static void pace_arm(worker *w) {
  uint64_t next = 0;
  for (uint32_t i = 0; i < w->nconns; i++) {
    const conn *c = &w->conns[i];
    if (c->pace_wait && (next == 0 || c->due < next)) next = c->due;
  }
  if (next == 0 || next == w->pace_armed) return;
  struct itimerspec its;
  memset(&its, 0, sizeof(its));
  its.it_value.tv_sec = (time_t)(next / 1000000000u);
  its.it_value.tv_nsec = (long)(next % 1000000000u);
  timerfd_settime(w->pace_fd, TFD_TIMER_ABSTIME, &its, NULL);
  w->pace_armed = next;
}

static void pace_wait(conn *c, uint64_t due) {
  c->due = due;
  c->pace_wait = 1;
  hold(c);
  pace_arm(c->w);
}

/* on_pace: the timerfd fired; every connection whose time has come sends. */
static void on_pace(uv_poll_t *h, int status, int events) {
  worker *w = h->data;
  uint64_t expirations;
  (void)status;
  (void)events;
  if (read(w->pace_fd, &expirations, sizeof(expirations)) < 0 &&
      errno != EAGAIN)
    return;
  w->pace_armed = 0;
  uint64_t now = ed_now_ns();
  for (uint32_t i = 0; i < w->nconns && !w->stopping; i++) {
    conn *c = &w->conns[i];
    if (!c->pace_wait || c->due > now) continue;
    c->pace_wait = 0;
    if (c->state == CS_HOLD && claim(w->r)) msg_begin(c, w->size);
  }
  if (!w->stopping) pace_arm(w);
}

/* pace_next: the echo of a paced message is back at |now|; send the next
 * one on schedule, or at once (counted as late) if the schedule passed. */
static void pace_next(conn *c, uint64_t now) {
  worker *w = c->w;
  int late;
  uint64_t next = ed_bench_pace_next(&late, c->due, w->interval_ns, now);
  if (!late) {
    pace_wait(c, next);
    return;
  }
  int ph = phase(w);
  if (ph == PH_MEASURE) bump(&w->c.late_quiet, 1);
  if (ph == PH_STORM) bump(&w->c.late_storm, 1);
  c->due = now;
  if (claim(w->r)) {
    msg_begin(c, w->size);
  } else {
    hold(c);
  }
}

/* start_work begins the steady state of an echo or bulk connection. */
static void start_work(conn *c) {
  worker *w = c->w;
  c->parked = 0;
  if (w->kind == K_BULK) {
    c->state = CS_BULK;
    c->t_op = ed_now_ns();
    bulk_step(c);
  } else if (w->interval_ns) {
    /* Paced: spread the connections' first sends over one interval. */
    uint64_t idx = (uint64_t)(c - w->conns);
    pace_wait(c, ed_now_ns() + idx * w->interval_ns / w->nconns);
  } else if (!w->stopping && claim(w->r)) {
    msg_begin(c, w->size);
  } else {
    hold(c);
  }
}

/* first_echo_done: the server accepted us (in TLS 1.3 the client's
 * handshake ends before the server has checked its certificate, so only
 * an echo proves it). */
static void first_echo_done(conn *c) {
  worker *w = c->w;
  c->echoed = 1;
  bump(&w->c.established, 1);
  if (w->kind == K_IDLE) {
    w->opening--;
    settle(w);
    hold(c);
    open_more(w);
    return;
  }
  settle(w);
  /* Nothing is measured (or claimed from --count) until every connection
   * is up: park until the phase moves on. */
  if (phase(w) == PH_SETUP) {
    c->parked = 1;
    hold(c);
    return;
  }
  start_work(c);
}

static void msg_done(conn *c) {
  worker *w = c->w;
  uint64_t now = ed_now_ns();
  if (w->kind == K_HANDSHAKE) {
    c->echoed = 1;
    int ph = phase(w);
    if (ph == PH_MEASURE || ph == PH_STORM)
      ed_bench_hist_add(&w->lat, now - c->t_start);
    if (ph == PH_SOLO) ed_bench_hist_add(&w->quiet, now - c->t_start);
    if (ph == PH_MEASURE && w->r->o->scenario == ED_BENCH_FLOOD)
      bump(&w->c.quiet_hs, 1);
    ed_bench__account(&w->c, 1, c->msg_len,
                      c->ssl && SSL_session_reused(c->ssl));
    begin_shutdown(c);
  } else if (!c->echoed) {
    ed_bench__account(&w->c, 0, c->msg_len, 0);
    first_echo_done(c);
  } else if (c->checking) {
    ed_bench__account(&w->c, 0, c->msg_len, 0);
    c->checking = 0;
    w->checking--;
    bump(&w->c.held, 1);
    hold(c);
    check_progress(w);
  } else {
    record_rtt(w, now - c->t_op);
    ed_bench__account(&w->c, 1, c->msg_len, 0);
    if (w->flood_echo && echo_paused(phase(w))) {
      c->parked = 1;
      hold(c);
    } else if (w->interval_ns && !w->stopping) {
      pace_next(c, now); /* claims when it sends */
    } else if (!w->stopping && claim(w->r)) {
      msg_begin(c, w->size);
    } else {
      hold(c);
    }
  }
}

static void msg_step(conn *c) {
  c->want_write = 0;
  if (c->tx_pos < c->msg_end &&
      write_chunk(c, (size_t)(c->msg_end - c->tx_pos)) < 0)
    return;
  /* Tests only: let the server answer before we look (see bench.h). */
  if (c->checking && c->w->r->test_check_pause_us)
    usleep(c->w->r->test_check_pause_us);
  if (read_verify(c, c->tx_pos) < 0) return;
  if (c->rx_pos == c->msg_end) {
    msg_done(c);
    return;
  }
  set_events(c, UV_READABLE | (c->want_write ? UV_WRITABLE : 0));
}

/* bulk_fill writes S-byte chunks while the window allows. A chunk once
 * claimed is finished before the next (TLS retries it whole; plain TCP
 * may take it in parts). Returns -1 if the connection failed. */
static int bulk_fill(conn *c) {
  worker *w = c->w;
  uint32_t window = w->r->o->window;
  while (!w->stopping) {
    if (!c->pending_write) {
      if (c->tx_pos - c->rx_pos + w->size > window || !claim(w->r)) break;
      c->pending_write = 1;
      c->chunk_end = c->tx_pos + w->size;
    }
    int rv = write_chunk(c, (size_t)(c->chunk_end - c->tx_pos));
    if (rv <= 0) return rv;
    if (c->tx_pos < c->chunk_end) return 0; /* partial: wait for room */
    c->pending_write = 0;
  }
  return 0;
}

static void bulk_step(conn *c) {
  worker *w = c->w;
  int round;
  c->want_write = 0;
  for (round = 0; round < BULK_ROUNDS; round++) {
    if (bulk_fill(c) < 0) return;
    uint64_t before = c->rx_pos;
    if (read_verify(c, c->tx_pos) < 0) return;
    if (c->rx_pos == before) break;
    c->t_op = ed_now_ns();
    uint64_t s = w->size;
    ed_bench__account(&w->c,
                      (c->rx_pos - HELLO_LEN) / s - (before - HELLO_LEN) / s,
                      c->rx_pos - before, 0);
  }
  /* Out of rounds while still moving: the last read may have opened the
   * window (even drained it: nothing more will arrive to wake us), so
   * come back as soon as the socket is writable rather than waiting for
   * a read that may never come (that stalled until the 100 ms tick). */
  if (round == BULK_ROUNDS && !w->stopping) c->want_write = 1;
  set_events(c, UV_READABLE | (c->want_write ? UV_WRITABLE : 0));
}

/* hold_step: a held connection became readable — a late ticket is fine,
 * anything else is the server closing or misbehaving. */
static void hold_step(conn *c) {
  int n = io_read(c, "held session");
  if (n > 0)
    conn_fail(c, &c->w->c.mismatch, "server sent bytes nobody asked for");
}

/* ---- shape: a TLS session's message pattern, plain (shape.h) ------------- */

/* shape_done: the server answered the last step and closed: one cycle. */
static void shape_done(conn *c) {
  worker *w = c->w;
  int ph = phase(w);
  if (ph == PH_MEASURE) ed_bench_hist_add(&w->lat, ed_now_ns() - c->t_start);
  ed_bench__account(&w->c, 1, c->rx_pos, 0);
  c->state = CS_OFF;
  conn_teardown(c);
}

/* shape_step writes the current step's bytes, takes what has arrived (the
 * answers are counted, not checked: they carry no content), and moves on
 * to the next step once the answer is in, or at once for a '+' step.
 * After the last step it waits for the server's close. */
static void shape_step(conn *c) {
  worker *w = c->w;
  const struct ed_shape *sh = &w->r->shape;
  for (;;) {
    uint64_t end = sh->step[c->step].c_end;
    if (c->tx_pos < end) {
      c->want_write = 0;
      if (write_chunk(c, (size_t)(end - c->tx_pos)) < 0) return;
      if (c->tx_pos < end) {
        set_events(c, UV_READABLE | UV_WRITABLE);
        return;
      }
    }
    int eof = 0;
    for (;;) {
      ssize_t n = recv(c->fd, w->rbuf, RBUF_LEN, 0);
      if (n > 0) {
        c->rx_pos += (uint64_t)n;
        c->t_op = ed_now_ns();
        continue;
      }
      if (n == 0) eof = 1;
      if (n == 0 || would_block()) break;
      conn_fail_plain(c, errno, "shaped cycle");
      return;
    }
    int last = c->step + 1 == sh->n;
    /* The server cannot have answered a step we have not sent yet. */
    if (c->rx_pos > sh->step[c->step].s_end) {
      conn_fail(c, &w->c.mismatch, "shaped cycle: the server sent too much");
      return;
    }
    if (eof) {
      if (last && c->rx_pos == sh->s_total) {
        shape_done(c);
      } else {
        conn_fail_plain(c, 0, "shaped cycle");
      }
      return;
    }
    if (last ||
        (!sh->step[c->step].nowait && c->rx_pos < sh->step[c->step].s_end)) {
      set_events(c, UV_READABLE);
      return;
    }
    c->step++;
  }
}

/* ---- partial: a TLS record begun and never finished ---------------------- */

/* partial_closed: the server closed a partial connection (refused it at
 * accept, or gave up on its handshake): counted apart from the errors. */
static void partial_closed(conn *c, const char *what) {
  worker *w = c->w;
  if (c->echoed) atomic_fetch_sub(&w->alive, 1);
  conn_fail(c, &w->c.limit_refused, what);
}

/* partial_step sends what is left of the record, then holds: readable
 * means the server closed (or, wrongly, answered). */
static void partial_step(conn *c) {
  worker *w = c->w;
  const struct ed_bench__run *r = w->r;
  while (c->tx_pos < r->partial_len) {
    ssize_t n = send(c->fd, r->partial + c->tx_pos, r->partial_len - c->tx_pos,
                     MSG_NOSIGNAL);
    if (n > 0) {
      c->tx_pos += (uint64_t)n;
    } else if (n < 0 && would_block()) {
      set_events(c, UV_READABLE | UV_WRITABLE);
      return;
    } else {
      partial_closed(c, "partial: closed by the server while sending");
      return;
    }
  }
  if (!c->echoed) { /* all sent: held from now on */
    c->echoed = 1;
    atomic_fetch_add(&w->alive, 1);
    bump(&w->c.established, 1);
    w->opening--;
    settle(w);
    set_events(c, UV_READABLE);
    open_more(w);
    return;
  }
  ssize_t n = recv(c->fd, w->rbuf, RBUF_LEN, 0);
  if (n > 0) {
    atomic_fetch_sub(&w->alive, 1);
    conn_fail(c, &w->c.mismatch,
              "partial: the server answered a partial "
              "record");
  } else if (n == 0 || !would_block()) {
    partial_closed(c, "partial: closed by the server");
  }
}

static void on_poll(uv_poll_t *h, int status, int events) {
  conn *c = h->data;
  (void)events;
  if (status < 0) {
    /* libuv reports POLLERR as UV_EBADF and stops the watcher; the next
     * socket or SSL call below finds the real error (SO_ERROR for a
     * connect). */
    c->events = 0;
  }
  switch (c->state) {
    case CS_CONNECTING:
      on_connected(c);
      break;
    case CS_HANDSHAKE:
      do_handshake(c);
      break;
    case CS_MSG:
      msg_step(c);
      break;
    case CS_BULK:
      bulk_step(c);
      break;
    case CS_HOLD:
      hold_step(c);
      break;
    case CS_SHUTDOWN:
      shutdown_step(c);
      break;
    case CS_PARTIAL:
      partial_step(c);
      break;
    case CS_SHAPE:
      shape_step(c);
      break;
    default:
      break;
  }
}

/* ---- the loop: phases, timeouts, start and stop -------------------------- */

static int waiting(const conn *c) {
  switch (c->state) {
    case CS_CONNECTING:
    case CS_HANDSHAKE:
    case CS_MSG:
    case CS_SHUTDOWN:
    case CS_SHAPE:
      return 1;
    case CS_BULK:
      return c->tx_pos > c->rx_pos;
    case CS_PARTIAL:
      return c->tx_pos < c->w->r->partial_len;
    default:
      return 0;
  }
}

static void check_timeouts(worker *w) {
  uint64_t now = ed_now_ns();
  uint64_t limit = (uint64_t)(w->r->o->timeout_s * 1e9);
  for (uint32_t i = 0; i < w->nconns; i++) {
    conn *c = &w->conns[i];
    if (!waiting(c) || now - c->t_op < limit) continue;
    if (c->state == CS_SHUTDOWN) { /* the server never closed: move on */
      close_done(c, 0);
      continue;
    }
    char msg[80];
    snprintf(msg, sizeof(msg), "no progress for %.1f s", w->r->o->timeout_s);
    conn_fail(c, &w->c.timeouts, msg);
  }
}

static void unpark(worker *w) {
  for (uint32_t i = 0; i < w->nconns && !w->stopping; i++) {
    conn *c = &w->conns[i];
    if (c->state == CS_HOLD && c->parked) start_work(c);
  }
}

/* unpark_storm starts the handshakes storm_parked held back. */
static void unpark_storm(worker *w) {
  for (uint32_t i = 0; i < w->nconns && !w->stopping; i++) {
    conn *c = &w->conns[i];
    if (c->state == CS_OFF && c->parked) {
      c->parked = 0;
      conn_begin(c);
    }
  }
}

/* start_checks sends the final echo on every held session. An echo can
 * come back inside msg_begin (the server may run between our write and
 * our read), so the in-flight count holds one extra until every check has
 * been sent: a count that touched 0 early used to end the check phase
 * with most sessions never asked ("held" < "established", no error). */
static void start_checks(worker *w) {
  w->checking++;
  for (uint32_t i = 0; i < w->nconns; i++) {
    conn *c = &w->conns[i];
    if (c->state != CS_HOLD) continue;
    c->checking = 1;
    w->checking++;
    msg_begin(c, HELLO_LEN);
  }
  w->checking--;
  check_progress(w);
}

/* start_closes closes every held session cleanly (scale), with the same
 * extra count as start_checks. */
static void start_closes(worker *w) {
  w->closing++;
  for (uint32_t i = 0; i < w->nconns; i++) {
    conn *c = &w->conns[i];
    if (c->state != CS_HOLD) continue;
    c->closing = 1;
    w->closing++;
    begin_shutdown(c);
  }
  w->closing--;
  check_progress(w);
}

static void worker_stop(worker *w) {
  w->stopping = 1;
  for (uint32_t i = 0; i < w->nconns; i++) conn_teardown(&w->conns[i]);
  uv_close((uv_handle_t *)&w->wake, NULL);
  uv_close((uv_handle_t *)&w->tick, NULL);
  if (w->pace_fd >= 0) uv_close((uv_handle_t *)&w->pace, NULL);
}

static void look_at_phase(worker *w) {
  int ph = phase(w);
  if (ph == w->seen_phase || w->stopping) return;
  w->seen_phase = ph;
  if (ph == PH_STOP) {
    worker_stop(w);
  } else if (ph == PH_CHECK && w->kind == K_IDLE) {
    start_checks(w);
  } else if (ph == PH_CLOSE && w->kind == K_IDLE) {
    start_closes(w);
  } else if (ph != PH_SETUP && !echo_paused(ph) &&
             (w->kind == K_ECHO || w->kind == K_BULK)) {
    unpark(w);
  } else if (w->kind == K_HANDSHAKE && !storm_parked(w)) {
    unpark_storm(w);
  }
}

static void on_wake(uv_async_t *a) {
  look_at_phase(a->data);
}

static void on_tick(uv_timer_t *t) {
  worker *w = t->data;
  look_at_phase(w);
  if (!w->stopping) check_timeouts(w);
}

/* storm_priority: in a flood the storm's handshakes share the client's
 * core with the echo being measured, so the storm runs below it: at nice
 * 10, or with --storm-idle SCHED_IDLE, which the echo thread preempts at
 * once but which gets only the core's idle time. (At nice 10 the storm
 * adds about 1 ms to the echo's p99 on this client core; docs/BENCHMARKS.md
 * round 8.) Linux: this thread only. */
static void storm_priority(struct ed_bench__run *r) {
  int got;
  if (!r->o->storm_idle) {
    setpriority(PRIO_PROCESS, 0, 10);
    errno = 0;
    got = getpriority(PRIO_PROCESS, 0) == 10 && errno == 0;
  } else {
    struct sched_param sp = {0};
    sched_setscheduler(0, SCHED_IDLE, &sp);
    got = sched_getscheduler(0) == SCHED_IDLE;
  }
  if (!got) atomic_store(&r->storm_sched_refused, 1); /* as read back */
}

static void worker_main(void *arg) {
  worker *w = arg;
  if (w->kind == K_HANDSHAKE && w->r->o->scenario == ED_BENCH_FLOOD)
    storm_priority(w->r);
  if (opens_gradually(w)) {
    open_more(w);
  } else {
    for (uint32_t i = 0; i < w->nconns; i++) conn_begin(&w->conns[i]);
  }
  uv_run(&w->loop, UV_RUN_DEFAULT);
}

int ed_bench__worker_start(worker *w) {
  w->conns = ed_calloc(w->nconns ? w->nconns : 1, sizeof(conn));
  for (uint32_t i = 0; i < w->nconns; i++) {
    conn *c = &w->conns[i];
    c->w = w;
    c->fd = -1;
    c->base = (uint64_t)(w->first_id + i) * 7919u;
  }
  w->rbuf = ed_malloc(RBUF_LEN);
  ed_bench_hist_init(&w->lat);
  ed_bench_hist_init(&w->quiet);
  ed_bench_hist_init(&w->storm);
  w->seen_phase = -1;
  int err = uv_loop_init(&w->loop);
  if (err) return err;
  uv_async_init(&w->loop, &w->wake, on_wake);
  w->wake.data = w;
  uv_timer_init(&w->loop, &w->tick);
  w->tick.data = w;
  uv_timer_start(&w->tick, on_tick, TICK_MS, TICK_MS);
  w->pace_fd = -1;
  if (w->interval_ns) {
    w->pace_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (w->pace_fd < 0) return -errno;
    uv_poll_init(&w->loop, &w->pace, w->pace_fd);
    w->pace.data = w;
    uv_poll_start(&w->pace, UV_READABLE, on_pace);
  }
  return uv_thread_create(&w->thread, worker_main, w);
}

void ed_bench__worker_wake(worker *w) {
  uv_async_send(&w->wake);
}

void ed_bench__worker_join(worker *w) {
  uv_thread_join(&w->thread);
  uv_loop_close(&w->loop);
  if (w->pace_fd >= 0) close(w->pace_fd);
  w->pace_fd = -1;
  for (uint32_t i = 0; i < w->nconns; i++)
    SSL_SESSION_free(w->conns[i].session);
  free(w->conns);
  w->conns = NULL;
  free(w->rbuf);
  w->rbuf = NULL;
}

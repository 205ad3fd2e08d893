/* internal/loop — one connection's life on its loop:
 *   ACCEPTED     accepted, nothing read yet
 *   HANDSHAKING  ciphertext goes to the pool, one step at a time (a
 *                resumption's last step, symmetric crypto only, runs here)
 *   ESTABLISHED  echo: decrypt a whole read batch, encrypt it once, write
 *   CLOSING      close_notify/alert flushed, FIN sent, waiting for the
 *                peer's FIN (bounded by ED_LINGER_MS), then uv_close; after
 *                the peer's close_notify: our last bytes, FIN, uv_close
 * ed_conn_close is the one idempotent close path; memory is freed only in
 * the uv close callback, and only once no pool step holds the conn. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal/loop/loop_internal.h"
#include "internal/proxy/proxy.h"

static const char *const reason_names[] = {
    "none",    "client_close", "eof",
    "reset",   "idle_timeout", "killed",
    "drain",   "error",        "handshake_failed",
    "rejected"};

const char *ed_close_reason_name(enum close_reason r) {
  return r <= CR_REJECTED ? reason_names[r] : "unknown";
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void start_write(struct conn *c);

static uint32_t max_buffer(const struct conn *c) {
  return c->loop->cfg->max_buffer ? c->loop->cfg->max_buffer : 65536;
}

/* ---- freeing ------------------------------------------------------------- */

static void conn_free(struct conn *c) {
  struct ed_loop *l = c->loop;
  while (c->wq_head) {
    struct wchunk *w = c->wq_head;
    c->wq_head = w->next;
    free(w);
  }
  ed_buf_cleanup(&c->rx);
  ed_buf_cleanup(&c->hs_in);
  ed_buf_cleanup(&c->hs_out);
  ed_tls_conn_free(c->tls);
  ed_tls_snapshot_unref(c->snap);
  int counted = c->counted;
  free(c);
  if (counted) ed_loop_conn_freed(l);
}

/* log_peer formats the value of a log line's peer= field, followed by
 * " via=BALANCER" when the address came from a PROXY header. */
static const char *log_peer(const struct conn *c, char *buf, size_t len) {
  char peer[80], via[80];
  ed_logq(peer, sizeof(peer), c->peer_addr);
  if (!c->via[0]) {
    snprintf(buf, len, "%s", peer);
  } else {
    snprintf(buf, len, "%s via=%s", peer, ed_logq(via, sizeof(via), c->via));
  }
  return buf;
}

static void log_closed(struct conn *c) {
  char cn[160], sans[600], peer[170];
  const struct ed_tls_peer *p = c->peer;
  double ms = (double)(ed_now_ns() - c->start_mono_ns) / 1e6;
  ED_INFO("session closed",
          "id=%llu peer=%s cn=%s sans=%s serial=%s version=%s cipher=%s "
          "resumed=%d bytes_in=%llu bytes_out=%llu duration_ms=%.3f "
          "reason=%s",
          (unsigned long long)c->id, log_peer(c, peer, sizeof(peer)),
          ed_logq(cn, sizeof(cn), p ? p->cn : ""),
          ed_logq(sans, sizeof(sans), p ? p->sans : ""), p ? p->serial : "",
          c->tls ? ed_tls_conn_version(c->tls) : "", ed_suite_name(c->suite),
          c->resumed, (unsigned long long)atomic_load(&c->bytes_in),
          (unsigned long long)atomic_load(&c->bytes_out), ms,
          ed_close_reason_name(c->close_reason));
}

static void on_close(uv_handle_t *h) {
  struct conn *c = h->data;
  struct ed_loop *l = c->loop;
  c->handle_closed = 1;
  if (!c->rejected) {
    pthread_mutex_lock(&l->reg_mu);
    link_remove(&c->reg);
    pthread_mutex_unlock(&l->reg_mu);
    ed_stat_add(&l->stats.closed, 1);
    ed_hist_observe(&l->stats.conn_duration, ed_now_ns() - c->start_mono_ns);
    if (c->peer && !c->hs_logged) log_closed(c);
  }
  link_remove(&c->tq);
  if (!c->in_pool) conn_free(c);
}

void ed_conn_abort(struct conn *c) {
  if (c->closing_handle) return;
  c->closing_handle = 1;
  uv_close((uv_handle_t *)&c->tcp, on_close);
}

/* ---- writing --------------------------------------------------------------
 */

static void on_shutdown(uv_shutdown_t *req, int status) {
  struct conn *c = req->data;
  if (status < 0 || c->peer_eof) ed_conn_abort(c);
}

static void maybe_shutdown(struct conn *c) {
  if (!c->want_shutdown || c->shutdown_sent || c->writing || c->wq_head ||
      c->closing_handle) {
    return;
  }
  c->shutdown_sent = 1;
  c->sreq.data = c;
  if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, on_shutdown) != 0)
    ed_conn_abort(c);
}

static void resume_reading(struct conn *c) {
  if (!c->read_stopped || c->wq_bytes >= max_buffer(c) / 2) return;
  c->read_stopped = 0;
  if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
    c->read_stopped = 1;
  }
}

static void on_write(uv_write_t *req, int status) {
  struct conn *c = req->data;
  for (unsigned i = 0; i < c->inflight && c->wq_head; i++) {
    struct wchunk *w = c->wq_head;
    c->wq_head = w->next;
    c->wq_bytes -= w->len;
    free(w);
  }
  if (!c->wq_head) c->wq_tail = NULL;
  c->inflight = 0;
  c->writing = 0;
  if (c->closing_handle) return;
  if (status < 0) {
    ed_conn_close(c, CR_RESET, HOW_ABORT);
    return;
  }
  start_write(c);
  resume_reading(c);
  maybe_shutdown(c);
}

static void start_write(struct conn *c) {
  if (c->writing || !c->wq_head || c->closing_handle) return;
  uv_buf_t bufs[4]; /* libuv copies more than 4 into a malloc'd array */
  unsigned n = 0;
  for (struct wchunk *w = c->wq_head; w && n < 4; w = w->next, n++)
    bufs[n] = uv_buf_init((char *)w->data, (unsigned)w->len);
  c->wreq.data = c;
  if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, bufs, n, on_write) != 0) {
    ed_conn_close(c, CR_RESET, HOW_ABORT);
    return;
  }
  c->inflight = n;
  c->writing = 1;
}

/* conn_send writes |len| bytes of ciphertext: straight to the socket when
 * nothing is queued (the common case: no copy, no allocation), the rest
 * into the write queue. */
static void conn_send(struct conn *c, const uint8_t *data, size_t len) {
  if (!len || c->closing_handle) return;
  if (!c->wq_head && !c->writing) {
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    int w = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (w >= 0 && (size_t)w == len) return;
    if (w < 0 && w != UV_EAGAIN && w != UV_ENOSYS) {
      ed_conn_close(c, CR_RESET, HOW_ABORT);
      return;
    }
    if (w > 0) data += w, len -= (size_t)w;
  }
  struct wchunk *chunk = ed_malloc(sizeof(*chunk) + len);
  chunk->next = NULL;
  chunk->len = len;
  memcpy(chunk->data, data, len);
  if (c->wq_tail) {
    c->wq_tail->next = chunk;
  } else {
    c->wq_head = chunk;
  }
  c->wq_tail = chunk;
  c->wq_bytes += len;
  start_write(c);
}

/* ---- closing --------------------------------------------------------------
 */

static void leave_state(struct conn *c) {
  struct ed_loop *l = c->loop;
  if (c->state == ED_SESSION_ESTABLISHED) {
    ed_gauge_add(&l->stats.active_established, -1);
  } else if (c->state != ED_SESSION_CLOSING) {
    ed_gauge_add(&l->stats.active_handshaking, -1);
  }
}

static void hs_log_failure(struct conn *c, enum ed_hs_reason reason,
                           const char *detail);

/* hs_unlogged_reason: a connection that closes before ESTABLISHED for any
 * reason other than a handshake failure already logged (hs_fail) or a
 * rejection at accept (counted as rejected) still gets its one "handshake
 * failed" line. A peer that sent part of a handshake and then went away
 * left a truncated handshake: protocol. One that never sent a byte, or a
 * close the server chose (drain, kill, local error): other. */
static enum ed_hs_reason hs_unlogged_reason(const struct conn *c,
                                            enum close_reason why,
                                            const char **out_detail) {
  int peer_gone = why == CR_EOF || why == CR_RESET || why == CR_CLIENT_CLOSE;
  if (peer_gone && c->got_bytes) {
    *out_detail = why == CR_RESET ? "connection reset during the handshake"
                                  : "connection closed during the handshake";
    return ED_HS_PROTOCOL;
  }
  if (peer_gone) {
    *out_detail = why == CR_RESET ? "connection reset before any byte"
                                  : "connection closed before any byte";
  } else {
    *out_detail = ed_close_reason_name(why);
  }
  return ED_HS_OTHER;
}

/* send_last sends the loop's scratch as a connection's last bytes: the
 * peer sent close_notify, so it sends nothing more and there is nothing
 * to linger for. MSG_MORE holds the bytes back and the close(2) that
 * follows at once puts the FIN in the same segment: one segment fewer, no
 * shutdown, no wait for the peer's FIN. Only with nothing queued (order);
 * returns 0 to fall back to the flush-and-linger path (the scratch, less
 * what went out, still to send), 1 when the conn is closed. */
static int send_last(struct conn *c) {
  struct ed_buf *b = &c->loop->scratch;
  uv_os_fd_t fd;
  if (c->wq_head || c->writing || !b->len ||
      uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0) {
    return 0;
  }
  ssize_t n;
  do {
    n = send(fd, b->data, b->len, MSG_MORE | MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
    c->peer_reset = 1;
    ed_conn_abort(c);
    return 1;
  }
  if (n == (ssize_t)b->len) {
    ed_conn_abort(c); /* close(2): the FIN joins the held-back bytes */
    return 1;
  }
  if (n > 0) ed_buf_consume(b, (size_t)n);
  return 0;
}

void ed_conn_close(struct conn *c, enum close_reason why, enum close_how how) {
  struct ed_loop *l = c->loop;
  if (c->state == ED_SESSION_CLOSING) {
    if (how == HOW_ABORT) ed_conn_abort(c);
    return;
  }
  int established = c->state == ED_SESSION_ESTABLISHED;
  if (!established && !c->hs_logged && why != CR_REJECTED) {
    const char *detail;
    enum ed_hs_reason r = hs_unlogged_reason(c, why, &detail);
    hs_log_failure(c, r, detail);
  }
  leave_state(c);
  ed_loop_set_state(c, ED_SESSION_CLOSING);
  c->close_reason = (uint8_t)why;
  if (c->in_pool || c->closing_handle) how = HOW_ABORT;
  if (how >= HOW_NOTIFY && !established) how = HOW_FLUSH;
  if (how == HOW_ABORT) {
    ed_conn_abort(c);
    return;
  }
  if (how >= HOW_NOTIFY) {
    if (how == HOW_NOTIFY) ed_buf_reset(&l->scratch);
    struct ed_tls_io io = {NULL, 0, 0, &l->scratch};
    int notified = ed_tls_conn_shutdown(c->tls, &io) == 0;
    if (how == HOW_LAST && notified && send_last(c)) return;
    if (notified || how == HOW_LAST)
      conn_send(c, l->scratch.data, l->scratch.len);
  }
  c->deadline_ms = uv_now(&l->uv) + ED_LINGER_MS;
  link_tail(&l->closing_q, &c->tq);
  c->want_shutdown = 1;
  /* Keep reading (and discarding) until the peer's FIN. */
  if (c->read_stopped && !c->closing_handle) {
    c->read_stopped = 0;
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  }
  maybe_shutdown(c);
}

/* ---- handshake ------------------------------------------------------------
 */

static void step_run(struct ed_hs_job *job) {
  struct conn *c = (struct conn *)((char *)job - offsetof(struct conn, job));
  if (!c->tls) c->tls = ed_tls_conn_new_server(c->snap);
  struct ed_tls_io io = {c->hs_in.data, c->hs_in.len, 0, &c->hs_out};
  c->hs_rc = ed_tls_conn_handshake(c->tls, &io);
  ed_buf_consume(&c->hs_in, io.in_used);
  if (c->hs_rc < 0) c->hs_reason = ed_tls_conn_failure(c->tls, &c->hs_detail);
}

static void step_complete(struct ed_hs_job *job) {
  struct conn *c = (struct conn *)((char *)job - offsetof(struct conn, job));
  struct ed_loop *l = c->loop;
  struct conn *head = atomic_load_explicit(&l->done, memory_order_relaxed);
  do {
    c->done_next = head;
  } while (!atomic_compare_exchange_weak_explicit(
      &l->done, &head, c, memory_order_release, memory_order_relaxed));
  if (!head) ed_wake_signal(&l->wake); /* else a wake is already due */
}

/* hs_log_failure counts and logs a handshake failure, once per conn. */
static void hs_log_failure(struct conn *c, enum ed_hs_reason reason,
                           const char *detail) {
  struct ed_loop *l = c->loop;
  char peer[170], d[200];
  if (c->hs_logged) return;
  c->hs_logged = 1;
  ed_stat_add(&l->stats.hs_errors[reason], 1);
  ED_INFO("handshake failed",
          "id=%llu peer=%s reason=%s detail=%s "
          "duration_ms=%.3f",
          (unsigned long long)c->id, log_peer(c, peer, sizeof(peer)),
          ed_hs_reason_name(reason), ed_logq(d, sizeof(d), detail),
          (double)(ed_now_ns() - c->start_mono_ns) / 1e6);
}

static void hs_fail(struct conn *c, enum ed_hs_reason reason,
                    const char *detail, enum close_how how) {
  hs_log_failure(c, reason, detail);
  ed_conn_close(c, CR_HS_FAILED, how);
}

void ed_conn_hs_timeout(struct conn *c) {
  hs_fail(c, ED_HS_TIMEOUT, "no complete handshake in time", HOW_ABORT);
}

static void hs_step_done(struct conn *c);

/* hs_run_inline runs a resumption's last step (the client's Finished and a
 * new ticket: symmetric crypto only, see ed_tls_conn_resumption_tail) here
 * on the loop, saving the pool round trip: two context switches, a futex
 * wake and an eventfd. The loop thread is marked as an I/O loop
 * (ed_tls_mark_io_thread), so a certificate check reached here would fail
 * the handshake rather than run. */
static void hs_run_inline(struct conn *c) {
  step_run(&c->job);
  hs_step_done(c);
}

static void hs_submit(struct conn *c) {
  struct ed_loop *l = c->loop;
  if (c->hs_in.len == 0) {
    struct ed_buf t = c->hs_in;
    c->hs_in = c->rx;
    c->rx = t;
  } else if (ed_buf_append(&c->hs_in, c->rx.data, c->rx.len) != 0) {
    hs_fail(c, ED_HS_PROTOCOL, "handshake too large", HOW_ABORT);
    return;
  }
  ed_buf_reset(&c->rx);
  if (c->tls && ed_tls_conn_resumption_tail(c->tls)) {
    hs_run_inline(c);
    return;
  }
  c->job.run = step_run;
  c->job.complete = step_complete;
  if (ed_hs_pool_submit(l->sh->pool, &c->job, !c->hs_started) != 0) {
    ed_stat_add(&l->stats.rejected[ED_REJECT_PENDING_HANDSHAKES], 1);
    ed_conn_close(c, CR_REJECTED, HOW_ABORT);
    return;
  }
  if (!c->hs_started) ed_loop_set_state(c, ED_SESSION_HANDSHAKING);
  c->hs_started = 1;
  c->in_pool = 1;
}

/* proxy_header takes the PROXY protocol v2 header off the front of |rx|
 * (--proxy-protocol): the address it carries becomes the peer, the
 * balancer's becomes |via|. Returns 1 when the header is consumed (TLS
 * bytes may follow in |rx|), 0 while it is incomplete, -1 when the conn
 * was refused (logged as a protocol failure with the parser's reason). */
static int proxy_header(struct conn *c) {
  struct ed_proxy_header h;
  const char *why = "bad PROXY header";
  int n = ed_proxy_parse(c->rx.data, c->rx.len, &h, &why);
  if (n == 0) return 0;
  if (n < 0) {
    hs_fail(c, ED_HS_PROTOCOL, why, HOW_FLUSH);
    return -1;
  }
  char src[64];
  if (ed_proxy_format_src(&h, src, sizeof(src)) == 0) {
    struct ed_loop *l = c->loop;
    pthread_mutex_lock(&l->reg_mu);
    memcpy(c->via, c->peer_addr, sizeof(c->via));
    snprintf(c->peer_addr, sizeof(c->peer_addr), "%s", src);
    pthread_mutex_unlock(&l->reg_mu);
  }
  ed_buf_consume(&c->rx, (size_t)n);
  c->proxy_wait = 0;
  return 1;
}

static void hs_feed(struct conn *c, const uint8_t *data, size_t len) {
  c->got_bytes = 1;
  if (ed_buf_append(&c->rx, data, len) != 0) {
    hs_fail(c, ED_HS_PROTOCOL, "handshake too large", HOW_ABORT);
    return;
  }
  if (c->proxy_wait && proxy_header(c) <= 0) return;
  if (!c->in_pool) {
    if (c->rx.len) hs_submit(c);
  } else if (c->rx.len >= ED_HS_READ_PAUSE && !c->read_stopped) {
    /* A TLS 1.3 client may stream data right after its Finished while
     * the step is still in the pool: pause it, do not buffer without
     * bound. */
    c->read_stopped = 1;
    uv_read_stop((uv_stream_t *)&c->tcp);
  }
}

static void echo_feed(struct conn *c, const uint8_t *data, size_t len);

/* hs_established: the last step completed the handshake. Bookkeeping
 * first (from here on the conn is ESTABLISHED, whatever the socket does),
 * then the step's output (tickets), then any application data that came
 * with or after the client's Finished. */
static void hs_established(struct conn *c) {
  struct ed_loop *l = c->loop;
  c->resumed = (uint8_t)ed_tls_conn_resumed(c->tls);
  c->suite = ed_tls_conn_suite(c->tls);
  pthread_mutex_lock(&l->reg_mu);
  c->peer = ed_tls_conn_peer(c->tls);
  c->state = ED_SESSION_ESTABLISHED;
  pthread_mutex_unlock(&l->reg_mu);
  ed_gauge_add(&l->stats.active_handshaking, -1);
  ed_gauge_add(&l->stats.active_established, 1);
  ed_stat_add(&l->stats.handshakes[c->resumed], 1);
  ed_stat_add(&l->stats.sessions_by_suite[c->suite], 1);
  ed_hist_observe(&l->stats.hs_duration, ed_now_ns() - c->start_mono_ns);
  uint32_t idle = l->cfg->idle_timeout_ms;
  link_remove(&c->tq);
  if (idle) {
    c->deadline_ms = uv_now(&l->uv) + idle;
    link_tail(&l->idle_q, &c->tq);
  }
  conn_send(c, c->hs_out.data, c->hs_out.len);
  if (c->hs_in.len && c->state == ED_SESSION_ESTABLISHED)
    echo_feed(c, c->hs_in.data, c->hs_in.len);
  if (c->rx.len && c->state == ED_SESSION_ESTABLISHED)
    echo_feed(c, c->rx.data, c->rx.len);
  ed_buf_cleanup(&c->hs_in);
  ed_buf_cleanup(&c->hs_out);
  ed_buf_cleanup(&c->rx);
}

static void hs_peer_gone(struct conn *c) {
  hs_fail(c, ED_HS_PROTOCOL,
          c->peer_reset ? "connection reset during the handshake"
                        : "connection closed during the handshake",
          c->peer_reset ? HOW_ABORT : HOW_FLUSH);
}

void ed_conn_step_done(struct conn *c) {
  c->in_pool = 0;
  if (c->handle_closed) {
    conn_free(c);
    return;
  }
  if (c->state == ED_SESSION_CLOSING) return;
  hs_step_done(c);
}

/* hs_step_done acts on a finished step (from the pool or inline). */
static void hs_step_done(struct conn *c) {
  if (c->hs_rc == 1) {
    hs_established(c);
    if (c->state != ED_SESSION_ESTABLISHED) return;
    if (c->peer_eof) {
      ed_conn_close(c, c->peer_reset ? CR_RESET : CR_EOF,
                    c->peer_reset ? HOW_ABORT : HOW_NOTIFY);
      return;
    }
    resume_reading(c);
    return;
  }
  if (!c->peer_reset) conn_send(c, c->hs_out.data, c->hs_out.len);
  ed_buf_reset(&c->hs_out);
  if (c->state == ED_SESSION_CLOSING) return; /* the send failed; logged */
  if (c->hs_rc < 0) {
    hs_fail(c, c->hs_reason, c->hs_detail, HOW_FLUSH);
  } else if (c->peer_eof && !c->rx.len) {
    hs_peer_gone(c);
  } else {
    if (c->rx.len) {
      hs_submit(c);
      /* Ran inline (it decided about reading and state) or refused. */
      if (!c->in_pool) return;
    }
    if (c->peer_eof) return; /* no more input; the next step decides */
    if (c->read_stopped && c->state != ED_SESSION_CLOSING) {
      c->read_stopped = 0;
      uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    }
  }
}

/* ---- echo -----------------------------------------------------------------
 */

static void echo_feed(struct conn *c, const uint8_t *data, size_t len) {
  struct ed_loop *l = c->loop;
  struct ed_tls_io io = {data, len, 0, &l->scratch};
  size_t plain = 0, total = 0;
  int rc;
  ed_buf_reset(&l->scratch);
  for (;;) {
    size_t got = 0;
    rc = ed_tls_conn_read(c->tls, &io, &got, l->pbuf + plain,
                          ED_LOOP_PBUF - plain);
    plain += got;
    if (rc == 0 && plain < ED_LOOP_PBUF) continue;
    if (plain && ed_tls_conn_write(c->tls, &io, l->pbuf, plain) != 0) {
      rc = ED_E_TLS;
      break;
    }
    total += plain;
    plain = 0;
    if (rc != 0) break;
  }
  if (total) {
    ed_stat_add(&l->stats.bytes_in, total);
    ed_stat_add(&l->stats.bytes_out, total);
    atomic_store_explicit(&c->bytes_in, atomic_load(&c->bytes_in) + total,
                          memory_order_relaxed);
    atomic_store_explicit(&c->bytes_out, atomic_load(&c->bytes_out) + total,
                          memory_order_relaxed);
  }
  if (rc == ED_E_CLOSED) {
    ed_conn_close(c, CR_CLIENT_CLOSE, HOW_LAST); /* sends the scratch */
    return;
  }
  conn_send(c, l->scratch.data, l->scratch.len);
  if (rc != ED_E_AGAIN) {
    ed_tls_conn_failure(c->tls, NULL); /* clears the error queue */
    ed_conn_close(c, CR_ERROR, HOW_FLUSH);
  } else if (c->wq_bytes >= max_buffer(c) && !c->read_stopped) {
    c->read_stopped = 1; /* backpressure: resume once writes drain */
    uv_read_stop((uv_stream_t *)&c->tcp);
  }
}

/* ---- reading --------------------------------------------------------------
 */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  struct conn *c = h->data;
  size_t room = ED_LOOP_RBUF;
  (void)suggested;
  if (c->state == ED_SESSION_ESTABLISHED) {
    size_t max = max_buffer(c);
    room = c->wq_bytes < max ? max - c->wq_bytes : 1;
    if (room > ED_LOOP_RBUF) room = ED_LOOP_RBUF;
  } else if (c->in_pool) {
    /* Whatever arrives while a step is in the pool waits in |rx|, which
     * never passes its cap: reading pauses at ED_HS_READ_PAUSE. */
    size_t space = ed_buf_space(&c->rx);
    if (room > space) room = space ? space : 1;
  }
  *buf = uv_buf_init((char *)c->loop->rbuf, (unsigned)room);
}

static void on_eof(struct conn *c, ssize_t err) {
  c->peer_eof = 1;
  c->peer_reset = err != UV_EOF;
  if (c->in_pool) {
    /* The client may have sent its last flight (and data), then FIN or
     * even RST: let the step finish on what arrived (ed_conn_step_done
     * decides). */
    c->read_stopped = 1;
    uv_read_stop((uv_stream_t *)&c->tcp);
    return;
  }
  if (c->state == ED_SESSION_ESTABLISHED) {
    ed_conn_close(c, c->peer_reset ? CR_RESET : CR_EOF,
                  c->peer_reset ? HOW_ABORT : HOW_NOTIFY);
  } else {
    /* Not in the pool, so nothing is left unprocessed: the handshake was
     * cut short. ed_conn_close logs it (protocol; other with no byte). */
    ed_conn_close(c, c->peer_reset ? CR_RESET : CR_EOF, HOW_ABORT);
  }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  struct conn *c = s->data;
  if (nread == 0) return;
  if (c->state == ED_SESSION_CLOSING) {
    if (nread < 0) {
      c->peer_eof = 1;
      ed_conn_abort(c);
    }
    return;
  }
  if (nread < 0) {
    on_eof(c, nread);
    return;
  }
  const uint8_t *data = (const uint8_t *)buf->base;
  if (c->state != ED_SESSION_ESTABLISHED) {
    hs_feed(c, data, (size_t)nread);
    return;
  }
  struct ed_loop *l = c->loop;
  if (l->cfg->idle_timeout_ms) {
    c->deadline_ms = uv_now(&l->uv) + l->cfg->idle_timeout_ms;
    link_tail(&l->idle_q, &c->tq);
  }
  echo_feed(c, data, (size_t)nread);
}

/* ---- accepting ------------------------------------------------------------
 */

static void peer_name(struct conn *c) {
  struct sockaddr_storage ss;
  int len = sizeof(ss);
  char ip[INET6_ADDRSTRLEN] = "?";
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0) return;
  if (ss.ss_family == AF_INET6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
    snprintf(c->peer_addr, sizeof(c->peer_addr), "[%s]:%u", ip,
             ntohs(a->sin6_port));
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
    snprintf(c->peer_addr, sizeof(c->peer_addr), "%s:%u", ip,
             ntohs(a->sin_port));
  }
}

static int reject_reason(struct ed_loop *l) {
  uint32_t max = l->cfg->max_connections;
  if (l->draining || l->stopping) return ED_REJECT_DRAINING;
  if (max && atomic_load(&l->sh->num_conns) >= (int64_t)max)
    return ED_REJECT_MAX_CONNECTIONS;
  if (ed_hs_pool_full(l->sh->pool)) return ED_REJECT_PENDING_HANDSHAKES;
  return -1;
}

void ed_conn_accept(struct ed_loop *l, int fd) {
  struct conn *c = ed_calloc(1, sizeof(*c));
  c->loop = l;
  uv_tcp_init(&l->uv, &c->tcp);
  c->tcp.data = c;
  if (uv_tcp_open(&c->tcp, fd) != 0) {
    close(fd); /* not the handle's */
    c->rejected = 1;
    ed_conn_abort(c);
    return;
  }
  ed_stat_add(&l->stats.accepted, 1);
  int why = reject_reason(l);
  if (why >= 0) {
    ed_stat_add(&l->stats.rejected[why], 1);
    c->rejected = 1;
    c->state = ED_SESSION_CLOSING;
    ed_conn_abort(c);
    return;
  }
  c->counted = 1;
  atomic_fetch_add(&l->sh->num_conns, 1);
  atomic_fetch_add(&l->nconns, 1);
  c->id = atomic_fetch_add(&l->sh->next_id, 1);
  c->start_wall_ns = ed_wall_ns();
  c->start_mono_ns = ed_now_ns();
  c->snap = l->sh->snapshot_get(l->sh->snapshot_arg);
  c->suite = ED_SUITE_OTHER;
  c->proxy_wait = l->cfg->proxy_protocol ? 1 : 0;
  ed_buf_init(&c->rx, ED_HS_MAX_INPUT);
  ed_buf_init(&c->hs_in, ED_HS_MAX_INPUT);
  ed_buf_init(&c->hs_out, ED_HS_MAX_INPUT);
  peer_name(c);
  c->state = ED_SESSION_ACCEPTED;
  pthread_mutex_lock(&l->reg_mu);
  link_tail(&l->conns, &c->reg);
  pthread_mutex_unlock(&l->reg_mu);
  ed_gauge_add(&l->stats.active_handshaking, 1);
  c->deadline_ms = uv_now(&l->uv) + l->cfg->handshake_timeout_ms;
  link_tail(&l->hs_q, &c->tq);
  if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
    ed_conn_close(c, CR_ERROR, HOW_ABORT);
}

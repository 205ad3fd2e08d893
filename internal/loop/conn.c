/* internal/loop — one connection on its loop: its states, the one function
 * that changes them (ed_conn_set_state), the one that decides its I/O
 * (ed_conn_io), the close rule (close_plan), the echo, and accepting.
 * The handshake is in conn_hs.c, the pool's side of it in conn_step.c;
 * the states are listed in loop_internal.h (ED_CONN_STATES).
 *
 * Event handlers (libuv callbacks, the loop's commands) change state and
 * queue bytes; then they call ed_conn_io, which alone starts and stops
 * reading, starts queued writes, sends the FIN and closes the handle. The
 * one exception is the echo's own write (ed_conn_send): straight to the
 * socket when nothing is queued, no copy and no allocation. Memory is
 * freed only once the uv close callback ran and no pool step holds the
 * connection (|refs|). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal/loop/loop_internal.h"
#include "internal/net/addr.h"

#define ED_NAME_(id, name) name,
static const char *const reason_names[] = {ED_CLOSE_REASONS(ED_NAME_)};
#undef ED_NAME_

const char *ed_close_reason_name(enum close_reason r) {
  if ((unsigned)r < CR_REVOKE_FIRST) return reason_names[r];
  if ((unsigned)r < CR_COUNT) return ed_revoke_reason_name(r - CR_REVOKE_FIRST);
  return "unknown";
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);

static uint32_t max_buffer(const struct ed_conn *c) {
  return c->loop->cfg->max_buffer ? c->loop->cfg->max_buffer : 65536;
}

/* ---- states ------------------------------------------------------------- */

enum gauge { G_NONE = 0, G_HANDSHAKING, G_ESTABLISHED };

#define ED_PUB_(id, pub, gauge) ED_SESSION_##pub,
static const enum ed_session_state public_state[] = {ED_CONN_STATES(ED_PUB_)};
#undef ED_PUB_
#define ED_GAUGE_(id, pub, gauge) G_##gauge,
static const enum gauge gauge_of[] = {ED_CONN_STATES(ED_GAUGE_)};
#undef ED_GAUGE_

static void gauge_add(struct ed_loop *l, enum gauge g, int64_t n) {
  if (g == G_HANDSHAKING) ed_gauge_add(&l->stats.active_handshaking, n);
  if (g == G_ESTABLISHED) ed_gauge_add(&l->stats.active_established, n);
}

static int is_closing(enum ed_conn_state st) {
  return st >= ED_CONN_FLUSHING;
}

static int in_handshake(enum ed_conn_state st) {
  return gauge_of[st] == G_HANDSHAKING;
}

/* owed_echo: |c| flushes because its client finished sending (its
 * close_notify or FIN): what is still queued is the echo it is owed, and
 * the client may simply not be reading yet, as an established one may
 * not: it gets the same patience (the idle timeout), not the linger. */
static int owed_echo(const struct ed_conn *c) {
  return (c->close_reason == CR_CLIENT_CLOSE || c->close_reason == CR_EOF) &&
         c->loop->cfg->idle_timeout_ms;
}

/* set_timer puts |c| on the timeout queue its new state is bounded by: the
 * handshake timeout from admission, the idle timeout once established
 * (refreshed by each read), the linger once closing starts (the idle
 * timeout to flush the echo a closing client is owed, then the linger). */
static void set_timer(struct ed_conn *c, enum ed_conn_state from,
                      enum ed_conn_state to) {
  struct ed_loop *l = c->loop;
  uint64_t now = uv_now(&l->uv);
  if (to == ED_CONN_CLOSED) {
    link_remove(&c->tq);
  } else if (from == ED_CONN_NEW) {
    c->deadline_ms = now + l->cfg->handshake_timeout_ms;
    link_tail(&l->hs_q, &c->tq);
  } else if (to == ED_CONN_ESTABLISHED) {
    link_remove(&c->tq);
    if (l->cfg->idle_timeout_ms) {
      c->deadline_ms = now + l->cfg->idle_timeout_ms;
      link_tail(&l->idle_q, &c->tq);
    }
  } else if (to == ED_CONN_FLUSHING && from == ED_CONN_ESTABLISHED &&
             owed_echo(c)) {
    c->deadline_ms = now + l->cfg->idle_timeout_ms;
    link_tail(&l->idle_q, &c->tq);
  } else if (to == ED_CONN_FLUSHING || (to == ED_CONN_LINGER && owed_echo(c))) {
    c->deadline_ms = now + ED_LINGER_MS;
    link_tail(&l->closing_q, &c->tq);
  }
}

void ed_conn_idle_timeout(struct ed_conn *c) {
  ed_conn_close(c, CR_IDLE, is_closing(c->st) ? HOW_ABORT : HOW_NOTIFY);
}

/* ed_conn_set_state is the one place a connection's state changes: with
 * it the gauges, the public state (with the peer's identity once
 * established, under the registry lock, so readers see both or neither),
 * the timeout queue, and a handshake's outcome when it ends in a close. */
void ed_conn_set_state(struct ed_conn *c, enum ed_conn_state to) {
  struct ed_loop *l = c->loop;
  enum ed_conn_state from = c->st;
  if (from == to) return;
  c->st = to;
  if (gauge_of[from] != gauge_of[to]) {
    gauge_add(l, gauge_of[from], -1);
    gauge_add(l, gauge_of[to], 1);
  }
  if (public_state[to] != c->state) {
    pthread_mutex_lock(&l->reg_mu);
    if (to == ED_CONN_ESTABLISHED) c->peer = ed_tls_conn_peer(c->tls);
    c->state = public_state[to];
    pthread_mutex_unlock(&l->reg_mu);
  }
  set_timer(c, from, to);
  if (from == ED_CONN_HS_POOL && to != ED_CONN_HS_READ) {
    atomic_store_explicit(&c->step.gone, STEP_CLOSED, memory_order_relaxed);
    ed_conn_pool_event(c);
  }
  if (c->hs_slot && (to == ED_CONN_ESTABLISHED || is_closing(to))) {
    c->hs_slot = 0; /* out of the handshake phase: its slot is free */
    atomic_fetch_sub(&l->sh->num_handshaking, 1);
  }
  if (in_handshake(from) && is_closing(to)) ed_conn_hs_outcome(c, from);
}

/* ed_conn_pool_event: something the loop must act on happened to |c|
 * while its step is in the pool (bytes or the peer's end read, a close):
 * the step, quiet or not, must wake the loop when it is done (conn_step.c
 * ed_conn_step_complete; ed_conn_step_done uncounts it). */
void ed_conn_pool_event(struct ed_conn *c) {
  if (c->pool_event) return;
  c->pool_event = 1;
  atomic_fetch_add(&c->loop->step_waiters, 1);
}

/* ---- freeing ------------------------------------------------------------ */

static int admitted(const struct ed_conn *c) {
  return c->id != 0;
}

static void conn_free(struct ed_conn *c) {
  struct ed_loop *l = c->loop;
  while (c->wq_head) {
    struct wchunk *w = c->wq_head;
    c->wq_head = w->next;
    free(w);
  }
  ed_buf_cleanup(&c->rx);
  ed_buf_cleanup(&c->step.in);
  ed_buf_cleanup(&c->step.out);
  ed_tls_conn_free(c->tls);
  free(c->via);
  pthread_mutex_destroy(&c->lend_mu);
  int counted = admitted(c);
  free(c);
  if (counted) ed_loop_conn_freed(l);
}

void ed_conn_unref(struct ed_conn *c) {
  if (--c->refs == 0) conn_free(c);
}

const char *ed_conn_log_peer(const struct ed_conn *c, char *buf, size_t len) {
  char peer[80], via[80];
  ed_logq(peer, sizeof(peer), c->peer_addr);
  if (!c->via) {
    snprintf(buf, len, "%s", peer);
  } else {
    snprintf(buf, len, "%s via=%s", peer, ed_logq(via, sizeof(via), c->via));
  }
  return buf;
}

/* log_identity formats the identity fields of a log line, escaped whole
 * (nothing cut, whatever their length): cn= is the CN, sans= the SANs as
 * ed_tls_peer_sans_text writes them (a ',' always separates entries),
 * both through ed_logq. Returns a new string (free()). */
static char *log_identity(const struct ed_tls_peer *p) {
  const char *cn = p ? ed_tls_peer_cn(p, NULL) : NULL;
  char *sans = p ? ed_tls_peer_sans_text(p) : NULL;
  /* ed_logq needs at most 4 bytes per byte (\xNN), quotes and a NUL. */
  size_t qcn_len = 4 * (cn ? strlen(cn) : 0) + 8;
  size_t qsans_len = 4 * (sans ? strlen(sans) : 0) + 8;
  char *qcn = ed_malloc(qcn_len), *qsans = ed_malloc(qsans_len);
  size_t cap = qcn_len + qsans_len + 16;
  char *out = ed_malloc(cap);
  snprintf(out, cap, "cn=%s sans=%s", ed_logq(qcn, qcn_len, cn),
           ed_logq(qsans, qsans_len, sans));
  free(qcn);
  free(qsans);
  free(sans);
  return out;
}

/* log_closed writes the one line of every session that reached
 * ESTABLISHED, when its socket is closed (logfmt, internal/base):
 *   level=info msg="session closed" id=7 peer=127.0.0.1:50312 cn=dev-client
 *       sans=DNS:x,URI:y serial=0A1B... version=TLSv1.3
 *       cipher=TLS_AES_128_GCM_SHA256 resumed=0 bytes_in=5 bytes_out=5
 *       duration_ms=12.345 reason=client_close
 * cn= and sans= are log_identity's (each value whole, escaped). peer= is
 * followed by via=BALANCER when the address came from a PROXY
 * header. reason: client_close (the client sent close_notify), eof (TCP
 * FIN without close_notify), reset, idle_timeout, killed, drain, error
 * (ED_CLOSE_REASONS); and when the re-check after a reload closed it
 * (recheck.c, with close_notify), the reason its identity no longer
 * passes, one per verdict of ed_tls_peer_recheck (ED_REVOKE_REASONS,
 * loop_types.h): revoked (cert_revoked: the certificate or a CA of its
 * chain is on a CRL), acl_denied (off the allow-list), unknown_ca (its CA
 * left the bundle, was re-issued, or has no CRL), cert_expired,
 * cert_not_yet_valid, crl_expired (--crl-expired refuse), chain_too_long
 * (--max-chain-depth), recheck_failed (the re-check could not decide),
 * each followed by the re-check's detail=. reason=error is
 * followed by detail= when the TLS engine ended the session: what the
 * client did (DECRYPTION_FAILED_OR_BAD_RECORD_MAC: a record that does
 * not verify; TOO_MANY_KEY_UPDATES, NO_RENEGOTIATION, its own alert...).
 * A connection that never reached ESTABLISHED gets a "handshake failed"
 * line instead (conn_hs.c), never both. */
static void log_closed(struct ed_conn *c) {
  char peer[170], d[200] = "";
  const struct ed_tls_peer *p = c->peer;
  char *ident = log_identity(p);
  double ms = (double)(ed_now_ns() - c->start_mono_ns) / 1e6;
  if ((c->close_reason == CR_ERROR || c->close_reason >= CR_REVOKE_FIRST) &&
      c->fail_detail) {
    char q[190];
    snprintf(d, sizeof(d), " detail=%s", ed_logq(q, sizeof(q), c->fail_detail));
  }
  ED_INFO("session closed",
          "id=%llu peer=%s %s serial=%s version=%s cipher=%s "
          "resumed=%d bytes_in=%llu bytes_out=%llu duration_ms=%.3f "
          "reason=%s%s",
          (unsigned long long)c->id, ed_conn_log_peer(c, peer, sizeof(peer)),
          ident, p ? ed_tls_peer_serial(p) : "",
          c->tls ? ed_tls_conn_version(c->tls) : "", ed_suite_name(c->suite),
          c->resumed, (unsigned long long)atomic_load(&c->bytes_in),
          (unsigned long long)atomic_load(&c->bytes_out), ms,
          ed_close_reason_name(c->close_reason), d);
  free(ident);
}

static void on_close(uv_handle_t *h) {
  struct ed_conn *c = h->data;
  struct ed_loop *l = c->loop;
  if (admitted(c)) {
    pthread_mutex_lock(&l->reg_mu);
    link_remove(&c->reg);
    pthread_mutex_unlock(&l->reg_mu);
    ed_stat_add(&l->stats.closed, 1);
    ed_hist_observe(&l->stats.conn_duration, ed_now_ns() - c->start_mono_ns);
    if (c->peer) log_closed(c);
  }
  link_remove(&c->tq);
  ed_conn_unref(c); /* the handle's reference */
}

/* ---- output -------------------------------------------------------------- */

/* ed_conn_send writes |len| bytes of ciphertext: straight to the socket
 * when nothing is queued (the common case: no copy, no allocation), the
 * rest into the write queue, which ed_conn_io writes. */
void ed_conn_send(struct ed_conn *c, const uint8_t *data, size_t len) {
  if (!len || c->st == ED_CONN_CLOSED) return;
  if (!c->wq_head && !c->inflight) {
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    int w = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (w >= 0 && (size_t)w == len) return;
    if (w < 0 && w != UV_EAGAIN && w != UV_ENOSYS) {
      ed_conn_close_state(c, CR_RESET, HOW_ABORT);
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
}

/* unread_input: bytes wait in |fd|'s receive queue (not its FIN).
 * close(2) on such a socket makes the kernel send a reset, which drops
 * whatever of ours is still on its way. */
static int unread_input(uv_os_fd_t fd) {
  char b;
  ssize_t n;
  do {
    n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  return n > 0;
}

/* send_last sends the loop's scratch as a connection's last bytes: the
 * peer sent close_notify, so it should send nothing more and there is
 * nothing to linger for. MSG_MORE holds the bytes back and the close(2)
 * that follows at once puts the FIN in the same segment: one segment
 * fewer, no shutdown, no wait for the peer's FIN. Only with nothing
 * queued (order), and only when the peer did stop: bytes it sent after
 * its close_notify, still unread, would turn that close(2) into a reset
 * that loses the echo and our close_notify (the linger reads and drops
 * them). Returns 0 to fall back to the flush-and-linger path (the
 * scratch, less what went out, still to send), 1 when everything went
 * (or the socket failed): close now. */
static int send_last(struct ed_conn *c) {
  struct ed_buf *b = &c->loop->scratch;
  uv_os_fd_t fd;
  if (c->wq_head || c->inflight || !b->len ||
      uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0 || unread_input(fd)) {
    return 0;
  }
  ssize_t n;
  do {
    n = send(fd, b->data, b->len, MSG_MORE | MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
    c->peer_end = PEER_RESET;
    return 1;
  }
  if (n == (ssize_t)b->len) return 1; /* close(2): the FIN joins them */
  if (n > 0) ed_buf_consume(b, (size_t)n);
  return 0;
}

/* ---- closing ------------------------------------------------------------- */

/* close_plan is the whole rule for what a close asked to do |how| means
 * in state |st| (see enum close_how). */
static enum close_how close_plan(enum ed_conn_state st, enum close_how how) {
  switch (st) {
    case ED_CONN_NEW:
    case ED_CONN_PROXY:
    case ED_CONN_HELLO:
    case ED_CONN_HS_READ: /* no TLS session: nothing to notify */
      return how == HOW_ABORT ? HOW_ABORT : HOW_FLUSH;
    case ED_CONN_HS_POOL: /* the pool owns the TLS state */
      return HOW_ABORT;
    case ED_CONN_ESTABLISHED:
      return how;
    case ED_CONN_FLUSHING:
    case ED_CONN_LINGER: /* already closing: only an abort cuts it short */
      return how == HOW_ABORT ? HOW_ABORT : HOW_NOTHING;
    default:
      return HOW_NOTHING;
  }
}

/* ed_conn_close_state does what close_plan says, as far as state and
 * queued bytes go; the caller then calls ed_conn_io (or returns to a
 * handler that does). The first close's reason is the one logged. */
void ed_conn_close_state(struct ed_conn *c, enum close_reason why,
                         enum close_how how) {
  struct ed_loop *l = c->loop;
  enum close_how plan = close_plan(c->st, how);
  if (plan == HOW_NOTHING) return;
  if (!is_closing(c->st)) c->close_reason = (uint8_t)why;
  if (plan == HOW_ABORT) {
    ed_conn_set_state(c, ED_CONN_CLOSED);
    return;
  }
  ed_conn_set_state(c, ED_CONN_FLUSHING);
  if (plan == HOW_FLUSH) return;
  if (plan == HOW_NOTIFY) ed_buf_reset(&l->scratch); /* LAST: keep the echo */
  struct ed_tls_io io = {NULL, 0, 0, &l->scratch};
  int notified = ed_tls_conn_shutdown(c->tls, &io) == 0;
  if (plan == HOW_LAST && notified && send_last(c)) {
    ed_conn_set_state(c, ED_CONN_CLOSED);
    return;
  }
  if (notified || plan == HOW_LAST)
    ed_conn_send(c, l->scratch.data, l->scratch.len);
}

void ed_conn_close(struct ed_conn *c, enum close_reason why,
                   enum close_how how) {
  ed_conn_close_state(c, why, how);
  ed_conn_io(c);
}

void ed_conn_abort(struct ed_conn *c) {
  ed_conn_close(c, CR_ERROR, HOW_ABORT);
}

/* ---- the I/O driver ------------------------------------------------------ */

static void on_write(uv_write_t *req, int status) {
  struct ed_conn *c = req->data;
  for (unsigned i = 0; i < c->inflight && c->wq_head; i++) {
    struct wchunk *w = c->wq_head;
    c->wq_head = w->next;
    c->wq_bytes -= w->len;
    free(w);
  }
  if (!c->wq_head) c->wq_tail = NULL;
  c->inflight = 0;
  if (c->st == ED_CONN_CLOSED) return; /* cancelled by uv_close */
  if (status < 0) ed_conn_close_state(c, CR_RESET, HOW_ABORT);
  ed_conn_io(c);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  struct ed_conn *c = req->data;
  if (c->st == ED_CONN_CLOSED) return; /* cancelled by uv_close */
  /* FIN sent: with the peer's already in (or a failure), nothing is left
   * to wait for; else linger until it comes (on_read) or the timeout. */
  if (status < 0 || c->peer_end != PEER_OPEN) {
    ed_conn_close_state(c, CR_ERROR, HOW_ABORT);
    ed_conn_io(c);
  }
}

/* start_write writes up to 4 queued chunks (libuv copies more than 4
 * buffers into a malloc'd array). Returns uv_write's result. */
static int start_write(struct ed_conn *c) {
  uv_buf_t bufs[4];
  unsigned n = 0;
  for (struct wchunk *w = c->wq_head; w && n < 4; w = w->next, n++)
    bufs[n] = uv_buf_init((char *)w->data, (unsigned)w->len);
  c->wreq.data = c;
  int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, bufs, n, on_write);
  if (rc == 0) c->inflight = n;
  return rc;
}

/* wants_read derives whether |c| reads now from its state and buffers:
 * not after the peer's FIN or RST; while a step is in the pool, until
 * ED_HS_READ_PAUSE bytes wait; established, until max-buffer bytes are
 * queued, and again once half of them drained (backpressure, with the
 * hysteresis |reading| gives); while closing, to see the peer's FIN. */
static int wants_read(const struct ed_conn *c) {
  if (c->peer_end != PEER_OPEN) return 0;
  switch (c->st) {
    case ED_CONN_HS_POOL:
      return c->rx.len < ED_HS_READ_PAUSE;
    case ED_CONN_ESTABLISHED:
      return !c->yielded &&
             c->wq_bytes < (c->reading ? max_buffer(c) : max_buffer(c) / 2);
    case ED_CONN_NEW:
    case ED_CONN_CLOSED:
      return 0;
    default:
      return 1;
  }
}

static int set_reading(struct ed_conn *c, int on) {
  if (c->reading == on) return 0;
  uv_stream_t *s = (uv_stream_t *)&c->tcp;
  int rc = on ? uv_read_start(s, on_alloc, on_read) : uv_read_stop(s);
  if (rc == 0) c->reading = (uint8_t)on;
  return rc;
}

/* take_back_fd: the socket lent to the step in the pool (conn_step.c
 * step_send) is about to be closed. Once this returns the pool will not
 * send on it: a send under way finishes first (the lock), a later one
 * finds step.fd -1. Without it the descriptor's number, reused by the
 * next accept, could get this handshake's flight. */
static void take_back_fd(struct ed_conn *c) {
  pthread_mutex_lock(&c->lend_mu);
  c->step.fd = -1;
  pthread_mutex_unlock(&c->lend_mu);
  c->pool_fd = 0;
}

/* ed_conn_io is the one function that decides a connection's I/O: from
 * its state and buffers it starts queued writes, sends the FIN once a
 * closing connection's queue is empty (FLUSHING -> LINGER), starts or
 * stops reading, and closes the handle once CLOSED. Every event handler
 * ends with it. */
void ed_conn_io(struct ed_conn *c) {
  if (c->st != ED_CONN_CLOSED && c->wq_head && !c->inflight &&
      start_write(c) != 0) {
    ed_conn_close_state(c, CR_RESET, HOW_ABORT);
  }
  if (c->st == ED_CONN_FLUSHING && !c->wq_head && !c->inflight) {
    c->sreq.data = c;
    int rc = uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, on_shutdown);
    ed_conn_set_state(c, rc == 0 ? ED_CONN_LINGER : ED_CONN_CLOSED);
  }
  if (c->st != ED_CONN_CLOSED && set_reading(c, wants_read(c)) != 0)
    ed_conn_close_state(c, CR_ERROR, HOW_ABORT);
  if (c->st == ED_CONN_CLOSED && !uv_is_closing((uv_handle_t *)&c->tcp)) {
    if (c->pool_fd) take_back_fd(c);
    uv_close((uv_handle_t *)&c->tcp, on_close);
  }
}

/* io_settled: the echo's common case, where ed_conn_io's rules change
 * nothing (an established session reading, with nothing queued); checked
 * inline on the echo path, which then skips the call. */
static inline int io_settled(const struct ed_conn *c) {
  return c->st == ED_CONN_ESTABLISHED && !c->wq_head && c->reading &&
         c->peer_end == PEER_OPEN && !c->yielded;
}

/* ---- echo ---------------------------------------------------------------- */

/* batch_done: the read that returned |got| of |room| plaintext bytes was
 * the batch's last. BoringSSL reads a record's header and body from the
 * transport exactly, never ahead, and a read returns one record's
 * plaintext (what is left of it when |room| was short): with all of io->in
 * taken and the record returned whole, another SSL_read could only say
 * "want read", at the cost of a call that clears the error queue and
 * finds nothing (one of the two SSL_reads per 64-byte echo message). The
 * record's buffer is already freed: SSL_read lets it go once its
 * plaintext is all returned. */
static int batch_done(const struct ed_tls_io *io, size_t got, size_t room) {
  return io->in_used == io->in_len && got < room;
}

/* ed_conn_echo decrypts a whole read batch, encrypts it once into the
 * loop's scratch and sends it in one write. */
void ed_conn_echo(struct ed_conn *c, const uint8_t *data, size_t len) {
  struct ed_loop *l = c->loop;
  struct ed_tls_io io = {data, len, 0, &l->scratch};
  size_t plain = 0, total = 0;
  const char *why = NULL;
  int rc;
  ed_buf_reset(&l->scratch);
  for (;;) {
    size_t got = 0, room = ED_LOOP_PBUF - plain;
    rc = ed_tls_conn_read(c->tls, &io, &got, l->pbuf + plain, room);
    plain += got;
    /* Now: the write below, refused after the alert, would replace it. */
    if (rc == ED_E_TLS) (void)ed_tls_conn_failure(c->tls, &why);
    if (rc == 0 && batch_done(&io, got, room)) rc = ED_E_AGAIN;
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
    ed_conn_close_state(c, CR_CLIENT_CLOSE, HOW_LAST); /* sends the scratch */
    return;
  }
  ed_conn_send(c, l->scratch.data, l->scratch.len);
  if (rc != ED_E_AGAIN) {
    /* Clears the error queue; the why goes into the closed line. */
    (void)ed_tls_conn_failure(c->tls, why ? NULL : &why);
    c->fail_detail = why;
    ed_conn_close_state(c, CR_ERROR, HOW_FLUSH); /* after the alert */
  }
}

/* ---- reading ------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  struct ed_conn *c = h->data;
  size_t room = ED_LOOP_RBUF;
  (void)suggested;
  if (c->st == ED_CONN_ESTABLISHED) {
    size_t max = max_buffer(c);
    room = c->wq_bytes < max ? max - c->wq_bytes : 1;
    if (room > ED_LOOP_RBUF) room = ED_LOOP_RBUF;
  } else if (c->st == ED_CONN_HS_POOL) {
    /* Whatever arrives while a step is in the pool waits in |rx|, up to
     * ED_HS_READ_PAUSE bytes; then reading pauses (wants_read). */
    size_t space =
        c->rx.len < ED_HS_READ_PAUSE ? ED_HS_READ_PAUSE - c->rx.len : 1;
    if (room > space) room = space;
  }
  *buf = uv_buf_init((char *)c->loop->rbuf, (unsigned)room);
}

/* on_peer_end: the peer's FIN or RST (|err|). */
static void on_peer_end(struct ed_conn *c, ssize_t err) {
  int reset = err != UV_EOF;
  c->peer_end = reset ? PEER_RESET : PEER_FIN;
  switch (c->st) {
    case ED_CONN_HS_POOL:
      /* The client may have sent its last flight (and data), then FIN or
       * even RST: the step finishes on what arrived (conn_hs.c decides),
       * but makes no server signature for it (ed_tls_conn_watch_peer). */
      atomic_store_explicit(&c->step.gone, STEP_PEER_GONE,
                            memory_order_relaxed);
      break;
    case ED_CONN_ESTABLISHED:
      ed_conn_close_state(c, reset ? CR_RESET : CR_EOF,
                          reset ? HOW_ABORT : HOW_NOTIFY);
      break;
    default:
      /* Closing: the FIN we lingered for. Handshaking and not in the
       * pool: nothing left unprocessed, the handshake was cut short (its
       * outcome line says protocol, or other with no byte). */
      ed_conn_close_state(c, reset ? CR_RESET : CR_EOF, HOW_ABORT);
  }
}

/* burst counts what an established session read in this loop iteration;
 * at ED_READ_BURST it yields: no more reading until the next poll. */
static void burst(struct ed_conn *c, size_t n) {
  struct ed_loop *l = c->loop;
  if (c->burst_iter != (uint32_t)l->iterations) {
    c->burst_iter = (uint32_t)l->iterations;
    c->burst_bytes = 0;
  }
  c->burst_bytes += (uint32_t)n;
  if (c->burst_bytes < ED_READ_BURST || c->yielded) return;
  c->yielded = 1;
  c->refs++; /* the list's, until ed_conn_resume_yielded */
  c->yield_next = l->yielded;
  l->yielded = c;
}

void ed_conn_resume_yielded(struct ed_loop *l) {
  struct ed_conn *c = l->yielded;
  l->yielded = NULL;
  while (c) {
    struct ed_conn *next = c->yield_next;
    c->yielded = 0;
    c->yield_next = NULL;
    if (c->st != ED_CONN_CLOSED) ed_conn_io(c);
    ed_conn_unref(c);
    c = next;
  }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  struct ed_conn *c = s->data;
  struct ed_loop *l = c->loop;
  const uint8_t *data = (const uint8_t *)buf->base;
  ed_loop_awake(l);
  if (c->st == ED_CONN_HS_POOL && nread != 0) ed_conn_pool_event(c);
  if (nread < 0) {
    on_peer_end(c, nread);
  } else if (nread > 0 && c->st == ED_CONN_ESTABLISHED) {
    uint64_t now = uv_now(&l->uv);
    ed_sched_spoke(&l->sched, c->est_ms, now);
    if (l->cfg->idle_timeout_ms) {
      c->deadline_ms = now + l->cfg->idle_timeout_ms;
      link_tail(&l->idle_q, &c->tq);
    }
    burst(c, (size_t)nread);
    ed_conn_echo(c, data, (size_t)nread);
  } else if (nread > 0 && in_handshake(c->st)) {
    ed_conn_hs_feed(c, data, (size_t)nread);
  } /* else closing: dropped */
  if (!io_settled(c)) ed_conn_io(c);
}

/* ---- accepting ----------------------------------------------------------- */

static void peer_name(struct ed_conn *c) {
  struct sockaddr_storage ss;
  int len = sizeof(ss);
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0) return;
  (void)ed_net_format_addr(c->peer_addr, sizeof(c->peer_addr),
                           (const struct sockaddr *)&ss);
}

/* ed_conn_log_refused writes, for connections refused at once (never
 * admitted, no handshake; counted in rejected{reason}):
 *   level=warn msg="connection refused" reason=max_connections
 *       peer=127.0.0.1:50312 unlogged=12
 * at most once a second per reason across every loop; unlogged= counts
 * the refusals for that reason since the previous such line that got no
 * line of their own. Reasons: max_connections, pending_handshakes,
 * draining, max_handshaking (ED_REJECT_REASONS). */
/* refused_turn says whether this refusal gets its line: returns the
 * refusals for |why| that got none since the last line (unlogged=), or -1
 * when this one is only counted. */
static int64_t refused_turn(struct ed_loop_shared *sh,
                            enum ed_reject_reason why) {
  uint64_t now = ed_now_ns() / 1000000;
  uint64_t last = atomic_load(&sh->refused_log_ms[why]);
  if ((last && now - last < 1000) ||
      !atomic_compare_exchange_strong(&sh->refused_log_ms[why], &last, now)) {
    atomic_fetch_add(&sh->refused_unlogged[why], 1);
    return -1;
  }
  return (int64_t)atomic_exchange(&sh->refused_unlogged[why], 0);
}

static void log_refused_line(enum ed_reject_reason why, const char *peer,
                             int64_t unlogged) {
  ED_WARN("connection refused", "reason=%s peer=%s unlogged=%lld",
          ed_reject_reason_name(why), peer, (long long)unlogged);
}

void ed_conn_log_refused(struct ed_conn *c, enum ed_reject_reason why) {
  int64_t unlogged = refused_turn(c->loop->sh, why);
  if (unlogged < 0) return;
  char peer[170];
  if (!c->peer_addr[0]) peer_name(c);
  log_refused_line(why, ed_conn_log_peer(c, peer, sizeof(peer)), unlogged);
}

/* ed_conn_reserve is admission's first half, on the loop that accepted:
 * a slot under --max-connections, then one under --max-handshaking (every
 * new connection starts in the handshake phase). Each is taken with one
 * atomic add and given back if that passed the limit, so the counts never
 * exceed the limits, whatever the loops do at once; two loops racing for
 * the last slot may both be refused, never both admitted. The descriptor
 * budget depends on it: every descriptor a connection holds is counted
 * from its accept (server.c sizes max_conns). */
int ed_conn_reserve(struct ed_loop *l) {
  struct ed_loop_shared *sh = l->sh;
  if (l->draining || l->stopping) return ED_REJECT_DRAINING;
  int64_t conns = atomic_fetch_add(&sh->num_conns, 1);
  if (sh->max_conns && conns >= (int64_t)sh->max_conns) {
    atomic_fetch_sub(&sh->num_conns, 1);
    return ED_REJECT_MAX_CONNECTIONS;
  }
  int64_t hs = atomic_fetch_add(&sh->num_handshaking, 1);
  if (sh->max_handshaking && hs >= (int64_t)sh->max_handshaking) {
    ed_conn_unreserve(sh);
    return ED_REJECT_MAX_HANDSHAKING;
  }
  return -1;
}

void ed_conn_unreserve(struct ed_loop_shared *sh) {
  atomic_fetch_sub(&sh->num_handshaking, 1);
  atomic_fetch_sub(&sh->num_conns, 1);
}

/* first_read reads what a TCP_DEFER_ACCEPT listener's connection already
 * holds (its ClientHello, or PROXY header) right at accept, as on_read
 * would on the next loop iteration: the first handshake step goes to the
 * pool at once, one wake-up and one epoll_wait earlier. Whatever happens
 * (nothing there yet after the defer timeout, EOF, an error) ends in
 * ed_conn_io, as on_read does. */
static void first_read(struct ed_conn *c) {
  uv_os_fd_t fd;
  uv_buf_t buf;
  uv_stream_t *s = (uv_stream_t *)&c->tcp;
  if (uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0) {
    ed_conn_io(c);
    return;
  }
  on_alloc((uv_handle_t *)&c->tcp, ED_LOOP_RBUF, &buf);
  ssize_t n;
  do { /* libc's, like libuv's own reads */
    n = read(fd, buf.base, buf.len);
  } while (n < 0 && errno == EINTR);
  if (n > 0) {
    on_read(s, n, &buf);
  } else if (n == 0) {
    on_read(s, UV_EOF, &buf);
  } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
    on_read(s, uv_translate_sys_error(errno), &buf);
  } else {
    ed_conn_io(c);
  }
}

/* conn_new makes the connection object of a->fd on |l| (not admitted
 * yet: id 0), with the peer's address accept4 returned. Returns NULL when
 * libuv refuses the descriptor (closed). */
static struct ed_conn *conn_new(struct ed_loop *l,
                                const struct ed_accepted *a) {
  int fd = a->fd;
  struct ed_conn *c = ed_calloc(1, sizeof(*c));
  c->loop = l;
  c->refs = 1; /* the handle's */
  pthread_mutex_init(&c->lend_mu, NULL);
  c->st = ED_CONN_NEW;
  c->state = public_state[ED_CONN_NEW];
  if (a->peer.sa.sa_family != AF_UNSPEC)
    (void)ed_net_format_addr(c->peer_addr, sizeof(c->peer_addr), &a->peer.sa);
  uv_tcp_init(&l->uv, &c->tcp);
  c->tcp.data = c;
  if (uv_tcp_open(&c->tcp, fd) != 0) {
    close(fd); /* not the handle's */
    ed_conn_close(c, CR_REJECTED, HOW_ABORT);
    return NULL;
  }
  ed_stat_add(&l->stats.accepted, 1);
  return c;
}

/* refuse counts, logs and closes |c|, refused before admission. */
static void refuse(struct ed_conn *c, enum ed_reject_reason why) {
  ed_stat_add(&c->loop->stats.rejected[why], 1);
  ed_conn_log_refused(c, why);
  ed_conn_close(c, CR_REJECTED, HOW_ABORT);
}

/* ed_conn_refuse is what a flood of new connections costs past a limit:
 * no connection object, no libuv handle; the peer's address is looked up
 * only for the one refusal a second that gets a line. */
void ed_conn_refuse(struct ed_loop *l, int fd, enum ed_reject_reason why) {
  ed_stat_add(&l->stats.accepted, 1);
  ed_stat_add(&l->stats.rejected[why], 1);
  int64_t unlogged = refused_turn(l->sh, why);
  if (unlogged >= 0) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char addr[64] = "", peer[80];
    if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0)
      (void)ed_net_format_addr(addr, sizeof(addr),
                               (const struct sockaddr *)&ss);
    log_refused_line(why, ed_logq(peer, sizeof(peer), addr), unlogged);
  }
  close(fd);
}

/* reject_reason: admission's second half, on the connection's own loop
 * (its slot is reserved): not while draining, nor when the pool's queue
 * is full. */
static int reject_reason(struct ed_loop *l) {
  if (l->draining || l->stopping) return ED_REJECT_DRAINING;
  if (ed_loop_pool(l)->full(l->sh->pool)) return ED_REJECT_PENDING_HANDSHAKES;
  return -1;
}

/* admit makes |c| a session: counted, numbered, registered; it takes the
 * slots ed_conn_reserve reserved. */
static void admit(struct ed_loop *l, struct ed_conn *c) {
  atomic_fetch_add(&l->nconns, 1);
  c->hs_slot = 1;
  c->id = atomic_fetch_add(&l->sh->next_id, 1);
  c->start_wall_ns = ed_wall_ns();
  c->start_mono_ns = ed_now_ns();
  c->suite = ED_SUITE_OTHER;
  ed_buf_init(&c->rx, ED_HS_MAX_INPUT);
  ed_buf_init(&c->step.in, ED_HS_MAX_INPUT);
  ed_buf_init(&c->step.out, ED_HS_MAX_OUTPUT);
  if (!c->peer_addr[0]) peer_name(c);
  pthread_mutex_lock(&l->reg_mu);
  link_tail(&l->conns, &c->reg);
  pthread_mutex_unlock(&l->reg_mu);
}

void ed_conn_accept(struct ed_loop *l, const struct ed_accepted *a) {
  struct ed_conn *c = conn_new(l, a);
  int why = c ? reject_reason(l) : -1;
  if (!c || why >= 0) ed_conn_unreserve(l->sh);
  if (!c) return;
  if (why >= 0) {
    refuse(c, (enum ed_reject_reason)why);
    return;
  }
  admit(l, c);
  ed_conn_set_state(c, l->cfg->proxy_protocol ? ED_CONN_PROXY : ED_CONN_HELLO);
  if (a->data_waiting) {
    first_read(c);
  } else {
    ed_conn_io(c);
  }
}

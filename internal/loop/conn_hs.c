/* internal/loop — a connection's handshake on its loop: the PROXY header,
 * handing ciphertext to the pool one step at a time (conn_step.c runs
 * them), acting on each finished step, and the one "handshake failed"
 * line of every connection that does not reach ESTABLISHED.
 *
 * The loop never does public-key work and never touches c->tls or c->step
 * while the connection is in ED_CONN_HS_POOL; what arrives meanwhile
 * waits in c->rx and goes with the next step.
 *
 * Which credentials decide: those current when each step runs
 * (conn_step.c), never those current at accept. The first step makes the
 * TLS engine on the current snapshot; a later step that comes before the
 * client is decided on moves it to the newest, so the step that verifies
 * the client's certificate (or opens its ticket) decides with the newest
 * credentials and refuses with its alert, before any ticket is sent. A
 * reload after that decision (while the deciding step is in the pool, or
 * before a resumption's last step) leaves it behind (sh->snap_gen moved
 * on): the completed handshake then goes back to the pool for one more
 * step that re-checks the identity against the current snapshot
 * (hs_recheck; ed_tls_peer_recheck: CA bundle, validity, depth, CRLs,
 * allow-list), and is refused with the reason's alert if it no longer
 * passes. So no handshake that began before a revocation gets in after
 * it, and the re-check of live sessions (recheck.c), which sees every
 * session established when it runs, misses
 * none. The common case pays one relaxed atomic load. */
#include <stdlib.h>
#include <string.h>

#include "internal/loop/loop_internal.h"
#include "internal/proxy/proxy.h"

/* ---- the outcome of a failed handshake ---------------------------------- */

/* unlogged_reason: a connection that closes before ESTABLISHED without a
 * verdict of its own (hs_fail) still gets its "handshake failed" line. A
 * peer that sent part of a handshake and then went away left a truncated
 * handshake: protocol. One that never sent a byte, or a close the server
 * chose (drain, kill, local error): other. */
static enum ed_hs_reason unlogged_reason(const struct ed_conn *c,
                                         const char **out_detail) {
  enum close_reason why = c->close_reason;
  int peer_gone = why == CR_EOF || why == CR_RESET || why == CR_CLIENT_CLOSE;
  if (peer_gone && c->hs_read) {
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

/* presented_fields formats " cn=... serial=... sha256=..." for the
 * certificate the client presented (what the TLS engine saw of it, read
 * without trusting it: the CN escaped byte by byte, ed_logq_bytes), or ""
 * when it presented none. Never while a step is in the pool (the pool
 * owns c->tls then). Returns a new string (free()). */
static char *presented_fields(const struct ed_conn *c,
                              enum ed_conn_state from) {
  struct ed_tls_presented pr;
  if (from == ED_CONN_HS_POOL || !c->tls ||
      !ed_tls_conn_presented(c->tls, &pr)) {
    return ed_strdup("");
  }
  size_t qcn_len = 4 * pr.cn_len + 8, qs_len = 2 * strlen(pr.serial) + 8;
  char *qcn = ed_malloc(qcn_len), *qserial = ed_malloc(qs_len);
  if (pr.cn) {
    ed_logq_bytes(qcn, qcn_len, pr.cn, pr.cn_len);
  } else {
    qcn[0] = '\0';
  }
  char cn_cut[40] = "", serial_cut[40] = "";
  if (pr.cn_full) snprintf(cn_cut, sizeof(cn_cut), " cn_len=%zu", pr.cn_full);
  if (pr.serial_full)
    snprintf(serial_cut, sizeof(serial_cut), " serial_len=%zu", pr.serial_full);
  size_t cap = qcn_len + qs_len + 200;
  char *out = ed_malloc(cap);
  snprintf(out, cap, " cn=%s%s serial=%s%s sha256=%s", qcn, cn_cut,
           ed_logq(qserial, qs_len, pr.serial), serial_cut, pr.sha256);
  free(qcn);
  free(qserial);
  return out;
}

/* ed_conn_hs_outcome counts and logs a handshake that ended in a close
 * (ed_conn_set_state calls it, once: the handshake states are left only
 * once). The line (logfmt, internal/base):
 *   level=info msg="handshake failed" id=8 peer=127.0.0.1:50313
 *       reason=cert_revoked detail="..." duration_ms=1.2 cn=alice
 *       serial=6A01... sha256=9f86...
 * with via=BALANCER after peer= behind a PROXY header. cn=, serial= and
 * sha256= name the certificate the client presented, accepted or not
 * (presented_fields: cn= is the subject's first CN, every byte outside
 * printable ASCII written \xNN, "" without a CN; serial= "" for a
 * certificate that did not parse; of a longer CN or serial only the first
 * ED_TLS_PRESENTED_MAX bytes or characters, followed by cn_len= or
 * serial_len= with the whole length); they are absent when the client
 * presented none, or the handshake ended while a step was in the pool
 * (killed, timed out, draining). Every accepted
 * connection that does not reach ESTABLISHED gets exactly one such line
 * and one count in hs_errors{reason} (and no "session closed" line),
 * except those refused at once by a limit (counted in rejected{reason}).
 * Reasons: ed_hs_reason_name() (internal/tls/tls_types.h); the TLS
 * engine's when a step failed, else the loop's verdict (timeout, a bad
 * PROXY header, a handshake too large), else unlogged_reason. A peer that
 * sent its whole last flight and then closed (openssl s_time -new) is not
 * a failure: the handshake completes on what arrived, and the session
 * closes with reason eof or reset. */
void ed_conn_hs_outcome(struct ed_conn *c, enum ed_conn_state from) {
  struct ed_loop *l = c->loop;
  char peer[170], d[200];
  if (c->close_reason == CR_REJECTED) return;
  enum ed_hs_reason reason = c->fail_reason;
  const char *detail = c->fail_detail;
  if (!detail) reason = unlogged_reason(c, &detail);
  ed_stat_add(&l->stats.hs_errors[reason], 1);
  char *who = presented_fields(c, from);
  ED_INFO("handshake failed",
          "id=%llu peer=%s reason=%s detail=%s duration_ms=%.3f%s",
          (unsigned long long)c->id, ed_conn_log_peer(c, peer, sizeof(peer)),
          ed_hs_reason_name(reason), ed_logq(d, sizeof(d), detail),
          (double)(ed_now_ns() - c->start_mono_ns) / 1e6, who);
  free(who);
}

/* hs_fail closes |c| with the loop's verdict on its handshake. */
static void hs_fail(struct ed_conn *c, enum ed_hs_reason reason,
                    const char *detail, enum close_how how) {
  c->fail_reason = reason;
  c->fail_detail = detail;
  ed_conn_close_state(c, CR_HS_FAILED, how);
}

void ed_conn_hs_timeout(struct ed_conn *c) {
  hs_fail(c, ED_HS_TIMEOUT, "no complete handshake in time", HOW_ABORT);
  ed_conn_io(c);
}

/* ---- steps -------------------------------------------------------------- */

static void hs_step_done(struct ed_conn *c);

/* hs_run_inline runs a resumption's last step (the client's Finished and a
 * new ticket: symmetric crypto only, see ed_tls_conn_resumption_tail) here
 * on the loop, saving the pool round trip: two context switches, a futex
 * wake and an eventfd. The loop thread is marked as an I/O loop
 * (ed_tls_mark_io_thread), so a certificate check reached here would fail
 * the handshake rather than run. */
static void hs_run_inline(struct ed_conn *c) {
  c->step.lent = 0; /* the loop's own step: the loop sends */
  ed_conn_step_run(&c->job);
  hs_step_done(c);
}

/* lend_fd returns the socket a pooled step may send its output on itself
 * (conn_step.c step_send), or -1: only with nothing queued ahead of it
 * (bytes stay in order), never for a re-check (its step completes the
 * handshake: the loop sends), and never once the peer sent its FIN or
 * RST: the loop has stopped reading, so no answer would come to take a
 * quiet step back, and the step must wake it (a half-closed client gets
 * its verdict at once, not at the next sweep). A close meanwhile takes
 * the socket back first (conn.c take_back_fd). */
static int lend_fd(const struct ed_conn *c) {
  uv_os_fd_t fd;
  if (c->step.recheck || c->wq_head || c->inflight ||
      c->peer_end != PEER_OPEN ||
      uv_fileno((const uv_handle_t *)&c->tcp, &fd) != 0) {
    return -1;
  }
  return fd;
}

/* hs_to_pool hands the step to the pool (HS_POOL). A new handshake's
 * first step may be refused (the pool's queue is full): the connection is
 * then refused like one at accept. */
static void hs_to_pool(struct ed_conn *c, int is_new) {
  struct ed_loop *l = c->loop;
  c->job.run = ed_conn_step_run;
  c->job.complete = ed_conn_step_complete;
  c->step.fd = lend_fd(c);
  c->step.lent = c->step.fd >= 0;
  atomic_store_explicit(&c->step.gone, STEP_WANTED, memory_order_relaxed);
  c->pool_fd = c->step.lent;
  if (ed_loop_pool(l)->submit(l->sh->pool, &c->job, is_new) != 0) {
    c->pool_fd = 0;
    ed_stat_add(&l->stats.rejected[ED_REJECT_PENDING_HANDSHAKES], 1);
    ed_conn_log_refused(c, ED_REJECT_PENDING_HANDSHAKES);
    ed_conn_close_state(c, CR_REJECTED, HOW_ABORT);
    return;
  }
  c->refs++; /* the pool's, until ed_conn_step_done */
  ed_conn_set_state(c, ED_CONN_HS_POOL);
}

/* hs_submit hands what was read to a step: in the pool (HS_POOL), or
 * inline for a resumption's tail. The bytes move with their buffer (|rx|
 * becomes the step's input); |rx| is left with no allocation. */
static void hs_submit(struct ed_conn *c) {
  if (c->step.in.len == 0) {
    struct ed_buf t = c->step.in;
    c->step.in = c->rx;
    c->rx = t;
  } else if (ed_buf_append(&c->step.in, c->rx.data, c->rx.len) != 0) {
    hs_fail(c, ED_HS_PROTOCOL, "handshake too large", HOW_ABORT);
    return;
  }
  ed_buf_cleanup(&c->rx);
  if (c->tls && ed_tls_conn_resumption_tail(c->tls)) {
    hs_run_inline(c);
    return;
  }
  hs_to_pool(c, c->st == ED_CONN_HELLO);
}

/* hs_stale: the handshake completed, but its identity was decided under
 * an older snapshot than the current one (a reload published since). */
static int hs_stale(const struct ed_conn *c) {
  return c->snap_gen !=
         atomic_load_explicit(&c->loop->sh->snap_gen, memory_order_relaxed);
}

/* hs_recheck sends a completed handshake back to the pool for one step
 * that re-checks its identity against the current snapshot (conn_step.c).
 * What the last step wants sent (tickets) waits in step.out, what the
 * client sent after its Finished in step.in and rx: all of it goes out, or
 * is echoed, only once the client passed (hs_established). */
static void hs_recheck(struct ed_conn *c) {
  c->step.recheck = 1;
  hs_to_pool(c, 0);
}

/* proxy_header takes the PROXY protocol v2 header off the front of |rx|
 * (--proxy-protocol): the address it carries becomes the peer, the
 * balancer's becomes |via|, and the state HELLO (TLS bytes may follow in
 * |rx|). While it is incomplete nothing happens; a bad one fails the
 * handshake as protocol with the parser's reason. */
static void proxy_header(struct ed_conn *c) {
  struct ed_proxy_header h;
  const char *why = "bad PROXY header";
  int n = ed_proxy_parse(c->rx.data, c->rx.len, &h, &why);
  if (n == 0) return;
  if (n < 0) {
    hs_fail(c, ED_HS_PROTOCOL, why, HOW_FLUSH);
    return;
  }
  char src[64];
  if (ed_proxy_format_src(&h, src, sizeof(src)) == 0) {
    struct ed_loop *l = c->loop;
    pthread_mutex_lock(&l->reg_mu);
    free(c->via);
    c->via = ed_strdup(c->peer_addr);
    snprintf(c->peer_addr, sizeof(c->peer_addr), "%s", src);
    pthread_mutex_unlock(&l->reg_mu);
  }
  ed_buf_consume(&c->rx, (size_t)n);
  ed_conn_set_state(c, ED_CONN_HELLO);
}

/* ---- the first flight: the ClientHello, whole, before any engine -------- */

#define REC_HANDSHAKE 22
#define MSG_CLIENT_HELLO 1

int ed_hs_hello_need(const uint8_t *p, size_t len, size_t *out_need) {
  size_t off = 0, msg = 0; /* record start; ClientHello bytes seen */
  uint8_t hdr[4];          /* its handshake header: type, 24-bit length */
  *out_need = 0;
  for (;;) {
    if (len - off < 5) {
      *out_need = off + 5;
      break;
    }
    const uint8_t *r = p + off;
    size_t rlen = (size_t)r[3] << 8 | r[4];
    if (r[0] != REC_HANDSHAKE || r[1] != 3 || rlen == 0 || rlen > 16384)
      return 0; /* not a ClientHello in records: the engine answers */
    size_t end = off + 5 + rlen, got = (len < end ? len : end) - off - 5;
    for (size_t i = 0; i < got && msg + i < 4; i++) hdr[msg + i] = r[5 + i];
    msg += got;
    if (msg >= 1 && hdr[0] != MSG_CLIENT_HELLO) return 0;
    if (msg >= 4) {
      size_t body = (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
      if (body > ED_HS_HELLO_BODY_MAX) return ED_E_TOOBIG;
      if (msg >= 4 + body) return 0; /* whole */
    }
    if (len < end) {
      *out_need = end;
      break;
    }
    off = end;
  }
  return *out_need > ED_HS_HELLO_MAX ? 0 : 1;
}

/* hello_grow makes room in |rx| for |more| bytes: doubling, as
 * ed_buf_append would, but never past |need|, the size the record headers
 * announce (<= ED_HS_HELLO_MAX): memory follows the bytes that came, not
 * the sizes a client claims. */
static void hello_grow(struct ed_buf *rx, size_t more, size_t need) {
  size_t want = rx->len + more;
  if (want < rx->alloc) return; /* room for it and the NUL */
  size_t next = 2 * rx->alloc < 256 ? 256 : 2 * rx->alloc;
  (void)ed_buf_reserve(rx, want > next ? want : next < need ? next : need);
}

/* hello_take keeps the first bytes of a ClientHello in |rx| until it is
 * whole (an attacker that sends a partial record pins its bytes, nothing
 * else: no engine yet), then submits the first step. */
static void hello_take(struct ed_conn *c, const uint8_t *data, size_t len) {
  int rc = 1;
  while (len && rc == 1) {
    size_t need, take = len;
    rc = ed_hs_hello_need(c->rx.data, c->rx.len, &need);
    if (rc == 1) {
      if (take > need - c->rx.len) take = need - c->rx.len;
      hello_grow(&c->rx, take, need);
    }
    if (rc != ED_E_TOOBIG && ed_buf_append(&c->rx, data, take) != 0) {
      hs_fail(c, ED_HS_PROTOCOL, "handshake too large", HOW_ABORT);
      return;
    }
    data += take, len -= take;
  }
  size_t need;
  rc = ed_hs_hello_need(c->rx.data, c->rx.len, &need);
  if (rc == ED_E_TOOBIG) {
    hs_fail(c, ED_HS_PROTOCOL, "ClientHello too large", HOW_FLUSH);
  } else if (rc == 0 && c->rx.len) {
    hs_submit(c);
  }
}

/* ed_conn_hs_feed takes bytes read before ESTABLISHED: the PROXY header,
 * then the ClientHello (hello_take), then later flights, each to the next
 * step as it comes. While a step is in the pool they wait in |rx|
 * (ed_conn_io pauses reading at ED_HS_READ_PAUSE: a TLS 1.3 client may
 * stream data right after its Finished). */
void ed_conn_hs_feed(struct ed_conn *c, const uint8_t *data, size_t len) {
  c->hs_read += len;
  if (c->st == ED_CONN_HELLO) {
    hello_take(c, data, len);
    return;
  }
  if (ed_buf_append(&c->rx, data, len) != 0) {
    hs_fail(c, ED_HS_PROTOCOL, "handshake too large", HOW_ABORT);
    return;
  }
  if (c->st == ED_CONN_PROXY) {
    proxy_header(c);
    if (c->st == ED_CONN_HELLO) { /* the rest is TLS: as if just read */
      struct ed_buf rest = c->rx;
      ed_buf_init(&c->rx, ED_HS_MAX_INPUT);
      hello_take(c, rest.data, rest.len);
      ed_buf_cleanup(&rest);
    }
    return;
  }
  if (c->st == ED_CONN_HS_READ && c->rx.len) hs_submit(c);
}

/* hs_established: the last step completed the handshake. Bookkeeping
 * first (from here on the conn is ESTABLISHED, whatever the socket does),
 * then the step's output (tickets), then any application data that came
 * with or after the client's Finished; then the peer's FIN or RST, if it
 * came while the step was in the pool. */
static void hs_established(struct ed_conn *c) {
  struct ed_loop *l = c->loop;
  c->resumed = (uint8_t)ed_tls_conn_resumed(c->tls);
  c->suite = ed_tls_conn_suite(c->tls);
  c->est_ms = (uint32_t)uv_now(&l->uv);
  ed_conn_set_state(c, ED_CONN_ESTABLISHED);
  ed_stat_add(&l->stats.handshakes[c->resumed], 1);
  ed_stat_add(&l->stats.sessions_by_suite[c->suite], 1);
  ed_hist_observe(&l->stats.hs_duration, ed_now_ns() - c->start_mono_ns);
  ed_conn_send(c, c->step.out.data, c->step.out.len);
  if (c->step.in.len && c->st == ED_CONN_ESTABLISHED)
    ed_conn_echo(c, c->step.in.data, c->step.in.len);
  if (c->rx.len && c->st == ED_CONN_ESTABLISHED)
    ed_conn_echo(c, c->rx.data, c->rx.len);
  ed_buf_cleanup(&c->step.in);
  ed_buf_cleanup(&c->step.out);
  ed_buf_cleanup(&c->rx);
  if (c->st == ED_CONN_ESTABLISHED && c->peer_end != PEER_OPEN) {
    int reset = c->peer_end == PEER_RESET;
    ed_conn_close_state(c, reset ? CR_RESET : CR_EOF,
                        reset ? HOW_ABORT : HOW_NOTIFY);
  }
}

/* hs_peer_left: the client sent its FIN or RST mid-handshake and nothing
 * it sent is left to act on: a truncated handshake. */
static void hs_peer_left(struct ed_conn *c) {
  int reset = c->peer_end == PEER_RESET;
  hs_fail(c, ED_HS_PROTOCOL,
          reset ? "connection reset during the handshake"
                : "connection closed during the handshake",
          reset ? HOW_ABORT : HOW_FLUSH);
}

/* hs_step_done acts on a finished step (from the pool or inline), in
 * HS_READ: complete, but decided under an older snapshot (re-checked
 * first); established; failed (its alert flushed before the FIN); or
 * more to read: the next step if bytes wait, else a peer that left
 * mid-handshake, else wait for the next flight. A step that stopped at
 * the server's signature because the client had left (STEP_PEER_GONE)
 * is the truncated handshake it is. */
static void hs_step_done(struct ed_conn *c) {
  if (c->step.rc < 0 && ed_tls_conn_unsigned(c->tls)) {
    ed_buf_cleanup(&c->step.out);
    ed_buf_cleanup(&c->step.in);
    hs_peer_left(c);
    return;
  }
  if (c->step.rc == 1 && hs_stale(c)) {
    hs_recheck(c);
    return;
  }
  if (c->step.rc == 1) {
    hs_established(c);
    return;
  }
  if (c->peer_end != PEER_RESET)
    ed_conn_send(c, c->step.out.data, c->step.out.len);
  /* Sent (or queued: ed_conn_send copies), and the input consumed: free
   * both until the next step. */
  ed_buf_cleanup(&c->step.out);
  ed_buf_cleanup(&c->step.in);
  if (c->st != ED_CONN_HS_READ) return; /* the send failed: closed */
  if (c->step.rc < 0) {
    hs_fail(c, c->step.reason, c->step.detail, HOW_FLUSH);
  } else if (c->rx.len) {
    hs_submit(c);
  } else if (c->peer_end != PEER_OPEN) {
    hs_peer_left(c);
  }
}

void ed_conn_step_done(struct ed_conn *c) {
  if (c->pool_event) {
    c->pool_event = 0;
    atomic_fetch_sub(&c->loop->step_waiters, 1);
  }
  c->pool_fd = 0;                 /* the socket is the loop's alone again */
  if (c->st != ED_CONN_HS_POOL) { /* closed while the step was pooled */
    ed_conn_unref(c);
    return;
  }
  c->refs--; /* the pool's; the handle's remains */
  ed_conn_set_state(c, ED_CONN_HS_READ);
  hs_step_done(c);
  ed_conn_io(c);
}

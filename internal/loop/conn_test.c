/* internal/loop tests: one connection's life, driven step by step through
 * the harness (conn_harness.h): every state, the close races (FIN, RST,
 * kill, timeouts while a step is in the pool), backpressure, the PROXY
 * header split across reads, and what each path logs and counts. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal/loop/conn_harness.h"
#include "internal/testing/testing.h"

static uint64_t all_hs_errors(struct harness *h) {
  uint64_t n = 0;
  for (int r = 0; r < ED_HS_REASON_COUNT; r++) n += h_hs_errors(h, r);
  return n;
}

/* run_step runs the oldest pooled step as a pool thread would and says
 * whether it did any TLS work: 0 when it was skipped before making its
 * engine (conn_step.c step_abandoned). For a handshake's first step. */
static int run_step(struct harness *h) {
  struct ed_hs_job *job = h_pool_take(h);
  CHECK(job != NULL);
  if (!job) return -1;
  struct ed_conn *c =
      (struct ed_conn *)((char *)job - offsetof(struct ed_conn, job));
  job->run(job);
  int worked = c->tls != NULL;
  job->complete(job); /* the loop may free |c| from here on */
  h_pump(h);
  return worked;
}

/* fin_ends: the client's FIN ends what is left of the session at once (one
 * pump, nothing still held), whose one outcome is CLOSED with |reason|
 * (and |detail|); then the test's end. */
static void fin_ends(struct harness *h, struct cli *c, const char *reason,
                     const char *detail) {
  cli_fin(c);
  h_pump(h);
  CHECK_EQ(h_num_conns(h), 0);
  h_one_outcome(h, c, CLOSED, reason, detail);
  cli_free(c);
  h_finish(h);
}

static struct ed_conn *the_conn(struct harness *h) {
  return link_empty(&h->l->conns) ? NULL : CONN_OF(h->l->conns.next, reg);
}

static int conn_reading(const struct ed_conn *c) {
  return c->reading;
}

/* A stream of known bytes the client sends, sealed up front, so a test
 * can push it without reading and check every echoed byte. */
struct stream {
  uint8_t *data;
  size_t total;
  struct ed_buf wire;
  size_t off; /* wire bytes sent so far */
};

static void stream_init(struct stream *st, struct cli *c, size_t total,
                        unsigned seed) {
  st->data = malloc(total);
  st->total = total;
  for (size_t i = 0; i < total; i++) st->data[i] = (uint8_t)(i * seed + 1);
  ed_buf_init(&st->wire, 2 * total + (1u << 20));
  cli_seal(c, &st->wire, st->data, total);
  st->off = 0;
}

/* stream_push sends without reading until nothing more is taken (a few
 * hundred turns of the loop). Returns 1 when the client is blocked. */
static int stream_push(struct harness *h, struct cli *c, struct stream *st) {
  for (int i = 0; i < 400 && st->off < st->wire.len; i++) {
    ssize_t n = send(c->fd, st->wire.data + st->off, st->wire.len - st->off,
                     MSG_NOSIGNAL);
    if (n > 0) st->off += (size_t)n;
    h_pump(h);
  }
  return st->off < st->wire.len;
}

/* stream_finish sends the rest, reading as it goes, and reads until every
 * byte came back; checks them. */
static void stream_finish(struct harness *h, struct cli *c, struct stream *st) {
  cli_send(h, c, st->wire.data + st->off, st->wire.len - st->off);
  cli_read_until(h, c, st->total);
  CHECK_EQ(c->plain.len, st->total);
  CHECK(c->plain.len == st->total &&
        memcmp(c->plain.data, st->data, st->total) == 0);
}

static void stream_free(struct stream *st) {
  ed_buf_cleanup(&st->wire);
  free(st->data);
}

/* small_queue_stream starts |h| (made by h_init) with a 16 KiB
 * max-buffer, establishes |c| and seals a stream of |total| bytes for it. */
static void small_queue_stream(struct harness *h, struct cli *c,
                               struct stream *st, size_t total, unsigned seed) {
  h->cfg.max_buffer = 16384;
  h_start(h);
  establish(h, c);
  stream_init(st, c, total, seed);
}

/* seal_close_notify appends the client's close_notify to |out| (not
 * sent). */
static void seal_close_notify(struct cli *c, struct ed_buf *out) {
  struct ed_tls_io io = {NULL, 0, 0, out};
  CHECK_EQ(ed_tls_conn_shutdown(c->tls, &io), 0);
}

/* read_to_eof reads (and pumps) until the server's FIN (bounded). */
static void read_to_eof(struct harness *h, struct cli *c) {
  for (int i = 0; i < 4000 && !c->eof; i++) {
    cli_read(c);
    h_pump(h);
  }
}

/* ---- the happy path ----------------------------------------------------- */

static void test_states_echo_and_client_close(void) {
  struct harness h;
  struct cli c;
  struct ed_stats_snapshot st;
  h_init(&h);
  h_start(&h);
  cli_open(&h, &c, CLI_ALICE);
  CHECK_EQ(h_state(&h, c.port), ED_SESSION_ACCEPTED);
  h_stats(&h, &st);
  CHECK_EQ(st.active_handshaking, 1);
  CHECK_EQ(cli_hs(&h, &c), 0); /* ClientHello */
  h_pump(&h);
  CHECK_EQ(h.pool.queued, 1);
  CHECK_EQ(h_state(&h, c.port), ED_SESSION_HANDSHAKING);
  CHECK_EQ(h_pool_run(&h, 1), 1);
  CHECK_EQ(h_state(&h, c.port), ED_SESSION_HANDSHAKING);
  CHECK_EQ(cli_hs(&h, &c), 1);
  h_pump(&h);
  CHECK_EQ(h.pool.queued, 1);
  CHECK_EQ(h_pool_run(&h, 1), 1);
  CHECK_EQ(h_state(&h, c.port), ED_SESSION_ESTABLISHED);
  h_stats(&h, &st);
  CHECK_EQ(st.active_handshaking, 0);
  CHECK_EQ(st.active_established, 1);
  CHECK_EQ(st.handshakes[0], 1);

  cli_write(&h, &c, "hello", 5);
  h_pump(&h);
  cli_read(&c);
  CHECK_EQ(c.plain.len, 5);
  CHECK(memcmp(c.plain.data, "hello", 5) == 0);

  /* Last words and close_notify in one segment: echoed, answered with
   * close_notify and a FIN, and freed at once (no wait for our FIN). */
  struct ed_buf out;
  ed_buf_init(&out, 1 << 16);
  cli_seal(&c, &out, "bye", 3);
  seal_close_notify(&c, &out);
  cli_send(&h, &c, out.data, out.len);
  ed_buf_cleanup(&out);
  h_pump(&h);
  CHECK_EQ(h_num_conns(&h), 0);
  cli_read(&c);
  CHECK_EQ(c.plain.len, 8);
  CHECK(memcmp(c.plain.data, "hellobye", 8) == 0);
  CHECK(c.notified);
  cli_recv(&c);
  CHECK(c.eof && !c.reset);
  h_one_outcome(&h, &c, CLOSED, "client_close", NULL);
  CHECK_STR(h_field(&h, CLOSED, &c, "bytes_in"), "8");
  CHECK_STR(h_field(&h, CLOSED, &c, "cn"), "alice");
  h_stats(&h, &st);
  CHECK_EQ(st.closed, 1);
  CHECK_EQ(st.active_established, 0);
  CHECK_EQ(st.active_handshaking, 0);
  CHECK_EQ(all_hs_errors(&h), 0);
  cli_free(&c);
  h_finish(&h);
}

/* A client that goes on sending after its close_notify, past one read
 * batch: the server must not close with those bytes unread (the kernel
 * would answer with a reset that drops the echo and the close_notify on
 * their way). It sends its last bytes, FIN, and lingers, dropping what
 * comes, until the client's FIN. */
static void test_bytes_after_close_notify(void) {
  struct harness h;
  struct cli c;
  h_init(&h);
  h_start(&h);
  establish(&h, &c);
  struct ed_buf out;
  ed_buf_init(&out, 1 << 18);
  cli_seal(&c, &out, "bye", 3);
  seal_close_notify(&c, &out);
  static uint8_t junk[96 * 1024]; /* more than ED_LOOP_RBUF */
  memset(junk, 'x', sizeof(junk));
  CHECK_EQ(ed_buf_append(&out, junk, sizeof(junk)), 0);
  cli_send(&h, &c, out.data, out.len);
  ed_buf_cleanup(&out);
  h_pump(&h);
  CHECK_EQ(h_num_conns(&h), 1); /* lingering, not closed on the junk */
  cli_read(&c);
  CHECK_EQ(c.plain.len, 3);
  CHECK(c.plain.len == 3 && memcmp(c.plain.data, "bye", 3) == 0);
  CHECK(c.notified);
  cli_recv(&c);
  CHECK(c.eof && !c.reset);
  fin_ends(&h, &c, "client_close", NULL);
}

/* A record that does not verify, once established: the engine's alert,
 * FIN, and a closed line that says why (reason=error with the engine's
 * detail, kept from the read: the echo's write, refused after the alert,
 * would have replaced it). */
static void test_bad_record_detail(void) {
  struct harness h;
  struct cli c;
  h_init(&h);
  h_start(&h);
  establish(&h, &c);
  struct ed_buf out;
  ed_buf_init(&out, 1 << 16);
  cli_seal(&c, &out, "fine", 4);
  cli_seal(&c, &out, "tampered", 8);
  out.data[out.len - 1] ^= 1; /* the last record's tag */
  cli_send(&h, &c, out.data, out.len);
  ed_buf_cleanup(&out);
  h_pump(&h);
  cli_read(&c);
  CHECK(c.tls_failed);
  fin_ends(&h, &c, "error", "DECRYPTION_FAILED_OR_BAD_RECORD_MAC");
}

/* Every way a read batch can cut the record stream: several whole
 * records, a batch ending inside a record's header or body, a batch
 * ending exactly where a record ends (the echo then skips the SSL_read
 * that could only say "want read": conn.c batch_done), and a record
 * whose plaintext alone fills a TLS record. Every byte comes back, in
 * order, and the session stays established. */
static void test_echo_record_boundaries(void) {
  struct harness h;
  struct cli c;
  struct ed_buf w;
  char want[40000];
  size_t n = 0;
  h_init(&h);
  h_start(&h);
  establish(&h, &c);
  ed_buf_init(&w, 1 << 20);
  cli_seal(&c, &w, "a", 1); /* three records, one batch */
  cli_seal(&c, &w, "bb", 2);
  cli_seal(&c, &w, "ccc", 3);
  memcpy(want + n, "abbccc", 6), n += 6;
  cli_send(&h, &c, w.data, w.len);
  h_pump(&h);
  ed_buf_reset(&w);
  cli_seal(&c, &w, "dddd", 4); /* cut in the header, then in the body */
  memcpy(want + n, "dddd", 4), n += 4;
  size_t cuts[] = {3, 9, w.len};
  for (size_t i = 0, at = 0; i < 3; at = cuts[i++]) {
    cli_send(&h, &c, w.data + at, cuts[i] - at);
    h_pump(&h);
  }
  ed_buf_reset(&w);
  for (size_t i = 0; i < 20000; i++) want[n + i] = (char)('A' + i % 26);
  cli_seal(&c, &w, want + n, 20000); /* a full record, then the rest */
  n += 20000;
  cli_send(&h, &c, w.data, w.len);
  cli_read_until(&h, &c, n);
  CHECK_EQ(c.plain.len, n);
  CHECK(c.plain.len == n && memcmp(c.plain.data, want, n) == 0);
  CHECK_EQ(h_state(&h, c.port), ED_SESSION_ESTABLISHED);
  CHECK(!c.tls_failed && !c.eof);
  ed_buf_cleanup(&w);
  cli_free(&c);
  h_finish(&h);
}

/* A TCP_DEFER_ACCEPT listener (what internal/listen makes) hands over a
 * connection once its ClientHello arrived; the loop reads it right at
 * accept, so the first step is in the pool as soon as the connection is
 * accepted, and the peer's address came with accept4. */
static void test_deferred_accept_reads_hello(void) {
  struct harness h;
  struct cli c;
  struct ed_session_info info;
  char want[64];
  h_init(&h);
  h.defer_accept = 1;
  h_start(&h);
  cli_open_hello(&h, &c, CLI_ALICE);
  CHECK_EQ(h.pool.queued, 1);
  CHECK_EQ(h_state(&h, c.port), ED_SESSION_HANDSHAKING);
  CHECK_EQ(h_session(&h, c.port, &info), 0);
  snprintf(want, sizeof(want), "127.0.0.1:%u", c.port);
  CHECK_STR(info.peer, want);
  ed_session_info_cleanup(&info);
  CHECK_EQ(h_pool_run(&h, 1), 1);
  last_step(&h, &c);
  CHECK_EQ(h_state(&h, c.port), ED_SESSION_ESTABLISHED);
  cli_write(&h, &c, "hello", 5);
  h_pump(&h);
  cli_read(&c);
  CHECK(c.plain.len >= 5 && memcmp(c.plain.data, "hello", 5) == 0);
  cli_free(&c);
  h_pump(&h);
  CHECK_EQ(all_hs_errors(&h), 0);
  h_finish(&h);
}

/* ---- data, FIN and RST while a step is in the pool ---------------------- */

/* last_flight_pooled runs a handshake up to the client's last flight,
 * which is sent (with |extra| appended) and sits in the pool as a step. */
static void last_flight_pooled(struct harness *h, struct cli *c,
                               const char *extra) {
  cli_open(h, c, CLI_ALICE);
  first_step(h, c);
  last_flight(h, c, extra);
  CHECK_EQ(h->pool.queued, 1);
}

static void test_data_while_step_in_pool(void) {
  struct harness h;
  struct cli c;
  h_init(&h);
  h_start(&h);
  last_flight_pooled(&h, &c, "abc");
  size_t submitted = h.pool.submitted;
  cli_write(&h, &c, "def", 3); /* arrives while the step is pooled */
  h_pump(&h);
  CHECK_EQ(h.pool.submitted, submitted); /* waits in the loop's buffer */
  CHECK_EQ(h_state(&h, c.port), ED_SESSION_HANDSHAKING);
  CHECK_EQ(h_pool_run(&h, 1), 1);
  CHECK_EQ(h_state(&h, c.port), ED_SESSION_ESTABLISHED);
  cli_read(&c);
  CHECK_EQ(c.plain.len, 6);
  CHECK(c.plain.len == 6 && memcmp(c.plain.data, "abcdef", 6) == 0);
  cli_free(&c);
  h_finish(&h);
}

/* A client that streams right after its Finished, while the step is in
 * the pool: the loop pauses reading (bounded buffering, no "handshake too
 * large") and echoes every byte once established. */
static void test_stream_while_step_in_pool(void) {
  struct harness h;
  struct cli c;
  h_init(&h);
  h_start(&h);
  last_flight_pooled(&h, &c, NULL);
  struct stream st;
  stream_init(&st, &c, 1 << 20, 7);
  CHECK(stream_push(&h, &c, &st)); /* the loop stopped reading */
  struct ed_conn *sc = the_conn(&h);
  CHECK(sc && !conn_reading(sc) &&
        sc->rx.len < ED_HS_READ_PAUSE + ED_LOOP_RBUF);
  CHECK_EQ(h.pool.queued, 1);
  CHECK_EQ(h_num_conns(&h), 1);
  CHECK_EQ(h_pool_run(&h, 1), 1);
  stream_finish(&h, &c, &st);
  CHECK_EQ(all_hs_errors(&h), 0);
  stream_free(&st);
  cli_free(&c);
  h_finish(&h);
}

/* The whole last flight, then FIN, while the step is in the pool (like
 * `openssl s_time -new`): the handshake completes on what arrived and the
 * session closes as eof, with close_notify. */
static void test_fin_after_last_flight_in_pool(void) {
  struct harness h;
  struct cli c;
  h_init(&h);
  h_start(&h);
  last_flight_pooled(&h, &c, NULL);
  cli_fin(&c);
  h_pump(&h);
  CHECK_EQ(h_pool_run(&h, 1), 1);
  h_pump_until_freed(&h);
  cli_read(&c);
  CHECK(c.notified);
  h_one_outcome(&h, &c, CLOSED, "eof", NULL);
  CHECK_EQ(all_hs_errors(&h), 0);
  cli_free(&c);
  h_finish(&h);
}

static void test_rst_after_last_flight_in_pool(void) {
  struct harness h;
  struct cli c;
  h_init(&h);
  h_start(&h);
  last_flight_pooled(&h, &c, "data");
  cli_rst(&c);
  h_pump(&h);
  CHECK_EQ(h_num_conns(&h), 1); /* the pool holds it */
  CHECK_EQ(h_pool_run(&h, 1), 1);
  h_pump_until_freed(&h);
  h_one_outcome(&h, &c, CLOSED, "reset", NULL);
  cli_free(&c);
  h_finish(&h);
}

/* ends_truncated: the client leaves (RST if |rst|, else FIN) while its
 * step waits in the pool; the step runs, and the connection's one outcome
 * is a truncated handshake (protocol), counted. After a FIN the client
 * gets our FIN (and, if |silent|, not a byte before it). The test's end. */
static void ends_truncated(struct harness *h, struct cli *c, int rst,
                           int silent) {
  CHECK_EQ(h->pool.queued, 1);
  if (rst) {
    cli_rst(c);
  } else {
    cli_fin(c);
  }
  h_pump(h);
  CHECK_EQ(h_pool_run(h, 1), 1);
  if (!rst) { /* our FIN follows; the peer's close ends it */
    cli_recv(c);
    CHECK(c->eof);
    if (silent) CHECK_EQ(c->in.len, 0);
    cli_close(c);
  }
  h_pump_until_freed(h);
  h_one_outcome(h, c, HS_FAILED, "protocol",
                rst ? "connection reset during the handshake"
                    : "connection closed during the handshake");
  CHECK_EQ(h_hs_errors(h, ED_HS_PROTOCOL), 1);
  cli_free(c);
  h_finish(h);
}

/* Half a handshake, then FIN or RST while its step is pooled: one
 * "handshake failed" line, protocol (a truncated handshake). (Half a
 * ClientHello never reaches the pool: the first step waits for all of
 * it, hs_buffer_test.c. Half the client's last flight does.) */
static void test_fin_rst_mid_handshake_in_pool(void) {
  for (int rst = 0; rst < 2; rst++) {
    struct harness h;
    struct cli c;
    h_init(&h);
    h_start(&h);
    cli_open(&h, &c, CLI_ALICE);
    first_step(&h, &c);
    struct ed_buf flight;
    ed_buf_init(&flight, 1 << 16);
    CHECK_EQ(cli_hs_bytes(&c, &flight), 1);
    cli_send(&h, &c, flight.data, flight.len / 2);
    ed_buf_cleanup(&flight);
    h_pump(&h);
    ends_truncated(&h, &c, rst, 0);
  }
}

/* The client leaves (FIN or RST) while the step that would answer its
 * ClientHello waits in the pool, after a HelloRetryRequest (|retry|: its
 * second ClientHello) or not: no client can finish a handshake without
 * the server's first flight, so the step stops at the server's signature
 * (the engine's peer watch: no signature for nobody, and nothing sent),
 * and the outcome is the truncated handshake's. A later step is not
 * affected: test_fin_after_last_flight_in_pool. */
static void test_peer_gone_before_first_step(void) {
  for (int i = 0; i < 4; i++) {
    int rst = i & 1, retry = i >> 1;
    struct harness h;
    struct cli c;
    h_init(&h);
    h_start(&h);
    cli_open(&h, &c, retry ? CLI_RETRY : CLI_ALICE);
    send_hello(&h, &c);
    if (retry) { /* the HelloRetryRequest, then the second ClientHello */
      CHECK_EQ(h_pool_run(&h, 1), 1);
      cli_recv(&c);
      CHECK(c.in.len > 0);
      CHECK_EQ(cli_hs(&h, &c), 0);
      CHECK_EQ(c.in.len, 0);
      h_pump(&h);
    }
    ends_truncated(&h, &c, rst, 1);
  }
}

/* A kill or a handshake timeout while the step is in the pool: the
 * socket closes at once, the memory stays until the step comes back,
 * and the step is skipped: nobody would read what it made. */
static void test_close_while_step_in_pool(void) {
  for (int timeout = 0; timeout < 2; timeout++) {
    struct harness h;
    struct cli c;
    h_init(&h);
    h_start(&h);
    cli_open(&h, &c, CLI_ALICE);
    send_hello(&h, &c);
    CHECK_EQ(h.pool.queued, 1);
    if (timeout) {
      h_expire(&h, h.cfg.handshake_timeout_ms + 1);
    } else {
      ed_loop_post_kill(h.l, h_session_id(&h, &c));
      h_pump(&h);
    }
    cli_recv(&c);
    CHECK(c.eof || c.reset);
    CHECK_EQ(h_state(&h, c.port), -1); /* gone from the registry */
    CHECK_EQ(h_num_conns(&h), 1);      /* but not freed */
    CHECK_EQ(run_step(&h), 0);         /* skipped: nobody to answer */
    CHECK_EQ(h_num_conns(&h), 0);
    if (timeout) {
      h_one_outcome(&h, &c, HS_FAILED, "timeout",
                    "no complete handshake in time");
    } else {
      h_one_outcome(&h, &c, HS_FAILED, "other", "killed");
    }
    cli_free(&c);
    h_finish(&h);
  }
}

/* ---- backpressure ------------------------------------------------------- */

/* A client that writes and never reads: the server's write queue passes
 * max-buffer, it stops reading; once the client reads, the queue drains,
 * reading resumes, and every byte comes back in order. */
static void test_backpressure(void) {
  struct harness h;
  struct cli c;
  struct stream st;
  h_init(&h);
  small_queue_stream(&h, &c, &st, 8u << 20, 13);
  CHECK(stream_push(&h, &c, &st)); /* the client is blocked ... */
  struct ed_conn *sc = the_conn(&h);
  CHECK(sc != NULL);
  if (sc) {
    CHECK(!conn_reading(sc)); /* ... because the server stopped reading */
    CHECK(sc->wq_bytes >= h.cfg.max_buffer);
    CHECK(sc->wq_bytes < h.cfg.max_buffer + 2 * ED_LOOP_RBUF);
  }
  stream_finish(&h, &c, &st); /* reads as it goes */
  sc = the_conn(&h);
  CHECK(sc && conn_reading(sc) && sc->wq_bytes == 0);
  stream_free(&st);
  cli_free(&c);
  h_finish(&h);
}

/* A session with much waiting to be read reads ED_READ_BURST of it (and
 * at most one read more) per loop iteration, then lets the others on its
 * loop have their turn; it resumes at the next poll and every byte comes
 * back in order. Before, libuv read it up to 32 times (2 MiB) in one go:
 * 0.3-0.8 s of a loop for input that is dear to echo (a KeyUpdate before
 * each 1-byte record). */
/* waiting_stream establishes |c| on a server without backpressure in the
 * way (max_buffer 16 MiB), and puts a 1 MiB stream into the socket while
 * the loop does not run. Returns the server's connection (NULL: failed). */
static struct ed_conn *waiting_stream(struct harness *h, struct cli *c,
                                      struct stream *st, unsigned seed) {
  h_init(h);
  h->cfg.max_buffer = 16u << 20;
  h_start(h);
  establish(h, c);
  int big = 8 << 20;
  setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
  struct ed_conn *sc = the_conn(h);
  CHECK(sc != NULL);
  if (!sc) return NULL;
  uv_os_fd_t sfd;
  CHECK_EQ(uv_fileno((uv_handle_t *)&sc->tcp, &sfd), 0);
  setsockopt(sfd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
  stream_init(st, c, 1u << 20, seed);
  while (st->off < st->wire.len) {
    ssize_t n = send(c->fd, st->wire.data + st->off, st->wire.len - st->off,
                     MSG_NOSIGNAL);
    if (n <= 0) break;
    st->off += (size_t)n;
  }
  return sc;
}

static void test_read_burst_yields(void) {
  struct harness h;
  struct cli c;
  struct stream st;
  struct ed_conn *sc = waiting_stream(&h, &c, &st, 7);
  if (!sc) return;
  CHECK(st.off > ED_READ_BURST + 2 * ED_LOOP_RBUF);
  uint64_t before = atomic_load(&sc->bytes_in);
  uv_run(&h.l->uv, UV_RUN_NOWAIT); /* one poll */
  uint64_t read1 = atomic_load(&sc->bytes_in) - before;
  CHECK(read1 > 0);
  CHECK(read1 <= ED_READ_BURST + ED_LOOP_RBUF);
  if (read1 > ED_READ_BURST + ED_LOOP_RBUF)
    fprintf(stderr, "  one iteration read %llu bytes\n",
            (unsigned long long)read1);
  CHECK(sc->yielded && !conn_reading(sc));
  uv_run(&h.l->uv, UV_RUN_NOWAIT); /* resumed before the next poll */
  CHECK(atomic_load(&sc->bytes_in) - before > read1);
  stream_finish(&h, &c, &st); /* all of it echoed, in order */
  stream_free(&st);
  cli_free(&c);
  h_finish(&h);
}

/* A session that yielded (on l->yielded, holding a reference) and is
 * then aborted, or whose loop is told to stop before the next poll: it is
 * freed once, its closed line written once, and the loop stops (review2;
 * run under --config=asan). */
static void test_yielded_then_closed(void) {
  for (int how = 0; how < 2; how++) {
    struct harness h;
    struct cli c;
    struct stream st;
    struct ed_conn *sc = waiting_stream(&h, &c, &st, 9);
    if (!sc) return;
    uv_run(&h.l->uv, UV_RUN_NOWAIT); /* one poll: yields */
    CHECK(sc->yielded);
    if (how == 0) {
      ed_conn_close(sc, CR_KILLED, HOW_ABORT); /* closed while yielded */
      uv_run(&h.l->uv, UV_RUN_NOWAIT);
      uv_run(&h.l->uv, UV_RUN_NOWAIT);
      CHECK_EQ(h_log_count(&h, CLOSED, c.port), 1);
      CHECK(!h.l->yielded);
    }
    h_finish(&h); /* how 1: the loop stops with it on the list */
    stream_free(&st);
    cli_free(&c);
  }
}

/* ---- timeouts ----------------------------------------------------------- */

static void test_idle_timeout_and_linger(void) {
  for (int peer_fin = 0; peer_fin < 2; peer_fin++) {
    struct harness h;
    struct cli c;
    h_init(&h);
    h.cfg.idle_timeout_ms = 1000;
    h_start(&h);
    establish(&h, &c);
    h_expire(&h, 500);
    CHECK_EQ(h_state(&h, c.port), ED_SESSION_ESTABLISHED);
    h_expire(&h, 1001);
    CHECK_EQ(h_state(&h, c.port), ED_SESSION_CLOSING);
    cli_read(&c);
    CHECK(c.notified);
    cli_recv(&c);
    CHECK(c.eof);                 /* our FIN came after the close_notify */
    CHECK_EQ(h_num_conns(&h), 1); /* lingering for the client's FIN */
    if (peer_fin) {
      cli_fin(&c);
      h_pump(&h);
    } else {
      h_expire(&h, ED_LINGER_MS - 100);
      CHECK_EQ(h_num_conns(&h), 1);
      h_expire(&h, ED_LINGER_MS + 1);
    }
    CHECK_EQ(h_num_conns(&h), 0);
    h_one_outcome(&h, &c, CLOSED, "idle_timeout", NULL);
    cli_free(&c);
    h_finish(&h);
  }
}

static void test_handshake_timeout(void) {
  struct harness h;
  struct cli c;
  h_init(&h);
  h.cfg.handshake_timeout_ms = 500;
  h_start(&h);
  cli_open(&h, &c, CLI_ALICE);
  h_expire(&h, 400);
  CHECK_EQ(h_state(&h, c.port), ED_SESSION_ACCEPTED);
  h_expire(&h, 501);
  CHECK_EQ(h_num_conns(&h), 0);
  h_one_outcome(&h, &c, HS_FAILED, "timeout", "no complete handshake in time");
  CHECK_EQ(h_hs_errors(&h, ED_HS_TIMEOUT), 1);
  cli_free(&c);
  h_finish(&h);
}

/* ---- kill in each state ------------------------------------------------- */

/* kill_and_end kills the session of |c| and lets the client end its side
 * (FIN) once the server's FIN came; checks the connection is freed. */
static void kill_and_end(struct harness *h, struct cli *c) {
  ed_loop_post_kill(h->l, h_session_id(h, c));
  h_pump(h);
  cli_read(c);
  if (c->eof && c->fd >= 0) cli_fin(c);
  h_pump(h);
  h_pool_run(h, 8);
  h_pump_until_freed(h);
}

static void test_kill_in_each_state(void) {
  for (int state = 0; state < 5; state++) {
    struct harness h;
    struct cli c;
    h_init(&h);
    h.cfg.proxy_protocol = state == 0;
    h_start(&h);
    if (state == 4) {
      establish(&h, &c);
    } else {
      cli_open(&h, &c, CLI_ALICE);
    }
    if (state == 0) cli_send(&h, &c, "\r\n\r\n", 4); /* PROXY, in part */
    if (state == 2 || state == 3) {                  /* handshaking */
      send_hello(&h, &c);
      if (state == 2) CHECK_EQ(h_pool_run(&h, 1), 1); /* between steps */
      CHECK_EQ(h.pool.queued, state == 3 ? 1 : 0);
    }
    CHECK_EQ(h_state(&h, c.port), state == 4   ? ED_SESSION_ESTABLISHED
                                  : state >= 2 ? ED_SESSION_HANDSHAKING
                                               : ED_SESSION_ACCEPTED);
    kill_and_end(&h, &c);
    if (state == 4) {
      CHECK(c.notified);
      h_one_outcome(&h, &c, CLOSED, "killed", NULL);
    } else {
      h_one_outcome(&h, &c, HS_FAILED, "other", "killed");
    }
    /* A second kill of a closed session finds nothing. */
    CHECK_EQ(
        h_log_count(&h, HS_FAILED, c.port) + h_log_count(&h, CLOSED, c.port),
        1);
    cli_free(&c);
    h_finish(&h);
  }
}

/* A kill after the close started changes nothing: the first reason stays,
 * the linger goes on. */
static void test_kill_while_closing(void) {
  struct harness h;
  struct cli c;
  h_init(&h);
  h.cfg.idle_timeout_ms = 1000;
  h_start(&h);
  establish(&h, &c);
  h_expire(&h, 1001);
  CHECK_EQ(h_state(&h, c.port), ED_SESSION_CLOSING);
  ed_loop_post_kill(h.l, h_session_id(&h, &c));
  h_pump(&h);
  CHECK_EQ(h_num_conns(&h), 1);
  fin_ends(&h, &c, "idle_timeout", NULL);
}

/* A kill while the write queue is full: the session flushes everything
 * queued, then close_notify, then FIN (FLUSHING -> LINGER); a second kill
 * meanwhile changes nothing; no echoed byte is lost. */
static void test_kill_with_full_queue_flushes(void) {
  struct harness h;
  struct cli c;
  struct stream st;
  h_init(&h);
  small_queue_stream(&h, &c, &st, 2u << 20, 5);
  CHECK(stream_push(&h, &c, &st));
  struct ed_session_info s;
  CHECK_EQ(h_session(&h, c.port, &s), 0);
  uint64_t echoed = s.bytes_out;
  struct ed_conn *sc = the_conn(&h);
  CHECK(sc && sc->wq_bytes >= h.cfg.max_buffer);
  ed_loop_post_kill(h.l, s.id);
  h_pump(&h);
  CHECK(sc && sc->st == ED_CONN_FLUSHING && sc->wq_head != NULL);
  ed_loop_post_kill(h.l, s.id);
  h_pump(&h);
  CHECK(sc && sc->st == ED_CONN_FLUSHING);
  read_to_eof(&h, &c); /* read it all */
  CHECK(c.notified && c.eof);
  CHECK_EQ(c.plain.len, echoed);
  CHECK(c.plain.len == echoed && memcmp(c.plain.data, st.data, echoed) == 0);
  CHECK_EQ(h_num_conns(&h), 1); /* LINGER: waits for our FIN */
  cli_fin(&c);
  h_pump_until_freed(&h);
  h_one_outcome(&h, &c, CLOSED, "killed", NULL);
  stream_free(&st);
  cli_free(&c);
  h_finish(&h);
}

/* ---- the peer ends an established session ------------------------------- */

/* streamed_then_closed streams 1 MiB and its close_notify without reading,
 * then reads only until the server met the close_notify (CLOSING), with
 * part of the echo still in its queue: what a client that closes and
 * reads later (or slowly, on a slow link) leaves the server with. */
static void streamed_then_closed(struct harness *h, struct cli *c,
                                 struct stream *st) {
  small_queue_stream(h, c, st, 1u << 20, 3);
  seal_close_notify(c, &st->wire);
  for (int i = 0; i < 2000 && h_state(h, c->port) != ED_SESSION_CLOSING; i++) {
    (void)stream_push(h, c, st);
    if (h_state(h, c->port) != ED_SESSION_CLOSING) cli_read(c);
  }
  struct ed_conn *sc = the_conn(h);
  CHECK(sc && sc->st == ED_CONN_FLUSHING && sc->wq_head != NULL);
}

/* The client's close ends its sending, not what it is owed: the echo
 * still queued goes out however long the client takes to read it (up to
 * the idle timeout, as for an established session), then close_notify
 * and FIN. It used to be dropped ED_LINGER_MS after the close. */
static void test_client_close_with_echo_queued(void) {
  struct harness h;
  struct cli c;
  struct stream st;
  h_init(&h);
  streamed_then_closed(&h, &c, &st);
  h_expire(&h, ED_LINGER_MS + 1);
  CHECK_EQ(h_num_conns(&h), 1);
  read_to_eof(&h, &c);
  CHECK(c.notified && c.eof && !c.reset);
  CHECK_EQ(c.plain.len, st.total);
  CHECK(c.plain.len == st.total &&
        memcmp(c.plain.data, st.data, st.total) == 0);
  CHECK_EQ(h_num_conns(&h), 1); /* LINGER: waits for the client's FIN */
  cli_fin(&c);
  h_pump_until_freed(&h);
  h_one_outcome(&h, &c, CLOSED, "client_close", NULL);
  stream_free(&st);
  cli_free(&c);
  h_finish(&h);

  /* One that never reads is cut off at the idle timeout. */
  struct harness h2;
  h_init(&h2);
  h2.cfg.idle_timeout_ms = 5000;
  streamed_then_closed(&h2, &c, &st);
  h_expire(&h2, 4000);
  CHECK_EQ(h_num_conns(&h2), 1);
  h_expire(&h2, 5001);
  CHECK_EQ(h_num_conns(&h2), 0);
  h_one_outcome(&h2, &c, CLOSED, "client_close", NULL);
  stream_free(&st);
  cli_free(&c);
  h_finish(&h2);
}

static void test_peer_fin_and_rst_established(void) {
  for (int rst = 0; rst < 2; rst++) {
    struct harness h;
    struct cli c;
    h_init(&h);
    h_start(&h);
    establish(&h, &c);
    if (rst) {
      cli_rst(&c);
    } else {
      cli_fin(&c);
    }
    h_pump(&h);
    h_pump_until_freed(&h);
    if (!rst) {
      cli_read(&c);
      CHECK(c.notified); /* close_notify, then FIN */
    }
    h_one_outcome(&h, &c, CLOSED, rst ? "reset" : "eof", NULL);
    cli_free(&c);
    h_finish(&h);
  }
}

/* ---- the PROXY header --------------------------------------------------- */

static void test_proxy_header_split_across_reads(void) {
  struct harness h;
  struct cli c;
  uint8_t hdr[64];
  size_t len = proxy_v2(hdr);
  proxy_open(&h, &c);
  size_t cuts[] = {0, 3, 13, len};
  for (int i = 0; i < 3; i++) {
    cli_send(&h, &c, hdr + cuts[i], cuts[i + 1] - cuts[i]);
    h_pump(&h);
    CHECK_EQ(h_state(&h, c.port), ED_SESSION_ACCEPTED);
    CHECK_EQ(h.pool.submitted, 0);
  }
  struct ed_session_info s;
  CHECK_EQ(h_session(&h, c.port, &s), 0);
  CHECK_STR(s.peer, "203.0.113.7:4242");
  first_step(&h, &c);
  last_step(&h, &c);
  CHECK_EQ(h_state(&h, c.port), ED_SESSION_ESTABLISHED);
  CHECK(echoes(&h, &c, "via"));
  cli_rst(&c);
  h_pump_until_freed(&h);
  CHECK_STR(h_field(&h, CLOSED, &c, "peer"), "203.0.113.7:4242");
  cli_free(&c);
  h_finish(&h);
}

/* The header and the ClientHello in one segment; and a bad header. */
static void test_proxy_header_with_hello_and_bad(void) {
  struct harness h;
  struct cli c, bad;
  struct ed_buf out;
  proxy_open(&h, &c);
  proxy_hello(&c, &out);
  cli_send(&h, &c, out.data, out.len);
  ed_buf_cleanup(&out);
  h_pump(&h);
  CHECK_EQ(h.pool.queued, 1);
  cli_open(&h, &bad, CLI_ALICE);
  send_hello(&h, &bad); /* TLS straight away: no header */
  cli_recv(&bad);
  CHECK(bad.eof);
  h_one_outcome(&h, &bad, HS_FAILED, "protocol", NULL);
  cli_free(&bad);
  cli_free(&c);
  h_finish(&h);
}

/* ---- refusals, failures, drain ------------------------------------------ */

static void test_rejections(void) {
  struct harness h;
  struct cli a, b, d, e;
  struct ed_stats_snapshot st;
  h_init(&h);
  h.cfg.max_connections = 1;
  h_start(&h);
  cli_open(&h, &a, CLI_ALICE);
  cli_open(&h, &b, CLI_ALICE); /* over max-connections */
  h_pump(&h);
  CHECK_EQ(h_num_conns(&h), 1);
  cli_free(&a);
  h_pump_until_freed(&h); /* a closed before a byte: "other" */
  h.pool.full = 1;
  cli_open(&h, &d, CLI_ALICE); /* the pool is full */
  h_pump(&h);
  CHECK_EQ(h_num_conns(&h), 0);
  h.pool.full = 0;
  h.pool.refuse = 1;
  cli_open(&h, &e, CLI_ALICE); /* accepted; its first step refused */
  send_hello(&h, &e);
  CHECK_EQ(h_num_conns(&h), 0);
  h_stats(&h, &st);
  CHECK_EQ(st.rejected[ED_REJECT_MAX_CONNECTIONS], 1);
  CHECK_EQ(st.rejected[ED_REJECT_PENDING_HANDSHAKES], 2);
  CHECK_EQ(st.accepted, 4);
  CHECK_EQ(st.active_handshaking, 0);
  CHECK_EQ(h_log_count(&h, HS_FAILED, b.port), 0);
  CHECK_EQ(h_log_count(&h, HS_FAILED, d.port), 0);
  CHECK_EQ(h_log_count(&h, HS_FAILED, e.port), 0);
  h_one_outcome(&h, &a, HS_FAILED, "other",
                "connection closed before any byte");
  /* Each refused at once is logged (the first of each reason at least;
   * later ones within a second are counted in the next line's
   * unlogged=). */
  CHECK_EQ(h_log_count(&h, REFUSED, b.port), 1);
  CHECK_STR(h_field(&h, REFUSED, &b, "reason"), "max_connections");
  CHECK_STR(h_field(&h, REFUSED, &b, "unlogged"), "0");
  CHECK_EQ(h_log_count(&h, REFUSED, d.port), 1);
  CHECK_STR(h_field(&h, REFUSED, &d, "reason"), "pending_handshakes");
  struct cli f;
  h.l->draining = 1; /* as a drain does, listeners aside */
  cli_open(&h, &f, CLI_ALICE);
  h_pump(&h);
  h.l->draining = 0;
  CHECK_EQ(h_log_count(&h, REFUSED, f.port), 1);
  CHECK_STR(h_field(&h, REFUSED, &f, "reason"), "draining");
  cli_free(&b);
  cli_free(&d);
  cli_free(&e);
  cli_free(&f);
  h_finish(&h);
}

/* A client without a certificate: the step fails, its alert is flushed
 * to the client before the FIN, one line with the TLS reason. */
static void test_handshake_failure_alert(void) {
  struct harness h;
  struct cli c;
  h_init(&h);
  h_start(&h);
  cli_open(&h, &c, CLI_NO_CERT);
  first_step(&h, &c);
  last_step(&h, &c);
  cli_read(&c);
  CHECK(c.tls_failed); /* the alert */
  cli_recv(&c);
  CHECK(c.eof);
  cli_fin(&c);
  h_pump_until_freed(&h);
  h_one_outcome(&h, &c, HS_FAILED, "no_client_cert", NULL);
  CHECK_EQ(all_hs_errors(&h), 1);
  cli_free(&c);
  h_finish(&h);
}

static void test_drain(void) {
  struct harness h;
  struct cli est, hs;
  h_init(&h);
  h_start(&h);
  establish(&h, &est);
  cli_open(&h, &hs, CLI_ALICE);
  ed_loop_post_drain(h.l);
  h_pump(&h);
  cli_read(&est);
  CHECK(est.notified);
  cli_recv(&hs);
  CHECK(hs.eof || hs.reset);
  cli_fin(&est);
  h_pump_until_freed(&h);
  h_one_outcome(&h, &est, CLOSED, "drain", NULL);
  h_one_outcome(&h, &hs, HS_FAILED, "other", "drain");
  cli_free(&est);
  cli_free(&hs);
  h_finish(&h);
}

/* A resumption's last step runs on the loop: no second pool trip. */
static void test_resumption_tail_on_loop(void) {
  struct harness h;
  struct cli first, c;
  h_init(&h);
  h_start(&h);
  establish(&h, &first);
  cli_open_resuming(&h, &c);
  send_hello(&h, &c);
  size_t submitted = h.pool.submitted;
  CHECK_EQ(h_pool_run(&h, 1), 1);
  last_flight(&h, &c, NULL);
  CHECK_EQ(h.pool.submitted, submitted); /* ran inline */
  struct ed_session_info s;
  CHECK_EQ(h_session(&h, c.port, &s), 0);
  CHECK_EQ(s.state, ED_SESSION_ESTABLISHED);
  CHECK_EQ(s.resumed, 1);
  cli_free(&first);
  cli_free(&c);
  h_finish(&h);
}

int main(void) {
  RUN(test_states_echo_and_client_close);
  RUN(test_bytes_after_close_notify);
  RUN(test_bad_record_detail);
  RUN(test_echo_record_boundaries);
  RUN(test_deferred_accept_reads_hello);
  RUN(test_data_while_step_in_pool);
  RUN(test_stream_while_step_in_pool);
  RUN(test_fin_after_last_flight_in_pool);
  RUN(test_rst_after_last_flight_in_pool);
  RUN(test_fin_rst_mid_handshake_in_pool);
  RUN(test_peer_gone_before_first_step);
  RUN(test_close_while_step_in_pool);
  RUN(test_backpressure);
  RUN(test_read_burst_yields);
  RUN(test_yielded_then_closed);
  RUN(test_idle_timeout_and_linger);
  RUN(test_handshake_timeout);
  RUN(test_kill_in_each_state);
  RUN(test_kill_while_closing);
  RUN(test_kill_with_full_queue_flushes);
  RUN(test_client_close_with_echo_queued);
  RUN(test_peer_fin_and_rst_established);
  RUN(test_proxy_header_split_across_reads);
  RUN(test_proxy_header_with_hello_and_bad);
  RUN(test_rejections);
  RUN(test_handshake_failure_alert);
  RUN(test_drain);
  RUN(test_resumption_tail_on_loop);
  return TEST_RESULT();
}

/* internal/loop tests: what a connection may cost before its handshake
 * (issue 12, "bounded cost before the handshake"), driven through the
 * harness (conn_harness.h). The first step waits for the whole
 * ClientHello, holding no more than its record headers announce and no TLS
 * engine; buffers are freed once consumed; --max-handshaking refuses at
 * accept with its own reason while established sessions go on; the
 * admission counts go back to zero. */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal/loop/conn_harness.h"
#include "internal/testing/testing.h"

/* pump_until_gone_n pumps until at most |n| connections are left. */
static void pump_until_gone_n(struct harness *h, int64_t n) {
  for (int i = 0; i < 100 && h_num_conns(h) > n; i++) h_pump(h);
  CHECK(h_num_conns(h) <= n);
}

static void pump_until_gone(struct harness *h) {
  pump_until_gone_n(h, 0);
}

/* record writes a TLS record header (handshake, TLS 1.0 framing as
 * clients send the first one) announcing |len| bytes. */
static void record(uint8_t *p, size_t len) {
  p[0] = 22, p[1] = 3, p[2] = 1;
  p[3] = (uint8_t)(len >> 8), p[4] = (uint8_t)len;
}

/* hello_header writes a ClientHello's handshake header: body |len|. */
static void hello_header(uint8_t *p, size_t len) {
  p[0] = 1;
  p[1] = (uint8_t)(len >> 16), p[2] = (uint8_t)(len >> 8), p[3] = (uint8_t)len;
}

/* ---- ed_hs_hello_need --------------------------------------------------- */

static int need(const uint8_t *p, size_t len, size_t *out) {
  return ed_hs_hello_need(p, len, out);
}

static void test_hello_need(void) {
  static uint8_t b[40000];
  size_t n;
  memset(b, 0, sizeof(b));
  CHECK_EQ(need(b, 0, &n), 1);
  CHECK_EQ(n, 5);
  record(b, 300);
  CHECK_EQ(need(b, 3, &n), 1);
  CHECK_EQ(n, 5);
  CHECK_EQ(need(b, 5, &n), 1); /* header only: wait for the record */
  CHECK_EQ(n, 305);
  hello_header(b + 5, 296);
  CHECK_EQ(need(b, 200, &n), 1);
  CHECK_EQ(n, 305);
  CHECK_EQ(need(b, 305, &n), 0); /* whole */
  CHECK_EQ(need(b, 400, &n), 0); /* and more after it */

  /* Not a ClientHello in handshake records: the engine answers. */
  memcpy(b, "GET / HTTP/1.1\r\n", 16);
  CHECK_EQ(need(b, 16, &n), 0);
  record(b, 0);
  CHECK_EQ(need(b, 5, &n), 0);
  record(b, 16385);
  CHECK_EQ(need(b, 5, &n), 0);
  record(b, 100);
  b[5] = 2; /* a ServerHello from a client */
  CHECK_EQ(need(b, 6, &n), 0);

  /* A body over 16 KiB is refused; exactly 16 KiB spans two records. */
  record(b, 16384);
  hello_header(b + 5, 16385);
  CHECK_EQ(need(b, 9, &n), ED_E_TOOBIG);
  hello_header(b + 5, 16384);
  CHECK_EQ(need(b, 9, &n), 1);
  CHECK_EQ(n, 5 + 16384);
  record(b + 5 + 16384, 4);
  CHECK_EQ(need(b, 5 + 16384 + 5, &n), 1);
  CHECK_EQ(n, 5 + 16384 + 5 + 4);
  CHECK_EQ(need(b, 5 + 16384 + 5 + 4, &n), 0);
  CHECK_EQ(5 + 16384 + 5 + 4, ED_HS_HELLO_MAX);

  /* The header itself split over records (2 + 2 bytes), then the body. */
  record(b, 2);
  b[5] = 1, b[6] = 0;
  record(b + 7, 2);
  b[12] = 0, b[13] = 10;
  CHECK_EQ(need(b, 14, &n), 1);
  CHECK_EQ(n, 19);
  record(b + 14, 10);
  CHECK_EQ(need(b, 19, &n), 1);
  CHECK_EQ(n, 29);
  CHECK_EQ(need(b, 28, &n), 1);
  CHECK_EQ(need(b, 29, &n), 0);

  /* Many tiny records: waiting stops at ED_HS_HELLO_MAX (the engine then
   * takes what came, and buffers the rest itself). */
  size_t off = 0;
  record(b, 4);
  hello_header(b + 5, 16000);
  off = 9;
  while (off + 6 <= sizeof(b)) {
    record(b + off, 1);
    b[off + 5] = 0;
    off += 6;
    if (need(b, off, &n) == 0) break;
  }
  CHECK(off <= ED_HS_HELLO_MAX + 6);
  CHECK(off > ED_HS_HELLO_MAX - 12);
}

/* ---- the first flight --------------------------------------------------- */

/* A partial record: held in |rx|, allocated as its bytes come (never past
 * the record's size), no step and no engine; the rest of it, and the step
 * runs. */
static void test_partial_record_waits(void) {
  struct harness h;
  struct cli c;
  static uint8_t rec[5 + 16384];
  h_init(&h);
  h_start(&h);
  cli_open(&h, &c, CLI_ALICE);
  record(rec, 16384);
  hello_header(rec + 5, 16380);
  memset(rec + 9, 0, sizeof(rec) - 9);
  cli_send(&h, &c, rec, 10);
  h_pump(&h);
  struct ed_conn *sc = h_conn(&h, c.port);
  CHECK(sc != NULL);
  if (!sc) return;
  CHECK_EQ(sc->rx.len, 10);
  CHECK(sc->rx.alloc <= 257); /* what came, not what the header claims */
  cli_send(&h, &c, rec + 10, sizeof(rec) - 11);
  h_pump(&h);
  CHECK_EQ(h.pool.submitted, 0);
  CHECK(sc->tls == NULL);
  CHECK_EQ(sc->rx.len, sizeof(rec) - 1);
  CHECK(sc->rx.alloc <= sizeof(rec) + 1); /* no more than the record */
  CHECK(sc->step.in.data == NULL && sc->step.out.data == NULL);
  CHECK_EQ(h_state(&h, c.port), ED_SESSION_ACCEPTED);
  cli_send(&h, &c, rec + sizeof(rec) - 1, 1);
  h_pump(&h);
  CHECK_EQ(h.pool.submitted, 1);
  CHECK(sc->rx.data == NULL); /* moved to the step */
  CHECK_EQ(sc->step.in.len, sizeof(rec));
  CHECK_EQ(h_pool_run(&h, 1), 1); /* not a real ClientHello: refused */
  cli_recv(&c);
  CHECK(c.eof || c.tls_failed);
  cli_close(&c); /* the server lingers for our FIN */
  pump_until_gone(&h);
  CHECK_EQ(h_log_count(&h, HS_FAILED, c.port), 1);
  cli_free(&c);
  h_finish(&h);
}

/* A real ClientHello sent in two halves goes to the pool once, whole;
 * after each step the buffers are given back. */
static void test_hello_halves_and_buffers_freed(void) {
  struct harness h;
  struct cli c;
  h_init(&h);
  h_start(&h);
  cli_open(&h, &c, CLI_ALICE);
  struct ed_buf hello;
  ed_buf_init(&hello, 1 << 16);
  CHECK_EQ(cli_hs_bytes(&c, &hello), 0);
  cli_send(&h, &c, hello.data, hello.len / 2);
  h_pump(&h);
  CHECK_EQ(h.pool.submitted, 0);
  cli_send(&h, &c, hello.data + hello.len / 2, hello.len - hello.len / 2);
  ed_buf_cleanup(&hello);
  h_pump(&h);
  CHECK_EQ(h.pool.submitted, 1);
  CHECK_EQ(h_pool_run(&h, 1), 1);
  struct ed_conn *sc = h_conn(&h, c.port);
  CHECK(sc != NULL);
  if (!sc) return;
  CHECK(sc->rx.data == NULL && sc->step.in.data == NULL &&
        sc->step.out.data == NULL);
  last_step(&h, &c);
  CHECK_EQ(h_state(&h, c.port), ED_SESSION_ESTABLISHED);
  CHECK(sc->rx.data == NULL && sc->step.in.data == NULL &&
        sc->step.out.data == NULL);
  CHECK(echoes(&h, &c, "ok"));
  cli_free(&c);
  h_finish(&h);
}

/* A ClientHello that says its body is over 16 KiB is refused at once:
 * protocol, "ClientHello too large", nothing buffered for it. */
static void test_hello_too_large(void) {
  struct harness h;
  struct cli c;
  uint8_t rec[9];
  h_init(&h);
  h_start(&h);
  cli_open(&h, &c, CLI_ALICE);
  record(rec, 16384);
  hello_header(rec + 5, 100000);
  cli_send(&h, &c, rec, sizeof(rec));
  h_pump(&h);
  cli_recv(&c);
  CHECK(c.eof || c.reset);
  cli_close(&c); /* the server lingers for our FIN */
  pump_until_gone(&h);
  CHECK_EQ(h.pool.submitted, 0);
  CHECK_STR(h_field(&h, HS_FAILED, &c, "reason"), "protocol");
  CHECK_STR(h_field(&h, HS_FAILED, &c, "detail"), "ClientHello too large");
  cli_free(&c);
  h_finish(&h);
}

/* With --proxy-protocol the gate starts after the header. */
static void test_proxy_then_partial_hello(void) {
  struct harness h;
  struct cli c;
  struct ed_buf out;
  proxy_open(&h, &c);
  size_t cut = proxy_hello(&c, &out) + 20; /* the header, part of the hello */
  cli_send(&h, &c, out.data, cut);
  h_pump(&h);
  CHECK_EQ(h.pool.submitted, 0);
  struct ed_session_info s;
  CHECK_EQ(h_session(&h, c.port, &s), 0);
  CHECK_STR(s.peer, "203.0.113.7:4242");
  cli_send(&h, &c, out.data + cut, out.len - cut);
  ed_buf_cleanup(&out);
  h_pump(&h);
  CHECK_EQ(h.pool.submitted, 1);
  CHECK_EQ(h_pool_run(&h, 1), 1);
  last_step(&h, &c);
  CHECK(echoes(&h, &c, "pp"));
  cli_free(&c);
  h_finish(&h);
}

/* ---- admission ---------------------------------------------------------- */

static uint64_t rejected(struct harness *h, enum ed_reject_reason r) {
  struct ed_stats_snapshot st;
  h_stats(h, &st);
  return st.rejected[r];
}

/* --max-handshaking 2: an established session does not count; two in
 * their handshake fill it, the third is refused at accept with reason
 * max_handshaking (logged), the established one keeps echoing, and a
 * slot freed by a close is taken again. */
static void test_max_handshaking(void) {
  struct harness h;
  struct cli est, a, b, x, d;
  uint8_t part[100];
  h_init(&h);
  h.cfg.max_handshaking = 2;
  h_start(&h);
  establish(&h, &est);
  record(part, 300);
  hello_header(part + 5, 296);
  memset(part + 9, 0, sizeof(part) - 9);
  cli_open(&h, &a, CLI_ALICE);
  cli_send(&h, &a, part, sizeof(part));
  cli_open(&h, &b, CLI_ALICE);
  cli_send(&h, &b, part, sizeof(part));
  CHECK_EQ(atomic_load(&h.sh.num_handshaking), 2);
  cli_open(&h, &x, CLI_ALICE);
  h_pump(&h);
  cli_recv(&x);
  CHECK(x.eof || x.reset);
  CHECK_EQ(rejected(&h, ED_REJECT_MAX_HANDSHAKING), 1);
  CHECK_EQ(rejected(&h, ED_REJECT_MAX_CONNECTIONS), 0);
  CHECK_STR(h_field(&h, REFUSED, &x, "reason"), "max_handshaking");
  CHECK_EQ(h_log_count(&h, HS_FAILED, x.port), 0);
  CHECK(echoes(&h, &est, "still"));
  cli_rst(&a); /* a slot comes free */
  for (int i = 0; i < 100 && atomic_load(&h.sh.num_handshaking) > 1; i++)
    h_pump(&h);
  CHECK_EQ(atomic_load(&h.sh.num_handshaking), 1);
  cli_open(&h, &d, CLI_ALICE);
  h_pump(&h);
  CHECK_EQ(h_state(&h, d.port), ED_SESSION_ACCEPTED);
  CHECK_EQ(rejected(&h, ED_REJECT_MAX_HANDSHAKING), 1);
  cli_free(&d);
  cli_free(&x);
  cli_free(&b);
  cli_free(&a);
  cli_free(&est);
  h_finish(&h);
  CHECK_EQ(atomic_load(&h.sh.num_handshaking), 0);
  CHECK_EQ(atomic_load(&h.sh.num_conns), 0);
}

/* The counts each refusal and close gives back: max_connections refuses
 * before max_handshaking is looked at, a refusal on the connection's own
 * loop (draining, the pool full) returns the reserved slot, and after
 * everything closed both counts are zero. */
static void test_admission_counts(void) {
  struct harness h;
  struct cli a, b, d, e;
  h_init(&h);
  h.cfg.max_connections = 1;
  h.cfg.max_handshaking = 1;
  h_start(&h);
  cli_open(&h, &a, CLI_ALICE);
  cli_open(&h, &b, CLI_ALICE);
  h_pump(&h);
  CHECK_EQ(rejected(&h, ED_REJECT_MAX_CONNECTIONS), 1);
  CHECK_EQ(rejected(&h, ED_REJECT_MAX_HANDSHAKING), 0);
  CHECK_EQ(atomic_load(&h.sh.num_conns), 1);
  cli_rst(&a);
  pump_until_gone_n(&h, 0);
  CHECK_EQ(atomic_load(&h.sh.num_conns), 0);
  CHECK_EQ(atomic_load(&h.sh.num_handshaking), 0);
  h.pool.full = 1;
  cli_open(&h, &d, CLI_ALICE);
  h_pump(&h);
  h.pool.full = 0;
  CHECK_EQ(rejected(&h, ED_REJECT_PENDING_HANDSHAKES), 1);
  CHECK_EQ(atomic_load(&h.sh.num_conns), 0);
  CHECK_EQ(atomic_load(&h.sh.num_handshaking), 0);
  establish(&h, &e); /* the whole way, then both counts let go of it */
  CHECK_EQ(atomic_load(&h.sh.num_conns), 1);
  CHECK_EQ(atomic_load(&h.sh.num_handshaking), 0);
  cli_free(&e);
  cli_free(&d);
  cli_free(&b);
  cli_free(&a);
  h_finish(&h);
  CHECK_EQ(atomic_load(&h.sh.num_conns), 0);
}

int main(void) {
  RUN(test_hello_need);
  RUN(test_partial_record_waits);
  RUN(test_hello_halves_and_buffers_freed);
  RUN(test_hello_too_large);
  RUN(test_proxy_then_partial_hello);
  RUN(test_max_handshaking);
  RUN(test_admission_counts);
  return TEST_RESULT();
}

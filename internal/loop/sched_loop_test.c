/* internal/loop tests: the loop thread's scheduling class (sched.h) on a
 * real loop, run on the test's own thread (conn_harness), so the class
 * the loop gives itself is this thread's. With a handshake step waiting
 * in the pool and no long-lived session speaking, the loop runs as
 * SCHED_BATCH; a session established long enough ago that sends turns it
 * back to SCHED_OTHER before the next poll, and its bytes are echoed; a
 * session that sends right after its handshake does not; the pool idle
 * for the quiet span does too. With --handshake-share 0 the loop never
 * switches. "Long-lived" is set to a minute here, and a session is made
 * that old by moving its establishment time back, so that no test
 * depends on how fast the machine runs it. */
#include <sched.h>
#include <string.h>
#include <time.h>

#include "internal/loop/conn_harness.h"
#include "internal/testing/testing.h"

/* echoed sends |msg| on |c| and checks it comes back. */
static void echoed(struct harness *h, struct cli *c, const char *msg) {
  size_t before = c->plain.len, n = strlen(msg);
  cli_write(h, c, msg, n);
  for (int i = 0; i < 2000 && c->plain.len < before + n; i++) {
    h_pump(h);
    cli_read(c);
  }
  CHECK_EQ(c->plain.len, before + n);
  CHECK(memcmp(c->plain.data + before, msg, n) == 0);
}

#define LONG_MS 60000

/* start: a harness whose loop switches (share on), long-lived at a
 * minute. */
static void start(struct harness *h, uint32_t share) {
  h_init(h);
  h->cfg.handshake_share = share;
  h_start(h);
  h->l->sched.long_ms = LONG_MS;
  CHECK_EQ(sched_getscheduler(0), SCHED_OTHER);
}

/* hello_waits opens |c| and sends its ClientHello, whose step then waits
 * in the (fake) pool: the pool is busy until the test runs it. */
static void hello_waits(struct harness *h, struct cli *c) {
  cli_open(h, c, CLI_ALICE);
  CHECK_EQ(cli_hs(h, c), 0);
  h_pump(h);
  CHECK_EQ(h->pool.queued, 1);
  h_pump(h);
}

static void test_batch_while_only_handshakes(void) {
  struct harness h;
  struct cli old, young, waiting;
  start(&h, 30);
  establish(&h, &old);
  establish(&h, &young);
  hello_waits(&h, &waiting);
  CHECK_EQ(sched_getscheduler(0), SCHED_BATCH);

  /* Bytes from a session established just now: the handshake load's own
   * (connect, echo, close). The loop stays batch. */
  echoed(&h, &young, "young");
  h_pump(&h);
  CHECK_EQ(sched_getscheduler(0), SCHED_BATCH);

  /* The same from a session established a minute ago: back to
   * SCHED_OTHER before the next poll. */
  struct ed_conn *c = h_conn(&h, old.port);
  CHECK(c != NULL);
  c->est_ms -= LONG_MS;
  echoed(&h, &old, "long-lived");
  h_pump(&h);
  CHECK_EQ(sched_getscheduler(0), SCHED_OTHER);
  CHECK_EQ(h.l->sched.switches, 2);
  struct ed_stats_snapshot st;
  h_stats(&h, &st);
  CHECK_EQ(st.batch_switches, 1); /* counted, and not in batch now */
  CHECK_EQ(st.loops_batch, 0);

  cli_free(&old);
  cli_free(&young);
  cli_free(&waiting);
  h_finish(&h);
}

/* No handshake ever in the pool: the loop never switches. */
static void test_no_switch_without_handshakes(void) {
  struct harness h;
  start(&h, 30);
  h_pump(&h);
  h_pump(&h);
  CHECK_EQ(sched_getscheduler(0), SCHED_OTHER);
  CHECK_EQ(h.l->sched.switches, 0);
  h_finish(&h);
}

/* The pool idle for the quiet span: back to SCHED_OTHER (the span set
 * short here; the test only waits longer than it). */
static void test_back_when_the_pool_is_idle(void) {
  struct harness h;
  struct cli a;
  start(&h, 30);
  h.l->sched.quiet_ms = 20;
  hello_waits(&h, &a);
  CHECK_EQ(sched_getscheduler(0), SCHED_BATCH);
  struct ed_stats_snapshot st;
  h_stats(&h, &st);
  CHECK_EQ(st.loops_batch, 1);
  CHECK_EQ(h_pool_run(&h, 1), 1);
  struct timespec ts = {0, 40 * 1000 * 1000};
  nanosleep(&ts, NULL);
  h_pump(&h);
  CHECK_EQ(sched_getscheduler(0), SCHED_OTHER);
  CHECK_EQ(h.l->sched.switches, 2);
  cli_free(&a);
  h_finish(&h);
}

/* --handshake-share 0 asks for established sessions first, always: the
 * loop keeps SCHED_OTHER whatever the pool does. */
static void test_share_off_never_switches(void) {
  struct harness h;
  struct cli a, waiting;
  start(&h, 0);
  establish(&h, &a);
  hello_waits(&h, &waiting);
  CHECK_EQ(sched_getscheduler(0), SCHED_OTHER);
  CHECK_EQ(h.l->sched.switches, 0);
  cli_free(&a);
  cli_free(&waiting);
  h_finish(&h);
}

int main(void) {
  RUN(test_no_switch_without_handshakes);
  RUN(test_batch_while_only_handshakes);
  RUN(test_back_when_the_pool_is_idle);
  RUN(test_share_off_never_switches);
  return TEST_RESULT();
}

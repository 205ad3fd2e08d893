/* internal/loop tests: the loop thread's scheduling class (sched.h) on a
 * real loop, run on the test's own thread (conn_harness), so the class
 * the loop gives itself is this thread's. With a handshake step waiting
 * in the pool and no long-lived session speaking, the loop runs as
 * SCHED_BATCH; a session established long enough ago that sends turns it
 * back to SCHED_OTHER before the next poll, and its bytes are echoed; a
 * session that sends right after its handshake does not. */
#include <sched.h>
#include <string.h>

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

static void test_batch_while_only_handshakes(void) {
  struct harness h;
  struct cli old, young, waiting;
  h_init(&h);
  h_start(&h);
  CHECK_EQ(sched_getscheduler(0), SCHED_OTHER);
  establish(&h, &old);
  establish(&h, &young);
  /* A handshake whose first step waits in the pool: the pool is busy. */
  cli_open(&h, &waiting, CLI_ALICE);
  CHECK_EQ(cli_hs(&h, &waiting), 0);
  h_pump(&h);
  CHECK_EQ(h.pool.queued, 1);
  h_pump(&h);
  CHECK_EQ(sched_getscheduler(0), SCHED_BATCH);

  /* Bytes from a session established just now: the handshake load's own
   * (connect, echo, close). The loop stays batch. */
  echoed(&h, &young, "young");
  h_pump(&h);
  CHECK_EQ(sched_getscheduler(0), SCHED_BATCH);

  /* The same from a session established ED_SCHED_LONG_MS ago: back to
   * SCHED_OTHER before the next poll. */
  struct ed_conn *c = h_conn(&h, old.port);
  CHECK(c != NULL);
  c->est_ms -= ED_SCHED_LONG_MS;
  echoed(&h, &old, "long-lived");
  h_pump(&h);
  CHECK_EQ(sched_getscheduler(0), SCHED_OTHER);
  CHECK_EQ(h.l->sched.switches, 2);

  cli_free(&old);
  cli_free(&young);
  cli_free(&waiting);
  h_finish(&h);
}

/* No handshake ever in the pool: the loop never switches. */
static void test_no_switch_without_handshakes(void) {
  struct harness h;
  h_init(&h);
  h_start(&h);
  h_pump(&h);
  h_pump(&h);
  CHECK_EQ(sched_getscheduler(0), SCHED_OTHER);
  CHECK_EQ(h.l->sched.switches, 0);
  h_finish(&h);
}

int main(void) {
  RUN(test_no_switch_without_handshakes);
  RUN(test_batch_while_only_handshakes);
  return TEST_RESULT();
}

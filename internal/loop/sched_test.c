/* internal/loop sched tests: when the loop thread runs as SCHED_BATCH
 * (sched.h), on a clock the test drives, and the switch itself on the
 * test's own thread. Batch only while the pool has had work within the
 * quiet second and no long-lived session sent in it; sessions younger
 * than ED_SCHED_LONG_MS never count; the class keeps the thread's nice
 * value. */
#include "internal/loop/sched.h"

#include <sched.h>
#include <sys/resource.h>

#include "internal/testing/testing.h"

#define T0 5000000u /* uv_now of the test's start, ms */

static void test_no_batch_without_handshakes(void) {
  struct ed_sched s;
  ed_sched_init(&s, 1);
  CHECK_EQ(ed_sched_want_batch(&s, 0, T0), 0);
  CHECK_EQ(ed_sched_want_batch(&s, 0, T0 + 5000), 0);
}

/* The pool busy and nobody long-lived speaking: batch, until the pool
 * has been idle for the quiet second. */
static void test_batch_while_handshakes_only(void) {
  struct ed_sched s;
  ed_sched_init(&s, 1);
  CHECK_EQ(ed_sched_want_batch(&s, 1, T0), 1);
  CHECK_EQ(ed_sched_want_batch(&s, 0, T0 + ED_SCHED_QUIET_MS - 1), 1);
  CHECK_EQ(ed_sched_want_batch(&s, 0, T0 + ED_SCHED_QUIET_MS), 0);
  CHECK_EQ(ed_sched_want_batch(&s, 1, T0 + 2 * ED_SCHED_QUIET_MS), 1);
}

/* A long-lived session that sends turns batch off at once, for the quiet
 * second after its last bytes. */
static void test_long_lived_session_turns_it_off(void) {
  struct ed_sched s;
  ed_sched_init(&s, 1);
  uint32_t est = T0 - ED_SCHED_LONG_MS;
  CHECK_EQ(ed_sched_want_batch(&s, 1, T0), 1);
  ed_sched_spoke(&s, est, T0 + 10);
  CHECK_EQ(ed_sched_want_batch(&s, 1, T0 + 10), 0);
  ed_sched_spoke(&s, est, T0 + 500);
  CHECK_EQ(ed_sched_want_batch(&s, 1, T0 + 500 + ED_SCHED_QUIET_MS - 1), 0);
  CHECK_EQ(ed_sched_want_batch(&s, 1, T0 + 500 + ED_SCHED_QUIET_MS), 1);
}

/* A session that sends within ED_SCHED_LONG_MS of its handshake is part
 * of the handshake load (connect, echo, close): it does not count. */
static void test_young_session_does_not_count(void) {
  struct ed_sched s;
  ed_sched_init(&s, 1);
  CHECK_EQ(ed_sched_want_batch(&s, 1, T0), 1);
  ed_sched_spoke(&s, T0, T0 + ED_SCHED_LONG_MS - 1);
  CHECK_EQ(ed_sched_want_batch(&s, 1, T0 + ED_SCHED_LONG_MS - 1), 1);
  ed_sched_spoke(&s, T0, T0 + ED_SCHED_LONG_MS);
  CHECK_EQ(ed_sched_want_batch(&s, 1, T0 + ED_SCHED_LONG_MS), 0);
}

/* The establishment time keeps uv_now's low 32 bits: ages across their
 * wrap still come out right. */
static void test_age_across_the_wrap(void) {
  struct ed_sched s;
  ed_sched_init(&s, 1);
  uint64_t now = (1ull << 32) + 20; /* 36 ms after est */
  uint32_t est = 0xFFFFFFF0u;
  ed_sched_spoke(&s, est, now);
  CHECK_EQ(s.spoke, 0);
  ed_sched_spoke(&s, est, now + ED_SCHED_LONG_MS);
  CHECK_EQ(s.spoke, 1);
}

/* Off (--handshake-share 0, a policy not SCHED_OTHER at start, or a
 * switch that failed): the loop never asks for batch. */
static void test_disabled_stays_off(void) {
  struct ed_sched s;
  ed_sched_init(&s, 0);
  CHECK_EQ(ed_sched_want_batch(&s, 1, T0), 0);
  CHECK_EQ(ed_sched_want_batch(&s, 1, T0 + 5000), 0);
}

/* The switch, on this thread: SCHED_BATCH and back, the nice value kept. */
static void test_apply_switches_this_thread(void) {
  struct ed_sched s;
  ed_sched_init(&s, 1);
  /* A nice value of our own (raising it needs no privilege). */
  int nice = getpriority(PRIO_PROCESS, 0);
  nice = nice < 16 ? nice + 3 : nice;
  CHECK_EQ(setpriority(PRIO_PROCESS, 0, nice), 0);
  CHECK_EQ(ed_sched_apply(&s, 1), 0);
  CHECK_EQ(sched_getscheduler(0), SCHED_BATCH);
  CHECK_EQ(getpriority(PRIO_PROCESS, 0), nice);
  CHECK_EQ(s.batch, 1);
  CHECK_EQ(ed_sched_apply(&s, 0), 0);
  CHECK_EQ(sched_getscheduler(0), SCHED_OTHER);
  CHECK_EQ(getpriority(PRIO_PROCESS, 0), nice);
  CHECK_EQ(s.batch, 0);
  CHECK_EQ(s.switches, 2);
  CHECK_EQ(s.disabled, 0);
}

int main(void) {
  RUN(test_no_batch_without_handshakes);
  RUN(test_batch_while_handshakes_only);
  RUN(test_long_lived_session_turns_it_off);
  RUN(test_young_session_does_not_count);
  RUN(test_age_across_the_wrap);
  RUN(test_disabled_stays_off);
  RUN(test_apply_switches_this_thread);
  return TEST_RESULT();
}

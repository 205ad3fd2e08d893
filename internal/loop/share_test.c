/* internal/loop share tests: the --handshake-share accounting (share.h)
 * on a clock the test drives. A loop saturated by other work naps so
 * that the pool gets its share; a loop that sleeps enough in poll never
 * naps; with the pool idle, or the share off, nothing is owed; naps are
 * bounded. */
#include "internal/loop/share.h"

#include "internal/testing/testing.h"

#define US 1000u

/* The loop's total time asleep in poll, as libuv's idle-time metric. */
static uint64_t idle_total;

/* iterate runs one loop iteration from |*now|: |busy| ns of work since
 * the last poll, then (after any nap) a poll that sleeps |idle| ns.
 * Returns the nap asked for. */
static uint64_t iterate(struct ed_share *s, uint64_t *now, uint64_t busy,
                        uint64_t idle, int pool_busy) {
  *now += busy;
  uint64_t nap = ed_share_before_poll(s, pool_busy, *now, idle_total);
  if (nap) {
    ed_share_napped(s, *now, *now + nap);
    *now += nap;
  }
  *now += idle;
  idle_total += idle;
  return nap;
}

/* A saturated loop (never idle in poll) leaves the pool 25 %: over a long
 * run the naps add up to a third of its own running time. */
static void test_saturated_loop_naps_for_the_share(void) {
  struct ed_share s;
  uint64_t now = 1000000000u, ran = 0;
  ed_share_init(&s, 25);
  for (int i = 0; i < 10000; i++) {
    iterate(&s, &now, 50 * US, 0, 1);
    ran += 50 * US;
  }
  double share = (double)s.napped_ns / (double)(s.napped_ns + ran);
  CHECK(share > 0.24 && share < 0.26);
  CHECK(s.naps > 0);
  /* Each nap at least the minimum (worth its two context switches) and
   * at most the maximum (what an established session may wait). */
  CHECK(s.napped_ns / s.naps >= ED_SHARE_NAP_MIN_NS);
  CHECK(s.napped_ns / s.naps <= ED_SHARE_NAP_MAX_NS);
}

/* Other shares, same rule. */
static void test_share_follows_the_percent(void) {
  static const uint32_t pct[] = {10, 50, 90};
  for (size_t k = 0; k < sizeof(pct) / sizeof(pct[0]); k++) {
    struct ed_share s;
    uint64_t now = 1, ran = 0;
    ed_share_init(&s, pct[k]);
    for (int i = 0; i < 20000; i++) {
      iterate(&s, &now, 100 * US, 0, 1);
      ran += 100 * US;
    }
    double share = (double)s.napped_ns / (double)(s.napped_ns + ran);
    CHECK(share > pct[k] / 100.0 - 0.01 && share < pct[k] / 100.0 + 0.01);
  }
}

/* A loop that already sleeps in poll at least the share's worth never
 * naps: the pool had the core meanwhile. */
static void test_idle_loop_never_naps(void) {
  struct ed_share s;
  uint64_t now = 1;
  ed_share_init(&s, 25);
  for (int i = 0; i < 10000; i++)
    CHECK_EQ(iterate(&s, &now, 60 * US, 20 * US, 1), 0);
  CHECK_EQ(s.naps, 0);
}

/* Nothing for the pool to do, or the share off: never a nap, and a debt
 * run up while the pool worked is forgotten once it is idle. */
static void test_no_nap_without_handshakes_or_share(void) {
  struct ed_share s;
  uint64_t now = 1;
  ed_share_init(&s, 25);
  for (int i = 0; i < 1000; i++) CHECK_EQ(iterate(&s, &now, 500 * US, 0, 0), 0);
  iterate(&s, &now, 150 * US, 0, 1); /* owes 50 us: under the minimum */
  iterate(&s, &now, 150 * US, 0, 0); /* the pool went idle */
  CHECK_EQ(s.owed_ns, 0);
  CHECK_EQ(iterate(&s, &now, 150 * US, 0, 1), 0);
  ed_share_init(&s, 0);
  for (int i = 0; i < 1000; i++) CHECK_EQ(iterate(&s, &now, 500 * US, 0, 1), 0);
  CHECK_EQ(s.naps, 0);
}

/* Banked idle time is bounded: after a long quiet spell, a saturated
 * loop starts paying the pool within a few milliseconds. */
static void test_credit_is_bounded(void) {
  struct ed_share s;
  uint64_t now = 1, ran = 0;
  ed_share_init(&s, 25);
  iterate(&s, &now, 10 * US, 5000000000u, 1); /* 5 s asleep in poll */
  while (s.naps == 0 && ran < 100000000u) {
    iterate(&s, &now, 100 * US, 0, 1);
    ran += 100 * US;
  }
  CHECK_EQ(s.naps, 1);
  CHECK(ran <= 4 * ED_SHARE_CREDIT_NS + 4 * ED_SHARE_NAP_MIN_NS);
}

/* One very long busy spell is not owed for ever: the debt is capped, and
 * each nap stays within the maximum while it is paid off. */
static void test_debt_is_capped(void) {
  struct ed_share s;
  uint64_t now = 1;
  ed_share_init(&s, 50);
  iterate(&s, &now, 0, 0, 1);                          /* counting from here */
  uint64_t nap = iterate(&s, &now, 1000000000u, 0, 1); /* 1 s of work */
  CHECK_EQ(nap, ED_SHARE_NAP_MAX_NS);
  CHECK(s.owed_ns <= ED_SHARE_DEBT_MAX_NS);
  uint64_t naps = 1;
  while (iterate(&s, &now, 0, 0, 1)) naps++;
  CHECK(naps <= ED_SHARE_DEBT_MAX_NS / ED_SHARE_NAP_MAX_NS + 1);
}

int main(void) {
  RUN(test_saturated_loop_naps_for_the_share);
  RUN(test_share_follows_the_percent);
  RUN(test_idle_loop_never_naps);
  RUN(test_no_nap_without_handshakes_or_share);
  RUN(test_credit_is_bounded);
  RUN(test_debt_is_capped);
  return TEST_RESULT();
}

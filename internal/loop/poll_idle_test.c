/* internal/loop tests: the loop's own count of its time asleep in poll,
 * which --handshake-share weighs (loop.c on_prepare, ed_loop_awake; it
 * replaced libuv's idle-time metric, which costs a zero-timeout
 * epoll_wait before every poll): a poll that sleeps is counted, time
 * the loop thread spends running is not, and nothing is counted with
 * the share off. */
#include "internal/loop/conn_harness.h"
#include "internal/testing/testing.h"

#define MS 1000000ull

static void on_timer(uv_timer_t *t) {
  (void)t;
}

/* run_once_after sleeps in one poll until a |ms| timer fires. */
static void run_once_after(struct harness *h, uv_timer_t *t, uint64_t ms) {
  uv_timer_start(t, on_timer, ms, 0);
  uv_run(&h->l->uv, UV_RUN_ONCE);
}

static void spin_ms(uint64_t ms) {
  uint64_t end = uv_hrtime() + ms * MS;
  while (uv_hrtime() < end) {
  }
}

static void test_sleep_counted_work_not(uint32_t share) {
  struct harness h;
  uv_timer_t t;
  h_init(&h);
  h.cfg.handshake_share = share;
  h_start(&h);
  uv_timer_init(&h.l->uv, &t);
  h_pump(&h);
  uint64_t before = h.l->poll_idle_ns;
  run_once_after(&h, &t, 30);
  uint64_t slept = h.l->poll_idle_ns - before;
  /* The thread busy for 30 ms between iterations, then a poll that
   * returns at once: not asleep, not counted. */
  before = h.l->poll_idle_ns;
  spin_ms(30);
  uv_run(&h.l->uv, UV_RUN_NOWAIT);
  uint64_t ran = h.l->poll_idle_ns - before;
  if (share) {
    CHECK(slept >= 25 * MS);
    CHECK(slept < 1000 * MS);
    CHECK(ran < 5 * MS);
  } else {
    CHECK_EQ(slept, 0);
    CHECK_EQ(ran, 0);
  }
  uv_close((uv_handle_t *)&t, NULL);
  h_pump(&h);
  h_finish(&h);
}

static void test_share_on(void) {
  test_sleep_counted_work_not(25);
}

static void test_share_off(void) {
  test_sleep_counted_work_not(0);
}

int main(void) {
  RUN(test_share_on);
  RUN(test_share_off);
  return TEST_RESULT();
}

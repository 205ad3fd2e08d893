/* internal/loop tests: the loop's own count of its time off the core in
 * poll, which --handshake-share weighs while the pool has work (loop.c
 * on_prepare, ed_loop_awake; it replaced libuv's idle-time metric, which
 * costs a zero-timeout epoll_wait before every poll): a poll that sleeps
 * is counted; time the loop thread spends running is not, between polls
 * or inside one (a callback of the poll phase that runs before the one
 * that ends the count); nothing is counted with the share off or the
 * pool idle. */
#include <stdio.h>
#include <unistd.h>

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

/* runq_wait_ns: how long this thread has waited on a run queue, in all
 * (the kernel's schedstat): time it really was off its core while
 * runnable, which the count may rightly include on a busy machine. */
static uint64_t runq_wait_ns(void) {
  unsigned long long run = 0, wait = 0;
  FILE *f = fopen("/proc/thread-self/schedstat", "r");
  CHECK(f != NULL);
  if (!f) return 0;
  CHECK_EQ(fscanf(f, "%llu %llu", &run, &wait), 2);
  fclose(f);
  return wait;
}

static void spin_ms(uint64_t ms) {
  uint64_t end = uv_hrtime() + ms * MS;
  while (uv_hrtime() < end) {
  }
}

static void on_readable_spin(uv_poll_t *p, int status, int events) {
  (void)status;
  (void)events;
  char c;
  CHECK_EQ(read(*(int *)p->data, &c, 1), 1);
  spin_ms(30);
}

static void test_sleep_counted_work_not(uint32_t share, size_t pool_work) {
  struct harness h;
  uv_timer_t t;
  h_init(&h);
  h.cfg.handshake_share = share;
  h_start(&h);
  /* The loop runs on this thread: keep it SCHED_OTHER (sched.h), so the
   * spins below are preempted only as any thread is. */
  ed_sched_init(&h.l->sched, 0);
  uv_timer_init(&h.l->uv, &t);
  h_pump(&h);
  h.pool.queued = pool_work; /* what the fake pool says it has */
  uint64_t before = h.l->poll_idle_ns;
  run_once_after(&h, &t, 30);
  uint64_t slept = h.l->poll_idle_ns - before;
  /* The thread busy for 30 ms between iterations, then a poll that
   * returns at once: not asleep, not counted. */
  before = h.l->poll_idle_ns;
  spin_ms(30);
  uv_run(&h.l->uv, UV_RUN_NOWAIT);
  uint64_t ran = h.l->poll_idle_ns - before;
  /* A poll that returns at once into a callback that keeps the thread
   * busy for 30 ms before the loop's own callbacks run: a saturated
   * loop's polls, magnified. Its wall time is the loop's, not asleep. */
  int fds[2];
  CHECK_EQ(pipe(fds), 0);
  uv_poll_t p;
  uv_poll_init(&h.l->uv, &p, fds[0]);
  p.data = &fds[0];
  uv_poll_start(&p, UV_READABLE, on_readable_spin);
  CHECK_EQ(write(fds[1], "x", 1), 1);
  before = h.l->poll_idle_ns;
  uint64_t waited = runq_wait_ns();
  uv_run(&h.l->uv, UV_RUN_NOWAIT);
  uint64_t inside = h.l->poll_idle_ns - before;
  waited = runq_wait_ns() - waited;
  if (share && pool_work) {
    CHECK(slept >= 25 * MS);
    CHECK(slept < 1000 * MS);
    CHECK(ran < 5 * MS);
    /* Of the 30 ms, only what other threads took from it may count. */
    CHECK(inside < 5 * MS + waited);
  } else {
    CHECK_EQ(slept, 0);
    CHECK_EQ(ran, 0);
    CHECK_EQ(inside, 0);
  }
  h.pool.queued = 0;
  uv_close((uv_handle_t *)&p, NULL);
  uv_close((uv_handle_t *)&t, NULL);
  h_pump(&h);
  close(fds[0]);
  close(fds[1]);
  h_finish(&h);
}

static void test_share_on(void) {
  test_sleep_counted_work_not(25, 1);
}

static void test_share_on_pool_idle(void) {
  test_sleep_counted_work_not(25, 0);
}

static void test_share_off(void) {
  test_sleep_counted_work_not(0, 1);
}

int main(void) {
  RUN(test_share_on);
  RUN(test_share_on_pool_idle);
  RUN(test_share_off);
  return TEST_RESULT();
}

/* internal/loop wake tests: many threads hand items to the loop the way
 * the handshake pool does (lock-free push, signal only when the list was
 * empty) and the loop gets every item exactly once, with no lost wake-up;
 * signals coalesce; a closed wake lets the loop end. */
#include "internal/loop/wake.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "internal/base/base.h"
#include "internal/testing/testing.h"

#define PRODUCERS 4
#define PER_PRODUCER 20000
#define PER_WAKE 16 /* as the loop: at most this many items per callback */

struct item {
  struct item *next;
  atomic_int seen;
};

struct sink {
  struct ed_wake wake;
  uv_timer_t deadline;
  _Atomic(struct item *) done; /* pushed by producers */
  struct item *ready;          /* taken, not yet handled (loop only) */
  int handled, callbacks, timed_out;
};

struct producer {
  struct sink *s;
  struct item *items;
  pthread_t th;
};

static void *produce(void *arg) {
  struct producer *p = arg;
  for (int i = 0; i < PER_PRODUCER; i++) {
    struct item *it = &p->items[i];
    struct item *head = atomic_load_explicit(&p->s->done, memory_order_relaxed);
    do {
      it->next = head;
    } while (!atomic_compare_exchange_weak_explicit(
        &p->s->done, &head, it, memory_order_release, memory_order_relaxed));
    if (!head) ed_wake_signal(&p->s->wake);
    if (i % 64 == 0) sched_yield(); /* let the list drain: more signals */
  }
  return NULL;
}

static void on_items(struct ed_wake *w) {
  struct sink *s = w->data;
  s->callbacks++;
  struct item *taken =
      atomic_exchange_explicit(&s->done, NULL, memory_order_acquire);
  while (taken) { /* order does not matter here, only exactly-once */
    struct item *it = taken;
    taken = it->next;
    it->next = s->ready;
    s->ready = it;
  }
  for (int n = 0; n < PER_WAKE && s->ready; n++) {
    struct item *it = s->ready;
    s->ready = it->next;
    atomic_fetch_add(&it->seen, 1);
    s->handled++;
  }
  if (s->ready) ed_wake_signal(w); /* the rest on the next iteration */
  if (s->handled == PRODUCERS * PER_PRODUCER) {
    ed_wake_close(w);
    uv_close((uv_handle_t *)&s->deadline, NULL);
  }
}

static void on_deadline(uv_timer_t *t) {
  struct sink *s = t->data;
  s->timed_out = 1; /* a lost wake-up: the loop slept with items queued */
  ed_wake_close(&s->wake);
  uv_close((uv_handle_t *)t, NULL);
}

static void test_every_item_once(void) {
  uv_loop_t uv;
  struct sink s = {0};
  struct producer ps[PRODUCERS];
  CHECK_EQ(uv_loop_init(&uv), 0);
  s.wake.data = &s;
  CHECK_EQ(ed_wake_init(&s.wake, &uv, on_items), 0);
  uv_timer_init(&uv, &s.deadline);
  s.deadline.data = &s;
  uv_timer_start(&s.deadline, on_deadline, 20000, 0);
  for (int i = 0; i < PRODUCERS; i++) {
    ps[i].s = &s;
    ps[i].items = ed_calloc(PER_PRODUCER, sizeof(struct item));
    CHECK_EQ(pthread_create(&ps[i].th, NULL, produce, &ps[i]), 0);
  }
  uv_run(&uv, UV_RUN_DEFAULT);
  for (int i = 0; i < PRODUCERS; i++) pthread_join(ps[i].th, NULL);
  CHECK(!s.timed_out);
  CHECK_EQ(s.handled, PRODUCERS * PER_PRODUCER);
  int once = 1;
  for (int i = 0; i < PRODUCERS; i++) {
    for (int j = 0; j < PER_PRODUCER; j++)
      once &= atomic_load(&ps[i].items[j].seen) == 1;
    free(ps[i].items);
  }
  CHECK(once);
  CHECK(s.callbacks >= PRODUCERS * PER_PRODUCER / PER_WAKE);
  CHECK_EQ(uv_loop_close(&uv), 0);
  ed_wake_cleanup(&s.wake);
  CHECK_EQ(s.wake.fd, -1);
}

static int count_cb_calls;
static void count_cb(struct ed_wake *w) {
  (void)w;
  count_cb_calls++;
}

/* Signals before the loop looks run the callback once; after close the
 * loop ends, and a late signal (the fd is still open) does no harm. */
static void test_signals_coalesce_and_close(void) {
  uv_loop_t uv;
  struct ed_wake w;
  CHECK_EQ(uv_loop_init(&uv), 0);
  CHECK_EQ(ed_wake_init(&w, &uv, count_cb), 0);
  count_cb_calls = 0;
  for (int i = 0; i < 100; i++) ed_wake_signal(&w);
  uv_run(&uv, UV_RUN_NOWAIT);
  CHECK_EQ(count_cb_calls, 1);
  uv_run(&uv, UV_RUN_NOWAIT); /* nothing new: no call */
  CHECK_EQ(count_cb_calls, 1);
  ed_wake_signal(&w);
  uv_run(&uv, UV_RUN_NOWAIT);
  CHECK_EQ(count_cb_calls, 2);
  ed_wake_close(&w);
  ed_wake_signal(&w);
  CHECK_EQ(uv_run(&uv, UV_RUN_DEFAULT), 0); /* returns: nothing alive */
  CHECK_EQ(count_cb_calls, 2);
  CHECK_EQ(uv_loop_close(&uv), 0);
  ed_wake_cleanup(&w);
  CHECK_EQ(w.fd, -1);
}

int main(void) {
  RUN(test_every_item_once);
  RUN(test_signals_coalesce_and_close);
  return TEST_RESULT();
}

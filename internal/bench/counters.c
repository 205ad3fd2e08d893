/* internal/bench — the counters one client loop bumps (counters.h). */
#include "internal/bench/counters.h"

#include <time.h>

static void bump(_Atomic uint64_t *v, uint64_t n) {
  atomic_fetch_add_explicit(v, n, memory_order_relaxed);
}

/* The writer makes |seq| odd, changes the counters, makes it even again;
 * the fences order the counters between the two. */
void ed_bench__account(struct ed_bench__counters *c, uint64_t ops,
                       uint64_t bytes, uint64_t resumed) {
  uint32_t seq = atomic_load_explicit(&c->seq, memory_order_relaxed);
  atomic_store_explicit(&c->seq, seq + 1, memory_order_relaxed);
  atomic_thread_fence(memory_order_release);
  bump(&c->ops, ops);
  bump(&c->bytes, bytes);
  bump(&c->resumed, resumed);
  atomic_store_explicit(&c->seq, seq + 2, memory_order_release);
}

/* A read is good when |seq| was even before it and unchanged after it. A
 * write takes nanoseconds and a loop writes once per operation, so a retry
 * is rare. But the writer may be a lower-priority thread (a flood's storm
 * loop, nice 10) preempted midway on the reader's own core: after
 * SPINS tries the reader sleeps between tries, which gives it the core
 * back. */
#define SPINS 64
#define BACKOFF_NS 20000

struct ed_bench__tally ed_bench__counters_read(
    const struct ed_bench__counters *c) {
  struct ed_bench__tally t;
  for (unsigned tries = 0;; tries++) {
    if (tries >= SPINS) {
      struct timespec ts = {0, BACKOFF_NS};
      nanosleep(&ts, NULL);
    }
    uint32_t before = atomic_load_explicit(&c->seq, memory_order_acquire);
    t.ops = atomic_load_explicit(&c->ops, memory_order_relaxed);
    t.bytes = atomic_load_explicit(&c->bytes, memory_order_relaxed);
    t.resumed = atomic_load_explicit(&c->resumed, memory_order_relaxed);
    atomic_thread_fence(memory_order_acquire);
    uint32_t after = atomic_load_explicit(&c->seq, memory_order_relaxed);
    if (before == after && !(before & 1)) return t;
  }
}

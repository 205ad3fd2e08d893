/* internal/bench — the counters one client loop bumps (counters.h). */
#include "internal/bench/counters.h"

static void bump(_Atomic uint64_t *v, uint64_t n) {
  atomic_fetch_add_explicit(v, n, memory_order_relaxed);
}

void ed_bench__account(struct ed_bench__counters *c, uint64_t ops,
                       uint64_t bytes, uint64_t resumed) {
  bump(&c->ops, ops);
  bump(&c->bytes, bytes);
  bump(&c->resumed, resumed);
}

struct ed_bench__tally ed_bench__counters_read(
    const struct ed_bench__counters *c) {
  struct ed_bench__tally t;
  t.ops = atomic_load_explicit(&c->ops, memory_order_relaxed);
  t.bytes = atomic_load_explicit(&c->bytes, memory_order_relaxed);
  t.resumed = atomic_load_explicit(&c->resumed, memory_order_relaxed);
  return t;
}

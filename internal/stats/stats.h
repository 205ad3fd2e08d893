/* internal/stats — the counters, gauges and histograms echod keeps, read
 * by the admin socket and /metrics.
 *
 * Concurrency rule: every struct ed_stats has exactly ONE writer thread (an
 * I/O loop, the handshake pool's own instance, or the control loop). The
 * writer updates fields with ed_stat_add()/ed_hist_observe(): relaxed atomic
 * load + store, which is a plain add on x86, so the hot path has no shared
 * atomics and no locks. Readers on other threads call ed_stats_accumulate()
 * to add a consistent-enough snapshot of each instance into a plain
 * struct ed_stats_snapshot, without stopping the writers.
 *
 * The labels these counters are kept by (handshake failure reasons, cipher
 * suites, reject reasons, re-check reasons) belong to the modules that decide
 * them: internal/tls/tls_types.h and internal/loop/loop_types.h. */
#ifndef ED_STATS_H
#define ED_STATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "internal/loop/loop_types.h"
#include "internal/tls/tls_types.h"

/* ---- histograms ---------------------------------------------------------- */

#define ED_HIST_MAX_BUCKETS 16

/* Fixed bucket upper bounds, in seconds, ascending; +Inf is implicit. */
struct ed_hist_bounds {
  size_t num;
  double le[ED_HIST_MAX_BUCKETS];
};

/* 0.0005 ... 5 s: handshake duration and handshake queue wait. */
extern const struct ed_hist_bounds ed_hist_handshake_bounds;
/* 0.01 ... 3600 s: connection duration. */
extern const struct ed_hist_bounds ed_hist_connection_bounds;

struct ed_hist {
  const struct ed_hist_bounds *bounds;
  _Atomic uint64_t bucket[ED_HIST_MAX_BUCKETS + 1]; /* non-cumulative; last
                                                       is +Inf */
  _Atomic uint64_t count;
  _Atomic uint64_t sum_ns;
};

/* ---- one writer's counters ----------------------------------------------- */

struct ed_stats {
  _Atomic uint64_t accepted;
  _Atomic uint64_t rejected[ED_REJECT_REASON_COUNT];
  _Atomic uint64_t handshakes[2]; /* [0] full, [1] resumed */
  _Atomic uint64_t hs_errors[ED_HS_REASON_COUNT];
  _Atomic uint64_t sessions_by_suite[ED_SUITE_COUNT];
  _Atomic uint64_t bytes_in;  /* plaintext received from clients */
  _Atomic uint64_t bytes_out; /* plaintext echoed back */
  _Atomic uint64_t closed;    /* connections fully closed */
  /* Established sessions the re-check after a reload closed. */
  _Atomic uint64_t sessions_revoked[ED_REVOKE_REASON_COUNT];
  /* Gauges: current values owned by this writer (may be negative in one
   * instance if a connection moves between writers; the sum is right). */
  _Atomic int64_t active_handshaking;
  _Atomic int64_t active_established;
  _Atomic int64_t queue_depth; /* handshake jobs waiting for the pool */
  struct ed_hist hs_duration;  /* accept -> established */
  struct ed_hist queue_wait;   /* queued -> picked by a pool thread */
  struct ed_hist conn_duration;
  /* --handshake-share: the naps a saturated loop took so that waiting
   * handshake steps get their share of its core (internal/loop/share.h). */
  _Atomic uint64_t share_naps;
  _Atomic uint64_t share_nap_ns;
  /* The loop's switches to SCHED_BATCH while only handshakes kept the pool
   * busy, and whether it runs so now (internal/loop/sched.h). */
  _Atomic uint64_t batch_switches;
  _Atomic int64_t loops_batch;
};

/* ed_stats_init zeroes |s| and sets the histogram bounds. */
void ed_stats_init(struct ed_stats *s);

/* Writer side: single writer per instance (see top of file). */
static inline void ed_stat_add(_Atomic uint64_t *c, uint64_t n) {
  atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                        memory_order_relaxed);
}
static inline void ed_gauge_add(_Atomic int64_t *g, int64_t n) {
  atomic_store_explicit(g, atomic_load_explicit(g, memory_order_relaxed) + n,
                        memory_order_relaxed);
}
void ed_hist_observe(struct ed_hist *h, uint64_t ns);

/* ---- reader side --------------------------------------------------------- */

struct ed_hist_snapshot {
  const struct ed_hist_bounds *bounds;
  uint64_t bucket[ED_HIST_MAX_BUCKETS + 1]; /* non-cumulative */
  uint64_t count;
  uint64_t sum_ns;
};

struct ed_stats_snapshot {
  uint64_t accepted;
  uint64_t rejected[ED_REJECT_REASON_COUNT];
  uint64_t handshakes[2];
  uint64_t hs_errors[ED_HS_REASON_COUNT];
  uint64_t sessions_by_suite[ED_SUITE_COUNT];
  uint64_t bytes_in, bytes_out, closed;
  uint64_t sessions_revoked[ED_REVOKE_REASON_COUNT];
  int64_t active_handshaking, active_established, queue_depth;
  struct ed_hist_snapshot hs_duration, queue_wait, conn_duration;
  uint64_t share_naps, share_nap_ns;
  uint64_t batch_switches;
  int64_t loops_batch;
};

/* ed_stats_snapshot_init zeroes |out| and sets histogram bounds. */
void ed_stats_snapshot_init(struct ed_stats_snapshot *out);

/* ed_stats_accumulate adds the current values of |s| into |out|. Safe
 * while the writer runs. */
void ed_stats_accumulate(struct ed_stats_snapshot *out,
                         const struct ed_stats *s);

#endif /* ED_STATS_H */

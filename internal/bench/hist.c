/* internal/bench — the latency histogram. See bench.h. */
#include <string.h>

#include "internal/bench/bench.h"

/* Values below 32 ns get one bucket each; above, each power of two is split
 * into 32 equal sub-buckets, so a bucket is at most 1/32 of its value. */
static size_t bucket_of(uint64_t v) {
  if (v < 32) return (size_t)v;
  int msb = 63 - __builtin_clzll(v);
  size_t idx = (size_t)(msb - 4) * 32 + (size_t)((v >> (msb - 5)) & 31);
  return idx < ED_BENCH_HIST_BUCKETS ? idx : ED_BENCH_HIST_BUCKETS - 1;
}

/* bucket_mid returns the middle of bucket |idx|. */
static uint64_t bucket_mid(size_t idx) {
  if (idx < 32) return idx;
  int msb = (int)(idx / 32) + 4;
  uint64_t sub = idx % 32;
  uint64_t width = 1ull << (msb - 5);
  return ((32 + sub) << (msb - 5)) + width / 2;
}

void ed_bench_hist_init(struct ed_bench_hist *h) {
  memset(h, 0, sizeof(*h));
}

void ed_bench_hist_add(struct ed_bench_hist *h, uint64_t ns) {
  h->b[bucket_of(ns)]++;
  h->n++;
  h->sum_ns += ns;
  if (ns > h->max_ns) h->max_ns = ns;
}

void ed_bench_hist_merge(struct ed_bench_hist *into,
                         const struct ed_bench_hist *from) {
  for (size_t i = 0; i < ED_BENCH_HIST_BUCKETS; i++) into->b[i] += from->b[i];
  into->n += from->n;
  into->sum_ns += from->sum_ns;
  if (from->max_ns > into->max_ns) into->max_ns = from->max_ns;
}

uint64_t ed_bench_hist_quantile(const struct ed_bench_hist *h, double q) {
  if (h->n == 0) return 0;
  if (q < 0) q = 0;
  if (q > 1) q = 1;
  /* rank = ceil(q * n), at least 1: the smallest value with that many
   * values at or below it. */
  double want = q * (double)h->n;
  uint64_t rank = (uint64_t)want;
  if ((double)rank < want) rank++;
  if (rank == 0) rank = 1;
  if (rank >= h->n) return h->max_ns; /* the largest value is known exactly */
  uint64_t seen = 0;
  for (size_t i = 0; i < ED_BENCH_HIST_BUCKETS; i++) {
    seen += h->b[i];
    if (seen >= rank) {
      uint64_t v = bucket_mid(i);
      return v < h->max_ns ? v : h->max_ns;
    }
  }
  return h->max_ns;
}

void ed_bench_hist_summary(struct ed_bench_lat *out,
                           const struct ed_bench_hist *h) {
  out->n = h->n;
  out->p50_us = (double)ed_bench_hist_quantile(h, 0.50) / 1e3;
  out->p99_us = (double)ed_bench_hist_quantile(h, 0.99) / 1e3;
  out->p999_us = (double)ed_bench_hist_quantile(h, 0.999) / 1e3;
  out->max_us = (double)h->max_ns / 1e3;
  out->mean_us = h->n ? (double)h->sum_ns / (double)h->n / 1e3 : 0;
}

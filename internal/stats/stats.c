/* internal/stats — see stats.h. */
#include "internal/stats/stats.h"

#include <string.h>

const struct ed_hist_bounds ed_hist_handshake_bounds = {
    13,
    {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
     5}};

const struct ed_hist_bounds ed_hist_connection_bounds = {
    11, {0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600}};

static void hist_init(struct ed_hist *h, const struct ed_hist_bounds *b) {
  h->bounds = b;
}

void ed_stats_init(struct ed_stats *s) {
  memset(s, 0, sizeof(*s));
  hist_init(&s->hs_duration, &ed_hist_handshake_bounds);
  hist_init(&s->queue_wait, &ed_hist_handshake_bounds);
  hist_init(&s->conn_duration, &ed_hist_connection_bounds);
}

void ed_hist_observe(struct ed_hist *h, uint64_t ns) {
  double sec = (double)ns / 1e9;
  size_t i = 0;
  while (i < h->bounds->num && sec > h->bounds->le[i]) i++;
  ed_stat_add(&h->bucket[i], 1);
  ed_stat_add(&h->sum_ns, ns);
  ed_stat_add(&h->count, 1);
}

void ed_stats_snapshot_init(struct ed_stats_snapshot *out) {
  memset(out, 0, sizeof(*out));
  out->hs_duration.bounds = &ed_hist_handshake_bounds;
  out->queue_wait.bounds = &ed_hist_handshake_bounds;
  out->conn_duration.bounds = &ed_hist_connection_bounds;
}

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

static void hist_accumulate(struct ed_hist_snapshot *out,
                            const struct ed_hist *h) {
  /* Count is read last so that count <= sum of buckets never shows a
   * bucket total above count by more than in-flight observations. */
  for (size_t i = 0; i <= ED_HIST_MAX_BUCKETS; i++) {
    out->bucket[i] += LOAD(h->bucket[i]);
  }
  out->sum_ns += LOAD(h->sum_ns);
  out->count += LOAD(h->count);
}

void ed_stats_accumulate(struct ed_stats_snapshot *out,
                         const struct ed_stats *s) {
  out->accepted += LOAD(s->accepted);
  for (int i = 0; i < ED_REJECT_REASON_COUNT; i++) {
    out->rejected[i] += LOAD(s->rejected[i]);
  }
  for (int i = 0; i < 2; i++) out->handshakes[i] += LOAD(s->handshakes[i]);
  for (int i = 0; i < ED_HS_REASON_COUNT; i++) {
    out->hs_errors[i] += LOAD(s->hs_errors[i]);
  }
  for (int i = 0; i < ED_SUITE_COUNT; i++) {
    out->sessions_by_suite[i] += LOAD(s->sessions_by_suite[i]);
  }
  out->bytes_in += LOAD(s->bytes_in);
  out->bytes_out += LOAD(s->bytes_out);
  out->closed += LOAD(s->closed);
  for (int i = 0; i < ED_REVOKE_REASON_COUNT; i++) {
    out->sessions_revoked[i] += LOAD(s->sessions_revoked[i]);
  }
  out->active_handshaking += LOAD(s->active_handshaking);
  out->active_established += LOAD(s->active_established);
  out->queue_depth += LOAD(s->queue_depth);
  out->share_naps += LOAD(s->share_naps);
  out->share_nap_ns += LOAD(s->share_nap_ns);
  out->batch_switches += LOAD(s->batch_switches);
  out->loops_batch += LOAD(s->loops_batch);
  hist_accumulate(&out->hs_duration, &s->hs_duration);
  hist_accumulate(&out->queue_wait, &s->queue_wait);
  hist_accumulate(&out->conn_duration, &s->conn_duration);
}

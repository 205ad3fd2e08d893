/* internal/stats — see stats.h. */
#include "internal/stats/stats.h"

#include <string.h>

const struct ed_hist_bounds ed_hist_handshake_bounds = {
    13,
    {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
     5}};

const struct ed_hist_bounds ed_hist_connection_bounds = {
    11, {0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600}};

static const char *const hs_names[] = {
#define ED_NAME_(id, name) name,
    ED_HS_REASONS(ED_NAME_)};
static const char *const reject_names[] = {ED_REJECT_REASONS(ED_NAME_)};
static const char *const trigger_names[] = {ED_RELOAD_TRIGGERS(ED_NAME_)};
static const char *const admin_names[] = {ED_ADMIN_CMDS(ED_NAME_)};
#undef ED_NAME_

struct suite_row {
  uint16_t iana;
  const char *version;
  const char *name;
};
static const struct suite_row suites[] = {
#define ED_SUITE_ROW_(id, iana, ver, name) {iana, ver, name},
    ED_SUITES(ED_SUITE_ROW_)
#undef ED_SUITE_ROW_
};

const char *ed_hs_reason_name(enum ed_hs_reason r) {
  return (unsigned)r < ED_HS_REASON_COUNT ? hs_names[r] : "other";
}

const char *ed_reject_reason_name(enum ed_reject_reason r) {
  return (unsigned)r < ED_REJECT_REASON_COUNT ? reject_names[r] : "unknown";
}

const char *ed_reload_trigger_name(enum ed_reload_trigger t) {
  return (unsigned)t < ED_RELOAD_TRIGGER_COUNT ? trigger_names[t] : "unknown";
}

const char *ed_admin_cmd_name(enum ed_admin_cmd c) {
  return (unsigned)c < ED_ADMIN_CMD_COUNT ? admin_names[c] : "unknown";
}

const char *ed_suite_name(enum ed_suite s) {
  return suites[(unsigned)s < ED_SUITE_COUNT ? s : ED_SUITE_OTHER].name;
}

const char *ed_suite_version(enum ed_suite s) {
  return suites[(unsigned)s < ED_SUITE_COUNT ? s : ED_SUITE_OTHER].version;
}

enum ed_suite ed_suite_from_iana(uint16_t iana) {
  for (int i = 0; i < ED_SUITE_OTHER; i++) {
    if (suites[i].iana == iana) return (enum ed_suite)i;
  }
  return ED_SUITE_OTHER;
}

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
  out->active_handshaking += LOAD(s->active_handshaking);
  out->active_established += LOAD(s->active_established);
  out->queue_depth += LOAD(s->queue_depth);
  hist_accumulate(&out->hs_duration, &s->hs_duration);
  hist_accumulate(&out->queue_wait, &s->queue_wait);
  hist_accumulate(&out->conn_duration, &s->conn_duration);
}

/* Unit tests for internal/stats. */
#include "internal/stats/stats.h"

#include <pthread.h>

#include "internal/testing/testing.h"

static void test_names(void) {
  CHECK_STR(ed_hs_reason_name(ED_HS_NO_CLIENT_CERT), "no_client_cert");
  CHECK_STR(ed_hs_reason_name(ED_HS_OTHER), "other");
  CHECK_STR(ed_reject_reason_name(ED_REJECT_PENDING_HANDSHAKES),
            "pending_handshakes");
  CHECK_EQ(ed_suite_from_iana(0x1301), ED_SUITE_AES_128_GCM_SHA256);
  CHECK_STR(ed_suite_version(ed_suite_from_iana(0xC02B)), "TLSv1.2");
  CHECK_EQ(ed_suite_from_iana(0x0035), ED_SUITE_OTHER);
  CHECK_STR(ed_session_state_name(ED_SESSION_CLOSING), "closing");
  CHECK_STR(ed_session_state_name((enum ed_session_state)99), "unknown");
  CHECK_STR(ed_revoke_reason_name(ED_REVOKE_REVOKED), "revoked");
  CHECK_EQ(ed_revoke_reason_from_hs(ED_HS_CERT_REVOKED), ED_REVOKE_REVOKED);
  CHECK_EQ(ed_revoke_reason_from_hs(ED_HS_ACL_DENIED), ED_REVOKE_ACL_DENIED);
  CHECK_EQ(ed_revoke_reason_from_hs(ED_HS_UNKNOWN_CA), ED_REVOKE_UNKNOWN_CA);
  CHECK_EQ(ed_revoke_reason_from_hs(ED_HS_TIMEOUT), ED_REVOKE_OTHER);
  CHECK_STR(ed_revoke_reason_name(ED_REVOKE_OTHER), "recheck_failed");
}

static void test_hist(void) {
  struct ed_stats s;
  ed_stats_init(&s);
  ed_hist_observe(&s.hs_duration, 400000);      /* 0.4 ms -> le 0.0005 */
  ed_hist_observe(&s.hs_duration, 500000);      /* exactly 0.0005 */
  ed_hist_observe(&s.hs_duration, 3000000);     /* 3 ms -> le 0.005 */
  ed_hist_observe(&s.hs_duration, 9000000000u); /* 9 s -> +Inf */
  struct ed_stats_snapshot snap;
  ed_stats_snapshot_init(&snap);
  ed_stats_accumulate(&snap, &s);
  CHECK_EQ(snap.hs_duration.count, 4);
  CHECK_EQ(snap.hs_duration.bucket[0], 2);
  CHECK_EQ(snap.hs_duration.bucket[3], 1);
  CHECK_EQ(snap.hs_duration.bucket[13], 1);
  CHECK_EQ(snap.hs_duration.sum_ns, 9003900000u);
}

struct writer {
  struct ed_stats s;
  int n;
};

static void *write_many(void *arg) {
  struct writer *w = arg;
  for (int i = 0; i < w->n; i++) {
    ed_stat_add(&w->s.accepted, 1);
    ed_stat_add(&w->s.bytes_in, 3);
    ed_gauge_add(&w->s.active_established, i % 2 ? -1 : 1);
  }
  return NULL;
}

/* Two writers, one reader summing while they run: the final sum is exact. */
static void test_sum_across_writers(void) {
  struct writer w[2];
  pthread_t t[2];
  for (int i = 0; i < 2; i++) {
    ed_stats_init(&w[i].s);
    w[i].n = 100000;
    pthread_create(&t[i], NULL, write_many, &w[i]);
  }
  for (int k = 0; k < 100; k++) {
    struct ed_stats_snapshot mid;
    ed_stats_snapshot_init(&mid);
    ed_stats_accumulate(&mid, &w[0].s);
    ed_stats_accumulate(&mid, &w[1].s);
    CHECK(mid.accepted <= 200000);
  }
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  struct ed_stats_snapshot snap;
  ed_stats_snapshot_init(&snap);
  ed_stats_accumulate(&snap, &w[0].s);
  ed_stats_accumulate(&snap, &w[1].s);
  CHECK_EQ(snap.accepted, 200000);
  CHECK_EQ(snap.bytes_in, 600000);
  CHECK_EQ(snap.active_established, 0);
}

int main(void) {
  RUN(test_names);
  RUN(test_hist);
  RUN(test_sum_across_writers);
  return TEST_RESULT();
}

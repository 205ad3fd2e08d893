/* internal/loop tests: trust decided with the newest credentials, driven
 * step by step through the harness (conn_harness.h). A handshake uses the
 * snapshot current at its first step, not at accept; the step that
 * verifies the client uses the newest; one whose client was decided on
 * before a newer snapshot was published is re-checked against it in the
 * pool before it is established; the re-check of live sessions after a
 * reload closes those that no longer pass (close_notify, reason, count)
 * and keeps the rest; the sessions listing copies under the lock without
 * allocating. */
#include <stdlib.h>
#include <string.h>

#include "internal/loop/conn_harness.h"
#include "internal/testing/testing.h"

/* first_step_under_s1 starts |h| and runs alice's first step under S1,
 * the snapshot h_start made current. */
static void first_step_under_s1(struct harness *h, struct cli *c) {
  h_init(h);
  h_start(h);
  cli_open(h, c, CLI_ALICE);
  first_step(h, c);
}

/* ---- handshake time ----------------------------------------------------- */

/* TCP accepted under credentials that let alice in; they change before
 * her first byte: the handshake decides with the new ones. (Before, the
 * snapshot was taken at accept and alice got in.) */
static void test_first_step_takes_the_current_snapshot(void) {
  struct harness h;
  struct cli c;
  h_init(&h);
  h_start(&h);
  cli_open(&h, &c, CLI_ALICE);
  h_publish(&h, h_snapshot("bob"));
  first_step(&h, &c);
  last_step(&h, &c);
  cli_read(&c);
  CHECK(c.tls_failed);
  CHECK(h_state(&h, c.port) != ED_SESSION_ESTABLISHED);
  cli_fin(&c);
  h_pump_until_freed(&h);
  CHECK_EQ(h_hs_errors(&h, ED_HS_ACL_DENIED), 1);
  CHECK_STR(h_field(&h, HS_FAILED, &c, "reason"), "acl_denied");
  CHECK_STR(h_field(&h, HS_FAILED, &c, "cn"), "alice");
  CHECK_EQ(strlen(h_field(&h, HS_FAILED, &c, "sha256")), 64);
  cli_free(&c);
  h_finish(&h);
}

/* The first step ran under S1; S2 (alice off the allow-list) is published
 * before her last flight is verified: the step that verifies it decides
 * with S2. Refused in the handshake itself (access_denied, no ticket),
 * never established. (Before, S1 decided: she got in.) */
static void test_reload_before_verify_refuses(void) {
  struct harness h;
  struct cli c;
  first_step_under_s1(&h, &c);
  h_publish(&h, h_snapshot("bob"));
  SSL_SESSION *before = cli_ticket();
  last_step(&h, &c);
  CHECK_EQ(h.pool.queued, 0); /* no extra step was needed */
  cli_read(&c);
  CHECK(c.tls_failed);
  SSL_SESSION *after = cli_ticket();
  CHECK(after == before); /* no ticket for a refused client */
  SSL_SESSION_free(before);
  SSL_SESSION_free(after);
  cli_fin(&c);
  h_pump_until_freed(&h);
  struct ed_stats_snapshot st;
  h_stats(&h, &st);
  CHECK_EQ(st.handshakes[0], 0);
  CHECK_EQ(st.hs_errors[ED_HS_ACL_DENIED], 1);
  CHECK_EQ(h_log_count(&h, CLOSED, c.port), 0);
  CHECK_STR(h_field(&h, HS_FAILED, &c, "reason"), "acl_denied");
  CHECK_STR(h_field(&h, HS_FAILED, &c, "cn"), "alice");
  cli_free(&c);
  h_finish(&h);
}

/* run_publishing runs the oldest pool step and publishes |s| after it
 * ran and before the loop takes it back: a reload that lands between the
 * verification and the establishment. */
static void run_publishing(struct harness *h, struct ed_tls_snapshot *s) {
  struct ed_hs_job *job = h_pool_take(h);
  CHECK(job != NULL);
  if (!job) return;
  job->run(job);
  h_publish(h, s);
  job->complete(job);
  h_pump(h);
}

/* The window after that: S2 is published after the step verified alice
 * under S1, before the loop took the step back. The loop does not
 * establish her: one more pool step re-checks her against S2, which
 * refuses her with the reason's alert. */
static void test_reload_after_verify_refuses(void) {
  struct harness h;
  struct cli c;
  first_step_under_s1(&h, &c);
  last_flight(&h, &c, NULL);
  run_publishing(&h, h_snapshot("bob"));
  CHECK_EQ(h.pool.queued, 1); /* the re-check step */
  CHECK_EQ(h_state(&h, c.port), ED_SESSION_HANDSHAKING);
  CHECK_EQ(h_pool_run(&h, 1), 1);
  cli_read(&c);
  CHECK(c.tls_failed);
  cli_fin(&c);
  h_pump_until_freed(&h);
  CHECK_EQ(h_hs_errors(&h, ED_HS_ACL_DENIED), 1);
  CHECK_EQ(h_log_count(&h, CLOSED, c.port), 0);
  CHECK_STR(h_field(&h, HS_FAILED, &c, "reason"), "acl_denied");
  CHECK_STR(h_field(&h, HS_FAILED, &c, "cn"), "alice");
  cli_free(&c);
  h_finish(&h);
}

/* The same window with an S2 that still lets alice in: one more pool
 * step, then established, and what she sent right behind her Finished is
 * echoed. A handshake with nothing published meanwhile takes no extra
 * step. */
static void test_reload_after_verify_passes(void) {
  struct harness h;
  struct cli c;
  first_step_under_s1(&h, &c);
  last_flight(&h, &c, "early"); /* right behind her Finished */
  long live = ed_tls_snapshots_live();
  run_publishing(&h, h_snapshot("alice"));
  CHECK_EQ(h_state(&h, c.port), ED_SESSION_HANDSHAKING);
  CHECK_EQ(ed_tls_snapshots_live(), live + 1); /* S1 still hers */
  CHECK_EQ(h_pool_run(&h, 1), 1);              /* the re-check */
  CHECK_EQ(h_state(&h, c.port), ED_SESSION_ESTABLISHED);
  /* She passed against S2 and holds it now: S1 is gone. */
  CHECK_EQ(ed_tls_snapshots_live(), live);
  cli_read_until(&h, &c, 5);
  CHECK(c.plain.len == 5 && memcmp(c.plain.data, "early", 5) == 0);
  struct cli d;
  size_t submitted = h.pool.submitted;
  establish(&h, &d);
  CHECK_EQ(h.pool.submitted, submitted + 2);
  cli_free(&c);
  cli_free(&d);
  h_finish(&h);
}

/* The first step (the server's flight, signed with S1's key) ran under
 * S1; S2, which still lets alice in, is published before her last flight:
 * that step decides with S2 (ed_tls_conn_retrust), so no re-check step
 * follows and she is established at once. She must not keep S1 - its
 * CA bundle, CRLs, allow-list - for the life of her session: the reload's
 * own re-check round never saw her (she was not established when it
 * collected), and nothing else moves her (ed_tls_conn_rebase). */
static void test_reload_between_steps_frees_the_old_snapshot(void) {
  struct harness h;
  struct cli c;
  first_step_under_s1(&h, &c);
  long live = ed_tls_snapshots_live(); /* S1 (harness + hers) */
  h_publish(&h, h_snapshot("alice"));
  CHECK_EQ(ed_tls_snapshots_live(), live + 1); /* S1 still hers */
  last_step(&h, &c);
  CHECK_EQ(h.pool.queued, 0); /* decided with S2: no re-check step */
  h_pump(&h);
  CHECK_EQ(h_state(&h, c.port), ED_SESSION_ESTABLISHED);
  cli_write(&h, &c, "hi", 2);
  cli_read_until(&h, &c, 2);
  CHECK(c.plain.len == 2);
  /* Established on S2's decision: S1 should be gone. */
  CHECK_EQ(ed_tls_snapshots_live(), live);
  cli_free(&c);
  h_finish(&h);
}

/* A resumption: its ticket is opened (and alice decided on) in the first
 * step, under S1; S2 is published before her Finished, whose step runs
 * on the loop. The loop sends the completed handshake to the pool to be
 * re-checked against S2 (no certificate work on the loop), which refuses
 * her. */
static void test_reload_before_resumption_tail(void) {
  struct harness h;
  struct cli first, c;
  h_init(&h);
  h_start(&h);
  establish(&h, &first);
  cli_open_resuming(&h, &c);
  first_step(&h, &c);
  h_publish(&h, h_snapshot("bob"));
  last_flight(&h, &c, NULL);
  CHECK_EQ(h.pool.queued, 1); /* the tail ran inline; the re-check did not */
  CHECK_EQ(h_pool_run(&h, 1), 1);
  cli_read(&c);
  CHECK(c.tls_failed);
  cli_fin(&c);
  cli_fin(&first);
  h_pump_until_freed(&h);
  CHECK_STR(h_field(&h, HS_FAILED, &c, "reason"), "acl_denied");
  cli_free(&first);
  cli_free(&c);
  h_finish(&h);
}

/* ---- live sessions --------------------------------------------------------
 */

struct result {
  int calls;
  uint64_t checked, closed;
};

static void on_done(void *arg, uint64_t checked, uint64_t closed) {
  struct result *r = arg;
  r->calls++;
  r->checked = checked;
  r->closed = closed;
}

/* Two sessions established; a snapshot that lets neither in is published
 * and the loop re-checks: one pool job for both. The first leaves by
 * itself while the job is out; the second gets close_notify, reason
 * acl_denied with its serial, counted. (Sessions that pass are kept: next
 * test.) */
static void test_recheck_closes_and_keeps(void) {
  struct harness h;
  struct cli alice, second;
  struct result r = {0};
  h_init(&h);
  h_start(&h);
  establish(&h, &alice);
  establish(&h, &second);
  struct ed_session_info s;
  CHECK_EQ(h_session(&h, second.port, &s), 0);
  char serial[128];
  snprintf(serial, sizeof(serial), "%s", ed_tls_peer_serial(s.identity));
  h_publish(&h, h_snapshot("nobody"));
  ed_loop_post_recheck(h.l, on_done, &r);
  h_pump(&h);
  CHECK_EQ(h.pool.queued, 1);
  CHECK_EQ(r.calls, 0); /* not before the verdicts are back */
  /* The verdicts are the pool's; while they are out, alice goes away by
   * herself: her connection stays allocated for the batch (ASan). */
  cli_rst(&alice);
  h_pump(&h);
  CHECK_EQ(h_pool_run(&h, 1), 1);
  CHECK_EQ(r.calls, 1);
  CHECK_EQ(r.checked, 2);
  CHECK_EQ(r.closed, 1); /* alice had left already */
  cli_read(&second);
  CHECK(second.notified);
  cli_fin(&second);
  h_pump_until_freed(&h);
  CHECK_STR(h_field(&h, CLOSED, &second, "reason"), "acl_denied");
  CHECK_STR(h_field(&h, CLOSED, &second, "serial"), serial);
  CHECK_STR(h_field(&h, CLOSED, &alice, "reason"), "reset");
  struct ed_stats_snapshot st;
  h_stats(&h, &st);
  CHECK_EQ(st.sessions_revoked[ED_REVOKE_ACL_DENIED], 1);
  cli_free(&alice);
  cli_free(&second);
  h_finish(&h);
}

/* Two rounds whose batches are in the pool at once: the first's runs
 * under S2, then S3 is published and the second's runs under S3, and the
 * loop gets the second back first. The session ends on S3 (the newer),
 * never moved back onto S2 by the late first batch; S1 and S2 are freed
 * once the harness lets them go. */
static void test_recheck_batches_out_of_order(void) {
  struct harness h;
  struct cli c;
  struct result r1 = {0}, r2 = {0};
  h_init(&h);
  h_start(&h);
  establish(&h, &c);
  long live = ed_tls_snapshots_live();
  h_publish(&h, h_snapshot("alice")); /* S2 */
  ed_loop_post_recheck(h.l, on_done, &r1);
  h_pump(&h);
  struct ed_hs_job *b1 = h_pool_take(&h);
  CHECK(b1 != NULL);
  if (!b1) return;
  b1->run(b1);                        /* verdicts against S2 */
  h_publish(&h, h_snapshot("alice")); /* S3; S2 held by b1 */
  ed_loop_post_recheck(h.l, on_done, &r2);
  h_pump(&h);
  CHECK_EQ(h_pool_run(&h, 1), 1); /* against S3, back first */
  CHECK_EQ(r2.calls, 1);
  CHECK_EQ(r2.closed, 0);
  /* S1 gone (the session moved onto S3), S2 still b1's. */
  CHECK_EQ(ed_tls_snapshots_live(), live + 1);
  b1->complete(b1);
  h_pump(&h);
  CHECK_EQ(r1.calls, 1);
  CHECK_EQ(r1.closed, 0);
  CHECK_EQ(ed_tls_snapshots_live(), live); /* S3 only: not moved back */
  cli_write(&h, &c, "x", 1);
  cli_read_until(&h, &c, 1);
  CHECK(c.plain.len == 1);
  cli_free(&c);
  h_finish(&h);
}

static void test_recheck_keeps_passing_sessions(void) {
  struct harness h;
  struct cli c;
  struct result r = {0};
  h_init(&h);
  h_start(&h);
  ed_loop_post_recheck(h.l, on_done, &r); /* no session: no pool job */
  h_pump(&h);
  CHECK_EQ(h.pool.queued, 0);
  CHECK_EQ(r.calls, 1);
  CHECK_EQ(r.checked, 0);
  establish(&h, &c);
  long live = ed_tls_snapshots_live();
  h_publish(&h, h_snapshot("alice"));
  CHECK_EQ(ed_tls_snapshots_live(), live + 1); /* the old one: hers */
  ed_loop_post_recheck(h.l, on_done, &r);
  h_pump(&h);
  CHECK_EQ(h_pool_run(&h, 1), 1);
  CHECK_EQ(r.calls, 2);
  CHECK_EQ(r.checked, 1);
  CHECK_EQ(r.closed, 0);
  /* The session passed against the new snapshot and moved onto it: the
   * old one, with its CRLs, is freed (it was kept for the session's
   * life). */
  CHECK_EQ(ed_tls_snapshots_live(), live);
  CHECK(echoes(&h, &c, "still"));
  CHECK_EQ(h_state(&h, c.port), ED_SESSION_ESTABLISHED);
  cli_free(&c);
  h_finish(&h);
}

/* ---- the sessions listing -------------------------------------------------
 */

static int established_only(void *arg, const struct ed_session_info *s) {
  (void)arg;
  return s->state == ED_SESSION_ESTABLISHED;
}

static void test_sessions_copy(void) {
  struct harness h;
  struct cli c[3], hs;
  struct ed_session_info out[3];
  size_t n = 0;
  h_init(&h);
  h_start(&h);
  for (int i = 0; i < 3; i++) establish(&h, &c[i]);
  cli_open(&h, &hs, CLI_ALICE); /* accepted, not established */
  CHECK_EQ(ed_loop_sessions_copy(h.l, out, 2, &n, established_only, NULL),
           ED_E_TOOBIG);
  CHECK_EQ(n, 3);
  CHECK_EQ(ed_loop_sessions_copy(h.l, out, 3, &n, established_only, NULL), 0);
  CHECK_EQ(n, 3);
  for (size_t i = 0; i < n; i++) {
    CHECK(out[i].identity != NULL);
    CHECK_STR(ed_suite_version(out[i].suite), "TLSv1.3");
  }
  /* The copies hold their identities: alive after the sessions are gone
   * (ASan). */
  for (int i = 0; i < 3; i++) cli_rst(&c[i]);
  cli_rst(&hs);
  h_pump_until_freed(&h);
  for (size_t i = 0; i < n; i++) {
    CHECK(ed_tls_peer_cn_is(out[i].identity, "alice"));
    ed_session_info_cleanup(&out[i]);
  }
  for (int i = 0; i < 3; i++) cli_free(&c[i]);
  cli_free(&hs);
  h_finish(&h);
}

int main(void) {
  RUN(test_first_step_takes_the_current_snapshot);
  RUN(test_reload_before_verify_refuses);
  RUN(test_reload_after_verify_refuses);
  RUN(test_reload_after_verify_passes);
  RUN(test_reload_between_steps_frees_the_old_snapshot);
  RUN(test_reload_before_resumption_tail);
  RUN(test_recheck_closes_and_keeps);
  RUN(test_recheck_keeps_passing_sessions);
  RUN(test_recheck_batches_out_of_order);
  RUN(test_sessions_copy);
  return TEST_RESULT();
}

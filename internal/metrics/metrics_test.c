/* Tests of the Prometheus renderer: format, every family and label value,
 * histogram arithmetic, omitted series, readiness and /proc reading. */
#include "internal/metrics/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal/testing/testing.h"

static int has_line(const char *text, const char *line) {
  size_t n = strlen(line);
  for (const char *p = text; (p = strstr(p, line)) != NULL; p++) {
    if ((p == text || p[-1] == '\n') && p[n] == '\n') return 1;
  }
  return 0;
}

static char *render(const struct ed_metrics_input *in) {
  struct ed_buf b;
  ed_buf_init(&b, 1 << 20);
  CHECK_EQ(ed_metrics_render(&b, in), 0);
  char *s = ed_strdup(ed_buf_cstr(&b));
  ed_buf_cleanup(&b);
  return s;
}

/* Family name of a sample: strips labels and a histogram suffix when the
 * family was declared a histogram. */
static void sample_family(char *out, size_t len, const char *line,
                          const char *hist_families) {
  size_t n = strcspn(line, "{ ");
  snprintf(out, len, "%.*s", (int)n, line);
  static const char *const sfx[] = {"_bucket", "_sum", "_count"};
  for (int i = 0; i < 3; i++) {
    size_t sl = strlen(sfx[i]);
    if (n > sl && strcmp(out + n - sl, sfx[i]) == 0) {
      char base[160];
      snprintf(base, sizeof(base), " %.*s ", (int)(n - sl), out);
      if (strstr(hist_families, base)) out[n - sl] = '\0';
    }
  }
}

/* Every sample belongs to a family declared just before it with HELP and
 * TYPE; no family is declared twice. */
static void check_structure(const char *text) {
  char declared[16384] = " ", hist[4096] = " ", current[160] = "";
  char *copy = ed_strdup(text), *save = NULL;
  int samples = 0;
  for (char *l = strtok_r(copy, "\n", &save); l;
       l = strtok_r(NULL, "\n", &save)) {
    char name[160], type[32], key[170];
    if (sscanf(l, "# HELP %159s", name) == 1) {
      snprintf(key, sizeof(key), " %s ", name);
      CHECK(strstr(declared, key) == NULL);
      strncat(declared, name, sizeof(declared) - strlen(declared) - 2);
      strcat(declared, " ");
      snprintf(current, sizeof(current), "%s", name);
    } else if (sscanf(l, "# TYPE %159s %31s", name, type) == 2) {
      CHECK_STR(name, current);
      if (strcmp(type, "histogram") == 0) {
        strncat(hist, name, sizeof(hist) - strlen(hist) - 2);
        strcat(hist, " ");
      }
    } else {
      CHECK(l[0] != '#');
      sample_family(name, sizeof(name), l, hist);
      CHECK_STR(name, current);
      samples++;
    }
  }
  CHECK(samples > 50);
  free(copy);
}

static void test_empty_has_every_series(void) {
  struct ed_stats_snapshot s;
  struct ed_control_stats c;
  struct ed_reload_status rl;
  ed_stats_snapshot_init(&s);
  memset(&c, 0, sizeof(c));
  memset(&rl, 0, sizeof(rl));
  rl.last_ok = 1;
  struct ed_metrics_input in = {.stats = &s, .control = &c, .reload = &rl};
  char *t = render(&in);
  check_structure(t);
  CHECK(has_line(t, "# TYPE echod_connections_accepted_total counter"));
  CHECK(has_line(t, "echod_connections_accepted_total 0"));
  CHECK(has_line(
      t, "echod_connections_rejected_total{reason=\"max_connections\"} 0"));
  CHECK(has_line(
      t, "echod_connections_rejected_total{reason=\"pending_handshakes\"} 0"));
  CHECK(has_line(t, "echod_connections_rejected_total{reason=\"draining\"} 0"));
  CHECK(has_line(t, "# TYPE echod_sessions_revoked_total counter"));
  for (int i = 0; i < ED_REVOKE_REASON_COUNT; i++) {
    char want[160];
    snprintf(want, sizeof(want),
             "echod_sessions_revoked_total{reason=\"%s\"} 0",
             ed_revoke_reason_name(i));
    CHECK(has_line(t, want));
  }
  for (int i = 0; i < ED_HS_REASON_COUNT; i++) {
    char want[160];
    snprintf(want, sizeof(want),
             "echod_tls_handshake_errors_total{reason=\"%s\"} 0",
             ed_hs_reason_name(i));
    CHECK(has_line(t, want));
  }
  CHECK(has_line(t, "echod_tls_handshakes_total{resumed=\"false\"} 0"));
  CHECK(has_line(t, "echod_tls_handshakes_total{resumed=\"true\"} 0"));
  CHECK(has_line(t,
                 "echod_tls_sessions_total{version=\"TLSv1.3\",cipher=\"TLS_"
                 "AES_128_GCM_SHA256\"} 0"));
  CHECK(has_line(t, "echod_connections_active{state=\"handshaking\"} 0"));
  CHECK(has_line(t, "echod_connections_active{state=\"established\"} 0"));
  CHECK(has_line(t, "echod_handshake_queue_depth 0"));
  CHECK(has_line(t, "echod_handshake_share_naps_total 0"));
  CHECK(has_line(t, "echod_handshake_share_nap_seconds_total 0"));
  CHECK(has_line(t, "echod_loop_batch_switches_total 0"));
  CHECK(has_line(t, "echod_loops_batch 0"));
  CHECK(has_line(
      t, "echod_reloads_total{result=\"failure\",trigger=\"admin\"} 0"));
  CHECK(has_line(
      t, "echod_reloads_total{result=\"success\",trigger=\"watch\"} 0"));
  CHECK(has_line(
      t, "echod_admin_requests_total{cmd=\"log-level\",result=\"error\"} 0"));
  CHECK(has_line(t, "echod_last_reload_successful 1"));
  CHECK(has_line(t, "echod_last_reload_timestamp_seconds 0"));
  CHECK(has_line(t, "echod_draining 0"));
  CHECK(
      has_line(t, "echod_build_info{version=\"dev\",boringssl=\"api-17\"} 1"));
  CHECK(has_line(
      t, "echod_tls_handshake_duration_seconds_bucket{le=\"0.0005\"} 0"));
  CHECK(has_line(t, "echod_tls_handshake_duration_seconds_bucket{le=\"5\"} 0"));
  CHECK(has_line(t, "echod_connection_duration_seconds_bucket{le=\"3600\"} 0"));
  CHECK(
      has_line(t, "echod_handshake_queue_wait_seconds_bucket{le=\"+Inf\"} 0"));
  CHECK(has_line(t, "echod_handshake_queue_wait_seconds_count 0"));
  /* No certificate, no CRL, no process: those series are absent. */
  CHECK(strstr(t, "role=") == NULL);
  CHECK(strstr(t, "echod_crl_next_update") == NULL);
  CHECK(strstr(t, "process_") == NULL);
  free(t);
}

static void test_values(void) {
  struct ed_stats a, b;
  struct ed_stats_snapshot s;
  ed_stats_init(&a);
  ed_stats_init(&b);
  ed_stat_add(&a.accepted, 5);
  ed_stat_add(&b.accepted, 7);
  ed_stat_add(&a.rejected[ED_REJECT_DRAINING], 2);
  ed_stat_add(&b.hs_errors[ED_HS_CERT_REVOKED], 3);
  ed_stat_add(&a.sessions_revoked[ED_REVOKE_REVOKED], 1);
  ed_stat_add(&b.sessions_revoked[ED_REVOKE_REVOKED], 1);
  ed_stat_add(&b.sessions_revoked[ED_REVOKE_UNKNOWN_CA], 5);
  ed_stat_add(&a.handshakes[1], 4);
  ed_stat_add(&a.sessions_by_suite[ED_SUITE_CHACHA20_POLY1305_SHA256], 9);
  ed_stat_add(&b.bytes_in, 1ull << 40);
  ed_stat_add(&b.bytes_out, 12345);
  ed_gauge_add(&a.active_established, 3);
  ed_gauge_add(&b.active_established, -1);
  ed_gauge_add(&b.active_handshaking, -2);     /* transiently negative: 0 */
  ed_hist_observe(&a.hs_duration, 300000);     /* 0.0003 s: first bucket */
  ed_hist_observe(&b.hs_duration, 2000000);    /* 0.002 s: le 0.0025 */
  ed_hist_observe(&b.hs_duration, 9000000000); /* 9 s: +Inf only */
  ed_stats_snapshot_init(&s);
  ed_stats_accumulate(&s, &a);
  ed_stats_accumulate(&s, &b);
  struct ed_metrics_input in = {.stats = &s, .version = "1.2.3\"x"};
  char *t = render(&in);
  check_structure(t);
  CHECK(has_line(t, "echod_connections_accepted_total 12"));
  CHECK(has_line(t, "echod_connections_rejected_total{reason=\"draining\"} 2"));
  CHECK(has_line(
      t, "echod_tls_handshake_errors_total{reason=\"cert_revoked\"} 3"));
  CHECK(has_line(t, "echod_tls_handshakes_total{resumed=\"true\"} 4"));
  CHECK(has_line(t, "echod_sessions_revoked_total{reason=\"revoked\"} 2"));
  CHECK(has_line(t, "echod_sessions_revoked_total{reason=\"unknown_ca\"} 5"));
  CHECK(has_line(t,
                 "echod_tls_sessions_total{version=\"TLSv1.3\",cipher=\"TLS_"
                 "CHACHA20_POLY1305_SHA256\"} 9"));
  CHECK(has_line(t, "echod_received_bytes_total 1099511627776"));
  CHECK(has_line(t, "echod_sent_bytes_total 12345"));
  CHECK(has_line(t, "echod_connections_active{state=\"established\"} 2"));
  CHECK(has_line(t, "echod_connections_active{state=\"handshaking\"} 0"));
  CHECK(has_line(
      t, "echod_tls_handshake_duration_seconds_bucket{le=\"0.0005\"} 1"));
  CHECK(has_line(
      t, "echod_tls_handshake_duration_seconds_bucket{le=\"0.001\"} 1"));
  CHECK(has_line(
      t, "echod_tls_handshake_duration_seconds_bucket{le=\"0.0025\"} 2"));
  CHECK(has_line(t, "echod_tls_handshake_duration_seconds_bucket{le=\"5\"} 2"));
  CHECK(has_line(t,
                 "echod_tls_handshake_duration_seconds_bucket{le=\"+Inf\"} 3"));
  CHECK(has_line(t, "echod_tls_handshake_duration_seconds_sum 9.0023"));
  CHECK(has_line(t, "echod_tls_handshake_duration_seconds_count 3"));
  CHECK(has_line(
      t, "echod_build_info{version=\"1.2.3\\\"x\",boringssl=\"api-17\"} 1"));
  /* Without reload stats the reload families are absent. */
  CHECK(strstr(t, "echod_reloads_total") == NULL);
  free(t);
}

static void test_certs_crl_draining(void) {
  struct ed_control_stats c;
  struct ed_reload_status rl;
  memset(&c, 0, sizeof(c));
  memset(&rl, 0, sizeof(rl));
  rl.last_ok = 0;
  rl.last_wall_ns = 1700000000123456789ull;
  rl.count[ED_RELOAD_ADMIN][0] = 1;
  rl.count[ED_RELOAD_ADMIN][1] = 2;
  c.admin_requests[ED_ADMIN_RELOAD][1] = 3;
  struct ed_metrics_input in = {
      .control = &c,
      .reload = &rl,
      .credential_snapshots = 3,
      .server_cert = {1, 1700000000, 1800000000},
      .ca_cert = {1, 1600000000, 2000000000},
      .has_crl = 1,
      .crl_next_update_s = 1750000000,
      .state = ED_METRICS_DRAINING,
  };
  char *t = render(&in);
  check_structure(t);
  CHECK(has_line(
      t, "echod_cert_not_after_timestamp_seconds{role=\"server\"} 1800000000"));
  CHECK(has_line(
      t, "echod_cert_not_after_timestamp_seconds{role=\"ca\"} 2000000000"));
  CHECK(has_line(
      t,
      "echod_cert_not_before_timestamp_seconds{role=\"server\"} 1700000000"));
  CHECK(has_line(
      t, "echod_cert_not_before_timestamp_seconds{role=\"ca\"} 1600000000"));
  CHECK(has_line(t, "echod_crl_next_update_timestamp_seconds 1750000000"));
  CHECK(has_line(t, "echod_draining 1"));
  CHECK(has_line(t, "echod_last_reload_successful 0"));
  CHECK(has_line(t, "echod_last_reload_timestamp_seconds 1700000000.123"));
  CHECK(has_line(t, "echod_credential_snapshots 3"));
  CHECK(has_line(
      t, "echod_reloads_total{result=\"failure\",trigger=\"admin\"} 1"));
  CHECK(has_line(
      t, "echod_reloads_total{result=\"success\",trigger=\"admin\"} 2"));
  CHECK(has_line(t,
                 "echod_admin_requests_total{cmd=\"reload\",result=\"ok\"} 3"));
  free(t);
}

/* The metrics port's own refusals: one series per reason when there is
 * an endpoint, none without (echoctl metrics under --no-metrics). */
static void test_endpoint_refusals(void) {
  struct ed_metrics_input in = {0};
  char *t = render(&in);
  CHECK(strstr(t, "echod_metrics_connections_refused_total") == NULL);
  free(t);
  in.has_endpoint = 1;
  in.endpoint_refused[ED_METRICS_REFUSE_PER_CLIENT] = 7;
  in.endpoint_refused[ED_METRICS_REFUSE_PROBE_ONLY] = 2;
  t = render(&in);
  check_structure(t);
  CHECK(has_line(t,
                 "echod_metrics_connections_refused_total{reason=\"full\"} 0"));
  CHECK(has_line(
      t, "echod_metrics_connections_refused_total{reason=\"per_client\"} 7"));
  CHECK(has_line(
      t, "echod_metrics_connections_refused_total{reason=\"taken_over\"} 0"));
  CHECK(has_line(
      t, "echod_metrics_connections_refused_total{reason=\"probe_only\"} 2"));
  free(t);
}

static void test_cap(void) {
  struct ed_buf b;
  struct ed_metrics_input in = {0};
  ed_buf_init(&b, 256);
  CHECK_EQ(ed_metrics_render(&b, &in), ED_E_TOOBIG);
  ed_buf_cleanup(&b);
}

static void test_ready(void) {
  const char *why = NULL;
  struct ed_metrics_input in = {.server_cert = {1, 100, 200},
                                .state = ED_METRICS_RUNNING};
  CHECK_EQ(ed_metrics_ready(&in, 150, &why), 1);
  CHECK_STR(why, "ok");
  CHECK_EQ(ed_metrics_ready(&in, 201, &why), 0);
  CHECK_STR(why, "server certificate expired");
  CHECK_EQ(ed_metrics_ready(&in, 99, &why), 0);
  CHECK_STR(why, "server certificate not yet valid");
  in.state = ED_METRICS_DRAINING;
  CHECK_EQ(ed_metrics_ready(&in, 150, &why), 0);
  CHECK_STR(why, "draining");
  in.state = ED_METRICS_STARTING;
  CHECK_EQ(ed_metrics_ready(&in, 150, &why), 0);
  CHECK_STR(why, "starting");
  in.state = ED_METRICS_RUNNING;
  in.server_cert.present = 0;
  CHECK_EQ(ed_metrics_ready(&in, 150, &why), 0);
  CHECK_STR(why, "no valid certificate loaded");
}

static void test_process(void) {
  struct ed_metrics_process p;
  volatile double x = 0;
  /* Burn a little CPU so cpu_seconds is above zero. */
  for (long i = 0; i < 20000000; i++) x += (double)i;
  CHECK_EQ(ed_metrics_process_read(&p), 0);
  double now = (double)time(NULL);
  CHECK(p.cpu_seconds > 0 && p.cpu_seconds < 60);
  CHECK(p.resident_bytes > 100000);
  CHECK(p.open_fds >= 3 && p.open_fds < 1000);
  CHECK(p.max_fds >= p.open_fds);
  CHECK(p.start_time_seconds > now - 600 && p.start_time_seconds <= now + 2);
  struct ed_metrics_input in = {.process = &p};
  char *t = render(&in);
  check_structure(t);
  CHECK(has_line(t, "# TYPE process_cpu_seconds_total counter"));
  CHECK(strstr(t, "\nprocess_resident_memory_bytes ") != NULL);
  CHECK(strstr(t, "\nprocess_open_fds ") != NULL);
  CHECK(strstr(t, "\nprocess_max_fds ") != NULL);
  CHECK(strstr(t, "\nprocess_start_time_seconds ") != NULL);
  free(t);
}

/* Values the exposition format spells specially (NaN, +Inf, -Inf), one
 * past int64 (once an undefined conversion), and label escaping of \\ and
 * newline. */
static void test_special_values_and_escapes(void) {
  struct ed_metrics_process p = {
      .cpu_seconds = NAN,
      .resident_bytes = INFINITY,
      .open_fds = -INFINITY,
      .max_fds = 18446744073709551616.0,
      .start_time_seconds = 1.5,
  };
  struct ed_metrics_input in = {.process = &p, .version = "a\\b\nc"};
  char *t = render(&in);
  check_structure(t);
  CHECK(has_line(t, "process_cpu_seconds_total NaN"));
  CHECK(has_line(t, "process_resident_memory_bytes +Inf"));
  CHECK(has_line(t, "process_open_fds -Inf"));
  CHECK(has_line(t, "process_max_fds 1.8446744073709552e+19"));
  CHECK(has_line(t, "process_start_time_seconds 1.5"));
  CHECK(has_line(
      t, "echod_build_info{version=\"a\\\\b\\nc\",boringssl=\"api-17\"} 1"));
  free(t);
}

int main(void) {
  RUN(test_empty_has_every_series);
  RUN(test_values);
  RUN(test_certs_crl_draining);
  RUN(test_endpoint_refusals);
  RUN(test_cap);
  RUN(test_ready);
  RUN(test_process);
  RUN(test_special_values_and_escapes);
  return TEST_RESULT();
}

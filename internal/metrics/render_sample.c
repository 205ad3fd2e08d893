/* Prints a rendering with every family populated (all counters, a cert
 * pair, a CRL, the real process metrics) for promtool_check_test.sh. */
#include <stdio.h>
#include <string.h>

#include "internal/metrics/metrics.h"

int main(void) {
  struct ed_stats s;
  struct ed_stats_snapshot snap;
  struct ed_control_stats c;
  struct ed_reload_status rl;
  struct ed_metrics_process p;
  struct ed_buf b;
  ed_stats_init(&s);
  ed_stat_add(&s.accepted, 10);
  ed_stat_add(&s.hs_errors[ED_HS_UNKNOWN_CA], 2);
  ed_stat_add(&s.sessions_revoked[ED_REVOKE_REVOKED], 1);
  ed_stat_add(&s.bytes_in, 1234);
  ed_hist_observe(&s.hs_duration, 1500000);
  ed_hist_observe(&s.queue_wait, 20000);
  ed_hist_observe(&s.conn_duration, 2500000000u);
  ed_stats_snapshot_init(&snap);
  ed_stats_accumulate(&snap, &s);
  memset(&c, 0, sizeof(c));
  memset(&rl, 0, sizeof(rl));
  rl.last_ok = 1;
  rl.last_wall_ns = ed_wall_ns();
  rl.count[ED_RELOAD_STARTUP][1] = 1;
  ed_metrics_process_read(&p);
  struct ed_metrics_input in = {
      .stats = &snap,
      .control = &c,
      .reload = &rl,
      .credential_snapshots = 1,
      .process = &p,
      .server_cert = {1, 1700000000, 1800000000},
      .ca_cert = {1, 1600000000, 2000000000},
      .has_crl = 1,
      .crl_next_update_s = 1750000000,
      .state = ED_METRICS_RUNNING,
      .version = "sample",
      .has_endpoint = 1,
      .endpoint_refused = {1, 2, 3, 4},
  };
  ed_buf_init(&b, 1 << 20);
  if (ed_metrics_render(&b, &in) != 0) return 1;
  fwrite(b.data, 1, b.len, stdout);
  ed_buf_cleanup(&b);
  return 0;
}

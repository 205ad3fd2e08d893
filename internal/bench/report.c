/* internal/bench — the human summary and the JSON object of a run. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "internal/base/base.h"
#include "internal/bench/bench_internal.h"

int ed_bench_result_failed(const struct ed_bench_result *r) {
  if (r->refused || r->connect_failed || r->mismatch || r->dropped ||
      r->timeouts)
    return 1;
  /* Every established session must echo after the hold; one that did
   * not and was not counted as a failure is a bug of the bench itself. */
  if (r->scenario == ED_BENCH_IDLE)
    return r->held == 0 || r->held < r->established;
  if (r->scenario == ED_BENCH_SCALE)
    return r->held == 0 || r->held < r->established ||
           r->scale.closed < r->held || r->scale.close_unclean;
  if (r->scenario == ED_BENCH_FLOOD) return r->quiet.n == 0;
  if (r->scenario == ED_BENCH_PARTIAL) return r->partial.sent == 0;
  return r->ops == 0;
}

/* client_saturated: the load generator used (nearly) all the CPU it may
 * use, so the server was probably not the bottleneck. */
static int client_saturated(const struct ed_bench_result *r) {
  uint32_t cores = r->threads < r->client_cpus ? r->threads : r->client_cpus;
  if (r->scenario == ED_BENCH_FLOOD) cores = r->client_cpus;
  return cores > 0 && r->client_cores >= 0.9 * cores;
}

static cJSON *lat_json(const struct ed_bench_lat *l) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "n", (double)l->n);
  cJSON_AddNumberToObject(o, "p50", l->p50_us);
  cJSON_AddNumberToObject(o, "p99", l->p99_us);
  cJSON_AddNumberToObject(o, "p999", l->p999_us);
  cJSON_AddNumberToObject(o, "max", l->max_us);
  cJSON_AddNumberToObject(o, "mean", l->mean_us);
  return o;
}

static void add_scale_server_json(cJSON *s, const struct ed_bench_result *r) {
  const struct ed_bench_scale *sc = &r->scale;
  cJSON_AddNumberToObject(s, "cpu_us_per_handshake", sc->cpu_us_per_hs);
  cJSON_AddNumberToObject(s, "cpu_us_per_echo", sc->cpu_us_per_echo);
  cJSON_AddNumberToObject(s, "cpu_us_per_close", sc->cpu_us_per_close);
  cJSON_AddNumberToObject(s, "hold_cores", sc->hold_server_cores);
  cJSON_AddNumberToObject(s, "rss_after_close_kib",
                          (double)sc->rss_after_close_kib);
  cJSON_AddNumberToObject(s, "fds_before", (double)sc->fds_before);
  cJSON_AddNumberToObject(s, "fds_held", (double)sc->fds_held);
  cJSON_AddNumberToObject(s, "fds_after", (double)sc->fds_after);
}

static void add_server_json(cJSON *root, const struct ed_bench_result *r) {
  if (!r->server_pid) return;
  cJSON *s = cJSON_AddObjectToObject(root, "server");
  cJSON_AddNumberToObject(s, "pid", r->server_pid);
  cJSON_AddBoolToObject(s, "ok", r->server_ok);
  cJSON_AddNumberToObject(s, "cpu_us", r->server_cpu_us);
  cJSON_AddNumberToObject(s, "cpu_us_per_op", r->server_cpu_us_per_op);
  if (r->scenario == ED_BENCH_BULK)
    cJSON_AddNumberToObject(s, "gb_per_cpu_s", r->server_gb_per_cpu_s);
  if (r->scenario == ED_BENCH_IDLE || r->scenario == ED_BENCH_SCALE) {
    cJSON_AddNumberToObject(s, "rss_before_kib",
                            (double)r->server_rss_before_kib);
    cJSON_AddNumberToObject(s, "rss_after_kib",
                            (double)r->server_rss_after_kib);
    cJSON_AddNumberToObject(s, "kib_per_session", r->server_kib_per_session);
  }
  if (r->scenario == ED_BENCH_SCALE) add_scale_server_json(s, r);
}

static cJSON *pair_json(const char *k1, double v1, const char *k2, double v2) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, k1, v1);
  cJSON_AddNumberToObject(o, k2, v2);
  return o;
}

/* add_solo_json: the closed-loop flood's storm on its own, and the
 * storm's rate under the echo load as a fraction of it. */
static void add_solo_json(cJSON *root, const struct ed_bench_result *r) {
  cJSON *o = cJSON_AddObjectToObject(root, "solo_storm");
  cJSON_AddNumberToObject(o, "handshakes", (double)r->solo_handshakes);
  cJSON_AddNumberToObject(o, "hs_per_s", r->solo_hs_per_s);
  cJSON_AddItemToObject(o, "handshake_us", lat_json(&r->solo_lat));
  if (r->server_ok)
    cJSON_AddNumberToObject(o, "server_cores", r->solo_server_cores);
  cJSON_AddNumberToObject(
      root, "storm_hs_kept",
      r->solo_hs_per_s > 0 ? r->storm_hs_per_s / r->solo_hs_per_s : 0);
}

/* add_scale_json: the sessions' fate, the ramp, and what the server and
 * the kernel held before, during and after. */
static void add_scale_json(cJSON *root, const struct ed_bench_result *r) {
  const struct ed_bench_scale *sc = &r->scale;
  cJSON *o = cJSON_AddObjectToObject(root, "sessions");
  cJSON_AddNumberToObject(o, "attempted", (double)sc->attempted);
  cJSON_AddNumberToObject(o, "established", (double)r->established);
  cJSON_AddNumberToObject(o, "refused_at_limit", (double)sc->refused);
  if (sc->first_refusal[0])
    cJSON_AddStringToObject(o, "first_refusal", sc->first_refusal);
  cJSON_AddNumberToObject(o, "held", (double)r->held);
  cJSON_AddNumberToObject(o, "closed", (double)sc->closed);
  cJSON_AddNumberToObject(o, "close_unclean", (double)sc->close_unclean);
  cJSON *t = cJSON_AddObjectToObject(root, "phases_s");
  cJSON_AddNumberToObject(t, "ramp", sc->ramp_s);
  cJSON_AddNumberToObject(t, "hold", sc->hold_s);
  cJSON_AddNumberToObject(t, "check", sc->check_s);
  cJSON_AddNumberToObject(t, "close", sc->close_s);
  cJSON_AddNumberToObject(root, "ramp_hs_per_s", sc->ramp_hs_per_s);
  cJSON *k = cJSON_AddObjectToObject(root, "kernel");
  cJSON_AddNumberToObject(k, "slab_kib", (double)sc->slab_kib);
  cJSON_AddNumberToObject(k, "tcp_mem_kib", (double)sc->sock_mem_kib);
  cJSON_AddNumberToObject(
      k, "kib_per_session",
      r->established
          ? (double)(sc->slab_kib + sc->sock_mem_kib) / (double)r->established
          : 0);
  cJSON *c = cJSON_AddObjectToObject(root, "client_fds");
  cJSON_AddNumberToObject(c, "limit", (double)sc->client_fd_limit);
  cJSON_AddNumberToObject(c, "max_sessions", (double)sc->client_max_sessions);
}

/* add_flood_json: the storm, the paced echo's achieved rate, and the
 * saturation evidence with its verdict. */
static void add_flood_json(cJSON *root, const struct ed_bench_result *r) {
  cJSON_AddItemToObject(root, "quiet_rtt_us", lat_json(&r->quiet));
  cJSON_AddItemToObject(root, "storm_rtt_us", lat_json(&r->storm_lat));
  cJSON_AddNumberToObject(
      root, "p99_ratio",
      r->quiet.p99_us > 0 ? r->storm_lat.p99_us / r->quiet.p99_us : 0);
  cJSON_AddNumberToObject(root, "rate_per_conn", r->rate);
  cJSON_AddItemToObject(
      root, "achieved_rate_per_conn",
      pair_json("quiet", r->quiet_rate, "storm", r->storm_rate));
  cJSON_AddItemToObject(root, "late_sends",
                        pair_json("quiet", (double)r->quiet_late, "storm",
                                  (double)r->storm_late));
  cJSON_AddNumberToObject(root, "storm_handshakes",
                          (double)r->storm_handshakes);
  cJSON_AddNumberToObject(root, "storm_hs_per_s", r->storm_hs_per_s);
  cJSON_AddItemToObject(root, "storm_handshake_us", lat_json(&r->lat));
  cJSON_AddBoolToObject(root, "storm_verifies_server", 0);
  cJSON_AddNumberToObject(root, "echo_conns", r->conns);
  cJSON_AddBoolToObject(root, "closed_loop", r->rate == 0);
  cJSON_AddNumberToObject(root, "cycles", r->cycles);
  if (r->storm_sched)
    cJSON_AddStringToObject(root, "storm_sched", r->storm_sched);
  cJSON_AddNumberToObject(root, "storm_handshakes_in_quiet",
                          (double)r->storm_handshakes_in_quiet);
  cJSON_AddNumberToObject(
      root, "echo_rate_kept",
      r->quiet_rate > 0 ? r->storm_rate / r->quiet_rate : 0);
  if (r->solo) add_solo_json(root, r);
  if (r->server_ok) {
    cJSON_AddNumberToObject(root, "storm_server_cores", r->server_cores);
    cJSON_AddNumberToObject(root, "quiet_server_cores", r->quiet_server_cores);
  }
  if (r->metrics_asked) {
    cJSON *q = cJSON_AddObjectToObject(root, "pool_queue_depth");
    cJSON_AddNumberToObject(q, "samples", r->queue_samples);
    cJSON_AddNumberToObject(q, "min", r->queue_min);
    cJSON_AddNumberToObject(q, "median", r->queue_median);
    cJSON_AddNumberToObject(q, "errors", r->queue_errors);
    if (r->queue_error[0])
      cJSON_AddStringToObject(q, "first_error", r->queue_error);
  }
  cJSON_AddBoolToObject(root, "saturated", r->saturated);
  cJSON_AddStringToObject(root, "saturation_basis",
                          r->saturation_basis ? r->saturation_basis : "none");
}

static void add_scenario_json(cJSON *root, const struct ed_bench_result *r) {
  switch (r->scenario) {
    case ED_BENCH_HANDSHAKE:
      cJSON_AddNumberToObject(root, "resumed", (double)r->resumed);
      cJSON_AddNumberToObject(root, "resumed_fraction",
                              r->ops ? (double)r->resumed / (double)r->ops : 0);
      cJSON_AddItemToObject(root, "latency_us", lat_json(&r->lat));
      break;
    case ED_BENCH_ECHO:
      cJSON_AddItemToObject(root, "rtt_us", lat_json(&r->lat));
      if (r->rate) cJSON_AddNumberToObject(root, "rate_per_conn", r->rate);
      break;
    case ED_BENCH_IDLE:
      cJSON_AddNumberToObject(root, "established", (double)r->established);
      cJSON_AddNumberToObject(root, "held", (double)r->held);
      break;
    case ED_BENCH_FLOOD:
      add_flood_json(root, r);
      break;
    case ED_BENCH_SCALE:
      add_scale_json(root, r);
      break;
    case ED_BENCH_PARTIAL:
      ed_bench__partial_json(root, r);
      break;
    default:
      break;
  }
}

char *ed_bench_result_json(const struct ed_bench_result *r) {
  cJSON *root = cJSON_CreateObject();
  cJSON_AddStringToObject(root, "scenario",
                          ed_bench_scenario_name(r->scenario));
  cJSON_AddNumberToObject(root, "conns", r->conns);
  cJSON_AddNumberToObject(root, "size", r->size);
  cJSON_AddNumberToObject(root, "threads", r->threads);
  cJSON_AddBoolToObject(root, "plain", r->plain);
  if (r->shape[0]) cJSON_AddStringToObject(root, "shape", r->shape);
  cJSON_AddNumberToObject(root, "sources", r->sources);
  if (r->scenario == ED_BENCH_FLOOD)
    cJSON_AddNumberToObject(root, "storm", r->storm);
  cJSON_AddBoolToObject(root, "resume", r->resume);
  cJSON_AddNumberToObject(root, "elapsed_s", r->elapsed_s);
  cJSON_AddNumberToObject(root, "ops", (double)r->ops);
  cJSON_AddNumberToObject(root, "ops_per_s", r->ops_per_s);
  cJSON_AddNumberToObject(root, "bytes", (double)r->bytes);
  cJSON_AddNumberToObject(root, "mb_per_s", r->mb_per_s);
  add_scenario_json(root, r);
  cJSON *e = cJSON_AddObjectToObject(root, "errors");
  cJSON_AddNumberToObject(e, "refused", (double)r->refused);
  cJSON_AddNumberToObject(e, "connect_failed", (double)r->connect_failed);
  cJSON_AddNumberToObject(e, "mismatch", (double)r->mismatch);
  cJSON_AddNumberToObject(e, "dropped", (double)r->dropped);
  cJSON_AddNumberToObject(e, "timeouts", (double)r->timeouts);
  if (r->first_error[0]) cJSON_AddStringToObject(e, "first", r->first_error);
  cJSON *t = cJSON_AddObjectToObject(root, "tls");
  cJSON_AddStringToObject(t, "version", r->version);
  cJSON_AddStringToObject(t, "cipher", r->cipher);
  cJSON_AddStringToObject(t, "group", r->group);
  cJSON *c = cJSON_AddObjectToObject(root, "client");
  cJSON_AddNumberToObject(c, "cores_used", r->client_cores);
  cJSON_AddNumberToObject(c, "cpus", r->client_cpus);
  cJSON_AddBoolToObject(c, "saturated", client_saturated(r));
  add_server_json(root, r);
  cJSON_AddBoolToObject(root, "ok", !ed_bench_result_failed(r));
  char *s = cJSON_PrintUnformatted(root);
  cJSON_Delete(root);
  return s;
}

static void print_lat(FILE *f, const char *what, const struct ed_bench_lat *l) {
  fprintf(f, "  %-14s p50 %.0f us  p99 %.0f us  p999 %.0f us  max %.0f us\n",
          what, l->p50_us, l->p99_us, l->p999_us, l->max_us);
}

static void print_flood(FILE *f, const struct ed_bench_result *r) {
  if (r->rate)
    fprintf(f,
            "  paced echo     %u msgs/s per conn asked; achieved %.0f quiet, "
            "%.0f storm; late sends %llu quiet, %llu storm\n",
            r->rate, r->quiet_rate, r->storm_rate,
            (unsigned long long)r->quiet_late,
            (unsigned long long)r->storm_late);
  else
    fprintf(f, "  closed loop    %.0f msgs/s per conn quiet, %.0f storm\n",
            r->quiet_rate, r->storm_rate);
  if (r->cycles)
    fprintf(f, "  windows        %u quiet and %u storm, taking turns\n",
            r->cycles, r->cycles);
  print_lat(f, "quiet rtt", &r->quiet);
  print_lat(f, "storm rtt", &r->storm_lat);
  fprintf(f,
          "  storm          %llu handshakes (%.0f/s, p50 %.0f us; server "
          "chain not verified); p99 x%.2f\n",
          (unsigned long long)r->storm_handshakes, r->storm_hs_per_s,
          r->lat.p50_us,
          r->quiet.p99_us > 0 ? r->storm_lat.p99_us / r->quiet.p99_us : 0);
  if (r->server_ok)
    fprintf(f, "  server cores   %.2f during the storm\n", r->server_cores);
  if (r->metrics_asked && r->queue_samples)
    fprintf(f, "  pool queue     min %.0f, median %.1f (%u samples)\n",
            r->queue_min, r->queue_median, r->queue_samples);
  else if (r->metrics_asked)
    fprintf(f, "  pool queue     no sample (%s)\n", r->queue_error);
  fprintf(f, "  saturated      %s (by %s)\n", r->saturated ? "yes" : "no",
          r->saturation_basis ? r->saturation_basis : "none");
  if (r->solo)
    fprintf(
        f,
        "  storm alone    %.0f handshakes/s (p50 %.0f us); under the echo "
        "load %.0f%% of it; echo kept %.0f%% of its quiet rate\n",
        r->solo_hs_per_s, r->solo_lat.p50_us,
        r->solo_hs_per_s > 0 ? 100 * r->storm_hs_per_s / r->solo_hs_per_s : 0,
        r->quiet_rate > 0 ? 100 * r->storm_rate / r->quiet_rate : 0);
  if (r->server_ok && r->rate == 0)
    fprintf(f, "  server cores   %.2f quiet (closed loop)\n",
            r->quiet_server_cores);
}

static void print_scale(FILE *f, const struct ed_bench_result *r) {
  const struct ed_bench_scale *sc = &r->scale;
  fprintf(f,
          "  sessions       %llu of %llu established (%.0f/s over %.1f s), "
          "%llu refused at the limit\n",
          (unsigned long long)r->established, (unsigned long long)sc->attempted,
          sc->ramp_hs_per_s, sc->ramp_s, (unsigned long long)sc->refused);
  if (sc->first_refusal[0])
    fprintf(f, "  first refusal  %s\n", sc->first_refusal);
  fprintf(f,
          "                 %llu held %.1f s and echoed, %llu closed cleanly "
          "(%llu not)\n",
          (unsigned long long)r->held, sc->hold_s,
          (unsigned long long)sc->closed,
          (unsigned long long)sc->close_unclean);
  fprintf(f, "  client fds     limit %llu: at most %llu sessions fit\n",
          (unsigned long long)sc->client_fd_limit,
          (unsigned long long)sc->client_max_sessions);
}

static void print_scenario(FILE *f, const struct ed_bench_result *r) {
  switch (r->scenario) {
    case ED_BENCH_HANDSHAKE:
      fprintf(f, "  handshakes     %llu (%.0f/s)", (unsigned long long)r->ops,
              r->ops_per_s);
      if (r->resume)
        fprintf(f, ", resumed %llu (%.1f%%)", (unsigned long long)r->resumed,
                r->ops ? 100.0 * (double)r->resumed / (double)r->ops : 0);
      fprintf(f, "\n");
      print_lat(f, "latency", &r->lat);
      break;
    case ED_BENCH_ECHO:
      fprintf(f, "  messages       %llu (%.0f/s, %.1f MB/s)",
              (unsigned long long)r->ops, r->ops_per_s, r->mb_per_s);
      if (r->rate)
        fprintf(f, ", paced at %u/s per connection", (unsigned)r->rate);
      fprintf(f, "\n");
      print_lat(f, "rtt", &r->lat);
      break;
    case ED_BENCH_BULK:
      fprintf(f, "  echoed         %.1f MB (%.1f MB/s), every byte checked\n",
              (double)r->bytes / 1e6, r->mb_per_s);
      break;
    case ED_BENCH_IDLE:
      fprintf(f, "  sessions       %llu established, %llu held for %.1f s\n",
              (unsigned long long)r->established, (unsigned long long)r->held,
              r->elapsed_s);
      break;
    case ED_BENCH_FLOOD:
      print_flood(f, r);
      break;
    case ED_BENCH_SCALE:
      print_scale(f, r);
      break;
    case ED_BENCH_PARTIAL:
      ed_bench__partial_print(f, r);
      break;
  }
}

static void print_server(FILE *f, const struct ed_bench_result *r) {
  if (!r->server_pid) return;
  if (!r->server_ok) {
    fprintf(f, "  server         pid %d: cannot read /proc\n", r->server_pid);
    return;
  }
  fprintf(f, "  server cpu     %.0f us total, %.2f us per op", r->server_cpu_us,
          r->server_cpu_us_per_op);
  if (r->scenario == ED_BENCH_BULK)
    fprintf(f, ", %.2f GB/s per core", r->server_gb_per_cpu_s);
  fprintf(f, "\n");
  if (r->scenario == ED_BENCH_IDLE || r->scenario == ED_BENCH_SCALE)
    fprintf(f, "  server rss     %llu -> %llu KiB, %.1f KiB per session\n",
            (unsigned long long)r->server_rss_before_kib,
            (unsigned long long)r->server_rss_after_kib,
            r->server_kib_per_session);
  if (r->scenario == ED_BENCH_SCALE)
    fprintf(f,
            "  server after   %llu KiB RSS, %llu fds (%llu before, %llu "
            "held); %.1f us CPU per handshake, %.1f per echo\n",
            (unsigned long long)r->scale.rss_after_close_kib,
            (unsigned long long)r->scale.fds_after,
            (unsigned long long)r->scale.fds_before,
            (unsigned long long)r->scale.fds_held, r->scale.cpu_us_per_hs,
            r->scale.cpu_us_per_echo);
}

void ed_bench_result_print(FILE *f, const struct ed_bench_result *r) {
  fprintf(f, "%s%s: %u conns, %u bytes, %u client thread(s), %.2f s",
          ed_bench_scenario_name(r->scenario), r->plain ? " (plain TCP)" : "",
          r->conns, r->size, r->threads, r->elapsed_s);
  if (r->sources) fprintf(f, ", %u source addresses", r->sources);
  if (r->shape[0]) fprintf(f, ", shaped %s", r->shape);
  if (r->version[0]) fprintf(f, ", %s %s %s", r->version, r->cipher, r->group);
  fprintf(f, "\n");
  print_scenario(f, r);
  print_server(f, r);
  fprintf(
      f, "  client cpu     %.2f cores of %u%s\n", r->client_cores,
      r->client_cpus,
      client_saturated(r) ? " (saturated: the client is the bottleneck)" : "");
  fprintf(f,
          "  errors         refused %llu, connect %llu, mismatch %llu, "
          "dropped %llu, timeouts %llu\n",
          (unsigned long long)r->refused, (unsigned long long)r->connect_failed,
          (unsigned long long)r->mismatch, (unsigned long long)r->dropped,
          (unsigned long long)r->timeouts);
  if (r->first_error[0]) fprintf(f, "  first error    %s\n", r->first_error);
  fprintf(f, "%s\n", ed_bench_result_failed(r) ? "FAILED" : "ok");
}

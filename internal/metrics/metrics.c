/* internal/metrics — see metrics.h. */
#include "internal/metrics/metrics.h"

#include <dirent.h>
#include <math.h>
#include <openssl/base.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define STR2_(x) #x
#define STR_(x) STR2_(x)

const char *ed_metrics_boringssl_version(void) {
  return "api-" STR_(BORINGSSL_API_VERSION);
}

/* ---- low-level writers --------------------------------------------------- */

/* A rendering in progress; the first error sticks. */
struct out {
  struct ed_buf *b;
  int err;
};

static void put(struct out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...) {
  char line[1024];
  va_list ap;
  if (o->err) return;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof(line)) {
    o->err = ED_E_TOOBIG;
    return;
  }
  o->err = ed_buf_append(o->b, line, (size_t)n);
}

/* fmt_double writes |v| in the shortest form that reads back exactly
 * ("0.0005", "3600", "1.5e+09"), as Prometheus client libraries do, and
 * the exposition format's spellings "NaN", "+Inf" and "-Inf". */
static const char *fmt_double(char *buf, size_t len, double v) {
  if (isnan(v)) return snprintf(buf, len, "NaN"), buf;
  if (isinf(v)) return snprintf(buf, len, v > 0 ? "+Inf" : "-Inf"), buf;
  /* Range first: converting an out-of-range double is undefined. */
  if (v > -1e15 && v < 1e15 && v == (double)(int64_t)v) {
    snprintf(buf, len, "%lld", (long long)v);
    return buf;
  }
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(buf, len, "%.*g", prec, v);
    if (strtod(buf, NULL) == v) break;
  }
  return buf;
}

/* label_escape copies |s| into |buf| with \\, \" and \n escaped. */
static const char *label_escape(char *buf, size_t len, const char *s) {
  size_t j = 0;
  for (; *s && j + 3 < len; s++) {
    if (*s == '\\' || *s == '"') {
      buf[j++] = '\\';
      buf[j++] = *s;
    } else if (*s == '\n') {
      buf[j++] = '\\';
      buf[j++] = 'n';
    } else {
      buf[j++] = *s;
    }
  }
  buf[j] = '\0';
  return buf;
}

/* help_escape copies |s| into |buf| with \\ and \n escaped, as HELP text
 * requires (quotes stay as they are there). */
static const char *help_escape(char *buf, size_t len, const char *s) {
  size_t j = 0;
  for (; *s && j + 3 < len; s++) {
    if (*s == '\\' || *s == '\n') buf[j++] = '\\';
    buf[j++] = *s == '\n' ? 'n' : *s;
  }
  buf[j] = '\0';
  return buf;
}

static void family(struct out *o, const char *name, const char *type,
                   const char *help) {
  char h[256];
  put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help_escape(h, sizeof(h), help),
      name, type);
}

/* |labels| is "" or the inside of the braces: a="x",b="y". */
static void sample_u(struct out *o, const char *name, const char *labels,
                     uint64_t v) {
  if (labels[0]) {
    put(o, "%s{%s} %llu\n", name, labels, (unsigned long long)v);
  } else {
    put(o, "%s %llu\n", name, (unsigned long long)v);
  }
}

static void sample_d(struct out *o, const char *name, const char *labels,
                     double v) {
  char num[40];
  fmt_double(num, sizeof(num), v);
  if (labels[0]) {
    put(o, "%s{%s} %s\n", name, labels, num);
  } else {
    put(o, "%s %s\n", name, num);
  }
}

static uint64_t nonneg(int64_t v) {
  return v < 0 ? 0 : (uint64_t)v;
}

/* ---- families ------------------------------------------------------------ */

static void render_connections(struct out *o,
                               const struct ed_stats_snapshot *s) {
  char l[128];
  family(o, "echod_connections_accepted_total", "counter",
         "TCP connections accepted.");
  sample_u(o, "echod_connections_accepted_total", "", s->accepted);
  family(o, "echod_connections_rejected_total", "counter",
         "New connections closed at once, before any handshake, by reason.");
  for (int i = 0; i < ED_REJECT_REASON_COUNT; i++) {
    snprintf(l, sizeof(l), "reason=\"%s\"", ed_reject_reason_name(i));
    sample_u(o, "echod_connections_rejected_total", l, s->rejected[i]);
  }
  family(o, "echod_connections_closed_total", "counter",
         "Connections fully closed.");
  sample_u(o, "echod_connections_closed_total", "", s->closed);
  family(o, "echod_sessions_revoked_total", "counter",
         "Established sessions closed by the re-check after a credential "
         "reload, by reason.");
  for (int i = 0; i < ED_REVOKE_REASON_COUNT; i++) {
    snprintf(l, sizeof(l), "reason=\"%s\"", ed_revoke_reason_name(i));
    sample_u(o, "echod_sessions_revoked_total", l, s->sessions_revoked[i]);
  }
  family(o, "echod_connections_active", "gauge", "Open connections by state.");
  sample_u(o, "echod_connections_active", "state=\"handshaking\"",
           nonneg(s->active_handshaking));
  sample_u(o, "echod_connections_active", "state=\"established\"",
           nonneg(s->active_established));
}

static void render_tls(struct out *o, const struct ed_stats_snapshot *s) {
  char l[160];
  family(o, "echod_tls_handshakes_total", "counter",
         "TLS handshakes completed, by whether the session was resumed.");
  sample_u(o, "echod_tls_handshakes_total", "resumed=\"false\"",
           s->handshakes[0]);
  sample_u(o, "echod_tls_handshakes_total", "resumed=\"true\"",
           s->handshakes[1]);
  family(o, "echod_tls_handshake_errors_total", "counter",
         "TLS handshakes that failed, by reason.");
  for (int i = 0; i < ED_HS_REASON_COUNT; i++) {
    snprintf(l, sizeof(l), "reason=\"%s\"", ed_hs_reason_name(i));
    sample_u(o, "echod_tls_handshake_errors_total", l, s->hs_errors[i]);
  }
  family(o, "echod_tls_sessions_total", "counter",
         "Established TLS sessions by protocol version and cipher suite.");
  for (int i = 0; i < ED_SUITE_COUNT; i++) {
    snprintf(l, sizeof(l), "version=\"%s\",cipher=\"%s\"", ed_suite_version(i),
             ed_suite_name(i));
    sample_u(o, "echod_tls_sessions_total", l, s->sessions_by_suite[i]);
  }
  family(o, "echod_received_bytes_total", "counter",
         "Plaintext bytes received from clients.");
  sample_u(o, "echod_received_bytes_total", "", s->bytes_in);
  family(o, "echod_sent_bytes_total", "counter",
         "Plaintext bytes echoed back to clients.");
  sample_u(o, "echod_sent_bytes_total", "", s->bytes_out);
  family(o, "echod_handshake_queue_depth", "gauge",
         "Handshake steps waiting for a handshake pool thread.");
  sample_u(o, "echod_handshake_queue_depth", "", nonneg(s->queue_depth));
  family(o, "echod_handshake_share_naps_total", "counter",
         "Naps an I/O loop took so that waiting handshake steps get their "
         "--handshake-share of its core.");
  sample_u(o, "echod_handshake_share_naps_total", "", s->share_naps);
  family(o, "echod_handshake_share_nap_seconds_total", "counter",
         "Time I/O loops napped for --handshake-share.");
  sample_d(o, "echod_handshake_share_nap_seconds_total", "",
           (double)s->share_nap_ns / 1e9);
  family(o, "echod_loop_batch_switches_total", "counter",
         "Times an I/O loop ran as SCHED_BATCH because only handshakes kept "
         "the pool busy.");
  sample_u(o, "echod_loop_batch_switches_total", "", s->batch_switches);
  family(o, "echod_loops_batch", "gauge",
         "I/O loops running as SCHED_BATCH now.");
  sample_u(o, "echod_loops_batch", "", nonneg(s->loops_batch));
}

/* Cumulative buckets; +Inf and _count are the sum of the buckets read, so
 * a scrape racing the writers still yields a self-consistent histogram. */
static void render_hist(struct out *o, const char *name, const char *help,
                        const struct ed_hist_snapshot *h) {
  char metric[128], l[64], num[40];
  uint64_t cum = 0;
  family(o, name, "histogram", help);
  snprintf(metric, sizeof(metric), "%s_bucket", name);
  size_t nb = h->bounds ? h->bounds->num : 0;
  for (size_t i = 0; i < nb; i++) {
    cum += h->bucket[i];
    snprintf(l, sizeof(l), "le=\"%s\"",
             fmt_double(num, sizeof(num), h->bounds->le[i]));
    sample_u(o, metric, l, cum);
  }
  cum += h->bucket[nb];
  sample_u(o, metric, "le=\"+Inf\"", cum);
  snprintf(metric, sizeof(metric), "%s_sum", name);
  sample_d(o, metric, "", (double)h->sum_ns / 1e9);
  snprintf(metric, sizeof(metric), "%s_count", name);
  sample_u(o, metric, "", cum);
}

static void render_hists(struct out *o, const struct ed_stats_snapshot *s) {
  render_hist(o, "echod_tls_handshake_duration_seconds",
              "Time from accept to an established TLS session.",
              &s->hs_duration);
  render_hist(o, "echod_handshake_queue_wait_seconds",
              "Time a handshake step waited for a handshake pool thread.",
              &s->queue_wait);
  render_hist(o, "echod_connection_duration_seconds",
              "Lifetime of closed connections, accept to close.",
              &s->conn_duration);
}

static void render_reload(struct out *o, const struct ed_reload_status *c,
                          uint64_t snapshots) {
  static const char *const result[2] = {"failure", "success"};
  char l[128];
  family(o, "echod_reloads_total", "counter",
         "Credential reloads by result and trigger.");
  for (int t = 0; t < ED_RELOAD_TRIGGER_COUNT; t++) {
    for (int r = 1; r >= 0; r--) {
      snprintf(l, sizeof(l), "result=\"%s\",trigger=\"%s\"", result[r],
               ed_reload_trigger_name(t));
      sample_u(o, "echod_reloads_total", l, c->count[t][r]);
    }
  }
  family(o, "echod_last_reload_successful", "gauge",
         "1 if the last credential reload succeeded, 0 if it failed.");
  sample_u(o, "echod_last_reload_successful", "", c->last_ok ? 1 : 0);
  family(o, "echod_last_reload_timestamp_seconds", "gauge",
         "Wall time of the last credential reload attempt.");
  sample_d(o, "echod_last_reload_timestamp_seconds", "",
           (double)(c->last_wall_ns / 1000000) / 1e3);
  family(o, "echod_credential_snapshots", "gauge",
         "Credential snapshots in memory: the current one, one a reload is "
         "building, and older ones still held (handshakes under way; "
         "sessions from before a reload with --keep-sessions-on-reload), "
         "each freed within a second of its last use.");
  sample_u(o, "echod_credential_snapshots", "", snapshots);
}

static void render_control(struct out *o, const struct ed_control_stats *c) {
  char l[128];
  family(o, "echod_admin_requests_total", "counter",
         "Admin socket requests by command and result.");
  for (int i = 0; i < ED_ADMIN_CMD_COUNT; i++) {
    for (int r = 1; r >= 0; r--) {
      snprintf(l, sizeof(l), "cmd=\"%s\",result=\"%s\"", ed_admin_cmd_name(i),
               r ? "ok" : "error");
      sample_u(o, "echod_admin_requests_total", l, c->admin_requests[i][r]);
    }
  }
  family(o, "echod_admin_refused_peers_total", "counter",
         "Admin socket connections refused because of the peer's uid.");
  sample_u(o, "echod_admin_refused_peers_total", "", c->admin_refused_peers);
}

static void render_certs(struct out *o, const struct ed_metrics_input *in) {
  const struct {
    const char *role;
    const struct ed_metrics_cert *c;
  } roles[] = {{"server", &in->server_cert}, {"ca", &in->ca_cert}};
  char l[64];
  family(o, "echod_cert_not_after_timestamp_seconds", "gauge",
         "End of the validity of the loaded certificates, by role.");
  for (size_t i = 0; i < 2; i++) {
    if (!roles[i].c->present) continue;
    snprintf(l, sizeof(l), "role=\"%s\"", roles[i].role);
    sample_d(o, "echod_cert_not_after_timestamp_seconds", l,
             (double)roles[i].c->not_after_s);
  }
  family(o, "echod_cert_not_before_timestamp_seconds", "gauge",
         "Start of the validity of the loaded certificates, by role.");
  for (size_t i = 0; i < 2; i++) {
    if (!roles[i].c->present) continue;
    snprintf(l, sizeof(l), "role=\"%s\"", roles[i].role);
    sample_d(o, "echod_cert_not_before_timestamp_seconds", l,
             (double)roles[i].c->not_before_s);
  }
  if (in->has_crl) {
    family(o, "echod_crl_next_update_timestamp_seconds", "gauge",
           "nextUpdate of the loaded certificate revocation list.");
    sample_d(o, "echod_crl_next_update_timestamp_seconds", "",
             (double)in->crl_next_update_s);
  }
}

/* Which ticket keys are in use, never the keys: how many, and the sealing
 * key's id (public: every ticket carries it), so a fleet's replicas can be
 * compared after a rotation. */
static void render_ticket_keys(struct out *o,
                               const struct ed_metrics_input *in) {
  char l[128], id[48];
  if (!in->has_ticket_keys) return;
  const char *src = in->ticket_keys_from_file ? "file" : "memory";
  family(o, "echod_ticket_keys", "gauge",
         "Session-ticket keys that open tickets (the first also seals them), "
         "by source: file (--ticket-keys, shared by replicas) or memory.");
  snprintf(l, sizeof(l), "source=\"%s\"", src);
  sample_u(o, "echod_ticket_keys", l, in->ticket_keys);
  family(o, "echod_ticket_key_info", "gauge",
         "Always 1; id is the start of the id of the key sealing new "
         "tickets (public: every ticket carries it), source as "
         "echod_ticket_keys.");
  label_escape(id, sizeof(id), in->ticket_key_id);
  snprintf(l, sizeof(l), "source=\"%s\",id=\"%s\"", src, id);
  sample_u(o, "echod_ticket_key_info", l, 1);
}

static void render_endpoint(struct out *o, const struct ed_metrics_input *in) {
  static const char *const names[] = {
#define ED_METRICS_REFUSAL_NAME_(id, name) name,
      ED_METRICS_REFUSALS(ED_METRICS_REFUSAL_NAME_)
#undef ED_METRICS_REFUSAL_NAME_
  };
  char l[64];
  family(o, "echod_metrics_connections_refused_total", "counter",
         "Connections to the metrics port its limits turned away, by reason: "
         "full, per_client (closed unanswered), taken_over (a silent "
         "connection lost its probe slot), probe_only (503 for a request "
         "other than /healthz or /readyz in a probe slot).");
  for (int i = 0; i < ED_METRICS_REFUSE_COUNT; i++) {
    snprintf(l, sizeof(l), "reason=\"%s\"", names[i]);
    sample_u(o, "echod_metrics_connections_refused_total", l,
             in->endpoint_refused[i]);
  }
}

static void render_info(struct out *o, const struct ed_metrics_input *in) {
  char l[256], v[96];
  family(o, "echod_draining", "gauge",
         "1 while the server drains sessions before exiting.");
  sample_u(o, "echod_draining", "", in->state == ED_METRICS_DRAINING);
  family(o, "echod_build_info", "gauge",
         "Always 1; labels name the echod and BoringSSL versions.");
  label_escape(v, sizeof(v), in->version ? in->version : "dev");
  snprintf(l, sizeof(l), "version=\"%s\",boringssl=\"%s\"", v,
           ed_metrics_boringssl_version());
  sample_u(o, "echod_build_info", l, 1);
}

static void render_process(struct out *o, const struct ed_metrics_process *p) {
  family(o, "process_cpu_seconds_total", "counter",
         "Total user and system CPU time spent in seconds.");
  sample_d(o, "process_cpu_seconds_total", "", p->cpu_seconds);
  family(o, "process_resident_memory_bytes", "gauge",
         "Resident memory size in bytes.");
  sample_d(o, "process_resident_memory_bytes", "", p->resident_bytes);
  family(o, "process_open_fds", "gauge", "Number of open file descriptors.");
  sample_d(o, "process_open_fds", "", p->open_fds);
  family(o, "process_max_fds", "gauge",
         "Maximum number of open file descriptors.");
  sample_d(o, "process_max_fds", "", p->max_fds);
  family(o, "process_start_time_seconds", "gauge",
         "Start time of the process since unix epoch in seconds.");
  sample_d(o, "process_start_time_seconds", "", p->start_time_seconds);
}

int ed_metrics_render(struct ed_buf *out, const struct ed_metrics_input *in) {
  struct out o = {out, 0};
  struct ed_stats_snapshot empty;
  const struct ed_stats_snapshot *s = in->stats;
  if (!s) {
    ed_stats_snapshot_init(&empty);
    s = &empty;
  }
  render_connections(&o, s);
  render_tls(&o, s);
  render_hists(&o, s);
  if (in->reload) render_reload(&o, in->reload, in->credential_snapshots);
  if (in->control) render_control(&o, in->control);
  render_certs(&o, in);
  render_ticket_keys(&o, in);
  if (in->has_endpoint) render_endpoint(&o, in);
  render_info(&o, in);
  if (in->process) render_process(&o, in->process);
  return o.err;
}

/* ---- readiness ----------------------------------------------------------- */

int ed_metrics_ready(const struct ed_metrics_input *in, int64_t now_s,
                     const char **out_reason) {
  const struct ed_metrics_cert *c = &in->server_cert;
  const char *why = NULL;
  if (in->state == ED_METRICS_STARTING) {
    why = "starting";
  } else if (in->state == ED_METRICS_DRAINING) {
    why = "draining";
  } else if (!c->present) {
    why = "no valid certificate loaded";
  } else if (now_s < c->not_before_s) {
    why = "server certificate not yet valid";
  } else if (now_s > c->not_after_s) {
    why = "server certificate expired";
  }
  *out_reason = why ? why : "ok";
  return why == NULL;
}

/* ---- /proc/self ---------------------------------------------------------- */

/* btime from /proc/stat: boot time in seconds since the epoch. */
static double boot_time(void) {
  char line[256];
  double bt = 0;
  FILE *f = fopen("/proc/stat", "r");
  if (!f) return 0;
  while (fgets(line, sizeof(line), f)) {
    if (strncmp(line, "btime ", 6) == 0) {
      bt = strtod(line + 6, NULL);
      break;
    }
  }
  fclose(f);
  return bt;
}

/* Reads utime, stime, starttime and rss (pages) from /proc/self/stat. */
static int read_stat(struct ed_metrics_process *out) {
  char buf[1024];
  FILE *f = fopen("/proc/self/stat", "r");
  if (!f) return ED_E_IO;
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  buf[n] = '\0';
  /* The command name may hold spaces and ')': fields start after the
   * last ')'. Field 3 (state) is first there. */
  char *p = strrchr(buf, ')');
  if (!p || p[1] != ' ') return ED_E_IO; /* truncated: p + 2 would overrun */
  unsigned long long utime = 0, stime = 0, start = 0;
  long rss = 0;
  int got = sscanf(p + 2,
                   "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu "
                   "%*d %*d %*d %*d %*d %*d %llu %*u %ld",
                   &utime, &stime, &start, &rss);
  if (got != 4) return ED_E_IO;
  double hz = (double)sysconf(_SC_CLK_TCK);
  double page = (double)sysconf(_SC_PAGESIZE);
  out->cpu_seconds = (double)(utime + stime) / hz;
  out->resident_bytes = (double)rss * page;
  out->start_time_seconds = boot_time() + (double)start / hz;
  return 0;
}

static double count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) return 0;
  double n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] != '.') n++;
  }
  closedir(d);
  return n > 0 ? n - 1 : 0; /* the directory stream's own descriptor */
}

int ed_metrics_process_read(struct ed_metrics_process *out) {
  struct rlimit rl;
  memset(out, 0, sizeof(*out));
  int err = read_stat(out);
  out->open_fds = count_fds();
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    out->max_fds = (double)rl.rlim_cur;
  }
  return err;
}

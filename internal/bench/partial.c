/* internal/bench — partial: what a connection costs a server before its
 * handshake (bench.h). Established sessions echo, paced, the whole time;
 * after a quiet second, C plain TCP connections each send the start of a
 * TLS handshake record and never finish it. While they ramp and are held,
 * the server's RSS is sampled; at the end of the hold, RSS growth per
 * connection still held is the cost of one. A server that bounds how many
 * connections may be in their handshake closes the rest (at accept, or
 * when it gives up on them): those are counted, not errors. */
#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal/base/base.h"
#include "internal/bench/bench_internal.h"

typedef struct ed_bench__worker worker;
typedef struct ed_bench__pool pool_t;

#define ECHO_SIZE 64
#define QUIET_S 1.0
#define SAMPLE_NS 50000000u /* 50 ms */

void ed_bench__partial_setup(struct ed_bench__run *r) {
  size_t len = r->o->size;
  r->partial = ed_calloc(1, len > 9 ? len : 9);
  r->partial_len = len;
  uint8_t *p = r->partial;
  /* A handshake record, TLS 1.0 framing as a first record has, announcing
   * ED_BENCH_PARTIAL_RECORD bytes; in it, a ClientHello's header whose
   * body fills the record; then zeros. */
  p[0] = 22, p[1] = 3, p[2] = 1;
  p[3] = ED_BENCH_PARTIAL_RECORD >> 8, p[4] = ED_BENCH_PARTIAL_RECORD & 0xff;
  uint32_t body = ED_BENCH_PARTIAL_RECORD - 4;
  p[5] = 1;
  p[6] = (uint8_t)(body >> 16), p[7] = (uint8_t)(body >> 8);
  p[8] = (uint8_t)body;
}

/* What the server and the kernel hold, sampled while the connections come
 * and stay. */
struct watch {
  int pid;
  uint64_t rss0, rss, rss_peak, fds0, fds;
  uint64_t slab0, sock0, slab, sock;
  int rss_ok, kernel_ok;
  uint64_t peak_held, next_ns;
};

static uint64_t alive(const pool_t *p) {
  uint64_t n = 0;
  for (uint32_t i = 0; i < p->n; i++) n += atomic_load(&p->w[i].alive);
  return n;
}

static void watch_start(struct watch *w, int pid) {
  memset(w, 0, sizeof(*w));
  w->pid = pid;
  w->kernel_ok = ed_bench_kernel_mem(&w->slab0, &w->sock0) == 0;
  if (pid <= 0) return;
  w->rss_ok = ed_bench_proc_rss_kib(&w->rss0, pid) == 0;
  (void)ed_bench_proc_fds(&w->fds0, pid);
  w->rss_peak = w->rss0;
}

static void watch_tick(struct watch *w, const pool_t *p) {
  uint64_t now = ed_now_ns(), held = alive(p), rss;
  if (held > w->peak_held) w->peak_held = held;
  if (now < w->next_ns) return;
  w->next_ns = now + SAMPLE_NS;
  if (w->rss_ok && ed_bench_proc_rss_kib(&rss, w->pid) == 0 &&
      rss > w->rss_peak)
    w->rss_peak = rss;
}

static void watch_end(struct watch *w, const pool_t *p) {
  watch_tick(w, p);
  if (w->kernel_ok) w->kernel_ok = ed_bench_kernel_mem(&w->slab, &w->sock) == 0;
  if (w->pid <= 0) return;
  w->rss_ok = w->rss_ok && ed_bench_proc_rss_kib(&w->rss, w->pid) == 0;
  if (w->rss > w->rss_peak) w->rss_peak = w->rss;
  (void)ed_bench_proc_fds(&w->fds, w->pid);
}

/* wait_watching waits until |deadline_ns| or |done| (NULL: the whole
 * time), sampling as it goes. */
static void wait_watching(struct ed_bench__progress *pg, const pool_t *p,
                          const struct ed_bench__run *r, uint64_t deadline_ns,
                          ed_bench__done_fn done, struct watch *w) {
  struct timespec ts = {0, 10 * 1000 * 1000};
  while (ed_now_ns() < deadline_ns) {
    watch_tick(w, p);
    if (done && done(p, r)) return;
    nanosleep(&ts, NULL);
    ed_bench__progress_tick(pg, p);
  }
}

static void fill_partial(struct ed_bench_result *out, const pool_t *p,
                         const struct watch *w, const struct ed_bench__run *r) {
  struct ed_bench_partial *pt = &out->partial;
  pt->attempted = r->o->conns;
  pt->bytes = (uint32_t)r->partial_len;
  pt->sent = ed_bench__pool_sum(p, CTR(established));
  pt->held = alive(p);
  pt->peak_held = w->peak_held;
  pt->closed = ed_bench__pool_sum(p, CTR(limit_refused));
  uint64_t tried = 0;
  for (uint32_t i = 0; i < p->n; i++) tried += p->w[i].next_open;
  pt->unattempted = pt->attempted > tried ? pt->attempted - tried : 0;
  pt->fds_before = w->fds0;
  pt->fds_held = w->fds;
  pt->rss_peak_kib = w->rss_peak;
  if (w->rss_ok) {
    out->server_rss_before_kib = w->rss0;
    out->server_rss_after_kib = w->rss;
    if (pt->held)
      pt->kib_per_held = ((double)w->rss - (double)w->rss0) / (double)pt->held;
  }
  if (w->kernel_ok) {
    pt->slab_kib = (int64_t)w->slab - (int64_t)w->slab0;
    pt->sock_mem_kib = (int64_t)w->sock - (int64_t)w->sock0;
  }
  snprintf(pt->first_close, sizeof(pt->first_close), "%s", r->first_refusal);
}

/* start_partial starts the partial connections' loops, each allowed as
 * many open at once as this process's descriptors leave. */
static int start_partial(struct ed_bench__run *r, pool_t *p) {
  const struct ed_bench_opts *o = r->o;
  uint64_t room =
      r->max_sessions > o->echo_conns ? r->max_sessions - o->echo_conns : 1;
  uint32_t threads = o->threads < o->conns ? o->threads : o->conns;
  p->n = threads ? threads : 1;
  p->w = ed_calloc(p->n, sizeof(worker));
  uint32_t id = o->echo_conns;
  for (uint32_t i = 0; i < p->n; i++) {
    worker *w = &p->w[i];
    w->r = r;
    w->kind = K_PARTIAL;
    w->nconns = o->conns / p->n + (i < o->conns % p->n ? 1 : 0);
    w->first_id = id;
    w->fd_budget = (uint32_t)(room / p->n ? room / p->n : 1);
    id += w->nconns;
    int err = ed_bench__worker_start(w);
    if (err) {
      p->n = i;
      return err;
    }
  }
  return 0;
}

int ed_bench__run_partial(struct ed_bench__run *r, struct ed_bench_result *out,
                          struct ed_bench__progress *pg) {
  const struct ed_bench_opts *o = r->o;
  pool_t echo = {0}, part = {0};
  struct ed_bench__snap a, b;
  struct watch w;
  int err = 0;
  atomic_store(&r->phase, PH_SETUP);
  if (o->echo_conns)
    err =
        ed_bench__pool_start(&echo, r, K_ECHO, 1, o->echo_conns, ECHO_SIZE, 0);
  ed_bench__wait_for(pg, &echo, r,
                     ed_bench__deadline_after(ed_now_ns(), o->timeout_s + 20),
                     ed_bench__setup_finished);
  atomic_store(&r->phase, PH_MEASURE);
  ed_bench__pool_wake(&echo);
  uint64_t q0 = ed_now_ns();
  ed_bench__wait_for(pg, &echo, r, ed_bench__deadline_after(q0, QUIET_S), NULL);
  out->quiet_s = (double)(ed_now_ns() - q0) / 1e9;
  watch_start(&w, o->server_pid);
  ed_bench__snap_take(&a, &part, o->server_pid);
  atomic_store(&r->phase, PH_STORM);
  if (!err) err = start_partial(r, &part);
  wait_watching(
      pg, &part, r,
      ed_bench__deadline_after(a.t_ns, o->timeout_s + 30 + o->conns / 500.0),
      ed_bench__setup_finished, &w);
  uint64_t held_at = ed_now_ns();
  out->partial.ramp_s = (double)(held_at - a.t_ns) / 1e9;
  wait_watching(pg, &part, r, ed_bench__deadline_after(held_at, o->hold_s),
                NULL, &w);
  watch_end(&w, &part);
  ed_bench__snap_take(&b, &part, o->server_pid);
  out->partial.hold_s = (double)(ed_now_ns() - held_at) / 1e9;
  fill_partial(out, &part, &w, r);
  atomic_store(&r->phase, PH_STOP);
  ed_bench__pool_wake(&part);
  ed_bench__pool_stop(&echo, r);
  ed_bench__pool_join(&part);
  ed_bench__fill_window(out, &a, &b);
  out->ops = out->partial.held;
  out->server_cpu_us_per_op = /* per connection tried */
      o->conns && out->server_ok ? out->server_cpu_us / o->conns : 0;
  ed_bench__fill_failures(out, &echo);
  ed_bench__fill_failures(out, &part);
  ed_bench__merge_lat(&out->quiet, &echo, offsetof(worker, quiet));
  ed_bench__merge_lat(&out->storm_lat, &echo, offsetof(worker, storm));
  double conns = o->echo_conns ? o->echo_conns : 1;
  if (out->quiet_s > 0)
    out->quiet_rate = (double)out->quiet.n / out->quiet_s / conns;
  if (out->elapsed_s > 0)
    out->storm_rate = (double)out->storm_lat.n / out->elapsed_s / conns;
  out->established = ed_bench__pool_sum(&echo, CTR(established));
  ed_bench__pool_free(&echo);
  ed_bench__pool_free(&part);
  return err;
}

/* ---- report -------------------------------------------------------------- */

static cJSON *lat_json(const struct ed_bench_lat *l) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "n", (double)l->n);
  cJSON_AddNumberToObject(o, "p50", l->p50_us);
  cJSON_AddNumberToObject(o, "p99", l->p99_us);
  cJSON_AddNumberToObject(o, "max", l->max_us);
  return o;
}

void ed_bench__partial_json(struct cJSON *root,
                            const struct ed_bench_result *r) {
  const struct ed_bench_partial *pt = &r->partial;
  cJSON *o = cJSON_AddObjectToObject(root, "partial");
  cJSON_AddNumberToObject(o, "attempted", (double)pt->attempted);
  cJSON_AddNumberToObject(o, "bytes_each", pt->bytes);
  cJSON_AddNumberToObject(o, "sent", (double)pt->sent);
  cJSON_AddNumberToObject(o, "held", (double)pt->held);
  cJSON_AddNumberToObject(o, "peak_held", (double)pt->peak_held);
  cJSON_AddNumberToObject(o, "closed_by_server", (double)pt->closed);
  cJSON_AddNumberToObject(o, "unattempted", (double)pt->unattempted);
  if (pt->first_close[0])
    cJSON_AddStringToObject(o, "first_close", pt->first_close);
  cJSON_AddNumberToObject(o, "ramp_s", pt->ramp_s);
  cJSON_AddNumberToObject(o, "hold_s", pt->hold_s);
  cJSON *s = cJSON_AddObjectToObject(root, "partial_server");
  cJSON_AddNumberToObject(s, "rss_before_kib",
                          (double)r->server_rss_before_kib);
  cJSON_AddNumberToObject(s, "rss_held_kib", (double)r->server_rss_after_kib);
  cJSON_AddNumberToObject(s, "rss_peak_kib", (double)pt->rss_peak_kib);
  cJSON_AddNumberToObject(s, "kib_per_held", pt->kib_per_held);
  cJSON_AddNumberToObject(s, "fds_before", (double)pt->fds_before);
  cJSON_AddNumberToObject(s, "fds_held", (double)pt->fds_held);
  cJSON *k = cJSON_AddObjectToObject(root, "kernel");
  cJSON_AddNumberToObject(k, "slab_kib", (double)pt->slab_kib);
  cJSON_AddNumberToObject(k, "tcp_mem_kib", (double)pt->sock_mem_kib);
  cJSON *e = cJSON_AddObjectToObject(root, "echo");
  cJSON_AddNumberToObject(e, "conns", (double)r->established);
  cJSON_AddNumberToObject(e, "rate_per_conn", r->rate);
  cJSON_AddItemToObject(e, "quiet_rtt_us", lat_json(&r->quiet));
  cJSON_AddItemToObject(e, "during_rtt_us", lat_json(&r->storm_lat));
  cJSON_AddNumberToObject(e, "quiet_rate", r->quiet_rate);
  cJSON_AddNumberToObject(e, "during_rate", r->storm_rate);
}

void ed_bench__partial_print(FILE *f, const struct ed_bench_result *r) {
  const struct ed_bench_partial *pt = &r->partial;
  fprintf(f,
          "  partial        %llu tried (%u bytes each), %llu sent, %llu held "
          "(at most %llu at once), %llu closed by the server, %llu not "
          "tried\n",
          (unsigned long long)pt->attempted, pt->bytes,
          (unsigned long long)pt->sent, (unsigned long long)pt->held,
          (unsigned long long)pt->peak_held, (unsigned long long)pt->closed,
          (unsigned long long)pt->unattempted);
  if (pt->first_close[0]) fprintf(f, "  first close    %s\n", pt->first_close);
  if (r->server_pid)
    fprintf(f,
            "  server rss     %llu -> %llu KiB (peak %llu): %.1f KiB per "
            "connection held; fds %llu -> %llu\n",
            (unsigned long long)r->server_rss_before_kib,
            (unsigned long long)r->server_rss_after_kib,
            (unsigned long long)pt->rss_peak_kib, pt->kib_per_held,
            (unsigned long long)pt->fds_before,
            (unsigned long long)pt->fds_held);
  fprintf(f,
          "  echo           %llu conns at %u/s: p99 %.0f us quiet, %.0f us "
          "during; %.0f msgs/s per conn during\n",
          (unsigned long long)r->established, r->rate, r->quiet.p99_us,
          r->storm_lat.p99_us, r->storm_rate);
}

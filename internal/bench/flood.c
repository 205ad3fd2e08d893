/* internal/bench — flood: established echo connections, quiet, then under
 * a storm of full handshakes (bench.h). Paced (--rate N): quiet half, then
 * the storm. Closed loop (--rate 0), the saturating case: quiet half, the
 * storm alone with the echo parked, then echo and storm together, so the
 * storm's rate under load can be compared with its rate on an otherwise
 * idle server within one run. With --cycles N the echo's quiet and storm
 * windows then take turns N times (run_cycles), instead of one quiet window
 * first and one storm window last. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal/base/base.h"
#include "internal/bench/bench_internal.h"

typedef struct ed_bench__worker worker;
typedef struct ed_bench__pool pool_t;
typedef struct ed_bench__snap snap_t;

#define QUEUE_GAUGE "echod_handshake_queue_depth"
#define SAMPLE_EVERY_NS 100000000u /* 100 ms */
#define MAX_SAMPLES 4096

/* The server's pool queue depth, scraped every 100 ms during the storm. */
struct sampler {
  const char *hostport; /* NULL: not asked for */
  double v[MAX_SAMPLES];
  uint32_t n, errors;
  uint64_t next_ns;
  char first_error[120];
};

static void sampler_tick(struct sampler *s) {
  uint64_t now = ed_now_ns();
  if (!s->hostport || now < s->next_ns || s->n == MAX_SAMPLES) return;
  s->next_ns = now + SAMPLE_EVERY_NS;
  double v;
  char err[120];
  if (ed_bench_scrape_gauge(&v, s->hostport, QUEUE_GAUGE, 1000, err,
                            sizeof(err)) == 0) {
    s->v[s->n++] = v;
  } else if (s->errors++ == 0) {
    snprintf(s->first_error, sizeof(s->first_error), "%s", err);
  }
}

/* wait_sampling is ed_bench__wait_for with the sampler running and no early
 * end. */
static void wait_sampling(struct ed_bench__progress *pg, const pool_t *p,
                          uint64_t deadline_ns, struct sampler *s) {
  struct timespec ts = {0, 10 * 1000 * 1000};
  for (;;) {
    sampler_tick(s);
    if (ed_now_ns() >= deadline_ns) return;
    nanosleep(&ts, NULL);
    ed_bench__progress_tick(pg, p);
  }
}

/* flood_verdict fills the flood's rates and the saturation evidence. */
static void flood_verdict(struct ed_bench_result *out, struct sampler *s,
                          const pool_t *echo) {
  double conns = out->conns ? out->conns : 1;
  if (out->quiet_s > 0)
    out->quiet_rate = (double)out->quiet.n / out->quiet_s / conns;
  if (out->elapsed_s > 0)
    out->storm_rate = (double)out->storm_lat.n / out->elapsed_s / conns;
  out->quiet_late = ed_bench__pool_sum(echo, CTR(late_quiet));
  out->storm_late = ed_bench__pool_sum(echo, CTR(late_storm));
  if (out->server_ok && out->elapsed_s > 0)
    out->server_cores = out->server_cpu_us / 1e6 / out->elapsed_s;
  out->metrics_asked = s->hostport != NULL;
  out->queue_samples = s->n;
  out->queue_errors = s->errors;
  snprintf(out->queue_error, sizeof(out->queue_error), "%s", s->first_error);
  if (s->n) {
    out->queue_min = s->v[0];
    for (uint32_t i = 1; i < s->n; i++)
      if (s->v[i] < out->queue_min) out->queue_min = s->v[i];
    out->queue_median = ed_bench_median(s->v, s->n);
  }
  out->saturated =
      ed_bench_saturation(&out->saturation_basis, s->n, out->queue_median,
                          out->server_ok, out->server_cores);
}

/* cores: server CPU over the window from |a| to |b|, in cores. */
static double cores(const snap_t *a, const snap_t *b) {
  if (!a->srv_ok || !b->srv_ok || b->t_ns <= a->t_ns) return 0;
  return (double)(b->srv_cpu_us - a->srv_cpu_us) * 1e3 /
         (double)(b->t_ns - a->t_ns);
}

/* quiet_window runs the echo alone for |half| seconds. */
static void quiet_window(struct ed_bench__run *r, struct ed_bench_result *out,
                         struct ed_bench__progress *pg, pool_t *echo,
                         double half) {
  snap_t a, b;
  ed_bench__snap_take(&a, echo, r->o->server_pid);
  atomic_store(&r->phase, PH_MEASURE);
  ed_bench__pool_wake(echo);
  pg->t0 = a.t_ns;
  ed_bench__wait_for(pg, echo, r, ed_bench__deadline_after(pg->t0, half), NULL);
  ed_bench__snap_take(&b, echo, r->o->server_pid);
  out->quiet_s = (double)(b.t_ns - a.t_ns) / 1e9;
  out->quiet_server_cores = cores(&a, &b);
}

/* warm_up: with --cycles the quiet windows come later, taking turns with
 * the storm's; the echo first runs a second unmeasured. */
static void warm_up(struct ed_bench__run *r, struct ed_bench__progress *pg,
                    pool_t *echo) {
  atomic_store(&r->phase, PH_GAP);
  ed_bench__pool_wake(echo);
  pg->t0 = ed_now_ns();
  ed_bench__wait_for(pg, echo, r, ed_bench__deadline_after(pg->t0, 1.0), NULL);
}

/* solo_window: the storm alone (the echo connections park once their
 * message is back), measured for |half| seconds after a 0.5 s ramp. */
static void solo_window(struct ed_bench__run *r, struct ed_bench_result *out,
                        struct ed_bench__progress *pg, pool_t *storm,
                        double half) {
  snap_t a, b;
  ed_bench__wait_for(pg, storm, r, ed_bench__deadline_after(ed_now_ns(), 0.5),
                     NULL);
  ed_bench__snap_take(&a, storm, r->o->server_pid);
  atomic_store(&r->phase, PH_SOLO);
  ed_bench__wait_for(pg, storm, r, ed_bench__deadline_after(a.t_ns, half),
                     NULL);
  ed_bench__snap_take(&b, storm, r->o->server_pid);
  out->solo = 1;
  out->solo_handshakes = b.ops - a.ops;
  if (b.t_ns > a.t_ns)
    out->solo_hs_per_s =
        (double)out->solo_handshakes / ((double)(b.t_ns - a.t_ns) / 1e9);
  out->solo_server_cores = cores(&a, &b);
}

/* ---- --cycles: quiet and storm windows taking turns --------------------- */

#define GAP_S 0.3 /* before each window: the storm drains or ramps up */

/* snap_add adds what happened between |a| and |b| to |acc|. */
static void snap_add(snap_t *acc, const snap_t *a, const snap_t *b) {
  acc->t_ns += b->t_ns - a->t_ns;
  acc->ops += b->ops - a->ops;
  acc->bytes += b->bytes - a->bytes;
  acc->resumed += b->resumed - a->resumed;
  acc->srv_cpu_us += b->srv_cpu_us - a->srv_cpu_us;
  acc->self_cpu_us += b->self_cpu_us - a->self_cpu_us;
  acc->srv_ok = acc->srv_ok && a->srv_ok && b->srv_ok;
}

/* timed: |ph| for |secs| (after GAP_S in |before|), what happened in
 * |p| added to |acc|; the queue sampled in storm windows. */
static void timed(struct ed_bench__run *r, struct ed_bench__progress *pg,
                  pool_t *p, int before, int ph, double secs, snap_t *acc,
                  struct sampler *smp) {
  snap_t a, b;
  atomic_store(&r->phase, before);
  ed_bench__pool_wake(p);
  ed_bench__wait_for(pg, p, r, ed_bench__deadline_after(ed_now_ns(), GAP_S),
                     NULL);
  ed_bench__snap_take(&a, p, r->o->server_pid);
  atomic_store(&r->phase, ph);
  if (ph == PH_STORM) {
    wait_sampling(pg, p, ed_bench__deadline_after(a.t_ns, secs), smp);
  } else {
    ed_bench__wait_for(pg, p, r, ed_bench__deadline_after(a.t_ns, secs), NULL);
  }
  ed_bench__snap_take(&b, p, r->o->server_pid);
  snap_add(acc, &a, &b);
}

/* run_cycles: --cycles N quiet windows (the storm parked, PH_GAP lets its
 * handshakes in flight finish first) and N storm windows (PH_RAMP lets it
 * ramp up again), taking turns, each |win| seconds: the echo's quiet and
 * storm latencies over the same minutes, so the machine's drift touches
 * both alike. The storm windows' totals go to |storm_acc|. */
static void run_cycles(struct ed_bench__run *r, struct ed_bench_result *out,
                       struct ed_bench__progress *pg, pool_t *echo,
                       pool_t *storm, double win, struct sampler *smp,
                       snap_t *storm_acc) {
  snap_t quiet = {.srv_ok = 1}, zero = {.srv_ok = 1};
  for (uint32_t i = 0; i < r->o->cycles; i++) {
    timed(r, pg, echo, PH_GAP, PH_MEASURE, win, &quiet, smp);
    timed(r, pg, storm, PH_RAMP, PH_STORM, win, storm_acc, smp);
  }
  out->cycles = r->o->cycles;
  out->quiet_s = (double)quiet.t_ns / 1e9;
  out->quiet_server_cores = cores(&zero, &quiet);
}

static void flood_results(const struct ed_bench__run *r,
                          struct ed_bench_result *out, pool_t *echo,
                          pool_t *storm, struct sampler *smp) {
  out->storm_handshakes = out->ops;
  out->storm_hs_per_s = out->ops_per_s;
  ed_bench__fill_failures(out, echo);
  ed_bench__fill_failures(out, storm);
  ed_bench__merge_lat(&out->quiet, echo, offsetof(worker, quiet));
  ed_bench__merge_lat(&out->storm_lat, echo, offsetof(worker, storm));
  ed_bench__merge_lat(&out->lat, storm, offsetof(worker, lat));
  ed_bench__merge_lat(&out->solo_lat, storm, offsetof(worker, quiet));
  out->established = ed_bench__pool_sum(echo, CTR(established));
  out->storm_handshakes_in_quiet = ed_bench__pool_sum(storm, CTR(quiet_hs));
  int refused = atomic_load(&r->storm_sched_refused);
  if (r->o->storm_idle) {
    out->storm_sched = refused ? "idle refused" : "idle";
  } else {
    out->storm_sched = refused ? "nice 10 refused" : "nice 10";
  }
  flood_verdict(out, smp, echo);
}

int ed_bench__run_flood(struct ed_bench__run *r, struct ed_bench_result *out,
                        struct ed_bench__progress *pg) {
  const struct ed_bench_opts *o = r->o;
  pool_t echo = {0}, storm = {0};
  snap_t a, b;
  struct sampler *smp = ed_calloc(1, sizeof(*smp));
  smp->hostport = o->server_metrics;
  double half = (o->duration_s > 0 ? o->duration_s : 10) / 2;
  int closed = o->rate == 0;
  atomic_store(&r->phase, PH_SETUP);
  int err =
      ed_bench__pool_start(&echo, r, K_ECHO, 1, o->echo_conns, o->size, 0);
  ed_bench__wait_for(pg, &echo, r,
                     ed_bench__deadline_after(ed_now_ns(), o->timeout_s + 20),
                     ed_bench__setup_finished);
  if (o->cycles) {
    warm_up(r, pg, &echo);
  } else {
    quiet_window(r, out, pg, &echo, half);
  }
  atomic_store(&r->phase, closed ? PH_PAUSE : PH_RAMP);
  if (!err)
    err = ed_bench__pool_start(&storm, r, K_HANDSHAKE, o->threads, o->storm,
                               o->size, o->echo_conns);
  if (closed) solo_window(r, out, pg, &storm, half);
  if (o->cycles) {
    a = (snap_t){.srv_ok = 1};
    b = a;
    run_cycles(r, out, pg, &echo, &storm, half / o->cycles, smp, &b);
  } else {
    if (closed) {
      atomic_store(&r->phase, PH_RAMP);
      ed_bench__pool_wake(&echo);
    }
    ed_bench__wait_for(pg, &storm, r,
                       ed_bench__deadline_after(ed_now_ns(), 0.5), NULL);
    ed_bench__snap_take(&a, &storm, o->server_pid);
    atomic_store(&r->phase, PH_STORM);
    wait_sampling(pg, &storm, ed_bench__deadline_after(a.t_ns, half), smp);
    ed_bench__snap_take(&b, &storm, o->server_pid);
  }
  atomic_store(&r->phase, PH_STOP);
  ed_bench__pool_wake(&storm);
  ed_bench__pool_stop(&echo, r);
  ed_bench__pool_join(&storm);
  ed_bench__fill_window(out, &a, &b);
  flood_results(r, out, &echo, &storm, smp);
  free(smp);
  ed_bench__pool_free(&echo);
  ed_bench__pool_free(&storm);
  return err;
}

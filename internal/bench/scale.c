/* internal/bench — scale: as many sessions as the descriptor limit allows
 * (bench.h). Ramp (full handshakes, --parallel in flight), hold, echo on
 * every session, close every session cleanly, then watch the server give
 * its descriptors and memory back. Server RSS and descriptors come from
 * /proc/PID; the kernel's share (slab and TCP socket memory) from
 * /proc/meminfo and /proc/net/sockstat, machine-wide. */
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

#define SETTLE_S 10.0   /* the longest we wait for the server to let go */
#define RSS_QUIET_S 2.0 /* ... and for its RSS to stop dropping */

/* What the server and the kernel hold at one moment. */
struct held {
  uint64_t rss_kib, fds, slab_kib, sock_kib;
  int rss_ok, fds_ok, kernel_ok;
};

static void held_take(struct held *h, int pid) {
  memset(h, 0, sizeof(*h));
  h->kernel_ok = ed_bench_kernel_mem(&h->slab_kib, &h->sock_kib) == 0;
  if (pid <= 0) return;
  h->rss_ok = ed_bench_proc_rss_kib(&h->rss_kib, pid) == 0;
  h->fds_ok = ed_bench_proc_fds(&h->fds, pid) == 0;
}

static double secs(uint64_t from_ns, uint64_t to_ns) {
  return to_ns > from_ns ? (double)(to_ns - from_ns) / 1e9 : 0;
}

/* ramp opens every session; fills the ramp figures and idle's fields
 * (ops = established, server CPU per session opened). */
static int ramp(struct ed_bench__run *r, struct ed_bench_result *out,
                struct ed_bench__progress *pg, pool_t *p) {
  const struct ed_bench_opts *o = r->o;
  snap_t a, b;
  atomic_store(&r->phase, PH_SETUP);
  ed_bench__snap_take(&a, p, o->server_pid);
  int err = ed_bench__pool_start(p, r, K_IDLE, o->threads, o->conns,
                                 ED_BENCH_HELLO_LEN, 0);
  if (!err)
    ed_bench__wait_for(pg, p, r,
                       ed_bench__deadline_after(
                           ed_now_ns(), o->timeout_s + 60 + o->conns / 100.0),
                       ed_bench__setup_finished);
  ed_bench__snap_take(&b, p, o->server_pid);
  ed_bench__fill_window(out, &a, &b);
  out->established = out->ops = ed_bench__pool_sum(p, CTR(established));
  out->ops_per_s = out->elapsed_s > 0 ? (double)out->ops / out->elapsed_s : 0;
  out->server_cpu_us_per_op =
      out->ops && out->server_ok ? out->server_cpu_us / (double)out->ops : 0;
  out->scale.ramp_s = out->elapsed_s;
  out->scale.ramp_hs_per_s = out->ops_per_s;
  out->scale.cpu_us_per_hs = out->server_cpu_us_per_op;
  return err;
}

/* timed_phase moves every loop to |ph| and waits (at most |limit_s|)
 * until |done| (NULL: the whole |limit_s|); returns how long it took, with the
 * server's CPU over it in |*out_cpu_us| (0 when unknown). */
static double timed_phase(struct ed_bench__run *r,
                          struct ed_bench__progress *pg, pool_t *p, int ph,
                          ed_bench__done_fn done, double limit_s,
                          double *out_cpu_us) {
  snap_t a, b;
  ed_bench__snap_take(&a, p, r->o->server_pid);
  atomic_store(&r->phase, ph);
  ed_bench__pool_wake(p);
  ed_bench__wait_for(pg, p, r, ed_bench__deadline_after(a.t_ns, limit_s), done);
  ed_bench__snap_take(&b, p, r->o->server_pid);
  *out_cpu_us =
      a.srv_ok && b.srv_ok ? (double)(b.srv_cpu_us - a.srv_cpu_us) : 0;
  return secs(a.t_ns, b.t_ns);
}

/* settle waits (at most SETTLE_S) until the server holds no more
 * descriptors than before the ramp, and then until its RSS has not
 * dropped for RSS_QUIET_S (a server that gives memory back after a mass
 * close may do it a moment later: echod looks once a second), then reads
 * what it still holds. */
static void settle(struct held *out, const struct held *before, int pid) {
  uint64_t end = ed_bench__deadline_after(ed_now_ns(), SETTLE_S);
  struct timespec ts = {0, 50 * 1000 * 1000};
  uint64_t fds, rss, low = UINT64_MAX, low_since = ed_now_ns();
  while (before->fds_ok && ed_now_ns() < end &&
         ed_bench_proc_fds(&fds, pid) == 0 && fds > before->fds)
    nanosleep(&ts, NULL);
  while (ed_now_ns() < end && ed_bench_proc_rss_kib(&rss, pid) == 0 &&
         ed_now_ns() - low_since < (uint64_t)(RSS_QUIET_S * 1e9)) {
    if (rss < low) low = rss, low_since = ed_now_ns();
    nanosleep(&ts, NULL);
  }
  held_take(out, pid);
}

static void fill_memory(struct ed_bench_result *out, const struct held *h0,
                        const struct held *h1, const struct held *h2) {
  struct ed_bench_scale *sc = &out->scale;
  if (h0->rss_ok && h1->rss_ok) {
    out->server_rss_before_kib = h0->rss_kib;
    out->server_rss_after_kib = h1->rss_kib;
    if (out->established)
      out->server_kib_per_session =
          ((double)h1->rss_kib - (double)h0->rss_kib) /
          (double)out->established;
  }
  if (h2->rss_ok) sc->rss_after_close_kib = h2->rss_kib;
  if (h0->fds_ok) sc->fds_before = h0->fds;
  if (h1->fds_ok) sc->fds_held = h1->fds;
  if (h2->fds_ok) sc->fds_after = h2->fds;
  if (h0->kernel_ok && h1->kernel_ok) {
    sc->slab_kib = (int64_t)h1->slab_kib - (int64_t)h0->slab_kib;
    sc->sock_mem_kib = (int64_t)h1->sock_kib - (int64_t)h0->sock_kib;
  }
}

int ed_bench__run_scale(struct ed_bench__run *r, struct ed_bench_result *out,
                        struct ed_bench__progress *pg) {
  const struct ed_bench_opts *o = r->o;
  struct ed_bench_scale *sc = &out->scale;
  pool_t p = {0};
  struct held h0, h1, h2;
  double cpu_us;
  held_take(&h0, o->server_pid);
  int err = ramp(r, out, pg, &p);
  pg->t0 = ed_now_ns();
  sc->hold_s = timed_phase(r, pg, &p, PH_HOLD, NULL, o->hold_s, &cpu_us);
  if (sc->hold_s > 0) sc->hold_server_cores = cpu_us / 1e6 / sc->hold_s;
  held_take(&h1, o->server_pid);
  double limit = o->timeout_s + 5 + o->conns / 1000.0;
  sc->check_s = timed_phase(r, pg, &p, PH_CHECK, ed_bench__checks_finished,
                            limit, &cpu_us);
  out->held = ed_bench__pool_sum(&p, CTR(held));
  if (out->held) sc->cpu_us_per_echo = cpu_us / (double)out->held;
  sc->close_s = timed_phase(r, pg, &p, PH_CLOSE, ed_bench__closes_finished,
                            limit, &cpu_us);
  sc->closed = ed_bench__pool_sum(&p, CTR(closed));
  if (sc->closed) sc->cpu_us_per_close = cpu_us / (double)sc->closed;
  sc->close_unclean = ed_bench__pool_sum(&p, CTR(close_unclean));
  sc->refused = ed_bench__pool_sum(&p, CTR(limit_refused));
  sc->attempted = o->conns;
  ed_bench__pool_stop(&p, r);
  ed_bench__fill_failures(out, &p);
  settle(&h2, &h0, o->server_pid);
  fill_memory(out, &h0, &h1, &h2);
  ed_bench__pool_free(&p);
  return err;
}

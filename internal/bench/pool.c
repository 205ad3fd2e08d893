/* internal/bench — what the scenarios share: pools of client loops, the
 * counters summed over them, snapshots of the measured windows (with the
 * server's CPU from /proc), waiting with a progress line, and filling the
 * result from it all. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "internal/base/base.h"
#include "internal/bench/bench_internal.h"

typedef struct ed_bench__worker worker;

/* ---- threads ------------------------------------------------------------- */

/* ed_bench__pool_start starts |threads| loops of |kind| sharing |total|
 * connections. Returns 0 or a negative libuv error. */
int ed_bench__pool_start(struct ed_bench__pool *p, struct ed_bench__run *r,
                         enum ed_bench__kind kind, uint32_t threads,
                         uint32_t total, uint32_t size, uint32_t first_id) {
  if (threads > total) threads = total;
  if (threads == 0) threads = 1;
  p->n = threads;
  p->w = ed_calloc(threads, sizeof(worker));
  uint32_t id = first_id;
  for (uint32_t i = 0; i < threads; i++) {
    worker *w = &p->w[i];
    w->r = r;
    w->kind = kind;
    w->size = size;
    w->nconns = total / threads + (i < total % threads ? 1 : 0);
    w->first_id = id;
    w->ctx = r->ctx;
    if (kind == K_HANDSHAKE && r->o->scenario == ED_BENCH_FLOOD)
      w->ctx = r->storm_ctx;
    if (kind == K_ECHO && (r->o->scenario == ED_BENCH_FLOOD ||
                           r->o->scenario == ED_BENCH_PARTIAL))
      w->flood_echo = 1;
    /* Echo connections (echo, flood, partial) are paced at --rate. */
    if (kind == K_ECHO && r->o->rate) w->interval_ns = 1000000000u / r->o->rate;
    id += w->nconns;
    int err = ed_bench__worker_start(w);
    if (err) {
      p->n = i;
      return err;
    }
  }
  return 0;
}

void ed_bench__pool_wake(struct ed_bench__pool *p) {
  for (uint32_t i = 0; i < p->n; i++) ed_bench__worker_wake(&p->w[i]);
}

void ed_bench__pool_join(struct ed_bench__pool *p) {
  for (uint32_t i = 0; i < p->n; i++) ed_bench__worker_join(&p->w[i]);
}

void ed_bench__pool_free(struct ed_bench__pool *p) {
  free(p->w);
  p->w = NULL;
  p->n = 0;
}

uint64_t ed_bench__pool_sum(const struct ed_bench__pool *p, size_t off) {
  uint64_t s = 0;
  for (uint32_t i = 0; i < p->n; i++) {
    const char *base = (const char *)&p->w[i].c;
    s += atomic_load((_Atomic uint64_t *)(base + off));
  }
  return s;
}

uint64_t ed_bench__pool_failures(const struct ed_bench__pool *p) {
  return ed_bench__pool_sum(p, CTR(refused)) +
         ed_bench__pool_sum(p, CTR(connect_failed)) +
         ed_bench__pool_sum(p, CTR(mismatch)) +
         ed_bench__pool_sum(p, CTR(dropped)) +
         ed_bench__pool_sum(p, CTR(timeouts)) +
         ed_bench__pool_sum(p, CTR(close_unclean));
}

int ed_bench__pool_all(const struct ed_bench__pool *p, size_t flag_off) {
  for (uint32_t i = 0; i < p->n; i++) {
    const char *base = (const char *)&p->w[i];
    if (!atomic_load((_Atomic int *)(base + flag_off))) return 0;
  }
  return 1;
}

/* ---- measuring ----------------------------------------------------------- */

void ed_bench__snap_take(struct ed_bench__snap *s,
                         const struct ed_bench__pool *p, int pid) {
  s->ops = s->bytes = s->resumed = 0;
  for (uint32_t i = 0; i < p->n; i++) {
    struct ed_bench__tally t = ed_bench__counters_read(&p->w[i].c);
    s->ops += t.ops;
    s->bytes += t.bytes;
    s->resumed += t.resumed;
  }
  s->t_ns = ed_now_ns(); /* after the reads: one may have waited */
  s->srv_ok = pid > 0 && ed_bench_proc_cpu_us(&s->srv_cpu_us, pid) == 0;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  s->self_cpu_us =
      (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
      (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

void ed_bench__progress_tick(struct ed_bench__progress *pg,
                             const struct ed_bench__pool *p) {
  if (!pg->show) return;
  uint64_t now = ed_now_ns();
  if (now - pg->last_ns < 1000000000u) return;
  uint64_t ops = ed_bench__pool_sum(p, CTR(ops));
  double rate =
      (double)(ops - pg->last_ops) / ((double)(now - pg->last_ns) / 1e9);
  fprintf(stderr, "\r%-10s %6.1f s  ops %-12llu %12.0f/s  errors %llu\033[K",
          pg->label, (double)(now - pg->t0) / 1e9, (unsigned long long)ops,
          rate, (unsigned long long)ed_bench__pool_failures(p));
  pg->last_ns = now;
  pg->last_ops = ops;
}

void ed_bench__progress_end(struct ed_bench__progress *pg) {
  if (pg->show) fprintf(stderr, "\r\033[K");
}

/* ed_bench__wait_for sleeps in 10 ms steps until |deadline_ns| or until |done|.
 */
void ed_bench__wait_for(struct ed_bench__progress *pg,
                        const struct ed_bench__pool *p,
                        const struct ed_bench__run *r, uint64_t deadline_ns,
                        ed_bench__done_fn done) {
  struct timespec ts = {0, 10 * 1000 * 1000};
  while (ed_now_ns() < deadline_ns) {
    if (done && done(p, r)) return;
    nanosleep(&ts, NULL);
    ed_bench__progress_tick(pg, p);
  }
}

int ed_bench__setup_finished(const struct ed_bench__pool *p,
                             const struct ed_bench__run *r) {
  (void)r;
  return ed_bench__pool_all(p, offsetof(worker, setup_done));
}

int ed_bench__checks_finished(const struct ed_bench__pool *p,
                              const struct ed_bench__run *r) {
  (void)r;
  return ed_bench__pool_all(p, offsetof(worker, check_done));
}

int ed_bench__closes_finished(const struct ed_bench__pool *p,
                              const struct ed_bench__run *r) {
  (void)r;
  return ed_bench__pool_all(p, offsetof(worker, close_done));
}

/* ed_bench__window_finished: the operation budget is spent, or no
 * connection is left to do anything. */
int ed_bench__window_finished(const struct ed_bench__pool *p,
                              const struct ed_bench__run *r) {
  uint64_t ops = ed_bench__pool_sum(p, CTR(ops));
  if (r->bounded && ops + ed_bench__pool_failures(p) >= r->o->count) return 1;
  uint64_t total = 0;
  for (uint32_t i = 0; i < p->n; i++) total += p->w[i].nconns;
  return ed_bench__pool_sum(p, CTR(dead)) >= total;
}

uint64_t ed_bench__deadline_after(uint64_t t0, double seconds) {
  if (seconds <= 0) return t0 + 3600ull * 1000000000u;
  return t0 + (uint64_t)(seconds * 1e9);
}

void ed_bench__pool_stop(struct ed_bench__pool *p, struct ed_bench__run *r) {
  atomic_store(&r->phase, PH_STOP);
  ed_bench__pool_wake(p);
  ed_bench__pool_join(p);
}

/* ---- results ------------------------------------------------------------- */

void ed_bench__fill_failures(struct ed_bench_result *out,
                             const struct ed_bench__pool *p) {
  out->refused += ed_bench__pool_sum(p, CTR(refused));
  out->connect_failed += ed_bench__pool_sum(p, CTR(connect_failed));
  out->mismatch += ed_bench__pool_sum(p, CTR(mismatch));
  out->dropped += ed_bench__pool_sum(p, CTR(dropped));
  out->timeouts += ed_bench__pool_sum(p, CTR(timeouts));
}

/* ed_bench__fill_window sets the throughput, client and server figures of the
 * window between |a| and |b|. */
void ed_bench__fill_window(struct ed_bench_result *out,
                           const struct ed_bench__snap *a,
                           const struct ed_bench__snap *b) {
  out->elapsed_s = (double)(b->t_ns - a->t_ns) / 1e9;
  double secs = out->elapsed_s > 0 ? out->elapsed_s : 1e-9;
  out->ops = b->ops - a->ops;
  out->bytes = b->bytes - a->bytes;
  out->resumed = b->resumed - a->resumed;
  out->ops_per_s = (double)out->ops / secs;
  out->mb_per_s = (double)out->bytes / secs / 1e6;
  out->client_cores = (double)(b->self_cpu_us - a->self_cpu_us) / 1e6 / secs;
  out->server_ok = a->srv_ok && b->srv_ok;
  if (!out->server_ok) return;
  out->server_cpu_us = (double)(b->srv_cpu_us - a->srv_cpu_us);
  if (out->ops)
    out->server_cpu_us_per_op = out->server_cpu_us / (double)out->ops;
  if (out->server_cpu_us > 0)
    out->server_gb_per_cpu_s =
        (double)out->bytes / (out->server_cpu_us / 1e6) / 1e9;
}

void ed_bench__merge_lat(struct ed_bench_lat *out,
                         const struct ed_bench__pool *p, size_t hist_off) {
  struct ed_bench_hist *h = ed_malloc(sizeof(*h));
  ed_bench_hist_init(h);
  for (uint32_t i = 0; i < p->n; i++) {
    const char *base = (const char *)&p->w[i];
    ed_bench_hist_merge(h, (const struct ed_bench_hist *)(base + hist_off));
  }
  ed_bench_hist_summary(out, h);
  free(h);
}

/* ---- first error and first refusal -------------------------------------- */

void ed_bench__note_refusal(struct ed_bench__run *r, const char *msg) {
  pthread_mutex_lock(&r->mu);
  if (!r->first_refusal[0])
    snprintf(r->first_refusal, sizeof(r->first_refusal), "%s", msg);
  pthread_mutex_unlock(&r->mu);
}

void ed_bench__note_error(struct ed_bench__run *r, const char *msg) {
  pthread_mutex_lock(&r->mu);
  if (!r->first_error[0])
    snprintf(r->first_error, sizeof(r->first_error), "%s", msg);
  pthread_mutex_unlock(&r->mu);
}

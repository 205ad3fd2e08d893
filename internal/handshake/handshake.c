/* internal/handshake — see handshake.h. One mutex-protected FIFO; an idle
 * thread sleeps on a futex word of its own, and a submit wakes one only
 * when one sleeps (the idle list), with one FUTEX_WAKE that always finds
 * its thread. A condition variable costs more on every round trip:
 * glibc's pthread_cond_wait takes the mutex back marked contended, so the
 * woken thread's unlock makes a FUTEX_WAKE that finds nobody, and a
 * signal with nobody waiting still takes the condvar's internal lock
 * (docs/BENCHMARKS.md counts the syscalls). The queue's counters (depth,
 * wait histogram) are one struct ed_stats written only under the mutex,
 * so it has one writer at a time as stats.h requires; |depth| is also
 * kept atomic, so ed_hs_pool_full (once per accepted connection) takes
 * no lock. */
#include "internal/handshake/handshake.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal/base/base.h"

/* One pool thread's sleep: |woken| becomes 1 when a submit (or the end)
 * takes it off the idle list. */
struct waiter {
  struct waiter *next; /* idle list, under the pool's mutex */
  _Atomic uint32_t woken;
};

struct ed_hs_pool {
  pthread_mutex_t mu;
  struct ed_hs_job *head, *tail;
  struct waiter *idle;  /* threads asleep (or about to), under |mu| */
  _Atomic size_t depth; /* queued */
  _Atomic size_t busy;  /* queued or running */
  size_t max_queue;
  int stopping;
  _Atomic uint32_t test_delay_ms;
  uint32_t num_threads;
  pthread_t *threads;
  struct waiter *waiters; /* one per thread; they outlive the threads, so
                           * a late futex wake never hits freed memory */
  struct ed_stats qstats; /* written under |mu| only */
};

static void futex_wait(_Atomic uint32_t *word, uint32_t val) {
  syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *word) {
  syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* wake_locked takes one sleeping thread off the idle list (caller holds
 * |mu|) and returns it for wake_one, or NULL when none sleeps. */
static struct waiter *wake_locked(struct ed_hs_pool *p) {
  struct waiter *w = p->idle;
  if (w) p->idle = w->next;
  return w;
}

static void wake_one(struct waiter *w) {
  if (!w) return;
  atomic_store_explicit(&w->woken, 1, memory_order_release);
  futex_wake(&w->woken);
}

/* take returns the next job, sleeping while there is none; NULL once the
 * pool stops and the queue is empty. */
static struct ed_hs_job *take(struct ed_hs_pool *p, struct waiter *me) {
  pthread_mutex_lock(&p->mu);
  while (!p->head && !p->stopping) {
    atomic_store_explicit(&me->woken, 0, memory_order_relaxed);
    me->next = p->idle;
    p->idle = me;
    pthread_mutex_unlock(&p->mu);
    while (!atomic_load_explicit(&me->woken, memory_order_acquire))
      futex_wait(&me->woken, 0);
    pthread_mutex_lock(&p->mu);
  }
  struct ed_hs_job *job = p->head;
  if (job) {
    p->head = job->next;
    if (!p->head) p->tail = NULL;
    atomic_fetch_sub_explicit(&p->depth, 1, memory_order_relaxed);
    ed_gauge_add(&p->qstats.queue_depth, -1);
    ed_hist_observe(&p->qstats.queue_wait, ed_now_ns() - job->queued_ns);
  }
  pthread_mutex_unlock(&p->mu);
  return job;
}

/* lower_priority: pool threads run as SCHED_BATCH at nice 19, so a loop
 * woken by a client's bytes takes the core from a handshake step at once
 * and keeps it for its batch: established sessions' echo latency stays
 * near quiet while handshakes saturate the pool (flood bench, one core:
 * storm/quiet echo p99 0.9x with rsa2048 server keys, 1.3x with P-256;
 * SCHED_BATCH alone: 31x and 10x; nice 19 alone: 1.3x and 1.8x). The
 * price: the loop now takes the core back after every finished step
 * (context switches per full handshake 3.1 -> 9.0), ~25% more server CPU
 * per handshake and ~10-15% fewer handshakes/s. Nice 19 used to be worse:
 * the loops were woken with uv_async_send, whose "pending" window made a
 * loop spin and sched_yield() to the starved pool thread that was
 * signalling it (see internal/loop/wake.h). SCHED_IDLE (measured worse
 * then, and for echo latency again in docs/BENCHMARKS.md round 8) would
 * give the pool no share at all on a busy machine. nice is per thread on
 * Linux (setpriority on the tid). Best effort. A loop with no long-lived
 * session to serve does not take the core back after every step: it runs
 * as SCHED_BATCH itself while only handshakes keep the pool busy
 * (internal/loop/sched.h), which saves most of that price. */
static void lower_priority(void) {
  struct sched_param sp = {0};
  (void)pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
  (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
}

struct worker_arg {
  struct ed_hs_pool *p;
  struct waiter *me;
};

static void *worker(void *arg) {
  struct worker_arg a = *(struct worker_arg *)arg;
  struct ed_hs_pool *p = a.p;
  struct ed_hs_job *job;
  free(arg);
  lower_priority();
  while ((job = take(p, a.me)) != NULL) {
    job->next = NULL;
    uint32_t ms = atomic_load_explicit(&p->test_delay_ms, memory_order_relaxed);
    if (ms) {
      struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
      nanosleep(&ts, NULL);
    }
    job->run(job);
    job->complete(job);
    atomic_fetch_sub_explicit(&p->busy, 1, memory_order_relaxed);
  }
  return NULL;
}

struct ed_hs_pool *ed_hs_pool_new(uint32_t threads, uint32_t max_queue) {
  struct ed_hs_pool *p = ed_calloc(1, sizeof(*p));
  pthread_mutex_init(&p->mu, NULL);
  ed_stats_init(&p->qstats);
  p->max_queue = max_queue ? max_queue : 1;
  uint32_t n = threads ? threads : 1;
  p->threads = ed_calloc(n, sizeof(pthread_t));
  p->waiters = ed_calloc(n, sizeof(struct waiter));
  for (uint32_t i = 0; i < n; i++) {
    struct worker_arg *a = ed_malloc(sizeof(*a));
    a->p = p;
    a->me = &p->waiters[i];
    if (pthread_create(&p->threads[i], NULL, worker, a) != 0) {
      free(a);
      ed_hs_pool_free(p);
      return NULL;
    }
    p->num_threads++;
  }
  return p;
}

void ed_hs_pool_free(struct ed_hs_pool *p) {
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  p->stopping = 1;
  struct waiter *all = p->idle;
  p->idle = NULL;
  pthread_mutex_unlock(&p->mu);
  while (all) { /* read |next| first: a woken thread reuses its waiter */
    struct waiter *w = all;
    all = w->next;
    wake_one(w);
  }
  for (uint32_t i = 0; i < p->num_threads; i++)
    pthread_join(p->threads[i], NULL);
  pthread_mutex_destroy(&p->mu);
  free(p->threads);
  free(p->waiters);
  free(p);
}

int ed_hs_pool_submit(struct ed_hs_pool *p, struct ed_hs_job *job, int is_new) {
  pthread_mutex_lock(&p->mu);
  if (is_new &&
      atomic_load_explicit(&p->depth, memory_order_relaxed) >= p->max_queue) {
    pthread_mutex_unlock(&p->mu);
    return ED_E_AGAIN;
  }
  job->next = NULL;
  job->queued_ns = ed_now_ns();
  if (p->tail) {
    p->tail->next = job;
  } else {
    p->head = job;
  }
  p->tail = job;
  atomic_fetch_add_explicit(&p->depth, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&p->busy, 1, memory_order_relaxed);
  ed_gauge_add(&p->qstats.queue_depth, 1);
  struct waiter *w = wake_locked(p); /* none asleep: all busy, no syscall */
  pthread_mutex_unlock(&p->mu);
  wake_one(w);
  return 0;
}

void ed_hs_pool_set_test_delay(struct ed_hs_pool *p, uint32_t ms) {
  atomic_store(&p->test_delay_ms, ms);
}

size_t ed_hs_pool_depth(struct ed_hs_pool *p) {
  return atomic_load_explicit(&p->depth, memory_order_relaxed);
}

size_t ed_hs_pool_busy(struct ed_hs_pool *p) {
  return atomic_load_explicit(&p->busy, memory_order_relaxed);
}

int ed_hs_pool_full(struct ed_hs_pool *p) {
  return ed_hs_pool_depth(p) >= p->max_queue;
}

void ed_hs_pool_stats(struct ed_hs_pool *p, struct ed_stats_snapshot *out) {
  ed_stats_accumulate(out, &p->qstats);
}

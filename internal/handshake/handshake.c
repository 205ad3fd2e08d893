/* internal/handshake — see handshake.h. One mutex-protected FIFO and a
 * condition variable; the queue's counters (depth, wait histogram) are one
 * struct ed_stats written only under the mutex, so it has one writer at a
 * time as stats.h requires. */
#include "internal/handshake/handshake.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal/base/base.h"

struct ed_hs_pool {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  struct ed_hs_job *head, *tail;
  size_t depth;
  size_t max_queue;
  int stopping;
  _Atomic uint32_t test_delay_ms;
  uint32_t num_threads;
  pthread_t *threads;
  struct ed_stats qstats; /* written under |mu| only */
};

static struct ed_hs_job *take(struct ed_hs_pool *p) {
  pthread_mutex_lock(&p->mu);
  while (!p->head && !p->stopping) pthread_cond_wait(&p->cv, &p->mu);
  struct ed_hs_job *job = p->head;
  if (job) {
    p->head = job->next;
    if (!p->head) p->tail = NULL;
    p->depth--;
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
 * then, not since) would give the pool no share at all on a busy machine.
 * nice is per thread on Linux (setpriority on the tid). Best effort. */
static void lower_priority(void) {
  struct sched_param sp = {0};
  (void)pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
  (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
}

static void *worker(void *arg) {
  struct ed_hs_pool *p = arg;
  struct ed_hs_job *job;
  lower_priority();
  while ((job = take(p)) != NULL) {
    job->next = NULL;
    uint32_t ms = atomic_load_explicit(&p->test_delay_ms, memory_order_relaxed);
    if (ms) {
      struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
      nanosleep(&ts, NULL);
    }
    job->run(job);
    job->complete(job);
  }
  return NULL;
}

struct ed_hs_pool *ed_hs_pool_new(uint32_t threads, uint32_t max_queue) {
  struct ed_hs_pool *p = ed_calloc(1, sizeof(*p));
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  ed_stats_init(&p->qstats);
  p->max_queue = max_queue ? max_queue : 1;
  p->threads = ed_calloc(threads ? threads : 1, sizeof(pthread_t));
  for (uint32_t i = 0; i < (threads ? threads : 1); i++) {
    if (pthread_create(&p->threads[i], NULL, worker, p) != 0) {
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
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  for (uint32_t i = 0; i < p->num_threads; i++)
    pthread_join(p->threads[i], NULL);
  pthread_cond_destroy(&p->cv);
  pthread_mutex_destroy(&p->mu);
  free(p->threads);
  free(p);
}

int ed_hs_pool_submit(struct ed_hs_pool *p, struct ed_hs_job *job, int is_new) {
  pthread_mutex_lock(&p->mu);
  if (is_new && p->depth >= p->max_queue) {
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
  p->depth++;
  ed_gauge_add(&p->qstats.queue_depth, 1);
  pthread_cond_signal(&p->cv);
  pthread_mutex_unlock(&p->mu);
  return 0;
}

void ed_hs_pool_set_test_delay(struct ed_hs_pool *p, uint32_t ms) {
  atomic_store(&p->test_delay_ms, ms);
}

size_t ed_hs_pool_depth(struct ed_hs_pool *p) {
  pthread_mutex_lock(&p->mu);
  size_t d = p->depth;
  pthread_mutex_unlock(&p->mu);
  return d;
}

int ed_hs_pool_full(struct ed_hs_pool *p) {
  return ed_hs_pool_depth(p) >= p->max_queue;
}

void ed_hs_pool_stats(struct ed_hs_pool *p, struct ed_stats_snapshot *out) {
  ed_stats_accumulate(out, &p->qstats);
}

/* internal/handshake tests: jobs run on pool threads at low priority, all
 * complete, the queue bound refuses new handshakes but not later steps,
 * counters move. */
#include "internal/handshake/handshake.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal/base/base.h"
#include "internal/testing/testing.h"

struct tjob {
  struct ed_hs_job job;
  pthread_t ran_on;
  int gate; /* wait for the gate to open */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int gate_open;
static int completed;

static void run(struct ed_hs_job *j) {
  struct tjob *t = (struct tjob *)j;
  t->ran_on = pthread_self();
  pthread_mutex_lock(&mu);
  while (t->gate && !gate_open) pthread_cond_wait(&cv, &mu);
  pthread_mutex_unlock(&mu);
}

static void complete(struct ed_hs_job *j) {
  (void)j;
  pthread_mutex_lock(&mu);
  completed++;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
}

static void wait_completed(int n) {
  pthread_mutex_lock(&mu);
  while (completed < n) pthread_cond_wait(&cv, &mu);
  pthread_mutex_unlock(&mu);
}

static void test_runs_off_thread(void) {
  struct ed_hs_pool *p = ed_hs_pool_new(3, 100);
  struct tjob jobs[50] = {0};
  completed = 0;
  for (int i = 0; i < 50; i++) {
    jobs[i].job.run = run;
    jobs[i].job.complete = complete;
    CHECK_EQ(ed_hs_pool_submit(p, &jobs[i].job, 1), 0);
  }
  wait_completed(50);
  for (int i = 0; i < 50; i++)
    CHECK(!pthread_equal(jobs[i].ran_on, pthread_self()));
  struct ed_stats_snapshot s;
  ed_stats_snapshot_init(&s);
  ed_hs_pool_stats(p, &s);
  CHECK_EQ(s.queue_wait.count, 50);
  CHECK_EQ(s.queue_depth, 0);
  ed_hs_pool_free(p);
}

static void test_queue_bound(void) {
  struct ed_hs_pool *p = ed_hs_pool_new(1, 4);
  struct tjob jobs[8] = {0};
  completed = 0;
  gate_open = 0;
  for (int i = 0; i < 8; i++) {
    jobs[i].job.run = run;
    jobs[i].job.complete = complete;
    jobs[i].gate = 1;
  }
  /* The first job occupies the only thread... */
  CHECK_EQ(ed_hs_pool_submit(p, &jobs[0].job, 1), 0);
  for (int i = 0; i < 1000 && ed_hs_pool_depth(p) != 0; i++) {
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
  /* ...then four wait, and a fifth new handshake is refused. */
  for (int i = 1; i <= 4; i++)
    CHECK_EQ(ed_hs_pool_submit(p, &jobs[i].job, 1), 0);
  CHECK_EQ(ed_hs_pool_depth(p), 4);
  CHECK_EQ(ed_hs_pool_full(p), 1);
  CHECK_EQ(ed_hs_pool_submit(p, &jobs[5].job, 1), ED_E_AGAIN);
  /* A later step of an existing handshake is still taken. */
  CHECK_EQ(ed_hs_pool_submit(p, &jobs[6].job, 0), 0);
  struct ed_stats_snapshot s;
  ed_stats_snapshot_init(&s);
  ed_hs_pool_stats(p, &s);
  CHECK_EQ(s.queue_depth, 5);
  pthread_mutex_lock(&mu);
  gate_open = 1;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
  wait_completed(6);
  CHECK_EQ(ed_hs_pool_depth(p), 0);
  CHECK_EQ(ed_hs_pool_full(p), 0);
  ed_hs_pool_free(p);
  CHECK_EQ(completed, 6);
}

/* Freeing the pool right after submitting still runs every queued job
 * (with their complete callbacks), with more jobs than threads. */
static void test_free_runs_queued(void) {
  struct ed_hs_pool *p = ed_hs_pool_new(2, 100);
  struct tjob jobs[20] = {0};
  completed = 0;
  gate_open = 1;
  for (int i = 0; i < 20; i++) {
    jobs[i].job.run = run;
    jobs[i].job.complete = complete;
    CHECK_EQ(ed_hs_pool_submit(p, &jobs[i].job, 1), 0);
  }
  ed_hs_pool_free(p);
  CHECK_EQ(completed, 20);
}

struct prio_job {
  struct ed_hs_job job;
  int policy, nice;
};

static void run_prio(struct ed_hs_job *j) {
  struct prio_job *t = (struct prio_job *)j;
  t->policy = sched_getscheduler(0);
  t->nice = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
}

/* Steps run as SCHED_BATCH at nice 19 (so an I/O loop on the same core
 * preempts them at once); the submitting thread keeps its own priority. */
static void test_runs_at_low_priority(void) {
  int my_nice = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
  int my_policy = sched_getscheduler(0);
  struct ed_hs_pool *p = ed_hs_pool_new(2, 100);
  struct prio_job jobs[4] = {0};
  completed = 0;
  for (int i = 0; i < 4; i++) {
    jobs[i].job.run = run_prio;
    jobs[i].job.complete = complete;
    jobs[i].nice = -100;
    CHECK_EQ(ed_hs_pool_submit(p, &jobs[i].job, 1), 0);
  }
  wait_completed(4);
  ed_hs_pool_free(p);
  for (int i = 0; i < 4; i++) {
    CHECK_EQ(jobs[i].policy, SCHED_BATCH);
    CHECK_EQ(jobs[i].nice, 19);
  }
  CHECK_EQ(getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid)), my_nice);
  CHECK_EQ(sched_getscheduler(0), my_policy);
}

int main(void) {
  RUN(test_runs_off_thread);
  RUN(test_runs_at_low_priority);
  RUN(test_queue_bound);
  RUN(test_free_runs_queued);
  return TEST_RESULT();
}

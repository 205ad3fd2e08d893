/* internal/handshake — the handshake pool: threads that run handshake
 * steps (all public-key work) off the I/O loops.
 *
 * A job is embedded in its owner (the connection). Ownership: from
 * ed_hs_pool_submit until job->complete is called, the pool owns the job
 * and whatever job->run touches (the connection's SSL object); the
 * submitter must not touch them. job->complete runs on the pool thread
 * right after job->run and hands the job back (the I/O loop queues it and
 * wakes itself). The pool knows nothing of libuv or TLS.
 *
 * Pool threads run as SCHED_BATCH at nice 19: they never preempt an I/O
 * loop, and a loop woken by a client preempts them at once, so on a shared
 * core the loops serve established sessions ahead of handshake steps (see
 * handshake.c for what was measured). A loop with no long-lived session
 * to serve runs as SCHED_BATCH too, and then waits for the step or the
 * scheduler's tick (internal/loop/sched.h). */
#ifndef ED_HANDSHAKE_H
#define ED_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>

#include "internal/stats/stats.h"

struct ed_hs_job {
  void (*run)(struct ed_hs_job *job);      /* on a pool thread */
  void (*complete)(struct ed_hs_job *job); /* on the pool thread, after run */
  struct ed_hs_job *next;                  /* pool-private */
  uint64_t queued_ns;                      /* pool-private */
};

struct ed_hs_pool;

/* ed_hs_pool_new starts |threads| threads (at least 1). At most
 * |max_queue| NEW handshakes wait for a thread at once (see submit).
 * Returns NULL if a thread cannot be started. */
struct ed_hs_pool *ed_hs_pool_new(uint32_t threads, uint32_t max_queue);

/* ed_hs_pool_free stops the threads after the queued jobs have run (their
 * complete callbacks are called as usual) and frees |pool|. NULL is fine.
 * Call it only after every submitter has stopped submitting. */
void ed_hs_pool_free(struct ed_hs_pool *pool);

/* ed_hs_pool_submit queues |job|. A job that starts a handshake
 * (|is_new|) is refused with ED_E_AGAIN when max_queue jobs are already
 * waiting; a later step of a handshake already under way is always
 * accepted (it is bounded by the number of connections). Returns 0 or
 * ED_E_AGAIN. Thread-safe. */
int ed_hs_pool_submit(struct ed_hs_pool *pool, struct ed_hs_job *job,
                      int is_new);

/* ed_hs_pool_depth returns how many jobs wait for a thread. Thread-safe. */
size_t ed_hs_pool_depth(struct ed_hs_pool *pool);

/* ed_hs_pool_busy returns how many jobs are queued or running (a relaxed
 * read: any thread, no lock). */
size_t ed_hs_pool_busy(struct ed_hs_pool *pool);

/* ed_hs_pool_full returns 1 when a new handshake would be refused now. */
int ed_hs_pool_full(struct ed_hs_pool *pool);

/* ed_hs_pool_set_test_delay makes every job sleep |ms| milliseconds on its
 * pool thread before job->run: a slow pool on demand, so end-to-end tests
 * can make "data arrives while the step is in the pool" deterministic.
 * Tests only (the server sets it from --test-handshake-delay, which
 * $ECHOD_TEST_HANDSHAKE_DELAY sets). Call before the first submit. */
void ed_hs_pool_set_test_delay(struct ed_hs_pool *pool, uint32_t ms);

/* ed_hs_pool_stats adds the pool's queue_depth gauge and queue_wait
 * histogram into |out|. Thread-safe. */
void ed_hs_pool_stats(struct ed_hs_pool *pool, struct ed_stats_snapshot *out);

#endif /* ED_HANDSHAKE_H */

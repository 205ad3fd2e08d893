/* Runs on a handshake pool thread (internal/handshake): one handshake step
 * of one connection, and handing the connection back to its loop.
 *
 * While the connection is in ED_CONN_HS_POOL this code owns c->tls and
 * c->step, and nothing else of the connection: it reads c->snap (set at
 * accept, immutable) and c->loop. The loop thread touches neither until
 * it takes the connection back (loop.c run_steps -> ed_conn_step_done).
 * The one exception runs on the loop itself: a resumption's last step
 * (symmetric crypto only; conn_hs.c hs_run_inline calls ed_conn_step_run
 * there, never while a step is in the pool). */
#include "internal/loop/loop_internal.h"

static struct ed_conn *conn_of_job(struct ed_hs_job *job) {
  return (struct ed_conn *)((char *)job - offsetof(struct ed_conn, job));
}

void ed_conn_step_run(struct ed_hs_job *job) {
  struct ed_conn *c = conn_of_job(job);
  if (!c->tls) c->tls = ed_tls_conn_new_server(c->snap);
  struct ed_tls_io io = {c->step.in.data, c->step.in.len, 0, &c->step.out};
  c->step.rc = ed_tls_conn_handshake(c->tls, &io);
  ed_buf_consume(&c->step.in, io.in_used);
  if (c->step.rc < 0)
    c->step.reason = ed_tls_conn_failure(c->tls, &c->step.detail);
}

/* ed_conn_step_complete pushes |c| on its loop's lock-free stack of
 * finished steps and wakes the loop (loop.c run_steps takes them all). */
void ed_conn_step_complete(struct ed_hs_job *job) {
  struct ed_conn *c = conn_of_job(job);
  struct ed_loop *l = c->loop;
  struct ed_conn *head = atomic_load_explicit(&l->done, memory_order_relaxed);
  do {
    c->done_next = head;
  } while (!atomic_compare_exchange_weak_explicit(
      &l->done, &head, c, memory_order_release, memory_order_relaxed));
  if (!head) ed_wake_signal(&l->wake); /* else a wake is already due */
}

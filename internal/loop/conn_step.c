/* Runs on a handshake pool thread (internal/handshake): one handshake step
 * of one connection, and handing the connection back to its loop.
 *
 * Every step decides on the client with the credentials current when it
 * runs: the first one makes the TLS engine on the current snapshot, a
 * later one moves the engine's trust to a newer snapshot if a reload
 * published one meanwhile and the client is not decided on yet
 * (ed_tls_conn_retrust), so the step that verifies the client's
 * certificate (or opens its ticket) refuses it, with its alert and before
 * any ticket, if the newest credentials do. c->snap_gen says which
 * snapshot's trust the decision was made with; a reload after it (while
 * the step is in the pool, or before a resumption's last step) leaves it
 * behind, and the loop has the identity re-checked before it establishes
 * the session (conn_hs.c hs_recheck, then step_recheck here).
 *
 * While the connection is in ED_CONN_HS_POOL this code owns c->tls,
 * c->step and c->snap_gen, and nothing else of the connection: it reads
 * c->loop and the loop's shared state (the current snapshot) and
 * c->step.gone (the loop's word that nobody will answer), and sends
 * on the socket when the loop lent it (step.fd, step_send). The loop
 * thread touches none of them until it takes the connection back (loop.c
 * run_steps -> ed_conn_step_done). The one exception runs on the loop
 * itself: a resumption's last step (symmetric crypto only; conn_hs.c
 * hs_run_inline calls ed_conn_step_run there, never while a step is in the
 * pool, and never for a re-check step). */
#include <errno.h>
#include <sys/socket.h>
#include <time.h>

#include "internal/loop/loop_internal.h"

static struct ed_conn *conn_of_job(struct ed_hs_job *job) {
  return (struct ed_conn *)((char *)job - offsetof(struct ed_conn, job));
}

/* current_snapshot returns the snapshot current now (a new reference) and
 * sets |*out_gen| to a count no newer than it (see ed_loop_shared). */
static struct ed_tls_snapshot *current_snapshot(struct ed_conn *c,
                                                uint64_t *out_gen) {
  struct ed_loop_shared *sh = c->loop->sh;
  *out_gen = atomic_load(&sh->snap_gen);
  return sh->snapshot_get(sh->snapshot_arg);
}

/* step_stale: a snapshot was published since |c|'s client is decided on
 * with the one it has; the next step decides with the newest. */
static int step_stale(const struct ed_conn *c) {
  return c->snap_gen !=
         atomic_load_explicit(&c->loop->sh->snap_gen, memory_order_relaxed);
}

/* step_recheck decides again on a completed handshake's identity, against
 * the snapshot current now (conn_hs.c hs_recheck says when). One that no
 * longer passes is refused with the reason's alert, in place of what the
 * last step wanted sent (a ticket for a client now refused). */
static void step_recheck(struct ed_conn *c) {
  uint64_t gen;
  struct ed_tls_snapshot *s = current_snapshot(c, &gen);
  enum ed_hs_reason reason;
  const char *detail;
  if (ed_tls_peer_recheck(s, ed_tls_conn_peer(c->tls), (int64_t)time(NULL),
                          &reason, &detail) != 0) {
    ed_buf_reset(&c->step.out);
    struct ed_tls_io io = {NULL, 0, 0, &c->step.out};
    c->step.rc = ed_tls_conn_refuse(c->tls, &io, reason, detail);
    c->step.reason = reason;
    c->step.detail = detail;
  } else {
    ed_tls_conn_rebase(c->tls, s);
  }
  c->snap_gen = gen;
  ed_tls_snapshot_unref(s);
}

/* step_send sends a step's output (the server's flight) from the pool
 * thread, on the socket the loop lent it (step.fd: nothing is queued
 * ahead of it; under the connection's lend_mu, so a close on the loop
 * cannot close the descriptor meanwhile: conn.c take_back_fd). Only for
 * a step that needs more from the client: a completed handshake's
 * tickets wait for the loop (a re-check may refuse the client first), a
 * failure's alert goes with the loop's close. All of it sent, the step
 * is quiet: the loop need not wake for it. What did not go (a full
 * socket buffer, an error, a socket taken back) stays in step.out for
 * the loop, which sends it as it would have, or meets the same error. */
static void step_send(struct ed_conn *c) {
  struct ed_buf *out = &c->step.out;
  pthread_mutex_lock(&c->lend_mu);
  while (c->step.fd >= 0 && out->len) {
    ssize_t n =
        send(c->step.fd, out->data, out->len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    ed_buf_consume(out, (size_t)n);
  }
  c->step.quiet = c->step.fd >= 0 && out->len == 0;
  pthread_mutex_unlock(&c->lend_mu);
}

/* step_abandoned: the loop closed the connection while its step waited
 * (timeout, kill, drain; its outcome is logged already): the step would
 * work for nobody. A client that left of itself (STEP_PEER_GONE) still
 * gets its step, but no signature (ed_tls_conn_watch_peer). Under a storm
 * of clients that give up (a balancer's or a client's timeout, then a
 * retry), their queued steps would otherwise each cost the pool a
 * signature that nobody reads, ahead of the clients still waiting. */
static int step_abandoned(const struct ed_conn *c) {
  return atomic_load_explicit(&c->step.gone, memory_order_relaxed) ==
         STEP_CLOSED;
}

void ed_conn_step_run(struct ed_hs_job *job) {
  struct ed_conn *c = conn_of_job(job);
  c->step.quiet = 0;
  if (step_abandoned(c)) {
    c->step.recheck = 0;
    c->step.rc = 0;
    return;
  }
  if (c->step.recheck) {
    c->step.recheck = 0;
    step_recheck(c);
    return;
  }
  if (!c->tls) { /* the first step: the credentials current now decide */
    struct ed_tls_snapshot *s = current_snapshot(c, &c->snap_gen);
    c->tls = ed_tls_conn_new_server(s);
    ed_tls_conn_watch_peer(c->tls, &c->step.gone);
    ed_tls_snapshot_unref(s);
  } else if (step_stale(c) && !ed_tls_conn_peer(c->tls)) {
    /* A reload since the last step, and the client is still to be
     * decided on: the newest credentials will. (Once it was decided - a
     * ticket opened, a certificate verified - the old decision stands
     * until the loop has it re-checked, so c->snap_gen stays behind.) */
    struct ed_tls_snapshot *s = current_snapshot(c, &c->snap_gen);
    ed_tls_conn_retrust(c->tls, s);
    ed_tls_snapshot_unref(s);
  }
  struct ed_tls_io io = {c->step.in.data, c->step.in.len, 0, &c->step.out};
  c->step.rc = ed_tls_conn_handshake(c->tls, &io);
  ed_buf_consume(&c->step.in, io.in_used);
  if (c->step.rc < 0)
    c->step.reason = ed_tls_conn_failure(c->tls, &c->step.detail);
  if (c->step.rc == 0 && c->step.lent) step_send(c);
}

/* ed_conn_step_complete pushes |c| on its loop's lock-free stack of
 * finished steps (loop.c run_steps takes them all) and wakes the loop
 * only if it polls: an awake loop takes the stack before it polls again
 * (loop.c on_prepare), so on a busy loop a finished step costs no
 * syscall at all. One signal per poll is enough (|signalled|).
 *
 * A quiet step (step_send) wakes nobody: its flight is out, and the
 * loop takes it at its next look at the stack, at the latest when the
 * client's answer wakes it. That saves the loop a wake-up per handshake
 * (the eventfd write and read, an epoll_wait, and on a shared core the
 * two context switches of the loop preempting this thread). Unless some
 * connection waits for its step with something to act on (bytes that
 * came meanwhile, a close: l->step_waiters), which might be this one:
 * then it signals as any step does. The loop counts a waiter before its
 * next look at the stack, and this thread pushes before it reads the
 * count (all sequentially consistent), so either the loop's look finds
 * the step or the count makes this thread signal. |c| is not read after
 * the push: the loop may free it from then on. */
void ed_conn_step_complete(struct ed_hs_job *job) {
  struct ed_conn *c = conn_of_job(job);
  struct ed_loop *l = c->loop;
  int quiet = c->step.quiet;
  struct ed_conn *head = atomic_load_explicit(&l->done, memory_order_relaxed);
  do {
    c->done_next = head;
  } while (!atomic_compare_exchange_weak_explicit(
      &l->done, &head, c, memory_order_seq_cst, memory_order_relaxed));
  if (quiet && atomic_load(&l->step_waiters) == 0) return;
  if (atomic_load(&l->polling) && !atomic_exchange(&l->signalled, 1))
    ed_wake_signal(&l->wake);
}

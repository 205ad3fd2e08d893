/* internal/loop — re-checking a loop's established sessions after a
 * reload (ed_loop_post_recheck), on the loop: collect every ESTABLISHED
 * connection's identity into one batch, hand it to the handshake pool
 * (recheck_step.c decides there: the loop never does certificate, CRL or
 * allow-list work), and when it is back close each session that no
 * longer passes: close_notify, reason from the verdict (ED_REVOKE_REASONS;
 * the "session closed" line names it, with the serial), counted in
 * sessions_revoked{reason}; and move each that passed onto the snapshot
 * it passed against (ed_tls_conn_rebase), so that no session keeps an
 * older snapshot, with its CRLs, alive.
 *
 * A session established after the batch was collected was decided under
 * a snapshot at least as new as the one the batch is checked against
 * (conn_hs.c re-checks a handshake that completes under an older one). */
#include <stdlib.h>

#include "internal/loop/loop_internal.h"

void ed_loop_post_recheck(struct ed_loop *l, ed_loop_recheck_fn done,
                          void *arg) {
  struct loop_cmd *cmd = ed_calloc(1, sizeof(*cmd));
  cmd->type = CMD_RECHECK;
  cmd->done = done;
  cmd->arg = arg;
  ed_loop_post(l, cmd);
}

/* collect makes the batch of |l|'s established sessions, each connection
 * held (refs) until the batch is back; NULL when there are none. The
 * registry is the loop's own, so no lock is needed to read it here. */
static struct ed_recheck_batch *collect(struct ed_loop *l) {
  size_t n = 0;
  for (struct ed_link *e = l->conns.next; e != &l->conns; e = e->next)
    n += CONN_OF(e, reg)->st == ED_CONN_ESTABLISHED;
  if (n == 0) return NULL;
  struct ed_recheck_batch *b =
      ed_calloc(1, sizeof(*b) + n * sizeof(struct ed_recheck_entry));
  b->loop = l;
  for (struct ed_link *e = l->conns.next; e != &l->conns; e = e->next) {
    struct ed_conn *c = CONN_OF(e, reg);
    if (c->st != ED_CONN_ESTABLISHED) continue;
    c->refs++;
    b->e[b->num].c = c;
    b->e[b->num].peer = c->peer;
    b->num++;
  }
  return b;
}

void ed_recheck_start(struct ed_loop *l, const struct loop_cmd *cmd) {
  struct ed_recheck_batch *b = collect(l);
  if (!b) {
    cmd->done(cmd->arg, 0, 0);
    return;
  }
  b->done = cmd->done;
  b->arg = cmd->arg;
  b->job.run = ed_recheck_batch_run;
  b->job.complete = ed_recheck_batch_complete;
  /* Not a new handshake: the pool always takes it. */
  (void)ed_loop_pool(l)->submit(l->sh->pool, &b->job, 0);
}

void ed_recheck_finish(struct ed_loop *l, struct ed_recheck_batch *b) {
  uint64_t closed = 0;
  for (size_t i = 0; i < b->num; i++) {
    struct ed_recheck_entry *e = &b->e[i];
    if (e->failed && e->c->st == ED_CONN_ESTABLISHED) {
      enum ed_revoke_reason r = ed_revoke_reason_from_hs(e->reason);
      ed_stat_add(&l->stats.sessions_revoked[r], 1);
      e->c->fail_detail = e->detail;
      ed_conn_close(e->c, (enum close_reason)(CR_REVOKE_FIRST + r), HOW_NOTIFY);
      closed++;
    } else if (!e->failed && e->c->st == ED_CONN_ESTABLISHED) {
      /* It passed: its handshake's snapshot need not outlive the reload
       * (ed_tls_conn_rebase). */
      ed_tls_conn_rebase(e->c->tls, b->snap);
    }
    ed_conn_unref(e->c); /* after the close: it may free |c| */
  }
  ed_tls_snapshot_unref(b->snap);
  b->done(b->arg, b->num, closed);
  free(b);
}

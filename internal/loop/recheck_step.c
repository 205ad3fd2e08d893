/* Runs on a handshake pool thread (internal/handshake): the verdicts of
 * one loop's re-check batch (recheck.c), and handing the batch back.
 *
 * It reads the identities and the current snapshot and writes the
 * verdicts; it never reads a connection (the loop's), and the identities
 * are immutable. ed_tls_peer_recheck does no public-key work and no
 * allocation, so a batch of thousands of sessions holds one pool thread
 * for milliseconds. */
#include <time.h>

#include "internal/loop/loop_internal.h"

void ed_recheck_batch_run(struct ed_hs_job *job) {
  struct ed_recheck_batch *b = (struct ed_recheck_batch *)job;
  struct ed_loop_shared *sh = b->loop->sh;
  struct ed_tls_snapshot *s = sh->snapshot_get(sh->snapshot_arg);
  int64_t now = (int64_t)time(NULL);
  for (size_t i = 0; i < b->num; i++) {
    enum ed_hs_reason reason = ED_HS_OTHER;
    const char *detail;
    struct ed_recheck_entry *e = &b->e[i];
    e->failed = ed_tls_peer_recheck(s, e->peer, now, &reason, &detail) != 0;
    e->reason = (uint8_t)reason;
    e->detail = e->failed ? detail : NULL;
  }
  b->snap = s; /* the loop moves the sessions that passed onto it */
}

void ed_recheck_batch_complete(struct ed_hs_job *job) {
  struct ed_recheck_batch *b = (struct ed_recheck_batch *)job;
  struct loop_cmd *cmd = ed_calloc(1, sizeof(*cmd));
  cmd->type = CMD_RECHECK_DONE;
  cmd->batch = b;
  ed_loop_post(b->loop, cmd);
}

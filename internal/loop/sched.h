/* internal/loop — the loop thread's scheduling class while handshakes
 * alone keep the pool busy.
 *
 * The pool's threads run at nice 19 (internal/handshake), so a loop woken
 * by a client's bytes takes the core from a handshake step at once: that
 * keeps established sessions' latency near quiet under a storm of
 * handshakes. With no long-lived session to serve, the same wake-ups only
 * cut the pool's steps short. On one core every such wake-up costs two
 * context switches and a colder cache: a fifth of the server's CPU per
 * full or resumed handshake under a handshake-only load
 * (docs/BENCHMARKS.md, round 8).
 *
 * So while the pool has had work within ED_SCHED_QUIET_MS and no
 * long-lived session (established at least ED_SCHED_LONG_MS ago) has sent
 * anything for ED_SCHED_QUIET_MS, the loop runs as SCHED_BATCH. Its
 * wake-ups then do not preempt the pool: the step under way finishes, and
 * the loop takes the core when the pool sleeps or at the scheduler's next
 * tick (4 ms at HZ=250). The price: the first bytes a long-lived session
 * sends after such a quiet second, while handshakes run, may wait up to
 * that tick. The read of those bytes switches the loop back to SCHED_OTHER
 * before its next poll, so only that one read waits. Sessions that send
 * within ED_SCHED_LONG_MS of their handshake (a connect, an echo, a close)
 * do not count: they are what the handshake load is made of.
 *
 * Off (the loop keeps the class it started with) with --handshake-share
 * 0, which asks for established sessions first, always; and when the
 * process was not started as SCHED_OTHER (chrt, systemd's
 * CPUSchedulingPolicy=): an operator's choice is left alone.
 *
 * The decision is arithmetic over times the loop passes (uv_now, ms);
 * ed_sched_apply makes the one system call, only when the class changes. */
#ifndef ED_LOOP_SCHED_H
#define ED_LOOP_SCHED_H

#include <stdint.h>

#define ED_SCHED_LONG_MS 100   /* established this long: long-lived */
#define ED_SCHED_QUIET_MS 1000 /* no such session sent for this long */

struct ed_sched {
  uint64_t spoke_ms; /* a long-lived session last sent (if |spoke|) */
  uint64_t pool_ms;  /* the pool last had work (if |pooled|) */
  uint32_t long_ms;  /* ED_SCHED_LONG_MS (tests may change them) */
  uint32_t quiet_ms; /* ED_SCHED_QUIET_MS */
  uint8_t spoke, pooled;
  uint8_t batch;    /* the thread runs as SCHED_BATCH */
  uint8_t disabled; /* off, or a switch failed: stay as we are */
  uint64_t switches;
};

/* ed_sched_init: |enabled| 0 turns it off for good. */
void ed_sched_init(struct ed_sched *s, int enabled);

/* ed_sched_spoke: an established session, established at |est_ms| (the
 * low 32 bits of uv_now then), read bytes at |now_ms|. */
static inline void ed_sched_spoke(struct ed_sched *s, uint32_t est_ms,
                                  uint64_t now_ms) {
  if ((uint32_t)((uint32_t)now_ms - est_ms) < s->long_ms) return;
  s->spoke_ms = now_ms;
  s->spoke = 1;
}

/* ed_sched_want_batch is asked right before each poll, at |now_ms|, with
 * |pool_busy| whether handshake steps are queued or running: 1 when the
 * loop should run as SCHED_BATCH, 0 for SCHED_OTHER. */
int ed_sched_want_batch(struct ed_sched *s, int pool_busy, uint64_t now_ms);

/* ed_sched_apply switches the calling thread to SCHED_BATCH (|batch|) or
 * back to SCHED_OTHER, keeping its nice value. Returns 0, or -1 when the
 * system refused (then |disabled|: the loop never asks again). */
int ed_sched_apply(struct ed_sched *s, int batch);

#endif /* ED_LOOP_SCHED_H */

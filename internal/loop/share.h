/* internal/loop — the handshake share (--handshake-share PERCENT): the
 * accounting by which an I/O loop leaves at least PERCENT of its core's
 * time to the handshake pool while handshake steps wait.
 *
 * Why the loop must give it: the pool's threads run at nice 19 so that a
 * loop woken by a client takes the core from a handshake step at once
 * (internal/handshake; not while the loop runs as SCHED_BATCH, sched.h,
 * which it does only with no long-lived session to serve). A loop that
 * never sleeps - saturated by established sessions - would then leave a
 * storm of new handshakes the 1.4 % of the core that nice 19 weighs
 * against nice 0, and the storm would never resolve. Raising the pool's
 * priority instead gives it the core in scheduler-tick slices (4 ms at HZ=250)
 * that every established session then waits through. So the loop keeps the core
 * and naps: short (ED_SHARE_NAP_MIN_NS .. ED_SHARE_NAP_MAX_NS) and only as much
 * as the time it already slept in poll() falls short of the share.
 *
 * The rule, checked right before each poll while the pool has work
 * (queued or running): the time the loop ran since the previous check
 * earns the pool ran * PERCENT / (100 - PERCENT); the time the loop
 * thread was off its core meanwhile in the kernel's poll (from before the
 * poll to the first callback after it, less the thread's own CPU time in
 * that span: loop.c and ed_loop_awake) or napping pays it back. Once the debt
 * reaches ED_SHARE_NAP_MIN_NS the loop naps it off (at most ED_SHARE_NAP_MAX_NS
 * at a time) before polling. Idle time beyond the debt is banked up to
 * ED_SHARE_CREDIT_NS, so a loop that is not saturated never naps; the debt is
 * capped at ED_SHARE_DEBT_MAX_NS. With the pool idle the debt is forgotten.
 * The nap bounds are not tuned for latency: maxima of 0.25 to 2 ms gave
 * established sessions no better p99 under a handshake storm
 * (docs/BENCHMARKS.md, round 8).
 * Pure arithmetic over times the caller passes: the loop (loop.c) reads the
 * clocks and sleeps. */
#ifndef ED_LOOP_SHARE_H
#define ED_LOOP_SHARE_H

#include <stdint.h>

#define ED_SHARE_NAP_MIN_NS 200000u  /* shorter: not worth two switches */
#define ED_SHARE_NAP_MAX_NS 1000000u /* longer: sessions would wait */
#define ED_SHARE_CREDIT_NS 1000000
#define ED_SHARE_DEBT_MAX_NS                  \
  10000000 /* one long busy spell is not owed \
            * for ever */

struct ed_share {
  uint32_t percent;         /* 0: off */
  int64_t owed_ns;          /* > 0: the pool's due; < 0: banked idle time */
  uint64_t last_ns;         /* the previous check (0: not counting) */
  uint64_t last_idle_ns;    /* the poll-idle total at that check */
  uint64_t naps, napped_ns; /* what it did, for tests */
};

/* ed_share_init: |percent| 0-90 (the config bounds it); 0 turns it off. */
void ed_share_init(struct ed_share *s, uint32_t percent);

/* ed_share_before_poll is called right before the loop polls, at |now|
 * (ns, monotonic), with |pool_busy| whether handshake jobs are queued or
 * running and |idle_ns| the loop's total time off its core in polls so far (ns,
 * never decreasing). Returns how long to nap first (ns; 0: none); the
 * caller naps and reports it with ed_share_napped, then polls. */
uint64_t ed_share_before_poll(struct ed_share *s, int pool_busy, uint64_t now,
                              uint64_t idle_ns);

/* ed_share_napped: the nap asked for ran from |from| to |to|. */
void ed_share_napped(struct ed_share *s, uint64_t from, uint64_t to);

#endif /* ED_LOOP_SHARE_H */

/* internal/bench — the counters one client loop bumps while the
 * orchestrating thread reads them.
 *
 * Each loop's counters have one writer (the loop's thread). What one
 * completed operation adds (ops, its echoed bytes, whether it resumed)
 * goes in with ed_bench__account, and ed_bench__counters_read returns the
 * three as of one moment, so a measured window never holds the bytes of
 * an echo without the echo itself: a sequence lock, whose writer never
 * waits and whose reader tries again if a write overlapped its read. */
#ifndef ED_BENCH_COUNTERS_H
#define ED_BENCH_COUNTERS_H

#include <stdatomic.h>
#include <stdint.h>

struct ed_bench__counters {
  _Atomic uint32_t seq;                 /* odd while ed_bench__account writes */
  _Atomic uint64_t ops, bytes, resumed; /* ed_bench__account only */
  _Atomic uint64_t established, held, dead;
  _Atomic uint64_t refused, connect_failed, mismatch, dropped, timeouts;
  _Atomic uint64_t late_quiet, late_storm; /* flood: paced sends delayed */
  _Atomic uint64_t quiet_hs;      /* flood: storm handshakes done in quiet */
  _Atomic uint64_t limit_refused; /* scale: turned away before any TLS */
  _Atomic uint64_t closed, close_unclean; /* scale: closes at PH_CLOSE */
};

/* ed_bench__account adds |ops| operations, |bytes| verified bytes and
 * |resumed| resumed sessions. Only the loop that owns |c| calls it. */
void ed_bench__account(struct ed_bench__counters *c, uint64_t ops,
                       uint64_t bytes, uint64_t resumed);

/* The three counters ed_bench__account moves. */
struct ed_bench__tally {
  uint64_t ops, bytes, resumed;
};

/* ed_bench__counters_read returns ops, bytes and resumed of |c|, from any
 * thread. */
struct ed_bench__tally ed_bench__counters_read(
    const struct ed_bench__counters *c);

#endif

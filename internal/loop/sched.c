/* internal/loop — see sched.h. */
#include "internal/loop/sched.h"

#include <pthread.h>
#include <sched.h>

void ed_sched_init(struct ed_sched *s, int enabled) {
  *s = (struct ed_sched){.long_ms = ED_SCHED_LONG_MS,
                         .quiet_ms = ED_SCHED_QUIET_MS,
                         .disabled = (uint8_t)!enabled};
}

int ed_sched_want_batch(struct ed_sched *s, int pool_busy, uint64_t now_ms) {
  if (pool_busy) {
    s->pool_ms = now_ms;
    s->pooled = 1;
  }
  if (s->disabled || !s->pooled || now_ms - s->pool_ms >= s->quiet_ms) return 0;
  return !s->spoke || now_ms - s->spoke_ms >= s->quiet_ms;
}

int ed_sched_apply(struct ed_sched *s, int batch) {
  struct sched_param sp = {0};
  if (pthread_setschedparam(pthread_self(), batch ? SCHED_BATCH : SCHED_OTHER,
                            &sp) != 0) {
    s->disabled = 1;
    return -1;
  }
  s->batch = (uint8_t)batch;
  s->switches++;
  return 0;
}

/* internal/loop — see share.h. */
#include "internal/loop/share.h"

void ed_share_init(struct ed_share *s, uint32_t percent) {
  *s = (struct ed_share){0};
  s->percent = percent > 90 ? 90 : percent;
}

/* settle adds what the pool earned since the previous check and takes off
 * what the loop's sleep in poll paid back, within the bounds. */
static void settle(struct ed_share *s, uint64_t now, uint64_t idle_ns) {
  uint64_t took = now > s->last_ns ? now - s->last_ns : 0;
  uint64_t idle = idle_ns > s->last_idle_ns ? idle_ns - s->last_idle_ns : 0;
  if (idle > took) idle = took;
  uint64_t ran = took - idle;
  s->owed_ns += (int64_t)(ran * s->percent / (100 - s->percent));
  s->owed_ns -= (int64_t)idle;
  if (s->owed_ns > ED_SHARE_DEBT_MAX_NS) s->owed_ns = ED_SHARE_DEBT_MAX_NS;
  if (s->owed_ns < -ED_SHARE_CREDIT_NS) s->owed_ns = -ED_SHARE_CREDIT_NS;
}

uint64_t ed_share_before_poll(struct ed_share *s, int pool_busy, uint64_t now,
                              uint64_t idle_ns) {
  if (!s->percent || !pool_busy) {
    s->owed_ns = 0;
    s->last_ns = 0;
    return 0;
  }
  if (s->last_ns) settle(s, now, idle_ns);
  s->last_ns = now;
  s->last_idle_ns = idle_ns;
  if (s->owed_ns < (int64_t)ED_SHARE_NAP_MIN_NS) return 0;
  return s->owed_ns > (int64_t)ED_SHARE_NAP_MAX_NS ? ED_SHARE_NAP_MAX_NS
                                                   : (uint64_t)s->owed_ns;
}

void ed_share_napped(struct ed_share *s, uint64_t from, uint64_t to) {
  uint64_t slept = to > from ? to - from : 0;
  s->owed_ns -= (int64_t)slept;
  s->naps++;
  s->napped_ns += slept;
  s->last_ns = to; /* the nap is neither running nor owed */
}

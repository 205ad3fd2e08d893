/* internal/loop — see share.h. */
#include "internal/loop/share.h"

void ed_share_init(struct ed_share *s, uint32_t percent) {
  *s = (struct ed_share){0};
  s->percent = percent > 90 ? 90 : percent;
}

uint64_t ed_share_before_poll(struct ed_share *s, int pool_busy, uint64_t now) {
  if (!s->percent || !pool_busy) {
    s->owed_ns = 0;
    s->poll_start_ns = s->poll_end_ns = 0;
    return 0;
  }
  if (s->poll_end_ns && now > s->poll_end_ns) {
    uint64_t ran = now - s->poll_end_ns;
    s->owed_ns += (int64_t)(ran * s->percent / (100 - s->percent));
    if (s->owed_ns > ED_SHARE_DEBT_MAX_NS) s->owed_ns = ED_SHARE_DEBT_MAX_NS;
  }
  s->poll_start_ns = now;
  if (s->owed_ns < (int64_t)ED_SHARE_NAP_MIN_NS) return 0;
  return s->owed_ns > (int64_t)ED_SHARE_NAP_MAX_NS ? ED_SHARE_NAP_MAX_NS
                                                   : (uint64_t)s->owed_ns;
}

void ed_share_napped(struct ed_share *s, uint64_t from, uint64_t to) {
  uint64_t slept = to > from ? to - from : 0;
  s->owed_ns -= (int64_t)slept;
  s->naps++;
  s->napped_ns += slept;
  s->poll_start_ns = to; /* the poll starts after the nap */
}

void ed_share_after_poll(struct ed_share *s, uint64_t now) {
  if (!s->poll_start_ns) return;
  if (now > s->poll_start_ns) s->owed_ns -= (int64_t)(now - s->poll_start_ns);
  if (s->owed_ns < -ED_SHARE_CREDIT_NS) s->owed_ns = -ED_SHARE_CREDIT_NS;
  s->poll_end_ns = now;
}

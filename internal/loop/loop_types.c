/* internal/loop — see loop_types.h. */
#include "internal/loop/loop_types.h"

#include <string.h>

#include "internal/base/base.h"

#define ED_NAME_(id, name) name,
static const char *const state_names[] = {ED_SESSION_STATES(ED_NAME_)};
static const char *const reject_names[] = {ED_REJECT_REASONS(ED_NAME_)};
#undef ED_NAME_
#define ED_NAME3_(id, hs, name) name,
static const char *const revoke_names[] = {ED_REVOKE_REASONS(ED_NAME3_)};
#undef ED_NAME3_

const char *ed_session_state_name(enum ed_session_state s) {
  return (unsigned)s < ED_SESSION_STATE_COUNT ? state_names[s] : "unknown";
}

int ed_session_state_parse(enum ed_session_state *out, const char *s) {
  for (int i = 0; s && i < ED_SESSION_STATE_COUNT; i++) {
    if (!strcmp(s, state_names[i])) {
      *out = (enum ed_session_state)i;
      return 0;
    }
  }
  return ED_E_INVAL;
}

const char *ed_reject_reason_name(enum ed_reject_reason r) {
  return (unsigned)r < ED_REJECT_REASON_COUNT ? reject_names[r] : "unknown";
}

const char *ed_revoke_reason_name(enum ed_revoke_reason r) {
  return (unsigned)r < ED_REVOKE_REASON_COUNT ? revoke_names[r] : "unknown";
}

enum ed_revoke_reason ed_revoke_reason_from_hs(enum ed_hs_reason r) {
  switch (r) {
#define ED_FROM_HS_(id, hs, name) \
  case ED_HS_##hs:                \
    return ED_REVOKE_##id;
    ED_REVOKE_REASONS(ED_FROM_HS_)
#undef ED_FROM_HS_
    default:
      return ED_REVOKE_OTHER;
  }
}

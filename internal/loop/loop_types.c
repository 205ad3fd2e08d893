/* internal/loop — see loop_types.h. */
#include "internal/loop/loop_types.h"

#include <string.h>

#include "internal/base/base.h"

#define ED_NAME_(id, name) name,
static const char *const state_names[] = {ED_SESSION_STATES(ED_NAME_)};
static const char *const reject_names[] = {ED_REJECT_REASONS(ED_NAME_)};
#undef ED_NAME_

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

/* internal/reload — see reload_types.h. */
#include "internal/reload/reload_types.h"

static const char *const trigger_names[] = {
#define ED_NAME_(id, name) name,
    ED_RELOAD_TRIGGERS(ED_NAME_)
#undef ED_NAME_
};

const char *ed_reload_trigger_name(enum ed_reload_trigger t) {
  return (unsigned)t < ED_RELOAD_TRIGGER_COUNT ? trigger_names[t] : "unknown";
}

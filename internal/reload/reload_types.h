/* internal/reload — the words other modules share about reloads without
 * linking the watcher: what started a reload, and the record of the
 * reloads so far that admin `status` and the metrics read. Types and
 * names only (reload_types.c). */
#ifndef ED_RELOAD_TYPES_H
#define ED_RELOAD_TYPES_H

#include <stdint.h>

/* What started a reload; label values for echod_reloads_total{trigger}. */
#define ED_RELOAD_TRIGGERS(X) \
  X(STARTUP, "startup")       \
  X(ADMIN, "admin")           \
  X(SIGNAL, "signal")         \
  X(WATCH, "watch")

enum ed_reload_trigger {
#define ED_TRIG_ENUM_(id, name) ED_RELOAD_##id,
  ED_RELOAD_TRIGGERS(ED_TRIG_ENUM_)
#undef ED_TRIG_ENUM_
      ED_RELOAD_TRIGGER_COUNT
};

/* ed_reload_trigger_name returns the label ("signal"); static. */
const char *ed_reload_trigger_name(enum ed_reload_trigger t);

/* The reload bookkeeping. Its one writer is the server's reload function
 * (internal/server: every reload, whatever its trigger, is recorded there;
 * the startup load counts as trigger "startup", ok); admin `status` and
 * the metrics read a copy (ed_server_reload_status). */
struct ed_reload_status {
  uint64_t count[ED_RELOAD_TRIGGER_COUNT][2]; /* [trigger][0 fail, 1 ok] */
  int last_ok;                         /* result of the last reload (1 ok) */
  enum ed_reload_trigger last_trigger; /* what started the last one */
  uint64_t last_wall_ns;               /* when (ns since the epoch) */
  char last_error[256];                /* "" when last_ok */
};

#endif /* ED_RELOAD_TYPES_H */

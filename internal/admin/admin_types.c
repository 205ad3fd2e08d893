/* internal/admin — see admin_types.h. */
#include "internal/admin/admin_types.h"

#include <string.h>

static const char *const admin_names[] = {
#define ED_NAME_(id, name) name,
    ED_ADMIN_CMDS(ED_NAME_)
#undef ED_NAME_
};

const char *ed_admin_cmd_name(enum ed_admin_cmd c) {
  return (unsigned)c < ED_ADMIN_CMD_COUNT ? admin_names[c] : "unknown";
}

enum ed_admin_cmd ed_admin_cmd_parse(const char *name) {
  for (int c = 0; name && c < ED_ADMIN_CMD_COUNT; c++) {
    if (c == ED_ADMIN_UNKNOWN) continue;
    if (strcmp(name, admin_names[c]) == 0) return (enum ed_admin_cmd)c;
  }
  return ED_ADMIN_UNKNOWN;
}

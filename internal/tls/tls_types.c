/* internal/tls — see tls_types.h. */
#include "internal/tls/tls_types.h"

static const char *const hs_names[] = {
#define ED_NAME_(id, name) name,
    ED_HS_REASONS(ED_NAME_)
#undef ED_NAME_
};

static const char *const san_names[] = {
#define ED_SAN_NAME_(id, name) name,
    ED_SAN_TYPES(ED_SAN_NAME_)
#undef ED_SAN_NAME_
};

struct suite_row {
  uint16_t iana;
  const char *version;
  const char *name;
};
static const struct suite_row suites[] = {
#define ED_SUITE_ROW_(id, iana, ver, name) {iana, ver, name},
    ED_SUITES(ED_SUITE_ROW_)
#undef ED_SUITE_ROW_
};

const char *ed_hs_reason_name(enum ed_hs_reason r) {
  return (unsigned)r < ED_HS_REASON_COUNT ? hs_names[r] : "other";
}

const char *ed_san_type_name(enum ed_san_type t) {
  return (unsigned)t < ED_SAN_TYPE_COUNT ? san_names[t] : "?";
}

const char *ed_suite_name(enum ed_suite s) {
  return suites[(unsigned)s < ED_SUITE_COUNT ? s : ED_SUITE_OTHER].name;
}

const char *ed_suite_version(enum ed_suite s) {
  return suites[(unsigned)s < ED_SUITE_COUNT ? s : ED_SUITE_OTHER].version;
}

enum ed_suite ed_suite_from_iana(uint16_t iana) {
  for (int i = 0; i < ED_SUITE_OTHER; i++) {
    if (suites[i].iana == iana) return (enum ed_suite)i;
  }
  return ED_SUITE_OTHER;
}

/* internal/version — the version line (see version.h). */
#include "internal/version/version.h"

#include <openssl/base.h>
#include <stdio.h>

#include "internal/version/stamp.h"

/* stamp.h defines these when the build ran the workspace status script
 * (.bazelrc); a build without it still compiles and says "unknown". */
#ifndef ED_STAMP_COMMIT
#define ED_STAMP_COMMIT "unknown"
#endif
#ifndef ED_STAMP_BORINGSSL
#define ED_STAMP_BORINGSSL "unknown"
#endif

#define ED_STR_(x) #x
#define ED_STR(x) ED_STR_(x)

const char *ed_version_commit(void) {
  return ED_STAMP_COMMIT[0] ? ED_STAMP_COMMIT : "unknown";
}

char *ed_version_line(char *out, size_t out_len, enum ed_tool t) {
  if (out_len == 0) return out;
  snprintf(out, out_len, "%s %s (commit %s, BoringSSL API %s %s)",
           ed_tool_name(t), ED_VERSION, ed_version_commit(),
           ED_STR(BORINGSSL_API_VERSION), ED_STAMP_BORINGSSL);
  return out;
}

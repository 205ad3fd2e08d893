/* internal/version — `--version` for the five tools (see tool.h for the
 * names). The commit comes from the build: Bazel's workspace status
 * (internal/version/workspace_status.sh, `git rev-parse`) read by the
 * stamped genrule :stamp_h, so only this library's one object changes
 * with the commit. Without git it is "unknown". */
#ifndef ED_VERSION_VERSION_H
#define ED_VERSION_VERSION_H

#include <stddef.h>

#include "internal/version/tool.h"

/* ed_version_commit returns the abbreviated git commit the tools were
 * built from ("1a2b3c4"), or "unknown". The string is static. */
const char *ed_version_commit(void);

/* ed_version_line writes the first line of `<tool> --version` into |out|
 * (always NUL-terminated), without a newline:
 *   echoctl 0.1.0 (commit 1a2b3c4, BoringSSL API 17 1530333b)
 * The first word is the installed name, the second the version (packaging
 * parses it). Returns |out|. */
char *ed_version_line(char *out, size_t out_len, enum ed_tool t);

#endif /* ED_VERSION_VERSION_H */

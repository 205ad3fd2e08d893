/* echoctl — talk to a running echod over its admin socket. All logic is in
 * internal/echoctl; see `echoctl --help` and docs/admin-protocol.md. */
#include <stdio.h>

#include "internal/echoctl/echoctl.h"
#include "internal/version/version.h"

int main(int argc, char **argv) {
  char line[256];
  return ed_echoctl_main(argc, argv, stdout, stderr,
                         ed_version_line(line, sizeof(line), ED_TOOL_ECHOCTL));
}

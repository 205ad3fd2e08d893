/* echoctl — talk to a running echod over its admin socket. All logic is in
 * internal/echoctl; see `echoctl --help` and docs/admin-protocol.md. */
#include <stdio.h>

#include "internal/echoctl/echoctl.h"

int main(int argc, char **argv) {
  return ed_echoctl_main(argc, argv, stdout, stderr);
}

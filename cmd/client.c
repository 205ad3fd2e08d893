/* echo-client — the echo client (`bazel run //cmd:client [-- flags]`).
 * Exit codes: 0 clean session, 1 failure (a sentence on stderr says what to
 * do), 2 usage error. */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "internal/base/base.h"
#include "internal/client/client.h"
#include "internal/version/version.h"

int main(int argc, char **argv) {
  struct ed_client_opts opts;
  char err[512];
  signal(SIGPIPE, SIG_IGN);
  if (ed_client_opts_parse(&opts, argc, argv, err, sizeof(err)) != 0) {
    fprintf(stderr, "echo-client: %s\n", err);
    ed_client_opts_cleanup(&opts);
    return 2;
  }
  if (opts.help || opts.version) {
    char line[256];
    if (opts.help)
      fputs(ed_client_usage(), stdout);
    else
      printf("%s\n", ed_version_line(line, sizeof(line), ED_TOOL_CLIENT));
    ed_client_opts_cleanup(&opts);
    return 0;
  }
  int rc = ed_client_run(&opts, STDIN_FILENO, STDOUT_FILENO, stderr);
  ed_client_opts_cleanup(&opts);
  if (rc == ED_E_USAGE) return 2;
  return rc == 0 ? 0 : 1;
}

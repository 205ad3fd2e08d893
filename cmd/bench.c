/* echo-bench: load generator for echod. Flags -> options -> one run of
 * internal/bench -> summary or JSON on stdout. Exit 0 ok, 1 when the run
 * counted refusals, mismatches, drops or timeouts, 2 on usage errors. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal/base/base.h"
#include "internal/bench/bench.h"

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  struct ed_bench_opts o;
  ed_bench_opts_init(&o);
  char err[256];
  int rv = ed_bench_opts_parse(&o, argc, argv, err, sizeof(err));
  if (rv == 1) {
    fputs(ed_bench_usage(), stdout);
    ed_bench_opts_cleanup(&o);
    return 0;
  }
  if (rv != 0) {
    fprintf(stderr, "echo-bench: %s (see --help)\n", err);
    ed_bench_opts_cleanup(&o);
    return 2;
  }
  struct ed_bench_result r;
  rv = ed_bench_run(&o, &r);
  int code = 1;
  if (rv == 0) {
    if (o.json) {
      char *json = ed_bench_result_json(&r);
      printf("%s\n", json);
      free(json);
    } else {
      ed_bench_result_print(stdout, &r);
    }
    code = ed_bench_result_failed(&r) ? 1 : 0;
  }
  ed_bench_opts_cleanup(&o);
  return code;
}

/* echo-bench: load generator for echod. Flags -> options -> one run of
 * internal/bench -> summary or JSON on stdout. Exit 0 ok, 1 when the run
 * counted refusals, mismatches, drops or timeouts, 2 on usage errors. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/base/base.h"
#include "internal/bench/bench.h"
#include "internal/version/version.h"

/* wants_version: --version anywhere before "--" (internal/bench parses
 * the rest; it has no --version of its own). */
static int wants_version(int argc, char **argv) {
  for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
    if (strcmp(argv[i], "--version") == 0) return 1;
  return 0;
}

/* resolve_paths makes the certificate flags absolute the way every tool
 * does (ed_path_resolve): under `bazel run`, relative to the directory
 * the command was typed in, not Bazel's runfiles tree. */
static void resolve_paths(struct ed_bench_opts *o) {
  char **paths[] = {&o->ca, &o->cert, &o->key};
  for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
    char *abs = ed_path_resolve(NULL, *paths[i]);
    free(*paths[i]);
    *paths[i] = abs;
  }
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  if (wants_version(argc, argv)) {
    char line[256];
    printf("%s\n", ed_version_line(line, sizeof(line), ED_TOOL_BENCH));
    return 0;
  }
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
  resolve_paths(&o);
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

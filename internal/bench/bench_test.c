/* Unit tests for internal/bench: the histogram, /proc parsing and the
 * command line. The engine is tested end to end in tests/bench. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal/base/base.h"
#include "internal/bench/bench.h"
#include "internal/testing/testing.h"

static void test_hist_quantiles(void) {
  struct ed_bench_hist *h = malloc(sizeof(*h));
  ed_bench_hist_init(h);
  CHECK_EQ(ed_bench_hist_quantile(h, 0.5), 0);
  for (uint64_t v = 1; v <= 100000; v++) ed_bench_hist_add(h, v * 1000);
  CHECK_EQ(h->n, 100000);
  uint64_t p50 = ed_bench_hist_quantile(h, 0.5);
  uint64_t p99 = ed_bench_hist_quantile(h, 0.99);
  /* within 3% of the true 50,000,000 and 99,000,000 ns */
  CHECK(p50 > 48500000 && p50 < 51500000);
  CHECK(p99 > 96000000 && p99 < 102000000);
  CHECK_EQ(ed_bench_hist_quantile(h, 1.0), 100000000);
  struct ed_bench_lat l;
  ed_bench_hist_summary(&l, h);
  CHECK(l.mean_us > 49900 && l.mean_us < 50100);
  CHECK(l.max_us == 100000);
  free(h);
}

static void test_hist_small_and_merge(void) {
  struct ed_bench_hist *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
  ed_bench_hist_init(a);
  ed_bench_hist_init(b);
  for (int i = 0; i < 10; i++) ed_bench_hist_add(a, 7);
  for (int i = 0; i < 30; i++) ed_bench_hist_add(b, 1000000);
  ed_bench_hist_merge(a, b);
  CHECK_EQ(a->n, 40);
  CHECK_EQ(ed_bench_hist_quantile(a, 0.25), 7);
  uint64_t q = ed_bench_hist_quantile(a, 0.5);
  CHECK(q > 970000 && q <= 1000000);
  ed_bench_hist_add(a, UINT64_MAX / 2); /* clamps, does not overflow */
  CHECK_EQ(ed_bench_hist_quantile(a, 1.0), UINT64_MAX / 2);
  free(a);
  free(b);
}

static void test_parse_stat(void) {
  uint64_t t = 0;
  const char *stat =
      "1234 (my (odd) prog) S 1 1234 1234 0 -1 4194560 100 0 0 0 "
      "250 37 0 0 20 0 4 0 12345 1000000 500 18446744073709551615\n";
  CHECK_EQ(ed_bench_parse_stat(&t, stat), 0);
  CHECK_EQ(t, 287);
  CHECK_EQ(ed_bench_parse_stat(&t, "1234 (x) S 1 2"), ED_E_PARSE);
  CHECK_EQ(ed_bench_parse_stat(&t, "garbage"), ED_E_PARSE);
}

static void test_parse_status(void) {
  uint64_t kib = 0;
  CHECK_EQ(ed_bench_parse_status(
               &kib, "Name:\tx\nVmPeak:\t 9 kB\nVmRSS:\t   4321 kB\nX: 1\n"),
           0);
  CHECK_EQ(kib, 4321);
  CHECK_EQ(ed_bench_parse_status(&kib, "Name:\tx\n"), ED_E_PARSE);
}

static void test_proc_self(void) {
  uint64_t us = 0, kib = 0;
  volatile uint64_t x = 0;
  struct timespec ts;
  double end = 0, now;
  do { /* burn 30 ms of this process's CPU time, however loaded the box */
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    if (end == 0) end = now + 0.03;
    x++;
  } while (now < end);
  CHECK_EQ(ed_bench_proc_cpu_us(&us, getpid()), 0);
  CHECK(us >= 10000);
  CHECK_EQ(ed_bench_proc_rss_kib(&kib, getpid()), 0);
  CHECK(kib > 100);
  CHECK(ed_bench_proc_cpu_us(&us, 0x7ffffff0) != 0);
}

static int parse(struct ed_bench_opts *o, char *err, const char *a1,
                 const char *a2, const char *a3, const char *a4) {
  char *argv[] = {"echo-bench", (char *)a1, (char *)a2,
                  (char *)a3,   (char *)a4, NULL};
  int argc = 1;
  while (argv[argc]) argc++;
  ed_bench_opts_cleanup(o);
  ed_bench_opts_init(o);
  return ed_bench_opts_parse(o, argc, argv, err, 200);
}

static void test_opts(void) {
  struct ed_bench_opts o;
  char err[200];
  ed_bench_opts_init(&o);
  CHECK_EQ(parse(&o, err, "bulk", "-c", "4", NULL), 0);
  CHECK_EQ(o.scenario, ED_BENCH_BULK);
  CHECK_EQ(o.conns, 4);
  CHECK_EQ(o.size, 16384);
  CHECK(o.duration_s == 5);
  CHECK_EQ(parse(&o, err, "echo", "--size=4k", "--count", "1k"), 0);
  CHECK_EQ(o.size, 4096);
  CHECK_EQ(o.count, 1000);
  CHECK(o.duration_s == 0); /* --count alone runs until the count */
  CHECK_EQ(o.conns, 64);
  CHECK_EQ(parse(&o, err, "handshake", "--resume", "--connect", "[::1]:9"), 0);
  CHECK(o.resume);
  CHECK_STR(o.connect, "[::1]:9");
  CHECK(strstr(o.cert, "/pki/dev-client.pem") != NULL);
  CHECK_EQ(parse(&o, err, "--help", NULL, NULL, NULL), 1);
  CHECK_EQ(parse(&o, err, "nosuch", NULL, NULL, NULL), ED_E_USAGE);
  CHECK(strstr(err, "nosuch") != NULL);
  CHECK_EQ(parse(&o, err, "echo", "--bogus", NULL, NULL), ED_E_USAGE);
  CHECK_EQ(parse(&o, err, "echo", "-c", NULL, NULL), ED_E_USAGE);
  CHECK_EQ(parse(&o, err, "echo", "-c", "x1", NULL), ED_E_USAGE);
  CHECK_EQ(parse(&o, err, "echo", "--resume=1", NULL, NULL), ED_E_USAGE);
  CHECK_EQ(parse(&o, err, "idle", "--count", "5", NULL), ED_E_USAGE);
  CHECK_EQ(parse(&o, err, NULL, NULL, NULL, NULL), ED_E_USAGE);
  ed_bench_opts_cleanup(&o);
}

static void test_result_failed(void) {
  struct ed_bench_result r;
  memset(&r, 0, sizeof(r));
  r.scenario = ED_BENCH_ECHO;
  CHECK(ed_bench_result_failed(&r)); /* no operation at all */
  r.ops = 10;
  CHECK(!ed_bench_result_failed(&r));
  r.mismatch = 1;
  CHECK(ed_bench_result_failed(&r));
  char *json = ed_bench_result_json(&r);
  CHECK(strstr(json, "\"mismatch\":1") != NULL);
  CHECK(strstr(json, "\"ok\":false") != NULL);
  free(json);
}

int main(void) {
  RUN(test_hist_quantiles);
  RUN(test_hist_small_and_merge);
  RUN(test_parse_stat);
  RUN(test_parse_status);
  RUN(test_proc_self);
  RUN(test_opts);
  RUN(test_result_failed);
  return TEST_RESULT();
}

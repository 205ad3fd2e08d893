/* internal/bench — reading a server's CPU time and RSS from /proc. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal/base/base.h"
#include "internal/bench/bench.h"

int ed_bench_parse_stat(uint64_t *out_ticks, const char *text) {
  /* "pid (comm) state ppid ..."; comm may hold spaces and ')', so fields
   * are counted from the last ')'. utime and stime are fields 14 and 15,
   * i.e. the 12th and 13th after the comm. */
  const char *p = strrchr(text, ')');
  if (!p) return ED_E_PARSE;
  p++;
  uint64_t vals[2] = {0, 0};
  for (int field = 3; field <= 15; field++) {
    while (*p == ' ') p++;
    if (*p == '\0' || *p == '\n') return ED_E_PARSE;
    char *end;
    unsigned long long v = strtoull(p, &end, 10);
    if (field >= 14) {
      if (end == p) return ED_E_PARSE;
      vals[field - 14] = v;
    }
    p = strchr(p, ' ');
    if (!p) return ED_E_PARSE;
  }
  *out_ticks = vals[0] + vals[1];
  return 0;
}

int ed_bench_parse_status(uint64_t *out_kib, const char *text) {
  const char *p = strstr(text, "\nVmRSS:");
  if (!p && strncmp(text, "VmRSS:", 6) == 0) p = text - 1;
  if (!p) return ED_E_PARSE;
  p += 7;
  char *end;
  unsigned long long v = strtoull(p, &end, 10);
  if (end == p) return ED_E_PARSE;
  *out_kib = v;
  return 0;
}

static int read_proc(uint8_t **out, int pid, const char *file) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/%s", pid, file);
  size_t len;
  return ed_read_file(out, &len, path, 1 << 16);
}

int ed_bench_proc_cpu_us(uint64_t *out_us, int pid) {
  uint8_t *text;
  int err = read_proc(&text, pid, "stat");
  if (err) return err;
  uint64_t ticks;
  err = ed_bench_parse_stat(&ticks, (const char *)text);
  free(text);
  if (err) return err;
  long hz = sysconf(_SC_CLK_TCK);
  if (hz <= 0) hz = 100;
  *out_us = ticks * 1000000u / (uint64_t)hz;
  return 0;
}

int ed_bench_proc_rss_kib(uint64_t *out_kib, int pid) {
  uint8_t *text;
  int err = read_proc(&text, pid, "status");
  if (err) return err;
  err = ed_bench_parse_status(out_kib, (const char *)text);
  free(text);
  return err;
}

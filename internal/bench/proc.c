/* internal/bench — reading a server's CPU time, RSS and descriptors, and
 * the kernel's slab and socket memory, from /proc. */
#include <dirent.h>
#include <errno.h>
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

int ed_bench_proc_fds(uint64_t *out, int pid) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/fd", pid);
  DIR *d = opendir(path);
  if (!d) return errno == ENOENT ? ED_E_NOENT : ED_E_PERM;
  uint64_t n = 0;
  for (struct dirent *e; (e = readdir(d)) != NULL;)
    if (e->d_name[0] != '.') n++;
  closedir(d);
  *out = n;
  return 0;
}

/* field_after reads the number after |key| in |text| (the first match
 * that starts a line when |line_start|). */
static int field_after(uint64_t *out, const char *text, const char *key,
                       int line_start) {
  size_t klen = strlen(key);
  for (const char *p = text; (p = strstr(p, key)) != NULL; p += klen) {
    if (line_start && p != text && p[-1] != '\n') continue;
    char *end;
    unsigned long long v = strtoull(p + klen, &end, 10);
    if (end == p + klen) return ED_E_PARSE;
    *out = v;
    return 0;
  }
  return ED_E_PARSE;
}

int ed_bench_parse_meminfo(uint64_t *out_slab_kib, const char *text) {
  return field_after(out_slab_kib, text, "Slab:", 1);
}

int ed_bench_parse_sockstat(uint64_t *out_pages, const char *text) {
  /* "TCP: inuse 5 orphan 0 tw 2 alloc 7 mem 3" */
  const char *tcp = strstr(text, "TCP: ");
  if (!tcp || (tcp != text && tcp[-1] != '\n')) return ED_E_PARSE;
  const char *nl = strchr(tcp, '\n');
  const char *mem = strstr(tcp, " mem ");
  if (!mem || (nl && mem > nl)) return ED_E_PARSE;
  return field_after(out_pages, mem, " mem ", 0);
}

int ed_bench_kernel_mem(uint64_t *out_slab_kib, uint64_t *out_sock_kib) {
  uint8_t *text;
  size_t len;
  int err = ed_read_file(&text, &len, "/proc/meminfo", 1 << 16);
  if (err) return err;
  err = ed_bench_parse_meminfo(out_slab_kib, (const char *)text);
  free(text);
  if (err) return err;
  err = ed_read_file(&text, &len, "/proc/net/sockstat", 1 << 16);
  if (err) return err;
  uint64_t pages = 0;
  err = ed_bench_parse_sockstat(&pages, (const char *)text);
  free(text);
  long page = sysconf(_SC_PAGESIZE);
  *out_sock_kib = pages * (uint64_t)(page > 0 ? page : 4096) / 1024;
  return err;
}

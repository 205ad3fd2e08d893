/* internal/listen — ed_listen_holder: who listens on an address, from
 * /proc. Only for the message of a refused bind; every step is best
 * effort and a failure just leaves the message shorter. */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal/listen/listen.h"

#define TCP_LISTEN_STATE 0x0A

/* A listening socket as /proc/net/tcp{,6} shows it. */
struct entry {
  int family;
  uint8_t addr[16]; /* 4 bytes for AF_INET */
  unsigned port;
  unsigned long uid, inode;
};

/* parse_addr reads /proc/net/tcp's hex address: the raw network-order
 * words, each printed as a host-order %08X. */
static int parse_addr(struct entry *e, const char *hex) {
  size_t words = e->family == AF_INET6 ? 4 : 1;
  for (size_t w = 0; w < words; w++) {
    char part[9];
    memcpy(part, hex + 8 * w, 8);
    part[8] = '\0';
    char *end;
    uint32_t v = (uint32_t)strtoul(part, &end, 16);
    if (*end) return -1;
    memcpy(e->addr + 4 * w, &v, 4);
  }
  return hex[8 * words] == ':' ? 0 : -1;
}

static int parse_line(struct entry *e, const char *line, int family) {
  char local[64];
  unsigned state;
  memset(e, 0, sizeof(*e));
  e->family = family;
  if (sscanf(line, " %*u: %63s %*s %x %*s %*s %*s %lu %*d %lu", local, &state,
             &e->uid, &e->inode) != 4)
    return -1;
  size_t hexlen = family == AF_INET6 ? 32 : 8;
  if (state != TCP_LISTEN_STATE || strlen(local) != hexlen + 5) return -1;
  if (parse_addr(e, local) != 0) return -1;
  e->port = (unsigned)strtoul(local + hexlen + 1, NULL, 16);
  return 0;
}

static int is_zero(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i]) return 0;
  return 1;
}

/* matches says whether listener |e| conflicts with |sa|: same port and the
 * same address, or a wildcard on either side (an IPv6 wildcard or
 * v4-mapped listener counts for an IPv4 address). */
static int matches(const struct entry *e, const struct sockaddr *sa) {
  static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
    const uint8_t *want = (const uint8_t *)&a->sin_addr;
    if (e->port != ntohs(a->sin_port)) return 0;
    if (e->family == AF_INET6) {
      if (is_zero(e->addr, 16)) return 1;
      return memcmp(e->addr, mapped, 12) == 0 &&
             (memcmp(e->addr + 12, want, 4) == 0 || is_zero(want, 4));
    }
    return is_zero(want, 4) || is_zero(e->addr, 4) ||
           memcmp(e->addr, want, 4) == 0;
  }
  const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
  const uint8_t *want = (const uint8_t *)&a->sin6_addr;
  if (e->family != AF_INET6 || e->port != ntohs(a->sin6_port)) return 0;
  return is_zero(want, 16) || is_zero(e->addr, 16) ||
         memcmp(e->addr, want, 16) == 0;
}

static int find_entry(struct entry *out, const struct sockaddr *sa) {
  static const struct {
    const char *path;
    int family;
  } tables[] = {{"/proc/net/tcp", AF_INET}, {"/proc/net/tcp6", AF_INET6}};
  for (size_t t = 0; t < 2; t++) {
    FILE *f = fopen(tables[t].path, "r");
    char line[512];
    int found = 0;
    if (!f) continue;
    while (!found && fgets(line, sizeof(line), f)) {
      found = parse_line(out, line, tables[t].family) == 0 && matches(out, sa);
    }
    fclose(f);
    if (found) return 0;
  }
  return ED_E_NOTFOUND;
}

/* pid_has_inode says whether /proc/|pid|/fd holds socket |inode|. */
static int pid_has_inode(const char *pid, unsigned long inode) {
  char path[300], link[64], want[64];
  snprintf(path, sizeof(path), "/proc/%s/fd", pid);
  snprintf(want, sizeof(want), "socket:[%lu]", inode);
  DIR *d = opendir(path);
  if (!d) return 0;
  struct dirent *e;
  int found = 0;
  while (!found && (e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    ssize_t n = readlinkat(dirfd(d), e->d_name, link, sizeof(link) - 1);
    if (n <= 0) continue;
    link[n] = '\0';
    found = strcmp(link, want) == 0;
  }
  closedir(d);
  return found;
}

static void comm_of(char *out, size_t out_len, const char *pid) {
  char path[300];
  snprintf(path, sizeof(path), "/proc/%s/comm", pid);
  out[0] = '\0';
  FILE *f = fopen(path, "r");
  if (!f) return;
  if (fgets(out, (int)out_len, f)) out[strcspn(out, "\n")] = '\0';
  fclose(f);
}

static int find_pid(char *out, size_t out_len, unsigned long inode) {
  DIR *d = opendir("/proc");
  if (!d) return ED_E_NOTFOUND;
  struct dirent *e;
  int found = 0;
  while (!found && (e = readdir(d)) != NULL) {
    if (!isdigit((unsigned char)e->d_name[0])) continue;
    if (!pid_has_inode(e->d_name, inode)) continue;
    char comm[64];
    comm_of(comm, sizeof(comm), e->d_name);
    snprintf(out, out_len, "pid %s (%s)", e->d_name, comm[0] ? comm : "?");
    found = 1;
  }
  closedir(d);
  return found ? 0 : ED_E_NOTFOUND;
}

int ed_listen_holder(char *out, size_t out_len, const struct sockaddr *sa) {
  struct entry e;
  out[0] = '\0';
  if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
    return ED_E_NOTFOUND;
  if (find_entry(&e, sa) != 0) return ED_E_NOTFOUND;
  if (find_pid(out, out_len, e.inode) != 0)
    snprintf(out, out_len, "a socket of uid %lu", e.uid);
  return 0;
}

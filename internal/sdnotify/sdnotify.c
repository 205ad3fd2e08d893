/* internal/sdnotify — see sdnotify.h. */
#include "internal/sdnotify/sdnotify.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal/base/base.h"

int ed_sdnotify_addr(struct sockaddr_un *out, socklen_t *out_len,
                     const char *value) {
  if (!value || (value[0] != '/' && value[0] != '@') || value[1] == '\0')
    return ED_E_INVAL;
  size_t n = strlen(value);
  if (n > sizeof(out->sun_path) - (value[0] == '/')) return ED_E_INVAL;
  memset(out, 0, sizeof(*out));
  out->sun_family = AF_UNIX;
  memcpy(out->sun_path, value, n);
  /* Abstract: a leading NUL, and the length says where the name ends. A
   * path: NUL-terminated, the length counts the terminator. */
  if (value[0] == '@') out->sun_path[0] = '\0';
  *out_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
                         (value[0] == '/'));
  return 0;
}

/* The socket ed_sdnotify_open made, or -1: set once at startup, before
 * any thread runs (and before the sandbox, which refuses socket()), and
 * only read afterwards. */
static _Atomic int notify_fd = -1;

int ed_sdnotify_open(void) {
  const char *v = getenv("NOTIFY_SOCKET");
  if (!v || !*v || atomic_load(&notify_fd) >= 0) return 0;
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ED_E_IO;
  atomic_store(&notify_fd, fd);
  return 0;
}

static _Atomic int muted; /* ed_sdnotify_hand_over: nothing more */

int ed_sdnotify_send(const char *msg) {
  const char *v = getenv("NOTIFY_SOCKET");
  if (atomic_load(&muted)) return ED_E_NOENT;
  if (!v || !*v) return ED_E_NOENT;
  struct sockaddr_un sa;
  socklen_t sa_len;
  if (ed_sdnotify_addr(&sa, &sa_len, v) != 0) return ED_E_INVAL;
  int kept = atomic_load(&notify_fd);
  int fd = kept >= 0 ? kept : socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ED_E_IO;
  size_t n = strlen(msg);
  ssize_t w = sendto(fd, msg, n, MSG_DONTWAIT | MSG_NOSIGNAL,
                     (const struct sockaddr *)&sa, sa_len);
  if (fd != kept) close(fd);
  return w == (ssize_t)n ? 0 : ED_E_IO;
}

int ed_sdnotify_hand_over(const char *msg) {
  int rc = ed_sdnotify_send(msg);
  atomic_store(&muted, 1);
  return rc;
}

int ed_sdnotify_reloading_msg(char *out, size_t out_len,
                              uint64_t monotonic_usec) {
  int n = snprintf(out, out_len, "RELOADING=1\nMONOTONIC_USEC=%llu",
                   (unsigned long long)monotonic_usec);
  return n < 0 || (size_t)n >= out_len ? ED_E_TOOBIG : 0;
}

int ed_sdnotify_reloading(void) {
  char msg[64];
  ed_sdnotify_reloading_msg(msg, sizeof(msg), ed_now_ns() / 1000);
  return ed_sdnotify_send(msg);
}

int ed_sdnotify_status_msg(char *out, size_t out_len,
                           const struct ed_sdnotify_status *st) {
  char when[32] = "unknown time";
  time_t secs = (time_t)(st->reload_wall_ns / 1000000000u);
  struct tm tm;
  if (st->reload_wall_ns && gmtime_r(&secs, &tm))
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
  int n = snprintf(
      out, out_len, "STATUS=%s, %llu session%s; last reload %s (%s, %s)",
      st->state ? st->state : "unknown", (unsigned long long)st->sessions,
      st->sessions == 1 ? "" : "s", st->reload_ok ? "ok" : "FAILED",
      st->reload_trigger ? st->reload_trigger : "unknown", when);
  if (n < 0 || (size_t)n >= out_len) return ED_E_TOOBIG;
  const char *e = st->reload_error;
  if (st->reload_ok || !e || !*e) return 0;
  size_t len = (size_t)n;
  if (len + 3 < out_len) {
    out[len++] = ':';
    out[len++] = ' ';
  }
  for (; *e && len + 1 < out_len; e++)
    out[len++] = (unsigned char)*e < 0x20 || *e == 0x7f ? ' ' : *e;
  out[len] = '\0';
  return 0;
}

int ed_sdnotify_watchdog_usec(uint64_t *out_usec, const char *usec,
                              const char *pid, long self_pid) {
  if (!usec || !*usec) return ED_E_NOENT;
  if (pid && *pid) {
    char *end;
    long p = strtol(pid, &end, 10);
    if (*end || p <= 0) return ED_E_INVAL;
    if (p != self_pid) return ED_E_NOENT;
  }
  uint64_t v = 0;
  for (const char *s = usec; *s; s++) {
    if (*s < '0' || *s > '9' || v > UINT64_MAX / 10 - 1) return ED_E_INVAL;
    v = v * 10 + (uint64_t)(*s - '0');
  }
  if (v == 0) return ED_E_INVAL;
  *out_usec = v;
  return 0;
}

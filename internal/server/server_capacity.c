/* internal/server — how many sessions the process may hold: the descriptor
 * limit raised to its hard ceiling, --max-connections sized under it, and
 * the limits the loops admit by (internal/loop, conn.c admission).
 *
 * Every session holds one descriptor, from its accept (the loops reserve
 * its slot then) to its close; so the connections may have whatever the
 * process does not need for itself. That is counted, not guessed, just
 * before the listeners start (every other startup step has opened what it
 * opens by then):
 *   open now      every descriptor open at that moment (/proc/self/fd):
 *                 stdio, each libuv loop's epoll set, signal pipe and
 *                 work-queue eventfd (the control loop's and each I/O
 *                 loop's), libuv's global signal pipe, each I/O loop's
 *                 wake-up and inbox eventfds, its reserve descriptor and
 *                 libuv's spare (both for running out), the bound listen
 *                 sockets, the admin socket, the metrics socket, the
 *                 systemd notification socket, Landlock's hold on
 *                 /proc/self, anything inherited
 *   listener dups each loop gets its own descriptor of each listen socket,
 *                 and the server keeps the original for an upgrade's
 *                 hand-over: listeners x workers more
 *   inotify       the file watcher's, made when the server runs (unless
 *                 --no-watch)
 *   reserved      what the control plane may hold at run time, as its
 *                 owner declared it (ed_server_reserve_fds): the admin
 *                 socket's and the metrics endpoint's clients
 *   transient     one on the control thread (a credential file read by a
 *                 reload, a /proc file read for metrics: one at a time)
 *                 and one per I/O loop (a connection accepted to be
 *                 refused: closed before the loop does anything else)
 * --max-connections 0 (the default) takes the rest; a larger value than
 * the rest is refused before anything listens.
 *
 * Memory after a mass close: glibc keeps what a program frees for its
 * next allocations (20,000 sessions closed left RSS at 96 MB), so the
 * control loop gives it back with malloc_trim(0) once the sessions have
 * dropped by a quarter since their peak and by at least
 * ED_TRIM_MIN_DROP: looked at every ED_TRIM_TICK_MS, so never while they
 * come and go in step, and off the I/O loops (the trim walks every arena
 * under its lock: docs/BENCHMARKS.md measures what it costs). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "internal/server/server_internal.h"

#define MAX_CONNECTIONS_AUTO_CAP 10000000u /* --max-connections' own max */

/* ---- the descriptor limit ------------------------------------------------ */

/* nr_open is the kernel's ceiling on any process's descriptors
 * (/proc/sys/fs/nr_open), for a hard limit of "unlimited". */
static rlim_t nr_open(void) {
  FILE *f = fopen("/proc/sys/fs/nr_open", "r");
  unsigned long long v = 0;
  if (f) {
    if (fscanf(f, "%llu", &v) != 1) v = 0;
    fclose(f);
  }
  return v ? (rlim_t)v : (rlim_t)1 << 20;
}

void ed_server__raise_nofile(struct ed_server *srv) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  srv->fds.soft_at_start = rl.rlim_cur;
  if (rl.rlim_cur < rl.rlim_max) {
    struct rlimit want = {rl.rlim_max, rl.rlim_max};
    if (want.rlim_cur == RLIM_INFINITY) want.rlim_cur = nr_open();
    if (setrlimit(RLIMIT_NOFILE, &want) != 0 && errno == EPERM) {
      want.rlim_cur = nr_open(); /* an unlimited hard limit past nr_open */
      (void)setrlimit(RLIMIT_NOFILE, &want);
    }
    (void)getrlimit(RLIMIT_NOFILE, &rl);
  }
  srv->fds.soft = rl.rlim_cur;
  srv->fds.hard = rl.rlim_max;
}

/* open_fds counts the descriptors open now: /proc/self/fd's entries (less
 * the one reading it), or, without /proc, every number up to the limit
 * that fcntl knows. */
static uint64_t open_fds(rlim_t limit) {
  DIR *d = opendir("/proc/self/fd");
  uint64_t n = 0;
  if (d) {
    for (struct dirent *e; (e = readdir(d)) != NULL;)
      if (e->d_name[0] != '.') n++;
    closedir(d);
    return n ? n - 1 : 0;
  }
  for (rlim_t fd = 0; fd < limit && fd < (rlim_t)1 << 24; fd++)
    if (fcntl((int)fd, F_GETFD) != -1) n++;
  return n;
}

void ed_server_reserve_fds(struct ed_server *srv, uint32_t n,
                           const char *what) {
  if (srv->fds.num_reserved >= ED_SERVER_MAX_RESERVED) return;
  struct ed_server_fd_reserve *r = &srv->fds.reserved[srv->fds.num_reserved++];
  r->n = n;
  snprintf(r->what, sizeof(r->what), "%s", what);
}

/* own_fds fills srv->fds with what the process keeps for itself and
 * returns the total (the comment at the top says what each part is). */
static uint64_t own_fds(struct ed_server *srv) {
  struct ed_server_fds *f = &srv->fds;
  f->open_now = open_fds(f->soft);
  f->listener_dups = (uint64_t)srv->num_listeners * srv->workers;
  f->inotify = srv->cfg->watch ? 1 : 0;
  f->reserved_total = 0;
  for (size_t i = 0; i < f->num_reserved; i++)
    f->reserved_total += f->reserved[i].n;
  f->transient = 1 + (uint64_t)srv->workers;
  return f->open_now + f->listener_dups + f->inotify + f->reserved_total +
         f->transient;
}

static void reserved_text(const struct ed_server_fds *f, char *out,
                          size_t len) {
  size_t n = 0;
  out[0] = '\0';
  for (size_t i = 0; i < f->num_reserved && n < len; i++)
    n += (size_t)snprintf(out + n, len - n, "%s%s:%u", i ? "," : "",
                          f->reserved[i].what, f->reserved[i].n);
  if (!f->num_reserved) snprintf(out, len, "none");
}

/* log_fit writes, once at start:
 *   level=info msg="descriptor limit" soft=20000 hard=20000
 *       soft_at_start=1024 own=121 open_now=23 listener_dups=1 inotify=1
 *       reserved=admin:17,metrics:69 transient=3 max_connections=19879
 *       sized=auto max_handshaking=4096
 * sized=auto when --max-connections was 0, else given. */
static void log_fit(const struct ed_server *srv, uint64_t own) {
  const struct ed_server_fds *f = &srv->fds;
  char res[256];
  reserved_text(f, res, sizeof(res));
  ED_INFO("descriptor limit",
          "soft=%llu hard=%llu soft_at_start=%llu own=%llu open_now=%llu "
          "listener_dups=%llu inotify=%llu reserved=%s transient=%llu "
          "max_connections=%u sized=%s max_handshaking=%u",
          (unsigned long long)f->soft, (unsigned long long)f->hard,
          (unsigned long long)f->soft_at_start, (unsigned long long)own,
          (unsigned long long)f->open_now, (unsigned long long)f->listener_dups,
          (unsigned long long)f->inotify, res, (unsigned long long)f->transient,
          srv->sh.max_conns, srv->cfg->max_connections ? "given" : "auto",
          srv->sh.max_handshaking);
}

int ed_server__fit(struct ed_server *srv, char *err, size_t err_len) {
  const struct ed_config *cfg = srv->cfg;
  uint64_t own = own_fds(srv), soft = srv->fds.soft;
  uint64_t fit = soft > own ? soft - own : 0;
  if (fit > MAX_CONNECTIONS_AUTO_CAP) fit = MAX_CONNECTIONS_AUTO_CAP;
  if (fit == 0 || cfg->max_connections > fit) {
    char what[64] = "no connection fits";
    if (cfg->max_connections)
      snprintf(what, sizeof(what), "--max-connections %u does not fit",
               cfg->max_connections);
    snprintf(err, err_len,
             "%s under the descriptor limit: RLIMIT_NOFILE is %llu (hard "
             "%llu) and echod keeps %llu descriptors for itself, so at most "
             "%llu connections fit; lower --max-connections or raise the "
             "limit (LimitNOFILE= in a systemd unit)",
             what, (unsigned long long)soft, (unsigned long long)srv->fds.hard,
             (unsigned long long)own, (unsigned long long)fit);
    return ED_E_USAGE;
  }
  srv->sh.max_conns =
      cfg->max_connections ? cfg->max_connections : (uint32_t)fit;
  srv->sh.max_handshaking = cfg->max_handshaking < srv->sh.max_conns
                                ? cfg->max_handshaking
                                : srv->sh.max_conns;
  log_fit(srv, own);
  return 0;
}

/* ---- memory after a mass close ------------------------------------------- */

static uint64_t rss_kib(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  unsigned long long size = 0, resident = 0;
  if (f) {
    if (fscanf(f, "%llu %llu", &size, &resident) != 2) resident = 0;
    fclose(f);
  }
  return resident * ((uint64_t)sysconf(_SC_PAGESIZE) / 1024);
}

/* on_trim_tick: the "memory returned" line, when a trim ran:
 *   level=info msg="memory returned" sessions_peak=19982 sessions=0
 *       rss_before_kib=98100 rss_after_kib=6900 trim_ms=9.8 */
static void on_trim_tick(uv_timer_t *t) {
  struct ed_server *srv = t->data;
  int64_t now = ed_server__live_conns(srv);
  if (now > srv->trim_peak) srv->trim_peak = now;
  int64_t drop = srv->trim_peak - now;
  if (drop < ED_TRIM_MIN_DROP || drop < srv->trim_peak / 4) return;
  uint64_t before = rss_kib(), t0 = ed_now_ns();
  malloc_trim(0);
  double ms = (double)(ed_now_ns() - t0) / 1e6;
  ED_INFO("memory returned",
          "sessions_peak=%lld sessions=%lld rss_before_kib=%llu "
          "rss_after_kib=%llu trim_ms=%.1f",
          (long long)srv->trim_peak, (long long)now, (unsigned long long)before,
          (unsigned long long)rss_kib(), ms);
  srv->trim_peak = now;
}

void ed_server__trim_start(struct ed_server *srv) {
  uv_timer_init(&srv->control, &srv->trim_timer);
  srv->trim_timer.data = srv;
  uv_timer_start(&srv->trim_timer, on_trim_tick, ED_TRIM_TICK_MS,
                 ED_TRIM_TICK_MS);
}

void ed_server__trim_stop(struct ed_server *srv) {
  uv_close((uv_handle_t *)&srv->trim_timer, NULL);
}

/* plain-echo: the kernel floor. A plain-TCP echo server with nothing on
 * top of the socket: one thread, one epoll set, no TLS, and no allocation
 * once it listens. What it costs per operation (server CPU from /proc, as
 * echo-bench --plain --server-pid measures it) is what loopback TCP alone
 * costs a server on the machine of the day; docs/BENCHMARKS.md divides
 * every echod figure by it.
 *
 * The path is the shortest a readiness-based server can have, so the
 * floor is not inflated by choices echod does not make either:
 *   - level-triggered epoll, EPOLLIN only; one read() and one write() per
 *     readiness (no read-until-EAGAIN), epoll_ctl only on a short write;
 *   - TCP_NODELAY set once on the listener (accepted sockets inherit it),
 *     and TCP_DEFER_ACCEPT as echod's listener has it: a connection is
 *     accepted once its first bytes are in (or after about a second), and
 *     read at once, as echod reads the ClientHello at accept, rather than
 *     waking for the bare ACK and again for the data;
 *   - one accept4 per wake-up unless the listener was ready at the previous
 *     one too (a burst), as echod's loop does: no accept4 that fails with
 *     EAGAIN after each connection;
 *   - at the peer's FIN, close() at once (the peer already half-closed, so
 *     the FIN goes out in one segment, like echod's close after a
 *     close_notify).
 * A short write (the peer's window is full: bulk) copies the rest into the
 * connection's slot of one region reserved at start (MAP_NORESERVE, so only
 * slots that ever held a backlog become resident) and stops reading that
 * connection until it is flushed.
 *
 * With --shape SPEC (internal/bench/shape.h) it does not echo: each
 * connection runs a TLS session's message pattern with the crypto taken
 * away (once the client's bytes of a step are in, the step's answer goes
 * out; after the last answer the server closes), driven by echo-bench
 * handshake --plain --shape SPEC. Its server CPU per cycle is what the
 * kernel charges a server for TLS's extra segments, reads and writes.
 * The answers of the steps one read completes go out in one write; the
 * last one with MSG_MORE and close() at once, so the FIN rides on it as it
 * does on echod's close_notify.
 *
 * Usage: plain-echo [--listen HOST:PORT] [--shape SPEC]
 *        (default 127.0.0.1:0)
 * Prints "listening on ADDR" on stderr once it accepts; on SIGTERM or
 * SIGINT prints its counters ("accepted=N closed=N bytes=N") and exits 0. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal/bench/shape.h"

#define BUF_LEN 65536 /* one read; also the most a connection can owe */
#define MAX_EVENTS 256
#define ACCEPTS_PER_WAKE 16
#define DEFER_ACCEPT_S 1 /* echod's ED_LISTEN_DEFER_S */

/* A connection's unsent echo: |len| bytes at |off| in its backlog slot;
 * with --shape, the bytes read so far and the next step to answer. */
struct slot {
  uint32_t off, len;
  uint32_t rx, step;
};

static struct ed_shape shape; /* --shape; shape.n == 0: echo */

struct server {
  int ep, lfd;
  int max_fd;             /* fds at or above this are refused (no slot) */
  struct slot *slots;     /* indexed by fd */
  uint8_t *backlog;       /* BUF_LEN per fd, reserved, touched on demand */
  uint64_t iter;          /* epoll_wait calls so far */
  uint64_t listener_seen; /* |iter| when the listener was last ready */
  uint64_t accepted, closed, bytes;
};

static uint8_t rbuf[BUF_LEN]; /* every read lands here */
static void readable(struct server *s, int fd);

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig) {
  (void)sig;
  stop_flag = 1;
}

static int die(const char *what) {
  fprintf(stderr, "plain-echo: %s: %s\n", what, strerror(errno));
  return 1;
}

/* reserve sizes the per-fd tables for the hard descriptor limit (raising
 * the soft one to it) so nothing is allocated per connection later. */
static int reserve(struct server *s) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return die("getrlimit");
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  s->max_fd = rl.rlim_cur > 1048576 ? 1048576 : (int)rl.rlim_cur;
  s->slots = calloc((size_t)s->max_fd, sizeof(*s->slots));
  s->backlog = mmap(NULL, (size_t)s->max_fd * BUF_LEN, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (!s->slots || s->backlog == MAP_FAILED) return die("reserve");
  return 0;
}

static int split_hostport(char *host, size_t host_len, const char **port,
                          const char *s) {
  const char *colon = strrchr(s, ':');
  if (!colon || !colon[1]) return -1;
  const char *h = s;
  size_t hl = (size_t)(colon - s);
  if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
    h++;
    hl -= 2;
  }
  if (hl == 0 || hl >= host_len) return -1;
  memcpy(host, h, hl);
  host[hl] = '\0';
  *port = colon + 1;
  return 0;
}

/* open_listener binds |addr| (HOST:PORT), TCP_NODELAY on the listener so
 * every accepted socket inherits it, and TCP_DEFER_ACCEPT (as echod's). */
static int open_listener(struct server *s, const char *addr) {
  char host[256];
  const char *port;
  if (split_hostport(host, sizeof(host), &port, addr) != 0) {
    fprintf(stderr, "plain-echo: --listen wants HOST:PORT, not %s\n", addr);
    return 2;
  }
  struct addrinfo hints = {0}, *res;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  if (getaddrinfo(host, port, &hints, &res) != 0) {
    fprintf(stderr, "plain-echo: bad address %s\n", addr);
    return 2;
  }
  int one = 1;
  s->lfd =
      socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s->lfd < 0) return die("socket");
  setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  setsockopt(s->lfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  int defer = DEFER_ACCEPT_S;
  setsockopt(s->lfd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer, sizeof(defer));
  if (bind(s->lfd, res->ai_addr, res->ai_addrlen) != 0) return die("bind");
  freeaddrinfo(res);
  if (listen(s->lfd, 4096) != 0) return die("listen");
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  getsockname(s->lfd, (struct sockaddr *)&ss, &len);
  char h[NI_MAXHOST], p[NI_MAXSERV];
  getnameinfo((struct sockaddr *)&ss, len, h, sizeof(h), p, sizeof(p),
              NI_NUMERICHOST | NI_NUMERICSERV);
  fprintf(stderr,
          ss.ss_family == AF_INET6 ? "listening on [%s]:%s\n"
                                   : "listening on %s:%s\n",
          h, p);
  return 0;
}

static void conn_close(struct server *s, int fd) {
  s->slots[fd].len = 0;
  close(fd); /* also leaves the epoll set */
  s->closed++;
}

/* on_accept takes one connection, or up to ACCEPTS_PER_WAKE in a burst
 * (the listener was ready at the previous wake-up too), and reads what
 * came with each at once (TCP_DEFER_ACCEPT: its first bytes are in). */
static void on_accept(struct server *s) {
  int burst = s->listener_seen + 1 == s->iter;
  s->listener_seen = s->iter;
  for (int i = 0; i < (burst ? ACCEPTS_PER_WAKE : 1); i++) {
    int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return; /* EAGAIN, or EMFILE: the backlog waits */
    if (fd >= s->max_fd) {
      close(fd);
      continue;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
      close(fd);
      continue;
    }
    memset(&s->slots[fd], 0, sizeof(s->slots[fd]));
    s->accepted++;
    readable(s, fd);
  }
}

static void set_events(struct server *s, int fd, uint32_t events) {
  struct epoll_event ev = {.events = events, .data.fd = fd};
  epoll_ctl(s->ep, EPOLL_CTL_MOD, fd, &ev);
}

static int shape_done(const struct slot *sl) {
  return shape.n && sl->step == (uint32_t)shape.n;
}

/* flush writes what |fd| still owes; when all of it is out, reading
 * resumes (a shaped cycle that has answered its last step closes). */
static void flush(struct server *s, int fd) {
  struct slot *sl = &s->slots[fd];
  uint8_t *p = s->backlog + (size_t)fd * BUF_LEN + sl->off;
  ssize_t n = write(fd, p, sl->len);
  if (n < 0 && errno == EAGAIN) return;
  if (n <= 0) {
    conn_close(s, fd);
    return;
  }
  sl->off += (uint32_t)n;
  sl->len -= (uint32_t)n;
  if (sl->len == 0 && shape_done(sl))
    conn_close(s, fd);
  else if (sl->len == 0)
    set_events(s, fd, EPOLLIN);
}

/* send_or_park writes |n| bytes of |buf|; a short write parks the rest.
 * |last|: the connection's last bytes, held back (MSG_MORE) for the FIN
 * that close() sends next. Returns 0, or -1 when the connection failed
 * (closed). */
static int send_or_park(struct server *s, int fd, const uint8_t *buf, size_t n,
                        int last) {
  ssize_t w =
      last ? send(fd, buf, n, MSG_MORE | MSG_NOSIGNAL) : write(fd, buf, n);
  if (w == (ssize_t)n) return 0;
  if (w < 0 && errno != EAGAIN) {
    conn_close(s, fd);
    return -1;
  }
  if (w < 0) w = 0;
  struct slot *sl = &s->slots[fd];
  sl->off = 0;
  sl->len = (uint32_t)(n - (size_t)w);
  memcpy(s->backlog + (size_t)fd * BUF_LEN, buf + w, sl->len);
  set_events(s, fd, EPOLLOUT);
  return 0;
}

/* echo_once: one read, one write; a short write parks the rest. */
static void echo_once(struct server *s, int fd, uint8_t *buf) {
  ssize_t n = read(fd, buf, BUF_LEN);
  if (n < 0 && errno == EAGAIN) return;
  if (n <= 0) { /* the peer's FIN, or an error */
    conn_close(s, fd);
    return;
  }
  s->bytes += (uint64_t)n;
  (void)send_or_park(s, fd, buf, (size_t)n, 0);
}

/* shaped_once: one read; the answers of every step it completes go out in
 * one write (zeros: their content is not TLS's business here); after the
 * last answer, close. */
static void shaped_once(struct server *s, int fd, uint8_t *buf) {
  static const uint8_t zeros[ED_SHAPE_MAX_BYTES];
  ssize_t n = read(fd, buf, BUF_LEN);
  if (n < 0 && errno == EAGAIN) return;
  if (n <= 0) {
    conn_close(s, fd);
    return;
  }
  s->bytes += (uint64_t)n;
  struct slot *sl = &s->slots[fd];
  sl->rx += (uint32_t)n;
  size_t out = 0;
  while (!shape_done(sl) && sl->rx >= shape.step[sl->step].c_end)
    out += shape.step[sl->step++].s;
  if (out && send_or_park(s, fd, zeros, out, shape_done(sl)) != 0) return;
  if (shape_done(sl) && sl->len == 0) conn_close(s, fd);
}

static void readable(struct server *s, int fd) {
  if (shape.n)
    shaped_once(s, fd, rbuf);
  else
    echo_once(s, fd, rbuf);
}

static void serve(struct server *s) {
  struct epoll_event evs[MAX_EVENTS];
  while (!stop_flag) {
    int n = epoll_wait(s->ep, evs, MAX_EVENTS, -1);
    s->iter++;
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd == s->lfd) {
        on_accept(s);
      } else if (s->slots[fd].len) {
        flush(s, fd);
      } else {
        readable(s, fd);
      }
    }
  }
}

int main(int argc, char **argv) {
  const char *listen_addr = "127.0.0.1:0";
  for (int i = 1; i < argc; i++) {
    char err[200];
    if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
      listen_addr = argv[++i];
    } else if (strcmp(argv[i], "--shape") == 0 && i + 1 < argc) {
      if (ed_shape_parse(&shape, argv[++i], err, sizeof(err)) != 0) {
        fprintf(stderr, "plain-echo: %s\n", err);
        return 2;
      }
    } else {
      fprintf(stderr,
              "usage: plain-echo [--listen HOST:PORT] [--shape SPEC]\n");
      return 2;
    }
  }
  struct server s = {0};
  struct sigaction sa = {0};
  sa.sa_handler = on_signal; /* no SA_RESTART: epoll_wait returns EINTR */
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  int rv = reserve(&s);
  if (!rv) rv = open_listener(&s, listen_addr);
  if (rv) return rv;
  s.ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = s.lfd};
  if (s.ep < 0 || epoll_ctl(s.ep, EPOLL_CTL_ADD, s.lfd, &ev) != 0)
    return die("epoll");
  serve(&s);
  fprintf(stderr, "plain-echo: accepted=%llu closed=%llu bytes=%llu\n",
          (unsigned long long)s.accepted, (unsigned long long)s.closed,
          (unsigned long long)s.bytes);
  close(s.ep);
  close(s.lfd);
  munmap(s.backlog, (size_t)s.max_fd * BUF_LEN);
  free(s.slots);
  return 0;
}

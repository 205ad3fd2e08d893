/* internal/listen — see listen.h. Binding, listening and socket
 * activation; who holds an address is in holder.c. */
#include "internal/listen/listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal/config/config.h"

#define SD_LISTEN_FDS_START 3

void ed_listen_format(char *out, size_t out_len, const struct sockaddr *sa) {
  char host[INET6_ADDRSTRLEN] = "?";
  unsigned port = 0;
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
    port = ntohs(a->sin6_port);
    snprintf(out, out_len, "[%s]:%u", host, port);
    return;
  }
  const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
  if (sa->sa_family == AF_INET) {
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
    port = ntohs(a->sin_port);
  }
  snprintf(out, out_len, "%s:%u", host, port);
}

static int resolve(struct sockaddr_storage *ss, socklen_t *len,
                   const char *host, uint16_t port) {
  struct addrinfo hints = {0}, *res = NULL;
  char p[8];
  snprintf(p, sizeof(p), "%u", port);
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  if (getaddrinfo(host[0] ? host : NULL, p, &hints, &res) != 0 || !res)
    return ED_E_INVAL;
  memcpy(ss, res->ai_addr, res->ai_addrlen);
  *len = res->ai_addrlen;
  freeaddrinfo(res);
  return 0;
}

/* in_use writes the EADDRINUSE line for |sa|, naming the holder. */
static int in_use(char *err, size_t err_len, const char *what,
                  const struct sockaddr *sa) {
  char who[160], addr[80];
  ed_listen_format(addr, sizeof(addr), sa);
  if (ed_listen_holder(who, sizeof(who), sa) == 0) {
    snprintf(err, err_len, "%s %s: address already in use by %s", what, addr,
             who);
  } else {
    snprintf(err, err_len, "%s %s: address already in use", what, addr);
  }
  return ED_E_EXIST;
}

/* defer_accept: accept() returns a connection only once its first bytes
 * (the ClientHello, or a PROXY header) arrived, so the loop reads them at
 * accept and hands them to the pool at once: one loop wake-up, one
 * epoll_wait and one pass through libuv fewer per connection (see
 * internal/loop/conn.c first_read; docs/BENCHMARKS.md has the A/B). A
 * client that connects and stays silent costs no descriptor meanwhile;
 * after ED_LISTEN_DEFER_S (the kernel counts it in SYN-ACK
 * retransmissions, so about a second) the kernel hands it over anyway and
 * the handshake timeout runs from there. Best effort: a kernel without it
 * only loses the saving. */
static void defer_accept(int fd) {
  int secs = ED_LISTEN_DEFER_S;
  (void)setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof(secs));
}

static int set_options(int fd, int family) {
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
    return -1;
  if (family == AF_INET6 &&
      setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0)
    return -1;
  defer_accept(fd);
  return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int ed_listen_bind(struct ed_listener *out, const char *hostport, char *err,
                   size_t err_len) {
  char host[256];
  uint16_t port;
  struct sockaddr_storage ss;
  socklen_t len;
  memset(out, 0, sizeof(*out));
  out->fd = -1;
  if (ed_parse_hostport(host, sizeof(host), &port, hostport) != 0) {
    snprintf(err, err_len, "bad listen address %s (use host:port)", hostport);
    return ED_E_USAGE;
  }
  if (resolve(&ss, &len, host, port) != 0) {
    snprintf(err, err_len, "cannot listen on %s: cannot resolve %s", hostport,
             host);
    return ED_E_USAGE;
  }
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd >= 0 && set_options(fd, ss.ss_family) == 0 &&
      bind(fd, (struct sockaddr *)&ss, len) == 0 &&
      getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
    out->fd = fd;
    ed_listen_format(out->addr, sizeof(out->addr), (struct sockaddr *)&ss);
    return 0;
  }
  int e = errno;
  if (fd >= 0) close(fd);
  if (e == EADDRINUSE)
    return in_use(err, err_len, "cannot listen on", (struct sockaddr *)&ss);
  snprintf(err, err_len, "cannot listen on %s: %s", hostport, strerror(e));
  return ED_E_SYS;
}

int ed_listen_start(struct ed_listener *l, char *err, size_t err_len) {
  if (l->inherited) return 0;
  if (listen(l->fd, ED_LISTEN_BACKLOG) == 0) return 0;
  int e = errno;
  if (e == EADDRINUSE) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(l->fd, (struct sockaddr *)&ss, &len) == 0)
      return in_use(err, err_len, "cannot listen on", (struct sockaddr *)&ss);
  }
  snprintf(err, err_len, "cannot listen on %s: %s", l->addr, strerror(e));
  return e == EADDRINUSE ? ED_E_EXIST : ED_E_SYS;
}

void ed_listen_close(struct ed_listener *l) {
  if (l->fd >= 0) close(l->fd);
  l->fd = -1;
}

/* ---- socket activation --------------------------------------------------- */

static int parse_uint(unsigned long *out, const char *s) {
  char *end = NULL;
  if (!s || !*s || *s == '-' || *s == '+') return -1;
  errno = 0;
  *out = strtoul(s, &end, 10);
  return errno || *end ? -1 : 0;
}

int ed_listen_parse_fds(size_t *out_num, const char *listen_pid,
                        const char *listen_fds, pid_t self) {
  unsigned long pid, n;
  *out_num = 0;
  if (!listen_pid || !listen_fds) return 0;
  if (parse_uint(&pid, listen_pid) != 0 || parse_uint(&n, listen_fds) != 0)
    return ED_E_USAGE;
  if (pid != (unsigned long)self) return 0; /* meant for another process */
  if (n > ED_LISTEN_MAX_INHERITED) return ED_E_USAGE;
  *out_num = n;
  return 0;
}

/* check_inherited makes sure |fd| is a listening TCP socket and fills
 * |l|. Returns 0 or writes why not to |err|. */
static int check_inherited(struct ed_listener *l, int fd, char *err,
                           size_t err_len) {
  int type = 0, proto = 0, acc = 0;
  socklen_t n = sizeof(int);
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  const char *why = NULL;
  if (fcntl(fd, F_GETFD) < 0) {
    why = "is not open";
  } else if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
    why = "is not a socket";
  } else if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6) {
    why = "is not an IPv4 or IPv6 socket";
  } else if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &n) != 0 ||
             type != SOCK_STREAM ||
             getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &n) != 0 ||
             proto != IPPROTO_TCP) {
    why = "is not a TCP stream socket";
  } else if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &n) != 0 || !acc) {
    why = "is not listening";
  }
  if (why) {
    snprintf(err, err_len, "socket activation: descriptor %d%s%s%s %s", fd,
             l->name[0] ? " (" : "", l->name, l->name[0] ? ")" : "", why);
    return ED_E_USAGE;
  }
  l->fd = fd;
  l->inherited = 1;
  ed_listen_format(l->addr, sizeof(l->addr), (struct sockaddr *)&ss);
  return 0;
}

/* take_name copies the |i|th colon-separated entry of |names| (may be
 * NULL) into |out|. */
static void take_name(char *out, size_t out_len, const char *names, size_t i) {
  out[0] = '\0';
  for (const char *p = names; p && *p; i--) {
    size_t n = strcspn(p, ":");
    if (i == 0) {
      snprintf(out, out_len, "%.*s", (int)n, p);
      return;
    }
    p += n + (p[n] == ':');
  }
}

static void adopt(struct ed_listener *l) {
  int one = 1;
  fcntl(l->fd, F_SETFD, FD_CLOEXEC);
  fcntl(l->fd, F_SETFL, fcntl(l->fd, F_GETFL) | O_NONBLOCK);
  setsockopt(l->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  defer_accept(l->fd);
}

int ed_listen_inherit(struct ed_listener **out, size_t *out_num, char *err,
                      size_t err_len) {
  size_t n = 0;
  char *names = ed_strdup(getenv("LISTEN_FDNAMES"));
  int rc = ed_listen_parse_fds(&n, getenv("LISTEN_PID"), getenv("LISTEN_FDS"),
                               getpid());
  unsetenv("LISTEN_PID");
  unsetenv("LISTEN_FDS");
  unsetenv("LISTEN_FDNAMES");
  *out = NULL;
  *out_num = 0;
  if (rc) {
    snprintf(err, err_len,
             "socket activation: bad LISTEN_PID/LISTEN_FDS (at most %d "
             "descriptors)",
             ED_LISTEN_MAX_INHERITED);
  }
  struct ed_listener *ls = n ? ed_calloc(n, sizeof(*ls)) : NULL;
  for (size_t i = 0; i < n && !rc; i++) {
    take_name(ls[i].name, sizeof(ls[i].name), names, i);
    rc = check_inherited(&ls[i], SD_LISTEN_FDS_START + (int)i, err, err_len);
  }
  free(names);
  if (rc) {
    free(ls);
    return rc;
  }
  for (size_t i = 0; i < n; i++) adopt(&ls[i]);
  *out = ls;
  *out_num = n;
  return 0;
}

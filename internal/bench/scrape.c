/* internal/bench — flood's evidence: the paced echo schedule, a small
 * Prometheus scrape of one gauge (the server's handshake pool queue), and
 * the saturation verdict. The pure parts are exposed for tests. */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal/base/base.h"
#include "internal/bench/bench_internal.h"

#define SCRAPE_MAX (4u << 20) /* a metrics page larger than this is refused */

uint64_t ed_bench_pace_next(int *out_late, uint64_t due_ns,
                            uint64_t interval_ns, uint64_t now_ns) {
  uint64_t next = due_ns + interval_ns;
  *out_late = now_ns > next;
  return *out_late ? now_ns : next;
}

int ed_bench_parse_gauge(double *out, const char *text, const char *name) {
  size_t len = strlen(name);
  for (const char *p = text; *p;) {
    const char *nl = strchr(p, '\n');
    if (strncmp(p, name, len) == 0 && p[len] == ' ') {
      char *end;
      errno = 0;
      double v = strtod(p + len + 1, &end);
      if (errno || end == p + len + 1) return ED_E_PARSE;
      if (*end != '\n' && *end != '\0' && *end != ' ' && *end != '\r')
        return ED_E_PARSE;
      *out = v;
      return 0;
    }
    if (!nl) break;
    p = nl + 1;
  }
  return ED_E_PARSE;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double ed_bench_median(double *v, size_t n) {
  if (n == 0) return 0;
  qsort(v, n, sizeof(*v), cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int ed_bench_saturation(const char **out_basis, uint32_t queue_samples,
                        double queue_median, int server_ok,
                        double server_cores) {
  if (queue_samples > 0) {
    *out_basis = "queue_depth";
    return queue_median >= 1;
  }
  if (server_ok) {
    *out_basis = "server_cpu";
    return server_cores >= 0.95;
  }
  *out_basis = "none";
  return 0;
}

/* ---- one HTTP GET ----------------------------------------------------------
 */

static int fail(char *err, size_t err_len, int code, const char *what,
                const char *detail) {
  snprintf(err, err_len, "%s%s%s", what, detail ? ": " : "",
           detail ? detail : "");
  return code;
}

/* wait_fd polls |fd| for |events| until |deadline_ns|. Returns 0 when
 * ready, ED_E_TIMEOUT, or ED_E_IO. */
static int wait_fd(int fd, short events, uint64_t deadline_ns) {
  for (;;) {
    uint64_t now = ed_now_ns();
    if (now >= deadline_ns) return ED_E_TIMEOUT;
    struct pollfd pfd = {.fd = fd, .events = events};
    int rv = poll(&pfd, 1, (int)((deadline_ns - now) / 1000000u) + 1);
    if (rv > 0) return 0;
    if (rv < 0 && errno != EINTR) return ED_E_IO;
  }
}

static int open_conn(int *out_fd, const char *hostport, uint64_t deadline_ns,
                     char *err, size_t err_len) {
  char host[256], port[32];
  if (ed_bench__split_hostport(host, sizeof(host), port, sizeof(port),
                               hostport))
    return fail(err, err_len, ED_E_INVAL, "want HOST:PORT", hostport);
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof(hints));
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  int rv = getaddrinfo(host, port, &hints, &res);
  if (rv != 0 || !res)
    return fail(err, err_len, ED_E_INVAL, "cannot resolve", gai_strerror(rv));
  int fd =
      socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0 || (connect(fd, res->ai_addr, res->ai_addrlen) != 0 &&
                 errno != EINPROGRESS)) {
    int e = errno;
    freeaddrinfo(res);
    if (fd >= 0) close(fd);
    return fail(err, err_len, ED_E_IO, "connect", strerror(e));
  }
  freeaddrinfo(res);
  int soerr = 0;
  socklen_t len = sizeof(soerr);
  rv = wait_fd(fd, POLLOUT, deadline_ns);
  if (!rv) getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
  if (rv || soerr) {
    close(fd);
    return fail(err, err_len, rv ? rv : ED_E_IO, "connect",
                rv ? ed_strerror(rv) : strerror(soerr));
  }
  *out_fd = fd;
  return 0;
}

/* body_complete: |buf| holds a whole response (headers and, when given,
 * Content-Length bytes of body). Sets *out_body to the body. */
static int body_complete(const char **out_body, const char *buf, size_t len) {
  const char *end = strstr(buf, "\r\n\r\n");
  if (!end) return 0;
  *out_body = end + 4;
  const char *cl = strcasestr(buf, "\r\ncontent-length:");
  if (!cl || cl > end) return 0; /* read to EOF */
  size_t want = (size_t)strtoull(cl + 17, NULL, 10);
  return (size_t)(buf + len - *out_body) >= want;
}

/* read_response reads until the response is complete or EOF into a NUL
 * terminated |*out| (caller frees). */
static int read_response(char **out, int fd, uint64_t deadline_ns, char *err,
                         size_t err_len) {
  size_t cap = 65536, len = 0;
  char *buf = ed_malloc(cap + 1);
  const char *body;
  for (;;) {
    buf[len] = '\0';
    if (body_complete(&body, buf, len)) break;
    if (len == cap) {
      cap *= 2;
      if (cap > SCRAPE_MAX) {
        free(buf);
        return fail(err, err_len, ED_E_TOOBIG, "metrics page too large", NULL);
      }
      buf = ed_realloc(buf, cap + 1);
    }
    ssize_t n = recv(fd, buf + len, cap - len, 0);
    if (n > 0) {
      len += (size_t)n;
    } else if (n == 0) {
      break;
    } else if (errno == EAGAIN || errno == EINTR) {
      int rv = wait_fd(fd, POLLIN, deadline_ns);
      if (rv) {
        free(buf);
        return fail(err, err_len, rv, "read", ed_strerror(rv));
      }
    } else {
      int e = errno;
      free(buf);
      return fail(err, err_len, ED_E_IO, "read", strerror(e));
    }
  }
  *out = buf;
  return 0;
}

int ed_bench_scrape_gauge(double *out, const char *hostport, const char *name,
                          int timeout_ms, char *err, size_t err_len) {
  uint64_t deadline = ed_now_ns() + (uint64_t)timeout_ms * 1000000u;
  int fd;
  int rv = open_conn(&fd, hostport, deadline, err, err_len);
  if (rv) return rv;
  static const char req[] =
      "GET /metrics HTTP/1.1\r\nHost: echo-bench\r\nConnection: close\r\n\r\n";
  /* One small write on a fresh connection: the socket buffer takes it. */
  if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) !=
      (ssize_t)sizeof(req) - 1) {
    int e = errno;
    close(fd);
    return fail(err, err_len, ED_E_IO, "write", strerror(e));
  }
  char *resp = NULL;
  rv = read_response(&resp, fd, deadline, err, err_len);
  close(fd);
  if (rv) return rv;
  const char *body = strstr(resp, "\r\n\r\n");
  if (strncmp(resp, "HTTP/1.", 7) != 0 || strncmp(resp + 8, " 200", 4) != 0 ||
      !body) {
    rv = fail(err, err_len, ED_E_PARSE, "not an HTTP 200 response", NULL);
  } else if (ed_bench_parse_gauge(out, body + 4, name) != 0) {
    rv = fail(err, err_len, ED_E_NOTFOUND, "no sample of", name);
  }
  free(resp);
  return rv;
}

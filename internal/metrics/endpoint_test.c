/* Tests of the metrics HTTP endpoint: a real libuv loop in a thread, a
 * fake provider, and plain blocking sockets as clients. */
#include "internal/metrics/endpoint.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "internal/testing/testing.h"

struct fake {
  _Atomic int state;
  _Atomic int cert_present;
  _Atomic int fills;
};

static struct fake fake = {ED_METRICS_RUNNING, 1, 0};
static uv_loop_t loop;
static uv_async_t stopper;
static struct ed_metrics_endpoint *ep4, *ep6, *ep_small, *ep_probe, *ep_lim;
static uint16_t port4, port6, port_small, port_probe, port_lim;
static char err[256];

static void fill(void *ctx, struct ed_metrics_input *in,
                 struct ed_stats_snapshot *snap) {
  struct fake *f = ctx;
  int64_t now = (int64_t)time(NULL);
  snap->accepted = 42;
  in->stats = snap;
  in->state = (enum ed_metrics_state)atomic_load(&f->state);
  in->server_cert.present = atomic_load(&f->cert_present);
  in->server_cert.not_before_s = now - 10;
  in->server_cert.not_after_s = now + 1000;
  in->version = "test";
  atomic_fetch_add(&f->fills, 1);
}

static void on_stop(uv_async_t *a) {
  ed_metrics_stop(ep4);
  ed_metrics_stop(ep6);
  ed_metrics_stop(ep_small);
  ed_metrics_stop(ep_probe);
  ed_metrics_stop(ep_lim);
  uv_close((uv_handle_t *)a, NULL);
}

static void *loop_main(void *arg) {
  (void)arg;
  uv_run(&loop, UV_RUN_DEFAULT);
  return NULL;
}

/* ---- client helpers ------------------------------------------------------ */

/* Connects to 127.0.0.1:|port| from the loopback address |src|, so that
 * one test plays several client hosts. */
static int dial_from(const char *src, uint16_t port) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  struct sockaddr_in b = {.sin_family = AF_INET};
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct timeval tv = {3, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  inet_pton(AF_INET, src, &b.sin_addr);
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (bind(fd, (struct sockaddr *)&b, sizeof(b)) != 0 ||
      connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static int dial(int family, uint16_t port) {
  struct sockaddr_storage ss;
  socklen_t len;
  memset(&ss, 0, sizeof(ss));
  if (family == AF_INET6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    a->sin6_addr = in6addr_loopback;
    len = sizeof(*a);
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    len = sizeof(*a);
  }
  int fd = socket(family, SOCK_STREAM, 0);
  struct timeval tv = {3, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (connect(fd, (struct sockaddr *)&ss, len) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static void send_str(int fd, const char *s) {
  size_t n = strlen(s);
  while (n > 0) {
    ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
    if (w <= 0) return;
    s += w;
    n -= (size_t)w;
  }
}

/* Reads one response (head + Content-Length body unless |head_only|) into
 * |out| (NUL-terminated). Returns its length, or -1 on EOF/timeout first. */
static ssize_t read_response(int fd, char *out, size_t cap, int head_only) {
  size_t len = 0;
  char *end = NULL;
  out[0] = '\0';
  while (!(end = strstr(out, "\r\n\r\n"))) {
    if (len + 1 >= cap) return -1;
    ssize_t r = recv(fd, out + len, 1, 0); /* byte-wise: never overread */
    if (r <= 0) return -1;
    len += (size_t)r;
    out[len] = '\0';
  }
  size_t head = (size_t)(end - out) + 4;
  const char *cl = strstr(out, "Content-Length: ");
  size_t body = cl && !head_only ? strtoul(cl + 16, NULL, 10) : 0;
  if (head + body + 1 > cap) return -1;
  while (len < head + body) {
    ssize_t r = recv(fd, out + len, head + body - len, 0);
    if (r <= 0) return -1;
    len += (size_t)r;
  }
  out[len] = '\0';
  return (ssize_t)len;
}

/* 1 if the peer closes (EOF or reset) within the receive timeout without
 * sending one more byte: no further response, no late answer. */
static int closed_silently(int fd) {
  char b[256];
  ssize_t r = recv(fd, b, sizeof(b), 0);
  if (r > 0) fprintf(stderr, "  unexpected bytes: %.*s\n", (int)r, b);
  return r == 0 || (r < 0 && errno == ECONNRESET);
}

static int get(uint16_t port, const char *req, char *out, size_t cap) {
  int fd = dial(AF_INET, port);
  send_str(fd, req);
  ssize_t n = read_response(fd, out, cap, 0);
  close(fd);
  return n > 0 ? atoi(out + 9) : -1;
}

#define GET_(path) "GET " path " HTTP/1.1\r\nHost: x\r\n\r\n"

/* ---- tests --------------------------------------------------------------- */

static void test_metrics(void) {
  static char buf[1 << 17];
  CHECK_EQ(get(port4, GET_("/metrics"), buf, sizeof(buf)), 200);
  CHECK(strstr(buf,
               "\r\nContent-Type: text/plain; version=0.0.4; "
               "charset=utf-8\r\n") != NULL);
  CHECK(strstr(buf, "\r\nConnection: keep-alive\r\n") != NULL);
  CHECK(strstr(buf, "\nechod_connections_accepted_total 42\n") != NULL);
  CHECK(strstr(buf, "\nprocess_open_fds ") != NULL);
  CHECK(strstr(buf, "echod_build_info{version=\"test\"") != NULL);
  /* The endpoint's own refusals, every reason from the first scrape. */
  CHECK(strstr(buf,
               "\n# TYPE echod_metrics_connections_refused_total "
               "counter\n") != NULL);
  for (size_t i = 0; i < 4; i++) {
    static const char *const r[] = {"full", "per_client", "taken_over",
                                    "probe_only"};
    char want[128];
    snprintf(want, sizeof(want),
             "\nechod_metrics_connections_refused_total{reason=\"%s\"} 0\n",
             r[i]);
    CHECK(strstr(buf, want) != NULL);
  }
  CHECK_EQ(get(port4, GET_("/metrics?debug=1"), buf, sizeof(buf)), 200);
  CHECK_EQ(get(port6, GET_("/healthz"), buf, sizeof(buf)), -1); /* v4 dial */
  int fd = dial(AF_INET6, port6);
  CHECK(fd >= 0);
  send_str(fd, GET_("/healthz"));
  CHECK(read_response(fd, buf, sizeof(buf), 0) > 0);
  CHECK(strncmp(buf, "HTTP/1.1 200 OK\r\n", 17) == 0);
  close(fd);
}

/* HEAD sends the head only: the next bytes on the connection are the next
 * response. 404 and 405 keep the connection. */
static void test_head_404_405_keepalive(void) {
  static char buf[1 << 17];
  int fd = dial(AF_INET, port4);
  send_str(fd, "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(read_response(fd, buf, sizeof(buf), 1) > 0);
  CHECK(strncmp(buf, "HTTP/1.1 200 OK\r\n", 17) == 0);
  CHECK(strstr(buf, "Content-Length: 0\r\n") == NULL);
  send_str(fd, GET_("/nope"));
  CHECK(read_response(fd, buf, sizeof(buf), 0) > 0);
  CHECK(strncmp(buf, "HTTP/1.1 404 ", 13) == 0);
  send_str(fd, "DELETE /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(read_response(fd, buf, sizeof(buf), 0) > 0);
  CHECK(strncmp(buf, "HTTP/1.1 405 ", 13) == 0);
  CHECK(strstr(buf, "\r\nAllow: GET, HEAD\r\n") != NULL);
  send_str(fd, GET_("/healthz"));
  CHECK(read_response(fd, buf, sizeof(buf), 0) > 0);
  CHECK(strncmp(buf, "HTTP/1.1 200 OK\r\n", 17) == 0);
  CHECK(strstr(buf, "\r\n\r\nok\n") != NULL);
  close(fd);
}

/* Sends |req| (|len| bytes), expects one response with |status| and then
 * the close, with nothing after the response: whatever |req| holds past
 * the request that was refused is never answered. */
static void expect_status_then_close_n(const char *req, size_t len,
                                       const char *status) {
  static char buf[1 << 16];
  int fd = dial(AF_INET, port4);
  while (len > 0) {
    ssize_t w = send(fd, req, len, MSG_NOSIGNAL);
    if (w <= 0) break;
    req += w;
    len -= (size_t)w;
  }
  CHECK(read_response(fd, buf, sizeof(buf), 0) > 0);
  CHECK(strncmp(buf, status, strlen(status)) == 0);
  if (strncmp(buf, status, strlen(status)) != 0)
    fprintf(stderr, "  wanted %s, got: %.40s\n", status, buf);
  CHECK(strstr(buf, "\r\nConnection: close\r\n") != NULL);
  CHECK(closed_silently(fd));
  close(fd);
}

static void expect_status_then_close(const char *req, const char *status) {
  expect_status_then_close_n(req, strlen(req), status);
}

/* Requests pipelined behind a refused or body-carrying one are not
 * answered: the framing after them cannot be trusted. */
static void test_no_pipelining_after_refusal(void) {
  expect_status_then_close("BLAH\r\n\r\n" GET_("/healthz"), "HTTP/1.1 400 ");
  expect_status_then_close(
      "GET /healthz HTTP/1.1\r\nHost: x\r\n"
      "Content-Length: 1\r\nContent-Length: 2\r\n"
      "\r\n" GET_("/healthz"),
      "HTTP/1.1 400 ");
  expect_status_then_close(
      "GET /healthz HTTP/1.1\r\nHost: x\r\n"
      " folded\r\n\r\n" GET_("/healthz"),
      "HTTP/1.1 400 ");
  /* A GET that announces a body, either way: answered, then closed. */
  expect_status_then_close(
      "GET /healthz HTTP/1.1\r\nHost: x\r\n"
      "Transfer-Encoding: chunked\r\n\r\n"
      "0\r\n\r\n" GET_("/healthz"),
      "HTTP/1.1 200 ");
  expect_status_then_close(
      "GET /healthz HTTP/1.1\r\nHost: x\r\n"
      "Content-Length: 27\r\n\r\n" GET_("/healthz"),
      "HTTP/1.1 200 ");
  static const char nul[] = "GET /healthz HTTP/1.1\r\nHost: x\0y\r\n\r\n";
  expect_status_then_close_n(nul, sizeof(nul) - 1, "HTTP/1.1 400 ");
}

static void test_close_cases(void) {
  expect_status_then_close("BLAH\r\n\r\n", "HTTP/1.1 400 ");
  expect_status_then_close("GET /metrics HTTP/1.1\r\n\r\n", "HTTP/1.1 400 ");
  expect_status_then_close("GET /healthz HTTP/1.0\r\n\r\n", "HTTP/1.1 200 ");
  expect_status_then_close(
      "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      "HTTP/1.1 200 ");
  expect_status_then_close(
      "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi",
      "HTTP/1.1 405 ");
  char *big = ed_malloc(9001);
  memset(big, 'a', 9000);
  memcpy(big, "GET /metrics HTTP/1.1\r\nX: ", 26);
  big[9000] = '\0';
  expect_status_then_close(big, "HTTP/1.1 431 ");
  free(big);
  /* Far more than the limit: the 431 still arrives (no reset). */
  big = ed_malloc(200001);
  memset(big, 'b', 200000);
  memcpy(big, "GET /metrics HTTP/1.1\r\nX: ", 26);
  big[200000] = '\0';
  expect_status_then_close(big, "HTTP/1.1 431 ");
  free(big);
}

/* A client that half-closes after its request still gets the answer. */
static void test_half_close(void) {
  static char buf[4096];
  int fd = dial(AF_INET, port4);
  send_str(fd, GET_("/healthz"));
  shutdown(fd, SHUT_WR);
  CHECK(read_response(fd, buf, sizeof(buf), 0) > 0);
  CHECK(strncmp(buf, "HTTP/1.1 200 ", 13) == 0);
  CHECK(closed_silently(fd));
  close(fd);
}

static void test_pipelined(void) {
  static char buf[1 << 17];
  int fd = dial(AF_INET, port4);
  send_str(fd, GET_("/healthz") GET_("/nope") "HEAD /readyz HTTP/1.1\r\n"
                                             "Host: x\r\n\r\n" GET_("/readyz"));
  CHECK(read_response(fd, buf, sizeof(buf), 0) > 0);
  CHECK(strncmp(buf, "HTTP/1.1 200 ", 13) == 0);
  CHECK(read_response(fd, buf, sizeof(buf), 0) > 0);
  CHECK(strncmp(buf, "HTTP/1.1 404 ", 13) == 0);
  CHECK(read_response(fd, buf, sizeof(buf), 1) > 0);
  CHECK(strncmp(buf, "HTTP/1.1 200 ", 13) == 0);
  CHECK(read_response(fd, buf, sizeof(buf), 0) > 0);
  CHECK(strncmp(buf, "HTTP/1.1 200 ", 13) == 0);
  CHECK(strstr(buf, "\r\n\r\nok\n") != NULL);
  close(fd);
}

/* 300 pipelined scrapes (several MiB of answers) sent before reading any:
 * the endpoint pauses reading, then answers all of them in order. */
static void test_many_pipelined(void) {
  static char buf[1 << 17];
  int fd = dial(AF_INET, port4);
  for (int i = 0; i < 300; i++) send_str(fd, GET_("/metrics"));
  send_str(fd, GET_("/healthz"));
  int ok = 0;
  for (int i = 0; i < 300; i++) {
    if (read_response(fd, buf, sizeof(buf), 0) > 0 &&
        strncmp(buf, "HTTP/1.1 200 ", 13) == 0 &&
        strstr(buf, "echod_build_info")) {
      ok++;
    }
  }
  CHECK_EQ(ok, 300);
  CHECK(read_response(fd, buf, sizeof(buf), 0) > 0);
  CHECK(strstr(buf, "\r\n\r\nok\n") != NULL);
  close(fd);
}

static void test_readyz(void) {
  static char buf[4096];
  CHECK_EQ(get(port4, GET_("/readyz"), buf, sizeof(buf)), 200);
  atomic_store(&fake.state, ED_METRICS_DRAINING);
  CHECK_EQ(get(port4, GET_("/readyz"), buf, sizeof(buf)), 503);
  CHECK(strstr(buf, "\r\n\r\ndraining\n") != NULL);
  CHECK_EQ(get(port4, GET_("/healthz"), buf, sizeof(buf)), 200);
  atomic_store(&fake.state, ED_METRICS_RUNNING);
  atomic_store(&fake.cert_present, 0);
  CHECK_EQ(get(port4, GET_("/readyz"), buf, sizeof(buf)), 503);
  CHECK(strstr(buf, "\r\n\r\nno valid certificate loaded\n") != NULL);
  atomic_store(&fake.cert_present, 1);
  CHECK_EQ(get(port4, GET_("/readyz"), buf, sizeof(buf)), 200);
}

/* port_small: max 3 connections, one probe slot, 300 ms idle timeout. */
static void test_limits_and_idle(void) {
  static char buf[4096];
  int fds[3];
  for (int i = 0; i < 3; i++) {
    fds[i] = dial(AF_INET, port_small);
    send_str(fds[i], GET_("/healthz"));
    CHECK(read_response(fds[i], buf, sizeof(buf), 0) > 0);
  }
  /* A silent connection in the probe slot loses it to the next newcomer:
   * it is closed at once, unanswered and well before the idle timeout
   * (which would close it too, so time it); the newcomer's probe is
   * answered. */
  int silent = dial(AF_INET, port_small);
  usleep(50000);
  uint64_t t_extra = ed_now_ns();
  int probe = dial(AF_INET, port_small);
  send_str(probe, GET_("/healthz"));
  CHECK(read_response(probe, buf, sizeof(buf), 0) > 0);
  CHECK(strncmp(buf, "HTTP/1.1 200 ", 13) == 0);
  CHECK(closed_silently(silent));
  CHECK((ed_now_ns() - t_extra) / 1000000 < 250);
  close(silent);
  close(probe);
  /* The three idle ones are closed by the idle timeout... */
  uint64_t t0 = ed_now_ns();
  for (int i = 0; i < 3; i++) CHECK(closed_silently(fds[i]));
  uint64_t waited_ms = (ed_now_ns() - t0) / 1000000;
  CHECK(waited_ms >= 100 && waited_ms < 2000);
  for (int i = 0; i < 3; i++) close(fds[i]);
  /* ...and a half-sent head does not keep a connection alive either. */
  int slow = dial(AF_INET, port_small);
  send_str(slow, "GET /metrics HTTP/1.1\r\n");
  usleep(150000);
  send_str(slow, "Host: x\r\n");
  CHECK(closed_silently(slow));
  close(slow);
  usleep(50000);
  CHECK_EQ(get(port_small, GET_("/healthz"), buf, sizeof(buf)), 200);
}

/* Sends one request on |fd| and returns the response's status (-1 when
 * the connection closes first); |*out_close| says whether it announced
 * Connection: close. */
static int exchange(int fd, const char *req, int *out_close) {
  static char buf[1 << 17];
  send_str(fd, req);
  if (read_response(fd, buf, sizeof(buf), 0) <= 0) return -1;
  if (out_close) *out_close = strstr(buf, "\r\nConnection: close\r\n") != NULL;
  return atoi(buf + 9);
}

/* port_probe: 2 general slots, 1 probe slot with a 300 ms deadline. One
 * host (127.0.0.2) holds both general slots with keep-alive requests; a
 * probe on a new connection is still answered, in the probe slot, and
 * only a probe is. */
static void test_probe_slot(void) {
  int held[2], cl = 0;
  for (int i = 0; i < 2; i++) {
    held[i] = dial_from("127.0.0.2", port_probe);
    CHECK_EQ(exchange(held[i], GET_("/metrics"), NULL), 200);
  }
  for (int round = 0; round < 3; round++) {
    const char *path = round == 1 ? GET_("/readyz") : GET_("/healthz");
    int p = dial_from("127.0.0.1", port_probe);
    CHECK_EQ(exchange(p, path, &cl), 200);
    CHECK(cl); /* answered once, then closed: the slot is free again */
    CHECK(closed_silently(p));
    close(p);
    usleep(50000);
    /* The general slots are still the host's, and still answered. */
    CHECK_EQ(exchange(held[round % 2], GET_("/healthz"), NULL), 200);
  }
  /* The probe slot serves nothing else. */
  int m = dial_from("127.0.0.1", port_probe);
  CHECK_EQ(exchange(m, GET_("/metrics"), &cl), 503);
  CHECK(cl);
  CHECK(closed_silently(m));
  close(m);
  usleep(50000);
  /* A connection that sends nothing loses the probe slot after its short
   * deadline (300 ms), not the 5 s idle timeout. */
  uint64_t t0 = ed_now_ns();
  int silent = dial_from("127.0.0.3", port_probe);
  CHECK(closed_silently(silent));
  uint64_t ms = (ed_now_ns() - t0) / 1000000;
  CHECK(ms >= 250 && ms < 2000);
  close(silent);
  usleep(50000);
  int p = dial_from("127.0.0.1", port_probe);
  CHECK_EQ(exchange(p, GET_("/healthz"), NULL), 200);
  close(p);
  for (int i = 0; i < 2; i++) close(held[i]);
}

/* port_lim: at most 2 connections per client address (and the default 4
 * probe slots); 3 requests and 600 ms per connection. An address at its
 * cap gets no third general slot, but its probes are still answered, in a
 * probe slot. Before: the cap counted probe slots too, and the third
 * connection was closed unanswered, probe or not: one local process
 * holding its address's connections made every local probe fail. */
static void test_per_client_cap(void) {
  static char buf[1 << 17];
  int cl = 0, a = dial_from("127.0.0.2", port_lim),
      b = dial_from("127.0.0.2", port_lim);
  CHECK_EQ(exchange(a, GET_("/healthz"), NULL), 200);
  CHECK_EQ(exchange(b, GET_("/healthz"), NULL), 200);
  /* The third from the same address: a probe, answered once. */
  int c = dial_from("127.0.0.2", port_lim);
  CHECK_EQ(exchange(c, GET_("/readyz"), &cl), 200);
  CHECK(cl);
  CHECK(closed_silently(c));
  close(c);
  /* ... and nothing else: the cap still holds for /metrics. */
  c = dial_from("127.0.0.2", port_lim);
  CHECK_EQ(exchange(c, GET_("/metrics"), &cl), 503);
  CHECK(cl);
  CHECK(closed_silently(c));
  close(c);
  /* Another address is served, and sees the refusal counted. */
  int d = dial_from("127.0.0.3", port_lim);
  send_str(d, GET_("/metrics"));
  CHECK(read_response(d, buf, sizeof(buf), 0) > 0);
  CHECK(strncmp(buf, "HTTP/1.1 200 ", 13) == 0);
  CHECK(strstr(buf,
               "\nechod_metrics_connections_refused_total{reason="
               "\"probe_only\"} 1\n") != NULL);
  CHECK(strstr(buf,
               "\nechod_metrics_connections_refused_total{reason="
               "\"per_client\"} 0\n") != NULL);
  close(d);
  close(a);
  close(b);
}

static void test_max_requests(void) {
  static char buf[4096];
  int cl = 1, fd = dial_from("127.0.0.4", port_lim);
  send_str(fd,
           GET_("/healthz") GET_("/healthz") GET_("/healthz") GET_("/healthz"));
  for (int i = 0; i < 3; i++) {
    CHECK(read_response(fd, buf, sizeof(buf), 0) > 0);
    CHECK(strncmp(buf, "HTTP/1.1 200 ", 13) == 0);
    cl = strstr(buf, "\r\nConnection: close\r\n") != NULL;
    CHECK_EQ(cl, i == 2); /* the third says it is the last */
  }
  CHECK(closed_silently(fd)); /* the fourth is not answered */
  close(fd);
}

/* A keep-alive client keeps its connection no longer than the lifetime
 * (600 ms), asking or not; then it reconnects like anyone else. */
static void test_max_lifetime(void) {
  uint64_t t0 = ed_now_ns();
  int cl = 1, fd = dial_from("127.0.0.5", port_lim);
  CHECK_EQ(exchange(fd, GET_("/healthz"), &cl), 200);
  CHECK(!cl);
  usleep(300000);
  CHECK_EQ(exchange(fd, GET_("/healthz"), &cl), 200);
  CHECK(!cl);
  CHECK(closed_silently(fd));
  uint64_t ms = (ed_now_ns() - t0) / 1000000;
  CHECK(ms >= 550 && ms < 1500);
  if (ms < 550 || ms >= 1500)
    fprintf(stderr, "  closed after %llu ms\n", (unsigned long long)ms);
  close(fd);
}

static void test_bad_addresses(void) {
  static const char *const bad[] = {
      "nonsense",    "127.0.0.1", "127.0.0.1:x",   "127.0.0.1:70000",
      "999.1.1.1:1", "[::1:1",    "example.com:1", "127.0.0.1:"};
  struct ed_metrics_endpoint *ep = NULL;
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    struct ed_metrics_options o = {.listen = bad[i], .fill = fill};
    CHECK_EQ(ed_metrics_start(&ep, &loop, &o, err, sizeof(err)), ED_E_INVAL);
    CHECK(strncmp(err, "bad metrics address \"", 21) == 0);
  }
  CHECK_STR(err, "bad metrics address \"127.0.0.1:\": missing port");
}

int main(void) {
  char addr[64];
  pthread_t th;
  uv_loop_init(&loop);
  struct ed_metrics_options o = {
      .listen = "127.0.0.1:0", .fill = fill, .fill_ctx = &fake};
  CHECK_EQ(ed_metrics_start(&ep4, &loop, &o, err, sizeof(err)), 0);
  port4 = ed_metrics_endpoint_port(ep4);
  o.listen = "[::1]:0";
  CHECK_EQ(ed_metrics_start(&ep6, &loop, &o, err, sizeof(err)), 0);
  port6 = ed_metrics_endpoint_port(ep6);
  o.listen = "127.0.0.1:0";
  o.max_conns = 3;
  o.idle_timeout_ms = 300;
  o.probe_slots = 1;
  CHECK_EQ(ed_metrics_start(&ep_small, &loop, &o, err, sizeof(err)), 0);
  port_small = ed_metrics_endpoint_port(ep_small);
  struct ed_metrics_endpoint *ep_lh = NULL;
  o.listen = "localhost:0";
  CHECK_EQ(ed_metrics_start(&ep_lh, &loop, &o, err, sizeof(err)), 0);
  ed_metrics_stop(ep_lh);
  snprintf(addr, sizeof(addr), "127.0.0.1:%u", port4);
  o.listen = addr;
  struct ed_metrics_endpoint *dup = NULL;
  CHECK_EQ(ed_metrics_start(&dup, &loop, &o, err, sizeof(err)), ED_E_EXIST);
  char want[256]; /* the port is in use: one line, what, why, who, and
                   * the ways out (this process holds it) */
  snprintf(want, sizeof(want),
           "cannot listen on metrics address %s: address already in use by "
           "pid %d (",
           addr, (int)getpid());
  CHECK(strncmp(err, want, strlen(want)) == 0);
  CHECK(strstr(err,
               ") (choose another with --metrics-listen, or "
               "--no-metrics)") != NULL);
  if (strncmp(err, want, strlen(want)) != 0) fprintf(stderr, "  %s\n", err);
  o.max_conns = 2;
  o.idle_timeout_ms = 5000;
  o.probe_slots = 1;
  o.probe_deadline_ms = 300;
  o.listen = "127.0.0.1:0";
  CHECK_EQ(ed_metrics_start(&ep_probe, &loop, &o, err, sizeof(err)), 0);
  port_probe = ed_metrics_endpoint_port(ep_probe);
  o.max_conns = 8;
  o.probe_slots = 0;
  o.max_per_client = 2;
  o.max_requests = 3;
  o.max_lifetime_ms = 600;
  CHECK_EQ(ed_metrics_start(&ep_lim, &loop, &o, err, sizeof(err)), 0);
  port_lim = ed_metrics_endpoint_port(ep_lim);
  RUN(test_bad_addresses);
  uv_async_init(&loop, &stopper, on_stop);
  pthread_create(&th, NULL, loop_main, NULL);
  RUN(test_metrics);
  RUN(test_head_404_405_keepalive);
  RUN(test_close_cases);
  RUN(test_no_pipelining_after_refusal);
  RUN(test_half_close);
  RUN(test_pipelined);
  RUN(test_many_pipelined);
  RUN(test_readyz);
  RUN(test_limits_and_idle);
  RUN(test_probe_slot);
  RUN(test_per_client_cap);
  RUN(test_max_requests);
  RUN(test_max_lifetime);
  uv_async_send(&stopper);
  pthread_join(th, NULL);
  CHECK_EQ(uv_loop_close(&loop), 0); /* every handle closed and freed */
  return TEST_RESULT();
}

/* Tests of the bounded stream server: a line protocol on a real libuv loop
 * in a thread, blocking sockets as clients. Each test starts a server with
 * the limits it is about.
 *
 * The protocol: "ping" -> "pong"; "seq N" -> "N"; "big N" -> N-1 bytes of
 * 'b' and a newline; "hold MS" -> "held" after MS ms (the connection
 * holds); "last" -> "last=0|1"; "stats" -> the server's counts. A refused
 * connection gets "busy" or "per_client", a deadline "timeout". */
#include "internal/net/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal/base/base.h"
#include "internal/testing/testing.h"

#define MAX_LINE 256

static uv_loop_t loop;
static uv_async_t stopper;
static struct ed_net_server *srv;
static pthread_t loop_thread;
static uint16_t port;
static atomic_int stopped, handled;
static char dir[64];

/* ---- the test protocol --------------------------------------------------- */

struct later {
  uv_timer_t timer;
  struct ed_net_conn *conn; /* NULL once the connection is gone */
};

static void send_text(struct ed_net_conn *c, const char *s) {
  ed_net_conn_send(c, ed_strdup(s), strlen(s));
}

static void on_later_closed(uv_handle_t *h) {
  free(h->data);
}

static void on_later(uv_timer_t *t) {
  struct later *l = t->data;
  if (l->conn) {
    ed_net_conn_set_data(l->conn, NULL);
    send_text(l->conn, "held\n");
    ed_net_conn_release(l->conn);
  }
  uv_close((uv_handle_t *)&l->timer, on_later_closed);
}

static void send_stats(struct ed_net_conn *c) {
  struct ed_net_server_stats st;
  char line[200];
  ed_net_server_stats(srv, &st);
  snprintf(line, sizeof(line),
           "open=%u reserved=%u accepted=%llu full=%llu per_client=%llu "
           "evicted=%llu peak=%zu\n",
           st.open, st.reserved, (unsigned long long)st.accepted,
           (unsigned long long)st.refused[ED_NET_REFUSE_FULL],
           (unsigned long long)st.refused[ED_NET_REFUSE_PER_CLIENT],
           (unsigned long long)st.evicted, st.peak_queued);
  send_text(c, line);
}

static void handle_line(struct ed_net_conn *c, const char *line) {
  char out[64];
  unsigned n;
  atomic_fetch_add(&handled, 1);
  if (strcmp(line, "ping") == 0) {
    send_text(c, "pong\n");
  } else if (sscanf(line, "seq %u", &n) == 1) {
    snprintf(out, sizeof(out), "%u\n", n);
    send_text(c, out);
  } else if (sscanf(line, "big %u", &n) == 1 && n > 0) {
    char *b = ed_malloc(n);
    memset(b, 'b', n);
    b[n - 1] = '\n';
    ed_net_conn_send(c, b, n);
  } else if (sscanf(line, "hold %u", &n) == 1) {
    struct later *l = ed_calloc(1, sizeof(*l));
    l->conn = c;
    ed_net_conn_set_data(c, l);
    ed_net_conn_hold(c);
    uv_timer_init(&loop, &l->timer);
    l->timer.data = l;
    uv_timer_start(&l->timer, on_later, n, 0);
  } else if (strcmp(line, "last") == 0) {
    snprintf(out, sizeof(out), "last=%d\n", ed_net_conn_last_request(c));
    send_text(c, out);
  } else if (strcmp(line, "stats") == 0) {
    send_stats(c);
  } else {
    send_text(c, "what\n");
  }
}

static size_t on_input(void *arg, struct ed_net_conn *c, const uint8_t *data,
                       size_t len, int eof) {
  char line[MAX_LINE + 1];
  const uint8_t *nl = memchr(data, '\n', len);
  size_t n = nl ? (size_t)(nl - data) : len;
  (void)arg;
  if (!nl && !eof) {
    if (len > MAX_LINE) {
      send_text(c, "too_large\n");
      ed_net_conn_finish(c);
    }
    return 0;
  }
  if (n > MAX_LINE) n = MAX_LINE;
  memcpy(line, data, n);
  line[n] = '\0';
  handle_line(c, line);
  return nl ? (size_t)(nl - data) + 1 : len;
}

static void on_refused(void *arg, struct ed_net_conn *c,
                       enum ed_net_refusal why) {
  (void)arg;
  send_text(c, why == ED_NET_REFUSE_FULL ? "busy\n" : "per_client\n");
}

static void on_timeout(void *arg, struct ed_net_conn *c) {
  (void)arg;
  send_text(c, "timeout\n");
}

static void on_close(void *arg, struct ed_net_conn *c) {
  struct later *l = ed_net_conn_data(c);
  (void)arg;
  if (l) l->conn = NULL; /* its timer fires later and sends nothing */
}

static void on_stopped(void *arg) {
  (void)arg;
  atomic_store(&stopped, 1);
}

/* ---- the loop thread ----------------------------------------------------- */

static void on_stop(uv_async_t *a) {
  ed_net_server_free(srv);
  uv_close((uv_handle_t *)a, NULL);
}

static void *loop_main(void *arg) {
  (void)arg;
  uv_run(&loop, UV_RUN_DEFAULT);
  return NULL;
}

static struct ed_net_options options(void) {
  struct ed_net_options o = {.what = "test address",
                             .limits = {.max_conns = 8,
                                        .idle_ms = 5000,
                                        .linger_ms = 1000,
                                        .in_max = 2 * MAX_LINE,
                                        .out_max = 64 * 1024},
                             .handler = {.on_input = on_input,
                                         .on_refused = on_refused,
                                         .on_timeout = on_timeout,
                                         .on_close = on_close,
                                         .on_stopped = on_stopped}};
  return o;
}

static void start(const struct ed_net_options *o) {
  struct sockaddr_storage ss;
  char err[200] = "";
  uv_loop_init(&loop);
  atomic_store(&stopped, 0);
  atomic_store(&handled, 0);
  CHECK_EQ(ed_net_parse_bind_addr(&ss, "127.0.0.1:0", NULL), 0);
  CHECK_EQ(ed_net_listen_tcp(&srv, &loop, (struct sockaddr *)&ss, o, err,
                             sizeof(err)),
           0);
  port = ed_net_server_port(srv);
  CHECK(port != 0);
  uv_async_init(&loop, &stopper, on_stop);
  pthread_create(&loop_thread, NULL, loop_main, NULL);
}

static void stop(void) {
  uv_async_send(&stopper);
  pthread_join(loop_thread, NULL);
  CHECK_EQ(atomic_load(&stopped), 1);
  CHECK_EQ(uv_loop_close(&loop), 0); /* every handle closed and freed */
}

/* ---- client side --------------------------------------------------------- */

/* Connects to the server from |src| ("127.0.0.x", NULL: any). */
static int dial_from(const char *src) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct timeval tv = {.tv_sec = 3};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (src) {
    struct sockaddr_in b = {.sin_family = AF_INET};
    inet_pton(AF_INET, src, &b.sin_addr);
    CHECK_EQ(bind(fd, (struct sockaddr *)&b, sizeof(b)), 0);
  }
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  CHECK_EQ(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  return fd;
}

static int dial(void) {
  return dial_from(NULL);
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

/* Reads one line without its newline; returns its length or -1. */
static int recv_line(int fd, char *out, size_t out_len) {
  size_t n = 0;
  while (n + 1 < out_len) {
    char ch;
    if (recv(fd, &ch, 1, 0) != 1) break;
    if (ch == '\n') {
      out[n] = '\0';
      return (int)n;
    }
    out[n++] = ch;
  }
  out[n] = '\0';
  return -1;
}

/* Reads exactly |n| bytes; returns 1, or 0 on EOF/timeout first. */
static int recv_exact(int fd, char *out, size_t n) {
  while (n > 0) {
    ssize_t r = recv(fd, out, n, 0);
    if (r <= 0) return 0;
    out += r;
    n -= (size_t)r;
  }
  return 1;
}

static int expect_line(int fd, const char *want) {
  char line[512];
  int n = recv_line(fd, line, sizeof(line));
  CHECK(n >= 0 && strcmp(line, want) == 0);
  if (n < 0 || strcmp(line, want) != 0)
    fprintf(stderr, "  wanted \"%s\", got \"%.60s\" (%d)\n", want, line, n);
  return n >= 0 && strcmp(line, want) == 0;
}

/* 1 if the server sent EOF (an orderly close, not a reset). */
static int sees_eof(int fd) {
  char ch;
  ssize_t r = recv(fd, &ch, 1, 0);
  if (r > 0) fprintf(stderr, "  unexpected byte '%c'\n", ch);
  if (r < 0) fprintf(stderr, "  recv: %s\n", strerror(errno));
  return r == 0;
}

static void ask_stats(char *out, size_t out_len) {
  int fd = dial();
  send_str(fd, "stats\n");
  CHECK(recv_line(fd, out, out_len) > 0);
  close(fd);
}

static uint64_t ms_since(uint64_t t0) {
  return (ed_now_ns() - t0) / 1000000;
}

/* ---- tests --------------------------------------------------------------- */

/* Requests are answered in order, a held one included. */
static void test_order_and_hold(void) {
  struct ed_net_options o = options();
  start(&o);
  int fd = dial();
  send_str(fd, "seq 1\nhold 100\nseq 2\nping\n");
  expect_line(fd, "1");
  expect_line(fd, "held");
  expect_line(fd, "2");
  expect_line(fd, "pong");
  /* The last line may come without its newline when the client is done. */
  send_str(fd, "seq 3\nseq 4");
  shutdown(fd, SHUT_WR);
  expect_line(fd, "3");
  expect_line(fd, "4");
  CHECK(sees_eof(fd));
  close(fd);
  /* A client leaving while its request is held: the reply is dropped. */
  fd = dial();
  send_str(fd, "hold 200\n");
  close(fd);
  usleep(300 * 1000);
  stop();
}

/* max_conns 2 and one reserved slot: past the two, a third connection gets
 * the reserved slot for one request within its deadline. A connection
 * holding it without a request loses it to the next newcomer, or to its
 * deadline when nobody comes. */
static void test_reserved_slot(void) {
  struct ed_net_options o = options();
  char line[200];
  o.limits.max_conns = 2;
  o.limits.reserved = 1;
  o.limits.reserved_deadline_ms = 300;
  start(&o);
  int a = dial(), b = dial();
  send_str(a, "ping\n");
  send_str(b, "ping\n");
  expect_line(a, "pong");
  expect_line(b, "pong");
  int r = dial();
  send_str(r, "last\nping\n");
  expect_line(r, "last=1"); /* one request only, then closed */
  CHECK(sees_eof(r));
  close(r);
  usleep(50 * 1000);
  /* A silent one in the reserved slot is closed by the short deadline, not
   * the idle one. */
  uint64_t t0 = ed_now_ns();
  int silent = dial();
  expect_line(silent, "timeout");
  CHECK(sees_eof(silent));
  CHECK(ms_since(t0) >= 250 && ms_since(t0) < 2000);
  close(silent);
  usleep(50 * 1000);
  /* Another holds it silently: the next newcomer takes it over at once. */
  silent = dial();
  usleep(50 * 1000);
  t0 = ed_now_ns();
  r = dial();
  char ch;
  CHECK(recv(silent, &ch, 1, 0) <= 0); /* closed, without a reply */
  CHECK(ms_since(t0) < 250);
  close(silent);
  send_str(r, "ping\n");
  expect_line(r, "pong");
  CHECK(sees_eof(r));
  close(r);
  /* The general slots were never disturbed. */
  send_str(a, "ping\n");
  expect_line(a, "pong");
  close(a);
  close(b);
  usleep(50 * 1000);
  ask_stats(line, sizeof(line));
  CHECK(strstr(line, "evicted=1") != NULL);
  if (!strstr(line, "evicted=1")) fprintf(stderr, "  %s\n", line);
  stop();
}

/* At most two connections from one address; another address is served. */
static void test_per_client(void) {
  struct ed_net_options o = options();
  o.limits.max_per_client = 2;
  start(&o);
  int a1 = dial_from("127.0.0.2"), a2 = dial_from("127.0.0.2");
  send_str(a1, "ping\n");
  send_str(a2, "ping\n");
  expect_line(a1, "pong");
  expect_line(a2, "pong");
  int a3 = dial_from("127.0.0.2");
  expect_line(a3, "per_client");
  CHECK(sees_eof(a3));
  close(a3);
  int b = dial_from("127.0.0.3");
  send_str(b, "ping\n");
  expect_line(b, "pong");
  close(b);
  /* A slot given back is a slot to take again. */
  close(a1);
  usleep(100 * 1000);
  a3 = dial_from("127.0.0.2");
  send_str(a3, "ping\n");
  expect_line(a3, "pong");
  close(a3);
  close(a2);
  stop();
}

/* An address at its cap still gets a reserved slot, with everything a
 * reserved slot means (one request, short deadline, taken over when
 * silent); only when the reserved slots are busy answering is it refused.
 * Refusals are logged at warn, one line per 10 s with a count. Before: the
 * cap counted reserved slots too and refused at once, logging at debug,
 * so a local process holding its address's 8 connections made every probe
 * from that address fail. */
static void test_per_client_reserved(void) {
  struct ed_net_options o = options();
  char line[200];
  o.limits.max_per_client = 2;
  o.limits.reserved = 1;
  o.limits.reserved_deadline_ms = 300;
  int fds[2], saved = dup(2);
  CHECK_EQ(pipe(fds), 0);
  dup2(fds[1], 2); /* the loop thread's log lines */
  start(&o);
  int a1 = dial_from("127.0.0.2"), a2 = dial_from("127.0.0.2");
  send_str(a1, "ping\n");
  send_str(a2, "ping\n");
  expect_line(a1, "pong");
  expect_line(a2, "pong");
  /* The same address, at its cap: a reserved slot, one request. */
  int a3 = dial_from("127.0.0.2");
  send_str(a3, "last\nping\n");
  expect_line(a3, "last=1");
  CHECK(sees_eof(a3));
  close(a3);
  usleep(50 * 1000);
  /* Held silently by that address, it goes to the next newcomer. */
  int silent = dial_from("127.0.0.2");
  usleep(50 * 1000);
  int a4 = dial_from("127.0.0.2");
  char ch;
  CHECK(recv(silent, &ch, 1, 0) <= 0);
  close(silent);
  /* Busy answering (a held request): now the cap refuses, at once. */
  send_str(a4, "hold 400\n");
  usleep(50 * 1000);
  for (int i = 0; i < 3; i++) {
    int a5 = dial_from("127.0.0.2");
    expect_line(a5, "per_client");
    CHECK(sees_eof(a5));
    close(a5);
  }
  expect_line(a4, "held");
  close(a4);
  int b = dial_from("127.0.0.3"); /* another address: a general slot */
  send_str(b, "last\n");
  expect_line(b, "last=0");
  close(b);
  close(a1);
  close(a2);
  usleep(50 * 1000);
  ask_stats(line, sizeof(line));
  CHECK(strstr(line, " per_client=3 evicted=1 ") != NULL);
  if (!strstr(line, " per_client=3 evicted=1 "))
    fprintf(stderr, "  %s\n", line);
  stop();
  dup2(saved, 2);
  close(saved);
  close(fds[1]);
  char log[4096] = "";
  ssize_t n = read(fds[0], log, sizeof(log) - 1);
  close(fds[0]);
  log[n > 0 ? n : 0] = '\0';
  /* The takeover and three refusals in well under 10 s: one line. */
  const char *first = strstr(log, "msg=\"net connection refused\"");
  const char *eol = first ? strchr(first, '\n') : NULL;
  CHECK(strstr(log,
               "level=warn msg=\"net connection refused\" "
               "what=\"test address\"") != NULL);
  CHECK(first && strstr(first, "reason=taken_over unlogged_before=0") != NULL);
  CHECK(eol && strstr(eol, "net connection refused") == NULL);
  if (!eol || strstr(eol, "net connection refused"))
    fprintf(stderr, "  log: %s\n", log);
}

/* The third request is the last: it is told so, answered, and the rest of
 * the pipeline is not. */
static void test_max_requests(void) {
  struct ed_net_options o = options();
  o.limits.max_requests = 3;
  start(&o);
  int fd = dial();
  send_str(fd, "last\nlast\nlast\nping\n");
  expect_line(fd, "last=0");
  expect_line(fd, "last=0");
  expect_line(fd, "last=1");
  CHECK(sees_eof(fd));
  close(fd);
  stop();
}

/* A connection that keeps making requests is still closed at its
 * lifetime (between two requests, or told so in the reply of the last);
 * an idle one too. */
static void test_lifetime(void) {
  struct ed_net_options o = options();
  o.limits.max_lifetime_ms = 400;
  start(&o);
  uint64_t t0 = ed_now_ns();
  int busy = dial(), idle = dial();
  send_str(idle, "ping\n");
  expect_line(idle, "pong");
  int answered = 0, told = 0;
  char line[64];
  while (ms_since(t0) < 3000) {
    send_str(busy, "last\n");
    if (recv_line(busy, line, sizeof(line)) < 0) break;
    answered++;
    if (strcmp(line, "last=1") == 0) {
      told = 1;
      CHECK(sees_eof(busy));
      break;
    }
    CHECK_STR(line, "last=0");
    usleep(50 * 1000);
  }
  uint64_t ms = ms_since(t0);
  CHECK(answered >= 3);
  CHECK(ms >= 350 && ms < 1500);
  if (!told) CHECK_EQ(recv(busy, line, 1, 0), 0);
  CHECK(sees_eof(idle));
  CHECK(ms_since(t0) < 1500);
  close(busy);
  close(idle);
  stop();
}

/* A client pipelines 2,000 requests for 32 KiB each and never reads. The
 * write queue is checked before each request, so the server holds at most
 * out_max (64 KiB) plus one reply, answers only as many as fit, and keeps
 * serving everyone else. */
static void test_backpressure(void) {
  struct ed_net_options o = options();
  char line[200];
  o.limits.idle_ms = 600;
  start(&o);
  int hog = dial();
  for (int i = 0; i < 2000; i++) send_str(hog, "big 32768\n");
  usleep(200 * 1000);
  int other = dial();
  send_str(other, "ping\n");
  expect_line(other, "pong");
  close(other);
  ask_stats(line, sizeof(line));
  const char *p = strstr(line, "peak=");
  size_t peak = p ? strtoull(p + 5, NULL, 10) : 0;
  CHECK(peak > 0 && peak < 64 * 1024 + 32768);
  if (!(peak < 64 * 1024 + 32768)) fprintf(stderr, "  %s\n", line);
  /* Answered: what the socket buffers took plus the queue; far from all. */
  CHECK(atomic_load(&handled) < 1000);
  /* It never reads: the deadline closes it. What it can read afterwards is
   * what the socket buffers held (a few MiB on loopback), then the end;
   * had it not been closed, reading would let all 64 MiB through. */
  usleep(1500 * 1000);
  static char b[65536];
  ssize_t r;
  size_t total = 0;
  while ((r = recv(hog, b, sizeof(b), 0)) > 0) total += (size_t)r;
  CHECK(r == 0 || (r < 0 && errno == ECONNRESET));
  CHECK(total < 32u << 20);
  close(hog);
  /* A client that pipelines and reads gets every reply, in order. */
  int fd = dial();
  for (int i = 0; i < 300; i++) {
    char req[64];
    snprintf(req, sizeof(req), "big 20000\nseq %d\n", i);
    send_str(fd, req);
  }
  int ok = 0;
  for (int i = 0; i < 300; i++) {
    char want[24];
    static char big[20000];
    snprintf(want, sizeof(want), "%d\n", i);
    if (recv_exact(fd, big, sizeof(big)) && big[19998] == 'b' &&
        big[19999] == '\n' && recv_exact(fd, line, strlen(want)) &&
        memcmp(line, want, strlen(want)) == 0)
      ok++;
  }
  CHECK_EQ(ok, 300);
  close(fd);
  stop();
}

/* No complete request within idle_ms: a timeout reply, then EOF; an
 * oversized line: its reply arrives intact although the client's unread
 * input was still coming (linger, not a reset). */
static void test_deadline_and_linger(void) {
  struct ed_net_options o = options();
  o.limits.idle_ms = 200;
  start(&o);
  uint64_t t0 = ed_now_ns();
  int fd = dial();
  send_str(fd, "pin");
  expect_line(fd, "timeout");
  CHECK(sees_eof(fd));
  CHECK(ms_since(t0) >= 150 && ms_since(t0) < 2000);
  close(fd);
  fd = dial();
  static char big[200000];
  memset(big, 'x', sizeof(big) - 1);
  send_str(fd, big);
  expect_line(fd, "too_large");
  CHECK(sees_eof(fd));
  close(fd);
  stop();
}

/* Listen failures leave nothing behind and say what and why in one line. */
static void test_listen_errors(void) {
  struct ed_net_options o = options();
  struct ed_net_server *s2 = NULL;
  struct sockaddr_storage ss;
  char err[200], want[200];
  start(&o);
  snprintf(want, sizeof(want), "127.0.0.1:%u", port);
  CHECK_EQ(ed_net_parse_bind_addr(&ss, want, NULL), 0);
  uv_loop_t l2;
  uv_loop_init(&l2);
  CHECK_EQ(
      ed_net_listen_tcp(&s2, &l2, (struct sockaddr *)&ss, &o, err, sizeof(err)),
      ED_E_EXIST); /* in use: the caller may name the holder */
  CHECK(s2 == NULL);
  snprintf(want, sizeof(want),
           "cannot listen on test address 127.0.0.1:%u: address already in "
           "use",
           port);
  CHECK_STR(err, want);
  CHECK_EQ(uv_loop_close(&l2), 0); /* nothing was left open */
  stop();
}

static void test_unix_socket(void) {
  char path[96], err[300];
  struct ed_net_options o = options();
  struct ed_net_server *s1 = NULL, *s2 = NULL;
  struct stat st;
  uv_loop_t l;
  snprintf(path, sizeof(path), "%s/sub/t.sock", dir);
  uv_loop_init(&l);
  CHECK_EQ(ed_net_listen_unix(&s1, &l, path, &o, err, sizeof(err)), 0);
  CHECK_EQ(stat(path, &st), 0);
  CHECK_EQ(st.st_mode & 0777, 0600);
  /* A live socket is refused and left alone. */
  CHECK_EQ(ed_net_listen_unix(&s2, &l, path, &o, err, sizeof(err)), ED_E_EXIST);
  CHECK(strstr(err, "another process is listening there") != NULL);
  CHECK(strncmp(err, "cannot listen on test address ", 30) == 0);
  ed_net_server_free(s1);
  uv_run(&l, UV_RUN_DEFAULT);
  CHECK(access(path, F_OK) != 0); /* ours: removed */
  /* A dead socket file (a crashed run) is replaced. */
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
  CHECK_EQ(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  close(fd);
  CHECK_EQ(ed_net_listen_unix(&s1, &l, path, &o, err, sizeof(err)), 0);
  ed_net_server_free(s1);
  uv_run(&l, UV_RUN_DEFAULT);
  /* A regular file is never deleted. */
  CHECK_EQ(ed_write_file_atomic(path, "x", 1, 0600), 0);
  CHECK_EQ(ed_net_listen_unix(&s1, &l, path, &o, err, sizeof(err)), ED_E_EXIST);
  CHECK(strstr(err, "is not a socket") != NULL);
  CHECK_EQ(access(path, F_OK), 0);
  unlink(path);
  char longp[200];
  memset(longp, 'a', sizeof(longp) - 1);
  longp[0] = '/';
  longp[sizeof(longp) - 1] = '\0';
  CHECK_EQ(ed_net_listen_unix(&s1, &l, longp, &o, err, sizeof(err)),
           ED_E_TOOBIG);
  CHECK(strstr(err, "path longer than 107 bytes") != NULL);
  CHECK_EQ(uv_loop_close(&l), 0);
}

int main(void) {
  const char *t = getenv("TEST_TMPDIR");
  if (!t || strlen(t) > 40) t = "/tmp"; /* sun_path holds 107 bytes */
  snprintf(dir, sizeof(dir), "%s/net_test.XXXXXX", t);
  if (!mkdtemp(dir)) return 1;
  ed_log_set_level(ED_LOG_WARN);
  signal(SIGPIPE, SIG_IGN);
  RUN(test_order_and_hold);
  RUN(test_reserved_slot);
  RUN(test_per_client);
  RUN(test_per_client_reserved);
  RUN(test_max_requests);
  RUN(test_lifetime);
  RUN(test_backpressure);
  RUN(test_deadline_and_linger);
  RUN(test_listen_errors);
  RUN(test_unix_socket);
  char rm[128];
  snprintf(rm, sizeof(rm), "rm -rf '%s'", dir);
  CHECK_EQ(system(rm), 0);
  return TEST_RESULT();
}

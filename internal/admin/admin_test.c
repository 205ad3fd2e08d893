/* Unit tests for the admin socket server, against a fake handler. The uv
 * loop runs in a thread; the test talks to it with blocking sockets. */
#include "internal/admin/admin.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal/base/base.h"
#include "internal/testing/testing.h"

static char dir[64];
static char sock_path[80];
static uv_loop_t loop;
static uv_async_t stop_async;
static struct ed_admin *admin;
static struct ed_control_stats cstats;
static atomic_int big_replies; /* "metrics" requests the handler answered */

#define BIG_REPLY (64 * 1024)

/* ---- the fake handler ---------------------------------------------------- */

struct later {
  uv_timer_t timer;
  struct ed_admin_call *call;
};

static void on_later_closed(uv_handle_t *h) {
  free(h->data);
}

static void on_later(uv_timer_t *t) {
  struct later *l = t->data;
  cJSON *r = cJSON_CreateObject();
  cJSON_AddTrueToObject(r, "async");
  ed_admin_call_ok(l->call, r);
  uv_close((uv_handle_t *)&l->timer, on_later_closed);
}

static void fake_handler(void *arg, struct ed_admin_call *call,
                         const struct ed_admin_request *req) {
  (void)arg;
  if (req->cmd == ED_ADMIN_RELOAD) { /* answers 100 ms later */
    struct later *l = ed_calloc(1, sizeof(*l));
    l->call = call;
    uv_timer_init(&loop, &l->timer);
    l->timer.data = l;
    uv_timer_start(&l->timer, on_later, 100, 0);
    return;
  }
  if (req->cmd == ED_ADMIN_METRICS) { /* a large reply, like the real one */
    char *text = ed_malloc(BIG_REPLY);
    memset(text, 'm', BIG_REPLY - 1);
    text[BIG_REPLY - 1] = '\0';
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "text", text);
    free(text);
    atomic_fetch_add(&big_replies, 1);
    ed_admin_call_ok(call, r);
    return;
  }
  if (req->cmd == ED_ADMIN_SESSION) {
    ed_admin_call_fail(call, ED_ADMIN_ERR_NOT_FOUND, "no session %llu",
                       (unsigned long long)req->u.session.id);
    return;
  }
  cJSON *r = cJSON_CreateObject();
  cJSON_AddStringToObject(r, "cmd", ed_admin_cmd_name(req->cmd));
  ed_admin_call_ok(call, r);
}

/* ---- loop thread --------------------------------------------------------- */

static void on_stop(uv_async_t *a) {
  ed_admin_free(admin);
  uv_close((uv_handle_t *)a, NULL);
}

static void *loop_main(void *arg) {
  (void)arg;
  uv_run(&loop, UV_RUN_DEFAULT);
  return NULL;
}

static pthread_t start_server(uint32_t timeout_ms, uint32_t max_clients) {
  pthread_t th;
  char err[300] = "";
  uv_loop_init(&loop);
  uv_async_init(&loop, &stop_async, on_stop);
  struct ed_admin_options o = {.path = sock_path,
                               .stats = &cstats,
                               .handler = fake_handler,
                               .idle_timeout_ms = timeout_ms,
                               .max_clients = max_clients};
  CHECK_EQ(ed_admin_new(&admin, &loop, &o, err, sizeof(err)), 0);
  pthread_create(&th, NULL, loop_main, NULL);
  return th;
}

static void stop_server(pthread_t th) {
  uv_async_send(&stop_async);
  pthread_join(th, NULL);
  CHECK_EQ(uv_loop_close(&loop), 0);
}

/* ---- client side --------------------------------------------------------- */

static int dial(void) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
  struct timeval tv = {.tv_sec = 3};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  CHECK_EQ(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  return fd;
}

static void send_all(int fd, const char *s, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
    if (w <= 0) return;
    s += w;
    n -= (size_t)w;
  }
}

static void send_str(int fd, const char *s) {
  send_all(fd, s, strlen(s));
}

/* Reads one line (without '\n') into |out|; returns its length, or -1 on
 * EOF/timeout before a newline. */
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

/* Returns 1 if the server closed the connection (EOF) within the timeout. */
static int sees_eof(int fd) {
  char ch;
  return recv(fd, &ch, 1, 0) == 0;
}

/* ---- tests --------------------------------------------------------------- */

static void test_requests_in_order(void) {
  pthread_t th = start_server(2000, 0);
  struct stat st;
  CHECK_EQ(stat(sock_path, &st), 0);
  CHECK_EQ(st.st_mode & 0777, 0600);
  int fd = dial();
  char line[512];
  send_str(fd, "{\"cmd\":\"status\",\"id\":1}\n");
  CHECK(recv_line(fd, line, sizeof(line)) > 0);
  CHECK_STR(line, "{\"id\":1,\"ok\":true,\"result\":{\"cmd\":\"status\"}}");
  /* A slow request first: the fast one behind it must wait its turn. */
  send_str(fd,
           "{\"cmd\":\"reload\",\"id\":\"a\"}\n{\"cmd\":\"version\",\"id\":"
           "\"b\"}\nnot json\n{\"cmd\":\"session\",\"session\":5}\n");
  CHECK(recv_line(fd, line, sizeof(line)) > 0);
  CHECK_STR(line, "{\"id\":\"a\",\"ok\":true,\"result\":{\"async\":true}}");
  CHECK(recv_line(fd, line, sizeof(line)) > 0);
  CHECK_STR(line,
            "{\"id\":\"b\",\"ok\":true,\"result\":{\"cmd\":\"version\"}}");
  CHECK(recv_line(fd, line, sizeof(line)) > 0);
  CHECK(strstr(line, "\"code\":\"bad_request\"") != NULL);
  CHECK(recv_line(fd, line, sizeof(line)) > 0);
  CHECK_STR(line,
            "{\"ok\":false,\"error\":{\"code\":\"not_found\",\"message\":\"no "
            "session 5\"}}");
  /* The connection survived the bad lines. */
  send_str(fd, "{\"cmd\":\"certs\"}\r\n");
  CHECK(recv_line(fd, line, sizeof(line)) > 0);
  CHECK(strstr(line, "\"ok\":true") != NULL);
  close(fd);

  /* A client that leaves while its request is being handled. */
  fd = dial();
  send_str(fd, "{\"cmd\":\"reload\"}\n");
  close(fd);
  usleep(200 * 1000);
  stop_server(th);
  CHECK(access(sock_path, F_OK) != 0); /* removed at free */
  CHECK_EQ(cstats.admin_requests[ED_ADMIN_STATUS][1], 1);
  CHECK_EQ(cstats.admin_requests[ED_ADMIN_RELOAD][1], 2);
  CHECK_EQ(cstats.admin_requests[ED_ADMIN_SESSION][0], 1);
  CHECK_EQ(cstats.admin_requests[ED_ADMIN_UNKNOWN][0], 1);
}

static void test_half_close(void) {
  pthread_t th = start_server(2000, 0);
  int fd = dial();
  char line[512];
  /* Like `printf ... | socat - UNIX-CONNECT:...`: no newline, then EOF. */
  send_str(fd, "{\"cmd\":\"reload\"}\n{\"cmd\":\"status\"}");
  shutdown(fd, SHUT_WR);
  CHECK(recv_line(fd, line, sizeof(line)) > 0);
  CHECK(strstr(line, "async") != NULL);
  CHECK(recv_line(fd, line, sizeof(line)) > 0);
  CHECK(strstr(line, "\"cmd\":\"status\"") != NULL);
  CHECK(sees_eof(fd));
  close(fd);
  stop_server(th);
}

static void test_too_large(void) {
  pthread_t th = start_server(2000, 0);
  int fd = dial();
  size_t n = ED_ADMIN_MAX_LINE + 100;
  char *big = ed_malloc(n);
  memset(big, 'x', n);
  send_all(fd, big, n);
  char line[512];
  CHECK(recv_line(fd, line, sizeof(line)) > 0);
  CHECK(strstr(line, "\"code\":\"too_large\"") != NULL);
  CHECK(sees_eof(fd));
  close(fd);
  /* One byte over the limit with its newline in the same write: the same
   * error, and the connection closes too (not only when the newline is
   * late). */
  fd = dial();
  memset(big, ' ', ED_ADMIN_MAX_LINE + 1);
  memcpy(big, "{\"cmd\":\"status\"}", 16);
  big[ED_ADMIN_MAX_LINE + 1] = '\n';
  send_all(fd, big, ED_ADMIN_MAX_LINE + 2);
  CHECK(recv_line(fd, line, sizeof(line)) > 0);
  CHECK(strstr(line, "\"code\":\"too_large\"") != NULL);
  CHECK(sees_eof(fd));
  close(fd);
  /* Exactly the limit plus newline is one (bad) request, not too large. */
  fd = dial();
  memset(big, ' ', ED_ADMIN_MAX_LINE);
  memcpy(big, "{\"cmd\":\"status\"}", 16);
  big[ED_ADMIN_MAX_LINE] = '\n';
  send_all(fd, big, ED_ADMIN_MAX_LINE + 1);
  CHECK(recv_line(fd, line, sizeof(line)) > 0);
  CHECK(strstr(line, "\"ok\":true") != NULL);
  close(fd);
  free(big);
  stop_server(th);
}

static void test_silent_client_times_out(void) {
  pthread_t th = start_server(200, 0);
  uint64_t t0 = ed_now_ns();
  int fd = dial();
  char line[512];
  CHECK(recv_line(fd, line, sizeof(line)) > 0);
  CHECK(strstr(line, "\"code\":\"timeout\"") != NULL);
  CHECK(sees_eof(fd));
  uint64_t ms = (ed_now_ns() - t0) / 1000000;
  CHECK(ms >= 150 && ms < 2000);
  close(fd);
  /* An incomplete line is no better than silence. */
  fd = dial();
  send_str(fd, "{\"cmd\":\"sta");
  CHECK(recv_line(fd, line, sizeof(line)) > 0);
  CHECK(strstr(line, "\"code\":\"timeout\"") != NULL);
  CHECK(sees_eof(fd));
  close(fd);
  stop_server(th);
}

static void test_max_clients(void) {
  pthread_t th = start_server(2000, 2);
  int a = dial(), b = dial(), c = dial();
  char line[512];
  CHECK(recv_line(c, line, sizeof(line)) > 0);
  CHECK(strstr(line, "\"code\":\"busy\"") != NULL);
  CHECK(sees_eof(c));
  close(c);
  send_str(a, "{\"cmd\":\"status\"}\n");
  CHECK(recv_line(a, line, sizeof(line)) > 0);
  CHECK(strstr(line, "\"ok\":true") != NULL);
  close(a);
  close(b);
  stop_server(th);
}

/* The resident set of this process, in KiB (VmRSS). */
static long rss_kib(void) {
  char line[256];
  long kib = -1;
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return -1;
  while (fgets(line, sizeof(line), f))
    if (sscanf(line, "VmRSS: %ld kB", &kib) == 1) break;
  fclose(f);
  return kib;
}

/* A same-user client pipelines 1,000 requests with 64 KiB replies (18 KB
 * of input) and never reads. The write queue is looked at before each
 * line: about 1 MiB of replies is queued and the rest of the input waits,
 * instead of every line of each 16 KiB read being answered (~900 replies,
 * ~58 MiB, before the limit was looked at). Other clients are served
 * meanwhile, and the reader is closed when its deadline passes. */
static void test_pipelining_client_that_never_reads(void) {
  pthread_t th = start_server(1000, 0);
  static char req[1000 * 20];
  size_t n = 0;
  for (int i = 0; i < 1000; i++)
    n += (size_t)snprintf(req + n, sizeof(req) - n, "{\"cmd\":\"metrics\"}\n");
  long rss0 = rss_kib();
  atomic_store(&big_replies, 0);
  int hog = dial();
  int sndbuf = 1 << 20;
  setsockopt(hog, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
  send_all(hog, req, n);
  usleep(300 * 1000);
  int other = dial();
  char line[512];
  send_str(other, "{\"cmd\":\"status\"}\n");
  CHECK(recv_line(other, line, sizeof(line)) > 0);
  CHECK(strstr(line, "\"ok\":true") != NULL);
  close(other);
  int answered = atomic_load(&big_replies);
  long grown = rss_kib() - rss0;
  fprintf(stderr, "  answered %d of 1000, rss +%ld KiB\n", answered, grown);
  /* 1 MiB of queue is 16 replies; the socket buffers take a few more. */
  CHECK(answered > 0 && answered < 64);
  CHECK(grown < 16 * 1024);
  /* It never reads: closed at its deadline (1 s without progress), not kept
   * forever. What it can read afterwards is what the socket buffers held,
   * then the end (had it not been closed, reading would let all 64 MiB
   * through, or block). */
  usleep(2500 * 1000);
  struct timeval tv = {.tv_sec = 5};
  setsockopt(hog, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  static char buf[1 << 16];
  ssize_t r;
  size_t total = 0;
  while ((r = recv(hog, buf, sizeof(buf), 0)) > 0) total += (size_t)r;
  CHECK(r == 0 || (r < 0 && errno == ECONNRESET));
  CHECK(total < 4u << 20);
  close(hog);
  stop_server(th);
}

static void test_stale_and_live_socket(void) {
  char err[300] = "", want[300];
  /* A socket file nobody listens on (a crashed run) is replaced. */
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
  CHECK_EQ(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  close(fd);
  CHECK_EQ(access(sock_path, F_OK), 0);
  uv_loop_t l;
  uv_loop_init(&l);
  struct ed_admin *a1 = NULL, *a2 = NULL;
  struct ed_admin_options o = {.path = sock_path, .handler = fake_handler};
  CHECK_EQ(ed_admin_new(&a1, &l, &o, err, sizeof(err)), 0);
  /* A live one is an error, and is left alone. */
  CHECK_EQ(ed_admin_new(&a2, &l, &o, err, sizeof(err)), ED_E_EXIST);
  CHECK(a2 == NULL);
  CHECK_EQ(access(sock_path, F_OK), 0);
  /* One line for the caller to print: what, where and why. */
  snprintf(want, sizeof(want),
           "cannot listen on admin socket %s: another process is listening "
           "there",
           sock_path);
  CHECK_STR(err, want);
  ed_admin_free(a1);
  uv_run(&l, UV_RUN_DEFAULT);
  CHECK_EQ(uv_loop_close(&l), 0);
  /* A regular file at the path is never deleted. */
  CHECK_EQ(ed_write_file_atomic(sock_path, "x", 1, 0600), 0);
  uv_loop_init(&l);
  CHECK_EQ(ed_admin_new(&a2, &l, &o, err, sizeof(err)), ED_E_EXIST);
  CHECK_EQ(access(sock_path, F_OK), 0);
  CHECK(strstr(err, "exists and is not a socket") != NULL);
  unlink(sock_path);
  /* Missing parent directories are created 0700. */
  char nested[100];
  snprintf(nested, sizeof(nested), "%s/sub/dir/a.sock", dir);
  o.path = nested;
  CHECK_EQ(ed_admin_new(&a1, &l, &o, err, sizeof(err)), 0);
  struct stat st;
  snprintf(nested, sizeof(nested), "%s/sub/dir", dir);
  CHECK_EQ(stat(nested, &st), 0);
  CHECK_EQ(st.st_mode & 0777, 0700);
  ed_admin_free(a1);
  uv_run(&l, UV_RUN_DEFAULT);
  CHECK_EQ(uv_loop_close(&l), 0);
  /* Too long for sun_path. */
  char longp[200];
  memset(longp, 'a', sizeof(longp) - 1);
  longp[0] = '/';
  longp[sizeof(longp) - 1] = '\0';
  o.path = longp;
  uv_loop_init(&l);
  CHECK_EQ(ed_admin_new(&a1, &l, &o, err, sizeof(err)), ED_E_TOOBIG);
  CHECK(strstr(err, "path longer than 107 bytes") != NULL);
  CHECK_EQ(uv_loop_close(&l), 0);
}

int main(void) {
  /* sun_path holds 107 bytes: fall back to /tmp when TEST_TMPDIR is long. */
  const char *t = getenv("TEST_TMPDIR");
  if (!t || strlen(t) > 40) t = "/tmp";
  snprintf(dir, sizeof(dir), "%s/admin_test.XXXXXX", t);
  if (!mkdtemp(dir)) return 1;
  snprintf(sock_path, sizeof(sock_path), "%s/admin.sock", dir);
  ed_log_set_level(ED_LOG_WARN);
  signal(SIGPIPE, SIG_IGN); /* as in the server: a gone client is EPIPE */
  RUN(test_requests_in_order);
  RUN(test_half_close);
  RUN(test_too_large);
  RUN(test_silent_client_times_out);
  RUN(test_max_clients);
  RUN(test_pipelining_client_that_never_reads);
  RUN(test_stale_and_live_socket);
  char rm[128];
  snprintf(rm, sizeof(rm), "rm -rf '%s'", dir);
  CHECK_EQ(system(rm), 0);
  return TEST_RESULT();
}

/* internal/admin/admin.c — the admin Unix socket server (see admin.h). */
#include "internal/admin/admin.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal/base/base.h"

#define DEFAULT_TIMEOUT_MS 10000
#define DEFAULT_MAX_CLIENTS 16
#define READ_CHUNK (16 * 1024)
/* Room for one full line plus what a pipelining client sends meanwhile. */
#define INBUF_CAP (2 * ED_ADMIN_MAX_LINE + 2)
/* Replies queued to a client that does not read: stop reading it past this. */
#define WRITE_HIGH (1024 * 1024)

struct conn;

struct ed_admin {
  uv_loop_t *loop;
  uv_pipe_t listener;
  char *path;
  dev_t dev;
  ino_t ino;
  struct ed_control_stats *stats;
  ed_admin_handler_fn handler;
  void *handler_arg;
  uint32_t timeout_ms;
  uint32_t max_clients;
  uint32_t num_clients;
  uint64_t next_conn_id;
  struct conn *conns; /* doubly linked */
  int closing;
  int open_handles; /* listener + connections' handles not yet closed */
  char scratch[READ_CHUNK];
};

struct conn {
  struct ed_admin *admin;
  struct conn *prev, *next;
  uint64_t id;
  uv_pipe_t pipe;
  uv_timer_t timer;
  struct ed_buf in;
  struct ed_admin_call *pending; /* request being handled, or NULL */
  int open_handles;
  int closing;
  int close_after_flush; /* close once every queued write completes */
  int reading;
  int eof;        /* the client shut down its side; answer, then close */
  int processing; /* inside process(): completions must not recurse */
  uint32_t writes_queued;
};

struct ed_admin_call {
  struct conn *conn; /* NULL once the client has gone */
  enum ed_admin_cmd cmd;
  cJSON *id;
  struct ed_control_stats *stats;
};

struct write_req {
  uv_write_t req;
  char *data;
};

static void conn_close(struct conn *c);
static void process(struct conn *c);

/* ---- small helpers --------------------------------------------------------
 */

static void admin_release(struct ed_admin *a) {
  if (--a->open_handles > 0) return;
  free(a->path);
  free(a);
}

static uint32_t env_timeout_ms(void) {
  const char *v = getenv("ECHOD_ADMIN_TIMEOUT_MS");
  if (v && *v) {
    char *end;
    unsigned long n = strtoul(v, &end, 10);
    if (*end == '\0' && n > 0 && n <= 3600000) return (uint32_t)n;
  }
  return DEFAULT_TIMEOUT_MS;
}

static void count(struct ed_control_stats *st, enum ed_admin_cmd cmd, int ok) {
  if (st && (int)cmd >= 0 && cmd < ED_ADMIN_CMD_COUNT)
    st->admin_requests[cmd][ok ? 1 : 0]++;
}

/* ---- writing ------------------------------------------------------------- */

static void on_write(uv_write_t *req, int status) {
  struct write_req *w = (struct write_req *)req;
  struct conn *c = req->data;
  free(w->data);
  free(w);
  c->writes_queued--;
  if (status < 0 || c->closing) {
    if (!c->closing) conn_close(c);
    return;
  }
  uv_timer_again(&c->timer);
  if (c->close_after_flush && c->writes_queued == 0) {
    conn_close(c);
    return;
  }
  if (!c->processing) process(c); /* may resume reading */
}

/* Queues |line| (taken) to the client. */
static void conn_send(struct conn *c, char *line) {
  if (c->closing) {
    free(line);
    return;
  }
  struct write_req *w = ed_calloc(1, sizeof(*w));
  w->data = line;
  w->req.data = c;
  uv_buf_t b = uv_buf_init(line, (unsigned)strlen(line));
  int rc = uv_write(&w->req, (uv_stream_t *)&c->pipe, &b, 1, on_write);
  if (rc < 0) {
    free(line);
    free(w);
    conn_close(c);
    return;
  }
  c->writes_queued++;
}

/* Sends one error reply with no request behind it, then closes. */
static void conn_fail_close(struct conn *c, enum ed_admin_err code,
                            const char *msg) {
  conn_send(c, ed_admin_reply_error(NULL, code, msg));
  c->close_after_flush = 1;
  if (c->writes_queued == 0) conn_close(c);
}

/* ---- calls --------------------------------------------------------------- */

static void call_finish(struct ed_admin_call *call, char *line, int ok) {
  struct conn *c = call->conn;
  count(call->stats, call->cmd, ok);
  cJSON_Delete(call->id);
  free(call);
  if (!c) {
    free(line);
    return;
  }
  c->pending = NULL;
  conn_send(c, line);
  if (!c->processing && !c->closing) process(c);
}

void ed_admin_call_ok(struct ed_admin_call *call, cJSON *result) {
  call_finish(call, ed_admin_reply_ok(call->id, result), 1);
}

void ed_admin_call_fail(struct ed_admin_call *call, enum ed_admin_err code,
                        const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  call_finish(call, ed_admin_reply_error(call->id, code, msg), 0);
}

enum ed_admin_cmd ed_admin_call_cmd(const struct ed_admin_call *call) {
  return call->cmd;
}

/* ---- reading and dispatch ------------------------------------------------ */

static void handle_line(struct conn *c, const char *line, size_t len) {
  struct ed_admin *a = c->admin;
  struct ed_admin_request req;
  char err[256];
  enum ed_admin_err e = ed_admin_parse(&req, line, len, err, sizeof(err));
  if (e != ED_ADMIN_OK) {
    count(a->stats, req.cmd, 0);
    ED_DEBUG("admin bad request", "conn=%llu code=%s",
             (unsigned long long)c->id, ed_admin_err_name(e));
    conn_send(c, ed_admin_reply_error(req.id, e, err));
    ed_admin_request_cleanup(&req);
    /* An oversized line closes the connection however it arrived: with its
     * newline in the same read or not (see process()). */
    if (e == ED_ADMIN_ERR_TOO_LARGE) {
      c->close_after_flush = 1;
      if (c->writes_queued == 0) conn_close(c);
    }
    return;
  }
  struct ed_admin_call *call = ed_calloc(1, sizeof(*call));
  call->conn = c;
  call->cmd = req.cmd;
  call->id = req.id; /* moves */
  req.id = NULL;
  call->stats = a->stats;
  c->pending = call;
  ED_DEBUG("admin request", "conn=%llu cmd=%s", (unsigned long long)c->id,
           ed_admin_cmd_name(req.cmd));
  a->handler(a->handler_arg, call, &req);
  ed_admin_request_cleanup(&req);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  struct conn *c = h->data;
  (void)suggested;
  *buf = uv_buf_init(c->admin->scratch, sizeof(c->admin->scratch));
}

static void set_reading(struct conn *c, int on);

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  struct conn *c = s->data;
  if (n == 0) return;
  if (n == UV_EOF) {
    /* Half-close (echo ... | socat): answer what was sent, then close. A
     * last line without its newline still counts as a request. */
    c->eof = 1;
    set_reading(c, 0);
    if (c->in.len > 0 && c->in.data[c->in.len - 1] != '\n')
      (void)ed_buf_append(&c->in, "\n", 1);
    process(c);
    return;
  }
  if (n < 0) { /* reset: replies still queued are dropped */
    conn_close(c);
    return;
  }
  if (ed_buf_append(&c->in, buf->base, (size_t)n) != 0) {
    /* Only reachable if the buffer held no newline: one huge line. */
    conn_fail_close(c, ED_ADMIN_ERR_TOO_LARGE, "request line too large");
    return;
  }
  uv_timer_again(&c->timer);
  process(c);
}

static void set_reading(struct conn *c, int on) {
  if (c->closing || c->reading == on) return;
  c->reading = on;
  if (on)
    uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
  else
    uv_read_stop((uv_stream_t *)&c->pipe);
}

/* Handles every complete line, in order, one request at a time. */
static void process(struct conn *c) {
  c->processing = 1;
  while (!c->pending && !c->closing && !c->close_after_flush) {
    uint8_t *nl = c->in.len ? memchr(c->in.data, '\n', c->in.len) : NULL;
    if (!nl) {
      if (c->in.len > ED_ADMIN_MAX_LINE) {
        char msg[96];
        snprintf(msg, sizeof(msg), "request line longer than %d bytes",
                 ED_ADMIN_MAX_LINE);
        count(c->admin->stats, ED_ADMIN_UNKNOWN, 0);
        conn_fail_close(c, ED_ADMIN_ERR_TOO_LARGE, msg);
      }
      break;
    }
    size_t len = (size_t)(nl - c->in.data);
    handle_line(c, (const char *)c->in.data, len);
    ed_buf_consume(&c->in, len + 1);
  }
  c->processing = 0;
  if (c->closing || c->close_after_flush) return;
  if (c->eof) {
    if (!c->pending) {
      c->close_after_flush = 1;
      if (c->writes_queued == 0) conn_close(c);
    }
    return;
  }
  size_t queued = uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe);
  set_reading(c, ed_buf_space(&c->in) >= READ_CHUNK && queued < WRITE_HIGH);
}

static void on_timer(uv_timer_t *t) {
  struct conn *c = t->data;
  if (c->closing) return;
  if (c->pending) return; /* a handler is working; it has its own bounds */
  if (c->writes_queued > 0 || c->close_after_flush) {
    conn_close(c); /* the client is not reading what we send */
    return;
  }
  char msg[128];
  snprintf(msg, sizeof(msg), "no complete request within %u ms; closing",
           (unsigned)c->admin->timeout_ms);
  count(c->admin->stats, ED_ADMIN_UNKNOWN, 0);
  conn_fail_close(c, ED_ADMIN_ERR_TIMEOUT, msg);
}

/* ---- connection lifecycle ------------------------------------------------ */

static void on_conn_handle_closed(uv_handle_t *h) {
  struct conn *c = h->data;
  if (--c->open_handles > 0) return;
  struct ed_admin *a = c->admin;
  ed_buf_cleanup(&c->in);
  free(c);
  admin_release(a);
}

/* Reads and drops what the client sent but we never read: closing a Unix
 * socket with unread input resets it, and the client would lose the error
 * reply we just sent. Bounded; what arrives later is the client's loss. */
static void discard_input(struct conn *c) {
  uv_os_fd_t fd;
  char tmp[4096];
  if (uv_fileno((uv_handle_t *)&c->pipe, &fd) != 0) return;
  for (int i = 0; i < 64; i++)
    if (recv(fd, tmp, sizeof(tmp), MSG_DONTWAIT) <= 0) break;
}

static void conn_close(struct conn *c) {
  if (c->closing) return;
  c->closing = 1;
  if (c->close_after_flush) discard_input(c);
  struct ed_admin *a = c->admin;
  if (c->pending) c->pending->conn = NULL; /* its reply will be dropped */
  c->pending = NULL;
  if (c->prev)
    c->prev->next = c->next;
  else
    a->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  a->num_clients--;
  uv_timer_stop(&c->timer);
  uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
  uv_close((uv_handle_t *)&c->pipe, on_conn_handle_closed);
}

/* Returns 1 if the peer may use the socket: our uid or root. */
static int peer_allowed(struct conn *c) {
  uv_os_fd_t fd;
  struct ucred cred;
  socklen_t len = sizeof(cred);
  if (uv_fileno((uv_handle_t *)&c->pipe, &fd) != 0 ||
      getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    ED_WARN("admin peer credentials unreadable", "conn=%llu err=%d",
            (unsigned long long)c->id, errno);
    return 0;
  }
  if (cred.uid == geteuid() || cred.uid == 0) return 1;
  ED_WARN("admin peer refused", "conn=%llu uid=%u pid=%d server_uid=%u",
          (unsigned long long)c->id, (unsigned)cred.uid, (int)cred.pid,
          (unsigned)geteuid());
  return 0;
}

static void on_connection(uv_stream_t *server, int status) {
  struct ed_admin *a = server->data;
  if (status < 0 || a->closing) return;
  struct conn *c = ed_calloc(1, sizeof(*c));
  c->admin = a;
  c->id = ++a->next_conn_id;
  ed_buf_init(&c->in, INBUF_CAP);
  uv_pipe_init(a->loop, &c->pipe, 0);
  uv_timer_init(a->loop, &c->timer);
  c->pipe.data = c->timer.data = c;
  c->open_handles = 2;
  a->open_handles++;
  c->next = a->conns;
  if (a->conns) a->conns->prev = c;
  a->conns = c;
  a->num_clients++;
  uv_timer_start(&c->timer, on_timer, a->timeout_ms, a->timeout_ms);
  if (uv_accept(server, (uv_stream_t *)&c->pipe) != 0) {
    conn_close(c);
    return;
  }
  if (!peer_allowed(c)) {
    if (a->stats) a->stats->admin_refused_peers++;
    conn_fail_close(c, ED_ADMIN_ERR_FORBIDDEN,
                    "the admin socket accepts only the server's user or root");
    return;
  }
  if (a->num_clients > a->max_clients) {
    ED_WARN("admin connection refused", "reason=busy max_clients=%u",
            (unsigned)a->max_clients);
    conn_fail_close(c, ED_ADMIN_ERR_BUSY, "too many admin connections");
    return;
  }
  set_reading(c, 1);
}

/* ---- the listening socket ------------------------------------------------ */

/* Handles a file already at |path|: replaces a dead socket, refuses a live
 * one or anything that is not a socket. */
static int clear_stale(const char *path) {
  struct stat st;
  if (lstat(path, &st) != 0) return errno == ENOENT ? 0 : ED_E_IO;
  if (!S_ISSOCK(st.st_mode)) {
    ED_ERROR("admin socket path is taken", "path=%s reason=not_a_socket", path);
    return ED_E_EXIST;
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ED_E_SYS;
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
  int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
  int err = errno;
  close(fd);
  if (rc == 0 || (err != ECONNREFUSED && err != ENOENT)) {
    ED_ERROR("admin socket in use",
             "path=%s hint=\"another echod is running; stop it or pass "
             "--admin-socket\"",
             path);
    return ED_E_EXIST;
  }
  if (unlink(path) != 0 && errno != ENOENT) return ED_E_IO;
  ED_INFO("admin stale socket replaced", "path=%s", path);
  return 0;
}

static int prepare_path(const char *path) {
  struct sockaddr_un sa;
  if (strlen(path) >= sizeof(sa.sun_path)) {
    ED_ERROR("admin socket path too long", "path=%s max=%zu", path,
             sizeof(sa.sun_path) - 1);
    return ED_E_TOOBIG;
  }
  char *dir = ed_strdup(path);
  char *slash = strrchr(dir, '/');
  int rc = 0;
  if (slash && slash != dir) {
    *slash = '\0';
    struct stat st;
    if (stat(dir, &st) != 0) rc = ed_mkdir_p(dir, 0700);
  }
  if (rc)
    ED_ERROR("admin socket directory", "dir=%s err=%s", dir, ed_strerror(rc));
  free(dir);
  return rc ? rc : clear_stale(path);
}

/* Binds and listens. On failure the caller closes the listener (initialised
 * here first) and removes the socket file only if |*out_bound|: a bind that
 * failed (e.g. another server took the path meanwhile) left nothing of ours
 * there. */
static int listen_on(struct ed_admin *a, int *out_bound) {
  int rc = uv_pipe_init(a->loop, &a->listener, 0);
  *out_bound = 0;
  if (rc < 0) return ED_E_SYS;
  a->listener.data = a;
  a->open_handles = 1;
  struct stat st;
  if ((rc = uv_pipe_bind(&a->listener, a->path)) < 0) {
    ED_ERROR("admin socket bind failed", "path=%s err=%s", a->path,
             uv_strerror(rc));
    return rc == UV_EADDRINUSE ? ED_E_EXIST : ED_E_SYS;
  }
  *out_bound = 1;
  /* Before listen() nobody can connect, so the mode is set in time. */
  if (chmod(a->path, 0600) != 0 || stat(a->path, &st) != 0) {
    ED_ERROR("admin socket chmod failed", "path=%s errno=%d", a->path, errno);
    return ED_E_SYS;
  }
  a->dev = st.st_dev;
  a->ino = st.st_ino;
  if ((rc = uv_listen((uv_stream_t *)&a->listener, 16, on_connection)) < 0) {
    ED_ERROR("admin socket listen failed", "path=%s err=%s", a->path,
             uv_strerror(rc));
    return ED_E_SYS;
  }
  return 0;
}

static void on_listener_closed(uv_handle_t *h) {
  admin_release(h->data);
}

int ed_admin_new(struct ed_admin **out, uv_loop_t *loop,
                 const struct ed_admin_options *opts) {
  *out = NULL;
  if (!opts->path || !*opts->path || !opts->handler) return ED_E_INVAL;
  int rc = prepare_path(opts->path);
  if (rc) return rc;
  struct ed_admin *a = ed_calloc(1, sizeof(*a));
  a->loop = loop;
  a->path = ed_strdup(opts->path);
  a->stats = opts->stats;
  a->handler = opts->handler;
  a->handler_arg = opts->handler_arg;
  a->timeout_ms =
      opts->idle_timeout_ms ? opts->idle_timeout_ms : env_timeout_ms();
  a->max_clients = opts->max_clients ? opts->max_clients : DEFAULT_MAX_CLIENTS;
  int bound = 0;
  if ((rc = listen_on(a, &bound)) != 0) {
    a->closing = 1;
    if (bound) unlink(a->path);
    if (a->open_handles) {
      uv_close((uv_handle_t *)&a->listener, on_listener_closed);
    } else { /* uv_pipe_init failed: there is no handle to close */
      free(a->path);
      free(a);
    }
    return rc;
  }
  ED_INFO("admin listening", "path=%s", a->path);
  *out = a;
  return 0;
}

void ed_admin_free(struct ed_admin *a) {
  if (!a || a->closing) return;
  a->closing = 1;
  struct stat st;
  /* Remove the file only if nobody replaced it meanwhile. */
  if (stat(a->path, &st) == 0 && st.st_dev == a->dev && st.st_ino == a->ino)
    unlink(a->path);
  while (a->conns) conn_close(a->conns);
  uv_close((uv_handle_t *)&a->listener, on_listener_closed);
}

const char *ed_admin_path(const struct ed_admin *a) {
  return a->path;
}

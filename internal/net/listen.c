/* internal/net — listeners: TCP and Unix sockets, set up with plain system
 * calls so that a failure leaves nothing open and says why in one line;
 * libuv takes the descriptor only once it listens (see net.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal/net/net_internal.h"

#define BACKLOG 128

static int fail(char *err, size_t err_len, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t err_len, int rc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (err && err_len) vsnprintf(err, err_len, fmt, ap);
  va_end(ap);
  return rc;
}

/* errno as libuv words it ("address already in use"). */
static const char *sys_reason(int e) {
  return uv_strerror(-e);
}

struct ed_net_server *ed_net__server_new(uv_loop_t *loop,
                                         const struct ed_net_options *o) {
  struct ed_net_server *s = ed_calloc(1, sizeof(*s));
  s->loop = loop;
  s->lim = o->limits;
  s->h = o->handler;
  snprintf(s->what, sizeof(s->what), "%s", o->what ? o->what : "listener");
  if (s->lim.max_conns == 0) s->lim.max_conns = 1;
  if (s->lim.idle_ms == 0) s->lim.idle_ms = 10000;
  if (s->lim.in_max == 0) s->lim.in_max = ED_NET__READ_CHUNK;
  if (s->lim.out_max == 0) s->lim.out_max = 1u << 20;
  if (s->lim.reserved && s->lim.reserved_deadline_ms == 0)
    s->lim.reserved_deadline_ms = s->lim.idle_ms;
  return s;
}

void ed_net__server_release(struct ed_net_server *s) {
  if (--s->handles > 0 || !s->stopping) return;
  if (s->h.on_stopped) s->h.on_stopped(s->h.arg);
  free(s->path);
  free(s);
}

static void on_listener_closed(uv_handle_t *h) {
  ed_net__server_release(h->data);
}

/* Hands the listening |fd| to libuv. On failure closes what it opened and
 * frees |s| (asynchronously if a handle was made; no on_stopped). */
static int start(struct ed_net_server *s, int fd, char *err, size_t err_len,
                 const char *what, const char *where) {
  int rc = s->is_unix ? uv_pipe_init(s->loop, &s->listener.pipe, 0)
                      : uv_tcp_init(s->loop, &s->listener.tcp);
  if (rc != 0) {
    close(fd);
    free(s->path);
    free(s);
    return fail(err, err_len, ED_E_SYS, "cannot listen on %s %s: %s", what,
                where, uv_strerror(rc));
  }
  s->listener.handle.data = s;
  s->handles = 1;
  rc = s->is_unix ? uv_pipe_open(&s->listener.pipe, fd)
                  : uv_tcp_open(&s->listener.tcp, fd);
  if (rc != 0) close(fd);
  if (rc == 0)
    rc = uv_listen(&s->listener.stream, BACKLOG, ed_net__on_connection);
  if (rc != 0) {
    s->stopping = 1;
    s->listener_closed = 1;
    s->h.on_stopped = NULL;
    uv_close(&s->listener.handle, on_listener_closed);
    return fail(err, err_len, ED_E_SYS, "cannot listen on %s %s: %s", what,
                where, uv_strerror(rc));
  }
  return 0;
}

int ed_net_listen_tcp(struct ed_net_server **out, uv_loop_t *loop,
                      const struct sockaddr *addr,
                      const struct ed_net_options *opts, char *err,
                      size_t err_len) {
  char where[ED_NET_ADDR_MAX];
  socklen_t len = addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                              : sizeof(struct sockaddr_in);
  int one = 1, fd;
  *out = NULL;
  ed_net_format_addr(where, sizeof(where), addr);
  fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0 ||
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
      bind(fd, addr, len) != 0 || listen(fd, BACKLOG) != 0) {
    int e = errno;
    if (fd >= 0) close(fd);
    return fail(err, err_len, e == EADDRINUSE ? ED_E_EXIST : ED_E_SYS,
                "cannot listen on %s %s: %s", opts->what, where, sys_reason(e));
  }
  struct ed_net_server *s = ed_net__server_new(loop, opts);
  len = sizeof(s->bound);
  getsockname(fd, (struct sockaddr *)&s->bound, &len);
  int rc = start(s, fd, err, err_len, opts->what, where);
  if (rc == 0) *out = s;
  return rc;
}

/* ---- Unix sockets -------------------------------------------------------- */

/* A socket file already at |path|: a dead one (a crashed run) is removed;
 * a live one, or anything that is not a socket, is refused. A removed one
 * writes, at start:
 *   level=info msg="stale socket replaced" path=/run/echod/admin.sock */
static int clear_stale(const char *path, const char *what, char *err,
                       size_t err_len) {
  struct stat st;
  if (lstat(path, &st) != 0) {
    if (errno == ENOENT) return 0;
    return fail(err, err_len, ED_E_IO, "cannot listen on %s %s: %s", what, path,
                sys_reason(errno));
  }
  if (!S_ISSOCK(st.st_mode))
    return fail(err, err_len, ED_E_EXIST,
                "cannot listen on %s %s: the path exists and is not a socket",
                what, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return fail(err, err_len, ED_E_SYS, "socket: %s", sys_reason(errno));
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
  int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
  int e = errno;
  close(fd);
  if (rc == 0 || (e != ECONNREFUSED && e != ENOENT))
    return fail(err, err_len, ED_E_EXIST,
                "cannot listen on %s %s: another process is listening there",
                what, path);
  if (unlink(path) != 0 && errno != ENOENT)
    return fail(err, err_len, ED_E_IO, "cannot listen on %s %s: %s", what, path,
                sys_reason(errno));
  char q[1024];
  ED_INFO("stale socket replaced", "path=%s", ed_logq(q, sizeof(q), path));
  return 0;
}

/* Checks the length, creates a missing parent directory 0700, clears a
 * stale socket. */
static int prepare_path(const char *path, const char *what, char *err,
                        size_t err_len) {
  struct sockaddr_un sa;
  if (strlen(path) >= sizeof(sa.sun_path))
    return fail(err, err_len, ED_E_TOOBIG,
                "cannot listen on %s %s: path longer than %zu bytes", what,
                path, sizeof(sa.sun_path) - 1);
  char *dir = ed_strdup(path);
  char *slash = strrchr(dir, '/');
  struct stat st;
  int rc = 0;
  if (slash && slash != dir) {
    *slash = '\0';
    if (stat(dir, &st) != 0) rc = ed_mkdir_p(dir, 0700);
  }
  if (rc)
    fail(err, err_len, rc, "cannot listen on %s %s: cannot create %s: %s", what,
         path, dir, ed_strerror(rc));
  free(dir);
  return rc ? rc : clear_stale(path, what, err, err_len);
}

/* Binds, sets the mode (before listen(), so nobody connects earlier) and
 * listens. Returns the descriptor, or a negative ED_E_* code having
 * removed what it bound. */
static int bind_unix(const char *path, unsigned mode, struct stat *out_st,
                     const char *what, char *err, size_t err_len) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return fail(err, err_len, ED_E_SYS, "socket: %s", sys_reason(errno));
  if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
    int e = errno; /* e.g. another server took the path meanwhile */
    close(fd);
    return fail(err, err_len, e == EADDRINUSE ? ED_E_EXIST : ED_E_SYS,
                "cannot listen on %s %s: %s", what, path, sys_reason(e));
  }
  if (chmod(path, mode) != 0 || stat(path, out_st) != 0 ||
      listen(fd, BACKLOG) != 0) {
    int e = errno;
    close(fd);
    unlink(path);
    return fail(err, err_len, ED_E_SYS, "cannot listen on %s %s: %s", what,
                path, sys_reason(e));
  }
  return fd;
}

int ed_net_listen_unix(struct ed_net_server **out, uv_loop_t *loop,
                       const char *path, const struct ed_net_options *opts,
                       char *err, size_t err_len) {
  struct stat st;
  *out = NULL;
  int rc = prepare_path(path, opts->what, err, err_len);
  if (rc) return rc;
  int fd = bind_unix(path, opts->unix_mode ? opts->unix_mode : 0600, &st,
                     opts->what, err, err_len);
  if (fd < 0) return fd;
  struct ed_net_server *s = ed_net__server_new(loop, opts);
  s->is_unix = 1;
  s->path = ed_strdup(path);
  s->dev = st.st_dev;
  s->ino = st.st_ino;
  rc = start(s, fd, err, err_len, opts->what, path);
  if (rc != 0) {
    unlink(path);
    return rc;
  }
  *out = s;
  return 0;
}

/* ---- the server ---------------------------------------------------------- */

void ed_net_server_address(const struct ed_net_server *s, char *out,
                           size_t out_len) {
  if (s->is_unix)
    snprintf(out, out_len, "%s", s->path);
  else
    ed_net_format_addr(out, out_len, (const struct sockaddr *)&s->bound);
}

uint16_t ed_net_server_port(const struct ed_net_server *s) {
  return s->is_unix ? 0 : ed_net_addr_port((const struct sockaddr *)&s->bound);
}

int ed_net_listen_fd(struct ed_net_server **out, uv_loop_t *loop, int fd,
                     const struct ed_net_options *opts, char *err,
                     size_t err_len) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  struct stat st;
  *out = NULL;
  if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
    int e = errno;
    close(fd);
    return fail(err, err_len, ED_E_SYS, "cannot serve the %s handed over: %s",
                opts->what, sys_reason(e));
  }
  struct ed_net_server *s = ed_net__server_new(loop, opts);
  char where[ED_NET_ADDR_MAX + 108];
  if (ss.ss_family == AF_UNIX) {
    const struct sockaddr_un *sa = (const struct sockaddr_un *)&ss;
    s->is_unix = 1;
    s->path =
        ed_strndup(sa->sun_path, strnlen(sa->sun_path, sizeof(sa->sun_path)));
    if (stat(s->path, &st) == 0) s->dev = st.st_dev, s->ino = st.st_ino;
    snprintf(where, sizeof(where), "%s", s->path);
  } else {
    s->bound = ss;
    ed_net_format_addr(where, sizeof(where), (struct sockaddr *)&ss);
  }
  int rc = start(s, fd, err, err_len, opts->what, where);
  if (rc == 0) *out = s;
  return rc;
}

int ed_net_server_listen_fd(const struct ed_net_server *s) {
  uv_os_fd_t fd = -1;
  if (s->listener_closed ||
      uv_fileno((const uv_handle_t *)&s->listener.handle, &fd) != 0)
    return -1;
  return fd;
}

void ed_net_server_handed_over(struct ed_net_server *s) {
  s->handed_over = 1;
  if (s->listener_closed) return;
  s->listener_closed = 1;
  uv_close(&s->listener.handle, on_listener_closed);
}

void ed_net_server_free(struct ed_net_server *s) {
  if (!s || s->stopping) return;
  s->stopping = 1;
  struct stat st;
  /* Remove the file only if nobody replaced it meanwhile, and it was not
   * handed to the process that serves it now. */
  if (s->is_unix && !s->handed_over && stat(s->path, &st) == 0 &&
      st.st_dev == s->dev && st.st_ino == s->ino)
    unlink(s->path);
  ed_net__close_all(s);
  if (!s->listener_closed) {
    s->listener_closed = 1;
    uv_close(&s->listener.handle, on_listener_closed);
  } else if (s->handles == 0) {
    s->handles = 1; /* nothing left to close: stop now */
    ed_net__server_release(s);
  }
}

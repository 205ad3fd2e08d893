/* internal/echoctl — arguments, the socket exchange and main (see
 * echoctl.h). Human formatting lives in format.c. */
#include "internal/echoctl/echoctl.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal/admin/proto.h"
#include "internal/base/base.h"
#include "internal/version/tool.h"

#define MAX_REPLY (64 * 1024 * 1024)
/* The longest --timeout honoured (a year); longer ones wait this long. */
#define MAX_TIMEOUT_S (365.0 * 86400.0)
/* poll() takes an int of milliseconds: wait in slices no longer than this. */
#define MAX_POLL_MS 60000

const char *ed_echoctl_usage(void) {
  return "usage: echoctl [--socket PATH | --state-dir DIR] [--json] "
         "[--timeout DUR] COMMAND [ARGS]\n"
         "       echoctl --help | --version\n"
         "\n"
         "Talks to a running echod over its admin socket. Without --socket\n"
         "or --state-dir it uses the first that answers of\n"
         "$ECHOD_ADMIN_SOCKET, <state dir>/admin.sock (where the server puts\n"
         "it), /run/echod/admin.sock (the systemd unit) and\n"
         "/var/lib/echod/admin.sock.\n"
         "\n"
         "commands:\n"
         "  status                       server state, counters, reload, "
         "certificates\n"
         "  sessions [--cn CN] [--state STATE] [--older-than DUR] "
         "[--limit N]\n"
         "                               open sessions (STATE: accepted,\n"
         "                               handshaking, established, closing)\n"
         "  session ID                   one session in detail\n"
         "  kill ID | kill --cn CN       close sessions (close_notify)\n"
         "  certs                        server certificate, CA and CRL\n"
         "  reload [--check]             reload cert/key/CA/CRL (--check: "
         "validate only)\n"
         "  drain [--timeout DUR] [--delay DUR] [--sessions close|finish]\n"
         "                               stop accepting (after --delay, "
         "while\n"
         "                               /readyz says 503), close sessions "
         "(finish:\n"
         "                               let them end first), exit\n"
         "  upgrade                      start the new echod on the same "
         "sockets,\n"
         "                               then drain this one (no connection "
         "refused)\n"
         "  log-level [LEVEL]            show or set: debug, info, warn, "
         "error\n"
         "  version                      server version\n"
         "  metrics                      Prometheus text, as /metrics\n"
         "\n"
         "DUR is seconds or a number with ms, s, m, h or d (\"90s\", "
         "\"5m\"; at most\n"
         "30d for --older-than and drain --timeout). Arguments are checked\n"
         "before anything is sent. Relative paths are relative to the\n"
         "directory the command runs in (the one `bazel run` was typed in).\n"
         "Human output shows control bytes, C1 and bidirectional controls\n"
         "and non-UTF-8 bytes in names as \\xNN (a backslash as \\\\);\n"
         "--json prints the server's reply unchanged.\n"
         "exit status: 0 ok, 1 the server replied with an error, 2 usage,\n"
         "3 the server could not be reached.\n";
}

int ed_echoctl_parse_duration(double *out_s, const char *s) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || errno || !isfinite(v) || v < 0) return ED_E_INVAL;
  double mult = 1;
  if (strcmp(end, "ms") == 0)
    mult = 0.001;
  else if (strcmp(end, "") == 0 || strcmp(end, "s") == 0)
    mult = 1;
  else if (strcmp(end, "m") == 0)
    mult = 60;
  else if (strcmp(end, "h") == 0)
    mult = 3600;
  else if (strcmp(end, "d") == 0)
    mult = 86400;
  else
    return ED_E_INVAL;
  *out_s = v * mult;
  return 0;
}

/* ---- argument parsing ---------------------------------------------------- */

struct argp {
  int argc, i;
  char **argv;
  char *err;
  size_t err_len;
};

static int usage_err(struct argp *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int usage_err(struct argp *p, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p->err, p->err_len, fmt, ap);
  va_end(ap);
  return ED_E_USAGE;
}

/* For "--name VALUE" and "--name=VALUE": returns the value or NULL. */
static const char *opt_value(struct argp *p, const char *name) {
  const char *a = p->argv[p->i];
  size_t n = strlen(name);
  if (strncmp(a, name, n) != 0) return NULL;
  if (a[n] == '=') return a + n + 1;
  if (a[n] != '\0') return NULL;
  if (p->i + 1 >= p->argc) return NULL;
  return p->argv[++p->i];
}

static int is_opt(struct argp *p, const char *name) {
  const char *a = p->argv[p->i];
  size_t n = strlen(name);
  return strncmp(a, name, n) == 0 && (a[n] == '\0' || a[n] == '=');
}

/* known_state: |s| is a state a sessions filter may name (the server's
 * own list, internal/loop/loop_types.h). */
static int known_state(const char *s) {
  enum ed_session_state st;
  return ed_session_state_parse(&st, s) == 0;
}

/* admin_seconds: |s| is a duration the server takes (0 to
 * ED_ADMIN_MAX_SECONDS); sets |*out| in seconds. */
static int admin_seconds(double *out, const char *s) {
  return ed_echoctl_parse_duration(out, s) == 0 && *out <= ED_ADMIN_MAX_SECONDS;
}

/* session_id: |s| is a session id the server takes: 1 to 2^64-1, in
 * decimal digits. */
static int session_id(const char *s) {
  size_t n = strspn(s, "0123456789");
  if (n == 0 || n > 20 || s[n] != '\0') return 0;
  errno = 0;
  unsigned long long v = strtoull(s, NULL, 10);
  return errno == 0 && v > 0;
}

/* Refuses an option given twice: the server would refuse the request's
 * duplicated field, and that is a usage error, not the server's. */
static int once(struct argp *p, const cJSON *req, const char *field) {
  if (!cJSON_GetObjectItemCaseSensitive(req, field)) return 0;
  return usage_err(p, "%s given twice", p->argv[p->i]);
}

/* Adds one command option to |req|. Returns 0, 1 if not ours, or
 * ED_E_USAGE. */
static int command_opt(struct argp *p, const char *cmd, cJSON *req) {
  static const char *const fields[][2] = {{"--cn", "cn"},
                                          {"--state", "state"},
                                          {"--older-than", "older_than"},
                                          {"--limit", "limit"},
                                          {"--check", "check"},
                                          {"--timeout", "timeout"},
                                          {"--delay", "delay"},
                                          {"--sessions", "sessions"}};
  for (size_t k = 0; k < sizeof(fields) / sizeof(fields[0]); k++)
    if (is_opt(p, fields[k][0]) && once(p, req, fields[k][1]))
      return ED_E_USAGE;
  const char *v;
  double d;
  int sessions = strcmp(cmd, "sessions") == 0;
  int kill = strcmp(cmd, "kill") == 0;
  if ((sessions || kill) && is_opt(p, "--cn")) {
    if (!(v = opt_value(p, "--cn")) || !*v)
      return usage_err(p, "--cn needs a CN");
    cJSON_AddStringToObject(req, "cn", v);
  } else if (sessions && is_opt(p, "--state")) {
    if (!(v = opt_value(p, "--state")) || !known_state(v))
      return usage_err(p,
                       "--state \"%s\" is not a session state (accepted, "
                       "handshaking, established or closing)",
                       v ? v : "");
    cJSON_AddStringToObject(req, "state", v);
  } else if (sessions && is_opt(p, "--older-than")) {
    if (!(v = opt_value(p, "--older-than")) || !admin_seconds(&d, v))
      return usage_err(p,
                       "--older-than needs a duration like 30s or 5m (at "
                       "most 30d)");
    cJSON_AddNumberToObject(req, "older_than", d);
  } else if (sessions && is_opt(p, "--limit")) {
    char *end;
    errno = 0;
    long n = (v = opt_value(p, "--limit")) ? strtol(v, &end, 10) : 0;
    if (!v || !*v || *end || errno || n < 1 || n > ED_ADMIN_SESSIONS_MAX_LIMIT)
      return usage_err(p, "--limit needs a count from 1 to %d",
                       ED_ADMIN_SESSIONS_MAX_LIMIT);
    cJSON_AddNumberToObject(req, "limit", (double)n);
  } else if (strcmp(cmd, "reload") == 0 &&
             strcmp(p->argv[p->i], "--check") == 0) {
    cJSON_AddTrueToObject(req, "check");
  } else if (strcmp(cmd, "drain") == 0 && is_opt(p, "--timeout")) {
    if (!(v = opt_value(p, "--timeout")) || !admin_seconds(&d, v))
      return usage_err(p,
                       "drain --timeout needs a duration like 30s (at most "
                       "30d)");
    cJSON_AddNumberToObject(req, "timeout", d);
  } else if (strcmp(cmd, "drain") == 0 && is_opt(p, "--delay")) {
    if (!(v = opt_value(p, "--delay")) || !admin_seconds(&d, v))
      return usage_err(p,
                       "drain --delay needs a duration like 5s (at most 30d)");
    cJSON_AddNumberToObject(req, "delay", d);
  } else if (strcmp(cmd, "drain") == 0 && is_opt(p, "--sessions")) {
    if (!(v = opt_value(p, "--sessions")) ||
        (strcmp(v, "close") && strcmp(v, "finish")))
      return usage_err(p, "drain --sessions is close or finish");
    cJSON_AddStringToObject(req, "sessions", v);
  } else {
    return 1;
  }
  return 0;
}

/* Adds the command's positional argument (session id, log level). */
static int command_pos(struct argp *p, const char *cmd, cJSON *req) {
  const char *a = p->argv[p->i];
  if (strcmp(cmd, "session") == 0 || strcmp(cmd, "kill") == 0) {
    if (cJSON_GetObjectItem(req, "session") || !session_id(a))
      return usage_err(p,
                       "%s takes one numeric session id (from echoctl "
                       "sessions), not \"%s\"",
                       cmd, a);
    cJSON_AddStringToObject(req, "session", a);
    return 0;
  }
  enum ed_log_level level;
  if (strcmp(cmd, "log-level") == 0 && !cJSON_GetObjectItem(req, "level")) {
    if (ed_log_level_parse(&level, a) != 0)
      return usage_err(p,
                       "log-level \"%s\" is not a level (debug, info, warn "
                       "or error)",
                       a);
    cJSON_AddStringToObject(req, "level", a);
    return 0;
  }
  return usage_err(p, "unexpected argument \"%s\" for %s (see --help)", a, cmd);
}

static const char *const known_cmds[] = {
    "status", "sessions",  "session", "kill",    "certs",  "reload",
    "drain",  "log-level", "version", "metrics", "upgrade"};

static int known_cmd(const char *c) {
  for (size_t i = 0; i < sizeof(known_cmds) / sizeof(*known_cmds); i++)
    if (strcmp(c, known_cmds[i]) == 0) return 1;
  return 0;
}

/* Global options, valid anywhere. Returns 0, 1 if not global, or error. */
static int global_opt(struct argp *p, struct ed_echoctl_args *out,
                      char *state_dir, size_t sd_len) {
  const char *v;
  /* After "drain", --timeout is drain's own option. */
  int drain = strcmp(out->cmd, "drain") == 0;
  char *path = NULL;
  if (strcmp(p->argv[p->i], "--json") == 0) {
    out->json = 1;
  } else if (strcmp(p->argv[p->i], "--help") == 0 ||
             strcmp(p->argv[p->i], "-h") == 0) {
    out->help = 1;
  } else if (strcmp(p->argv[p->i], "--version") == 0) {
    out->version = 1;
  } else if (is_opt(p, "--socket")) {
    if (!(v = opt_value(p, "--socket")) || !*v)
      return usage_err(p, "--socket needs a path");
    path = ed_path_resolve(NULL, v); /* the user's directory under bazel */
    int n = snprintf(out->socket, sizeof(out->socket), "%s", path);
    free(path);
    if (n < 0 || (size_t)n >= sizeof(out->socket))
      return usage_err(p, "--socket path %s is longer than %zu bytes", v,
                       sizeof(out->socket) - 1);
  } else if (is_opt(p, "--state-dir")) {
    if (!(v = opt_value(p, "--state-dir")) || !*v)
      return usage_err(p, "--state-dir needs a directory");
    path = ed_path_resolve(NULL, v);
    snprintf(state_dir, sd_len, "%s", path);
    free(path);
  } else if (!drain && is_opt(p, "--timeout")) {
    if (!(v = opt_value(p, "--timeout")) ||
        ed_echoctl_parse_duration(&out->timeout_s, v) != 0 ||
        out->timeout_s <= 0)
      return usage_err(p, "--timeout needs a duration like 10s");
  } else {
    return 1;
  }
  return 0;
}

/* An explicit --socket or --state-dir names the only place to look;
 * without either, out->socket stays "" and the exchange searches
 * ed_echoctl_socket_places. */
static int resolve_socket(struct ed_echoctl_args *out, struct argp *p,
                          const char *state_dir) {
  if (out->socket[0] || !state_dir[0]) return 0;
  int n =
      snprintf(out->socket, sizeof(out->socket), "%s/admin.sock", state_dir);
  if (n < 0 || (size_t)n >= sizeof(out->socket))
    return usage_err(p, "socket path %s/admin.sock is too long; use --socket",
                     state_dir);
  return 0;
}

static int parse_loop(struct argp *p, struct ed_echoctl_args *out, cJSON *req,
                      char *state_dir, size_t sd_len) {
  for (p->i = 1; p->i < p->argc; p->i++) {
    const char *a = p->argv[p->i];
    int rc = global_opt(p, out, state_dir, sd_len);
    if (rc <= 0) {
      if (rc < 0) return rc;
      continue;
    }
    if (!out->cmd[0]) {
      if (a[0] == '-') return usage_err(p, "unknown option %s (see --help)", a);
      if (!known_cmd(a))
        return usage_err(p, "unknown command \"%s\" (see --help)", a);
      snprintf(out->cmd, sizeof(out->cmd), "%s", a);
      continue;
    }
    rc = command_opt(p, out->cmd, req);
    if (rc == 1 && a[0] == '-')
      return usage_err(p, "unknown option %s for %s (see --help)", a, out->cmd);
    if (rc == 1) rc = command_pos(p, out->cmd, req);
    if (rc < 0) return rc;
  }
  return 0;
}

/* check_request runs the server's own parser over |request|: whatever it
 * would refuse as a bad request is a usage error here, with no round trip
 * (the checks above say it better; this keeps the two from drifting). */
static int check_request(struct argp *p, const char *request) {
  struct ed_admin_request r;
  char why[256];
  enum ed_admin_err e =
      ed_admin_parse(&r, request, strlen(request), why, sizeof(why));
  ed_admin_request_cleanup(&r);
  if (e == ED_ADMIN_OK) return 0;
  return usage_err(p, "%s (see --help)", why);
}

int ed_echoctl_parse_args(struct ed_echoctl_args *out, int argc, char **argv,
                          char *err, size_t err_len) {
  struct argp p = {argc, 1, argv, err, err_len};
  char state_dir[512] = "";
  memset(out, 0, sizeof(*out));
  out->timeout_s = 30;
  err[0] = '\0';
  cJSON *req = cJSON_CreateObject();
  int rc = parse_loop(&p, out, req, state_dir, sizeof(state_dir));
  if (rc == 0 && (out->help || out->version)) {
    cJSON_Delete(req);
    return 0;
  }
  if (rc == 0 && !out->cmd[0]) rc = usage_err(&p, "no command (see --help)");
  if (rc == 0 && strcmp(out->cmd, "session") == 0 &&
      !cJSON_GetObjectItem(req, "session"))
    rc = usage_err(&p, "session needs a session id");
  if (rc == 0 && strcmp(out->cmd, "kill") == 0 &&
      !!cJSON_GetObjectItem(req, "session") == !!cJSON_GetObjectItem(req, "cn"))
    rc = usage_err(&p, "kill needs a session id or --cn CN (one of them)");
  if (rc == 0) rc = resolve_socket(out, &p, state_dir);
  if (rc == 0) {
    cJSON_AddStringToObject(req, "cmd", out->cmd);
    out->request = cJSON_PrintUnformatted(req);
    rc = check_request(&p, out->request);
  }
  cJSON_Delete(req);
  return rc;
}

void ed_echoctl_args_cleanup(struct ed_echoctl_args *a) {
  if (!a) return;
  free(a->request);
  a->request = NULL;
}

/* ---- the exchange -------------------------------------------------------- */

static int unreachable(char *err, size_t err_len, const char *path, int e) {
  char server[64];
  ed_tool_cmd(server, sizeof(server), ED_TOOL_SERVER, 0);
  if (e == EACCES || e == EPERM)
    snprintf(err, err_len,
             "cannot reach echod at %s: %s; the socket belongs to another "
             "user: run echoctl as the server's user (or root)",
             path, strerror(e));
  else
    snprintf(err, err_len,
             "cannot reach echod at %s: %s; is echod running? Start it with "
             "`%s`, or point echoctl at its socket with --socket PATH or "
             "--state-dir DIR",
             path, strerror(e), server);
  return ED_E_IO;
}

/* Waits for |events| on |fd| until |deadline_ns|; returns 1 ready, 0 late. */
static int wait_fd(int fd, short events, uint64_t deadline_ns) {
  for (;;) {
    uint64_t now = ed_now_ns();
    if (now >= deadline_ns) return 0;
    struct pollfd pfd = {.fd = fd, .events = events};
    uint64_t left_ms = (deadline_ns - now) / 1000000 + 1;
    int ms = left_ms > MAX_POLL_MS ? MAX_POLL_MS : (int)left_ms;
    int rc = poll(&pfd, 1, ms);
    if (rc > 0) return 1;
    if (rc < 0 && errno != EINTR) return 0;
  }
}

static int send_line(int fd, const char *req, uint64_t deadline) {
  size_t n = strlen(req), off = 0;
  char *line = ed_malloc(n + 1);
  memcpy(line, req, n);
  line[n] = '\n';
  int rc = 0;
  while (off < n + 1 && rc == 0) {
    if (!wait_fd(fd, POLLOUT, deadline)) rc = ETIMEDOUT;
    ssize_t w = rc ? -1 : send(fd, line + off, n + 1 - off, MSG_NOSIGNAL);
    if (w > 0)
      off += (size_t)w;
    else if (!rc && errno != EINTR && errno != EAGAIN)
      rc = errno;
  }
  free(line);
  return rc;
}

/* Reads up to the first newline. Returns 0, ETIMEDOUT, ECONNRESET (closed
 * before a full line) or another errno. */
static int recv_line(int fd, struct ed_buf *b, uint64_t deadline) {
  char chunk[16384];
  for (;;) {
    if (b->len && memchr(b->data, '\n', b->len)) return 0;
    if (!wait_fd(fd, POLLIN, deadline)) return ETIMEDOUT;
    ssize_t r = recv(fd, chunk, sizeof(chunk), 0);
    if (r == 0) return ECONNRESET;
    if (r < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return errno;
    }
    if (ed_buf_append(b, chunk, (size_t)r) != 0) return EMSGSIZE;
  }
}

/* connect_path connects a stream socket to |path|. Returns the fd, or -1
 * with the reason in |*out_errno|. */
static int connect_path(const char *path, int *out_errno) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof(sa.sun_path)) {
    *out_errno = ENAMETOOLONG;
    return -1;
  }
  memcpy(sa.sun_path, path, strlen(path) + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
    *out_errno = errno;
    close(fd);
    return -1;
  }
  if (fd < 0) *out_errno = errno;
  return fd;
}

static int exchange_fd(char **out_reply, int fd, const char *path,
                       const char *request, double timeout_s, char *err,
                       size_t err_len);

int ed_echoctl_exchange(char **out_reply, const char *path, const char *request,
                        double timeout_s, char *err, size_t err_len) {
  *out_reply = NULL;
  int e = 0, fd = connect_path(path, &e);
  if (fd < 0) return unreachable(err, err_len, path, e);
  return exchange_fd(out_reply, fd, path, request, timeout_s, err, err_len);
}

/* exchange_fd sends |request| on the connected |fd| (closed here) and
 * reads one reply line. */
static int exchange_fd(char **out_reply, int fd, const char *path,
                       const char *request, double timeout_s, char *err,
                       size_t err_len) {
  *out_reply = NULL;
  /* Clamped so the conversion to nanoseconds cannot overflow. */
  if (!(timeout_s <= MAX_TIMEOUT_S)) timeout_s = MAX_TIMEOUT_S;
  uint64_t deadline = ed_now_ns() + (uint64_t)(timeout_s * 1e9);
  struct ed_buf b;
  ed_buf_init(&b, MAX_REPLY);
  int e = send_line(fd, request, deadline);
  /* A server that refuses us (forbidden, busy) replies and closes at once,
   * maybe before our request is written: still read its reply. */
  if (e == 0 || e == EPIPE || e == ECONNRESET) {
    int e2 = recv_line(fd, &b, deadline);
    e = e2 == 0 ? 0 : (e ? e : e2);
  }
  close(fd);
  if (e != 0) {
    snprintf(err, err_len, "no reply from echod at %s: %s", path,
             e == ETIMEDOUT    ? "timed out (try --timeout)"
             : e == ECONNRESET ? "the server closed the connection"
                               : strerror(e));
    ed_buf_cleanup(&b);
    return ED_E_IO;
  }
  size_t n = (size_t)((uint8_t *)memchr(b.data, '\n', b.len) - b.data);
  *out_reply = ed_strndup((const char *)b.data, n);
  ed_buf_cleanup(&b);
  return 0;
}

/* ---- finding the server -------------------------------------------------- */

static void add_place(struct ed_echoctl_places *p, const char *path,
                      const char *from) {
  if (!path || !*path || p->num == ED_ECHOCTL_MAX_PLACES) return;
  for (size_t i = 0; i < p->num; i++)
    if (strcmp(p->path[i], path) == 0) return;
  snprintf(p->path[p->num], sizeof(p->path[0]), "%s", path);
  p->from[p->num++] = from;
}

void ed_echoctl_socket_places(struct ed_echoctl_places *out) {
  char dir[480], path[512];
  memset(out, 0, sizeof(*out));
  add_place(out, getenv("ECHOD_ADMIN_SOCKET"), "$ECHOD_ADMIN_SOCKET");
  if (ed_state_dir(dir, sizeof(dir)) == 0) {
    snprintf(path, sizeof(path), "%s/admin.sock", dir);
    add_place(out, path, "state dir");
  }
  add_place(out, "/run/echod/admin.sock", "systemd unit");
  add_place(out, "/var/lib/echod/admin.sock", "package state dir");
}

int ed_echoctl_connect_any(int *out_fd, size_t *out_index,
                           const struct ed_echoctl_places *places, char *err,
                           size_t err_len) {
  struct ed_buf b;
  int denied = 0;
  ed_buf_init(&b, 4096);
  ed_buf_printf(&b, "cannot reach echod; looked for its admin socket at");
  for (size_t i = 0; i < places->num; i++) {
    int e = 0, fd = connect_path(places->path[i], &e);
    if (fd >= 0) {
      *out_fd = fd;
      *out_index = i;
      ed_buf_cleanup(&b);
      return 0;
    }
    denied |= e == EACCES || e == EPERM;
    ed_buf_printf(&b, "%s %s (%s: %s)", i ? "," : "", places->path[i],
                  places->from[i], strerror(e));
  }
  char server[64];
  ed_tool_cmd(server, sizeof(server), ED_TOOL_SERVER, 0);
  snprintf(err, err_len,
           "%s; is echod running? Start it (%s`%s`), or point echoctl at its "
           "socket with --socket PATH or --state-dir DIR%s",
           ed_buf_cstr(&b),
           ed_tool_under_bazel() ? "" : "`systemctl start echod`, or ", server,
           denied ? "; a socket that denied permission belongs to another "
                    "user: run echoctl as the server's user (or root)"
                  : "");
  ed_buf_cleanup(&b);
  return ED_E_IO;
}

/* talk exchanges the request with the server: at the socket the flags
 * name, else at the first place that answers. */
static int talk(char **out_reply, const struct ed_echoctl_args *a, char *err,
                size_t err_len) {
  if (a->socket[0])
    return ed_echoctl_exchange(out_reply, a->socket, a->request, a->timeout_s,
                               err, err_len);
  struct ed_echoctl_places places;
  size_t i = 0;
  int fd = -1;
  *out_reply = NULL;
  ed_echoctl_socket_places(&places);
  int rc = ed_echoctl_connect_any(&fd, &i, &places, err, err_len);
  if (rc) return rc;
  return exchange_fd(out_reply, fd, places.path[i], a->request, a->timeout_s,
                     err, err_len);
}

/* ---- main ---------------------------------------------------------------- */

static int report(FILE *out, FILE *errf, const struct ed_echoctl_args *a,
                  const char *reply) {
  cJSON *root = cJSON_Parse(reply);
  const cJSON *ok = cJSON_GetObjectItemCaseSensitive(root, "ok");
  if (!cJSON_IsBool(ok)) {
    fprintf(errf, "echoctl: the server sent a reply echoctl cannot read\n");
    cJSON_Delete(root);
    return ED_ECHOCTL_EXIT_ERROR;
  }
  int code = cJSON_IsTrue(ok) ? ED_ECHOCTL_EXIT_OK : ED_ECHOCTL_EXIT_ERROR;
  if (a->json) {
    fprintf(out, "%s\n", reply);
  } else if (code == ED_ECHOCTL_EXIT_OK) {
    ed_echoctl_print(out, a->cmd,
                     cJSON_GetObjectItemCaseSensitive(root, "result"));
  } else {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "code");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "message");
    /* The message may quote what the server saw (a CN): escaped too. */
    char *msg = ed_echoctl_escape(cJSON_IsString(m) ? m->valuestring : "?", 0);
    char *ecode =
        ed_echoctl_escape(cJSON_IsString(c) ? c->valuestring : "error", 0);
    fprintf(errf, "echoctl: %s failed: %s (%s)\n", a->cmd, msg, ecode);
    free(msg);
    free(ecode);
  }
  cJSON_Delete(root);
  return code;
}

int ed_echoctl_main(int argc, char **argv, FILE *out, FILE *errf,
                    const char *version_line) {
  struct ed_echoctl_args a;
  char err[2048];
  if (ed_echoctl_parse_args(&a, argc, argv, err, sizeof(err)) != 0) {
    fprintf(errf, "echoctl: %s\n", err);
    ed_echoctl_args_cleanup(&a);
    return ED_ECHOCTL_EXIT_USAGE;
  }
  if (a.help) {
    fputs(ed_echoctl_usage(), out);
    return ED_ECHOCTL_EXIT_OK;
  }
  if (a.version) {
    fprintf(out, "%s\n", version_line ? version_line : "echoctl");
    return ED_ECHOCTL_EXIT_OK;
  }
  char *reply = NULL;
  int code;
  if (talk(&reply, &a, err, sizeof(err)) != 0) {
    fprintf(errf, "echoctl: %s\n", err);
    code = ED_ECHOCTL_EXIT_UNREACHABLE;
  } else {
    code = report(out, errf, &a, reply);
  }
  free(reply);
  ed_echoctl_args_cleanup(&a);
  return code;
}

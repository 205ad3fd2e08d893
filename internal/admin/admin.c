/* internal/admin/admin.c — the admin Unix socket server (see admin.h): the
 * request-line protocol on internal/net's bounded stream server. */
#include "internal/admin/admin.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal/base/base.h"
#include "internal/net/net.h"
#include "internal/upgrade/upgrade.h"

#define DEFAULT_TIMEOUT_MS 10000
/* Room for one full line plus what a pipelining client sends meanwhile. */
#define INBUF_CAP (2 * ED_ADMIN_MAX_LINE + 2)
/* Replies queued to a client that does not read: no further line is
 * answered past this (a reply is at most a few hundred KiB). */
#define WRITE_HIGH (1024 * 1024)
#define LINGER_MS 2000

struct ed_admin {
  struct ed_net_server *net;
  struct ed_control_stats *stats;
  ed_admin_handler_fn handler;
  void *handler_arg;
  uint32_t timeout_ms;
};

/* A connection's net data is its call in progress (or NULL). */
struct ed_admin_call {
  struct ed_net_conn *conn; /* NULL once the client has gone */
  enum ed_admin_cmd cmd;
  cJSON *id;
  struct ed_control_stats *stats;
};

static void count(struct ed_control_stats *st, enum ed_admin_cmd cmd, int ok) {
  if (st && (int)cmd >= 0 && cmd < ED_ADMIN_CMD_COUNT)
    st->admin_requests[cmd][ok ? 1 : 0]++;
}

/* Queues |line| (taken), a reply ending in '\n'. */
static void send_line(struct ed_net_conn *c, char *line) {
  ed_net_conn_send(c, line, strlen(line));
}

/* ---- calls --------------------------------------------------------------- */

static void call_finish(struct ed_admin_call *call, char *line, int ok) {
  struct ed_net_conn *c = call->conn;
  count(call->stats, call->cmd, ok);
  cJSON_Delete(call->id);
  free(call);
  if (!c) {
    free(line);
    return;
  }
  ed_net_conn_set_data(c, NULL);
  send_line(c, line);
  ed_net_conn_release(c); /* the next line, if any, is answered now */
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

void ed_admin_call_ok_fds(struct ed_admin_call *call, cJSON *result,
                          const int *fds, size_t num) {
  struct ed_net_conn *c = call->conn;
  char *line = ed_admin_reply_ok(call->id, result);
  int fd = c ? ed_net_conn_fd(c) : -1;
  if (fd < 0 || ed_net_conn_queued(c) != 0 ||
      ed_upgrade_send(fd, line, strlen(line), fds, num) != 0) {
    free(line);
    ed_admin_call_fail(call, ED_ADMIN_ERR_INTERNAL,
                       "cannot pass the sockets on this connection");
    return;
  }
  free(line);
  count(call->stats, call->cmd, 1);
  cJSON_Delete(call->id);
  free(call);
  ed_net_conn_set_data(c, NULL);
  ed_net_conn_release(c);
}

int ed_admin_call_peer_pid(const struct ed_admin_call *call) {
  struct ucred cred;
  socklen_t len = sizeof(cred);
  int fd = call->conn ? ed_net_conn_fd(call->conn) : -1;
  if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
    return -1;
  return (int)cred.pid;
}

/* ---- requests ------------------------------------------------------------ */

static void handle_line(struct ed_admin *a, struct ed_net_conn *c,
                        const char *line, size_t len) {
  struct ed_admin_request req;
  char err[256];
  enum ed_admin_err e = ed_admin_parse(&req, line, len, err, sizeof(err));
  if (e != ED_ADMIN_OK) {
    count(a->stats, req.cmd, 0);
    ED_DEBUG("admin bad request", "conn=%llu code=%s",
             (unsigned long long)ed_net_conn_id(c), ed_admin_err_name(e));
    send_line(c, ed_admin_reply_error(req.id, e, err));
    ed_admin_request_cleanup(&req);
    /* An oversized line closes the connection however it arrived: with its
     * newline in the same read or not (see on_input). */
    if (e == ED_ADMIN_ERR_TOO_LARGE) ed_net_conn_finish(c);
    return;
  }
  struct ed_admin_call *call = ed_calloc(1, sizeof(*call));
  call->conn = c;
  call->cmd = req.cmd;
  call->id = req.id; /* moves */
  req.id = NULL;
  call->stats = a->stats;
  ed_net_conn_set_data(c, call);
  ed_net_conn_hold(c); /* released by call_finish, now or later */
  ED_DEBUG("admin request", "conn=%llu cmd=%s",
           (unsigned long long)ed_net_conn_id(c), ed_admin_cmd_name(req.cmd));
  a->handler(a->handler_arg, call, &req);
  ed_admin_request_cleanup(&req);
}

/* One request line per call. At EOF (echo ... | socat) a last line without
 * its newline still counts as a request. */
static size_t on_input(void *arg, struct ed_net_conn *c, const uint8_t *data,
                       size_t len, int eof) {
  struct ed_admin *a = arg;
  const uint8_t *nl = memchr(data, '\n', len);
  if (!nl && !eof) {
    if (len > ED_ADMIN_MAX_LINE) {
      char msg[96];
      snprintf(msg, sizeof(msg), "request line longer than %d bytes",
               ED_ADMIN_MAX_LINE);
      count(a->stats, ED_ADMIN_UNKNOWN, 0);
      send_line(c, ed_admin_reply_error(NULL, ED_ADMIN_ERR_TOO_LARGE, msg));
      ed_net_conn_finish(c);
    }
    return 0;
  }
  size_t line_len = nl ? (size_t)(nl - data) : len;
  handle_line(a, c, (const char *)data, line_len);
  return nl ? line_len + 1 : len;
}

/* ---- connections --------------------------------------------------------- */

/* Returns 1 if the peer may use the socket: our uid or root. Otherwise
 * writes, per refused connection (err= is errno):
 *   level=warn msg="admin peer credentials unreadable" conn=12 err=9
 *   level=warn msg="admin peer refused" conn=12 uid=1001 pid=5150
 *       server_uid=998 */
static int peer_allowed(struct ed_net_conn *c) {
  struct ucred cred;
  socklen_t len = sizeof(cred);
  unsigned long long id = (unsigned long long)ed_net_conn_id(c);
  int fd = ed_net_conn_fd(c);
  if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    ED_WARN("admin peer credentials unreadable", "conn=%llu err=%d", id, errno);
    return 0;
  }
  if (cred.uid == geteuid() || cred.uid == 0) return 1;
  ED_WARN("admin peer refused", "conn=%llu uid=%u pid=%d server_uid=%u", id,
          (unsigned)cred.uid, (int)cred.pid, (unsigned)geteuid());
  return 0;
}

static void on_open(void *arg, struct ed_net_conn *c) {
  struct ed_admin *a = arg;
  if (peer_allowed(c)) return;
  if (a->stats) a->stats->admin_refused_peers++;
  send_line(c, ed_admin_reply_error(
                   NULL, ED_ADMIN_ERR_FORBIDDEN,
                   "the admin socket accepts only the server's user or root"));
  ed_net_conn_finish(c);
}

/* on_refused writes, per connection past the admin socket's cap:
 *   level=warn msg="admin connection refused" reason=busy conn=17 */
static void on_refused(void *arg, struct ed_net_conn *c,
                       enum ed_net_refusal why) {
  (void)arg;
  (void)why; /* a Unix socket has no per-address cap: always full */
  ED_WARN("admin connection refused", "reason=busy conn=%llu",
          (unsigned long long)ed_net_conn_id(c));
  send_line(c, ed_admin_reply_error(NULL, ED_ADMIN_ERR_BUSY,
                                    "too many admin connections"));
}

static void on_timeout(void *arg, struct ed_net_conn *c) {
  struct ed_admin *a = arg;
  char msg[128];
  snprintf(msg, sizeof(msg), "no complete request within %u ms; closing",
           (unsigned)a->timeout_ms);
  count(a->stats, ED_ADMIN_UNKNOWN, 0);
  send_line(c, ed_admin_reply_error(NULL, ED_ADMIN_ERR_TIMEOUT, msg));
}

static void on_close(void *arg, struct ed_net_conn *c) {
  struct ed_admin_call *call = ed_net_conn_data(c);
  (void)arg;
  if (call) call->conn = NULL; /* its reply will be dropped */
}

static void on_stopped(void *arg) {
  free(arg);
}

/* ---- the socket ---------------------------------------------------------- */

/* ed_admin_new writes, once at start (from=upgrade for a socket an
 * upgrade handed over):
 *   level=info msg="admin listening" path=/run/echod/admin.sock */
int ed_admin_new(struct ed_admin **out, uv_loop_t *loop,
                 const struct ed_admin_options *opts, char *err,
                 size_t err_len) {
  *out = NULL;
  if (!opts->path || !*opts->path || !opts->handler) {
    snprintf(err, err_len, "admin socket: no path or handler");
    return ED_E_INVAL;
  }
  struct ed_admin *a = ed_calloc(1, sizeof(*a));
  a->stats = opts->stats;
  a->handler = opts->handler;
  a->handler_arg = opts->handler_arg;
  a->timeout_ms =
      opts->idle_timeout_ms ? opts->idle_timeout_ms : DEFAULT_TIMEOUT_MS;
  struct ed_net_options no = {
      .what = "admin socket",
      .limits = {.max_conns = opts->max_clients ? opts->max_clients
                                                : ED_ADMIN_MAX_CLIENTS,
                 .idle_ms = a->timeout_ms,
                 .linger_ms = LINGER_MS,
                 .in_max = INBUF_CAP,
                 .out_max = WRITE_HIGH},
      .handler = {.arg = a,
                  .on_input = on_input,
                  .on_open = on_open,
                  .on_refused = on_refused,
                  .on_timeout = on_timeout,
                  .on_close = on_close,
                  .on_stopped = on_stopped},
      .unix_mode = 0600};
  int rc =
      opts->listen_fd > 0
          ? ed_net_listen_fd(&a->net, loop, opts->listen_fd, &no, err, err_len)
          : ed_net_listen_unix(&a->net, loop, opts->path, &no, err, err_len);
  if (rc != 0) {
    free(a);
    return rc;
  }
  char q[1024];
  ED_INFO("admin listening", "path=%s%s", ed_logq(q, sizeof(q), opts->path),
          opts->listen_fd > 0 ? " from=upgrade" : "");
  *out = a;
  return 0;
}

int ed_admin_listen_fd(const struct ed_admin *a) {
  return ed_net_server_listen_fd(a->net);
}

void ed_admin_handed_over(struct ed_admin *a) {
  ed_net_server_handed_over(a->net);
}

void ed_admin_free(struct ed_admin *a) {
  if (a) ed_net_server_free(a->net); /* |a| goes in on_stopped */
}

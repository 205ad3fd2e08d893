/* internal/admin/admin.h — the admin Unix socket on the control loop.
 *
 * Accepts local connections, checks the peer's uid (SO_PEERCRED: the
 * server's own uid or root), splits the byte stream into request lines,
 * parses each with ed_admin_parse (proto.h) and hands it to one handler
 * function. Replies go out one per request, in order: while a request is
 * being handled, later lines wait in the connection's buffer.
 *
 * The socket, its connections and their bounds are internal/net's server
 * (net.h): a line over ED_ADMIN_MAX_LINE gets a too_large reply and the
 * connection closes; a connection with no complete request for
 * |idle_timeout_ms| gets a timeout reply and closes; past |max_clients|
 * connections a new one gets a busy reply and closes; replies queued to a
 * client past 1 MiB stop the next request line from being answered (and
 * the client from being read) until the client reads them. After its last
 * reply a connection lingers up to 2 s so the client reads it, not a
 * reset.
 *
 * Everything runs on the one uv loop given to ed_admin_new (the control
 * loop); nothing here is thread-safe. The process must ignore SIGPIPE (a
 * client that hung up is then an EPIPE write error, not a dead server). */
#ifndef ED_ADMIN_H
#define ED_ADMIN_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "internal/admin/admin_types.h"
#include "internal/admin/proto.h"

struct ed_admin;
/* One request waiting for its reply. */
struct ed_admin_call;

/* ed_admin_handler_fn handles |req| (borrowed for this call only). It must
 * finish |call| exactly once — before returning or later on the same loop
 * — with ed_admin_call_ok or ed_admin_call_fail. The call stays valid
 * until then even if the client goes away (the reply is then dropped). */
typedef void (*ed_admin_handler_fn)(void *arg, struct ed_admin_call *call,
                                    const struct ed_admin_request *req);

#define ED_ADMIN_MAX_CLIENTS 16 /* max_clients' default */

struct ed_admin_options {
  const char *path;               /* socket path; borrowed for the call */
  struct ed_control_stats *stats; /* borrowed for the admin's life; may be
                                     NULL */
  ed_admin_handler_fn handler;
  void *handler_arg;
  uint32_t idle_timeout_ms; /* 0: 10000 (--admin-timeout) */
  uint32_t max_clients;     /* 0: ED_ADMIN_MAX_CLIENTS */
  /* > 0: serve this listening socket (handed over by the process this
   * one replaces; taken) instead of creating |path|. */
  int listen_fd;
};

/* ed_admin_new creates the socket at |opts->path| and listens on |loop|.
 * A missing parent directory is created 0700; the socket is made 0600
 * before it listens. A leftover socket file nobody answers on is replaced;
 * if another process answers there, fails with ED_E_EXIST; a path that
 * exists and is not a socket fails with ED_E_EXIST too. On success sets
 * |*out| and returns 0; on failure nothing is left open, |err| gets one
 * line naming the path and the reason ("cannot listen on admin socket
 * PATH: ...") and a negative ED_E_* code is returned. */
int ed_admin_new(struct ed_admin **out, uv_loop_t *loop,
                 const struct ed_admin_options *opts, char *err,
                 size_t err_len);

/* ed_admin_free stops listening, removes the socket file (if it is still
 * ours) and closes every admin connection. Memory is released from libuv
 * close callbacks, so the loop must run once more afterwards. NULL ok. */
void ed_admin_free(struct ed_admin *a);

/* ed_admin_listen_fd returns the listening socket's descriptor (borrowed),
 * or -1 once handed over. ed_admin_handed_over stops accepting and leaves
 * the socket file to the process it was handed to; open connections are
 * served until ed_admin_free. */
int ed_admin_listen_fd(const struct ed_admin *a);
void ed_admin_handed_over(struct ed_admin *a);

/* ed_admin_call_peer returns the SO_PEERCRED pid of |call|'s client, or
 * -1 (the client has gone). */
int ed_admin_call_peer_pid(const struct ed_admin_call *call);

/* ed_admin_call_ok_fds replies like ed_admin_call_ok and passes |fds|
 * (|num|, duplicates; ours stay open) with the reply (SCM_RIGHTS), written
 * at once on the connection. Fails the call (internal) instead when
 * another reply is still queued or the write cannot complete at once. */
void ed_admin_call_ok_fds(struct ed_admin_call *call, cJSON *result,
                          const int *fds, size_t num);

/* ed_admin_call_ok replies {"ok":true,"result":|result|} and ends |call|.
 * Takes ownership of |result| (NULL gives {}). */
void ed_admin_call_ok(struct ed_admin_call *call, cJSON *result);

/* ed_admin_call_fail replies with error |code| and a printf-style message,
 * and ends |call|. */
void ed_admin_call_fail(struct ed_admin_call *call, enum ed_admin_err code,
                        const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* ED_ADMIN_H */

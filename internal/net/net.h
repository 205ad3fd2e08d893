/* internal/net — a bounded request/reply stream server on one libuv loop,
 * over TCP or a Unix socket. The admin socket and the metrics endpoint
 * both run on it; the protocol (lines of JSON, HTTP heads) stays with
 * them, in one on_input callback.
 *
 * What every server gets, from one set of limits (struct ed_net_limits):
 * - Slots: at most |max_conns| connections, at most |max_per_client| of
 *   them from one IP address, and |reserved| more slots, taken when the
 *   others are full or the connection's address holds its share of them
 *   (so one address at its cap cannot lock out even its own probes). A
 *   connection in a reserved slot must send its first request within
 *   |reserved_deadline_ms| and is answered once (the metrics port keeps
 *   them for /healthz and /readyz); when they are all taken, a new
 *   connection takes over the one there longest without a request.
 *   Refusals and takeovers are counted (ed_net_server_stats) and logged at
 *   warn, at most one line every 10 s per server.
 * - Input: a read buffer of at most |in_max| bytes per connection; the
 *   handler consumes one request at a time, and replies go out in order.
 * - Output: a write queue of at most |out_max| bytes; it is checked before
 *   each request, so a client that pipelines without reading gets at most
 *   |out_max| plus one reply queued, and is not read from meanwhile.
 * - Time: a request deadline (|idle_ms| from the accept, the last answered
 *   request or the last written reply), an optional number of requests
 *   and lifetime per connection, and an optional linger after the last
 *   reply (the write side is shut, input is read and dropped until the
 *   client closes or |linger_ms| passes), so the client reads its last
 *   reply instead of a reset.
 * - One close path: connection memory is freed only in libuv's close
 *   callbacks, after the handler's on_close.
 *
 * Everything runs on the loop given at listen time; nothing here is
 * thread-safe. The process must ignore SIGPIPE. */
#ifndef ED_NET_H
#define ED_NET_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "internal/net/addr.h"

struct ed_net_server;
struct ed_net_conn;

/* Why a new connection got no slot. */
enum ed_net_refusal {
  ED_NET_REFUSE_FULL = 0,   /* every slot, reserved ones too, is taken */
  ED_NET_REFUSE_PER_CLIENT, /* its address holds max_per_client general
                               slots, and every reserved one is taken */
};
#define ED_NET_REFUSAL_COUNT 2

/* ed_net_refusal_name returns "full" or "per_client" (static). */
const char *ed_net_refusal_name(enum ed_net_refusal why);

struct ed_net_limits {
  uint32_t max_conns;            /* required, > 0 */
  uint32_t max_per_client;       /* 0: no cap per address (Unix: none) */
  uint32_t reserved;             /* slots past max_conns; 0: none */
  uint32_t reserved_deadline_ms; /* first request in a reserved slot */
  uint32_t idle_ms;              /* request deadline; required, > 0 */
  uint32_t max_requests;         /* per connection; 0: no limit */
  uint32_t max_lifetime_ms;      /* per connection; 0: no limit */
  uint32_t linger_ms;            /* after the last reply; 0: close at once */
  size_t in_max;                 /* read buffer; required, > 0 */
  size_t out_max;                /* write queue; required, > 0 */
};

/* The protocol's callbacks. Each gets |arg| back. Every function below may
 * be called from inside them. */
struct ed_net_handler {
  void *arg;
  /* on_input (required) sees the unconsumed input |data|/|len| (len > 0)
   * and handles at most one request: it returns the bytes that request
   * used, or 0 if |data| holds no complete request yet. |eof| is 1 once
   * the client has shut down its side (nothing more will arrive). To
   * refuse input it replies and calls ed_net_conn_finish. If the buffer is
   * full and on_input still returns 0, the connection is closed: a
   * protocol refuses oversized requests itself, below |in_max|. */
  size_t (*on_input)(void *arg, struct ed_net_conn *c, const uint8_t *data,
                     size_t len, int eof);
  /* on_open (optional): a connection got a slot; reading starts after it
   * unless it finished or closed the connection. */
  void (*on_open)(void *arg, struct ed_net_conn *c);
  /* on_refused (optional): a connection got no slot. It may send one
   * reply; the connection is then finished. NULL: closed at once. */
  void (*on_refused)(void *arg, struct ed_net_conn *c, enum ed_net_refusal why);
  /* on_timeout (optional): the request deadline passed with no reply
   * queued. It may send one reply; the connection is then finished. NULL:
   * finished without a reply. (With replies queued and unread, or while
   * lingering, a deadline closes the connection without asking.) */
  void (*on_timeout)(void *arg, struct ed_net_conn *c);
  /* on_close (optional): the last call for |c|, opened or refused, from
   * its close callback; |c| is freed right after. */
  void (*on_close)(void *arg, struct ed_net_conn *c);
  /* on_stopped (optional): after ed_net_server_free, once every handle is
   * closed; nothing calls the handler again, |arg| may be freed. */
  void (*on_stopped)(void *arg);
};

struct ed_net_options {
  const char *what; /* names the listener in messages ("metrics address",
                       "admin socket"); borrowed for the call */
  struct ed_net_limits limits;
  struct ed_net_handler handler;
  unsigned unix_mode; /* Unix: the socket file's mode, set before listen */
};

/* ed_net_max_fds returns the most descriptors a server with |max_conns|
 * and |reserved| slots holds at once: a connection per slot, as many
 * again refused or lingering (they share one bound of their own), and
 * one being accepted. For the process's descriptor budget. */
uint32_t ed_net_max_fds(uint32_t max_conns, uint32_t reserved);

/* What a server holds now, for tests and metrics. */
struct ed_net_server_stats {
  uint32_t open;     /* connections in a slot, reserved ones included */
  uint32_t reserved; /* of which in reserved slots */
  uint64_t accepted; /* connections that got a slot */
  uint64_t refused[ED_NET_REFUSAL_COUNT]; /* by enum ed_net_refusal */
  uint64_t evicted;   /* reserved slots taken over from silent holders */
  size_t queued;      /* reply bytes not yet written, all connections */
  size_t peak_queued; /* the most one connection ever had queued */
};

/* ed_net_listen_tcp binds |addr| (AF_INET or AF_INET6; port 0 picks one)
 * and serves it on |loop|. On success sets |*out| and returns 0. On
 * failure nothing is left open, |*out| is NULL, |err| gets one line like
 * "cannot listen on metrics address 127.0.0.1:9870: address already in
 * use", and ED_E_EXIST is returned when the address is in use (the caller
 * may name who holds it), ED_E_SYS for any other failure. */
int ed_net_listen_tcp(struct ed_net_server **out, uv_loop_t *loop,
                      const struct sockaddr *addr,
                      const struct ed_net_options *opts, char *err,
                      size_t err_len);

/* ed_net_listen_unix creates the Unix socket |path| and serves it on
 * |loop|. A missing parent directory is created 0700; the socket gets
 * |opts->unix_mode| before it listens. A leftover socket nobody answers on
 * is replaced. Returns 0 and sets |*out|; on failure nothing is left open
 * or created, |*out| is NULL, |err| gets one line naming |path| and the
 * reason, and the return is ED_E_EXIST (a live socket or a file that is
 * not a socket is there), ED_E_TOOBIG (path too long for sun_path) or
 * another negative ED_E_* code. */
int ed_net_listen_unix(struct ed_net_server **out, uv_loop_t *loop,
                       const char *path, const struct ed_net_options *opts,
                       char *err, size_t err_len);

/* ed_net_listen_fd serves the listening socket |fd| (TCP or Unix; taken,
 * also on failure) on |loop| instead of binding one: a socket an older
 * process handed over (internal/upgrade), already bound and listening and
 * maybe still accepting there too. A Unix socket's file is then ours: it
 * is removed when the server is freed, unless handed over in turn.
 * Returns 0 and sets |*out|, or ED_E_SYS with one line in |err|. */
int ed_net_listen_fd(struct ed_net_server **out, uv_loop_t *loop, int fd,
                     const struct ed_net_options *opts, char *err,
                     size_t err_len);

/* ed_net_server_listen_fd returns the listening socket's descriptor
 * (borrowed: to hand a duplicate to a new process), or -1 once it is
 * handed over or closed. */
int ed_net_server_listen_fd(const struct ed_net_server *s);

/* ed_net_server_handed_over stops accepting (our descriptor of the
 * listening socket closes; the process it went to keeps accepting) and
 * leaves a Unix socket file alone from now on. Connections already open
 * are served until ed_net_server_free. */
void ed_net_server_handed_over(struct ed_net_server *s);

/* ed_net_server_address writes where |s| listens: the bound TCP address
 * ("127.0.0.1:9870", "[::1]:9870") or the Unix socket path. */
void ed_net_server_address(const struct ed_net_server *s, char *out,
                           size_t out_len);

/* ed_net_server_port returns the bound TCP port (0 for Unix). */
uint16_t ed_net_server_port(const struct ed_net_server *s);

/* ed_net_server_stats fills |out| with the counts right now. */
void ed_net_server_stats(const struct ed_net_server *s,
                         struct ed_net_server_stats *out);

/* ed_net_server_free stops listening, removes the Unix socket file if it
 * is still the one we made, and closes every connection (replies still
 * queued are dropped). Memory goes in the close callbacks, so the loop
 * must run once more; on_stopped says when. NULL is ignored. */
void ed_net_server_free(struct ed_net_server *s);

/* ---- a connection, from inside the handler ------------------------------ */

/* ed_net_conn_id returns a number unique within the server. */
uint64_t ed_net_conn_id(const struct ed_net_conn *c);

/* ed_net_conn_peer returns the client address ("1.2.3.4:5", "[::1]:5"),
 * or "local" on a Unix socket. Owned by |c|. */
const char *ed_net_conn_peer(const struct ed_net_conn *c);

/* ed_net_conn_fd returns the socket's descriptor (for SO_PEERCRED), or -1.
 * Borrowed: never close it. */
int ed_net_conn_fd(const struct ed_net_conn *c);

/* ed_net_conn_queued returns the reply bytes queued and not yet written:
 * 0 means a reply may be written on ed_net_conn_fd directly (a hand-over's
 * reply with descriptors) without overtaking one. */
size_t ed_net_conn_queued(const struct ed_net_conn *c);

/* ed_net_conn_data / ed_net_conn_set_data: one pointer for the handler,
 * NULL at first; not owned by |c|. */
void *ed_net_conn_data(const struct ed_net_conn *c);
void ed_net_conn_set_data(struct ed_net_conn *c, void *data);

/* ed_net_conn_send queues |len| bytes of |data| (malloc'd; ownership
 * passes, freed with free()) after the replies already queued. Returns 0;
 * or, if the connection is past replying or the write fails (the
 * connection is then closed), frees |data| and returns ED_E_CLOSED. */
int ed_net_conn_send(struct ed_net_conn *c, void *data, size_t len);

/* ed_net_conn_hold: the request on_input is consuming will be answered
 * later; no further request is handed to on_input, and the request
 * deadline waits, until ed_net_conn_release. Input keeps being buffered
 * (up to |in_max|). */
void ed_net_conn_hold(struct ed_net_conn *c);
void ed_net_conn_release(struct ed_net_conn *c);

/* ed_net_conn_reserved returns 1 if |c| sits in a reserved slot. */
int ed_net_conn_reserved(const struct ed_net_conn *c);

/* ed_net_conn_last_request returns 1 if the request being handled is the
 * last one |c| may make (a reserved slot, the max_requests-th request, or
 * past its lifetime): its reply should say the connection closes. The
 * server finishes the connection after it. */
int ed_net_conn_last_request(const struct ed_net_conn *c);

/* ed_net_conn_finish: answer no more requests; once the queued (and any
 * held) replies are written, shut the write side down, linger, close.
 * Idempotent. */
void ed_net_conn_finish(struct ed_net_conn *c);

/* ed_net_conn_close closes now; queued replies are dropped. Idempotent. */
void ed_net_conn_close(struct ed_net_conn *c);

#endif /* ED_NET_H */

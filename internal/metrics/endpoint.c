/* internal/metrics — see endpoint.h. */
#include "internal/metrics/endpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/metrics/http.h"

#define DEFAULT_MAX_CONNS 64
#define DEFAULT_IDLE_MS 10000
#define RENDER_CAP (4u << 20)
/* Responses queued but unread by a pipelining client past which the
 * endpoint stops reading from it until the client catches up. */
#define WRITE_QUEUE_LIMIT (1u << 20)
#define LINGER_MS 2000

struct ed_metrics_endpoint {
  uv_loop_t *loop;
  uv_tcp_t listener;
  ed_metrics_fill_fn fill;
  void *fill_ctx;
  unsigned max_conns;
  uint64_t idle_ms;
  unsigned num_open;  /* connections not yet closing */
  struct conn *conns; /* every connection until its close callbacks ran */
  int stopping;
  int listener_open;
  uint16_t port;
};

struct conn {
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_shutdown_t shutdown;
  struct ed_metrics_endpoint *ep;
  struct conn *prev, *next;
  struct ed_buf in; /* bytes received and not yet parsed */
  int closing;      /* uv_close called */
  int close_after;  /* answer no more; shut down once writes drain */
  int paused;       /* reading stopped: too much unread output */
  int lingering;    /* responses done; discarding input until EOF */
  int handles_open; /* tcp + timer; freed at 0 */
  char rbuf[4096];
};

struct wreq {
  uv_write_t req;
  struct conn *c;
  char *data; /* owned; freed in the write callback */
};

static void conn_process(struct conn *c);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* ---- lifetime ------------------------------------------------------------ */

static void maybe_free_endpoint(struct ed_metrics_endpoint *ep) {
  if (ep->stopping && !ep->listener_open && ep->conns == NULL) free(ep);
}

static void on_conn_handle_closed(uv_handle_t *h) {
  struct conn *c = h->data;
  if (--c->handles_open > 0) return;
  struct ed_metrics_endpoint *ep = c->ep;
  if (c->prev) c->prev->next = c->next;
  if (c->next) c->next->prev = c->prev;
  if (ep->conns == c) ep->conns = c->next;
  ed_buf_cleanup(&c->in);
  free(c);
  maybe_free_endpoint(ep);
}

/* conn_close is the one close path: idempotent; memory goes in the close
 * callbacks, never here. */
static void conn_close(struct conn *c) {
  if (c->closing) return;
  c->closing = 1;
  c->ep->num_open--;
  uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
  uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
}

static void on_timeout(uv_timer_t *t) {
  conn_close(t->data);
}

static void restart_timer(struct conn *c) {
  uv_timer_start(&c->timer, on_timeout, c->ep->idle_ms, 0);
}

/* After the last response went out and the write side is shut, read and
 * discard what the client still sends (for at most LINGER_MS) before
 * closing: closing with unread input would make the kernel send a reset
 * that can destroy the response (e.g. a 431) before the client reads it. */
static void on_shutdown(uv_shutdown_t *req, int status) {
  struct conn *c = req->data;
  if (status < 0 || c->closing) {
    conn_close(c);
    return;
  }
  c->lingering = 1;
  uv_timer_start(&c->timer, on_timeout, LINGER_MS, 0);
  if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
    conn_close(c);
  }
}

/* Stops reading; closes once every queued response is written. */
static void conn_finish(struct conn *c) {
  if (c->close_after || c->closing) return;
  c->close_after = 1;
  uv_read_stop((uv_stream_t *)&c->tcp);
  c->shutdown.data = c;
  if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
    conn_close(c);
  }
}

/* ---- responses ----------------------------------------------------------- */

static void on_write(uv_write_t *req, int status) {
  struct wreq *w = (struct wreq *)req;
  struct conn *c = w->c;
  free(w->data);
  free(w);
  if (status < 0) {
    conn_close(c);
    return;
  }
  if (c->paused && !c->closing &&
      c->tcp.write_queue_size < WRITE_QUEUE_LIMIT / 2) {
    c->paused = 0;
    conn_process(c);
    if (!c->paused && !c->closing && !c->close_after) {
      uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    }
  }
}

struct response {
  int status;
  const char *reason;
  const char *content_type;
  const char *extra; /* more header lines, each ending in \r\n; or "" */
  const char *body;
  size_t body_len;
  int send_body; /* 0 for HEAD */
  int keep_alive;
};

static void respond(struct conn *c, const struct response *r) {
  char head[512];
  int n = snprintf(head, sizeof(head),
                   "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
                   "Content-Length: %zu\r\nConnection: %s\r\n%s\r\n",
                   r->status, r->reason, r->content_type, r->body_len,
                   r->keep_alive ? "keep-alive" : "close", r->extra);
  size_t body_len = r->send_body ? r->body_len : 0;
  struct wreq *w = ed_malloc(sizeof(*w));
  w->c = c;
  w->data = ed_malloc((size_t)n + body_len);
  memcpy(w->data, head, (size_t)n);
  if (body_len) memcpy(w->data + n, r->body, body_len);
  uv_buf_t buf = uv_buf_init(w->data, (unsigned)((size_t)n + body_len));
  if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, on_write) != 0) {
    free(w->data);
    free(w);
    conn_close(c);
  }
}

static void respond_text(struct conn *c, int status, const char *reason,
                         const char *body, int send_body, int keep_alive) {
  struct response r = {status,    reason,    "text/plain; charset=utf-8",
                       "",        body,      strlen(body),
                       send_body, keep_alive};
  respond(c, &r);
}

/* ---- request handling ---------------------------------------------------- */

static void fill_input(struct ed_metrics_endpoint *ep,
                       struct ed_metrics_input *in,
                       struct ed_stats_snapshot *snap,
                       const struct ed_metrics_process *proc) {
  memset(in, 0, sizeof(*in));
  ed_stats_snapshot_init(snap);
  in->process = proc;
  ep->fill(ep->fill_ctx, in, snap);
  if (!in->stats) in->stats = snap;
}

static void serve_metrics(struct conn *c, int send_body, int keep_alive) {
  struct ed_metrics_input in;
  struct ed_stats_snapshot snap;
  struct ed_metrics_process proc;
  struct ed_buf body;
  ed_metrics_process_read(&proc);
  fill_input(c->ep, &in, &snap, &proc);
  ed_buf_init(&body, RENDER_CAP);
  if (ed_metrics_render(&body, &in) != 0) {
    ED_ERROR("metrics render failed", "err=%s", ed_errname(ED_E_TOOBIG));
    respond_text(c, 500, "Internal Server Error", "render failed\n", send_body,
                 keep_alive);
  } else {
    struct response r = {200,
                         "OK",
                         ED_METRICS_CONTENT_TYPE,
                         "",
                         (const char *)body.data,
                         body.len,
                         send_body,
                         keep_alive};
    respond(c, &r);
  }
  ed_buf_cleanup(&body);
}

static void serve_ready(struct conn *c, int send_body, int keep_alive) {
  struct ed_metrics_input in;
  struct ed_stats_snapshot snap;
  const char *why;
  char body[160];
  fill_input(c->ep, &in, &snap, NULL);
  int ok = ed_metrics_ready(&in, (int64_t)(ed_wall_ns() / 1000000000u), &why);
  snprintf(body, sizeof(body), "%s\n", why);
  respond_text(c, ok ? 200 : 503, ok ? "OK" : "Service Unavailable", body,
               send_body, keep_alive);
}

static int path_is(const struct ed_http_request *req, const char *p) {
  size_t n = strlen(p);
  return req->path_len == n && memcmp(req->path, p, n) == 0;
}

static void handle(struct conn *c, const struct ed_http_request *req) {
  int ka = req->keep_alive && !req->has_body;
  int send_body = req->method != ED_HTTP_HEAD;
  int known = path_is(req, "/metrics") || path_is(req, "/healthz") ||
              path_is(req, "/readyz");
  if (!known) {
    respond_text(c, 404, "Not Found", "not found\n", send_body, ka);
  } else if (req->method == ED_HTTP_OTHER) {
    struct response r = {405,
                         "Method Not Allowed",
                         "text/plain; charset=utf-8",
                         "Allow: GET, HEAD\r\n",
                         "method not allowed\n",
                         19,
                         1,
                         ka};
    respond(c, &r);
  } else if (path_is(req, "/metrics")) {
    serve_metrics(c, send_body, ka);
  } else if (path_is(req, "/healthz")) {
    respond_text(c, 200, "OK", "ok\n", send_body, ka);
  } else {
    serve_ready(c, send_body, ka);
  }
  if (!ka) conn_finish(c);
}

/* Answers every complete request in the input buffer, in order. */
static void conn_process(struct conn *c) {
  struct ed_http_request req;
  size_t used = 0;
  while (!c->closing && !c->close_after) {
    if (c->tcp.write_queue_size >= WRITE_QUEUE_LIMIT) {
      c->paused = 1;
      uv_read_stop((uv_stream_t *)&c->tcp);
      return;
    }
    int rc = ed_http_parse_request(&req, &used, (const char *)c->in.data,
                                   c->in.len, ED_HTTP_MAX_HEAD);
    if (rc == ED_E_AGAIN) break;
    if (rc == ED_E_TOOBIG) {
      respond_text(c, 431, "Request Header Fields Too Large",
                   "request header fields too large\n", 1, 0);
      conn_finish(c);
    } else if (rc != 0) {
      respond_text(c, 400, "Bad Request", "bad request\n", 1, 0);
      conn_finish(c);
    } else {
      handle(c, &req);
      ed_buf_consume(&c->in, used);
      if (!c->closing) restart_timer(c);
    }
  }
}

/* ---- reading ------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  struct conn *c = h->data;
  (void)suggested;
  *buf = uv_buf_init(c->rbuf, sizeof(c->rbuf));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  struct conn *c = s->data;
  (void)buf;
  if (c->lingering) {
    if (nread < 0) conn_close(c);
    return;
  }
  if (nread == UV_EOF) {
    conn_finish(c); /* answer what was asked, then close */
    return;
  }
  if (nread < 0) {
    conn_close(c);
    return;
  }
  if (nread == 0 || c->close_after || c->closing) return;
  if (ed_buf_append(&c->in, c->rbuf, (size_t)nread) != 0) {
    conn_close(c); /* cannot happen: the parser refuses first */
    return;
  }
  conn_process(c);
}

/* ---- accepting ----------------------------------------------------------- */

static void on_connection(uv_stream_t *server, int status) {
  struct ed_metrics_endpoint *ep = server->data;
  if (status < 0) {
    ED_WARN("metrics accept failed", "err=%s", uv_err_name(status));
    return;
  }
  struct conn *c = ed_calloc(1, sizeof(*c));
  c->ep = ep;
  ed_buf_init(&c->in, ED_HTTP_MAX_HEAD + sizeof(c->rbuf) + 1);
  uv_tcp_init(ep->loop, &c->tcp);
  uv_timer_init(ep->loop, &c->timer);
  c->tcp.data = c;
  c->timer.data = c;
  c->handles_open = 2;
  c->next = ep->conns;
  if (ep->conns) ep->conns->prev = c;
  ep->conns = c;
  ep->num_open++;
  if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
    conn_close(c);
    return;
  }
  if (ep->num_open > ep->max_conns) {
    ED_DEBUG("metrics connection refused", "reason=max_conns max=%u",
             ep->max_conns);
    conn_close(c);
    return;
  }
  restart_timer(c);
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

/* parse_listen reads "host:port", "[v6]:port" (host: a numeric address;
 * "localhost" = 127.0.0.1, empty or "*" = 0.0.0.0) into |out|. Returns 0
 * or ED_E_INVAL. */
static int parse_listen(struct sockaddr_storage *out, const char *s) {
  char host[64];
  const char *colon;
  const char *h = s;
  size_t h_len;
  if (s[0] == '[') {
    const char *rb = strchr(s, ']');
    if (!rb || rb[1] != ':') return ED_E_INVAL;
    h = s + 1;
    h_len = (size_t)(rb - h);
    colon = rb + 1;
  } else {
    colon = strrchr(s, ':');
    if (!colon) return ED_E_INVAL;
    h_len = (size_t)(colon - s);
  }
  if (h_len >= sizeof(host)) return ED_E_INVAL;
  memcpy(host, h, h_len);
  host[h_len] = '\0';
  char *end;
  if (!colon[1]) return ED_E_INVAL;
  unsigned long port = strtoul(colon + 1, &end, 10);
  if (*end || port > 65535 || colon[1] < '0' || colon[1] > '9') {
    return ED_E_INVAL;
  }
  if (s[0] == '[') {
    return uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)out) == 0
               ? 0
               : ED_E_INVAL;
  }
  if (strcmp(host, "localhost") == 0) {
    snprintf(host, sizeof(host), "127.0.0.1");
  } else if (h_len == 0 || strcmp(host, "*") == 0) {
    snprintf(host, sizeof(host), "0.0.0.0");
  }
  return uv_ip4_addr(host, (int)port, (struct sockaddr_in *)out) == 0
             ? 0
             : ED_E_INVAL;
}

/* Formats the listener's bound address as HOST:PORT or [HOST]:PORT. */
static void bound_addr(struct ed_metrics_endpoint *ep, char *out, size_t len) {
  struct sockaddr_storage ss;
  int n = sizeof(ss);
  char ip[64] = "?";
  out[0] = '\0';
  if (uv_tcp_getsockname(&ep->listener, (struct sockaddr *)&ss, &n) != 0) {
    return;
  }
  if (ss.ss_family == AF_INET6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    uv_ip6_name(a, ip, sizeof(ip));
    ep->port = ntohs(a->sin6_port);
    snprintf(out, len, "[%s]:%u", ip, ep->port);
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    uv_ip4_name(a, ip, sizeof(ip));
    ep->port = ntohs(a->sin_port);
    snprintf(out, len, "%s:%u", ip, ep->port);
  }
}

static void on_listener_closed(uv_handle_t *h) {
  struct ed_metrics_endpoint *ep = h->data;
  ep->listener_open = 0;
  maybe_free_endpoint(ep);
}

int ed_metrics_start(struct ed_metrics_endpoint **out, uv_loop_t *loop,
                     const struct ed_metrics_options *opts) {
  struct sockaddr_storage ss;
  char q[128], addr[96];
  memset(&ss, 0, sizeof(ss));
  if (!opts->fill || !opts->listen || parse_listen(&ss, opts->listen) != 0) {
    ED_ERROR("bad metrics address", "addr=%s want=HOST:PORT",
             ed_logq(q, sizeof(q), opts->listen));
    return ED_E_INVAL;
  }
  struct ed_metrics_endpoint *ep = ed_calloc(1, sizeof(*ep));
  ep->loop = loop;
  ep->fill = opts->fill;
  ep->fill_ctx = opts->fill_ctx;
  ep->max_conns = opts->max_conns ? opts->max_conns : DEFAULT_MAX_CONNS;
  ep->idle_ms = opts->idle_timeout_ms ? opts->idle_timeout_ms : DEFAULT_IDLE_MS;
  uv_tcp_init(loop, &ep->listener);
  ep->listener.data = ep;
  ep->listener_open = 1;
  int rc = uv_tcp_bind(&ep->listener, (struct sockaddr *)&ss, 0);
  if (rc == 0) rc = uv_listen((uv_stream_t *)&ep->listener, 128, on_connection);
  if (rc != 0) {
    ED_ERROR("metrics listen failed", "addr=%s err=%s",
             ed_logq(q, sizeof(q), opts->listen), uv_strerror(rc));
    ep->stopping = 1;
    uv_close((uv_handle_t *)&ep->listener, on_listener_closed);
    return ED_E_SYS;
  }
  bound_addr(ep, addr, sizeof(addr));
  ED_INFO("metrics listening", "addr=%s", addr);
  *out = ep;
  return 0;
}

uint16_t ed_metrics_endpoint_port(const struct ed_metrics_endpoint *ep) {
  return ep->port;
}

void ed_metrics_stop(struct ed_metrics_endpoint *ep) {
  if (!ep || ep->stopping) return;
  ep->stopping = 1;
  uv_close((uv_handle_t *)&ep->listener, on_listener_closed);
  for (struct conn *c = ep->conns; c; c = c->next) conn_close(c);
}

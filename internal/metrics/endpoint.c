/* internal/metrics — see endpoint.h: HTTP on internal/net's bounded
 * stream server. */
#include "internal/metrics/endpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/listen/listen.h"
#include "internal/metrics/http.h"
#include "internal/net/net.h"

#define RENDER_CAP (4u << 20)
/* Responses queued but unread by a pipelining client past which the
 * endpoint answers no further request until the client catches up. */
#define WRITE_QUEUE_LIMIT (1u << 20)
/* After the last response, how long unread input is drained so that the
 * client reads the response rather than a reset. */
#define LINGER_MS 2000

struct ed_metrics_endpoint {
  struct ed_net_server *net;
  ed_metrics_fill_fn fill;
  void *fill_ctx;
  uint64_t probe_only; /* 503s for other paths in a probe slot */
};

/* ---- responses ----------------------------------------------------------- */

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

static void respond(struct ed_net_conn *c, const struct response *r) {
  char head[512];
  int n = snprintf(head, sizeof(head),
                   "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
                   "Content-Length: %zu\r\nConnection: %s\r\n%s\r\n",
                   r->status, r->reason, r->content_type, r->body_len,
                   r->keep_alive ? "keep-alive" : "close", r->extra);
  size_t body_len = r->send_body ? r->body_len : 0;
  char *data = ed_malloc((size_t)n + body_len);
  memcpy(data, head, (size_t)n);
  if (body_len) memcpy(data + n, r->body, body_len);
  ed_net_conn_send(c, data, (size_t)n + body_len);
}

static void respond_text(struct ed_net_conn *c, int status, const char *reason,
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
  ed_metrics_endpoint_refusals(ep, in);
}

/* serve_metrics writes, per scrape whose page outgrows its buffer (the
 * scrape gets a 500):
 *   level=error msg="metrics render failed" err=TOOBIG */
static void serve_metrics(struct ed_metrics_endpoint *ep, struct ed_net_conn *c,
                          int send_body, int keep_alive) {
  struct ed_metrics_input in;
  struct ed_stats_snapshot snap;
  struct ed_metrics_process proc;
  struct ed_buf body;
  ed_metrics_process_read(&proc);
  fill_input(ep, &in, &snap, &proc);
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

static void serve_ready(struct ed_metrics_endpoint *ep, struct ed_net_conn *c,
                        int send_body, int keep_alive) {
  struct ed_metrics_input in;
  struct ed_stats_snapshot snap;
  const char *why;
  char body[160];
  fill_input(ep, &in, &snap, NULL);
  int ok = ed_metrics_ready(&in, (int64_t)(ed_wall_ns() / 1000000000u), &why);
  snprintf(body, sizeof(body), "%s\n", why);
  respond_text(c, ok ? 200 : 503, ok ? "OK" : "Service Unavailable", body,
               send_body, keep_alive);
}

static int path_is(const struct ed_http_request *req, const char *p) {
  size_t n = strlen(p);
  return req->path_len == n && memcmp(req->path, p, n) == 0;
}

static void handle(struct ed_metrics_endpoint *ep, struct ed_net_conn *c,
                   const struct ed_http_request *req) {
  int ka = req->keep_alive && !req->has_body && !ed_net_conn_last_request(c);
  int send_body = req->method != ED_HTTP_HEAD;
  int probe = path_is(req, "/healthz") || path_is(req, "/readyz");
  int known = probe || path_is(req, "/metrics");
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
  } else if (ed_net_conn_reserved(c) && !probe) {
    ep->probe_only++;
    respond_text(c, 503, "Service Unavailable",
                 "every connection slot is taken; this one answers only "
                 "/healthz and /readyz\n",
                 send_body, 0);
  } else if (path_is(req, "/metrics")) {
    serve_metrics(ep, c, send_body, ka);
  } else if (path_is(req, "/healthz")) {
    respond_text(c, 200, "OK", "ok\n", send_body, ka);
  } else {
    serve_ready(ep, c, send_body, ka);
  }
  if (!ka) ed_net_conn_finish(c);
}

/* Answers the request at the start of the input, if it is complete. After
 * a refused head nothing more is answered: the framing after it cannot be
 * trusted. */
static size_t on_input(void *arg, struct ed_net_conn *c, const uint8_t *data,
                       size_t len, int eof) {
  struct ed_http_request req;
  size_t used = 0;
  (void)eof; /* a head cut short by EOF is not answered */
  int rc = ed_http_parse_request(&req, &used, (const char *)data, len,
                                 ED_HTTP_MAX_HEAD);
  if (rc == ED_E_AGAIN) return 0;
  if (rc == ED_E_TOOBIG) {
    respond_text(c, 431, "Request Header Fields Too Large",
                 "request header fields too large\n", 1, 0);
    ed_net_conn_finish(c);
    return 0;
  }
  if (rc != 0) {
    respond_text(c, 400, "Bad Request", "bad request\n", 1, 0);
    ed_net_conn_finish(c);
    return 0;
  }
  handle(arg, c, &req);
  return used;
}

/* ---- the listener -------------------------------------------------------- */

static unsigned or_default(unsigned v, unsigned def) {
  return v ? v : def;
}

static void on_stopped(void *arg) {
  free(arg);
}

static struct ed_net_options net_options(struct ed_metrics_endpoint *ep,
                                         const struct ed_metrics_options *o) {
  struct ed_net_options no = {
      .what = "metrics address",
      .limits =
          {.max_conns = or_default(o->max_conns, ED_METRICS_MAX_CONNS),
           .max_per_client =
               or_default(o->max_per_client, ED_METRICS_MAX_PER_CLIENT),
           .reserved = or_default(o->probe_slots, ED_METRICS_PROBE_SLOTS),
           .reserved_deadline_ms =
               or_default(o->probe_deadline_ms, ED_METRICS_PROBE_DEADLINE_MS),
           .idle_ms = o->idle_timeout_ms ? (uint32_t)o->idle_timeout_ms
                                         : ED_METRICS_IDLE_MS,
           .max_requests = or_default(o->max_requests, ED_METRICS_MAX_REQUESTS),
           .max_lifetime_ms =
               or_default(o->max_lifetime_ms, ED_METRICS_MAX_LIFETIME_MS),
           .linger_ms = LINGER_MS,
           /* Past the head limit, so the parser sees an oversized head. */
           .in_max = ED_HTTP_MAX_HEAD + 4097,
           .out_max = WRITE_QUEUE_LIMIT},
      .handler = {.arg = ep, .on_input = on_input, .on_stopped = on_stopped}};
  return no;
}

/* adopt serves the socket an old process handed over. Writes, once at
 * start:
 *   level=info msg="metrics listening" addr=127.0.0.1:9464 from=upgrade */
static int adopt(struct ed_metrics_endpoint **out, uv_loop_t *loop,
                 const struct ed_metrics_options *opts, char *err,
                 size_t err_len) {
  char addr[ED_NET_ADDR_MAX];
  struct ed_metrics_endpoint *ep = ed_calloc(1, sizeof(*ep));
  ep->fill = opts->fill;
  ep->fill_ctx = opts->fill_ctx;
  struct ed_net_options no = net_options(ep, opts);
  int rc = ed_net_listen_fd(&ep->net, loop, opts->listen_fd, &no, err, err_len);
  if (rc != 0) {
    free(ep);
    return rc;
  }
  ed_net_server_address(ep->net, addr, sizeof(addr));
  ED_INFO("metrics listening", "addr=%s from=upgrade", addr);
  *out = ep;
  return 0;
}

/* in_use adds to the "address already in use" line who holds the
 * address (as the echo listener's line does) and the two ways out. */
static void in_use(char *err, size_t err_len, const struct sockaddr *sa) {
  char who[160];
  size_t n = strlen(err);
  if (n < err_len && ed_listen_holder(who, sizeof(who), sa) == 0)
    n += (size_t)snprintf(err + n, err_len - n, " by %s", who);
  if (n < err_len)
    snprintf(err + n, err_len - n,
             " (choose another with --metrics-listen, or --no-metrics)");
}

/* ed_metrics_start writes, once at start (adopt's line after an upgrade):
 *   level=info msg="metrics listening" addr=127.0.0.1:9464 */
int ed_metrics_start(struct ed_metrics_endpoint **out, uv_loop_t *loop,
                     const struct ed_metrics_options *opts, char *err,
                     size_t err_len) {
  struct sockaddr_storage ss;
  const char *why = "no address";
  char addr[ED_NET_ADDR_MAX];
  *out = NULL;
  if (opts->fill && opts->listen_fd > 0)
    return adopt(out, loop, opts, err, err_len);
  if (!opts->fill || !opts->listen ||
      ed_net_parse_bind_addr(&ss, opts->listen, &why) != 0) {
    snprintf(err, err_len, "bad metrics address \"%s\": %s",
             opts->listen ? opts->listen : "", why);
    return ED_E_INVAL;
  }
  struct ed_metrics_endpoint *ep = ed_calloc(1, sizeof(*ep));
  ep->fill = opts->fill;
  ep->fill_ctx = opts->fill_ctx;
  struct ed_net_options no = net_options(ep, opts);
  int rc = ed_net_listen_tcp(&ep->net, loop, (struct sockaddr *)&ss, &no, err,
                             err_len);
  if (rc == ED_E_EXIST) in_use(err, err_len, (struct sockaddr *)&ss);
  if (rc != 0) {
    free(ep);
    return rc;
  }
  ed_net_server_address(ep->net, addr, sizeof(addr));
  ED_INFO("metrics listening", "addr=%s", addr);
  *out = ep;
  return 0;
}

void ed_metrics_endpoint_refusals(const struct ed_metrics_endpoint *ep,
                                  struct ed_metrics_input *in) {
  struct ed_net_server_stats st;
  ed_net_server_stats(ep->net, &st);
  in->has_endpoint = 1;
  in->endpoint_refused[ED_METRICS_REFUSE_FULL] = st.refused[ED_NET_REFUSE_FULL];
  in->endpoint_refused[ED_METRICS_REFUSE_PER_CLIENT] =
      st.refused[ED_NET_REFUSE_PER_CLIENT];
  in->endpoint_refused[ED_METRICS_REFUSE_TAKEN_OVER] = st.evicted;
  in->endpoint_refused[ED_METRICS_REFUSE_PROBE_ONLY] = ep->probe_only;
}

int ed_metrics_endpoint_listen_fd(const struct ed_metrics_endpoint *ep) {
  return ed_net_server_listen_fd(ep->net);
}

void ed_metrics_endpoint_handed_over(struct ed_metrics_endpoint *ep) {
  ed_net_server_handed_over(ep->net);
}

uint16_t ed_metrics_endpoint_port(const struct ed_metrics_endpoint *ep) {
  return ed_net_server_port(ep->net);
}

void ed_metrics_stop(struct ed_metrics_endpoint *ep) {
  if (ep) ed_net_server_free(ep->net); /* |ep| goes in on_stopped */
}

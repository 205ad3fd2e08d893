/* internal/metrics — the small HTTP/1.1 server behind --metrics-listen:
 * GET|HEAD /metrics, /healthz and /readyz, on the control loop.
 *
 * It runs entirely on the one libuv loop it is given (the control loop on
 * the main thread). At each request it asks its provider for a fresh
 * ed_metrics_input; the provider reads the per-loop counters with
 * ed_stats_accumulate, so a scrape never stops or locks an I/O loop.
 *
 * HTTP behaviour: only GET and HEAD (else 405 with Allow); unknown paths
 * 404; malformed heads 400 and close; a head over 8 KiB 431 and close; a
 * connection with no complete request for |idle_timeout_ms| is closed;
 * HTTP/1.1 keep-alive (1.0 closes unless it asks for keep-alive);
 * pipelined requests are answered in order; past |max_conns| open scrape
 * connections new ones are closed at once. */
#ifndef ED_METRICS_ENDPOINT_H
#define ED_METRICS_ENDPOINT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "internal/metrics/metrics.h"

/* ed_metrics_fill_fn fills |out| for one request. |snap| is zeroed storage
 * (ed_stats_snapshot_init) the provider accumulates its counters into and
 * points out->stats at; it lives for the request. |out| arrives zeroed
 * except process (set by the endpoint). Runs on the endpoint's loop. */
typedef void (*ed_metrics_fill_fn)(void *ctx, struct ed_metrics_input *out,
                                   struct ed_stats_snapshot *snap);

struct ed_metrics_options {
  const char *listen;       /* "IP:port", "[IPv6]:port", "localhost:port",
                               ":port" (all IPv4); port 0 = any free port */
  ed_metrics_fill_fn fill;  /* required */
  void *fill_ctx;           /* borrowed until ed_metrics_stop */
  unsigned max_conns;       /* 0: 64 */
  uint64_t idle_timeout_ms; /* 0: 10000 */
};

struct ed_metrics_endpoint;

/* ed_metrics_start binds and listens on |opts->listen| on |loop| and logs
 * msg="metrics listening" addr=HOST:PORT with the bound address. On
 * success sets |*out| and returns 0; on failure logs one error line and
 * returns ED_E_INVAL (bad address) or ED_E_SYS (bind/listen failed). */
int ed_metrics_start(struct ed_metrics_endpoint **out, uv_loop_t *loop,
                     const struct ed_metrics_options *opts);

/* ed_metrics_endpoint_port returns the bound TCP port. */
uint16_t ed_metrics_endpoint_port(const struct ed_metrics_endpoint *ep);

/* ed_metrics_stop closes the listener and every scrape connection. The
 * memory is freed by the loop's close callbacks, so the loop must run once
 * more (uv_run) after this call. NULL is ignored. */
void ed_metrics_stop(struct ed_metrics_endpoint *ep);

#endif /* ED_METRICS_ENDPOINT_H */

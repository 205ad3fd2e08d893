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
 * pipelined requests are answered in order, and past 1 MiB of unread
 * responses the next is not answered until the client reads.
 *
 * Slots, so that one client cannot starve the probes (internal/net's
 * server does the counting; docs/deploy.md has the numbers and why):
 * - |max_conns| connections, at most |max_per_client| from one IP address;
 * - |probe_slots| more, taken when the |max_conns| are full or the
 *   connection's address holds its |max_per_client|: such a connection
 *   must send its request within |probe_deadline_ms|, is answered once
 *   with Connection: close, and only for /healthz and /readyz (anything
 *   else: 503); a silent one loses its slot to a newcomer; when no probe
 *   slot can be had a new connection is closed at once, unanswered;
 * - every refusal is counted (echod_metrics_connections_refused_total)
 *   and logged at warn, at most one line every 10 s;
 * - a keep-alive connection serves at most |max_requests| requests and
 *   lives at most |max_lifetime_ms|: the last response says
 *   Connection: close, or an idle connection is closed at its lifetime. */
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

/* The limits echod serves with; an option left 0 takes these. */
#define ED_METRICS_MAX_CONNS 64
#define ED_METRICS_MAX_PER_CLIENT 8
#define ED_METRICS_PROBE_SLOTS 4
#define ED_METRICS_PROBE_DEADLINE_MS 1000
#define ED_METRICS_MAX_REQUESTS 1000
#define ED_METRICS_MAX_LIFETIME_MS 60000
#define ED_METRICS_IDLE_MS 10000

struct ed_metrics_options {
  const char *listen;         /* "IP:port", "[IPv6]:port", "localhost:port",
                                 "*:port" (all IPv4); port 0 = any free one */
  ed_metrics_fill_fn fill;    /* required */
  void *fill_ctx;             /* borrowed until ed_metrics_stop */
  unsigned max_conns;         /* 0: ED_METRICS_MAX_CONNS */
  uint64_t idle_timeout_ms;   /* 0: ED_METRICS_IDLE_MS */
  unsigned max_per_client;    /* 0: ED_METRICS_MAX_PER_CLIENT */
  unsigned probe_slots;       /* 0: ED_METRICS_PROBE_SLOTS */
  uint32_t probe_deadline_ms; /* 0: ED_METRICS_PROBE_DEADLINE_MS */
  uint32_t max_requests;      /* 0: ED_METRICS_MAX_REQUESTS */
  uint32_t max_lifetime_ms;   /* 0: ED_METRICS_MAX_LIFETIME_MS */
  /* > 0: serve this listening socket (handed over by the process this one
   * replaces; taken) instead of binding |listen|. */
  int listen_fd;
};

struct ed_metrics_endpoint;

/* ed_metrics_start binds and listens on |opts->listen| on |loop| and logs
 * msg="metrics listening" addr=HOST:PORT with the bound address. On
 * success sets |*out| and returns 0. On failure nothing is left open,
 * |err| gets one line naming the address and the reason (e.g. "cannot
 * listen on metrics address 127.0.0.1:9870: address already in use"), and
 * the return is ED_E_INVAL (bad address) or ED_E_SYS (bind/listen). */
int ed_metrics_start(struct ed_metrics_endpoint **out, uv_loop_t *loop,
                     const struct ed_metrics_options *opts, char *err,
                     size_t err_len);

/* ed_metrics_endpoint_refusals sets |in|'s has_endpoint and
 * endpoint_refused from what |ep|'s limits turned away so far (the series
 * of echod_metrics_connections_refused_total). Runs on |ep|'s loop. */
void ed_metrics_endpoint_refusals(const struct ed_metrics_endpoint *ep,
                                  struct ed_metrics_input *in);

/* ed_metrics_endpoint_listen_fd returns the listening socket (borrowed),
 * or -1 once handed over; ed_metrics_endpoint_handed_over stops accepting
 * on it (the new process accepts there), keeping open connections. */
int ed_metrics_endpoint_listen_fd(const struct ed_metrics_endpoint *ep);
void ed_metrics_endpoint_handed_over(struct ed_metrics_endpoint *ep);

/* ed_metrics_endpoint_port returns the bound TCP port. */
uint16_t ed_metrics_endpoint_port(const struct ed_metrics_endpoint *ep);

/* ed_metrics_stop closes the listener and every scrape connection. The
 * memory is freed by the loop's close callbacks, so the loop must run once
 * more (uv_run) after this call. NULL is ignored. */
void ed_metrics_stop(struct ed_metrics_endpoint *ep);

#endif /* ED_METRICS_ENDPOINT_H */

/* internal/metrics — the metrics endpoint wired to the server: fills the
 * renderer's input from the server API (internal/server) and the control
 * loop's counters, and serves it on --metrics-listen. cmd/server.c calls
 * ed_metrics_service_start once, before ed_server_run, and
 * ed_metrics_service_free after it returns.
 *
 * Where the numbers come from:
 *   counters, gauges, histograms  ed_server_stats (never blocks the loops)
 *   reloads, last reload          ed_server_reload_status
 *   admin requests                the shared struct ed_control_stats
 *   certificates, CRL             ed_tls_snapshot_summary of the current
 *                                 credential snapshot
 *   draining, readiness           ed_server_get_state + the server cert's
 *                                 validity at request time */
#ifndef ED_METRICS_SERVICE_H
#define ED_METRICS_SERVICE_H

#include "internal/base/base.h"
#include "internal/metrics/endpoint.h"
#include "internal/metrics/metrics.h"
#include "internal/server/server.h"
#include "internal/stats/stats.h"

struct ed_metrics_service_options {
  const struct ed_control_stats *control; /* may be NULL; borrowed for the
                                             service's life */
  const char *version;                    /* echod's version; NULL: "dev" */
  int listen_fd; /* > 0: the metrics socket an old process handed over */
};

struct ed_metrics_service;

/* ed_metrics_service_start creates the service for |srv| (borrowed for the
 * service's life) and, unless the config says no_metrics, starts the HTTP
 * endpoint on ed_server_config(srv)->metrics_listen on the server's control
 * loop, with a stop hook that closes it when the server stops. On success
 * sets |*out| (always non-NULL, also with --no-metrics, so the admin
 * socket's "metrics" command still works) and returns 0. On failure (bad
 * address, port taken) |err| gets one line naming the address and the
 * reason, and a negative ED_E_* code is returned: the caller prints it and
 * exits. */
int ed_metrics_service_start(struct ed_metrics_service **out,
                             struct ed_server *srv,
                             const struct ed_metrics_service_options *opts,
                             char *err, size_t err_len);

/* ed_metrics_service_render appends the full exposition text (with the
 * process_* metrics) to |out|. |svc| is a struct ed_metrics_service *; the
 * signature matches the admin service's ed_admin_metrics_fn. Returns 0 or
 * ED_E_TOOBIG. Control loop only. */
int ed_metrics_service_render(void *svc, struct ed_buf *out);

/* ed_metrics_service_free frees |svc| once the server has stopped (its
 * endpoint is closed by then). NULL is fine. */
void ed_metrics_service_free(struct ed_metrics_service *svc);

#endif /* ED_METRICS_SERVICE_H */

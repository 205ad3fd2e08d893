/* internal/metrics — see service.h. */
#include "internal/metrics/service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/tls/tls.h"

struct ed_metrics_service {
  struct ed_server *srv;
  const struct ed_control_stats *control;
  const char *version;
  struct ed_reload_status reload; /* copied from the server per render */
  struct ed_metrics_endpoint *endpoint;
};

static enum ed_metrics_state map_state(enum ed_server_state s) {
  switch (s) {
    case ED_SERVER_STARTING:
      return ED_METRICS_STARTING;
    case ED_SERVER_RUNNING:
      return ED_METRICS_RUNNING;
    default: /* draining, stopped */
      return ED_METRICS_DRAINING;
  }
}

static void set_cert(struct ed_metrics_cert *out,
                     const struct ed_tls_cert_info *c) {
  out->present = c->not_after != 0;
  out->not_before_s = c->not_before;
  out->not_after_s = c->not_after;
}

/* Fills |in| for one rendering; the endpoint's ed_metrics_fill_fn. */
static void fill(void *arg, struct ed_metrics_input *in,
                 struct ed_stats_snapshot *snap) {
  struct ed_metrics_service *svc = arg;
  struct ed_tls_summary sum;
  ed_server_stats(svc->srv, snap);
  in->stats = snap;
  /* Reloads: the server's record is the only one (every reload, whatever
   * its trigger, goes through ed_server_reload). Admin counters: |control|. */
  ed_server_reload_status(svc->srv, &svc->reload);
  in->reload = &svc->reload;
  in->credential_snapshots = (uint64_t)ed_tls_snapshots_live();
  in->control = svc->control;
  in->state = map_state(ed_server_get_state(svc->srv));
  in->version = svc->version;
  struct ed_tls_snapshot *snapshot = ed_server_snapshot(svc->srv);
  if (snapshot) {
    ed_tls_snapshot_summary(snapshot, &sum);
    set_cert(&in->server_cert, &sum.server);
    set_cert(&in->ca_cert, &sum.ca);
    in->has_crl = sum.has_crl;
    in->crl_next_update_s = sum.crl_next_update;
    struct ed_tls_ticket_info ti;
    ed_tls_snapshot_ticket_info(snapshot, &ti);
    in->has_ticket_keys = 1;
    in->ticket_keys_from_file = ti.from_file;
    in->ticket_keys = ti.num_keys;
    snprintf(in->ticket_key_id, sizeof(in->ticket_key_id), "%s", ti.issuing_id);
    ed_tls_snapshot_unref(snapshot);
  }
}

int ed_metrics_service_render(void *arg, struct ed_buf *out) {
  struct ed_metrics_input in;
  struct ed_stats_snapshot snap;
  struct ed_metrics_process proc;
  memset(&in, 0, sizeof(in));
  ed_stats_snapshot_init(&snap);
  ed_metrics_process_read(&proc);
  in.process = &proc;
  fill(arg, &in, &snap);
  struct ed_metrics_service *svc = arg;
  if (svc->endpoint) ed_metrics_endpoint_refusals(svc->endpoint, &in);
  return ed_metrics_render(out, &in);
}

static void on_server_stop(void *arg) {
  struct ed_metrics_service *svc = arg;
  ed_metrics_stop(svc->endpoint);
  svc->endpoint = NULL;
}

static int metrics_fd(void *arg) {
  struct ed_metrics_service *svc = arg;
  return svc->endpoint ? ed_metrics_endpoint_listen_fd(svc->endpoint) : -1;
}

static void metrics_release(void *arg) {
  struct ed_metrics_service *svc = arg;
  if (svc->endpoint) ed_metrics_endpoint_handed_over(svc->endpoint);
}

int ed_metrics_service_start(struct ed_metrics_service **out,
                             struct ed_server *srv,
                             const struct ed_metrics_service_options *opts,
                             char *err, size_t err_len) {
  const struct ed_config *cfg = ed_server_config(srv);
  struct ed_metrics_service *svc = ed_calloc(1, sizeof(*svc));
  svc->srv = srv;
  svc->control = opts ? opts->control : NULL;
  svc->version = opts && opts->version ? opts->version : "dev";
  if (!cfg->no_metrics && cfg->metrics_listen) {
    struct ed_metrics_options eo = {.listen = cfg->metrics_listen,
                                    .fill = fill,
                                    .fill_ctx = svc,
                                    .listen_fd = opts ? opts->listen_fd : 0};
    int rc = ed_metrics_start(&svc->endpoint, ed_server_control_loop(srv), &eo,
                              err, err_len);
    if (rc != 0) {
      free(svc);
      return rc;
    }
    ed_server_add_stop_hook(srv, on_server_stop, svc);
    struct ed_server_handover_sock hs = {"metrics", metrics_fd, metrics_release,
                                         svc};
    ed_server_add_handover(srv, &hs);
  }
  *out = svc;
  return 0;
}

void ed_metrics_service_free(struct ed_metrics_service *svc) {
  free(svc);
}

/* internal/admin/service.h — the admin socket wired to the server: one
 * handler per command, calling the server API (internal/server; "reload"
 * is ed_server_reload, the one reload function). cmd/server.c calls
 * ed_admin_start once; everything else happens on the server's control loop.
 *
 * Reply shapes are documented in docs/admin-protocol.md. */
#ifndef ED_ADMIN_SERVICE_H
#define ED_ADMIN_SERVICE_H

#include "internal/admin/admin.h"
#include "internal/admin/admin_types.h"
#include "internal/base/base.h"
#include "internal/server/server.h"

/* ed_admin_metrics_fn appends the Prometheus text exposition to |out| (a
 * capped buffer). Returns 0 or a negative ED_E_* code. Provided by the
 * metrics module's composer; runs on the control loop. */
typedef int (*ed_admin_metrics_fn)(void *arg, struct ed_buf *out);

struct ed_admin_service_options {
  struct ed_control_stats *stats; /* required; borrowed for the server's
                                     life */
  ed_admin_metrics_fn metrics;    /* NULL: "metrics" replies unavailable */
  void *metrics_arg;
  const char *version; /* echod's version; NULL: "dev" */
  /* > 0: serve this listening socket, handed over by the process this one
   * replaces (taken), instead of creating the configured path. */
  int listen_fd;
};

struct ed_admin_service;

/* ed_admin_start opens the admin socket at the configured path
 * (ed_server_config(srv)->admin_socket) on the server's control loop and
 * registers a stop hook that closes it when the server stops. With
 * --no-admin it does nothing, sets |*out| to NULL and returns 0. On
 * failure (socket path taken by a live server, unusable directory) |err|
 * gets one line naming the path and the reason, and a negative ED_E_* code
 * is returned: the caller prints it and exits. |srv| and everything in
 * |opts| are borrowed for the server's life. */
int ed_admin_start(struct ed_admin_service **out, struct ed_server *srv,
                   const struct ed_admin_service_options *opts, char *err,
                   size_t err_len);

#endif /* ED_ADMIN_SERVICE_H */

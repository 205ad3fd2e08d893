/* echod — the mutual-TLS echo server. Flags -> config -> internal/server. */
#include <stdio.h>
#include <stdlib.h>

#include "internal/admin/service.h"
#include "internal/base/base.h"
#include "internal/config/config.h"
#include "internal/metrics/service.h"
#include "internal/sdnotify/service.h"
#include "internal/server/server.h"
#include "internal/version/version.h"

static int print_action(const struct ed_config *cfg) {
  if (cfg->action == ED_CONFIG_HELP) {
    fputs(ed_config_usage(), stdout);
  } else if (cfg->action == ED_CONFIG_PRINT) {
    char *json = ed_config_to_json(cfg);
    printf("%s\n", json);
    free(json);
  } else {
    char line[256];
    printf("%s\n", ed_version_line(line, sizeof(line), ED_TOOL_SERVER));
  }
  return 0;
}

int main(int argc, char **argv) {
  struct ed_config *cfg = NULL;
  char err[1024] = "";
  int rc = ed_config_load(&cfg, argc, argv, err, sizeof(err));
  if (rc) {
    fprintf(stderr, "echod: error: %s\n", err[0] ? err : ed_strerror(rc));
    return 2;
  }
  if (cfg->action != ED_CONFIG_RUN) {
    rc = print_action(cfg);
    ed_config_free(cfg);
    return rc;
  }
  ed_log_set_level(cfg->log_level);
  ed_log_set_format(cfg->log_format);
  struct ed_server *srv = NULL;
  rc = ed_server_new(&srv, cfg, err, sizeof(err));
  if (rc) {
    fprintf(stderr, "echod: error: %s\n", err);
    ed_config_free(cfg);
    return rc == ED_E_USAGE ? 2 : 1;
  }
  rc = ed_server_start(srv);
  /* --- admin socket (issue 4: internal/admin; the reload triggers start
   * in ed_server_run). One control-plane counter block, lent to admin and
   * metrics. --- */
  static struct ed_control_stats control_stats;
  struct ed_admin_service *admin = NULL;
  /* --- metrics endpoint (issue 5: internal/metrics): /metrics, /healthz,
   * /readyz on the control loop (--metrics-listen, --no-metrics); it also
   * answers the admin "metrics" command. Freed after the server. --- */
  struct ed_metrics_service *metrics = NULL;
  if (!rc) {
    struct ed_metrics_service_options mo = {.control = &control_stats,
                                            .version = ED_VERSION};
    rc = ed_metrics_service_start(&metrics, srv, &mo, err, sizeof(err));
  }
  /* --- end issue 5 --- */
  if (!rc) {
    struct ed_admin_service_options ao = {
        .stats = &control_stats,
        .version = ED_VERSION,
        .metrics = ed_metrics_service_render, /* issue 5 */
        .metrics_arg = metrics,
    };
    rc = ed_admin_start(&admin, srv, &ao, err, sizeof(err));
  }
  /* --- end issue 4 --- */
  /* systemd (Type=notify): READY=1 now that every listener and the admin
   * socket accept; STATUS= and the watchdog from the control loop. The
   * server's stop hook frees it. */
  struct ed_sdnotify_service *notify = NULL;
  if (!rc) rc = ed_sdnotify_service_start(&notify, srv);
  if (rc) {
    fprintf(stderr, "echod: error: %s%s\n",
            err[0] ? "" : "cannot start: ", err[0] ? err : ed_strerror(rc));
  } else {
    rc = ed_server_run(srv);
  }
  ed_server_free(srv);
  ed_metrics_service_free(metrics); /* issue 5 */
  ed_config_free(cfg);
  return rc ? 1 : 0;
}

/* internal/reload/server_reload.c — see server_reload.h. */
#include "internal/reload/server_reload.h"

#include "internal/base/base.h"

static int do_reload(void *arg, int check_only, enum ed_reload_trigger trigger,
                     char *err, size_t err_len) {
  return ed_server_reload(arg, check_only, trigger, err, err_len);
}

static void on_stop(void *arg) {
  ed_reload_free(arg);
}

/* The startup load is the first "reload": ok, at the snapshot's time. */
static void record_startup(struct ed_server *srv,
                           struct ed_control_stats *stats) {
  for (int t = 0; t < ED_RELOAD_TRIGGER_COUNT; t++)
    if (stats->reloads[t][0] || stats->reloads[t][1]) return;
  struct ed_tls_snapshot *snap = ed_server_snapshot(srv);
  struct ed_tls_summary sum = {0};
  if (snap) ed_tls_snapshot_summary(snap, &sum);
  ed_tls_snapshot_unref(snap);
  ed_reload_record(stats, ED_RELOAD_STARTUP, 1,
                   sum.loaded_wall_ns ? sum.loaded_wall_ns : ed_wall_ns(),
                   NULL);
}

int ed_reload_start(struct ed_reload **out, struct ed_server *srv,
                    struct ed_control_stats *stats) {
  struct ed_server_paths p;
  ed_server_cred_paths(srv, &p);
  const char *paths[] = {p.cert, p.key, p.ca, p.crl};
  struct ed_reload_options o = {.fn = do_reload,
                                .fn_arg = srv,
                                .stats = stats,
                                .paths = paths,
                                .num_paths = 4,
                                .watch = ed_server_config(srv)->watch,
                                /* ed_server_run already reloads on SIGHUP */
                                .sighup = 0};
  if (stats) record_startup(srv, stats);
  int rc = ed_reload_new(out, ed_server_control_loop(srv), &o);
  if (rc == 0) ed_server_add_stop_hook(srv, on_stop, *out);
  return rc;
}

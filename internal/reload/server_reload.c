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

int ed_reload_start(struct ed_reload **out, struct ed_server *srv) {
  struct ed_server_paths p;
  ed_server_cred_paths(srv, &p);
  const char *paths[] = {p.cert, p.key, p.ca, p.crl};
  struct ed_reload_options o = {.fn = do_reload,
                                .fn_arg = srv,
                                .paths = paths,
                                .num_paths = 4,
                                .watch = ed_server_config(srv)->watch,
                                /* ed_server_run already reloads on SIGHUP */
                                .sighup = 0};
  int rc = ed_reload_new(out, ed_server_control_loop(srv), &o);
  if (rc == 0) ed_server_add_stop_hook(srv, on_stop, *out);
  return rc;
}

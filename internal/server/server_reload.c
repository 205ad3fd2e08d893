/* internal/server — credential reloads: the one reload function every
 * trigger goes through (ed_server_reload), the triggers it is wired to on
 * the control loop (SIGHUP, the file watcher of internal/reload; the admin
 * socket calls it directly), publishing a snapshot, and the one record of
 * every reload.
 *
 * Log lines (logfmt, internal/base):
 *   level=info msg="reload triggered" trigger=signal signal=SIGHUP
 *   level=info msg="reload triggered" trigger=watch path=/etc/echod/key.pem
 *       (internal/reload, when a watched file really changed)
 *   level=info msg=reloaded trigger=admin snapshot=4 serial=6A01...
 *       crl_entries=2 recheck=done sessions_checked=12 sessions_closed=1
 *       (server_trust.c: written once established sessions were
 *       re-checked against the new snapshot)
 *   level=info msg="reload check ok" trigger=admin snapshot=5 serial=6A01...
 *   level=error msg="reload failed" trigger=watch check=0 error="..." */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/reload/reload.h"
#include "internal/sdnotify/sdnotify.h"
#include "internal/server/server_internal.h"

/* ---- publishing and the record ------------------------------------------- */

void ed_server_publish(struct ed_server *srv, struct ed_tls_snapshot *snap) {
  pthread_mutex_lock(&srv->snap_mu);
  struct ed_tls_snapshot *old = srv->snap;
  srv->snap = snap;
  pthread_mutex_unlock(&srv->snap_mu);
  /* After the swap: whoever reads the count first and then the snapshot
   * holds one at least that new (struct ed_loop_shared). */
  atomic_fetch_add(&srv->sh.snap_gen, 1);
  ed_server_retire(srv, old);
}

static void record(struct ed_server *srv, enum ed_reload_trigger trigger,
                   int ok, const char *msg) {
  struct ed_reload_status *r = &srv->reload;
  r->count[trigger][ok ? 1 : 0]++;
  r->last_ok = ok;
  r->last_trigger = trigger;
  r->last_wall_ns = ed_wall_ns();
  const char *m = ok ? "" : msg;
  size_t n = strlen(m) < sizeof(r->last_error) - 1 ? strlen(m)
                                                   : sizeof(r->last_error) - 1;
  memcpy(r->last_error, m, n);
  r->last_error[n] = '\0';
  ed_sdnotify_send("READY=1"); /* systemd: the reload is over, ok or not */
}

void ed_server_reload_status(const struct ed_server *srv,
                             struct ed_reload_status *out) {
  *out = srv->reload;
}

/* ---- the one reload function --------------------------------------------- */

/* publish makes |snap| current, records the reload, and re-checks the
 * established sessions against it - here and only here, so every trigger
 * does it (--keep-sessions-on-reload opts out). The loops are reached by
 * posting to them, never by blocking the control thread on them; the
 * "reloaded" line is logged when they are done (server_trust.c). A failed
 * reload or a check never gets here. */
static void publish(struct ed_server *srv, struct ed_tls_snapshot *snap,
                    const struct ed_tls_summary *sum,
                    enum ed_reload_trigger trigger) {
  ed_server_publish(srv, snap);
  record(srv, trigger, 1, NULL);
  ed_server_recheck_start(srv, sum, trigger);
}

/* no_older_crl refuses a reload whose CRL of some CA is older than the
 * one in use (ed_tls_snapshot_crl_rollback), freeing |*snap|: the
 * snapshot in use stays. Only the control thread publishes, so reading
 * srv->snap here under the lock is enough. */
static int no_older_crl(struct ed_server *srv, struct ed_tls_snapshot **snap,
                        char *msg, size_t msg_len) {
  pthread_mutex_lock(&srv->snap_mu);
  int rc = ed_tls_snapshot_crl_rollback(srv->snap, *snap, msg, msg_len);
  pthread_mutex_unlock(&srv->snap_mu);
  if (rc) {
    ed_tls_snapshot_unref(*snap);
    *snap = NULL;
  }
  return rc;
}

int ed_server_reload(struct ed_server *srv, int check_only,
                     enum ed_reload_trigger trigger,
                     struct ed_tls_summary *out_checked, char *err,
                     size_t err_len) {
  struct ed_tls_snapshot *snap = NULL;
  char msg[512] = "", q[600];
  if (!check_only) {
    ed_reload_begin(srv->watcher);
    ed_sdnotify_reloading(); /* READY=1 follows in record() */
  }
  int rc = ed_server_build_snapshot(srv, &snap, msg, sizeof(msg));
  if (!rc) rc = no_older_crl(srv, &snap, msg, sizeof(msg));
  if (rc && !msg[0]) snprintf(msg, sizeof(msg), "%s", ed_strerror(rc));
  if (err && err_len) snprintf(err, err_len, "%s", rc ? msg : "");
  if (rc) {
    if (!check_only) record(srv, trigger, 0, msg);
    ED_ERROR("reload failed", "trigger=%s check=%d error=%s",
             ed_reload_trigger_name(trigger), check_only,
             ed_logq(q, sizeof(q), msg));
  } else {
    struct ed_tls_summary sum;
    ed_tls_snapshot_summary(snap, &sum);
    if (out_checked) *out_checked = sum;
    if (check_only) {
      ED_INFO("reload check ok", "trigger=%s snapshot=%llu serial=%s",
              ed_reload_trigger_name(trigger),
              (unsigned long long)sum.snapshot_id, sum.server.serial);
      ed_tls_snapshot_unref(snap);
    } else {
      publish(srv, snap, &sum, trigger);
    }
  }
  if (!check_only) ed_reload_end(srv->watcher);
  /* Reading credentials takes far more memory than they keep (a CRL of
   * 600,000 entries: ~240 MB at the peak, ~14 MB kept), and the allocator
   * keeps what was freed; give it back to the system. */
  malloc_trim(0);
  return rc;
}

/* ---- triggers on the control loop ---------------------------------------- */

static void on_sighup(uv_signal_t *s, int signum) {
  struct ed_server *srv = s->data;
  char err[512];
  (void)signum;
  ED_INFO("reload triggered", "trigger=%s signal=SIGHUP",
          ed_reload_trigger_name(ED_RELOAD_SIGNAL));
  (void)ed_server_reload(srv, 0, ED_RELOAD_SIGNAL, NULL, err, sizeof(err));
}

static void on_files_changed(void *arg) {
  char err[512];
  (void)ed_server_reload(arg, 0, ED_RELOAD_WATCH, NULL, err, sizeof(err));
}

void ed_server_reload_triggers_start(struct ed_server *srv) {
  ed_server_trust_start(srv);
  uv_signal_init(&srv->control, &srv->sig_hup);
  srv->sig_hup.data = srv;
  uv_signal_start(&srv->sig_hup, on_sighup, SIGHUP);
  if (!srv->cfg->watch) return;
  /* Every credential file: the cert, key, CA, each --crl, the
   * --ticket-keys file and the --allow-file. */
  struct ed_server_paths cp;
  ed_server_cred_paths(srv, &cp);
  const char **paths = ed_calloc(5 + cp.num_crls, sizeof(*paths));
  size_t n = 0;
  paths[n++] = cp.cert, paths[n++] = cp.key, paths[n++] = cp.ca;
  for (size_t i = 0; i < cp.num_crls; i++) paths[n++] = cp.crls[i];
  if (cp.ticket_keys) paths[n++] = cp.ticket_keys;
  if (cp.allow_file) paths[n++] = cp.allow_file;
  struct ed_reload_options o = {.on_change = on_files_changed,
                                .arg = srv,
                                .paths = paths,
                                .num_paths = n,
                                .debounce_ms = srv->cfg->reload_debounce_ms};
  int rc = ed_reload_new(&srv->watcher, &srv->control, &o);
  free(paths);
  if (rc != 0) ED_WARN("reload file watching off", "error=%s", ed_strerror(rc));
}

void ed_server_reload_triggers_stop(struct ed_server *srv) {
  uv_close((uv_handle_t *)&srv->sig_hup, NULL);
  ed_reload_free(srv->watcher);
  srv->watcher = NULL;
  ed_server_trust_stop(srv);
}

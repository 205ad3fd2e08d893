/* internal/server — what the admin socket and metrics call on the control
 * thread: sessions, kill, credentials and reload. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/sdnotify/sdnotify.h"
#include "internal/server/server_internal.h"

/* ---- sessions -------------------------------------------------------------
 */

struct collect {
  const struct ed_session_filter *f;
  uint64_t now_ns;
  struct ed_session_info *items;
  size_t num, cap;
};

static int matches(const struct collect *c, const struct ed_session_info *s) {
  const struct ed_session_filter *f = c->f;
  if (!f) return 1;
  if (f->cn && strcmp(f->cn, s->cn) != 0) return 0;
  if (f->state && (int)s->state != f->state - 1) return 0;
  if (f->older_than_s &&
      (c->now_ns < s->start_ns ||
       c->now_ns - s->start_ns <= f->older_than_s * 1000000000ull)) {
    return 0;
  }
  return 1;
}

static int collect_one(void *arg, const struct ed_session_info *s) {
  struct collect *c = arg;
  if (!matches(c, s)) return 0;
  if (c->num == c->cap) {
    c->cap = c->cap ? 2 * c->cap : 64;
    c->items = ed_realloc(c->items, c->cap * sizeof(*c->items));
  }
  c->items[c->num++] = *s;
  return 0;
}

static int by_id(const void *a, const void *b) {
  const struct ed_session_info *x = a, *y = b;
  return x->id < y->id ? -1 : x->id > y->id;
}

int ed_server_sessions(struct ed_server *srv, struct ed_session_info **out,
                       size_t *out_num,
                       const struct ed_session_filter *filter) {
  struct collect c = {.f = filter, .now_ns = ed_wall_ns()};
  for (uint32_t i = 0; i < srv->workers; i++)
    ed_loop_sessions(srv->loops[i], collect_one, &c);
  if (c.num) qsort(c.items, c.num, sizeof(*c.items), by_id);
  if (filter && filter->limit && c.num > filter->limit) c.num = filter->limit;
  *out = c.items ? c.items : ed_calloc(1, sizeof(**out));
  *out_num = c.num;
  return 0;
}

struct find {
  uint64_t id;
  struct ed_session_info *out;
  int found;
};

static int find_one(void *arg, const struct ed_session_info *s) {
  struct find *f = arg;
  if (s->id != f->id) return 0;
  *f->out = *s;
  f->found = 1;
  return 1;
}

int ed_server_session(struct ed_server *srv, struct ed_session_info *out,
                      uint64_t id) {
  struct find f = {id, out, 0};
  for (uint32_t i = 0; i < srv->workers && !f.found; i++)
    ed_loop_sessions(srv->loops[i], find_one, &f);
  return f.found ? 0 : ED_E_NOTFOUND;
}

size_t ed_server_kill(struct ed_server *srv, uint64_t id) {
  struct ed_session_info info;
  if (ed_server_session(srv, &info, id) != 0) return 0;
  ed_loop_post_kill(srv->loops[info.worker], id);
  return 1;
}

struct count_cn {
  const char *cn;
  size_t n;
};

static int count_one(void *arg, const struct ed_session_info *s) {
  struct count_cn *c = arg;
  if (s->state == ED_SESSION_ESTABLISHED && !strcmp(s->cn, c->cn)) c->n++;
  return 0;
}

size_t ed_server_kill_cn(struct ed_server *srv, const char *cn) {
  size_t total = 0;
  for (uint32_t i = 0; i < srv->workers; i++) {
    struct count_cn c = {cn, 0};
    ed_loop_sessions(srv->loops[i], count_one, &c);
    if (c.n) ed_loop_post_kill_cn(srv->loops[i], cn);
    total += c.n;
  }
  return total;
}

/* ---- credentials and reload -----------------------------------------------
 */

struct ed_tls_snapshot *ed_server_snapshot(struct ed_server *srv) {
  return ed_server_snapshot_get(srv);
}

void ed_server_cred_paths(const struct ed_server *srv,
                          struct ed_server_paths *out) {
  out->cert = srv->cert;
  out->key = srv->key;
  out->ca = srv->ca;
  out->crl = srv->crl;
}

void ed_server_publish(struct ed_server *srv, struct ed_tls_snapshot *snap) {
  pthread_mutex_lock(&srv->snap_mu);
  struct ed_tls_snapshot *old = srv->snap;
  srv->snap = snap;
  pthread_mutex_unlock(&srv->snap_mu);
  ed_tls_snapshot_unref(old);
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

int ed_server_reload(struct ed_server *srv, int check_only,
                     enum ed_reload_trigger trigger, char *err,
                     size_t err_len) {
  struct ed_tls_snapshot *snap = NULL;
  char msg[512] = "", q[600];
  if (!check_only) ed_sdnotify_reloading(); /* READY=1 follows in record() */
  int rc = ed_server_build_snapshot(srv, &snap, msg, sizeof(msg));
  if (err && err_len) snprintf(err, err_len, "%s", msg);
  if (rc) {
    if (!check_only) record(srv, trigger, 0, msg);
    ED_ERROR("reload failed", "trigger=%s check=%d error=%s",
             ed_reload_trigger_name(trigger), check_only,
             ed_logq(q, sizeof(q), msg));
    return rc;
  }
  struct ed_tls_summary sum;
  ed_tls_snapshot_summary(snap, &sum);
  if (check_only) {
    ed_tls_snapshot_unref(snap);
    ED_INFO("reload check ok", "trigger=%s serial=%s",
            ed_reload_trigger_name(trigger), sum.server.serial);
    return 0;
  }
  ed_server_publish(srv, snap);
  record(srv, trigger, 1, NULL);
  ED_INFO("reloaded", "trigger=%s snapshot=%llu serial=%s crl_entries=%zu",
          ed_reload_trigger_name(trigger), (unsigned long long)sum.snapshot_id,
          sum.server.serial, sum.crl_entries);
  return 0;
}

void ed_server_reload_status(const struct ed_server *srv,
                             struct ed_reload_status *out) {
  *out = srv->reload;
}

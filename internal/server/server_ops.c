/* internal/server — what the admin socket and metrics call on the control
 * thread: sessions, kill, credentials. Reloads: server_reload.c. */
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
};

static int matches(void *arg, const struct ed_session_info *s) {
  const struct collect *c = arg;
  const struct ed_session_filter *f = c->f;
  if (!f) return 1;
  if (f->cn && !ed_tls_peer_cn_is(s->identity, f->cn)) return 0;
  if (f->state && (int)s->state != f->state - 1) return 0;
  if (f->older_than_s &&
      (c->now_ns < s->start_ns ||
       c->now_ns - s->start_ns <= f->older_than_s * 1000000000ull)) {
    return 0;
  }
  return 1;
}

static int by_id(const void *a, const void *b) {
  const struct ed_session_info *x = a, *y = b;
  return x->id < y->id ? -1 : x->id > y->id;
}

/* copy_loop appends loop |l|'s matching sessions to |*items| (|*num| of
 * |*cap| used). Room is made before each copy, outside the loop's lock
 * (ed_loop_sessions_copy allocates nothing under it); if more sessions
 * match than there was room for, it is made again, larger. */
static void copy_loop(struct ed_loop *l, struct collect *c,
                      struct ed_session_info **items, size_t *num,
                      size_t *cap) {
  size_t room = (size_t)ed_loop_num_conns(l) + 16, n = 0;
  for (;;) {
    if (*cap - *num < room) {
      *cap = *num + room;
      *items = ed_realloc(*items, *cap * sizeof(**items));
    }
    if (ed_loop_sessions_copy(l, *items + *num, room, &n, matches, c) == 0)
      break;
    room = 2 * n + 16; /* sessions arrived meanwhile */
  }
  *num += n;
}

int ed_server_sessions(struct ed_server *srv, struct ed_session_info **out,
                       size_t *out_num,
                       const struct ed_session_filter *filter) {
  struct collect c = {.f = filter, .now_ns = ed_wall_ns()};
  struct ed_session_info *items = NULL;
  size_t num = 0, cap = 0;
  for (uint32_t i = 0; i < srv->workers; i++)
    copy_loop(srv->loops[i], &c, &items, &num, &cap);
  if (num) qsort(items, num, sizeof(*items), by_id);
  while (filter && filter->limit && num > filter->limit)
    ed_session_info_cleanup(&items[--num]);
  *out = items ? items : ed_calloc(1, sizeof(**out));
  *out_num = num;
  return 0;
}

void ed_server_sessions_free(struct ed_session_info *list, size_t num) {
  for (size_t i = 0; list && i < num; i++) ed_session_info_cleanup(&list[i]);
  free(list);
}

struct find {
  uint64_t id;
  struct ed_session_info *out;
  int found;
};

static int find_one(void *arg, const struct ed_session_info *s) {
  struct find *f = arg;
  if (s->id != f->id) return 0;
  ed_session_info_copy(f->out, s);
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
  ed_session_info_cleanup(&info);
  return 1;
}

struct count_cn {
  const char *cn;
  size_t n;
};

static int count_one(void *arg, const struct ed_session_info *s) {
  struct count_cn *c = arg;
  if (s->state == ED_SESSION_ESTABLISHED &&
      ed_tls_peer_cn_is(s->identity, c->cn))
    c->n++;
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

/* ---- credentials ----------------------------------------------------------
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
  /* --crl FILE... as given; else the dev PKI's one CRL. */
  const struct ed_strlist *l = &srv->cfg->crl;
  out->crls =
      l->num ? (const char *const *)l->items : (const char *const *)&srv->crl;
  out->num_crls = l->num ? l->num : srv->crl != NULL;
  out->ticket_keys = srv->cfg->ticket_keys;
  out->allow_file = srv->cfg->allow_file;
}

/* internal/server — keeping trust current after the credentials change,
 * on the control loop: the re-check of established sessions that follows
 * every publish (whatever triggered the reload: it runs from the one
 * reload door, server_reload.c), freeing the snapshots a publish
 * replaced once nothing holds them, and the periodic warning about a CRL
 * past its next update.
 *
 * A re-check round: each I/O loop is asked to re-check its established
 * sessions (ed_loop_post_recheck: the loop collects their identities, the
 * handshake pool decides, the loop closes those that no longer pass) and
 * reports how many it checked and closed, from its own thread, into the
 * round's atomics. The control loop never waits on a loop: a timer looks
 * at the open rounds every RECHECK_POLL_MS, and a round is answered -
 * its "reloaded" line logged, its waiters (the admin reload reply) called
 * - once every loop reported, or ED_SERVER_RECHECK_WAIT_MS after it
 * started (then with what was reported so far; the round stays open until
 * the last loop reports, which every loop does before it can exit).
 *
 * Log lines (logfmt, internal/base):
 *   level=info msg=reloaded trigger=admin snapshot=4 serial=6A01...
 *       crl_entries=2 recheck=done sessions_checked=12 sessions_closed=1
 *   level=info msg="reload re-check finished" snapshot=4
 *       sessions_checked=12 sessions_closed=1   (after recheck=timeout)
 * recheck=done|timeout|off (ed_recheck_status); each session closed has
 * its own "session closed" line with the reason (internal/loop). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal/server/server_internal.h"

#define RECHECK_POLL_MS 5
#define RETIRE_POLL_MS 1000

static const char *const recheck_names[] = {"done", "timeout", "off"};

const char *ed_recheck_status_name(enum ed_recheck_status s) {
  return (unsigned)s <= ED_RECHECK_OFF ? recheck_names[s] : "unknown";
}

struct waiter {
  struct waiter *next;
  void (*fn)(void *arg, const struct ed_recheck_result *r);
  void *arg;
};

struct ed_recheck_round {
  struct ed_recheck_round *next;
  enum ed_reload_trigger trigger;
  uint64_t snapshot_id;
  char serial[72];
  size_t crl_entries;
  uint64_t deadline_ns;
  _Atomic uint32_t loops_left; /* written by the loops */
  _Atomic uint64_t checked, closed;
  int answered;
  struct waiter *waiters;
};

/* ---- rounds -------------------------------------------------------------- */

/* on_loop_done: one loop's part (ed_loop_recheck_fn), on its thread. */
static void on_loop_done(void *arg, uint64_t checked, uint64_t closed) {
  struct ed_recheck_round *r = arg;
  atomic_fetch_add(&r->checked, checked);
  atomic_fetch_add(&r->closed, closed);
  atomic_fetch_sub(&r->loops_left, 1); /* last: the counts are in */
}

static void log_reloaded(enum ed_reload_trigger trigger, uint64_t snapshot_id,
                         const char *serial, size_t crl_entries,
                         const struct ed_recheck_result *res) {
  ED_INFO("reloaded",
          "trigger=%s snapshot=%llu serial=%s crl_entries=%zu recheck=%s "
          "sessions_checked=%llu sessions_closed=%llu",
          ed_reload_trigger_name(trigger), (unsigned long long)snapshot_id,
          serial, crl_entries, ed_recheck_status_name(res->status),
          (unsigned long long)res->checked, (unsigned long long)res->closed);
}

/* answer logs |r|'s outcome and calls its waiters, once. */
static void answer(struct ed_server *srv, struct ed_recheck_round *r,
                   enum ed_recheck_status st) {
  struct ed_recheck_result res = {st, atomic_load(&r->checked),
                                  atomic_load(&r->closed)};
  r->answered = 1;
  if (srv->last_round == r) {
    srv->last_round = NULL;
    srv->last_result = res;
  }
  log_reloaded(r->trigger, r->snapshot_id, r->serial, r->crl_entries, &res);
  while (r->waiters) {
    struct waiter *w = r->waiters;
    r->waiters = w->next;
    w->fn(w->arg, &res);
    free(w);
  }
}

static void round_free(struct ed_server *srv, struct ed_recheck_round *r) {
  struct ed_recheck_round **p = &srv->rounds;
  while (*p != r) p = &(*p)->next;
  *p = r->next;
  if (srv->last_round == r) srv->last_round = NULL;
  free(r);
}

/* ---- snapshots a reload replaced ----------------------------------------- */

/* A replaced snapshot is freed here, on the control thread, once the
 * server's reference is the last: never on an I/O loop, where the last
 * session or handshake holding it would otherwise free its CRLs in its
 * turn (a CRL of 600,000 entries took up to 21 ms there). A snapshot
 * that is no longer current gains references only from a holder, so one
 * that nothing else holds stays so. Looked at as each re-check round
 * finishes (its sessions moved onto the new snapshot) and every
 * RETIRE_POLL_MS while any is left. */
static void reap(struct ed_server *srv) {
  size_t kept = 0;
  for (size_t i = 0; i < srv->num_retired; i++) {
    if (ed_tls_snapshot_sole(srv->retired[i]))
      ed_tls_snapshot_unref(srv->retired[i]);
    else
      srv->retired[kept++] = srv->retired[i];
  }
  srv->num_retired = kept;
  if (!kept && srv->trust_running) uv_timer_stop(&srv->retire_timer);
}

static void on_retire_tick(uv_timer_t *t) {
  reap(t->data);
}

void ed_server_retire(struct ed_server *srv, struct ed_tls_snapshot *s) {
  if (!s) return;
  if (!srv->trust_running) {
    ed_tls_snapshot_unref(s);
    return;
  }
  srv->retired =
      ed_realloc(srv->retired, (srv->num_retired + 1) * sizeof(*srv->retired));
  srv->retired[srv->num_retired++] = s;
  if (!uv_is_active((uv_handle_t *)&srv->retire_timer))
    uv_timer_start(&srv->retire_timer, on_retire_tick, RETIRE_POLL_MS,
                   RETIRE_POLL_MS);
}

/* poll answers the rounds that are done or past their deadline and frees
 * those every loop reported to. */
static void poll_rounds(struct ed_server *srv, uint64_t now_ns) {
  struct ed_recheck_round *r = srv->rounds, *next;
  for (; r; r = next) {
    next = r->next;
    int done = atomic_load(&r->loops_left) == 0;
    if (done) reap(srv);
    if (!r->answered && (done || now_ns >= r->deadline_ns))
      answer(srv, r, done ? ED_RECHECK_DONE : ED_RECHECK_TIMEOUT);
    else if (done)
      ED_INFO("reload re-check finished",
              "snapshot=%llu sessions_checked=%llu sessions_closed=%llu",
              (unsigned long long)r->snapshot_id,
              (unsigned long long)atomic_load(&r->checked),
              (unsigned long long)atomic_load(&r->closed));
    if (done) round_free(srv, r);
  }
  if (!srv->rounds) uv_timer_stop(&srv->recheck_timer);
}

static void on_recheck_tick(uv_timer_t *t) {
  poll_rounds(t->data, ed_now_ns());
}

/* can_recheck: loops that run and will run what is posted to them. */
static int can_recheck(const struct ed_server *srv) {
  return srv->trust_running && srv->pool && !srv->loops_stopping &&
         !srv->cfg->keep_sessions_on_reload;
}

void ed_server_recheck_start(struct ed_server *srv,
                             const struct ed_tls_summary *sum,
                             enum ed_reload_trigger trigger) {
  srv->last_round = NULL;
  if (!can_recheck(srv)) {
    struct ed_recheck_result res = {
        srv->cfg->keep_sessions_on_reload ? ED_RECHECK_OFF : ED_RECHECK_DONE, 0,
        0};
    srv->last_result = res;
    log_reloaded(trigger, sum->snapshot_id, sum->server.serial,
                 sum->crl_entries, &res);
    return;
  }
  struct ed_recheck_round *r = ed_calloc(1, sizeof(*r));
  r->trigger = trigger;
  r->snapshot_id = sum->snapshot_id;
  snprintf(r->serial, sizeof(r->serial), "%s", sum->server.serial);
  r->crl_entries = sum->crl_entries;
  r->deadline_ns = ed_now_ns() + ED_SERVER_RECHECK_WAIT_MS * 1000000ull;
  atomic_init(&r->loops_left, srv->workers);
  r->next = srv->rounds;
  srv->rounds = srv->last_round = r;
  for (uint32_t i = 0; i < srv->workers; i++)
    ed_loop_post_recheck(srv->loops[i], on_loop_done, r);
  if (!uv_is_active((uv_handle_t *)&srv->recheck_timer))
    uv_timer_start(&srv->recheck_timer, on_recheck_tick, RECHECK_POLL_MS,
                   RECHECK_POLL_MS);
}

void ed_server_reload_wait(struct ed_server *srv,
                           void (*fn)(void *arg,
                                      const struct ed_recheck_result *r),
                           void *arg) {
  struct ed_recheck_round *r = srv->last_round;
  if (!r) {
    fn(arg, &srv->last_result);
    return;
  }
  struct waiter *w = ed_calloc(1, sizeof(*w)), **p = &r->waiters;
  w->fn = fn;
  w->arg = arg;
  while (*p) p = &(*p)->next;
  *p = w;
}

/* ---- the CRL warning ----------------------------------------------------- */

static void on_crl_tick(uv_timer_t *t) {
  struct ed_tls_snapshot *s = ed_server_snapshot(t->data);
  if (s) ed_tls_snapshot_warn_crl_expired(s, (int64_t)time(NULL));
  ed_tls_snapshot_unref(s);
}

/* ---- life ---------------------------------------------------------------- */

void ed_server_trust_start(struct ed_server *srv) {
  uv_timer_init(&srv->control, &srv->recheck_timer);
  srv->recheck_timer.data = srv;
  uv_timer_init(&srv->control, &srv->crl_timer);
  srv->crl_timer.data = srv;
  uv_timer_init(&srv->control, &srv->retire_timer);
  srv->retire_timer.data = srv;
  uint64_t every = srv->cfg->crl_warn_interval_ms;
  if (every) uv_timer_start(&srv->crl_timer, on_crl_tick, every, every);
  srv->trust_running = 1;
}

void ed_server_trust_stop(struct ed_server *srv) {
  if (!srv->trust_running) return;
  srv->trust_running = 0;
  /* The loops have exited: every round got its last report (a loop
   * cannot exit with a re-check batch out), or never will. */
  while (srv->rounds) {
    struct ed_recheck_round *r = srv->rounds;
    if (!r->answered)
      answer(
          srv, r,
          atomic_load(&r->loops_left) ? ED_RECHECK_TIMEOUT : ED_RECHECK_DONE);
    round_free(srv, r);
  }
  uv_close((uv_handle_t *)&srv->recheck_timer, NULL);
  uv_close((uv_handle_t *)&srv->crl_timer, NULL);
  uv_close((uv_handle_t *)&srv->retire_timer, NULL);
  for (size_t i = 0; i < srv->num_retired; i++)
    ed_tls_snapshot_unref(srv->retired[i]);
  free(srv->retired);
  srv->retired = NULL;
  srv->num_retired = 0;
}

/* internal/server — the drain (see ed_server_drain_with in server.h): a
 * timer on the control loop moves it through its phases; the loops are
 * only ever posted to.
 *
 * Log lines (logfmt, internal/base):
 *   level=info msg=draining sessions=3 timeout_ms=30000 delay_ms=5000
 *       sessions_mode=finish
 *   level=info msg="drain stops accepting" sessions=3
 *   level=info msg="drain timeout" closing=1 action=close_notify
 *       (finish: those left get close_notify; close: they are closed) */
#include <stdlib.h>
#include <string.h>

#include "internal/sdnotify/sdnotify.h"
#include "internal/server/server_internal.h"

#define DRAIN_POLL_MS 20

enum drain_phase {
  PHASE_NONE = 0,
  PHASE_ACCEPTING, /* not ready, still accepting (--drain-delay) */
  PHASE_WAITING,   /* not accepting; sessions end (or get close_notify) */
  PHASE_GRACE,     /* finish: close_notify sent at the timeout */
  PHASE_STOPPING,  /* the loops are told to stop */
};

static uint64_t ms_ns(uint64_t ms) {
  return ms * 1000000ull;
}

/* stop_accepting: every loop closes its listeners (close: and sends
 * close_notify to every session), and so does the server; log_stopped
 * says so once they all have. */
static void stop_accepting(struct ed_server *srv, uint64_t now) {
  for (uint32_t i = 0; i < srv->workers; i++) {
    if (srv->drain_finish)
      ed_loop_post_quiesce(srv->loops[i]);
    else
      ed_loop_post_drain(srv->loops[i]);
  }
  ed_server__close_listeners(srv);
  srv->drain_deadline_ns = now + ms_ns(srv->drain_timeout_ms);
  srv->drain_phase = PHASE_WAITING;
}

/* log_stopped writes "drain stops accepting", once, when every loop has
 * closed its copy of the listening sockets (the server closed its own in
 * stop_accepting). Not before: while one copy is open the kernel still
 * completes connections, which the last close then resets, where a
 * client (a balancer) should see a refusal. */
static void log_stopped(struct ed_server *srv) {
  if (srv->drain_phase < PHASE_WAITING || srv->drain_stop_logged) return;
  for (uint32_t i = 0; i < srv->workers; i++) {
    struct ed_loop *l = srv->loops[i];
    if (ed_loop_accepting(l) && !ed_loop_exited(l)) return;
  }
  srv->drain_stop_logged = 1;
  ED_INFO("drain stops accepting", "sessions=%lld",
          (long long)ed_server__live_conns(srv));
}

/* at_deadline: finish mode sends close_notify and waits a little more;
 * close mode (or after that grace) closes what is left. */
static void at_deadline(struct ed_server *srv, uint64_t now) {
  int64_t left = ed_server__live_conns(srv);
  if (srv->drain_phase == PHASE_WAITING && srv->drain_finish && left) {
    ED_INFO("drain timeout", "closing=%lld action=close_notify",
            (long long)left);
    for (uint32_t i = 0; i < srv->workers; i++)
      ed_loop_post_drain(srv->loops[i]);
    srv->drain_grace_until_ns = now + ms_ns(ED_SERVER_DRAIN_GRACE_MS);
    srv->drain_phase = PHASE_GRACE;
    return;
  }
  if (left)
    ED_INFO("drain timeout", "closing=%lld action=close", (long long)left);
  srv->drain_phase = PHASE_STOPPING;
  ed_server__stop_loops(srv);
}

static void on_drain_tick(uv_timer_t *t) {
  struct ed_server *srv = t->data;
  uint64_t now = ed_now_ns();
  if (srv->drain_phase == PHASE_ACCEPTING && now >= srv->drain_accept_until_ns)
    stop_accepting(srv, now);
  log_stopped(srv);
  if (srv->drain_phase == PHASE_WAITING || srv->drain_phase == PHASE_GRACE) {
    uint64_t until = srv->drain_phase == PHASE_WAITING
                         ? srv->drain_deadline_ns
                         : srv->drain_grace_until_ns;
    /* Not before every loop has stopped accepting: until then a
     * connection may still arrive (and one taken from a closing listener's
     * queue is being served). */
    if (srv->drain_stop_logged && ed_server__live_conns(srv) == 0) {
      srv->drain_phase = PHASE_STOPPING;
      ed_server__stop_loops(srv);
    } else if (now >= until) {
      at_deadline(srv, now);
    }
  }
  if (srv->drain_phase != PHASE_STOPPING) return;
  for (uint32_t i = 0; i < srv->workers; i++) {
    if (!ed_loop_exited(srv->loops[i])) return;
  }
  log_stopped(srv); /* the loops may have stopped within this tick */
  uv_timer_stop(t);
  ed_server__finish(srv);
}

void ed_server_drain_with(struct ed_server *srv,
                          const struct ed_server_drain_opts *o) {
  if (atomic_load(&srv->state) != ED_SERVER_RUNNING) return;
  atomic_store(&srv->state, ED_SERVER_DRAINING);
  ed_sdnotify_send("STOPPING=1");
  ED_INFO("draining",
          "sessions=%lld timeout_ms=%u delay_ms=%u sessions_mode=%s",
          (long long)ed_server__live_conns(srv), o->timeout_ms, o->delay_ms,
          o->finish ? "finish" : "close");
  srv->drain_finish = o->finish;
  srv->drain_timeout_ms = o->timeout_ms;
  srv->drain_phase = PHASE_ACCEPTING;
  srv->drain_accept_until_ns = ed_now_ns() + ms_ns(o->delay_ms);
  if (!o->delay_ms) stop_accepting(srv, ed_now_ns());
  uv_timer_start(&srv->drain_timer, on_drain_tick, DRAIN_POLL_MS,
                 DRAIN_POLL_MS);
}

void ed_server_drain(struct ed_server *srv, uint32_t timeout_ms) {
  const struct ed_config *cfg = srv->cfg;
  struct ed_server_drain_opts o = {
      .timeout_ms = timeout_ms,
      .delay_ms = cfg->drain_delay_ms,
      .finish = cfg->drain_sessions && !strcmp(cfg->drain_sessions, "finish"),
  };
  ed_server_drain_with(srv, &o);
}

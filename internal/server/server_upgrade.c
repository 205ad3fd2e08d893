/* internal/server — upgrades (see ed_server_upgrade in server.h and
 * docs/architecture.md, "Upgrades"): the old process's side, on the
 * control loop.
 *
 *   IDLE --upgrade/SIGUSR2--> STARTING --handover (token, pid)--> HANDED
 *   HANDED --"ready"--> DONE: admin socket and metrics port released, the
 *       listeners quiesce, MAINPID= to systemd, drain (sessions finish)
 *   STARTING|HANDED --"failed"--> IDLE (nothing here changed)
 *   STARTING|HANDED --timeout--> KILLING --"failed"--> IDLE
 *
 * Log lines (logfmt, internal/base):
 *   level=info msg="upgrade started" trigger=admin pid=4242
 *   level=info msg="upgrade hand-over" pid=4242 sockets=3
 *   level=info msg=upgraded old_pid=4200 new_pid=4242 drain_timeout_ms=30000
 *   level=warn msg="upgrade spawner did not exit" new_pid=4242 (within 5 s)
 *   level=error msg="upgrade failed" error="echod: error: ... (exited with
 *       status 2)" */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "internal/sdnotify/sdnotify.h"
#include "internal/server/server_internal.h"
#include "internal/upgrade/upgrade.h"

enum upgrade_state {
  UP_IDLE = 0,
  UP_STARTING, /* spawned; waiting for the hand-over */
  UP_HANDED,   /* sockets given; waiting for "ready" */
  UP_KILLING,  /* timed out; waiting for the spawner's "failed" */
  UP_DONE,     /* the new process serves; this one drains */
};

void ed_server_set_spawner(struct ed_server *srv, struct ed_spawner *sp) {
  srv->spawner = sp;
}

void ed_server_add_handover(struct ed_server *srv,
                            const struct ed_server_handover_sock *s) {
  size_t max = sizeof(srv->handover) / sizeof(srv->handover[0]);
  if (srv->num_handover < max) srv->handover[srv->num_handover++] = *s;
}

/* answer tells the caller (and the log) how the upgrade went, once. */
static void answer(struct ed_server *srv, int ok, const char *why) {
  ed_server_upgrade_fn done = srv->upgrade_done;
  void *arg = srv->upgrade_arg;
  srv->upgrade_done = NULL;
  uv_timer_stop(&srv->upgrade_timer);
  memset(srv->upgrade_token, 0, sizeof(srv->upgrade_token));
  if (!ok) {
    char q[ED_UPGRADE_MSG_MAX + 64];
    ED_ERROR("upgrade failed", "error=%s", ed_logq(q, sizeof(q), why));
  }
  if (done) done(arg, ok, srv->upgrade_pid, why);
}

/* took_over: the new process serves on every socket. Stop accepting on
 * ours and drain, letting sessions finish. */
static void took_over(struct ed_server *srv) {
  srv->upgrade_state = UP_DONE;
  for (size_t i = 0; i < srv->num_handover; i++)
    srv->handover[i].release(srv->handover[i].arg);
  /* Once the spawner is gone the new process is the service manager's
   * child, before it becomes the main pid (spawner.c after_ready). */
  uv_poll_stop(&srv->spawner_poll);
  if (ed_spawner_finish(srv->spawner) != 0)
    ED_WARN("upgrade spawner did not exit", "new_pid=%d",
            srv->upgrade_pid); /* not the service manager's child yet */
  srv->spawner = NULL;
  char msg[64];
  snprintf(msg, sizeof(msg), "MAINPID=%d", srv->upgrade_pid);
  ed_sdnotify_hand_over(msg); /* and nothing more from this process */
  ED_INFO("upgraded", "old_pid=%d new_pid=%d drain_timeout_ms=%u",
          (int)getpid(), srv->upgrade_pid, srv->cfg->drain_timeout_ms);
  answer(srv, 1, "");
  struct ed_server_drain_opts o = {.timeout_ms = srv->cfg->drain_timeout_ms,
                                   .finish = 1};
  ed_server_drain_with(srv, &o);
}

static void on_event(struct ed_server *srv, const struct ed_spawner_event *e) {
  if (e->type == ED_SPAWNER_STARTED) {
    srv->upgrade_pid = (int)e->pid;
    ED_INFO("upgrade process", "pid=%d", srv->upgrade_pid);
  } else if (e->type == ED_SPAWNER_READY && srv->upgrade_state == UP_HANDED) {
    took_over(srv);
  } else if (e->type == ED_SPAWNER_READY) {
    /* Ready without our sockets: it is not serving them. */
    ed_spawner_kill(srv->spawner);
    srv->upgrade_state = UP_KILLING;
    answer(srv, 0,
           "the new process reported ready without taking the "
           "sockets; killed");
  } else if (e->type == ED_SPAWNER_FAILED) {
    int answered = srv->upgrade_state == UP_KILLING;
    srv->upgrade_state = UP_IDLE;
    if (!answered) answer(srv, 0, e->message);
  }
}

/* drain_events reads every event the spawner has sent. */
static void drain_events(struct ed_server *srv) {
  struct ed_spawner_event ev;
  int r;
  while (srv->spawner && (r = ed_spawner_read(srv->spawner, &ev)) != 0) {
    if (r < 0) {
      ED_ERROR("upgrade spawner gone", "upgrades=off");
      uv_poll_stop(&srv->spawner_poll);
      ed_spawner_free(srv->spawner);
      srv->spawner = NULL;
      if (srv->upgrade_state == UP_STARTING || srv->upgrade_state == UP_HANDED)
        answer(srv, 0, "the upgrade spawner is gone");
      srv->upgrade_state = UP_IDLE;
      return;
    }
    on_event(srv, &ev);
  }
}

static void on_spawner(uv_poll_t *p, int status, int events) {
  (void)status;
  (void)events;
  drain_events(p->data);
}

static void on_timeout(uv_timer_t *t) {
  struct ed_server *srv = t->data;
  if (srv->upgrade_state != UP_STARTING && srv->upgrade_state != UP_HANDED)
    return;
  ed_spawner_kill(srv->spawner);
  srv->upgrade_state = UP_KILLING;
  char why[128];
  snprintf(why, sizeof(why),
           "the new process did not report ready within %d s; killed",
           ED_SERVER_UPGRADE_TIMEOUT_MS / 1000);
  answer(srv, 0, why);
}

static int refuse(char *err, size_t err_len, int rc, const char *why) {
  snprintf(err, err_len, "%s", why);
  return rc;
}

int ed_server_upgrade(struct ed_server *srv, ed_server_upgrade_fn done,
                      void *arg, char *err, size_t err_len) {
  const struct ed_config *cfg = srv->cfg;
  if (atomic_load(&srv->state) != ED_SERVER_RUNNING)
    return refuse(err, err_len, ED_E_STATE, "the server is not running");
  if (srv->upgrade_state != UP_IDLE)
    return refuse(err, err_len, ED_E_STATE, "an upgrade is already under way");
  if (cfg->no_admin || !cfg->admin_socket)
    return refuse(err, err_len, ED_E_STATE,
                  "upgrades hand the sockets over the admin socket, and "
                  "this server has none (--no-admin)");
  if (getpid() == 1)
    return refuse(err, err_len, ED_E_STATE,
                  "echod is PID 1 (a container): replace the container "
                  "instead");
  if (!srv->spawner || !srv->upgrade_running)
    return refuse(err, err_len, ED_E_STATE, "no upgrade spawner");
  if (ed_upgrade_token(srv->upgrade_token) != 0 ||
      ed_spawner_spawn(srv->spawner, srv->upgrade_token, cfg->admin_socket))
    return refuse(err, err_len, ED_E_IO, "the upgrade spawner is gone");
  srv->upgrade_state = UP_STARTING;
  srv->upgrade_pid = 0;
  srv->upgrade_done = done;
  srv->upgrade_arg = arg;
  uv_timer_start(&srv->upgrade_timer, on_timeout, ED_SERVER_UPGRADE_TIMEOUT_MS,
                 0);
  ED_INFO("upgrade started", "trigger=%s", done ? "admin" : "signal");
  return 0;
}

/* fill lists our listening sockets for the new process. */
static void fill(struct ed_server *srv, struct ed_server_handover *out) {
  size_t max = sizeof(out->fds) / sizeof(out->fds[0]);
  memset(out, 0, sizeof(*out));
  for (size_t i = 0; i < srv->num_listeners && out->num < max; i++) {
    if (srv->listeners[i].fd < 0) continue;
    out->fds[out->num] = srv->listeners[i].fd;
    out->kinds[out->num] = "listen";
    snprintf(out->addrs[out->num++], 80, "%s", srv->listeners[i].addr);
  }
  for (size_t i = 0; i < srv->num_handover && out->num < max; i++) {
    int fd = srv->handover[i].get_fd(srv->handover[i].arg);
    if (fd < 0) continue;
    out->fds[out->num] = fd;
    out->kinds[out->num++] = srv->handover[i].kind;
  }
}

int ed_server_handover(struct ed_server *srv, const char *token, int peer_pid,
                       struct ed_server_handover *out, char *err,
                       size_t err_len) {
  drain_events(srv); /* the spawner's "pid" may still be unread */
  if (srv->upgrade_state != UP_STARTING)
    return refuse(err, err_len, ED_E_PERM,
                  "no upgrade is waiting for a hand-over");
  if (!ed_upgrade_token_equal(token, srv->upgrade_token))
    return refuse(err, err_len, ED_E_PERM, "wrong hand-over token");
  if (peer_pid <= 0 || peer_pid != srv->upgrade_pid) {
    snprintf(err, err_len,
             "only the process the upgrade started (pid %d) may take the "
             "sockets, not pid %d",
             srv->upgrade_pid, peer_pid);
    return ED_E_PERM;
  }
  memset(srv->upgrade_token, 0, sizeof(srv->upgrade_token)); /* used once */
  srv->upgrade_state = UP_HANDED;
  fill(srv, out);
  ED_INFO("upgrade hand-over", "pid=%d sockets=%zu", peer_pid, out->num);
  return 0;
}

static void on_sigusr2(uv_signal_t *s, int signum) {
  struct ed_server *srv = s->data;
  char err[256];
  (void)signum;
  ED_INFO("signal", "signal=SIGUSR2");
  if (ed_server_upgrade(srv, NULL, NULL, err, sizeof(err)) != 0) {
    char q[300];
    ED_ERROR("upgrade refused", "error=%s", ed_logq(q, sizeof(q), err));
  }
}

void ed_server_upgrade_start(struct ed_server *srv) {
  uv_signal_init(&srv->control, &srv->sig_usr2);
  srv->sig_usr2.data = srv;
  uv_signal_start(&srv->sig_usr2, on_sigusr2, SIGUSR2);
  uv_timer_init(&srv->control, &srv->upgrade_timer);
  srv->upgrade_timer.data = srv;
  if (srv->spawner) {
    uv_poll_init(&srv->control, &srv->spawner_poll,
                 ed_spawner_fd(srv->spawner));
    srv->spawner_poll.data = srv;
    uv_poll_start(&srv->spawner_poll, UV_READABLE, on_spawner);
  }
  srv->upgrade_running = 1;
}

void ed_server_upgrade_stop(struct ed_server *srv) {
  if (!srv->upgrade_running) return;
  srv->upgrade_running = 0;
  if (srv->upgrade_state == UP_STARTING || srv->upgrade_state == UP_HANDED) {
    if (srv->spawner) ed_spawner_kill(srv->spawner);
    answer(srv, 0, "the server stopped first");
  }
  uv_close((uv_handle_t *)&srv->sig_usr2, NULL);
  uv_close((uv_handle_t *)&srv->upgrade_timer, NULL);
  if (srv->spawner_poll.type == UV_POLL) /* it was made */
    uv_close((uv_handle_t *)&srv->spawner_poll, NULL);
}

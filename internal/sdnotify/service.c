/* internal/sdnotify — see service.h. */
#include "internal/sdnotify/service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal/base/base.h"
#include "internal/sdnotify/sdnotify.h"
#include "internal/stats/stats.h"

struct ed_sdnotify_service {
  struct ed_server *srv;
  uv_timer_t timer;
  uv_check_t check;
  int open_handles;
  uint64_t watchdog_usec; /* 0: no watchdog */
  uint64_t reloads_seen;  /* reload count when STATUS was last built */
  int warned;             /* a failed send was logged */
  int ready_sent;         /* READY=1 went out (first timer tick) */
  char status[512];       /* the last STATUS= line sent */
};

static uint64_t reload_count(const struct ed_reload_status *r) {
  uint64_t n = 0;
  for (size_t t = 0; t < ED_RELOAD_TRIGGER_COUNT; t++)
    n += r->count[t][0] + r->count[t][1];
  return n;
}

static void build_status(struct ed_sdnotify_service *svc, char *out,
                         size_t out_len) {
  struct ed_stats_snapshot s;
  struct ed_reload_status r;
  ed_server_stats(svc->srv, &s);
  ed_server_reload_status(svc->srv, &r);
  svc->reloads_seen = reload_count(&r);
  int64_t open = s.active_handshaking + s.active_established;
  struct ed_sdnotify_status st = {
      .state = ed_server_state_name(ed_server_get_state(svc->srv)),
      .sessions = open > 0 ? (uint64_t)open : 0,
      .reload_ok = r.last_ok,
      .reload_trigger = ed_reload_trigger_name(r.last_trigger),
      .reload_wall_ns = r.last_wall_ns,
      .reload_error = r.last_error,
  };
  ed_sdnotify_status_msg(out, out_len, &st);
}

/* notify sends |head| ("READY=1", "WATCHDOG=1" or "") and, when it changed
 * or |force|, the STATUS= line, in one datagram. The first failed send
 * writes (once per run; later failures are silent):
 *   level=warn msg="systemd notify failed" err="input/output error" */
static void notify(struct ed_sdnotify_service *svc, const char *head,
                   int force) {
  char status[sizeof(svc->status)], msg[sizeof(svc->status) + 32];
  build_status(svc, status, sizeof(status));
  int changed = force || strcmp(status, svc->status) != 0;
  if (!changed && !*head) return;
  snprintf(msg, sizeof(msg), "%s%s%s", head, *head && changed ? "\n" : "",
           changed ? status : "");
  int rc = ed_sdnotify_send(msg);
  if (rc == 0 && changed) memcpy(svc->status, status, sizeof(status));
  if (rc != 0 && !svc->warned) {
    svc->warned = 1;
    char q[128];
    ED_WARN("systemd notify failed", "err=%s",
            ed_logq(q, sizeof(q), ed_strerror(rc)));
  }
}

/* The first tick fires at once, but inside ed_server_run: only there are
 * the SIGTERM/SIGHUP handlers installed, and after READY=1 systemd may
 * send either at any moment. */
static void on_timer(uv_timer_t *t) {
  struct ed_sdnotify_service *svc = t->data;
  if (!svc->ready_sent) {
    svc->ready_sent = 1;
    notify(svc, "READY=1", 1);
    return;
  }
  notify(svc, svc->watchdog_usec ? "WATCHDOG=1" : "", 0);
}

/* Runs after each control loop iteration's I/O: a reload happened in it
 * when the count moved, and STATUS= says so at once. */
static void on_check(uv_check_t *c) {
  struct ed_sdnotify_service *svc = c->data;
  if (!svc->ready_sent) return;
  struct ed_reload_status r;
  ed_server_reload_status(svc->srv, &r);
  if (reload_count(&r) != svc->reloads_seen) notify(svc, "", 0);
}

static void on_closed(uv_handle_t *h) {
  struct ed_sdnotify_service *svc = h->data;
  if (--svc->open_handles == 0) free(svc);
}

static void on_stop(void *arg) {
  struct ed_sdnotify_service *svc = arg;
  uv_close((uv_handle_t *)&svc->timer, on_closed);
  uv_close((uv_handle_t *)&svc->check, on_closed);
}

/* watchdog reads $WATCHDOG_USEC/$WATCHDOG_PID; 0 when there is none.
 * A value that is not a positive number writes, once at start:
 *   level=warn msg="systemd watchdog ignored" WATCHDOG_USEC=30s */
static uint64_t watchdog(void) {
  uint64_t usec = 0;
  const char *v = getenv("WATCHDOG_USEC");
  int rc = ed_sdnotify_watchdog_usec(&usec, v, getenv("WATCHDOG_PID"),
                                     (long)getpid());
  if (rc == ED_E_INVAL) {
    char q[128];
    ED_WARN("systemd watchdog ignored", "WATCHDOG_USEC=%s",
            ed_logq(q, sizeof(q), v));
  }
  return rc == 0 ? usec : 0;
}

/* ed_sdnotify_service_start writes, once at start under systemd
 * (watchdog_ms=0: no watchdog):
 *   level=info msg="systemd notify" socket=/run/systemd/notify
 *       watchdog_ms=30000 */
int ed_sdnotify_service_start(struct ed_sdnotify_service **out,
                              struct ed_server *srv) {
  *out = NULL;
  const char *sock = getenv("NOTIFY_SOCKET");
  if (!sock || !*sock) return 0;
  struct ed_sdnotify_service *svc = ed_calloc(1, sizeof(*svc));
  svc->srv = srv;
  svc->watchdog_usec = watchdog();
  uint64_t period_ms = ED_SDNOTIFY_STATUS_MS;
  if (svc->watchdog_usec && svc->watchdog_usec / 2000 < period_ms)
    period_ms = svc->watchdog_usec / 2000 ? svc->watchdog_usec / 2000 : 1;
  uv_loop_t *loop = ed_server_control_loop(srv);
  uv_timer_init(loop, &svc->timer);
  uv_check_init(loop, &svc->check);
  svc->timer.data = svc->check.data = svc;
  svc->open_handles = 2;
  uv_timer_start(&svc->timer, on_timer, 0, period_ms);
  uv_check_start(&svc->check, on_check);
  ed_server_add_stop_hook(srv, on_stop, svc);
  char q[256];
  ED_INFO("systemd notify", "socket=%s watchdog_ms=%llu",
          ed_logq(q, sizeof(q), sock),
          (unsigned long long)(svc->watchdog_usec / 1000));
  *out = svc;
  return 0;
}

/* internal/loop — accepting. Each listening socket is one socket (not
 * SO_REUSEPORT, so no other process can share its address; see
 * internal/listen) that every loop polls through its own descriptor. The
 * loop that wins accept4() keeps the connection only when it is its turn:
 * connections go to the loops round-robin, and one for another loop is
 * put in that loop's inbox (a short locked array) and the loop woken
 * (struct ed_wake). Threads share the descriptor table, so only the
 * number moves.
 *
 * Why not let each loop keep what it accepts: with one socket in several
 * epoll sets every new connection wakes every loop, and the same loop
 * wins nearly every time; measured with --workers 2, 64 connections
 * opened at once all landed on loop 0 (docs/BENCHMARKS.md, "Listener").
 *
 * accept4 is libc's, so ThreadSanitizer sees every descriptor created:
 * libuv closes descriptors with a raw close system call TSan does not
 * see, and a number the control loop's accept (admin, metrics) created,
 * libuv closed and a loop's accept then reused out of TSan's sight looked
 * to TSan like a race on the number. Seen, the loop's accept starts the
 * number afresh; the inbox's mutex orders it before the other loop's use
 * of it. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal/loop/loop_internal.h"

#define ED_ACCEPTS_PER_WAKE 64 /* then the other handles get their turn */
#define ED_EMFILE_PAUSE_MS 100
#define ED_INBOX_MAX 1024        /* connections waiting for one loop */
#define ED_ACCEPT_QUEUE_MAX 4096 /* the most a listen backlog holds */

/* log_out_of_fds writes, at most once a second per loop (paused_ms=100
 * when the reserve descriptor could not be reopened and accepting stops):
 *   level=warn msg="out of file descriptors" worker=1 dropped=12 paused_ms=0 */
static void log_out_of_fds(struct ed_loop *l, int dropped, int paused_ms) {
  uint64_t now = uv_now(&l->uv);
  if (now - l->last_emfile_log_ms < 1000) return;
  l->last_emfile_log_ms = now;
  ED_WARN("out of file descriptors", "worker=%u dropped=%d paused_ms=%d",
          l->index, dropped, paused_ms);
}

/* ---- the inbox: connections other loops accepted for this one ------------ */

/* inbox_put queues |a| for |to|. Returns 0, or -1 when |to| takes no more
 * (full, or closed: it is draining or stopping). */
static int inbox_put(struct ed_loop *to, const struct ed_accepted *a) {
  pthread_mutex_lock(&to->inbox_mu);
  int ok = !to->inbox_closed && to->inbox_len < ED_INBOX_MAX;
  if (ok) {
    if (to->inbox_len == to->inbox_cap) {
      to->inbox_cap = to->inbox_cap ? 2 * to->inbox_cap : 64;
      to->inbox = ed_realloc(to->inbox, to->inbox_cap * sizeof(*a));
    }
    to->inbox[to->inbox_len++] = *a;
  }
  pthread_mutex_unlock(&to->inbox_mu);
  if (ok) ed_wake_signal(&to->inbox_wake);
  return ok ? 0 : -1;
}

/* on_inbox takes the whole inbox at once (swapped for the spare array,
 * so nothing is copied under the lock) and accepts what it held. */
static void on_inbox(struct ed_wake *w) {
  struct ed_loop *l = w->data;
  ed_loop_awake(l);
  pthread_mutex_lock(&l->inbox_mu);
  struct ed_accepted *q = l->inbox;
  size_t n = l->inbox_len, cap = l->inbox_cap;
  l->inbox = l->inbox_spare;
  l->inbox_cap = l->inbox_spare_cap;
  l->inbox_len = 0;
  pthread_mutex_unlock(&l->inbox_mu);
  for (size_t i = 0; i < n; i++) ed_conn_accept(l, &q[i]);
  l->inbox_spare = q; /* the loop's own until the next swap */
  l->inbox_spare_cap = cap;
}

/* hand_off gives |a| (just accepted) to the loop whose turn it is, or
 * keeps it when that is this loop or that loop takes no more; refused
 * here, by this loop, when there is no room for it (conn.c, admission). */
static void hand_off(struct ed_loop *l, const struct ed_accepted *a) {
  struct ed_loop_shared *sh = l->sh;
  int why = ed_conn_reserve(l);
  if (why >= 0) {
    ed_conn_refuse(l, a->fd, (enum ed_reject_reason)why);
    return;
  }
  uint32_t n = sh->loops ? sh->num_loops : 1;
  struct ed_loop *to = l;
  if (n > 1) to = sh->loops[atomic_fetch_add(&sh->next_loop, 1) % n];
  if (to == l || !to || inbox_put(to, a) != 0) ed_conn_accept(l, a);
}

/* ---- accepting ----------------------------------------------------------- */

static void on_readable(uv_poll_t *p, int status, int events);

static void on_accept_pause_end(uv_timer_t *t) {
  struct ed_loop *l = t->data;
  for (size_t i = 0; i < l->num_listeners && !l->listeners_closed; i++)
    uv_poll_start(&l->listeners[i], UV_READABLE, on_readable);
}

static int accept_fd(int lfd, int flags) {
  return accept4(lfd, NULL, NULL, flags);
}

/* accept_one accepts a connection on listener |i| into |a|, with the
 * peer's address (no getpeername later). Returns the descriptor or -1
 * (errno set). */
static int accept_one(struct ed_loop *l, size_t i, struct ed_accepted *a) {
  socklen_t len = sizeof(a->peer);
  memset(a, 0, sizeof(*a));
  a->fd = accept4(l->listener_fds[i], &a->peer.sa, &len,
                  SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (a->fd >= 0 && len > sizeof(a->peer)) a->peer.sa.sa_family = AF_UNSPEC;
  a->data_waiting = l->listener_deferred[i];
  return a->fd;
}

/* emfile_trick: out of descriptors, so the pending connection cannot be
 * accepted and would wake us forever. Free the reserve fd, accept and
 * close what is pending, take the reserve again. Every loop polls the
 * same sockets, so another loop may take the freed descriptor first and
 * leave this one without a reserve: accepting then pauses for
 * ED_EMFILE_PAUSE_MS instead of spinning on EMFILE. */
static void emfile_trick(struct ed_loop *l, int lfd) {
  int dropped = 0;
  if (l->reserve_fd >= 0) close(l->reserve_fd);
  for (int fd; (fd = accept_fd(lfd, SOCK_CLOEXEC)) >= 0; dropped++) close(fd);
  l->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (l->reserve_fd < 0) {
    for (size_t i = 0; i < l->num_listeners; i++)
      uv_poll_stop(&l->listeners[i]);
    uv_timer_start(&l->accept_pause, on_accept_pause_end, ED_EMFILE_PAUSE_MS,
                   0);
  }
  log_out_of_fds(l, dropped, l->reserve_fd < 0 ? ED_EMFILE_PAUSE_MS : 0);
}

/* accepts_now: how many connections on_readable tries to accept from
 * listener |i|. One, unless the listener was readable in the previous
 * loop iteration too: connections arriving one at a time (the common
 * case) then cost one accept4 each, not a second one that fails with
 * EAGAIN; a burst leaves the listener readable, so the next iteration
 * (its poll returns at once) takes the rest, up to ED_ACCEPTS_PER_WAKE. */
static int accepts_now(struct ed_loop *l, size_t i) {
  int burst = l->listener_seen[i] + 1 == l->iterations;
  l->listener_seen[i] = l->iterations;
  return burst ? ED_ACCEPTS_PER_WAKE : 1;
}

static void on_readable(uv_poll_t *p, int status, int events) {
  struct ed_loop *l = p->data;
  size_t i = (size_t)(p - l->listeners);
  int lfd = l->listener_fds[i];
  struct ed_accepted a;
  (void)events;
  ed_loop_awake(l);
  if (status < 0) return;
  for (int n = 0, max = accepts_now(l, i); n < max; n++) {
    if (accept_one(l, i, &a) >= 0) {
      hand_off(l, &a);
    } else if (errno == EMFILE || errno == ENFILE) {
      emfile_trick(l, lfd);
      return;
    } else if (errno != ECONNABORTED && errno != EINTR) {
      return; /* EAGAIN: another loop took it; or nothing left */
    }
  }
}

/* is_deferred: |fd| has TCP_DEFER_ACCEPT (internal/listen sets it), so
 * what it accepts has data waiting. */
static uint8_t is_deferred(int fd) {
  int secs = 0;
  socklen_t len = sizeof(secs);
  return getsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, &len) == 0 &&
         secs > 0;
}

int ed_loop_add_listener(struct ed_loop *l, int fd) {
  if (l->num_listeners >= ED_MAX_LISTENERS) {
    close(fd);
    return ED_E_TOOBIG;
  }
  size_t i = l->num_listeners;
  if (uv_poll_init(&l->uv, &l->listeners[i], fd) != 0) {
    close(fd);
    return ED_E_SYS;
  }
  l->listeners[i].data = l;
  l->listener_fds[i] = fd;
  l->listener_deferred[i] = is_deferred(fd);
  l->num_listeners++;
  return uv_poll_start(&l->listeners[i], UV_READABLE, on_readable) ? ED_E_SYS
                                                                   : 0;
}

/* close_inbox takes no more connections and closes those still queued
 * (the loop is draining or stopping: they would be refused anyway). */
static void close_inbox(struct ed_loop *l) {
  pthread_mutex_lock(&l->inbox_mu);
  l->inbox_closed = 1;
  for (size_t i = 0; i < l->inbox_len; i++) {
    close(l->inbox[i].fd);
    ed_conn_unreserve(l->sh); /* the slot hand_off reserved for it */
  }
  l->inbox_len = 0;
  pthread_mutex_unlock(&l->inbox_mu);
}

/* take_queued accepts and serves what the kernel completed on listener
 * |i|: this loop's close may be the socket's last, and the last close
 * resets every connection still in the accept queue. Only while sessions
 * may still be served (a drain that lets them finish): a loop that is
 * draining or stopping would refuse them, and a successor holding the
 * same socket (an upgrade, systemd's socket unit) serves them better.
 * What completes between the last accept4 and the close is still reset:
 * microseconds, where a held or preempted loop left whole seconds. */
static void take_queued(struct ed_loop *l, size_t i) {
  struct ed_accepted a;
  if (l->draining || l->stopping) return;
  for (int n = 0; n < ED_ACCEPT_QUEUE_MAX; n++) {
    if (accept_one(l, i, &a) >= 0)
      hand_off(l, &a);
    else if (errno != ECONNABORTED && errno != EINTR)
      return; /* EAGAIN: nothing left; EMFILE: the close resets them */
  }
}

/* ed_loop_stop_accepting closes this loop's descriptors of the listening
 * sockets and nothing else: connections other loops accepted for this one
 * still arrive in its inbox and are served (a drain that lets sessions
 * finish, an upgrade's old process: the sockets stay open elsewhere). */
void ed_loop_stop_accepting(struct ed_loop *l) {
  if (l->listeners_closed) return; /* loop thread only: no reentry */
  ed_loop_test_quiesce_delay(l);
  for (size_t i = 0; i < l->num_listeners; i++) {
    take_queued(l, i);
    uv_close((uv_handle_t *)&l->listeners[i], NULL);
    close(l->listener_fds[i]); /* the poll handle never closes it */
    l->listener_fds[i] = -1;
  }
  /* Only now: the control thread's "drain stops accepting" waits for
   * this (ed_loop_accepting), and while a descriptor is open the kernel
   * completes connections that its close would reset. */
  atomic_store(&l->listeners_closed, 1);
}

int ed_loop_accepting(struct ed_loop *l) {
  return !atomic_load(&l->listeners_closed);
}

void ed_loop_close_listeners(struct ed_loop *l) {
  ed_loop_stop_accepting(l);
  if (uv_is_closing((uv_handle_t *)&l->accept_pause)) return;
  uv_close((uv_handle_t *)&l->accept_pause, NULL);
  close_inbox(l);
  ed_wake_close(&l->inbox_wake);
}

/* ---- life ---------------------------------------------------------------- */

int ed_loop_accept_init(struct ed_loop *l) {
  pthread_mutex_init(&l->inbox_mu, NULL);
  l->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  uv_timer_init(&l->uv, &l->accept_pause);
  l->accept_pause.data = l;
  l->inbox_wake.data = l;
  return ed_wake_init(&l->inbox_wake, &l->uv, on_inbox) ? ED_E_SYS : 0;
}

void ed_loop_accept_cleanup(struct ed_loop *l) {
  for (size_t i = 0; i < l->num_listeners; i++) {
    if (l->listener_fds[i] >= 0) close(l->listener_fds[i]);
    l->listener_fds[i] = -1;
  }
  close_inbox(l);
  free(l->inbox);
  free(l->inbox_spare);
  l->inbox = l->inbox_spare = NULL;
  ed_wake_cleanup(&l->inbox_wake);
  pthread_mutex_destroy(&l->inbox_mu);
  if (l->reserve_fd >= 0) close(l->reserve_fd);
  l->reserve_fd = -1;
}

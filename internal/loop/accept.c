/* internal/loop — accepting. Each listening socket is one socket (not
 * SO_REUSEPORT, so no other process can share its address; see
 * internal/listen) that every loop polls through its own descriptor. The
 * loop that wins accept4() does not keep the connection: it hands it to
 * the next loop in round-robin order over that loop's hand-off socket (a
 * Unix socketpair; the descriptor travels as SCM_RIGHTS), and each loop
 * adopts what arrives there with uv_accept, the way libuv passes handles
 * between processes.
 *
 * Why the hand-off: with one socket in several epoll sets every new
 * connection wakes every loop and the same loop wins nearly every time;
 * measured with --workers 2, 64 connections opened at once all landed on
 * loop 0 (docs/BENCHMARKS.md, "Listener"). The hand-off costs the winner
 * a sendmsg() and a close() and the receiver a recvmsg() per connection,
 * and makes the split exact. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal/loop/loop_internal.h"

#define ED_ACCEPTS_PER_WAKE 64 /* then the other handles get their turn */
#define ED_EMFILE_PAUSE_MS 100

/* ---- handing a connection over ------------------------------------------- */

static int send_fd(int sock, int fd) {
  char byte = 'c';
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(sizeof(int))];
  } u;
  memset(&u, 0, sizeof(u));
  struct msghdr m = {.msg_iov = &iov,
                     .msg_iovlen = 1,
                     .msg_control = u.buf,
                     .msg_controllen = sizeof(u.buf)};
  struct cmsghdr *c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof(int));
  return sendmsg(sock, &m, MSG_NOSIGNAL | MSG_DONTWAIT) == 1 ? 0 : -1;
}

/* hand_off gives |fd| (a just-accepted connection) to the next loop, or
 * to this one when that loop's queue is full or closed (it is draining),
 * and closes this loop's copy. */
static void hand_off(struct ed_loop *l, int fd) {
  struct ed_loop_shared *sh = l->sh;
  uint32_t n = sh->handoff ? sh->num_loops : 0;
  int sock = l->handoff_wr;
  if (n > 1) sock = sh->handoff[atomic_fetch_add(&sh->next_loop, 1) % n];
  if (send_fd(sock, fd) != 0 &&
      (sock == l->handoff_wr || send_fd(l->handoff_wr, fd) != 0)) {
    uint64_t now = uv_now(&l->uv);
    if (now - l->last_handoff_log_ms >= 1000) {
      l->last_handoff_log_ms = now;
      ED_WARN("connection dropped",
              "worker=%u reason=\"no loop takes it\" "
              "err=\"%s\"",
              l->index, strerror(errno));
    }
  }
  close(fd);
}

static void log_out_of_fds(struct ed_loop *l, long dropped, int paused_ms) {
  uint64_t now = uv_now(&l->uv);
  if (now - l->last_emfile_log_ms < 1000) return;
  l->last_emfile_log_ms = now;
  ED_WARN("out of file descriptors", "worker=%u dropped=%ld paused_ms=%d",
          l->index, dropped, paused_ms);
}

/* on_handoff adopts the connections other loops (or this one) passed.
 * Each one came as one byte with one descriptor; a byte without its
 * descriptor means the kernel could not give it to us (no free
 * descriptor: it closed the connection), which is logged. */
static void on_handoff(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  struct ed_loop *l = s->data;
  ssize_t adopted = 0;
  (void)buf;
  for (; uv_pipe_pending_count(&l->handoff) > 0; adopted++)
    ed_conn_accept(l, s);
  if (nread > adopted) log_out_of_fds(l, (long)(nread - adopted), 0);
  if (nread < 0 && nread != UV_EAGAIN) uv_read_stop(s);
}

static void on_handoff_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf) {
  struct ed_loop *l = h->data;
  (void)size;
  *buf = uv_buf_init(l->handoff_buf, sizeof(l->handoff_buf));
}

/* ---- accepting ----------------------------------------------------------- */

static void on_readable(uv_poll_t *p, int status, int events);

static void on_accept_pause_end(uv_timer_t *t) {
  struct ed_loop *l = t->data;
  for (size_t i = 0; i < l->num_listeners && !l->listeners_closed; i++)
    uv_poll_start(&l->listeners[i], UV_READABLE, on_readable);
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
  for (int fd; (fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0; dropped++)
    close(fd);
  l->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (l->reserve_fd < 0) {
    for (size_t i = 0; i < l->num_listeners; i++)
      uv_poll_stop(&l->listeners[i]);
    uv_timer_start(&l->accept_pause, on_accept_pause_end, ED_EMFILE_PAUSE_MS,
                   0);
  }
  log_out_of_fds(l, dropped, l->reserve_fd < 0 ? ED_EMFILE_PAUSE_MS : 0);
}

static void on_readable(uv_poll_t *p, int status, int events) {
  struct ed_loop *l = p->data;
  int lfd = l->listener_fds[p - l->listeners];
  (void)events;
  if (status < 0) return;
  for (int n = 0; n < ED_ACCEPTS_PER_WAKE; n++) {
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      hand_off(l, fd);
    } else if (errno == EMFILE || errno == ENFILE) {
      emfile_trick(l, lfd);
      return;
    } else if (errno != ECONNABORTED && errno != EINTR) {
      return; /* EAGAIN: another loop took it; or nothing left */
    }
  }
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
  l->num_listeners++;
  return uv_poll_start(&l->listeners[i], UV_READABLE, on_readable) ? ED_E_SYS
                                                                   : 0;
}

void ed_loop_close_listeners(struct ed_loop *l) {
  if (l->listeners_closed) return;
  l->listeners_closed = 1;
  for (size_t i = 0; i < l->num_listeners; i++) {
    uv_close((uv_handle_t *)&l->listeners[i], NULL);
    close(l->listener_fds[i]); /* the poll handle never closes it */
    l->listener_fds[i] = -1;
  }
  uv_close((uv_handle_t *)&l->accept_pause, NULL);
  /* Connections still queued for us are closed with the socket. */
  if (l->handoff_open) uv_close((uv_handle_t *)&l->handoff, NULL);
  l->handoff_open = 0;
}

/* ---- life ---------------------------------------------------------------- */

int ed_loop_accept_init(struct ed_loop *l) {
  int sv[2];
  l->handoff_wr = -1;
  l->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  uv_timer_init(&l->uv, &l->accept_pause);
  l->accept_pause.data = l;
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv))
    return ED_E_SYS;
  if (uv_pipe_init(&l->uv, &l->handoff, 1) != 0) {
    close(sv[0]);
    close(sv[1]);
    return ED_E_SYS;
  }
  l->handoff.data = l;
  l->handoff_open = 1;
  l->handoff_wr = sv[1];
  if (uv_pipe_open(&l->handoff, sv[0]) != 0) {
    close(sv[0]);
    return ED_E_SYS;
  }
  if (uv_read_start((uv_stream_t *)&l->handoff, on_handoff_alloc, on_handoff) !=
      0)
    return ED_E_SYS;
  if (l->sh->handoff && l->index < l->sh->num_loops)
    l->sh->handoff[l->index] = sv[1];
  return 0;
}

void ed_loop_accept_cleanup(struct ed_loop *l) {
  for (size_t i = 0; i < l->num_listeners; i++) {
    if (l->listener_fds[i] >= 0) close(l->listener_fds[i]);
    l->listener_fds[i] = -1;
  }
  if (l->sh->handoff && l->index < l->sh->num_loops)
    l->sh->handoff[l->index] = -1;
  if (l->handoff_wr >= 0) close(l->handoff_wr);
  l->handoff_wr = -1;
  if (l->reserve_fd >= 0) close(l->reserve_fd);
  l->reserve_fd = -1;
}

/* internal/loop — see wake.h. */
#include "internal/loop/wake.h"

#include <errno.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "internal/base/base.h"

static void on_poll(uv_poll_t *h, int status, int events) {
  struct ed_wake *w = h->data;
  uint64_t n;
  (void)status;
  (void)events;
  /* Clear first: a signal after this read wakes us again, so whatever it
   * announced is never missed by the callback below. */
  while (read(w->fd, &n, sizeof(n)) < 0 && errno == EINTR) {
  }
  w->cb(w);
}

int ed_wake_init(struct ed_wake *w, uv_loop_t *uv,
                 void (*cb)(struct ed_wake *w)) {
  w->cb = cb;
  w->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (w->fd < 0) return ED_E_SYS;
  if (uv_poll_init(uv, &w->poll, w->fd) != 0) {
    close(w->fd);
    w->fd = -1;
    return ED_E_SYS;
  }
  w->poll.data = w;
  uv_poll_start(&w->poll, UV_READABLE, on_poll);
  return 0;
}

void ed_wake_signal(struct ed_wake *w) {
  uint64_t one = 1;
  /* EAGAIN only if 2^64-2 signals went unread: the loop is due anyway. */
  while (write(w->fd, &one, sizeof(one)) < 0 && errno == EINTR) {
  }
}

void ed_wake_close(struct ed_wake *w) {
  uv_poll_stop(&w->poll);
  if (!uv_is_closing((uv_handle_t *)&w->poll))
    uv_close((uv_handle_t *)&w->poll, NULL);
}

void ed_wake_cleanup(struct ed_wake *w) {
  if (w->fd >= 0) close(w->fd);
  w->fd = -1;
}

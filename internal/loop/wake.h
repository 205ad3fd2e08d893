/* internal/loop — a loop's wake-up from other threads: an eventfd watched
 * by a uv_poll_t on the loop. Any thread calls ed_wake_signal; the loop
 * thread then runs the callback (once for any number of signals since the
 * last run).
 *
 * Why not uv_async_send: libuv 1.44 marks the handle pending, writes its
 * eventfd, then marks it done. On a shared core the write wakes the loop,
 * the loop preempts the sender inside that window, sees "pending" and
 * spins, then sched_yield()s to the sender, which (a handshake pool
 * thread) runs a whole handshake step first: 1.6-3.8 ms stalls for every
 * established session of the loop. Here the sender's only step is one
 * write(2): the loop never waits for it.
 *
 * Not a queue: the owner keeps its own (lock-free or locked) list and
 * must signal after making an item visible; the callback must read the
 * list after it is called. ed_wake_signal is then never lost, because the
 * callback clears the eventfd before it runs. */
#ifndef ED_LOOP_WAKE_H
#define ED_LOOP_WAKE_H

#include <uv.h>

struct ed_wake {
  uv_poll_t poll;
  int fd; /* the eventfd, -1 when closed */
  void (*cb)(struct ed_wake *w);
  void *data; /* the owner's */
};

/* ed_wake_init creates the eventfd and starts watching it on |uv| (the
 * handle keeps |uv| alive until ed_wake_close). |cb| runs on |uv|'s
 * thread. Returns 0 or ED_E_SYS (no descriptor); on failure nothing is
 * left to close and w->fd is -1. */
int ed_wake_init(struct ed_wake *w, uv_loop_t *uv,
                 void (*cb)(struct ed_wake *w));

/* ed_wake_signal makes the callback run soon. Any thread, async-signal
 * safe; |w| must stay initialised (until ed_wake_cleanup). */
void ed_wake_signal(struct ed_wake *w);

/* ed_wake_close closes the poll handle (loop thread; once). The eventfd
 * stays open, so late signals from other threads are harmless. */
void ed_wake_close(struct ed_wake *w);

/* ed_wake_cleanup closes the eventfd, once the handle is closed (after
 * the loop's last uv_run) and no thread will signal again. */
void ed_wake_cleanup(struct ed_wake *w);

#endif /* ED_LOOP_WAKE_H */

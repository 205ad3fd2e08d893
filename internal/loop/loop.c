/* internal/loop — the loop itself: thread, the mailbox other threads post
 * to, the timeout sweep and the session registry. Accepting (listeners,
 * the hand-off between loops, the EMFILE reserve-fd trick) is in
 * accept.c; a connection's own life is in conn.c and conn_hs.c. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "internal/loop/loop_internal.h"

static int real_submit(void *pool, struct ed_hs_job *job, int is_new) {
  return ed_hs_pool_submit(pool, job, is_new);
}

static int real_full(void *pool) {
  return ed_hs_pool_full(pool);
}

static size_t real_busy(void *pool) {
  return ed_hs_pool_busy(pool);
}

static const struct ed_loop_pool_ops real_pool = {real_submit, real_full,
                                                  real_busy};

const struct ed_loop_pool_ops *ed_loop_pool(const struct ed_loop *l) {
  return l->sh->pool_ops ? l->sh->pool_ops : &real_pool;
}

/* ---- exit ---------------------------------------------------------------- */

static void maybe_exit(struct ed_loop *l) {
  if (!l->stopping || l->closed_handles || atomic_load(&l->nconns) > 0) return;
  l->closed_handles = 1;
  ed_wake_close(&l->wake);
  uv_close((uv_handle_t *)&l->sweep, NULL);
  uv_close((uv_handle_t *)&l->before_poll, NULL);
  uv_close((uv_handle_t *)&l->after_poll, NULL);
  uv_close((uv_handle_t *)&l->more_steps, NULL);
}

void ed_loop_conn_freed(struct ed_loop *l) {
  atomic_fetch_sub(&l->nconns, 1);
  atomic_fetch_sub(&l->sh->num_conns, 1);
  maybe_exit(l);
}

/* ---- mailbox ------------------------------------------------------------- */

static void close_all(struct ed_loop *l, enum close_reason why,
                      enum close_how how) {
  struct ed_link *e = l->conns.next;
  while (e != &l->conns) {
    struct ed_conn *c = CONN_OF(e, reg);
    e = e->next; /* closing may unlink |c| later, never now */
    ed_conn_close(c, why, c->state == ED_SESSION_ESTABLISHED ? how : HOW_ABORT);
  }
}

static void run_cmd(struct ed_loop *l, struct loop_cmd *cmd) {
  for (struct ed_link *e = l->conns.next; e != &l->conns;) {
    struct ed_conn *c = CONN_OF(e, reg);
    e = e->next;
    int hit = cmd->type == CMD_KILL ? c->id == cmd->id
                                    : c->state == ED_SESSION_ESTABLISHED &&
                                          ed_tls_peer_cn_is(c->peer, cmd->cn);
    if (hit) ed_conn_close(c, CR_KILLED, HOW_NOTIFY);
  }
}

static void on_more_steps(uv_idle_t *h) {
  (void)h; /* on_prepare, which comes next, runs them */
}

/* run_steps takes every finished handshake step (the stack is LIFO; the
 * ready list keeps them in completion order) and runs at most
 * ED_STEPS_PER_WAKE of them, so a burst of finished handshakes cannot
 * delay established sessions' reads by more than a few steps' work; the
 * rest run on the next loop iteration, after the sockets are polled. */
static void run_steps(struct ed_loop *l) {
  struct ed_conn *taken =
      atomic_exchange_explicit(&l->done, NULL, memory_order_acquire);
  struct ed_conn *fifo = NULL;
  while (taken) {
    struct ed_conn *c = taken;
    taken = c->done_next;
    c->done_next = fifo;
    fifo = c;
  }
  if (fifo) {
    if (l->ready_tail) {
      l->ready_tail->done_next = fifo;
    } else {
      l->ready_head = fifo;
    }
    while (fifo->done_next) fifo = fifo->done_next;
    l->ready_tail = fifo;
  }
  for (int n = 0; n < ED_STEPS_PER_WAKE && l->ready_head; n++) {
    struct ed_conn *c = l->ready_head;
    l->ready_head = c->done_next;
    if (!l->ready_head) l->ready_tail = NULL;
    ed_conn_step_done(c);
  }
  /* Steps left over: an active idle handle makes the next poll return at
   * once, and the next iteration's on_prepare runs them. */
  if (l->ready_head) {
    uv_idle_start(&l->more_steps, on_more_steps);
  } else {
    uv_idle_stop(&l->more_steps);
  }
}

/* sleep_ns puts the loop thread to sleep for |ns| (0: not at all),
 * through signals. */
static void sleep_ns(uint64_t ns) {
  struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
  while (ns && nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* share_nap: --handshake-share (share.h): nap before polling when the
 * pool's share of this core fell behind. Not a poll: nothing but the
 * timer wakes the loop, so the pool's threads have the core meanwhile,
 * and the loop takes it back at the end (they run at nice 19). */
static void share_nap(struct ed_loop *l, int busy) {
  uint64_t t0 = uv_hrtime();
  uint64_t nap = ed_share_before_poll(&l->share, busy, t0, l->poll_idle_ns);
  if (!nap) return;
  sleep_ns(nap);
  uint64_t t1 = uv_hrtime();
  ed_share_napped(&l->share, t0, t1);
  ed_stat_add(&l->stats.share_naps, 1);
  ed_stat_add(&l->stats.share_nap_ns, t1 - t0);
}

/* loop_class switches the loop thread between SCHED_OTHER and SCHED_BATCH
 * as sched.h decides: a system call only when the class changes. */
static void loop_class(struct ed_loop *l, int pool_busy) {
  int batch = ed_sched_want_batch(&l->sched, pool_busy, uv_now(&l->uv));
  if (l->sched.disabled || batch == l->sched.batch) return;
  if (ed_sched_apply(&l->sched, batch) == 0) {
    if (batch) ed_stat_add(&l->stats.batch_switches, 1);
    ed_gauge_add(&l->stats.loops_batch, batch ? 1 : -1);
  } else {
    ED_WARN("scheduling class", "worker=%u detail=%s", l->index,
            batch ? "\"SCHED_BATCH refused: the loop keeps preempting "
                    "handshake steps\""
                  : "\"SCHED_OTHER refused: the loop stays SCHED_BATCH\"");
  }
}

/* on_prepare runs right before the loop polls (and may sleep): finished
 * steps are taken here every iteration, so a loop that is awake never
 * needs the pool's eventfd. |polling| tells pool threads when it does
 * (conn_step.c ed_conn_step_complete): set before the last look at the
 * stack, so a step pushed after that look finds it set and signals (both
 * sides sequentially consistent); cleared by the loop's own callbacks
 * once it runs again (ed_loop_awake), which also ends the poll's time
 * off the core that the handshake share counts while the pool has work
 * (|poll_from_ns|). */
static void on_prepare(uv_prepare_t *h) {
  struct ed_loop *l = h->data;
  l->iterations++;
  int busy = ed_loop_pool(l)->busy(l->sh->pool) > 0;
  loop_class(l, busy);
  if (l->share.percent) share_nap(l, busy);
  /* While the pool has work, the poll's time off the core counts. */
  int counting = l->share.percent && busy;
  atomic_store(&l->signalled, 0);
  atomic_store(&l->polling, 1);
  if (atomic_load(&l->done) || l->ready_head) run_steps(l);
  if (l->yielded) ed_conn_resume_yielded(l);
  if (counting) {
    l->poll_from_cpu_ns = ed_loop_thread_cpu_ns();
    l->poll_from_ns = uv_hrtime();
  }
}

static void on_check(uv_check_t *h) {
  struct ed_loop *l = h->data;
  ed_loop_awake(l);
}

void ed_loop_test_quiesce_delay(const struct ed_loop *l) {
  sleep_ns((uint64_t)l->cfg->test_quiesce_delay_ms * 1000000u);
}

/* on_wake: the pool finished steps or the control thread posted commands
 * (see wake.h for why this is not a uv_async_t). */
static void on_wake(struct ed_wake *w) {
  struct ed_loop *l = w->data;
  ed_loop_awake(l);
  pthread_mutex_lock(&l->mbox_mu);
  struct loop_cmd *cmds = l->cmds;
  l->cmds = NULL;
  pthread_mutex_unlock(&l->mbox_mu);
  run_steps(l);
  while (cmds) {
    struct loop_cmd *cmd = cmds;
    cmds = cmd->next;
    if (cmd->type == CMD_KILL || cmd->type == CMD_KILL_CN) {
      run_cmd(l, cmd);
    } else if (cmd->type == CMD_DRAIN && !l->draining) {
      l->draining = 1;
      ed_loop_close_listeners(l);
      close_all(l, CR_DRAIN, HOW_NOTIFY);
    } else if (cmd->type == CMD_QUIESCE) {
      ed_loop_stop_accepting(l);
    } else if (cmd->type == CMD_RECHECK) {
      ed_recheck_start(l, cmd);
    } else if (cmd->type == CMD_RECHECK_DONE) {
      ed_recheck_finish(l, cmd->batch);
    } else if (cmd->type == CMD_STOP) {
      l->stopping = 1;
      ed_loop_close_listeners(l);
      close_all(l, CR_DRAIN, HOW_ABORT);
      for (struct ed_link *e = l->conns.next; e != &l->conns; e = e->next)
        ed_conn_abort(CONN_OF(e, reg));
      maybe_exit(l);
    }
    free(cmd);
  }
}

void ed_loop_post(struct ed_loop *l, struct loop_cmd *cmd) {
  pthread_mutex_lock(&l->mbox_mu);
  struct loop_cmd **p = &l->cmds;
  while (*p) p = &(*p)->next;
  *p = cmd;
  pthread_mutex_unlock(&l->mbox_mu);
  ed_wake_signal(&l->wake);
}

static struct loop_cmd *cmd_new(int type) {
  struct loop_cmd *cmd = ed_calloc(1, sizeof(*cmd));
  cmd->type = type;
  return cmd;
}

void ed_loop_post_kill(struct ed_loop *l, uint64_t id) {
  struct loop_cmd *cmd = cmd_new(CMD_KILL);
  cmd->id = id;
  ed_loop_post(l, cmd);
}

void ed_loop_post_kill_cn(struct ed_loop *l, const char *cn) {
  struct loop_cmd *cmd = cmd_new(CMD_KILL_CN);
  snprintf(cmd->cn, sizeof(cmd->cn), "%s", cn);
  ed_loop_post(l, cmd);
}

void ed_loop_post_drain(struct ed_loop *l) {
  ed_loop_post(l, cmd_new(CMD_DRAIN));
}

void ed_loop_post_quiesce(struct ed_loop *l) {
  ed_loop_post(l, cmd_new(CMD_QUIESCE));
}

void ed_loop_post_stop(struct ed_loop *l) {
  ed_loop_post(l, cmd_new(CMD_STOP));
}

/* ---- timeouts ------------------------------------------------------------ */

static void expire(struct ed_link *q, uint64_t now, int which) {
  while (!link_empty(q)) {
    struct ed_conn *c = CONN_OF(q->next, tq);
    if (c->deadline_ms > now) break;
    link_remove(&c->tq); /* never seen twice, whatever close does */
    if (which == 0) ed_conn_hs_timeout(c);
    if (which == 1) ed_conn_idle_timeout(c);
    if (which == 2) ed_conn_abort(c);
  }
}

void ed_loop_expire(struct ed_loop *l, uint64_t now) {
  expire(&l->hs_q, now, 0);
  expire(&l->idle_q, now, 1);
  expire(&l->closing_q, now, 2);
}

static void on_sweep(uv_timer_t *t) {
  struct ed_loop *l = t->data;
  ed_loop_expire(l, uv_now(&l->uv));
}

/* ---- life ---------------------------------------------------------------- */

static void free_handle(uv_handle_t *h) {
  free(h);
}

/* open_libuv_spare: libuv opens a spare descriptor (/dev/null, for its
 * own EMFILE trick) on a loop's first stream. Made now, with a stream
 * closed at once, it is there from startup: a loop's descriptors do not
 * change with its first connection (tests count them), and nothing is
 * opened later under the sandbox. */
static void open_libuv_spare(struct ed_loop *l) {
  uv_tcp_t *t = ed_malloc(sizeof(*t));
  uv_tcp_init(&l->uv, t);
  uv_close((uv_handle_t *)t, free_handle);
}

struct ed_loop *ed_loop_new(uint32_t index, struct ed_loop_shared *sh) {
  struct ed_loop *l = ed_calloc(1, sizeof(*l));
  l->index = index;
  l->sh = sh;
  l->cfg = sh->cfg;
  l->reserve_fd = l->inbox_wake.fd = -1;
  if (uv_loop_init(&l->uv) != 0) {
    free(l);
    return NULL;
  }
  pthread_mutex_init(&l->mbox_mu, NULL);
  pthread_mutex_init(&l->reg_mu, NULL);
  link_init(&l->conns);
  link_init(&l->hs_q);
  link_init(&l->idle_q);
  link_init(&l->closing_q);
  ed_stats_init(&l->stats);
  /* The share needs the time spent asleep in the kernel's poll alone (the
   * I/O callbacks run inside uv_run's poll phase too). Not libuv's
   * idle-time metric (UV_METRICS_IDLE_TIME): with it, libuv 1.44 makes
   * every poll that may sleep a zero-timeout epoll_wait first and then
   * the real one, 3 more system calls per full handshake; the loop
   * stamps the poll's start and the first callback after it itself
   * (on_prepare, ed_loop_awake). */
  ed_share_init(&l->share, l->cfg->handshake_share);
  /* The loop thread inherits this thread's scheduling policy. */
  ed_sched_init(&l->sched, l->cfg->handshake_share > 0 &&
                               sched_getscheduler(0) == SCHED_OTHER);
  l->rbuf = ed_malloc(ED_LOOP_RBUF);
  l->pbuf = ed_malloc(ED_LOOP_PBUF);
  ed_buf_init(&l->scratch, 4u << 20);
  uv_timer_init(&l->uv, &l->sweep);
  l->sweep.data = l;
  uv_prepare_init(&l->uv, &l->before_poll);
  uv_check_init(&l->uv, &l->after_poll);
  uv_idle_init(&l->uv, &l->more_steps);
  l->before_poll.data = l->after_poll.data = l->more_steps.data = l;
  uv_prepare_start(&l->before_poll, on_prepare);
  uv_check_start(&l->after_poll, on_check);
  uv_unref((uv_handle_t *)&l->before_poll);
  uv_unref((uv_handle_t *)&l->after_poll);
  uv_unref((uv_handle_t *)&l->more_steps);
  l->wake.data = l;
  if (ed_wake_init(&l->wake, &l->uv, on_wake) != 0 ||
      ed_loop_accept_init(l) != 0) {
    ed_loop_free(l);
    return NULL;
  }
  open_libuv_spare(l);
  uint64_t hs =
      l->cfg->handshake_timeout_ms ? l->cfg->handshake_timeout_ms : 10000;
  l->tick_ms = hs / 10 < 10 ? 10 : hs / 10 > 250 ? 250 : hs / 10;
  return l;
}

static void *loop_main(void *arg) {
  struct ed_loop *l = arg;
  ed_tls_mark_io_thread(1); /* certificate checks refuse to run here */
  uv_timer_start(&l->sweep, on_sweep, l->tick_ms, l->tick_ms);
  uv_run(&l->uv, UV_RUN_DEFAULT);
  atomic_store(&l->exited, 1);
  return NULL;
}

int ed_loop_start(struct ed_loop *l) {
  if (pthread_create(&l->thread, NULL, loop_main, l) != 0) return ED_E_SYS;
  l->started = 1;
  return 0;
}

int ed_loop_exited(struct ed_loop *l) {
  return atomic_load(&l->exited);
}

void ed_loop_join(struct ed_loop *l) {
  if (l->started) pthread_join(l->thread, NULL);
  l->started = 0;
}

static void close_any(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

void ed_loop_free(struct ed_loop *l) {
  if (!l) return;
  ed_loop_join(l);
  /* Never started (or start failed): close handles here. */
  uv_walk(&l->uv, close_any, NULL);
  uv_run(&l->uv, UV_RUN_DEFAULT);
  uv_loop_close(&l->uv);
  ed_wake_cleanup(&l->wake);
  while (l->cmds) {
    struct loop_cmd *c = l->cmds;
    l->cmds = c->next;
    free(c);
  }
  ed_loop_accept_cleanup(l);
  pthread_mutex_destroy(&l->mbox_mu);
  pthread_mutex_destroy(&l->reg_mu);
  free(l->rbuf);
  free(l->pbuf);
  ed_buf_cleanup(&l->scratch);
  free(l);
}

/* ---- readers on other threads -------------------------------------------- */

int64_t ed_loop_num_conns(struct ed_loop *l) {
  return atomic_load(&l->nconns);
}

void ed_loop_stats(struct ed_loop *l, struct ed_stats_snapshot *out) {
  ed_stats_accumulate(out, &l->stats);
}

static void fill_info(struct ed_session_info *s, const struct ed_conn *c,
                      uint32_t worker) {
  memset(s, 0, sizeof(*s));
  s->id = c->id;
  s->state = c->state;
  snprintf(s->peer, sizeof(s->peer), "%s", c->peer_addr);
  snprintf(s->via, sizeof(s->via), "%s", c->via ? c->via : "");
  s->suite = ED_SUITE_OTHER;
  if (c->peer) {
    s->identity = c->peer; /* borrowed: the registry lock is held */
    s->suite = c->suite;
    s->resumed = c->resumed;
  }
  s->start_ns = c->start_wall_ns;
  s->bytes_in = atomic_load_explicit(&c->bytes_in, memory_order_relaxed);
  s->bytes_out = atomic_load_explicit(&c->bytes_out, memory_order_relaxed);
  s->worker = worker;
}

void ed_session_info_copy(struct ed_session_info *dst,
                          const struct ed_session_info *src) {
  *dst = *src;
  if (dst->identity) ed_tls_peer_ref(dst->identity);
}

void ed_session_info_cleanup(struct ed_session_info *s) {
  ed_tls_peer_unref(s->identity);
  s->identity = NULL;
}

int ed_loop_sessions_copy(
    struct ed_loop *l, struct ed_session_info *out, size_t cap, size_t *out_num,
    int (*keep)(void *arg, const struct ed_session_info *s), void *arg) {
  size_t n = 0;
  struct ed_session_info info;
  pthread_mutex_lock(&l->reg_mu);
  for (struct ed_link *e = l->conns.next; e != &l->conns; e = e->next) {
    fill_info(&info, CONN_OF(e, reg), l->index);
    if (keep && !keep(arg, &info)) continue;
    if (n < cap) ed_session_info_copy(&out[n], &info);
    n++;
  }
  pthread_mutex_unlock(&l->reg_mu);
  *out_num = n;
  if (n <= cap) return 0;
  /* Too many: give back what was taken, outside the lock. */
  for (size_t i = 0; i < cap; i++) ed_session_info_cleanup(&out[i]);
  return ED_E_TOOBIG;
}

void ed_loop_sessions(struct ed_loop *l,
                      int (*fn)(void *arg, const struct ed_session_info *s),
                      void *arg) {
  struct ed_session_info info;
  pthread_mutex_lock(&l->reg_mu);
  for (struct ed_link *e = l->conns.next; e != &l->conns; e = e->next) {
    fill_info(&info, CONN_OF(e, reg), l->index);
    if (fn(arg, &info)) break;
  }
  pthread_mutex_unlock(&l->reg_mu);
}

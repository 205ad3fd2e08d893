/* internal/net — connections: slots, reading, the request loop, writing,
 * deadlines and the one close path (see net.h). */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "internal/net/net_internal.h"

struct write_req {
  uv_write_t req;
  struct ed_net_conn *conn;
  void *data; /* owned; freed in the write callback */
  size_t len;
};

static void drive(struct ed_net_conn *c);
static void update_reading(struct ed_net_conn *c);
static void arm_timer(struct ed_net_conn *c);

/* ---- slots --------------------------------------------------------------- */

static void set_slot(struct ed_net_conn *c, enum ed_net__slot slot) {
  struct ed_net_server *s = c->srv;
  s->num[c->slot]--;
  s->num[slot]++;
  c->slot = slot;
}

/* The general slots |c|'s address holds. Reserved slots do not count: an
 * address at its cap may still take one for a probe (see admit). */
static uint32_t same_host_count(const struct ed_net_server *s,
                                const struct ed_net_conn *c) {
  uint32_t n = 0;
  for (const struct ed_net_conn *o = s->conns; o; o = o->next) {
    if (o == c || o->slot != ED_NET__SLOT_GENERAL) continue;
    n += ed_net_same_host((const struct sockaddr *)&o->peer,
                          (const struct sockaddr *)&c->peer);
  }
  return n;
}

/* The oldest connection in a reserved slot that has not sent a complete
 * request yet, or NULL. */
static struct ed_net_conn *oldest_silent_reserved(struct ed_net_server *s) {
  struct ed_net_conn *victim = NULL;
  for (struct ed_net_conn *o = s->conns; o; o = o->next) {
    if (o->slot != ED_NET__SLOT_RESERVED || o->requests > 0 ||
        o->state != ED_NET__OPEN || o->held)
      continue;
    if (!victim || o->born_ms < victim->born_ms ||
        (o->born_ms == victim->born_ms && o->id < victim->id))
      victim = o;
  }
  return victim;
}

/* note_refusal logs a connection a limit turned away, at warn but at most
 * one line per ED_NET__REFUSAL_LOG_MS for the server (with how many went
 * unlogged since the last line): a flood must not flood the log too. The
 * counts are in ed_net_server_stats. reason= is full, per_client or
 * taken_over:
 *   level=warn msg="net connection refused" what="metrics address" conn=88
 *       peer=127.0.0.1:51234 reason=full unlogged_before=41 */
static void note_refusal(struct ed_net_server *s, const struct ed_net_conn *c,
                         const char *reason) {
  uint64_t now = uv_now(s->loop);
  if (s->refusal_logged && now - s->refusal_log_ms < ED_NET__REFUSAL_LOG_MS) {
    s->refusals_unlogged++;
    return;
  }
  char what[96];
  ED_WARN("net connection refused",
          "what=%s conn=%llu peer=%s reason=%s unlogged_before=%llu",
          ed_logq(what, sizeof(what), s->what), (unsigned long long)c->id,
          c->peer_name, reason, (unsigned long long)s->refusals_unlogged);
  s->refusal_logged = 1;
  s->refusal_log_ms = now;
  s->refusals_unlogged = 0;
}

/* reserve gives |c| a reserved slot if one is free, or takes over the slot
 * of the oldest connection there that has not sent its request: a real
 * probe sends it at once, so holding a reserved slot silently takes a new
 * connection faster than every probe. Returns 0, or -1 when every
 * reserved slot is answering a request. */
static int reserve(struct ed_net_server *s, struct ed_net_conn *c) {
  const struct ed_net_limits *l = &s->lim;
  struct ed_net_conn *victim;
  if (s->num[ED_NET__SLOT_RESERVED] >= l->reserved && l->reserved &&
      (victim = oldest_silent_reserved(s)) != NULL) {
    s->st.evicted++;
    note_refusal(s, victim, "taken_over");
    ed_net_conn_close(victim);
  }
  if (s->num[ED_NET__SLOT_RESERVED] >= l->reserved) return -1;
  set_slot(c, ED_NET__SLOT_RESERVED);
  return 0;
}

/* Picks the slot a new connection gets: a general slot while its address
 * holds fewer than max_per_client of them and one is free; else a
 * reserved one (reserve). So one address at its cap - a local process
 * holding every connection it may - cannot make a probe from that same
 * address fail: the probe gets a reserved slot, answered once. Returns 0
 * or sets |*out_why|. */
static int admit(struct ed_net_server *s, struct ed_net_conn *c,
                 enum ed_net_refusal *out_why) {
  const struct ed_net_limits *l = &s->lim;
  int at_cap = !s->is_unix && l->max_per_client &&
               same_host_count(s, c) >= l->max_per_client;
  if (!at_cap && s->num[ED_NET__SLOT_GENERAL] < l->max_conns) {
    set_slot(c, ED_NET__SLOT_GENERAL);
    return 0;
  }
  if (reserve(s, c) == 0) return 0;
  *out_why = at_cap ? ED_NET_REFUSE_PER_CLIENT : ED_NET_REFUSE_FULL;
  return -1;
}

/* Refused and lingering connections share one bound of their own, so a
 * flood of them cannot pile up: past it they are closed at once. */
static int take_spare(struct ed_net_conn *c) {
  struct ed_net_server *s = c->srv;
  if (c->slot == ED_NET__SLOT_SPARE) return 0;
  if (s->num[ED_NET__SLOT_SPARE] >= s->lim.max_conns + s->lim.reserved)
    return -1;
  set_slot(c, ED_NET__SLOT_SPARE);
  return 0;
}

uint32_t ed_net_max_fds(uint32_t max_conns, uint32_t reserved) {
  return 2 * (max_conns + reserved) + 1; /* slots, take_spare's, accepting */
}

/* ---- the one close path -------------------------------------------------- */

static void on_handle_closed(uv_handle_t *h) {
  struct ed_net_conn *c = h->data;
  if (--c->handles > 0) return;
  struct ed_net_server *s = c->srv;
  if (s->h.on_close) s->h.on_close(s->h.arg, c);
  if (c->prev)
    c->prev->next = c->next;
  else
    s->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  s->num[ED_NET__SLOT_NONE]--;
  ed_buf_cleanup(&c->in);
  free(c);
  ed_net__server_release(s);
}

void ed_net_conn_close(struct ed_net_conn *c) {
  if (c->state == ED_NET__CLOSING) return;
  c->state = ED_NET__CLOSING;
  set_slot(c, ED_NET__SLOT_NONE);
  uv_timer_stop(&c->timer);
  uv_close((uv_handle_t *)&c->timer, on_handle_closed);
  uv_close(&c->io.handle, on_handle_closed);
}

void ed_net__close_all(struct ed_net_server *s) {
  for (struct ed_net_conn *c = s->conns; c; c = c->next) ed_net_conn_close(c);
}

/* ---- finishing: flush, shut down, linger --------------------------------- */

static void on_shutdown(uv_shutdown_t *req, int status) {
  struct ed_net_conn *c = req->data;
  if (c->state == ED_NET__CLOSING) return;
  if (status < 0 || c->srv->lim.linger_ms == 0 || take_spare(c) != 0) {
    ed_net_conn_close(c);
    return;
  }
  /* Closing with unread input would make the kernel reset the connection,
   * and a reset can destroy the last reply before the client reads it. */
  c->state = ED_NET__LINGER;
  c->progress_ms = uv_now(c->srv->loop);
  ed_buf_reset(&c->in);
  arm_timer(c);
  update_reading(c);
}

/* Shuts the write side once no held reply is still to come; libuv sends
 * what is queued first. */
static void maybe_shutdown(struct ed_net_conn *c) {
  if (c->state != ED_NET__FLUSHING || c->held || c->shutting_down) return;
  c->shutting_down = 1;
  c->shutdown.data = c;
  if (uv_shutdown(&c->shutdown, &c->io.stream, on_shutdown) != 0)
    ed_net_conn_close(c);
}

void ed_net_conn_finish(struct ed_net_conn *c) {
  if (c->state != ED_NET__OPEN) return;
  c->state = ED_NET__FLUSHING;
  update_reading(c);
  arm_timer(c); /* now a deadline for the client to read what is queued */
  maybe_shutdown(c);
}

/* ---- deadlines ----------------------------------------------------------- */

static int past_lifetime(const struct ed_net_conn *c) {
  uint32_t life = c->srv->lim.max_lifetime_ms;
  return life && uv_now(c->srv->loop) - c->born_ms >= life;
}

static void on_timer(uv_timer_t *t) {
  struct ed_net_conn *c = t->data;
  struct ed_net_server *s = c->srv;
  if (c->held && c->state != ED_NET__LINGER) {
    /* The handler is working on a reply; it has its own bounds. */
    c->progress_ms = uv_now(s->loop);
    arm_timer(c);
  } else if (c->state == ED_NET__OPEN && past_lifetime(c)) {
    ed_net_conn_finish(c); /* what is queued still goes out */
  } else if (c->state != ED_NET__OPEN || c->queued > 0) {
    ed_net_conn_close(c); /* lingered enough, or the client does not read */
  } else {
    if (s->h.on_timeout) s->h.on_timeout(s->h.arg, c);
    ed_net_conn_finish(c);
  }
}

/* Starts the timer for the state's next deadline. */
static void arm_timer(struct ed_net_conn *c) {
  const struct ed_net_limits *l = &c->srv->lim;
  uint64_t now = uv_now(c->srv->loop), due;
  if (c->state == ED_NET__CLOSING) return;
  if (c->state == ED_NET__LINGER) {
    due = c->progress_ms + l->linger_ms;
  } else if (c->slot == ED_NET__SLOT_RESERVED && c->requests == 0) {
    due = c->born_ms + l->reserved_deadline_ms;
  } else {
    due = c->progress_ms + l->idle_ms;
  }
  if (c->state == ED_NET__OPEN && !c->held && l->max_lifetime_ms &&
      c->born_ms + l->max_lifetime_ms < due)
    due = c->born_ms + l->max_lifetime_ms;
  uv_timer_start(&c->timer, on_timer, due > now ? due - now : 0, 0);
}

/* ---- reading ------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  struct ed_net_conn *c = h->data;
  size_t n = sizeof(c->srv->scratch);
  (void)suggested;
  if (c->state == ED_NET__OPEN && ed_buf_space(&c->in) < n)
    n = ed_buf_space(&c->in);
  /* One scratch per server: libuv reads one stream at a time. */
  *buf = uv_buf_init(c->srv->scratch, (unsigned)n);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
  struct ed_net_conn *c = st->data;
  if (n == 0) return;
  if (c->state == ED_NET__LINGER) {
    if (n < 0) ed_net_conn_close(c); /* EOF: the client has its reply */
    return;
  }
  if (c->state != ED_NET__OPEN) return;
  if (n == UV_EOF) {
    c->eof = 1;
    drive(c);
    return;
  }
  if (n < 0 || ed_buf_append(&c->in, buf->base, (size_t)n) != 0) {
    ed_net_conn_close(c); /* reset; or more than on_alloc offered */
    return;
  }
  drive(c);
}

/* The one place that decides whether |c| reads. */
static void update_reading(struct ed_net_conn *c) {
  int on = 0;
  if (c->state == ED_NET__LINGER) {
    on = 1;
  } else if (c->state == ED_NET__OPEN) {
    on = !c->eof && !c->blocked && ed_buf_space(&c->in) > 0;
  }
  if (on == c->reading || c->state == ED_NET__CLOSING) return;
  c->reading = on;
  if (on && uv_read_start(&c->io.stream, on_alloc, on_read) != 0) {
    ed_net_conn_close(c);
  } else if (!on) {
    uv_read_stop(&c->io.stream);
  }
}

/* ---- the request loop ---------------------------------------------------- */

int ed_net_conn_last_request(const struct ed_net_conn *c) {
  uint32_t max = c->srv->lim.max_requests;
  return c->slot == ED_NET__SLOT_RESERVED || c->state != ED_NET__OPEN ||
         (max && c->requests + 1 >= max) || past_lifetime(c);
}

/* Hands complete requests to on_input, one at a time, in order, while the
 * connection is open, no reply is held and the write queue is under its
 * limit (looked at before each request, not per read). */
static void drive(struct ed_net_conn *c) {
  struct ed_net_server *s = c->srv;
  if (c->driving) return;
  c->driving = 1;
  while (c->state == ED_NET__OPEN && !c->held) {
    if (c->queued >= s->lim.out_max) {
      c->blocked = 1;
      break;
    }
    if (c->in.len == 0) {
      if (c->eof) ed_net_conn_finish(c);
      break;
    }
    int last = ed_net_conn_last_request(c);
    size_t used = s->h.on_input(s->h.arg, c, c->in.data, c->in.len, c->eof);
    if (used == 0) {
      if (c->eof) ed_net_conn_finish(c);
      break;
    }
    ed_buf_consume(&c->in, used);
    c->requests++;
    c->progress_ms = uv_now(s->loop);
    arm_timer(c);
    if (last) ed_net_conn_finish(c);
  }
  c->driving = 0;
  if (c->state == ED_NET__OPEN && !c->held && !c->blocked &&
      ed_buf_space(&c->in) == 0) {
    ED_DEBUG("net request too large", "conn=%llu max=%zu",
             (unsigned long long)c->id, s->lim.in_max);
    ed_net_conn_close(c);
    return;
  }
  update_reading(c);
}

void ed_net_conn_hold(struct ed_net_conn *c) {
  c->held = 1;
}

void ed_net_conn_release(struct ed_net_conn *c) {
  if (!c->held) return;
  c->held = 0;
  if (c->state == ED_NET__FLUSHING) {
    maybe_shutdown(c);
  } else if (c->state == ED_NET__OPEN) {
    c->progress_ms = uv_now(c->srv->loop);
    arm_timer(c);
    drive(c);
  }
}

/* ---- writing ------------------------------------------------------------- */

static void on_write(uv_write_t *req, int status) {
  struct write_req *w = (struct write_req *)req;
  struct ed_net_conn *c = w->conn;
  c->queued -= w->len;
  c->srv->st.queued -= w->len;
  free(w->data);
  free(w);
  if (c->state == ED_NET__CLOSING) return;
  if (status < 0) {
    ed_net_conn_close(c);
    return;
  }
  c->progress_ms = uv_now(c->srv->loop);
  arm_timer(c);
  /* Resume at half the limit, not at every write: no flapping. */
  if (c->blocked && c->queued <= c->srv->lim.out_max / 2) {
    c->blocked = 0;
    drive(c);
  }
}

int ed_net_conn_send(struct ed_net_conn *c, void *data, size_t len) {
  if ((c->state != ED_NET__OPEN && c->state != ED_NET__FLUSHING) ||
      c->shutting_down) {
    free(data);
    return ED_E_CLOSED;
  }
  if (len == 0) {
    free(data);
    return 0;
  }
  struct write_req *w = ed_malloc(sizeof(*w));
  w->conn = c;
  w->data = data;
  w->len = len;
  uv_buf_t b = uv_buf_init(data, (unsigned)len);
  if (uv_write(&w->req, &c->io.stream, &b, 1, on_write) != 0) {
    free(data);
    free(w);
    ed_net_conn_close(c);
    return ED_E_CLOSED;
  }
  c->queued += len;
  c->srv->st.queued += len;
  if (c->queued > c->srv->st.peak_queued) c->srv->st.peak_queued = c->queued;
  return 0;
}

/* ---- accepting ----------------------------------------------------------- */

static struct ed_net_conn *conn_new(struct ed_net_server *s) {
  struct ed_net_conn *c = ed_calloc(1, sizeof(*c));
  c->srv = s;
  c->id = ++s->next_id;
  c->born_ms = c->progress_ms = uv_now(s->loop);
  ed_buf_init(&c->in, s->lim.in_max);
  if (s->is_unix)
    uv_pipe_init(s->loop, &c->io.pipe, 0);
  else
    uv_tcp_init(s->loop, &c->io.tcp);
  uv_timer_init(s->loop, &c->timer);
  c->io.handle.data = c->timer.data = c;
  c->handles = 2;
  s->num[ED_NET__SLOT_NONE]++;
  s->handles++;
  c->next = s->conns;
  if (s->conns) s->conns->prev = c;
  s->conns = c;
  snprintf(c->peer_name, sizeof(c->peer_name), "local");
  return c;
}

/* Answers a request that arrived with the connection before the loop's
 * next poll: a reserved slot is then done (and no longer one a newcomer
 * could take over) before later connections of the same accept burst are
 * looked at. */
static void read_now(struct ed_net_conn *c) {
  int fd = ed_net_conn_fd(c);
  size_t room = ed_buf_space(&c->in);
  if (fd < 0 || c->state != ED_NET__OPEN || room == 0) return;
  if (room > sizeof(c->srv->scratch)) room = sizeof(c->srv->scratch);
  ssize_t n = recv(fd, c->srv->scratch, room, MSG_DONTWAIT);
  if (n > 0 && ed_buf_append(&c->in, c->srv->scratch, (size_t)n) == 0) drive(c);
}

static void refuse(struct ed_net_conn *c, enum ed_net_refusal why) {
  struct ed_net_server *s = c->srv;
  s->st.refused[why]++;
  note_refusal(s, c, ed_net_refusal_name(why));
  if (!s->h.on_refused || take_spare(c) != 0) {
    ed_net_conn_close(c);
    return;
  }
  arm_timer(c); /* bounds the refusal's own write */
  s->h.on_refused(s->h.arg, c, why);
  ed_net_conn_finish(c);
}

/* A failed accept writes, per failure (err= is libuv's error name):
 *   level=warn msg="net accept failed" err=EMFILE */
void ed_net__on_connection(uv_stream_t *server, int status) {
  struct ed_net_server *s = server->data;
  enum ed_net_refusal why;
  if (status < 0) {
    ED_WARN("net accept failed", "err=%s", uv_err_name(status));
    return;
  }
  if (s->stopping) return;
  struct ed_net_conn *c = conn_new(s);
  if (uv_accept(server, &c->io.stream) != 0) {
    ed_net_conn_close(c);
    return;
  }
  if (!s->is_unix) {
    int len = sizeof(c->peer);
    if (uv_tcp_getpeername(&c->io.tcp, (struct sockaddr *)&c->peer, &len) == 0)
      ed_net_format_addr(c->peer_name, sizeof(c->peer_name),
                         (const struct sockaddr *)&c->peer);
  }
  if (admit(s, c, &why) != 0) {
    refuse(c, why);
    return;
  }
  s->st.accepted++;
  arm_timer(c);
  if (s->h.on_open) s->h.on_open(s->h.arg, c);
  if (c->slot == ED_NET__SLOT_RESERVED) read_now(c);
  update_reading(c);
}

/* ---- small accessors ----------------------------------------------------- */

const char *ed_net_refusal_name(enum ed_net_refusal why) {
  return why == ED_NET_REFUSE_PER_CLIENT ? "per_client" : "full";
}

uint64_t ed_net_conn_id(const struct ed_net_conn *c) {
  return c->id;
}

const char *ed_net_conn_peer(const struct ed_net_conn *c) {
  return c->peer_name;
}

int ed_net_conn_fd(const struct ed_net_conn *c) {
  uv_os_fd_t fd;
  return uv_fileno(&c->io.handle, &fd) == 0 ? fd : -1;
}

size_t ed_net_conn_queued(const struct ed_net_conn *c) {
  return c->queued;
}

void *ed_net_conn_data(const struct ed_net_conn *c) {
  return c->data;
}

void ed_net_conn_set_data(struct ed_net_conn *c, void *data) {
  c->data = data;
}

int ed_net_conn_reserved(const struct ed_net_conn *c) {
  return c->slot == ED_NET__SLOT_RESERVED;
}

void ed_net_server_stats(const struct ed_net_server *s,
                         struct ed_net_server_stats *out) {
  *out = s->st;
  out->open = s->num[ED_NET__SLOT_GENERAL] + s->num[ED_NET__SLOT_RESERVED];
  out->reserved = s->num[ED_NET__SLOT_RESERVED];
}

/* internal/loop tests: a handshake step that needs more from the client
 * sends its flight from the pool thread, on the socket the loop lends it,
 * and wakes nobody (conn_step.c step_send, ed_conn_step_complete). Driven
 * through the harness (conn_harness.h), with each step's run and
 * completion done by hand so the test can look in between: the flight is
 * on the wire before the loop runs again; the loop, asleep in its poll,
 * gets no signal for such a step, but does when something reached the
 * connection meanwhile (the client's answer, its FIN, a kill), or that
 * something would wait with nobody to take the step back (a step
 * submitted after the client's FIN); each poll gets its own signal; a
 * flight the full socket would not take stays for the loop, which sends
 * it in order; and a socket closed while its step is in the pool is
 * taken back first, so the pool never sends on a descriptor number the
 * next accept reused. */
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal/loop/conn_harness.h"
#include "internal/testing/testing.h"

/* wake_pending: the loop's eventfd was signalled (reading clears it). */
static int wake_pending(struct harness *h) {
  uint64_t n;
  return read(h->l->wake.fd, &n, sizeof(n)) == (ssize_t)sizeof(n);
}

/* as_if_asleep makes the loop look as it does in its poll: a pushed step
 * must signal it unless the loop will take it anyway. */
static void as_if_asleep(struct harness *h) {
  (void)wake_pending(h);
  atomic_store(&h->l->signalled, 0);
  atomic_store(&h->l->polling, 1);
}

/* wait_bytes waits (bounded) until |c|'s socket has something to read
 * and reads it into c->in. */
static void wait_bytes(struct cli *c) {
  struct pollfd p = {c->fd, POLLIN, 0};
  CHECK_EQ(poll(&p, 1, 2000), 1);
  cli_recv(c);
}

/* conn_fd returns the descriptor of the server's side of |port|'s
 * connection, or -1. */
static int conn_fd(struct harness *h, uint16_t port) {
  struct ed_conn *c = h_conn(h, port);
  uv_os_fd_t fd;
  return c && uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0 ? fd : -1;
}

/* hello_pooled opens |c| and leaves its first step (the ClientHello)
 * taken out of the pool, not run: returned. */
static struct ed_hs_job *hello_pooled(struct harness *h, struct cli *c) {
  cli_open(h, c, CLI_ALICE);
  CHECK_EQ(cli_hs(h, c), 0);
  h_pump(h);
  CHECK_EQ(h->pool.queued, 1);
  return h_pool_take(h);
}

/* flight_pooled opens |c| and runs its first step by hand, as a pool
 * thread would; the flight reaches the client before the loop runs again
 * (the step has not been completed: returned). */
static struct ed_hs_job *flight_pooled(struct harness *h, struct cli *c) {
  struct ed_hs_job *job = hello_pooled(h, c);
  job->run(job);
  wait_bytes(c);
  CHECK(c->in.len > 0);
  return job;
}

/* finish_and_echo completes |c|'s handshake (its answer is either sent
 * already, |answered|, or sent now) and checks the echo. */
static void finish_and_echo(struct harness *h, struct cli *c, int answered) {
  if (!answered) {
    CHECK_EQ(cli_hs(h, c), 1); /* the client is done once it sent this */
    h_pump(h);
  }
  CHECK_EQ(h_pool_run(h, 1), 1);
  CHECK_EQ(h_state(h, c->port), ED_SESSION_ESTABLISHED);
  cli_write(h, c, "ping", 4);
  for (int i = 0; i < 100 && c->plain.len < 4; i++) {
    h_pump(h);
    cli_read(c);
  }
  CHECK(c->plain.len == 4 && memcmp(c->plain.data, "ping", 4) == 0);
}

/* The flight leaves from the pool thread and the loop is not woken: it
 * takes the step back at its next look, here the client's answer. */
static void test_flight_sent_by_the_pool(void) {
  struct harness h;
  struct cli c;
  h_init(&h);
  h_start(&h);
  struct ed_hs_job *job = flight_pooled(&h, &c);
  as_if_asleep(&h);
  job->complete(job);
  CHECK(!wake_pending(&h));
  CHECK_EQ(cli_hs(&h, &c), 1); /* the loop's next look takes it back */
  h_pump(&h);
  CHECK_EQ(h.pool.queued, 1); /* the step was taken back and the next one
                               * submitted */
  finish_and_echo(&h, &c, 1);
  CHECK_EQ(atomic_load(&h.l->step_waiters), 0);
  cli_free(&c);
  h_finish(&h);
}

/* The client's answer, its FIN or a kill reaches the loop while the step
 * is still in the pool: the step, quiet as it is, must wake the loop. */
static void test_event_while_pooled_wakes(void) {
  for (int what = 0; what < 3; what++) {
    struct harness h;
    struct cli c;
    h_init(&h);
    h_start(&h);
    struct ed_hs_job *job = flight_pooled(&h, &c);
    if (what == 0) CHECK_EQ(cli_hs(&h, &c), 1); /* the answer */
    if (what == 1) cli_fin(&c);
    if (what == 2) ed_loop_post_kill(h.l, h_session_id(&h, &c));
    h_pump(&h); /* the loop reads it; the step is not back */
    CHECK_EQ(atomic_load(&h.l->step_waiters), 1);
    as_if_asleep(&h);
    job->complete(job);
    CHECK(wake_pending(&h));
    h_pump(&h);
    CHECK_EQ(atomic_load(&h.l->step_waiters), 0);
    if (what == 0) {
      finish_and_echo(&h, &c, 1);
    } else {
      for (int i = 0; i < 100 && h_num_conns(&h) > 0; i++) h_pump(&h);
      CHECK_EQ(h_num_conns(&h), 0);
    }
    cli_free(&c);
    h_finish(&h);
  }
}

/* A kill while the step is in the pool closes the socket at once, and
 * its descriptor number goes to whatever the process opens next (here a
 * socket pair, in a server the next accept); the step, run after that,
 * must send nothing on it. */
static void test_kill_takes_the_socket_back(void) {
  struct harness h;
  struct cli a;
  int sp[2];
  h_init(&h);
  h_start(&h);
  struct ed_hs_job *job = hello_pooled(&h, &a);
  int fd = conn_fd(&h, a.port);
  CHECK(fd >= 0);
  ed_loop_post_kill(h.l, h_session_id(&h, &a));
  h_pump(&h);
  wait_bytes(&a);
  CHECK(a.eof || a.reset);
  CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sp), 0);
  CHECK_EQ(sp[0], fd); /* the number was reused */
  job->run(job);
  job->complete(job);
  h_pump(&h);
  char got[64];
  CHECK_EQ(recv(sp[1], got, sizeof(got), 0), -1); /* nothing of a's flight */
  CHECK_EQ(h_num_conns(&h), 0);
  close(sp[0]);
  close(sp[1]);
  cli_free(&a);
  h_finish(&h);
}

/* The client sends part of its next flight and its FIN while the first
 * step is pooled: the loop reads both, stops reading, and submits the
 * next step once the first is back. That step needs more bytes than will
 * ever come, and must wake the loop (nothing else would, before the
 * sweep's next tick) so that the handshake fails at once. */
static void test_step_after_fin_wakes(void) {
  struct harness h;
  struct cli c;
  h_init(&h);
  h_start(&h);
  struct ed_hs_job *job = flight_pooled(&h, &c);
  cli_send(&h, &c, "\x16", 1); /* a record's first byte */
  cli_fin(&c);
  h_pump(&h);
  job->complete(job);
  h_pump(&h); /* the first step back, the next one submitted */
  CHECK_EQ(h.pool.queued, 1);
  job = h_pool_take(&h);
  job->run(job);
  as_if_asleep(&h);
  job->complete(job);
  CHECK(wake_pending(&h));
  h_pump(&h);
  h_one_outcome(&h, &c, "handshake failed", "protocol",
                "connection closed during the handshake");
  CHECK_EQ(atomic_load(&h.l->step_waiters), 0);
  cli_free(&c);
  h_finish(&h);
}

/* Steps that complete while the loop polls wake it once per poll: after
 * the loop ran (and cleared |signalled| before its next poll), the next
 * step signals again. */
static void test_each_poll_gets_its_signal(void) {
  struct harness h;
  struct cli a, b;
  struct ed_hs_job *job[2];
  h_init(&h);
  h_start(&h);
  struct cli *cs[2] = {&a, &b};
  for (int i = 0; i < 2; i++) { /* both at their last step, pooled */
    struct ed_hs_job *first = flight_pooled(&h, cs[i]);
    first->complete(first);
    CHECK_EQ(cli_hs(&h, cs[i]), 1);
    h_pump(&h);
    job[i] = h_pool_take(&h);
    CHECK(job[i] != NULL);
  }
  for (int i = 0; i < 2; i++) {
    job[i]->run(job[i]); /* completes the handshake: not quiet */
    (void)wake_pending(&h);
    atomic_store(&h.l->polling, 1); /* in its poll; |signalled| as left */
    job[i]->complete(job[i]);
    CHECK(wake_pending(&h));
    h_pump(&h);
    CHECK_EQ(h_state(&h, cs[i]->port), ED_SESSION_ESTABLISHED);
  }
  cli_free(&a);
  cli_free(&b);
  h_finish(&h);
}

/* The socket is full when the pool sends (a client that does not read;
 * here the test fills it from the server's side): what did not go stays
 * in the step for the loop, which is woken and sends it after whatever
 * went, once the client reads. */
static void test_full_socket_leaves_the_rest_to_the_loop(void) {
  struct harness h;
  struct cli c;
  static uint8_t junk[4096];
  h_init(&h);
  h_start(&h);
  struct ed_hs_job *job = hello_pooled(&h, &c);
  int fd = conn_fd(&h, c.port);
  CHECK(fd >= 0);
  memset(junk, 'j', sizeof(junk));
  size_t filled = 0;
  ssize_t n;
  while ((n = send(fd, junk, sizeof(junk), MSG_DONTWAIT | MSG_NOSIGNAL)) > 0)
    filled += (size_t)n;
  CHECK(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
  job->run(job);
  as_if_asleep(&h);
  job->complete(job);
  CHECK(wake_pending(&h)); /* not quiet: the flight is the loop's now */
  for (int i = 0; i < 1000 && c.in.len < filled; i++) {
    h_pump(&h);
    cli_recv(&c);
  }
  CHECK(c.in.len >= filled);
  for (size_t k = 0; k < filled && k < c.in.len; k++) {
    if (c.in.data[k] != 'j') {
      CHECK(0 && "the filler came back out of order");
      break;
    }
  }
  ed_buf_consume(&c.in, filled);
  int rc = 0;
  for (int i = 0; i < 1000 && rc == 0; i++) {
    h_pump(&h);
    rc = cli_hs(&h, &c); /* the whole flight, in order, then the answer */
  }
  CHECK_EQ(rc, 1);
  h_pump(&h);
  finish_and_echo(&h, &c, 1);
  cli_free(&c);
  h_finish(&h);
}

int main(void) {
  RUN(test_flight_sent_by_the_pool);
  RUN(test_event_while_pooled_wakes);
  RUN(test_kill_takes_the_socket_back);
  RUN(test_step_after_fin_wakes);
  RUN(test_each_poll_gets_its_signal);
  RUN(test_full_socket_leaves_the_rest_to_the_loop);
  return TEST_RESULT();
}

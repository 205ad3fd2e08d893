/* internal/loop tests: accepting (accept.c). A connection that arrives
 * alone is accepted with one accept4 (no second one that would fail with
 * EAGAIN); a burst that leaves the listener readable is taken in batches
 * from the next loop iteration on, so it is all in within a few
 * iterations, not one per connection. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal/loop/conn_harness.h"
#include "internal/testing/testing.h"

#define BURST 100

static int connect_raw(uint16_t port) {
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  CHECK(fd >= 0);
  CHECK_EQ(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  return fd;
}

static uint64_t accepted(struct harness *h) {
  struct ed_stats_snapshot st;
  h_stats(h, &st);
  return st.accepted;
}

static void pump_until_freed(struct harness *h) {
  for (int i = 0; i < 100 && h_num_conns(h) > 0; i++) h_pump(h);
  CHECK_EQ(h_num_conns(h), 0);
}

/* A lone connection is in after a poll or two; BURST connections made at
 * once are all accepted within 4 iterations (1, then batches of
 * ED_ACCEPTS_PER_WAKE), never left waiting one iteration each. */
static void test_lone_then_burst(void) {
  struct harness h;
  int fds[BURST];
  h_init(&h);
  h_start(&h);
  int lone = connect_raw(h.port);
  uv_run(&h.l->uv, UV_RUN_NOWAIT);
  uv_run(&h.l->uv, UV_RUN_NOWAIT);
  CHECK_EQ(accepted(&h), 1);
  for (int i = 0; i < 4; i++) uv_run(&h.l->uv, UV_RUN_NOWAIT);
  for (int i = 0; i < BURST; i++) fds[i] = connect_raw(h.port);
  for (int i = 0; i < 4; i++) uv_run(&h.l->uv, UV_RUN_NOWAIT);
  CHECK_EQ(accepted(&h), 1 + BURST);
  CHECK_EQ(h_num_conns(&h), 1 + BURST);
  close(lone);
  for (int i = 0; i < BURST; i++) close(fds[i]);
  pump_until_freed(&h);
  h_finish(&h);
}

int main(void) {
  RUN(test_lone_then_burst);
  return TEST_RESULT();
}

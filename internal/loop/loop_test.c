/* internal/loop tests: what the listener gives every accepted socket. */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal/loop/loop.h"
#include "internal/testing/testing.h"

/* accepted_nodelay connects to |fd| (listening on loopback, |port|) and
 * returns TCP_NODELAY of the socket accept() returns, or -1. */
static int accepted_nodelay(int fd, int family, uint16_t port) {
  struct sockaddr_storage ss = {0};
  socklen_t len;
  if (family == AF_INET6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    a->sin6_family = AF_INET6;
    a->sin6_addr = in6addr_loopback;
    a->sin6_port = htons(port);
    len = sizeof(*a);
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a->sin_port = htons(port);
    len = sizeof(*a);
  }
  int cl = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int v = -1;
  socklen_t vlen = sizeof(v);
  if (cl >= 0 && connect(cl, (struct sockaddr *)&ss, len) == 0) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int sv =
        poll(&p, 1, 5000) == 1 ? accept4(fd, NULL, NULL, SOCK_CLOEXEC) : -1;
    if (sv < 0 || getsockopt(sv, IPPROTO_TCP, TCP_NODELAY, &v, &vlen) != 0)
      v = -1;
    if (sv >= 0) close(sv);
  }
  if (cl >= 0) close(cl);
  return v;
}

/* The loop sets no TCP_NODELAY per connection: the listener carries it
 * and Linux hands it to every accepted socket. Checked both ways, so the
 * test would notice a kernel that does not inherit it. */
static void test_accepted_sockets_inherit_nodelay(void) {
  const char *hosts[] = {"127.0.0.1", "::1"};
  for (int i = 0; i < 2; i++) {
    int fd = -1;
    uint16_t port = 0;
    char err[256];
    int rc = ed_loop_bind(&fd, &port, hosts[i], 0, err, sizeof(err));
    if (rc != 0 && i == 1) continue; /* no IPv6 here */
    CHECK_EQ(rc, 0);
    if (rc != 0) continue;
    int family = i ? AF_INET6 : AF_INET;
    CHECK_EQ(listen(fd, 16), 0);
    int v = 0;
    socklen_t vlen = sizeof(v);
    CHECK_EQ(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &vlen), 0);
    CHECK(v != 0);
    CHECK(accepted_nodelay(fd, family, port) > 0);
    /* Cleared on the listener: accepted sockets have it off again. */
    int zero = 0;
    CHECK_EQ(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &zero, sizeof(zero)), 0);
    CHECK_EQ(accepted_nodelay(fd, family, port), 0);
    close(fd);
  }
}

int main(void) {
  RUN(test_accepted_sockets_inherit_nodelay);
  return TEST_RESULT();
}

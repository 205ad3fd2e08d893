/* internal/listen tests: exclusive binding, bind-then-listen, who holds an
 * address, socket activation, and what every accepted socket inherits. */
#include "internal/listen/listen.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal/testing/testing.h"

static struct sockaddr_in loopback(uint16_t port) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

static uint16_t port_of(const struct ed_listener *l) {
  return (uint16_t)atoi(strrchr(l->addr, ':') + 1);
}

/* stranger binds 127.0.0.1:|port| the way another program could: with
 * SO_REUSEADDR and SO_REUSEPORT. Returns the fd or -1 if bind failed. */
static int stranger(uint16_t port, int do_listen) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
  struct sockaddr_in a = loopback(port);
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
      (do_listen && listen(fd, 8) != 0)) {
    close(fd);
    return -1;
  }
  return fd;
}

static int connects(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = loopback(port);
  int ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
  close(fd);
  return ok;
}

static void test_bind_then_listen(void) {
  struct ed_listener l;
  char err[256];
  CHECK_EQ(ed_listen_bind(&l, "127.0.0.1:0", err, sizeof(err)), 0);
  CHECK(l.fd >= 0);
  CHECK(strncmp(l.addr, "127.0.0.1:", 10) == 0 && port_of(&l) != 0);
  CHECK(!connects(port_of(&l))); /* bound, not accepting yet */
  CHECK_EQ(ed_listen_start(&l, err, sizeof(err)), 0);
  CHECK(connects(port_of(&l)));
  ed_listen_close(&l);
  ed_listen_close(&l);
  CHECK_EQ(l.fd, -1);
}

/* The fault of issue 12: with SO_REUSEPORT a second server (or anyone
 * with SO_REUSEPORT) bound our address and shared its connections. */
static void test_nobody_shares_the_address(void) {
  struct ed_listener l, again;
  char err[256], want[64];
  CHECK_EQ(ed_listen_bind(&l, "127.0.0.1:0", err, sizeof(err)), 0);
  CHECK_EQ(ed_listen_start(&l, err, sizeof(err)), 0);
  uint16_t port = port_of(&l);
  CHECK_EQ(stranger(port, 0), -1);
  CHECK_EQ(ed_listen_bind(&again, l.addr, err, sizeof(err)), ED_E_EXIST);
  CHECK_EQ(again.fd, -1);
  snprintf(want, sizeof(want), "in use by pid %d (", (int)getpid());
  CHECK(strstr(err, l.addr) != NULL);
  CHECK(strstr(err, want) != NULL);
  ed_listen_close(&l);
  /* ... and the other way round: a stranger listening first. */
  int s = stranger(port, 1);
  CHECK(s >= 0);
  CHECK_EQ(ed_listen_bind(&again, l.addr, err, sizeof(err)), ED_E_EXIST);
  CHECK(strstr(err, want) != NULL);
  /* A wildcard listener on the port counts for 127.0.0.1 too. */
  char who[128];
  struct sockaddr_in any = loopback(port);
  any.sin_addr.s_addr = htonl(INADDR_ANY);
  CHECK_EQ(ed_listen_holder(who, sizeof(who), (struct sockaddr *)&any), 0);
  close(s);
  struct sockaddr_in a = loopback(port);
  CHECK_EQ(ed_listen_holder(who, sizeof(who), (struct sockaddr *)&a),
           ED_E_NOTFOUND);
  CHECK_STR(who, "");
}

/* Bound but not listening: whoever listens first wins; the loser's
 * ed_listen_start says the address is in use. */
static void test_listen_race_is_reported(void) {
  struct ed_listener l;
  char err[256];
  CHECK_EQ(ed_listen_bind(&l, "127.0.0.1:0", err, sizeof(err)), 0);
  int s = stranger(port_of(&l), 1);
  if (s >= 0) { /* the kernel let it in before we listened */
    CHECK_EQ(ed_listen_start(&l, err, sizeof(err)), ED_E_EXIST);
    CHECK(strstr(err, "already in use") != NULL);
    close(s);
  } else {
    CHECK_EQ(ed_listen_start(&l, err, sizeof(err)), 0);
  }
  ed_listen_close(&l);
}

static void test_bad_addresses(void) {
  struct ed_listener l;
  char err[256];
  CHECK_EQ(ed_listen_bind(&l, "127.0.0.1", err, sizeof(err)), ED_E_USAGE);
  CHECK(strstr(err, "127.0.0.1") != NULL);
  /* TEST-NET-1: not an address of this host */
  CHECK_EQ(ed_listen_bind(&l, "192.0.2.1:0", err, sizeof(err)), ED_E_SYS);
  CHECK(strstr(err, "192.0.2.1:0") != NULL);
  CHECK_EQ(l.fd, -1);
}

static void test_parse_fds(void) {
  size_t n = 99;
  CHECK_EQ(ed_listen_parse_fds(&n, NULL, NULL, 42), 0);
  CHECK_EQ(n, 0);
  CHECK_EQ(ed_listen_parse_fds(&n, "42", "2", 42), 0);
  CHECK_EQ(n, 2);
  CHECK_EQ(ed_listen_parse_fds(&n, "41", "2", 42), 0); /* not ours */
  CHECK_EQ(n, 0);
  CHECK_EQ(ed_listen_parse_fds(&n, "42", "x", 42), ED_E_USAGE);
  CHECK_EQ(ed_listen_parse_fds(&n, "42", "-1", 42), ED_E_USAGE);
  CHECK_EQ(ed_listen_parse_fds(&n, "", "1", 42), ED_E_USAGE);
  CHECK_EQ(ed_listen_parse_fds(&n, "42", "17", 42), ED_E_USAGE);
}

/* in_child puts |fd| at descriptor 3 with the activation variables set and
 * returns what ed_listen_inherit says: 0 ok (and the socket checks out),
 * 1 refused with the expected line, 2 anything else. */
static int in_child(int fd, const char *names) {
  pid_t pid = fork();
  if (pid == 0) {
    char buf[32], err[256];
    struct ed_listener *ls = NULL;
    size_t n = 0;
    if (dup2(fd, 3) != 3) _exit(2);
    snprintf(buf, sizeof(buf), "%d", (int)getpid());
    setenv("LISTEN_PID", buf, 1);
    setenv("LISTEN_FDS", "1", 1);
    if (names) setenv("LISTEN_FDNAMES", names, 1);
    int rc = ed_listen_inherit(&ls, &n, err, sizeof(err));
    if (getenv("LISTEN_PID") || getenv("LISTEN_FDS")) _exit(2);
    if (rc == ED_E_USAGE && strstr(err, "descriptor 3")) _exit(1);
    if (rc != 0 || n != 1 || ls[0].fd != 3 || !ls[0].inherited) _exit(2);
    if (names && strcmp(ls[0].name, "echo") != 0) _exit(2);
    struct ed_listener l = ls[0];
    if (ed_listen_start(&l, err, sizeof(err)) != 0) _exit(2);
    if (!connects(port_of(&l))) _exit(2);
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 3;
}

static void test_socket_activation(void) {
  struct ed_listener l;
  char err[256];
  CHECK_EQ(ed_listen_bind(&l, "127.0.0.1:0", err, sizeof(err)), 0);
  CHECK_EQ(in_child(l.fd, "echo"), 1); /* bound, not listening */
  CHECK_EQ(ed_listen_start(&l, err, sizeof(err)), 0);
  CHECK_EQ(in_child(l.fd, "echo"), 0);
  CHECK_EQ(in_child(l.fd, NULL), 0);
  ed_listen_close(&l);
  int udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  CHECK_EQ(in_child(udp, NULL), 1);
  close(udp);
  int fds[2];
  CHECK_EQ(pipe(fds), 0);
  CHECK_EQ(in_child(fds[0], NULL), 1);
  close(fds[0]);
  close(fds[1]);
}

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
    *(struct sockaddr_in *)&ss = loopback(port);
    len = sizeof(struct sockaddr_in);
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
  const char *addrs[] = {"127.0.0.1:0", "[::1]:0"};
  for (int i = 0; i < 2; i++) {
    struct ed_listener l;
    char err[256];
    int rc = ed_listen_bind(&l, addrs[i], err, sizeof(err));
    if (rc != 0 && i == 1) continue; /* no IPv6 here */
    CHECK_EQ(rc, 0);
    if (rc != 0) continue;
    int family = i ? AF_INET6 : AF_INET;
    CHECK_EQ(ed_listen_start(&l, err, sizeof(err)), 0);
    int v = 0;
    socklen_t vlen = sizeof(v);
    CHECK_EQ(getsockopt(l.fd, IPPROTO_TCP, TCP_NODELAY, &v, &vlen), 0);
    CHECK(v != 0);
    CHECK(accepted_nodelay(l.fd, family, port_of(&l)) > 0);
    /* Cleared on the listener: accepted sockets have it off again. */
    int zero = 0;
    CHECK_EQ(setsockopt(l.fd, IPPROTO_TCP, TCP_NODELAY, &zero, sizeof(zero)),
             0);
    CHECK_EQ(accepted_nodelay(l.fd, family, port_of(&l)), 0);
    ed_listen_close(&l);
  }
}

int main(void) {
  RUN(test_bind_then_listen);
  RUN(test_nobody_shares_the_address);
  RUN(test_listen_race_is_reported);
  RUN(test_bad_addresses);
  RUN(test_parse_fds);
  RUN(test_socket_activation);
  RUN(test_accepted_sockets_inherit_nodelay);
  return TEST_RESULT();
}

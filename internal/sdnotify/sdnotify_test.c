/* Unit tests for internal/sdnotify: $NOTIFY_SOCKET forms, the messages,
 * $WATCHDOG_USEC/$WATCHDOG_PID, and real datagrams to a path socket and
 * an abstract one. */
#include "internal/sdnotify/sdnotify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal/base/base.h"
#include "internal/testing/testing.h"

static void test_addr(void) {
  struct sockaddr_un sa;
  socklen_t len = 0;
  CHECK_EQ(ed_sdnotify_addr(&sa, &len, "/run/systemd/notify"), 0);
  CHECK_STR(sa.sun_path, "/run/systemd/notify");
  CHECK_EQ(len, offsetof(struct sockaddr_un, sun_path) + 20);
  CHECK_EQ(ed_sdnotify_addr(&sa, &len, "@abc"), 0);
  CHECK_EQ(sa.sun_path[0], '\0');
  CHECK(memcmp(sa.sun_path + 1, "abc", 3) == 0);
  CHECK_EQ(len, offsetof(struct sockaddr_un, sun_path) + 4);
  CHECK_EQ(ed_sdnotify_addr(&sa, &len, NULL), ED_E_INVAL);
  CHECK_EQ(ed_sdnotify_addr(&sa, &len, ""), ED_E_INVAL);
  CHECK_EQ(ed_sdnotify_addr(&sa, &len, "@"), ED_E_INVAL);
  CHECK_EQ(ed_sdnotify_addr(&sa, &len, "/"), ED_E_INVAL);
  CHECK_EQ(ed_sdnotify_addr(&sa, &len, "run/notify"), ED_E_INVAL);
  CHECK_EQ(ed_sdnotify_addr(&sa, &len, "vsock:2:1"), ED_E_INVAL);
  /* sun_path holds 108 bytes: a path of 107 and its NUL, or an abstract
   * name of 107 after the leading NUL. */
  char longest[110];
  memset(longest, 'a', sizeof(longest));
  longest[0] = '/';
  longest[107] = '\0';
  CHECK_EQ(ed_sdnotify_addr(&sa, &len, longest), 0);
  longest[107] = 'a';
  longest[108] = '\0';
  CHECK_EQ(ed_sdnotify_addr(&sa, &len, longest), ED_E_INVAL);
  longest[0] = '@';
  CHECK_EQ(ed_sdnotify_addr(&sa, &len, longest), 0);
  longest[108] = 'a';
  longest[109] = '\0';
  CHECK_EQ(ed_sdnotify_addr(&sa, &len, longest), ED_E_INVAL);
}

static void test_messages(void) {
  char out[256];
  CHECK_EQ(ed_sdnotify_reloading_msg(out, sizeof(out), 1234567), 0);
  CHECK_STR(out, "RELOADING=1\nMONOTONIC_USEC=1234567");
  CHECK_EQ(ed_sdnotify_reloading_msg(out, 10, 1), ED_E_TOOBIG);

  struct ed_sdnotify_status st = {
      .state = "running",
      .sessions = 3,
      .reload_ok = 1,
      .reload_trigger = "signal",
      .reload_wall_ns = 1795694403000000000ull, /* 2026-11-26T12:00:03Z */
      .reload_error = "",
  };
  CHECK_EQ(ed_sdnotify_status_msg(out, sizeof(out), &st), 0);
  CHECK_STR(out,
            "STATUS=running, 3 sessions; last reload ok (signal, "
            "2026-11-26T12:00:03Z)");
  st.sessions = 1;
  st.reload_ok = 0;
  st.reload_trigger = "watch";
  st.reload_error = "cannot read\ncert\x7f \"x\"";
  CHECK_EQ(ed_sdnotify_status_msg(out, sizeof(out), &st), 0);
  CHECK_STR(out,
            "STATUS=running, 1 session; last reload FAILED (watch, "
            "2026-11-26T12:00:03Z): cannot read cert  \"x\"");
  /* A long error is cut to fit, and the message stays one line. */
  char big[300];
  memset(big, 'e', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  st.reload_error = big;
  CHECK_EQ(ed_sdnotify_status_msg(out, sizeof(out), &st), 0);
  CHECK_EQ(strlen(out), sizeof(out) - 1);
  CHECK(strchr(out, '\n') == NULL);
  CHECK_EQ(ed_sdnotify_status_msg(out, 20, &st), ED_E_TOOBIG);
  st.reload_wall_ns = 0;
  st.sessions = 0;
  st.reload_ok = 1;
  st.state = NULL;
  CHECK_EQ(ed_sdnotify_status_msg(out, sizeof(out), &st), 0);
  CHECK_STR(out,
            "STATUS=unknown, 0 sessions; last reload ok (watch, unknown "
            "time)");
}

static void test_watchdog(void) {
  uint64_t us = 0;
  CHECK_EQ(ed_sdnotify_watchdog_usec(&us, "30000000", NULL, 42), 0);
  CHECK_EQ(us, 30000000);
  CHECK_EQ(ed_sdnotify_watchdog_usec(&us, "500", "42", 42), 0);
  CHECK_EQ(us, 500);
  CHECK_EQ(ed_sdnotify_watchdog_usec(&us, "500", "", 42), 0);
  CHECK_EQ(ed_sdnotify_watchdog_usec(&us, "500", "41", 42), ED_E_NOENT);
  CHECK_EQ(ed_sdnotify_watchdog_usec(&us, NULL, NULL, 42), ED_E_NOENT);
  CHECK_EQ(ed_sdnotify_watchdog_usec(&us, "", NULL, 42), ED_E_NOENT);
  CHECK_EQ(ed_sdnotify_watchdog_usec(&us, "0", NULL, 42), ED_E_INVAL);
  CHECK_EQ(ed_sdnotify_watchdog_usec(&us, "-5", NULL, 42), ED_E_INVAL);
  CHECK_EQ(ed_sdnotify_watchdog_usec(&us, "5s", NULL, 42), ED_E_INVAL);
  CHECK_EQ(ed_sdnotify_watchdog_usec(&us, "99999999999999999999999", NULL, 42),
           ED_E_INVAL);
  CHECK_EQ(ed_sdnotify_watchdog_usec(&us, "5", "x", 42), ED_E_INVAL);
}

/* recv_one binds a datagram socket at |name| (a path, or "@name"), sets
 * NOTIFY_SOCKET to it, sends |msg| and returns what arrived. */
static void expect_delivered(const char *name, const char *msg) {
  struct sockaddr_un sa;
  socklen_t len;
  CHECK_EQ(ed_sdnotify_addr(&sa, &len, name), 0);
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  CHECK(fd >= 0);
  CHECK_EQ(bind(fd, (struct sockaddr *)&sa, len), 0);
  setenv("NOTIFY_SOCKET", name, 1);
  CHECK_EQ(ed_sdnotify_send(msg), 0);
  char got[256] = "";
  ssize_t n = recv(fd, got, sizeof(got) - 1, MSG_DONTWAIT);
  CHECK_EQ(n, (ssize_t)strlen(msg));
  if (n > 0) got[n] = '\0';
  CHECK_STR(got, msg);
  /* Nothing is unset: a second send finds the socket again. */
  CHECK_STR(getenv("NOTIFY_SOCKET"), name);
  CHECK_EQ(ed_sdnotify_reloading(), 0);
  n = recv(fd, got, sizeof(got) - 1, MSG_DONTWAIT);
  CHECK(n > 0);
  if (n > 0) got[n] = '\0';
  CHECK(strncmp(got, "RELOADING=1\nMONOTONIC_USEC=", 27) == 0);
  close(fd);
  if (name[0] == '/') unlink(name);
}

static void test_send(void) {
  unsetenv("NOTIFY_SOCKET");
  CHECK_EQ(ed_sdnotify_send("READY=1"), ED_E_NOENT);
  setenv("NOTIFY_SOCKET", "relative", 1);
  CHECK_EQ(ed_sdnotify_send("READY=1"), ED_E_INVAL);
  char dir[] = "/tmp/ed_sdnotify_test.XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char path[128];
  snprintf(path, sizeof(path), "%s/notify", dir);
  expect_delivered(path, "READY=1\nSTATUS=running, 0 sessions");
  /* Nobody listens there any more. */
  CHECK_EQ(ed_sdnotify_send("READY=1"), ED_E_IO);
  char abstract[64];
  snprintf(abstract, sizeof(abstract), "@ed_sdnotify_test/%d", (int)getpid());
  expect_delivered(abstract, "STOPPING=1");
  unsetenv("NOTIFY_SOCKET");
  rmdir(dir);
}

int main(void) {
  RUN(test_addr);
  RUN(test_messages);
  RUN(test_watchdog);
  RUN(test_send);
  return TEST_RESULT();
}

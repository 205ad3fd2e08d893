/* internal/upgrade — the spawner reports what became of the process it
 * started: its pid, then "ready", or why not (its error line and exit
 * status, a program that cannot be executed, a kill on request); and
 * sockets pass with their descriptors (SCM_RIGHTS). The program here is
 * /bin/sh standing in for echod. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal/testing/testing.h"
#include "internal/upgrade/upgrade.h"

/* next waits (at most 10 s) for the spawner's next event. */
static int next(struct ed_spawner *s, struct ed_spawner_event *ev) {
  for (int i = 0; i < 1000; i++) {
    int r = ed_spawner_read(s, ev);
    if (r != 0) return r;
    struct pollfd p = {ed_spawner_fd(s), POLLIN, 0};
    poll(&p, 1, 10);
  }
  return 0;
}

static struct ed_spawner *sh(const char *script) {
  char *argv[] = {"sh", "-c", (char *)script, NULL};
  struct ed_spawner *s = NULL;
  char err[256];
  CHECK_EQ(ed_spawner_start(&s, "/bin/sh", argv, err, sizeof(err)), 0);
  return s;
}

static void expect(struct ed_spawner *s, enum ed_spawner_event_type type,
                   const char *msg) {
  struct ed_spawner_event ev;
  CHECK_EQ(next(s, &ev), 1);
  CHECK_EQ(ev.type, type);
  if (type == ED_SPAWNER_STARTED) CHECK(ev.pid > 0);
  if (msg && strcmp(ev.message, msg) != 0)
    fprintf(stderr, "got \"%s\", want \"%s\"\n", ev.message, msg);
  if (msg) CHECK_STR(ev.message, msg);
}

static void test_ready(void) {
  struct ed_spawner *s =
      sh("[ \"$ECHOD_UPGRADE_SOCKET\" = /x.sock ] && [ ${#ECHOD_UPGRADE_TOKEN} "
         "-eq 4 ] && echo ready >&$ECHOD_UPGRADE_FD");
  CHECK_EQ(ed_spawner_spawn(s, "abcd", "/x.sock"), 0);
  expect(s, ED_SPAWNER_STARTED, NULL);
  expect(s, ED_SPAWNER_READY, NULL);
  ed_spawner_free(s);
}

static void test_failures(void) {
  struct ed_spawner *s =
      sh("echo 'error echod: error: bad flag' "
         ">&$ECHOD_UPGRADE_FD; exit 2");
  CHECK_EQ(ed_spawner_spawn(s, "t", "/x"), 0);
  expect(s, ED_SPAWNER_STARTED, NULL);
  expect(s, ED_SPAWNER_FAILED, "echod: error: bad flag (exited with status 2)");
  /* The same spawner serves the next request. */
  CHECK_EQ(ed_spawner_spawn(s, "t", "/x"), 0);
  expect(s, ED_SPAWNER_STARTED, NULL);
  expect(s, ED_SPAWNER_FAILED, "echod: error: bad flag (exited with status 2)");
  ed_spawner_free(s);
  /* exec: the process started is the one killed (a shell that forked
   * sleep would leave it holding the status pipe open for 30 s). */
  s = sh("exec sleep 30");
  CHECK_EQ(ed_spawner_spawn(s, "t", "/x"), 0);
  expect(s, ED_SPAWNER_STARTED, NULL);
  CHECK_EQ(ed_spawner_kill(s), 0);
  expect(s, ED_SPAWNER_FAILED, "killed by signal 9");
  ed_spawner_free(s);
  char *argv[] = {"gone", NULL};
  char err[256];
  CHECK_EQ(ed_spawner_start(&s, "/nonexistent/echod", argv, err, sizeof(err)),
           0);
  CHECK_EQ(ed_spawner_spawn(s, "t", "/x"), 0);
  expect(s, ED_SPAWNER_STARTED, NULL);
  expect(s, ED_SPAWNER_FAILED,
         "cannot execute /nonexistent/echod: No such file or directory "
         "(exited with status 127)");
  ed_spawner_free(s);
}

/* ed_spawner_free returns once the spawner has exited and been reaped,
 * and a process it started that never reported ready is gone with it:
 * echod exits right after, and under systemd (KillMode=mixed) whatever of
 * the unit is still around then is a leftover to SIGKILL and wait for. */
static void test_free_reaps(void) {
  struct ed_spawner *s = sh("exec sleep 30");
  pid_t spawner = ed_spawner_pid(s);
  CHECK(spawner > 0);
  CHECK_EQ(ed_spawner_spawn(s, "t", "/x"), 0);
  struct ed_spawner_event ev;
  CHECK_EQ(next(s, &ev), 1);
  CHECK_EQ(ev.type, ED_SPAWNER_STARTED);
  ed_spawner_free(s);
  errno = 0;
  CHECK_EQ(waitpid(spawner, NULL, WNOHANG), -1); /* reaped: not even a zombie */
  CHECK_EQ(errno, ECHILD);
  errno = 0;
  CHECK_EQ(kill(ev.pid, 0), -1); /* the sleep did not outlive it */
  CHECK_EQ(errno, ESRCH);
}

static void test_send_fds(void) {
  int sv[2], p[2];
  CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  CHECK_EQ(pipe(p), 0);
  CHECK_EQ(ed_upgrade_send(sv[0], "x\n", 2, &p[1], 1), 0);
  char buf[8], ctl[CMSG_SPACE(sizeof(int))];
  struct iovec iov = {buf, sizeof(buf)};
  struct msghdr m = {.msg_iov = &iov,
                     .msg_iovlen = 1,
                     .msg_control = ctl,
                     .msg_controllen = sizeof(ctl)};
  CHECK_EQ(recvmsg(sv[1], &m, 0), 2);
  int fd = -1;
  memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof(int));
  CHECK(fd >= 0 && fd != p[1]);
  CHECK_EQ(write(fd, "y", 1), 1); /* the same pipe, another descriptor */
  CHECK_EQ(read(p[0], buf, 1), 1);
  CHECK_EQ(buf[0], 'y');
  close(fd), close(p[0]), close(p[1]), close(sv[0]), close(sv[1]);
}

static void test_token(void) {
  char a[ED_UPGRADE_TOKEN_LEN + 1], b[ED_UPGRADE_TOKEN_LEN + 1];
  CHECK_EQ(ed_upgrade_token(a), 0);
  CHECK_EQ(ed_upgrade_token(b), 0);
  CHECK_EQ(strlen(a), ED_UPGRADE_TOKEN_LEN);
  CHECK(ed_upgrade_token_equal(a, a));
  CHECK(!ed_upgrade_token_equal(a, b));
  CHECK(!ed_upgrade_token_equal(a, ""));
  CHECK(!ed_upgrade_token_equal(a, NULL));
}

int main(void) {
  RUN(test_ready);
  RUN(test_failures);
  RUN(test_free_reaps);
  RUN(test_send_fds);
  RUN(test_token);
  return TEST_RESULT();
}

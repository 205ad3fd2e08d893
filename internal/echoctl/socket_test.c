/* Unit tests for how echoctl finds the admin socket with no flags: the
 * places in order, and connecting to the first that answers, past a
 * missing file, a stale socket and one it may not open; and the one-line
 * error naming every place when none answers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal/base/base.h"
#include "internal/echoctl/echoctl.h"
#include "internal/testing/testing.h"

static char err[2048];

static void test_places(void) {
  struct ed_echoctl_places p;
  setenv("ECHOD_ADMIN_SOCKET", "/x/a.sock", 1);
  setenv("ECHOD_STATE_DIR", "/s", 1);
  ed_echoctl_socket_places(&p);
  CHECK_EQ(p.num, 4);
  CHECK_STR(p.path[0], "/x/a.sock");
  CHECK_STR(p.from[0], "$ECHOD_ADMIN_SOCKET");
  CHECK_STR(p.path[1], "/s/admin.sock");
  CHECK_STR(p.path[2], "/run/echod/admin.sock");
  CHECK_STR(p.path[3], "/var/lib/echod/admin.sock");
  /* As root with no state dir set: ~/.local/state, then the unit's. */
  unsetenv("ECHOD_ADMIN_SOCKET");
  unsetenv("ECHOD_STATE_DIR");
  unsetenv("XDG_STATE_HOME");
  setenv("HOME", "/root", 1);
  ed_echoctl_socket_places(&p);
  CHECK_EQ(p.num, 3);
  CHECK_STR(p.path[0], "/root/.local/state/echod/admin.sock");
  CHECK_STR(p.path[1], "/run/echod/admin.sock");
  /* The container's state dir is the package's: listed once. */
  setenv("ECHOD_STATE_DIR", "/var/lib/echod", 1);
  ed_echoctl_socket_places(&p);
  CHECK_EQ(p.num, 2);
  CHECK_STR(p.path[0], "/var/lib/echod/admin.sock");
  CHECK_STR(p.path[1], "/run/echod/admin.sock");
  unsetenv("ECHOD_STATE_DIR");
}

/* bind_at makes a listening (or, with |listening| 0, stale) socket. */
static int bind_at(const char *path, int listening) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  CHECK_EQ(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  if (listening) CHECK_EQ(listen(fd, 4), 0);
  if (!listening) close(fd); /* the file stays: connect is refused */
  return listening ? fd : -1;
}

static void test_first_that_answers(void) {
  char dir[] = "/tmp/ed_echoctl_sock.XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  struct ed_echoctl_places p = {.num = 3};
  snprintf(p.path[0], sizeof(p.path[0]), "%s/missing.sock", dir);
  snprintf(p.path[1], sizeof(p.path[1]), "%s/stale.sock", dir);
  snprintf(p.path[2], sizeof(p.path[2]), "%s/live.sock", dir);
  p.from[0] = "one", p.from[1] = "two", p.from[2] = "three";
  bind_at(p.path[1], 0);
  int live = bind_at(p.path[2], 1);
  int fd = -1;
  size_t i = 99;
  CHECK_EQ(ed_echoctl_connect_any(&fd, &i, &p, err, sizeof(err)), 0);
  CHECK_EQ(i, 2);
  CHECK(fd >= 0);
  close(fd);
  close(live);
  unlink(p.path[2]);

  /* None answers: one line naming each place, where it came from and
   * why. */
  CHECK_EQ(ed_echoctl_connect_any(&fd, &i, &p, err, sizeof(err)), ED_E_IO);
  CHECK(strchr(err, '\n') == NULL);
  char want[2048];
  snprintf(want, sizeof(want),
           "looked for its admin socket at %s (one: %s), %s (two: %s), %s "
           "(three: %s);",
           p.path[0], strerror(ENOENT), p.path[1], strerror(ECONNREFUSED),
           p.path[2], strerror(ENOENT));
  CHECK(strstr(err, want) != NULL);
  if (!strstr(err, want)) fprintf(stderr, "  got: %s\n  want: %s\n", err, want);
  CHECK(strstr(err, "systemctl start echod") != NULL);
  CHECK(strstr(err, "another user") == NULL);
  /* Under `bazel run`, the server's bazel run form. */
  setenv("BUILD_WORKSPACE_DIRECTORY", dir, 1);
  CHECK_EQ(ed_echoctl_connect_any(&fd, &i, &p, err, sizeof(err)), ED_E_IO);
  unsetenv("BUILD_WORKSPACE_DIRECTORY");
  CHECK(strstr(err, "Start it (`bazel run //cmd:server`)") != NULL);
  CHECK(strstr(err, "systemctl") == NULL);

  /* A socket in a directory this user may not enter (skipped as root,
   * who may enter any). */
  if (geteuid() != 0) {
    char locked[300];
    snprintf(locked, sizeof(locked), "%s/locked", dir);
    mkdir(locked, 0700);
    snprintf(p.path[0], sizeof(p.path[0]), "%s/admin.sock", locked);
    live = bind_at(p.path[0], 1);
    chmod(locked, 0);
    CHECK_EQ(ed_echoctl_connect_any(&fd, &i, &p, err, sizeof(err)), ED_E_IO);
    CHECK(strstr(err, "another user") != NULL);
    chmod(locked, 0700);
    close(live);
    unlink(p.path[0]);
    rmdir(locked);
  }
  unlink(p.path[1]);
  rmdir(dir);
}

/* ed_echoctl_main with no flags reports every place in its message. */
static void test_main_says_where_it_looked(void) {
  char dir[] = "/tmp/ed_echoctl_main.XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  setenv("ECHOD_STATE_DIR", dir, 1);
  setenv("ECHOD_ADMIN_SOCKET", "/nonexistent/echod.sock", 1);
  char path[64];
  snprintf(path, sizeof(path), "%s/errors", dir);
  FILE *errf = fopen(path, "w+");
  FILE *devnull = fopen("/dev/null", "w");
  const char *argv[] = {"echoctl", "status", NULL};
  int code = ed_echoctl_main(2, (char **)argv, devnull, errf, NULL);
  /* Only when no real server answers at the fixed places on this host. */
  if (access("/run/echod/admin.sock", F_OK) != 0 &&
      access("/var/lib/echod/admin.sock", F_OK) != 0) {
    CHECK_EQ(code, ED_ECHOCTL_EXIT_UNREACHABLE);
    char text[2048] = "";
    rewind(errf);
    size_t n = fread(text, 1, sizeof(text) - 1, errf);
    text[n] = '\0';
    char state_sock[80];
    snprintf(state_sock, sizeof(state_sock), "%s/admin.sock", dir);
    CHECK(strstr(text, "/nonexistent/echod.sock ($ECHOD_ADMIN_SOCKET") != NULL);
    CHECK(strstr(text, state_sock) != NULL);
    CHECK(strstr(text, "/run/echod/admin.sock (systemd unit") != NULL);
    CHECK(strstr(text, "/var/lib/echod/admin.sock") != NULL);
    CHECK(strchr(text, '\n') == text + strlen(text) - 1); /* one line */
  }
  fclose(errf);
  fclose(devnull);
  unlink(path);
  rmdir(dir);
  unsetenv("ECHOD_STATE_DIR");
  unsetenv("ECHOD_ADMIN_SOCKET");
}

int main(void) {
  RUN(test_places);
  RUN(test_first_that_answers);
  RUN(test_main_says_where_it_looked);
  return TEST_RESULT();
}

/* internal/upgrade — the spawner (see upgrade.h): a process forked before
 * the sandbox that starts the new echod when the old one asks.
 *
 * Control socket (SOCK_SEQPACKET, one message each way per event):
 *   old -> spawner: "spawn\n<token>\n<admin socket path>", "kill"
 *   spawner -> old: "pid <n>", "ready", "failed <why>"
 * The child's status pipe (its ECHOD_UPGRADE_FD): "ready\n" or
 * "error <line>\n" from the new process.
 *
 * The spawner lives exactly as long as its echod: it exits at EOF on the
 * control socket (and gets SIGKILL, PR_SET_PDEATHSIG, should echod die
 * while it cannot read), and echod, in ed_spawner_free, waits for that
 * before it exits itself. Under systemd (KillMode=mixed) anything of the
 * unit still there when the main process has exited is SIGKILLed, and
 * systemd 252 on the legacy cgroup hierarchy (containers) can miss that
 * it died and wait out TimeoutStopSec: a spawner one instant late made
 * `systemctl stop` fail. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal/upgrade/upgrade.h"

struct ed_spawner {
  int fd;
  pid_t pid;
};

/* How long ed_spawner_free waits for the spawner, which exits as soon as
 * it reads EOF; one that cannot (stopped) dies with echod instead
 * (PR_SET_PDEATHSIG). */
#define SPAWNER_EXIT_WAIT_MS 5000

/* ---- the spawner process --------------------------------------------------
 */

struct child_ctx {
  char exe[4096];
  char **argv;
  int sock;
};

static void say(int sock, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void say(int sock, const char *fmt, ...) {
  char msg[ED_UPGRADE_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n >= sizeof(msg)) n = (int)sizeof(msg) - 1;
  (void)!send(sock, msg, (size_t)n, MSG_NOSIGNAL);
}

/* exec_child runs in the forked child: a clean signal state, the hand-over
 * variables, then the program. Never returns. */
static void exec_child(const struct child_ctx *cx, int status_fd,
                       const char *token, const char *admin) {
  char num[32];
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  for (int sig = 1; sig < NSIG; sig++) signal(sig, SIG_DFL);
  close(cx->sock);
  snprintf(num, sizeof(num), "%d", status_fd);
  setenv("ECHOD_UPGRADE_FD", num, 1);
  setenv("ECHOD_UPGRADE_TOKEN", token, 1);
  setenv("ECHOD_UPGRADE_SOCKET", admin, 1);
  /* systemd's watchdog is for the main process: after the hand-over that
   * is this one (MAINPID=), so it must ping. */
  if (getenv("WATCHDOG_USEC")) {
    snprintf(num, sizeof(num), "%d", (int)getpid());
    setenv("WATCHDOG_PID", num, 1);
  }
  execv(cx->exe, cx->argv);
  char line[ED_UPGRADE_MSG_MAX];
  int n = snprintf(line, sizeof(line), "error cannot execute %s: %s\n", cx->exe,
                   strerror(errno));
  (void)!write(status_fd, line, n > 0 ? (size_t)n : 0);
  _exit(127);
}

static void describe_exit(char *out, size_t len, int status) {
  if (WIFEXITED(status))
    snprintf(out, len, "exited with status %d", WEXITSTATUS(status));
  else if (WIFSIGNALED(status))
    snprintf(out, len, "killed by signal %d", WTERMSIG(status));
  else
    snprintf(out, len, "stopped");
}

/* read_status reads the child's status lines (each written whole, under
 * PIPE_BUF) and keeps the last error line in |why|. Returns 1 on
 * "ready", 0 at EOF, -1 to keep waiting. */
static int read_status(int fd, char *why, size_t why_len) {
  char buf[ED_UPGRADE_MSG_MAX];
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  if (n < 0 && errno == EINTR) return -1;
  if (n <= 0) return 0;
  buf[n] = '\0';
  char *save = NULL;
  for (char *l = strtok_r(buf, "\n", &save); l;
       l = strtok_r(NULL, "\n", &save)) {
    if (strcmp(l, "ready") == 0) return 1;
    if (strncmp(l, "error ", 6) == 0) snprintf(why, why_len, "%s", l + 6);
  }
  return -1;
}

/* after_ready waits for the old process's word on a child that reported
 * ready: "exit" (it took the sockets over) or EOF, and the spawner exits:
 * the kernel hands the new process to the service manager (or the
 * nearest subreaper) before the old process, which reaps us first,
 * announces MAINPID=. systemd supervises a main pid that is not its own
 * child only in part ("not our child"): at stop it would SIGKILL it
 * instead of waiting for its drain. Returns only after "kill" (the child
 * reported ready without taking the sockets), having killed it: the
 * caller reports how it ended. */
static void after_ready(int sock, pid_t pid) {
  for (;;) {
    char msg[64];
    ssize_t n = recv(sock, msg, sizeof(msg), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n == 4 && memcmp(msg, "kill", 4) == 0) {
      kill(pid, SIGKILL);
      return;
    }
    if (n <= 0 || (n == 4 && memcmp(msg, "exit", 4) == 0)) _exit(0);
  }
}

/* watch_child waits for the child's "ready" or its end, honouring "kill"
 * from the old process, and reports. */
static void watch_child(int sock, pid_t pid, int status_fd) {
  char why[ED_UPGRADE_MSG_MAX] = "", ex[64];
  for (;;) {
    struct pollfd p[2] = {{status_fd, POLLIN, 0}, {sock, POLLIN, 0}};
    if (poll(p, 2, -1) < 0) continue;
    if (p[1].revents) {
      char msg[64];
      ssize_t n = recv(sock, msg, sizeof(msg), 0);
      if (n <= 0) { /* the old process is gone: the child, not ready, can
                     * take nothing over; it goes first, then we */
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
        }
        _exit(0);
      }
      if (n == 4 && memcmp(msg, "kill", 4) == 0) kill(pid, SIGKILL);
    }
    if (!p[0].revents) continue;
    int r = read_status(status_fd, why, sizeof(why));
    if (r == 1) {
      say(sock, "ready");
      after_ready(sock, pid);
      break;
    }
    if (r == 0) break;
  }
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  describe_exit(ex, sizeof(ex), st);
  if (why[0])
    say(sock, "failed %s (%s)", why, ex);
  else
    say(sock, "failed %s", ex);
}

/* spawn_one handles "<token>\n<admin socket path>". */
static void spawn_one(const struct child_ctx *cx, char *req) {
  char *token = req, *admin = strchr(req, '\n');
  if (!admin) return;
  *admin++ = '\0';
  int st[2];
  if (pipe2(st, O_CLOEXEC) != 0) {
    say(cx->sock, "failed cannot make a pipe: %s", strerror(errno));
    return;
  }
  /* _Fork: no atfork handlers. libuv's would close the signal pipe it
   * made in the server - descriptor numbers that spawner_main closed and
   * that may now be the status pipe's. */
  pid_t pid = _Fork();
  if (pid == 0) {
    fcntl(st[1], F_SETFD, 0); /* the status pipe crosses exec */
    close(st[0]);
    exec_child(cx, st[1], token, admin);
  }
  close(st[1]);
  if (pid < 0) {
    say(cx->sock, "failed cannot fork: %s", strerror(errno));
  } else {
    say(cx->sock, "pid %d", (int)pid);
    watch_child(cx->sock, pid, st[0]);
  }
  close(st[0]);
}

static void spawner_main(struct child_ctx *cx, pid_t parent) {
  /* Dies with its echod even when it cannot read the EOF (stopped). */
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(0);
  /* Only stdio and the control socket (moved to 3) stay open: none of the
   * server's sockets or files. */
  if (cx->sock != 3) {
    dup2(cx->sock, 3);
    cx->sock = 3;
  }
  syscall(SYS_close_range, 4u, ~0u, 0u);
  /* Ctrl-C is for the server, which drains; so is systemd's SIGTERM
   * (KillMode=control-group sends it here too). The spawner goes when
   * the server does. */
  signal(SIGINT, SIG_IGN);
  signal(SIGTERM, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  signal(SIGUSR2, SIG_IGN);
  for (;;) {
    char req[ED_UPGRADE_MSG_MAX + 200];
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
    ssize_t n = recv(cx->sock, req, sizeof(req) - 1, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) _exit(0);
    req[n] = '\0';
    if (strncmp(req, "spawn\n", 6) == 0) spawn_one(cx, req + 6);
  }
}

/* ---- the server's side ----------------------------------------------------
 */

static char **copy_argv(char *const *argv) {
  size_t n = 0;
  while (argv[n]) n++;
  char **out = ed_calloc(n + 1, sizeof(*out));
  for (size_t i = 0; i < n; i++) out[i] = ed_strdup(argv[i]);
  return out;
}

int ed_spawner_start(struct ed_spawner **out, const char *exe,
                     char *const *argv, char *err, size_t err_len) {
  *out = NULL;
  struct child_ctx cx;
  ssize_t n = exe ? (ssize_t)snprintf(cx.exe, sizeof(cx.exe), "%s", exe)
                  : readlink("/proc/self/exe", cx.exe, sizeof(cx.exe) - 1);
  int sv[2];
  if (n <= 0 ||
      socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    snprintf(err, err_len, "upgrade spawner: %s", strerror(errno));
    return ED_E_SYS;
  }
  cx.exe[n] = '\0';
  fflush(NULL); /* nothing buffered is written twice */
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    close(sv[0]);
    cx.sock = sv[1];
    cx.argv = copy_argv(argv);
    spawner_main(&cx, parent);
  }
  close(sv[1]);
  if (pid < 0) {
    close(sv[0]);
    snprintf(err, err_len, "upgrade spawner: cannot fork: %s", strerror(errno));
    return ED_E_SYS;
  }
  fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
  struct ed_spawner *s = ed_calloc(1, sizeof(*s));
  s->fd = sv[0];
  s->pid = pid;
  *out = s;
  return 0;
}

int ed_spawner_fd(const struct ed_spawner *s) {
  return s->fd;
}

pid_t ed_spawner_pid(const struct ed_spawner *s) {
  return s->pid;
}

int ed_spawner_spawn(struct ed_spawner *s, const char *token,
                     const char *admin_path) {
  char msg[ED_UPGRADE_MSG_MAX];
  int n = snprintf(msg, sizeof(msg), "spawn\n%s\n%s", token, admin_path);
  if (n < 0 || (size_t)n >= sizeof(msg)) return ED_E_INVAL;
  return send(s->fd, msg, (size_t)n, MSG_NOSIGNAL) == n ? 0 : ED_E_IO;
}

int ed_spawner_kill(struct ed_spawner *s) {
  return send(s->fd, "kill", 4, MSG_NOSIGNAL) == 4 ? 0 : ED_E_IO;
}

int ed_spawner_read(struct ed_spawner *s, struct ed_spawner_event *out) {
  char msg[ED_UPGRADE_MSG_MAX + 1];
  memset(out, 0, sizeof(*out));
  ssize_t n = recv(s->fd, msg, sizeof(msg) - 1, 0);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
  if (n <= 0) return n == 0 ? ED_E_IO : ED_E_IO;
  msg[n] = '\0';
  if (strncmp(msg, "pid ", 4) == 0) {
    out->type = ED_SPAWNER_STARTED;
    out->pid = (pid_t)atoi(msg + 4);
  } else if (strcmp(msg, "ready") == 0) {
    out->type = ED_SPAWNER_READY;
  } else if (strncmp(msg, "failed ", 7) == 0) {
    out->type = ED_SPAWNER_FAILED;
    snprintf(out->message, sizeof(out->message), "%s", msg + 7);
  } else {
    return 0; /* an empty message: nothing */
  }
  return 1;
}

/* reap waits for the spawner to exit, polling: waitpid has no timeout,
 * and a spawner that cannot exit (stopped) must not keep echod from
 * exiting longer than SPAWNER_EXIT_WAIT_MS.
 * Returns 0 once reaped (or not our child), or ED_E_TIMEOUT. */
static int reap(pid_t pid) {
  struct timespec nap = {0, 100 * 1000}; /* 0.1 ms, doubling to 10 ms */
  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (;;) {
    pid_t r = waitpid(pid, NULL, WNOHANG);
    if (r == pid || (r < 0 && errno != EINTR)) return 0;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long ms = (now.tv_sec - start.tv_sec) * 1000 +
              (now.tv_nsec - start.tv_nsec) / 1000000;
    if (ms >= SPAWNER_EXIT_WAIT_MS) return ED_E_TIMEOUT;
    nanosleep(&nap, NULL);
    if (nap.tv_nsec < 10 * 1000 * 1000) nap.tv_nsec *= 2;
  }
}

int ed_spawner_finish(struct ed_spawner *s) {
  if (!s) return 0;
  (void)!send(s->fd, "exit", 4, MSG_NOSIGNAL);
  return ed_spawner_free(s);
}

int ed_spawner_free(struct ed_spawner *s) {
  if (!s) return 0;
  close(s->fd); /* EOF: the spawner exits */
  int rc = reap(s->pid);
  free(s);
  return rc;
}

/* internal/sandbox tests. Each layer is applied in a forked child (it
 * cannot be undone), which reports back through its exit status and a
 * pipe. */
#include "internal/sandbox/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal/testing/testing.h"

/* ASan and TSan make calls the filter refuses (sigaltstack on _exit,
 * /proc/self/maps and sched_getaffinity for a new thread): why echod runs
 * --no-sandbox in those builds, and why the filter is not tested there. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZER_BUILD 1
#else
#define SANITIZER_BUILD 0
#endif

/* run_child runs |fn| in a child with stderr captured into |log| and
 * returns its exit status (100 + signal when killed). */
static int run_child(int (*fn)(void *), void *arg, char *log, size_t log_len) {
  int p[2];
  if (pipe(p) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(p[1], 2);
    close(p[0]);
    _exit(fn(arg));
  }
  close(p[1]);
  size_t n = 0;
  ssize_t k;
  while (n + 1 < log_len && (k = read(p[0], log + n, log_len - n - 1)) > 0)
    n += (size_t)k;
  log[n] = '\0';
  close(p[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  int rc = WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
  if (rc != 0 && rc != 99) fprintf(stderr, "child exited %d:\n%s", rc, log);
  return rc;
}

static void test_lookup_user(void) {
  struct ed_sandbox_user u;
  char err[256];
  CHECK_EQ(ed_sandbox_lookup_user(&u, NULL, NULL, err, sizeof(err)), 0);
  CHECK_EQ(u.set, 0);
  CHECK_EQ(ed_sandbox_lookup_user(&u, "no-such-user-x", NULL, err, sizeof(err)),
           ED_E_USAGE);
  CHECK(strstr(err, "--user no-such-user-x: no such user") != NULL);
  CHECK_EQ(ed_sandbox_lookup_user(&u, NULL, "root", err, sizeof(err)),
           ED_E_USAGE);
  CHECK(strstr(err, "needs --user") != NULL);
  if (geteuid() != 0) return;
  CHECK_EQ(ed_sandbox_lookup_user(&u, "root", NULL, err, sizeof(err)), 0);
  CHECK(u.set && u.uid == 0 && u.gid == 0);
  CHECK_EQ(ed_sandbox_lookup_user(&u, "0", "0", err, sizeof(err)), 0);
  CHECK(u.set && u.uid == 0 && u.gid == 0);
  CHECK_EQ(
      ed_sandbox_lookup_user(&u, "root", "no-such-group-x", err, sizeof(err)),
      ED_E_USAGE);
  CHECK(strstr(err, "--group no-such-group-x") != NULL);
}

static int set_nnp(void) {
  return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

static void *thread_main(void *arg) {
  return arg;
}

/* Under the filter: allowed calls work, threads start (clone3 -> ENOSYS
 * -> clone with CLONE_THREAD), and a refused call fails with EPERM and
 * names itself in the log. Exit codes say which check failed. */
static int seccomp_child(void *arg) {
  (void)arg;
  char err[256];
  size_t n = 0;
  if (set_nnp() != 0 || ed_sandbox_seccomp(&n, err, sizeof(err)) != 0) return 2;
  if (n < 40) return 3;
  errno = 0;
  if (socket(AF_INET, SOCK_STREAM, 0) != -1 || errno != EPERM) return 4;
  pthread_t t;
  if (pthread_create(&t, NULL, thread_main, NULL) != 0) return 5;
  pthread_join(t, NULL);
  if (syscall(SYS_clone3, NULL, 0) != -1 || errno != ENOSYS) return 6;
  errno = 0;
  if (fork() != -1 || errno != EPERM) return 7; /* no new processes */
  if (syscall(SYS_tgkill, 1, 1, 0) != -1 || errno != EPERM) return 8;
  return 0;
}

static void test_seccomp(void) {
  char log[4096];
  if (SANITIZER_BUILD) {
    fprintf(stderr,
            "sanitizer build: its runtime makes calls the filter "
            "refuses (sigaltstack, open, sched_getaffinity); "
            "skipped\n");
    return;
  }
  CHECK_EQ(run_child(seccomp_child, NULL, log, sizeof(log)), 0);
  CHECK(strstr(log, "level=error msg=\"system call refused\" syscall=") !=
        NULL);
  CHECK(strstr(log, " name=socket errno=EPERM") != NULL);
  CHECK(strstr(log, " name=clone ") != NULL);  /* the fork */
  CHECK(strstr(log, " name=tgkill ") != NULL); /* another process */
  CHECK(strstr(log, "name=clone3") == NULL);   /* expected, not logged */
  CHECK_STR(ed_sandbox_syscall_name(SYS_socket), "socket");
  CHECK_STR(ed_sandbox_syscall_name(SYS_read), "read");
}

struct dirs {
  char root[64], rd[96], wr[96], out[96], rdfile[128], outfile[128];
};

static int write_file(const char *path) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  int ok = write(fd, "x", 1) == 1;
  close(fd);
  return ok ? 0 : -1;
}

static int can_open(const char *path, int flags) {
  int fd = open(path, flags | O_CLOEXEC, 0600);
  if (fd >= 0) close(fd);
  return fd >= 0 ? 1 : errno == EACCES ? 0 : -1;
}

static int landlock_child(void *arg) {
  struct dirs *d = arg;
  const char *files[] = {d->rdfile, NULL};
  const char *dirs[] = {d->wr};
  struct ed_sandbox_options o = {.read_files = files,
                                 .num_read_files = 2,
                                 .write_dirs = dirs,
                                 .num_write_dirs = 1};
  char err[256], path[160];
  int abi = 0, rules = 0;
  if (set_nnp() != 0 || ed_sandbox_landlock(&o, &abi, &rules, err, 256))
    return 2;
  if (abi == 0) return 99; /* no Landlock in this kernel */
  snprintf(path, sizeof(path), "%s/new", d->wr);
  if (can_open(d->rdfile, O_RDONLY) != 1) return 3;
  if (can_open(d->outfile, O_RDONLY) != 0) return 4;
  if (can_open(d->rdfile, O_WRONLY) != 0) return 5;
  if (can_open(path, O_WRONLY | O_CREAT) != 1 || unlink(path) != 0) return 6;
  if (can_open("/proc/self/stat", O_RDONLY) != 1) return 7;
  if (can_open("/etc/passwd", O_RDONLY) != 0) return 8;
  if (execl("/bin/true", "true", (char *)NULL) == 0 || errno != EACCES)
    return 9;
  if (abi >= 4) { /* no TCP bind after startup */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s, (struct sockaddr *)&a, sizeof(a)) == 0) return 10;
    close(s);
  }
  return 0;
}

static void test_landlock(void) {
  struct dirs d;
  char log[1024];
  snprintf(d.root, sizeof(d.root), "/tmp/sandbox-test-XXXXXX");
  CHECK(mkdtemp(d.root) != NULL);
  snprintf(d.rd, sizeof(d.rd), "%s/certs", d.root);
  snprintf(d.wr, sizeof(d.wr), "%s/state", d.root);
  snprintf(d.out, sizeof(d.out), "%s/other", d.root);
  snprintf(d.rdfile, sizeof(d.rdfile), "%s/server.pem", d.rd);
  snprintf(d.outfile, sizeof(d.outfile), "%s/secret", d.out);
  CHECK_EQ(mkdir(d.rd, 0700) | mkdir(d.wr, 0700) | mkdir(d.out, 0700), 0);
  CHECK_EQ(write_file(d.rdfile) | write_file(d.outfile), 0);
  int rc = run_child(landlock_child, &d, log, sizeof(log));
  if (rc == 99) {
    fprintf(stderr, "no Landlock in this kernel: skipped\n");
  } else {
    CHECK_EQ(rc, 0);
  }
  unlink(d.rdfile);
  unlink(d.outfile);
  rmdir(d.rd);
  rmdir(d.wr);
  rmdir(d.out);
  rmdir(d.root);
}

static int no_sandbox_child(void *arg) {
  (void)arg;
  struct ed_sandbox_options o = {.no_sandbox = 1};
  char err[256];
  if (ed_sandbox_apply(&o, err, sizeof(err)) != 0) return 2;
  if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) return 3;
  int s = socket(AF_INET, SOCK_STREAM, 0); /* no filter */
  if (s < 0) return 4;
  close(s);
  return 0;
}

static void *park(void *arg) {
  int *fd = arg;
  char c;
  (void)!read(*fd, &c, 1);
  return NULL;
}

/* Landlock would not cover a thread that already runs: refused. */
static int threads_child(void *arg) {
  (void)arg;
  int p[2];
  pthread_t t;
  if (pipe(p) != 0 || pthread_create(&t, NULL, park, &p[0]) != 0) return 2;
  struct ed_sandbox_options o = {0};
  char err[256];
  int rc = ed_sandbox_apply(&o, err, sizeof(err));
  close(p[1]);
  pthread_join(t, NULL);
  return rc == ED_E_SYS && strstr(err, "2 threads already run") ? 0 : 3;
}

static void test_apply(void) {
  char log[4096];
  CHECK_EQ(run_child(no_sandbox_child, NULL, log, sizeof(log)), 0);
  CHECK(strstr(log, "msg=\"privileges dropped\"") != NULL);
  CHECK(strstr(log, "no_new_privs=1") != NULL);
  CHECK(strstr(log, "msg=\"sandbox off\" reason=--no-sandbox") != NULL);
  if (!SANITIZER_BUILD) /* there the sandbox is off: no thread check */
    CHECK_EQ(run_child(threads_child, NULL, log, sizeof(log)), 0);
}

int main(void) {
  RUN(test_lookup_user);
  RUN(test_seccomp);
  RUN(test_landlock);
  RUN(test_apply);
  return TEST_RESULT();
}

/* internal/sandbox — the seccomp-BPF allow-list (see sandbox.h).
 *
 * The list is what echod calls once it serves: socket I/O on descriptors
 * it already has, epoll, threads, memory, signals, reading the credential
 * files and /proc/self for reloads and metrics, inotify for the file
 * watch. Not in it, among others: socket, bind, connect, execve, fork
 * (clone without CLONE_THREAD), ptrace, mount, setuid, prctl, open_by_*.
 * It was taken from strace of the whole end-to-end suite and is checked
 * by it: the test harness fails a test whose server logged a refusal.
 *
 * A call outside the list gets SECCOMP_RET_TRAP: the kernel raises SIGSYS
 * in the calling thread, the handler writes one logfmt error line naming
 * the call and makes it return -EPERM. The caller then fails the way it
 * would on any EPERM (a reload error, a refused connection) and the log
 * says why — never a silent hang or kill. Exceptions: clone3 returns
 * ENOSYS without a log line, which makes glibc fall back to clone, whose
 * flags (unlike clone3's, behind a pointer) a filter can check; a system
 * call of another architecture (the i386 or x32 entry points) kills the
 * process, since nothing echod runs makes one. */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "internal/sandbox/sandbox.h"

#if defined(__x86_64__)
#define AUDIT_ARCH_SELF AUDIT_ARCH_X86_64
#define X32_SYSCALL_BIT 0x40000000u
#elif defined(__aarch64__)
#define AUDIT_ARCH_SELF AUDIT_ARCH_AARCH64
#endif

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define ARG_LO(i) (offsetof(struct seccomp_data, args) + 8 * (i))
#else
#define ARG_LO(i) (offsetof(struct seccomp_data, args) + 8 * (i) + 4)
#endif

struct sc {
  long nr;
  const char *name;
};

#define SC(n) \
  { __NR_##n, #n }

/* Allowed without looking at the arguments, the busiest first (the
 * filter compares in this order). Where glibc calls a different entry
 * point per architecture (x86_64 epoll_wait, unlink, readlink; aarch64
 * has only epoll_pwait and the *at forms) only the one it calls is
 * listed. */
static const struct sc allowed[] = {
    SC(read),
    SC(write),
#ifdef __NR_epoll_wait
    SC(epoll_wait),
#else
    SC(epoll_pwait),
#endif
    SC(epoll_ctl),
    SC(futex),
    SC(accept4),
    SC(close),
    SC(getpeername),
    SC(sendto),
    SC(recvfrom),
    SC(sendmsg), /* an upgrade hands the listening sockets over (SCM_RIGHTS) */
    SC(wait4),   /* ... and reaps its spawner before MAINPID= */
    SC(writev),
    SC(readv),
    SC(shutdown),
    SC(getsockname),
    SC(getsockopt),
    SC(setsockopt),
    SC(listen),
    /* time: the vDSO answers these, unless the clock source forbids it */
    SC(clock_gettime),
    SC(gettimeofday),
    SC(clock_nanosleep),
    SC(nanosleep),
    /* memory */
    SC(mmap),
    SC(munmap),
    SC(mprotect),
    SC(mremap),
    SC(madvise),
    SC(brk),
    /* threads and signals */
    SC(set_robust_list),
    SC(rseq),
    SC(exit),
    SC(exit_group),
    SC(gettid),
    SC(getpid),
    SC(sched_yield),
    SC(setpriority),        /* the handshake pool's threads */
    SC(sched_setscheduler), /* ... run at SCHED_BATCH, nice 19 */
    SC(rt_sigaction),
    SC(rt_sigprocmask),
    SC(rt_sigreturn),
    SC(restart_syscall),
    /* files: reloads (realpath for the file watch), /proc/self for
     * metrics, the admin socket's removal */
    SC(openat),
    SC(newfstatat),
    SC(getdents64),
    SC(fcntl),
#ifdef __NR_readlink
    SC(readlink),
    SC(unlink),
#else
    SC(readlinkat),
    SC(unlinkat),
#endif
    SC(getcwd),
    SC(faccessat2), /* access(): the dev hint looks for the client's files */
    SC(faccessat),
    SC(inotify_init1), /* the file watch starts on the control loop */
    SC(inotify_add_watch),
    SC(inotify_rm_watch),
    SC(getrandom),
    SC(prlimit64),
    SC(sysinfo), /* glibc's qsort asks for the memory size */
    SC(geteuid),
    SC(getuid),
    SC(getegid),
    SC(getgid),
};

/* Refused calls the log should name too (anything else shows its
 * number). */
static const struct sc refused_names[] = {
    SC(socket),        SC(connect),      SC(bind),           SC(execve),
    SC(execveat),      SC(clone),        SC(clone3),         SC(ptrace),
    SC(kill),          SC(tgkill),       SC(ioctl),          SC(prctl),
    SC(setuid),        SC(setgid),       SC(setresuid),      SC(setgroups),
    SC(mount),         SC(unshare),      SC(setns),          SC(dup),
    SC(dup3),          SC(statx),        SC(mkdirat),        SC(renameat2),
    SC(fchmod),        SC(fchown),       SC(uname),          SC(socketpair),
    SC(epoll_create1), SC(memfd_create), SC(io_uring_setup), SC(bpf),
    SC(recvmsg),       SC(fstat),        SC(lseek),          SC(pread64),
    SC(eventfd2),      SC(pipe2),        SC(epoll_pwait),    SC(readlinkat),
    SC(unlinkat),
#ifdef __NR_open
    SC(open),
#endif
#ifdef __NR_fork
    SC(fork),          SC(vfork),
#endif
#ifdef __NR_stat
    SC(stat),          SC(lstat),        SC(access),         SC(poll),
    SC(dup2),          SC(mkdir),        SC(rename),         SC(chmod),
#endif
};

#define NUM(a) (sizeof(a) / sizeof((a)[0]))

const char *ed_sandbox_syscall_name(long nr) {
  for (size_t i = 0; i < NUM(allowed); i++)
    if (allowed[i].nr == nr) return allowed[i].name;
  for (size_t i = 0; i < NUM(refused_names); i++)
    if (refused_names[i].nr == nr) return refused_names[i].name;
  return NULL;
}

/* ---- the refusal's log line (async-signal-safe) -------------------------- */

struct line {
  char buf[256];
  size_t len;
};

static void put_str(struct line *l, const char *s) {
  while (*s && l->len < sizeof(l->buf) - 1) l->buf[l->len++] = *s++;
}

static void put_num(struct line *l, unsigned long v, int width) {
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v && n < (int)sizeof(tmp));
  while (n < width && n < (int)sizeof(tmp)) tmp[n++] = '0';
  while (n && l->len < sizeof(l->buf) - 1) l->buf[l->len++] = tmp[--n];
}

/* put_time writes the same ts= as ed_log (UTC, ms) without gmtime_r, whose
 * lock the interrupted code may hold: days to civil date per H. Hinnant. */
static void put_time(struct line *l) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  long long days = ts.tv_sec / 86400, secs = ts.tv_sec % 86400;
  long long z = days + 719468, era = z / 146097;
  long long doe = z - era * 146097;
  long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  long long mp = (5 * doy + 2) / 153, d = doy - (153 * mp + 2) / 5 + 1;
  long long m = mp < 10 ? mp + 3 : mp - 9, y = yoe + era * 400 + (m <= 2);
  put_str(l, "ts=");
  put_num(l, (unsigned long)y, 4);
  put_str(l, "-");
  put_num(l, (unsigned long)m, 2);
  put_str(l, "-");
  put_num(l, (unsigned long)d, 2);
  put_str(l, "T");
  put_num(l, (unsigned long)(secs / 3600), 2);
  put_str(l, ":");
  put_num(l, (unsigned long)(secs / 60 % 60), 2);
  put_str(l, ":");
  put_num(l, (unsigned long)(secs % 60), 2);
  put_str(l, ".");
  put_num(l, (unsigned long)(ts.tv_nsec / 1000000), 3);
  put_str(l, "Z");
}

/* How many times each call was logged: a refusal in a retry loop must not
 * flood the log; the first few say everything. */
#define LOG_SLOTS 512
#define LOG_PER_CALL 3
static _Atomic unsigned char logged[LOG_SLOTS];

static void report(long nr) {
  size_t slot = nr >= 0 && nr < LOG_SLOTS ? (size_t)nr : LOG_SLOTS - 1;
  if (atomic_fetch_add(&logged[slot], 1) >= LOG_PER_CALL) {
    atomic_store(&logged[slot], LOG_PER_CALL); /* no wrap-around */
    return;
  }
  struct line l = {.len = 0};
  const char *name = ed_sandbox_syscall_name(nr);
  put_time(&l);
  put_str(&l, " level=error msg=\"system call refused\" syscall=");
  put_num(&l, (unsigned long)nr, 1);
  put_str(&l, " name=");
  put_str(&l, name ? name : "unknown");
  put_str(&l,
          " errno=EPERM hint=\"outside the sandbox's allow-list; "
          "--no-sandbox turns it off\"\n");
  (void)!write(2, l.buf, l.len);
}

static void on_sigsys(int sig, siginfo_t *si, void *uctx) {
  (void)sig;
  int saved = errno;
  report(si->si_syscall);
  ucontext_t *uc = uctx;
#if defined(__x86_64__)
  uc->uc_mcontext.gregs[REG_RAX] = -EPERM;
#elif defined(__aarch64__)
  uc->uc_mcontext.regs[0] = (unsigned long long)(long long)-EPERM;
#else
  (void)uc;
#endif
  errno = saved;
}

/* ---- the filter ---------------------------------------------------------- */

#define MAX_INSNS 512

struct prog {
  struct sock_filter ins[MAX_INSNS];
  unsigned short n;
};

static void put(struct prog *p, uint16_t code, uint32_t k, uint8_t jt,
                uint8_t jf) {
  if (p->n < MAX_INSNS) p->ins[p->n++] = (struct sock_filter){code, jt, jf, k};
}

#define LD_ABS (BPF_LD | BPF_W | BPF_ABS)
#define JEQ (BPF_JMP | BPF_JEQ | BPF_K)
#define RET (BPF_RET | BPF_K)

/* allow_if_arg: for system call |nr|, allow when argument |arg|'s low
 * word equals one of |vals|, else trap. */
static void allow_if_arg(struct prog *p, long nr, int arg, const uint32_t *vals,
                         uint8_t num) {
  put(p, JEQ, (uint32_t)nr, 0, (uint8_t)(2 + 2 * num));
  put(p, LD_ABS, (uint32_t)ARG_LO(arg), 0, 0);
  for (uint8_t i = 0; i < num; i++) {
    put(p, JEQ, vals[i], 0, 1);
    put(p, RET, SECCOMP_RET_ALLOW, 0, 0);
  }
  put(p, RET, SECCOMP_RET_TRAP, 0, 0);
}

static void build(struct prog *p) {
  p->n = 0;
  put(p, LD_ABS, offsetof(struct seccomp_data, arch), 0, 0);
  put(p, JEQ, AUDIT_ARCH_SELF, 1, 0);
  put(p, RET, SECCOMP_RET_KILL_PROCESS, 0, 0);
  put(p, LD_ABS, offsetof(struct seccomp_data, nr), 0, 0);
#ifdef X32_SYSCALL_BIT
  put(p, BPF_JMP | BPF_JGE | BPF_K, X32_SYSCALL_BIT, 0, 1);
  put(p, RET, SECCOMP_RET_KILL_PROCESS, 0, 0);
#endif
  put(p, JEQ, __NR_clone3, 0, 1);
  put(p, RET, SECCOMP_RET_ERRNO | ENOSYS, 0, 0);
  /* clone: threads only (CLONE_THREAD), never a new process. */
  put(p, JEQ, __NR_clone, 0, 4);
  put(p, LD_ABS, (uint32_t)ARG_LO(0), 0, 0);
  put(p, BPF_JMP | BPF_JSET | BPF_K, CLONE_THREAD, 0, 1);
  put(p, RET, SECCOMP_RET_ALLOW, 0, 0);
  put(p, RET, SECCOMP_RET_TRAP, 0, 0);
  /* tgkill: abort() and pthread_kill, to this process only. */
  const uint32_t self = (uint32_t)getpid();
  allow_if_arg(p, __NR_tgkill, 0, &self, 1);
  /* ioctl: libuv's non-blocking and close-on-exec switches only. */
  const uint32_t ioctls[] = {FIONBIO, FIOCLEX, FIONCLEX};
  allow_if_arg(p, __NR_ioctl, 1, ioctls, 3);
  /* allow_if_arg left an argument in the accumulator: reload nr. */
  put(p, LD_ABS, offsetof(struct seccomp_data, nr), 0, 0);
  for (size_t i = 0; i < NUM(allowed); i++) {
    put(p, JEQ, (uint32_t)allowed[i].nr, 0, 1);
    put(p, RET, SECCOMP_RET_ALLOW, 0, 0);
  }
  put(p, RET, SECCOMP_RET_TRAP, 0, 0);
}

int ed_sandbox_seccomp(size_t *out_num, char *err, size_t err_len) {
  *out_num = 0;
#ifndef AUDIT_ARCH_SELF
  snprintf(err, err_len, "seccomp: no filter for this architecture");
  return ED_E_SYS;
#else
  static struct prog p; /* 4 KiB: not on the stack */
  build(&p);
  if (p.n >= MAX_INSNS) {
    snprintf(err, err_len, "seccomp: filter too long");
    return ED_E_SYS;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_sigaction = on_sigsys;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGSYS, &sa, NULL) != 0) {
    snprintf(err, err_len, "seccomp: cannot install the SIGSYS handler: %s",
             strerror(errno));
    return ED_E_SYS;
  }
  struct sock_fprog fp = {.len = p.n, .filter = p.ins};
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC,
              &fp) != 0) {
    snprintf(err, err_len,
             "seccomp: cannot install the filter: %s (an outer filter, "
             "e.g. systemd's SystemCallFilter=, must allow seccomp; or pass "
             "--no-sandbox)",
             strerror(errno));
    return ED_E_SYS;
  }
  *out_num = NUM(allowed) + 3; /* + clone, tgkill, ioctl with checks */
  return 0;
#endif
}

/* internal/sandbox — the Landlock ruleset (see sandbox.h).
 *
 * Handled (denied unless a rule allows): every filesystem right the
 * kernel's ABI knows (execute, read, write, create and remove of every
 * kind, reparent, truncate, device ioctls); with ABI 4 TCP bind and
 * connect (no rule: echod binds everything before the sandbox and never
 * connects); with ABI 6 signals to processes outside the sandbox. Not
 * handled: abstract Unix sockets (a $NOTIFY_SOCKET may be one).
 *
 * Rules:
 *   read (files and listing) beneath the directory of each credential
 *     file, and beneath the directory its symlinks lead to. The directory
 *     as configured matters for Kubernetes: tls.crt -> ..data/tls.crt and
 *     ..data -> ..2024_01_01_00_00_00.1 all sit in the mount directory,
 *     and the kubelet's swap creates the next timestamped directory there,
 *     so a rule on the mount directory covers every future version.
 *   read /proc/stat and beneath /proc/PID (this process): the metrics'
 *     process_* values (stat, fd count).
 *   read /proc/sys/vm/overcommit_memory: glibc's malloc reads it the
 *     first time it trims a thread's heap (strict overcommit changes how
 *     memory is given back).
 *   read /dev/null: the loops' spare descriptor for running out of them.
 *   read, write, create and remove files and sockets beneath the state
 *     directory and the admin socket's directory.
 * Nothing else: no other file can be opened, no program executed. */
#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal/sandbox/sandbox.h"

/* Rights newer than Debian 12's <linux/landlock.h> (6.1). The values are
 * kernel ABI and never change; the kernel is asked which it knows. */
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14) /* ABI 3 */
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15) /* ABI 5 */
#endif
#ifndef LANDLOCK_ACCESS_NET_BIND_TCP
#define LANDLOCK_ACCESS_NET_BIND_TCP (1ULL << 0) /* ABI 4 */
#define LANDLOCK_ACCESS_NET_CONNECT_TCP (1ULL << 1)
#endif
#ifndef LANDLOCK_SCOPE_SIGNAL
#define LANDLOCK_SCOPE_SIGNAL (1ULL << 1) /* ABI 6 */
#endif

/* struct landlock_ruleset_attr as of ABI 6. The 6.1 header's version
 * stops at handled_access_fs; the kernel reads the |size| bytes it is
 * given, so an older kernel is given the prefix it knows. */
struct ruleset_attr {
  __u64 handled_access_fs;
  __u64 handled_access_net; /* ABI 4 */
  __u64 scoped;             /* ABI 6 */
};
_Static_assert(offsetof(struct ruleset_attr, handled_access_fs) == 0 &&
                   sizeof(struct landlock_ruleset_attr) == 8,
               "the header's ruleset_attr is the prefix of ours");

#define FS_ABI1 ((LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1)
#define R_FILE LANDLOCK_ACCESS_FS_READ_FILE
#define R_DIR (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
#define RW_DIR                                                              \
  (R_DIR | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_FILE | \
   LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK |             \
   LANDLOCK_ACCESS_FS_TRUNCATE)

static __u64 fs_rights(int abi) {
  __u64 r = FS_ABI1;
  if (abi >= 2) r |= LANDLOCK_ACCESS_FS_REFER;
  if (abi >= 3) r |= LANDLOCK_ACCESS_FS_TRUNCATE;
  if (abi >= 5) r |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
  return r;
}

struct ruleset {
  int fd;
  __u64 handled;
  int rules;
};

/* add_path allows |access| beneath |path| (a directory) or on it (a
 * file). A path that does not exist is skipped: there is nothing there to
 * allow. Returns 0 or -1 with errno. */
static int add_path(struct ruleset *rs, const char *path, __u64 access,
                    int keep_open) {
  int fd = open(path, O_PATH | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? 0 : -1;
  struct landlock_path_beneath_attr pb = {
      .allowed_access = access & rs->handled,
      .parent_fd = fd,
  };
  int rc = (int)syscall(SYS_landlock_add_rule, rs->fd,
                        LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
  int e = errno;
  /* |keep_open|: procfs may evict an unused /proc/PID dentry and make a
   * new inode for it, which the rule (tied to the inode) would not
   * match. An open descriptor keeps the dentry, so it stays open. */
  if (!keep_open || rc != 0) close(fd);
  errno = e;
  if (rc == 0) rs->rules++;
  return rc;
}

/* add_dir_of allows |access| beneath the directory holding |file|. */
static int add_dir_of(struct ruleset *rs, const char *file, __u64 access) {
  char *dir = ed_strdup(file);
  char *slash = strrchr(dir, '/');
  if (!slash) {
    snprintf(dir, strlen(dir) + 1, ".");
  } else if (slash == dir) {
    slash[1] = '\0';
  } else {
    *slash = '\0';
  }
  int rc = add_path(rs, dir, access, 0);
  free(dir);
  return rc;
}

static int add_rules(struct ruleset *rs, const struct ed_sandbox_options *o,
                     const char **out_what) {
  for (size_t i = 0; i < o->num_read_files; i++) {
    const char *f = o->read_files[i];
    if (!f) continue;
    *out_what = f;
    if (add_dir_of(rs, f, R_DIR) != 0) return -1;
    char *real = realpath(f, NULL);
    int rc = real ? add_dir_of(rs, real, R_DIR) : 0;
    free(real);
    if (rc != 0) return -1;
  }
  for (size_t i = 0; i < o->num_write_dirs; i++) {
    if (!o->write_dirs[i]) continue;
    *out_what = o->write_dirs[i];
    if (add_path(rs, o->write_dirs[i], RW_DIR, 0) != 0) return -1;
  }
  *out_what = "/proc/self";
  if (add_path(rs, "/proc/self", R_DIR, 1) != 0) return -1;
  *out_what = "/proc/stat";
  if (add_path(rs, "/proc/stat", R_FILE, 0) != 0) return -1;
  *out_what = "/proc/sys/vm/overcommit_memory";
  if (add_path(rs, *out_what, R_FILE, 0) != 0) return -1;
  *out_what = "/dev/null";
  return add_path(rs, "/dev/null", R_FILE, 0);
}

static size_t attr_size(int abi) {
  if (abi >= 6) return sizeof(struct ruleset_attr);
  if (abi >= 4) return offsetof(struct ruleset_attr, scoped);
  return offsetof(struct ruleset_attr, handled_access_net);
}

int ed_sandbox_landlock(const struct ed_sandbox_options *o, int *out_abi,
                        int *out_rules, char *err, size_t err_len) {
  *out_rules = 0;
  long abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
                     LANDLOCK_CREATE_RULESET_VERSION);
  *out_abi = abi > 0 ? (int)abi : 0;
  if (abi <= 0) { /* ENOSYS, EOPNOTSUPP: not in this kernel; EPERM: an
                   * outer seccomp filter (a container, systemd) */
    snprintf(err, err_len, "%s", strerror(errno));
    return 0;
  }
  struct ruleset_attr attr = {
      .handled_access_fs = fs_rights((int)abi),
      .handled_access_net = abi >= 4 ? LANDLOCK_ACCESS_NET_BIND_TCP |
                                           LANDLOCK_ACCESS_NET_CONNECT_TCP
                                     : 0,
      .scoped = abi >= 6 ? LANDLOCK_SCOPE_SIGNAL : 0,
  };
  struct ruleset rs = {.handled = attr.handled_access_fs};
  rs.fd =
      (int)syscall(SYS_landlock_create_ruleset, &attr, attr_size((int)abi), 0);
  if (rs.fd < 0) {
    snprintf(err, err_len, "landlock: cannot create a ruleset: %s",
             strerror(errno));
    return ED_E_SYS;
  }
  const char *what = "";
  int rc = add_rules(&rs, o, &what);
  if (rc != 0) {
    snprintf(err, err_len, "landlock: cannot add a rule for %s: %s", what,
             strerror(errno));
  } else if (syscall(SYS_landlock_restrict_self, rs.fd, 0) != 0) {
    snprintf(err, err_len, "landlock: cannot restrict the process: %s",
             strerror(errno));
    rc = -1;
  }
  close(rs.fd);
  *out_rules = rs.rules;
  return rc ? ED_E_SYS : 0;
}

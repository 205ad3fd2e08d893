/* internal/sandbox — least privilege for the server process, applied once
 * everything has been opened and bound and before any thread starts:
 *
 *   1. PR_SET_NO_NEW_PRIVS (always): nothing this process executes can
 *      gain privileges (setuid binaries, file capabilities).
 *   2. --user/--group (when given): no supplementary groups, then the
 *      group, then the user (real, effective and saved ids), checked with
 *      getresuid/getresgid and by trying to take root back.
 *   3. Every capability dropped (also when echod runs as root without
 *      --user: uid 0 keeps owner access to root's files, nothing more).
 *   4. The files the server re-reads on reload must be readable now, as
 *      the user it runs as: checked here, so a mistake is an error at
 *      startup and not a failed reload later.
 *   5. Landlock (where the kernel offers it), unless --no-sandbox: reads
 *      only under the credential files' directories, writes only in the
 *      state and admin socket directories, no TCP bind or connect, no
 *      signals to processes outside the sandbox (landlock.c says exactly).
 *   6. A seccomp-BPF allow-list of the system calls echod makes after
 *      startup, unless --no-sandbox (seccomp.c). Any other call fails with
 *      EPERM and logs one error line naming it (SIGSYS handler), so a
 *      missing entry shows in the log instead of hanging or killing.
 *
 * Landlock covers the calling thread and the threads it creates later, so
 * ed_sandbox_apply refuses steps 5 and 6 once a second thread exists. In an
 * ASan or TSan build steps 5 and 6 are always off (their runtimes need
 * what the filter refuses); the log line says why. */
#ifndef ED_SANDBOX_H
#define ED_SANDBOX_H

#include <stddef.h>
#include <sys/types.h>

#include "internal/base/base.h"

/* Who to run as after startup. */
struct ed_sandbox_user {
  int set; /* 0: keep the current user */
  uid_t uid;
  gid_t gid;
  char name[64];  /* as given (or the uid in decimal) */
  char group[64]; /* the group's name (or gid in decimal) */
};

/* ed_sandbox_lookup_user resolves |user| (a name or a numeric uid; NULL:
 * none) and |group| (a name or numeric gid; NULL: the user's primary
 * group) into |out|. Call it early: a mistake here is a configuration
 * error. Returns 0, or ED_E_USAGE with one line in |err| for an unknown
 * user or group, a group without a user, or a user this process cannot
 * switch to (it is not root and not already that user and group). */
int ed_sandbox_lookup_user(struct ed_sandbox_user *out, const char *user,
                           const char *group, char *err, size_t err_len);

struct ed_sandbox_options {
  const struct ed_sandbox_user *user; /* NULL or !set: stay who we are */
  /* Files the server reads again after startup (certificate, key, CA,
   * CRL); NULL entries are skipped. Each must be readable after the drop.
   * Their directories (and those of their symlink targets) become
   * readable under Landlock, so a Kubernetes ..data swap inside them
   * keeps working. */
  const char *const *read_files;
  size_t num_read_files;
  /* Directories the server may create and remove files in (the state
   * directory, the admin socket's directory); NULL entries and missing
   * directories are skipped. */
  const char *const *write_dirs;
  size_t num_write_dirs;
  int no_sandbox; /* --no-sandbox: steps 5 and 6 off */
  /* Called once between steps 4 and 5 (also with no_sandbox), while the
   * process still has one thread: what must run with the privileges
   * dropped but outside Landlock and seccomp - the upgrade spawner is
   * forked here (internal/upgrade). Nonzero fails ed_sandbox_apply with
   * that code and |err|. NULL: nothing. */
  int (*before_confine)(void *arg, char *err, size_t err_len);
  void *before_confine_arg;
};

/* ed_sandbox_apply runs steps 1-6 above, logging one line for the
 * privileges and one for the sandbox ("sandbox on" with the Landlock ABI
 * and the number of allowed system calls, or why a layer is off). Must be
 * called while the process has a single thread. Returns 0; ED_E_USAGE
 * with one line in |err| when a file in |read_files| is not readable
 * after the drop (a configuration mistake); ED_E_SYS with one line when
 * the kernel refuses a step that must not be skipped (dropping the user,
 * installing the filter), or when other threads already run. A kernel
 * without Landlock is logged and not an error. */
int ed_sandbox_apply(const struct ed_sandbox_options *o, char *err,
                     size_t err_len);

/* ---- the layers, for tests ------------------------------------------------
 */

/* ed_sandbox_landlock applies the Landlock ruleset of |o| to the calling
 * thread (and threads it creates later). Sets |*out_abi| to the kernel's
 * Landlock ABI version (0: unavailable, nothing applied, and |err| says
 * why) and |*out_rules| to the number of rules added. Needs
 * no_new_privs. Returns 0 or ED_E_SYS with one line in |err|. */
int ed_sandbox_landlock(const struct ed_sandbox_options *o, int *out_abi,
                        int *out_rules, char *err, size_t err_len);

/* ed_sandbox_seccomp installs the SIGSYS handler and the allow-list filter
 * on every thread of the process (SECCOMP_FILTER_FLAG_TSYNC). Sets
 * |*out_num| to the number of system calls it allows. Needs
 * no_new_privs. Returns 0 or ED_E_SYS with one line in |err|. */
int ed_sandbox_seccomp(size_t *out_num, char *err, size_t err_len);

/* ed_sandbox_syscall_name returns the name of system call |nr| when the
 * filter knows it ("socket"), else NULL. */
const char *ed_sandbox_syscall_name(long nr);

#endif /* ED_SANDBOX_H */

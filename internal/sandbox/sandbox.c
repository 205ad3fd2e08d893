/* internal/sandbox — see sandbox.h. The user, the privileges and the
 * order of the layers; Landlock in landlock.c, seccomp in seccomp.c. */
#include "internal/sandbox/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ASan's and TSan's runtimes make calls the sandbox refuses (reading
 * /proc/self/maps, sched_getaffinity and sigaltstack for a new thread,
 * LeakSanitizer's tracer process): in such a build the sandbox is off
 * whatever the flags say, and the log says so. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZER_BUILD 1
#endif
#endif
#if !defined(SANITIZER_BUILD) && \
    (defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__))
#define SANITIZER_BUILD 1
#endif
#ifndef SANITIZER_BUILD
#define SANITIZER_BUILD 0
#endif

/* ---- --user / --group ---------------------------------------------------- */

static int parse_id(unsigned long *out, const char *s) {
  char *end = NULL;
  if (!*s || *s == '-' || *s == '+') return -1;
  errno = 0;
  *out = strtoul(s, &end, 10);
  return errno || *end || *out >= (unsigned long)(uid_t)-1 ? -1 : 0;
}

static int lookup_group(struct ed_sandbox_user *out, const char *group,
                        char *err, size_t err_len) {
  struct group *gr = getgrnam(group);
  unsigned long id;
  if (gr) {
    out->gid = gr->gr_gid;
  } else if (parse_id(&id, group) == 0) {
    out->gid = (gid_t)id;
  } else {
    snprintf(err, err_len, "--group %s: no such group", group);
    return ED_E_USAGE;
  }
  snprintf(out->group, sizeof(out->group), "%s", group);
  return 0;
}

int ed_sandbox_lookup_user(struct ed_sandbox_user *out, const char *user,
                           const char *group, char *err, size_t err_len) {
  memset(out, 0, sizeof(*out));
  if (!user) {
    if (!group) return 0;
    snprintf(err, err_len, "--group %s needs --user", group);
    return ED_E_USAGE;
  }
  struct passwd *pw = getpwnam(user);
  unsigned long id;
  if (!pw && parse_id(&id, user) == 0) pw = getpwuid((uid_t)id);
  if (!pw) {
    snprintf(err, err_len, "--user %s: no such user", user);
    return ED_E_USAGE;
  }
  out->uid = pw->pw_uid;
  out->gid = pw->pw_gid;
  snprintf(out->name, sizeof(out->name), "%s", user);
  snprintf(out->group, sizeof(out->group), "%u", (unsigned)pw->pw_gid);
  struct group *gr = group ? NULL : getgrgid(pw->pw_gid);
  if (gr) snprintf(out->group, sizeof(out->group), "%s", gr->gr_name);
  if (group && lookup_group(out, group, err, err_len) != 0) return ED_E_USAGE;
  if (geteuid() != 0 && (out->uid != geteuid() || out->gid != getegid())) {
    snprintf(err, err_len,
             "--user %s: only root can switch users (running as uid %u)", user,
             (unsigned)geteuid());
    return ED_E_USAGE;
  }
  out->set = 1;
  return 0;
}

/* ---- privileges ---------------------------------------------------------- */

/* switch_user drops to |u| and checks it sticks: the real, effective and
 * saved ids are all |u|'s, no supplementary group is left (when we were
 * root and could drop them), and root cannot be taken back. */
static int switch_user(const struct ed_sandbox_user *u, char *err,
                       size_t err_len) {
  uid_t r, e, s;
  gid_t rg, eg, sg;
  int root = geteuid() == 0; /* else lookup made sure we are |u| already */
  if (root && setgroups(0, NULL) != 0) {
    snprintf(err, err_len, "cannot drop supplementary groups: %s",
             strerror(errno));
    return ED_E_SYS;
  }
  if (setresgid(u->gid, u->gid, u->gid) != 0 ||
      setresuid(u->uid, u->uid, u->uid) != 0) {
    snprintf(err, err_len, "cannot switch to user %s: %s", u->name,
             strerror(errno));
    return ED_E_SYS;
  }
  if (getresuid(&r, &e, &s) != 0 || getresgid(&rg, &eg, &sg) != 0 ||
      r != u->uid || e != u->uid || s != u->uid || rg != u->gid ||
      eg != u->gid || sg != u->gid || (root && getgroups(0, NULL) != 0)) {
    snprintf(err, err_len, "switching to user %s did not stick", u->name);
    return ED_E_SYS;
  }
  if (u->uid != 0 && (setuid(0) == 0 || setgid(0) == 0)) {
    snprintf(err, err_len, "user %s could take root back", u->name);
    return ED_E_SYS;
  }
  return 0;
}

static int has_caps(void) {
  struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
  struct __user_cap_data_struct d[2];
  memset(d, 0, sizeof(d));
  if (syscall(SYS_capget, &h, d) != 0) return -1;
  return (d[0].effective | d[0].permitted | d[0].inheritable | d[1].effective |
          d[1].permitted | d[1].inheritable) != 0;
}

/* drop_caps empties the effective, permitted and inheritable sets (the
 * ambient set empties with them). A process that has none already (a
 * systemd unit with CapabilityBoundingSet=, whose SystemCallFilter= may
 * refuse capset) is left alone. */
static int drop_caps(char *err, size_t err_len) {
  struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
  struct __user_cap_data_struct d[2];
  memset(d, 0, sizeof(d));
  int had = has_caps();
  if (had == 0) return 0;
  if (had < 0 || syscall(SYS_capset, &h, d) != 0 || has_caps() != 0) {
    snprintf(err, err_len, "cannot drop capabilities: %s", strerror(errno));
    return ED_E_SYS;
  }
  return 0;
}

/* check_readable opens each file the server reads again later, as the
 * user it now is. */
static int check_readable(const struct ed_sandbox_options *o, char *err,
                          size_t err_len) {
  for (size_t i = 0; i < o->num_read_files; i++) {
    const char *f = o->read_files[i];
    if (!f) continue;
    int fd = open(f, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      close(fd);
      continue;
    }
    snprintf(err, err_len,
             "%s is not readable by uid %u (%s): reloads read it again; "
             "make it readable by the user echod runs as",
             f, (unsigned)geteuid(), strerror(errno));
    return ED_E_USAGE;
  }
  return 0;
}

static int count_threads(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[128];
  int n = -1;
  while (f && fgets(line, sizeof(line), f)) {
    if (sscanf(line, "Threads: %d", &n) == 1) break;
  }
  if (f) fclose(f);
  return n;
}

/* drop_privileges writes, once at start (user= and group= only with
 * --user):
 *   level=info msg="privileges dropped" user=echod uid=998 group=echod
 *       gid=998 groups=0 capabilities=0 no_new_privs=1
 *   level=info msg="privileges dropped" uid=1000 gid=1000 capabilities=0
 *       no_new_privs=1 */
static int drop_privileges(const struct ed_sandbox_options *o, char *err,
                           size_t err_len) {
  const struct ed_sandbox_user *u = o->user;
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    snprintf(err, err_len, "cannot set no_new_privs: %s", strerror(errno));
    return ED_E_SYS;
  }
  int rc = u && u->set ? switch_user(u, err, err_len) : 0;
  if (!rc) rc = drop_caps(err, err_len);
  if (!rc) rc = check_readable(o, err, err_len);
  if (rc) return rc;
  if (u && u->set) {
    char qu[96], qg[96];
    ED_INFO("privileges dropped",
            "user=%s uid=%u group=%s gid=%u groups=0 "
            "capabilities=0 no_new_privs=1",
            ed_logq(qu, sizeof(qu), u->name), (unsigned)u->uid,
            ed_logq(qg, sizeof(qg), u->group), (unsigned)u->gid);
  } else {
    ED_INFO("privileges dropped",
            "uid=%u gid=%u capabilities=0 "
            "no_new_privs=1",
            (unsigned)getuid(), (unsigned)getgid());
  }
  return 0;
}

/* ed_sandbox_apply writes, once at start, one of:
 *   level=info msg="sandbox off" reason=--no-sandbox landlock=off seccomp=off
 *   level=info msg="sandbox off" reason="sanitizer build" landlock=off
 *       seccomp=off
 *   level=info msg="sandbox on" landlock_abi=3 landlock_rules=7
 *       seccomp_syscalls=112
 * "sandbox on" preceded, on a kernel without Landlock, by:
 *   level=warn msg="landlock unavailable" reason="Function not implemented"
 *       filesystem=unrestricted */
int ed_sandbox_apply(const struct ed_sandbox_options *o, char *err,
                     size_t err_len) {
  int rc = drop_privileges(o, err, err_len);
  if (!rc && o->before_confine)
    rc = o->before_confine(o->before_confine_arg, err, err_len);
  if (rc) return rc;
  if (o->no_sandbox || SANITIZER_BUILD) {
    ED_INFO("sandbox off", "reason=%s landlock=off seccomp=off",
            o->no_sandbox ? "--no-sandbox" : "\"sanitizer build\"");
    return 0;
  }
  int abi = 0, rules = 0, threads = count_threads();
  size_t calls = 0;
  if (threads != 1) {
    snprintf(err, err_len,
             "sandbox: %d threads already run; it must be applied first",
             threads);
    return ED_E_SYS;
  }
  if ((rc = ed_sandbox_landlock(o, &abi, &rules, err, err_len)) != 0 ||
      (rc = ed_sandbox_seccomp(&calls, err, err_len)) != 0) {
    return rc;
  }
  if (abi == 0) {
    char q[160];
    ED_WARN("landlock unavailable", "reason=%s filesystem=unrestricted",
            ed_logq(q, sizeof(q), err));
  }
  ED_INFO("sandbox on",
          "landlock_abi=%d landlock_rules=%d seccomp_syscalls=%zu", abi, rules,
          calls);
  return 0;
}

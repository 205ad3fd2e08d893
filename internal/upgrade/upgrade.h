/* internal/upgrade — replacing a running echod by a new process without
 * refusing a connection (docs/architecture.md, "Upgrades").
 *
 * The running echod is sandboxed (no execve, no socket/bind after
 * startup, no signals outside itself), so it cannot start its successor.
 * Three parts do it:
 *
 * - The spawner (ed_spawner_*): a small process the server forks at
 *   startup, after dropping privileges and before Landlock and seccomp
 *   (it runs as the server's user, without capabilities, with
 *   no_new_privs, holding no descriptor but its control socket). Asked by
 *   the server, it starts the same program (the path /proc/self/exe named
 *   at startup, so a package upgrade's new file) with the same arguments,
 *   reports the child's pid, then "ready" or why it failed (its error
 *   line, its exit status), and kills it when asked (a timeout).
 * - The hand-over: the new process connects to the old one's admin
 *   socket and asks for its sockets with a one-time token
 *   ({"cmd":"handover","token":...}); the reply carries the listening
 *   sockets (echo listeners, admin socket, metrics port) as SCM_RIGHTS
 *   (ed_upgrade_send / ed_upgrade_recv). Both processes then hold the
 *   same sockets: the kernel's accept queues are shared, nothing closes.
 * - The new process's side (ed_upgrade_child_*): what the spawner passed
 *   in the environment (token, admin socket path, status descriptor), the
 *   fetch, and the "ready" or "error ..." line on the status descriptor.
 *
 * Environment the spawner sets for the new process (and the new process
 * removes at once): ECHOD_UPGRADE_TOKEN, ECHOD_UPGRADE_SOCKET,
 * ECHOD_UPGRADE_FD. None of them is a configuration option. */
#ifndef ED_UPGRADE_H
#define ED_UPGRADE_H

#include <stddef.h>
#include <sys/types.h>

#include "internal/base/base.h"

#define ED_UPGRADE_TOKEN_LEN 64 /* hex digits */
#define ED_UPGRADE_MAX_FDS 24   /* 16 listeners, admin, metrics, spare */
#define ED_UPGRADE_MSG_MAX 1024

/* ---- the spawner (old process) ------------------------------------------ */

struct ed_spawner;

/* ed_spawner_start forks the spawner. Call while the process has a single
 * thread, after privileges are dropped and before the sandbox. |argv|
 * (NULL-terminated) is copied: the new process's arguments. The program
 * is |exe|, or with NULL what /proc/self/exe names now (echod: the path,
 * so an upgraded package's new file runs). Returns 0 and sets |*out|, or
 * ED_E_SYS with one line in |err|. */
int ed_spawner_start(struct ed_spawner **out, const char *exe,
                     char *const *argv, char *err, size_t err_len);

/* ed_spawner_fd returns the control socket (non-blocking): readable when
 * ed_spawner_read has an event. */
int ed_spawner_fd(const struct ed_spawner *s);

/* ed_spawner_pid returns the spawner's process id. */
pid_t ed_spawner_pid(const struct ed_spawner *s);

/* ed_spawner_spawn asks for a new process with |token| and the admin
 * socket |admin_path|. Returns 0, or ED_E_IO when the spawner is gone. */
int ed_spawner_spawn(struct ed_spawner *s, const char *token,
                     const char *admin_path);

/* ed_spawner_kill asks the spawner to SIGKILL the process it started last
 * (when it never reported ready). Returns 0 or ED_E_IO. */
int ed_spawner_kill(struct ed_spawner *s);

enum ed_spawner_event_type {
  ED_SPAWNER_STARTED = 1, /* pid set */
  ED_SPAWNER_READY,       /* the new process serves */
  ED_SPAWNER_FAILED,      /* message set: why */
};

struct ed_spawner_event {
  enum ed_spawner_event_type type;
  pid_t pid;
  char message[ED_UPGRADE_MSG_MAX];
};

/* ed_spawner_read reads one event. Returns 1 with |*out| set, 0 when none
 * is waiting, ED_E_IO when the spawner is gone. */
int ed_spawner_read(struct ed_spawner *s, struct ed_spawner_event *out);

/* ed_spawner_finish, after ED_SPAWNER_READY from a process that took the
 * sockets over: tells the spawner to exit, waits until it has (then the
 * new process is no longer its child: the kernel reparented it) and
 * frees |s|. Blocks for the spawner's exit only, at most 5 s. Returns 0,
 * or ED_E_TIMEOUT when the spawner did not exit in time (it then dies
 * with this process). NULL is fine. */
int ed_spawner_finish(struct ed_spawner *s);

/* ed_spawner_free closes the control socket, waits (at most 5 s) until
 * the spawner has exited and reaps it, and frees |s|. A process the
 * spawner started is killed first if it never reported ready; one that
 * did lives on. Call it before the process exits: under systemd
 * (KillMode=mixed) a spawner that outlives the main process, even by an
 * instant, is SIGKILLed as a leftover and can make the stop time out.
 * Returns 0, or ED_E_TIMEOUT as ed_spawner_finish. NULL is fine. */
int ed_spawner_free(struct ed_spawner *s);

/* ---- passing sockets ------------------------------------------------------
 */

/* ed_upgrade_send writes |len| bytes of |data| and the descriptors |fds|
 * (|num| of them, SCM_RIGHTS; duplicates of ours travel, ours stay open)
 * on the connected Unix socket |sock| in one sendmsg, without blocking.
 * Returns 0, or ED_E_IO when not all of it could be sent at once. */
int ed_upgrade_send(int sock, const void *data, size_t len, const int *fds,
                    size_t num);

/* ---- the new process ------------------------------------------------------
 */

struct ed_upgrade_child {
  int status_fd; /* -1: not started by a spawner */
  char token[ED_UPGRADE_TOKEN_LEN + 1];
  char socket[108];
};

/* The sockets an old process handed over. Descriptors are ours (close
 * what is not used); -1 when the old process had none of that kind. */
struct ed_upgrade_sockets {
  pid_t old_pid;
  int admin_fd;
  int metrics_fd;
  size_t num_listen;
  int listen_fds[ED_UPGRADE_MAX_FDS];
  char listen_addrs[ED_UPGRADE_MAX_FDS][80];
};

/* ed_upgrade_child_from_env fills |out| from the environment and removes
 * the variables (nothing this process starts inherits them). Returns 1
 * when this process was started by an upgrade, 0 when not, ED_E_USAGE for
 * variables that do not make sense. */
int ed_upgrade_child_from_env(struct ed_upgrade_child *out);

/* ed_upgrade_fetch connects to the old process's admin socket, sends the
 * hand-over request and receives the sockets into |out| (at most 10 s).
 * Returns 0, or ED_E_IO / ED_E_PARSE with one line in |err| (what the old
 * process said when it refused). */
int ed_upgrade_fetch(const struct ed_upgrade_child *c,
                     struct ed_upgrade_sockets *out, char *err, size_t err_len);

/* ed_upgrade_sockets_close closes every descriptor still in |s|. */
void ed_upgrade_sockets_close(struct ed_upgrade_sockets *s);

/* ed_upgrade_child_report writes |line| ("ready", or "error ..." with the
 * process's one error line) to the status descriptor; after "ready" the
 * descriptor is closed. No-op when not started by a spawner. */
void ed_upgrade_child_report(struct ed_upgrade_child *c, const char *line);

/* ed_upgrade_token writes a new random token (ED_UPGRADE_TOKEN_LEN hex
 * digits and a NUL) into |out|. Returns 0 or ED_E_IO. */
int ed_upgrade_token(char *out);

/* ed_upgrade_token_equal compares two tokens in constant time; 1 if equal
 * (and both ED_UPGRADE_TOKEN_LEN long). */
int ed_upgrade_token_equal(const char *a, const char *b);

#endif /* ED_UPGRADE_H */

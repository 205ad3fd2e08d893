/* internal/reload — WHEN to reload credentials (not how, and no
 * bookkeeping: the server records every reload, see ed_server_reload).
 *
 * Triggers: ed_reload_now() (the admin "reload" command), SIGHUP, and
 * changes to the watched files (cert, key, CA, CRL). The watcher listens
 * with uv_fs_event on each file's parent directory and on the directory
 * its symlinks resolve to, so an in-place write, a rename over the file and
 * the Kubernetes secret-volume swap (`..data` symlink renamed to a new
 * timestamped directory) are all seen. An event only arms a short debounce
 * timer; when it fires, each file's identity (device, inode, following
 * symlinks) and SHA-256 of its content are compared with the last ones,
 * and only a real change reloads. Bursts of changes become one reload.
 *
 * The reload itself is a callback (ed_reload_fn): the server binding
 * (server_reload.h) calls ed_server_reload, which records the result (the
 * one record admin `status` and the metrics read); unit tests a fake.
 *
 * Everything runs on the one uv loop given (the control loop). */
#ifndef ED_RELOAD_H
#define ED_RELOAD_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "internal/reload/reload_types.h"

/* ed_reload_fn builds, checks and (unless |check_only|) publishes new
 * credentials. Returns 0, or a negative ED_E_* code with a one-line reason
 * in |err|. */
typedef int (*ed_reload_fn)(void *arg, int check_only,
                            enum ed_reload_trigger trigger, char *err,
                            size_t err_len);

struct ed_reload_options {
  ed_reload_fn fn;
  void *fn_arg;
  const char *const *paths; /* files to watch (copied); NULLs skipped */
  size_t num_paths;
  int watch;            /* 0: no file watching */
  int sighup;           /* 1: reload on SIGHUP */
  uint32_t debounce_ms; /* 0: $ECHOD_RELOAD_DEBOUNCE_MS or 250 */
};

struct ed_reload;

/* ed_reload_new starts the triggers on |loop|. Returns 0 and sets |*out|,
 * or a negative ED_E_* code (nothing started). A directory that cannot be
 * watched is logged and skipped; it does not fail the call. */
int ed_reload_new(struct ed_reload **out, uv_loop_t *loop,
                  const struct ed_reload_options *opts);

/* ed_reload_free stops every trigger. Memory is released from libuv close
 * callbacks, so the loop must run once more. NULL is fine. */
void ed_reload_free(struct ed_reload *r);

/* ed_reload_now reloads at once (synchronously) through the reload
 * function, passing |check_only| and |trigger| on. Returns
 * what the reload function returned; |err| gets the reason on failure. */
int ed_reload_now(struct ed_reload *r, int check_only,
                  enum ed_reload_trigger trigger, char *err, size_t err_len);

/* ed_reload_count returns how many reloads (not checks) ran; for tests. */
uint64_t ed_reload_count(const struct ed_reload *r);

#endif /* ED_RELOAD_H */

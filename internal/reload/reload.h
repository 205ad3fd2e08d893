/* internal/reload — WHEN the credential files changed (not how to reload,
 * and no bookkeeping: every reload, whatever started it, goes through the
 * server's one reload function, ed_server_reload in internal/server).
 *
 * The watcher listens with uv_fs_event on each file's parent directory and
 * on the directory its symlinks resolve to, so an in-place write, a rename
 * over the file, a chmod or chown, and the Kubernetes secret-volume swap
 * (`..data` symlink renamed to a new timestamped directory) are all seen.
 * An event only arms a short debounce timer; when it fires, each file's
 * identity (device, inode, following symlinks), mode, owner and SHA-256
 * of its content are compared with the baseline, and only a real change
 * calls |on_change|. Bursts of changes become one call.
 *
 * The reload function, whatever started it, brackets each reload with
 * ed_reload_begin (what is about to be read becomes the baseline) and
 * ed_reload_end (watch where the files are now), so a reload by SIGHUP or
 * the admin socket leaves the watcher as a reload it started itself.
 *
 * Everything runs on the one uv loop given (the control loop). */
#ifndef ED_RELOAD_H
#define ED_RELOAD_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "internal/reload/reload_types.h"

struct ed_reload_options {
  /* Called when a watched file really changed (after the debounce). It
   * is expected to reload, through ed_reload_begin/end. */
  void (*on_change)(void *arg);
  void *arg;
  const char *const *paths; /* files to watch (copied); NULLs skipped */
  size_t num_paths;
  uint32_t debounce_ms; /* quiet time that ends a burst (0: next turn) */
};

struct ed_reload;

/* ed_reload_new starts watching on |loop|. Returns 0 and sets |*out|, or
 * a negative ED_E_* code (nothing started). A directory that cannot be
 * watched is logged and skipped; it does not fail the call. */
int ed_reload_new(struct ed_reload **out, uv_loop_t *loop,
                  const struct ed_reload_options *opts);

/* ed_reload_free stops watching. Memory is released from libuv close
 * callbacks, so the loop must run once more. NULL is fine. */
void ed_reload_free(struct ed_reload *r);

/* ed_reload_begin: a reload is about to read the files. What they are now
 * becomes the baseline, taken before the reload reads them, so a change
 * that lands while it runs differs from it and calls |on_change| again
 * instead of being lost; a change already waiting for its debounce is
 * absorbed (one reload, not two). NULL is fine. */
void ed_reload_begin(struct ed_reload *r);

/* ed_reload_end: a reload finished (ok or not). Watches follow the files
 * to where their symlinks lead now (a `..data` swap moves them). NULL is
 * fine. */
void ed_reload_end(struct ed_reload *r);

/* ed_reload_watches returns 1 when directory |dir| is watched now (for
 * tests). */
int ed_reload_watches(const struct ed_reload *r, const char *dir);

#endif /* ED_RELOAD_H */

/* internal/reload — the credential file watcher (see reload.h). */
#include "internal/reload/reload.h"

#include <errno.h>
#include <limits.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal/base/base.h"

/* A steady stream of events still reloads this often. */
#define MAX_DEFER_MS 2000
/* Credential files are small; hash at most this much of each. */
#define MAX_HASH_BYTES (4 * 1024 * 1024)
#define MAX_DIRS 16

/* What a watched file looks like now. Mode and owner count: a key made
 * 0600 after a reload refused it as group-readable must reload. */
struct fingerprint {
  int exists;
  dev_t dev;
  ino_t ino;
  mode_t mode;
  uid_t uid;
  gid_t gid;
  uint8_t sha256[SHA256_DIGEST_LENGTH];
};

struct watch {
  uv_fs_event_t ev;
  struct ed_reload *r;
  char *dir;
  int closing;
};

struct ed_reload {
  uv_loop_t *loop;
  void (*on_change)(void *arg);
  void *arg;
  char **paths;
  struct fingerprint *prints;
  size_t num_paths;
  uint32_t debounce_ms;
  uv_timer_t timer;
  uint64_t first_event_ns; /* 0 when no change is waiting */
  struct watch *watches[MAX_DIRS];
  size_t num_watches;
  int open_handles;
  int closing;
};

static void refresh_watches(struct ed_reload *r);

static void release(struct ed_reload *r) {
  if (--r->open_handles > 0) return;
  for (size_t i = 0; i < r->num_paths; i++) free(r->paths[i]);
  free(r->paths);
  free(r->prints);
  free(r);
}

/* ---- fingerprints -------------------------------------------------------- */

static void fingerprint(struct fingerprint *out, const char *path) {
  struct stat st;
  memset(out, 0, sizeof(*out));
  if (stat(path, &st) != 0) return;
  uint8_t *data = NULL;
  size_t len = 0;
  out->exists = 1;
  out->dev = st.st_dev;
  out->ino = st.st_ino;
  out->mode = st.st_mode;
  out->uid = st.st_uid;
  out->gid = st.st_gid;
  if (ed_read_file(&data, &len, path, MAX_HASH_BYTES) == 0)
    SHA256(data, len, out->sha256);
  free(data);
}

/* Takes fresh fingerprints; returns the index of the first changed file,
 * or -1 if none changed. */
static int take_prints(struct ed_reload *r) {
  int changed = -1;
  for (size_t i = 0; i < r->num_paths; i++) {
    struct fingerprint now;
    fingerprint(&now, r->paths[i]);
    const struct fingerprint *was = &r->prints[i];
    if (changed < 0 &&
        (now.exists != was->exists || now.dev != was->dev ||
         now.ino != was->ino || now.mode != was->mode || now.uid != was->uid ||
         now.gid != was->gid ||
         memcmp(now.sha256, was->sha256, sizeof(now.sha256)) != 0))
      changed = (int)i;
    r->prints[i] = now;
  }
  return changed;
}

/* ---- reloading ----------------------------------------------------------- */

void ed_reload_begin(struct ed_reload *r) {
  if (r && !r->closing) (void)take_prints(r);
}

void ed_reload_end(struct ed_reload *r) {
  if (r && !r->closing) refresh_watches(r);
}

/* on_debounce writes, when a watched file really changed (once per
 * settled burst of events; the reload's own lines follow):
 *   level=info msg="reload triggered" trigger=watch path=/etc/echod/key.pem */
static void on_debounce(uv_timer_t *t) {
  struct ed_reload *r = t->data;
  r->first_event_ns = 0;
  int changed = take_prints(r);
  refresh_watches(r); /* a symlink swap moves where the files really are */
  if (changed < 0) return;
  char q[PATH_MAX + 8];
  ED_INFO("reload triggered", "trigger=watch path=%s",
          ed_logq(q, sizeof(q), r->paths[changed]));
  r->on_change(r->arg);
}

/* on_fs_event writes, per failed event (err= is libuv's message):
 *   level=warn msg="reload watch error" dir=/etc/echod err="i/o error" */
static void on_fs_event(uv_fs_event_t *h, const char *name, int events,
                        int status) {
  struct watch *w = h->data;
  struct ed_reload *r = w->r;
  (void)name;
  (void)events;
  if (w->closing || r->closing) return;
  if (status < 0) {
    char dq[4 * 4096 + 3], eq[256];
    ED_WARN("reload watch error", "dir=%s err=%s",
            ed_logq(dq, sizeof(dq), w->dir),
            ed_logq(eq, sizeof(eq), uv_strerror(status)));
    return;
  }
  uint64_t now = ed_now_ns();
  if (r->first_event_ns == 0) r->first_event_ns = now;
  uint64_t waited_ms = (now - r->first_event_ns) / 1000000;
  uint64_t delay = r->debounce_ms;
  if (waited_ms >= MAX_DEFER_MS)
    delay = 0;
  else if (waited_ms + delay > MAX_DEFER_MS)
    delay = MAX_DEFER_MS - waited_ms;
  uv_timer_start(&r->timer, on_debounce, delay, 0);
}

/* ---- directory watches --------------------------------------------------- */

static void on_watch_closed(uv_handle_t *h) {
  struct watch *w = h->data;
  struct ed_reload *r = w->r;
  free(w->dir);
  free(w);
  release(r);
}

static void close_watch(struct watch *w) {
  w->closing = 1;
  uv_fs_event_stop(&w->ev);
  uv_close((uv_handle_t *)&w->ev, on_watch_closed);
}

/* Adds |dir| to |dirs| unless present or full. */
static void add_dir(char **dirs, size_t *num, const char *path) {
  char *copy = ed_strdup(path);
  char *slash = strrchr(copy, '/');
  if (!slash)
    snprintf(copy, strlen(copy) + 1, ".");
  else if (slash == copy)
    slash[1] = '\0';
  else
    *slash = '\0';
  for (size_t i = 0; i < *num; i++) {
    if (strcmp(dirs[i], copy) == 0) {
      free(copy);
      return;
    }
  }
  if (*num < MAX_DIRS)
    dirs[(*num)++] = copy;
  else
    free(copy);
}

/* start_watch writes, at each refresh (start, each reload, each settled
 * burst) while |dir| cannot be watched (err= is libuv's message):
 *   level=warn msg="reload cannot watch directory" dir=/etc/echod/live
 *       err="no such file or directory" */
static struct watch *start_watch(struct ed_reload *r, const char *dir) {
  struct watch *w = ed_calloc(1, sizeof(*w));
  w->r = r;
  w->dir = ed_strdup(dir);
  uv_fs_event_init(r->loop, &w->ev);
  w->ev.data = w;
  r->open_handles++;
  int rc = uv_fs_event_start(&w->ev, on_fs_event, dir, 0);
  if (rc < 0) {
    char dq[4 * 4096 + 3], eq[256];
    ED_WARN("reload cannot watch directory", "dir=%s err=%s",
            ed_logq(dq, sizeof(dq), dir),
            ed_logq(eq, sizeof(eq), uv_strerror(rc)));
    close_watch(w);
    return NULL;
  }
  ED_DEBUG("reload watching", "dir=%s", dir);
  return w;
}

/* Watches each file's directory and the directory its symlinks lead to;
 * drops watches no longer needed. */
static void refresh_watches(struct ed_reload *r) {
  char *dirs[MAX_DIRS];
  size_t num = 0;
  for (size_t i = 0; i < r->num_paths; i++) {
    add_dir(dirs, &num, r->paths[i]);
    char *real = realpath(r->paths[i], NULL);
    if (real) add_dir(dirs, &num, real);
    free(real);
  }
  struct watch *keep[MAX_DIRS];
  size_t num_keep = 0;
  for (size_t i = 0; i < r->num_watches; i++) {
    struct watch *w = r->watches[i];
    size_t j = 0;
    while (j < num && strcmp(dirs[j], w->dir) != 0) j++;
    if (j < num) {
      keep[num_keep++] = w;
      free(dirs[j]);
      dirs[j] = dirs[--num];
    } else {
      close_watch(w);
    }
  }
  for (size_t j = 0; j < num; j++) {
    struct watch *w = start_watch(r, dirs[j]);
    if (w && num_keep < MAX_DIRS) keep[num_keep++] = w;
    free(dirs[j]);
  }
  memcpy(r->watches, keep, num_keep * sizeof(*keep));
  r->num_watches = num_keep;
}

/* ---- lifecycle ----------------------------------------------------------- */

static void on_handle_closed(uv_handle_t *h) {
  release(h->data);
}

int ed_reload_new(struct ed_reload **out, uv_loop_t *loop,
                  const struct ed_reload_options *o) {
  *out = NULL;
  if (!o->on_change) return ED_E_INVAL;
  struct ed_reload *r = ed_calloc(1, sizeof(*r));
  r->loop = loop;
  r->on_change = o->on_change;
  r->arg = o->arg;
  r->debounce_ms = o->debounce_ms;
  r->paths = ed_calloc(o->num_paths + 1, sizeof(*r->paths));
  for (size_t i = 0; i < o->num_paths; i++)
    if (o->paths[i]) r->paths[r->num_paths++] = ed_strdup(o->paths[i]);
  r->prints = ed_calloc(r->num_paths + 1, sizeof(*r->prints));
  uv_timer_init(loop, &r->timer);
  r->timer.data = r;
  r->open_handles = 1;
  (void)take_prints(r);
  refresh_watches(r);
  *out = r;
  return 0;
}

void ed_reload_free(struct ed_reload *r) {
  if (!r || r->closing) return;
  r->closing = 1;
  for (size_t i = 0; i < r->num_watches; i++) close_watch(r->watches[i]);
  r->num_watches = 0;
  uv_timer_stop(&r->timer);
  uv_close((uv_handle_t *)&r->timer, on_handle_closed);
}

int ed_reload_watches(const struct ed_reload *r, const char *dir) {
  for (size_t i = 0; r && i < r->num_watches; i++)
    if (strcmp(r->watches[i]->dir, dir) == 0) return 1;
  return 0;
}

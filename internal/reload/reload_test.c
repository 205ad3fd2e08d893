/* Unit tests for the credential file watcher, with a fake reload function
 * that brackets each reload with ed_reload_begin/end as the server's
 * does: file watching (in-place write, rename over, chmod, Kubernetes
 * ..data swap), debounce, and what a reload started elsewhere (SIGHUP,
 * admin) does to the watcher: its baseline absorbs a change waiting for
 * the debounce, and its watches follow a swap at once. */
#include "internal/reload/reload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal/base/base.h"
#include "internal/testing/testing.h"

static uv_loop_t loop;
static char dir[256];
static struct ed_reload *cur;    /* the watcher under test */
static int calls;                /* reloads, whatever started them */
static int watch_calls;          /* ... started by the watcher */
static const char *touch_during; /* x.pem gets this while a reload runs */

static void put(const char *name, const char *content);

/* reload is what the server's reload function does around its work. */
static void reload(void) {
  ed_reload_begin(cur);
  calls++;
  if (touch_during) {
    put("x.pem", touch_during);
    touch_during = NULL;
  }
  ed_reload_end(cur);
}

static void on_change(void *arg) {
  (void)arg;
  watch_calls++;
  reload();
}

static void on_spin(uv_timer_t *t) {
  uv_stop(t->loop);
}

/* Runs the loop for |ms| milliseconds. */
static void spin(uint64_t ms) {
  uv_timer_t t;
  uv_timer_init(&loop, &t);
  uv_timer_start(&t, on_spin, ms, 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&loop, UV_RUN_NOWAIT);
}

static void put(const char *name, const char *content) {
  char p[512];
  snprintf(p, sizeof(p), "%s/%s", dir, name);
  FILE *f = fopen(p, "w");
  fputs(content, f);
  fclose(f);
}

/* Runs a shell command; $D is the test directory. */
static void sh(const char *cmd) {
  CHECK_EQ(system(cmd), 0);
}

static void start(const char *a, const char *b) {
  char pa[512], pb[512];
  snprintf(pa, sizeof(pa), "%s/%s", dir, a);
  snprintf(pb, sizeof(pb), "%s/%s", dir, b ? b : "");
  const char *paths[] = {pa, b ? pb : NULL};
  struct ed_reload_options o = {.on_change = on_change,
                                .paths = paths,
                                .num_paths = 2,
                                .debounce_ms = 100};
  cur = NULL;
  CHECK_EQ(ed_reload_new(&cur, &loop, &o), 0);
  calls = watch_calls = 0;
}

static void stop(void) {
  ed_reload_free(cur);
  uv_run(&loop, UV_RUN_DEFAULT);
  cur = NULL;
}

static void test_write_rename_debounce(void) {
  put("cert.pem", "one");
  put("key.pem", "k1");
  start("cert.pem", "key.pem");
  spin(50);
  CHECK_EQ(calls, 0);

  put("cert.pem", "two"); /* in place */
  spin(400);
  CHECK_EQ(watch_calls, 1);

  for (int i = 0; i < 10; i++) { /* a burst is one reload */
    char v[16];
    snprintf(v, sizeof(v), "k%d", i + 2);
    put("key.pem", v);
    spin(10);
  }
  spin(400);
  CHECK_EQ(watch_calls, 2);

  put("cert.pem", "two"); /* same bytes, same inode: nothing to do */
  spin(400);
  CHECK_EQ(watch_calls, 2);

  put("cert.tmp", "three"); /* rename over */
  sh("mv \"$D/cert.tmp\" \"$D/cert.pem\"");
  spin(400);
  CHECK_EQ(watch_calls, 3);
  stop();
}

/* A key made 0600 after a reload refused it (group-readable), or given
 * to another owner, changed nothing in its bytes but must reload. */
static void test_mode_and_owner_changes(void) {
  put("k.key", "key");
  sh("chmod 644 \"$D/k.key\"");
  start("k.key", NULL);
  spin(50);
  sh("chmod 600 \"$D/k.key\"");
  spin(400);
  CHECK_EQ(watch_calls, 1);
  if (geteuid() == 0) { /* only root may give a file away */
    sh("chown 1:1 \"$D/k.key\"");
    spin(400);
    CHECK_EQ(watch_calls, 2);
  }
  stop();
}

static void test_kubernetes_swap(void) {
  /* secret-volume layout: tls.crt -> ..data/tls.crt, ..data -> ..ts1 */
  sh("set -e; cd \"$D\" && mkdir ..ts1 && echo A > ..ts1/tls.crt && "
     "ln -s ..ts1 ..data && ln -s ..data/tls.crt tls.crt");
  start("tls.crt", NULL);
  spin(50);
  /* What the kubelet does: new dir, new symlink, rename it over ..data,
   * remove the old dir. */
  sh("set -e; cd \"$D\" && mkdir ..ts2 && echo B > ..ts2/tls.crt && "
     "ln -s ..ts2 ..data_tmp && mv -T ..data_tmp ..data && rm -rf ..ts1");
  spin(400);
  CHECK_EQ(watch_calls, 1);
  /* And again: the watch followed the swap. */
  sh("set -e; cd \"$D\" && mkdir ..ts3 && echo C > ..ts3/tls.crt && "
     "ln -s ..ts3 ..data_tmp && mv -T ..data_tmp ..data && rm -rf ..ts2");
  spin(400);
  CHECK_EQ(watch_calls, 2);
  /* In-place edit inside the current timestamped dir is seen too. */
  sh("echo D > \"$D/..ts3/tls.crt\"");
  spin(400);
  CHECK_EQ(watch_calls, 3);
  stop();
  sh("cd \"$D\" && rm -rf ..ts3 ..data tls.crt");
}

/* A reload started elsewhere (SIGHUP, admin) right after a swap: its end
 * moves the watches to the new directory at once, and its baseline
 * absorbs the change the debounce was waiting for: one reload, not two. */
static void test_reload_elsewhere_after_swap(void) {
  char was[600], now[600];
  sh("set -e; cd \"$D\" && mkdir ..t1 && echo A > ..t1/tls.crt && "
     "ln -s ..t1 ..data && ln -s ..data/tls.crt tls.crt");
  start("tls.crt", NULL);
  snprintf(was, sizeof(was), "%s/..t1", dir);
  snprintf(now, sizeof(now), "%s/..t2", dir);
  CHECK(ed_reload_watches(cur, was));
  sh("set -e; cd \"$D\" && mkdir ..t2 && echo B > ..t2/tls.crt && "
     "ln -s ..t2 ..data_tmp && mv -T ..data_tmp ..data && rm -rf ..t1");
  reload(); /* before the debounce fires */
  CHECK(ed_reload_watches(cur, now));
  CHECK(!ed_reload_watches(cur, was));
  spin(400);
  CHECK_EQ(calls, 1);
  CHECK_EQ(watch_calls, 0);
  stop();
  sh("cd \"$D\" && rm -rf ..t2 ..data tls.crt");
}

static void test_change_during_reload_not_lost(void) {
  put("x.pem", "x");
  start("x.pem", NULL);
  put("x.pem", "y");
  reload(); /* its baseline has "y": no second reload */
  spin(400);
  CHECK_EQ(calls, 1);
  touch_during = "z"; /* lands while the next reload runs */
  reload();
  spin(400);
  CHECK_EQ(calls, 3);
  CHECK_EQ(watch_calls, 1);
  stop();
}

int main(void) {
  const char *t = getenv("TEST_TMPDIR");
  snprintf(dir, sizeof(dir), "%s/reload_test.XXXXXX", t ? t : "/tmp");
  if (!mkdtemp(dir)) return 1;
  setenv("D", dir, 1);
  uv_loop_init(&loop);
  RUN(test_write_rename_debounce);
  RUN(test_mode_and_owner_changes);
  RUN(test_kubernetes_swap);
  RUN(test_reload_elsewhere_after_swap);
  RUN(test_change_during_reload_not_lost);
  CHECK_EQ(uv_loop_close(&loop), 0);
  sh("rm -rf \"$D\"");
  return TEST_RESULT();
}

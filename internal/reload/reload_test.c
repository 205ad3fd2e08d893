/* Unit tests for the reload triggers, with a fake reload function: file
 * watching (in-place write, rename over, Kubernetes ..data swap),
 * debounce, SIGHUP, and that every reload reaches the reload function
 * with its trigger (the server's ed_server_reload records it; the fake
 * keeps the same record, so what it saw is checked here). */
#include "internal/reload/reload.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal/base/base.h"
#include "internal/testing/testing.h"

static uv_loop_t loop;
static char dir[256];
static int calls;
static int fail_next;
static enum ed_reload_trigger last_trigger;
static int checks;                  /* calls with check_only */
static struct ed_reload_status rec; /* what the server would record */
static const char *touch_during;    /* x.pem gets this while a reload runs */

static void put(const char *name, const char *content);

static int fake_reload(void *arg, int check_only,
                       enum ed_reload_trigger trigger, char *err,
                       size_t err_len) {
  (void)arg;
  calls++;
  last_trigger = trigger;
  if (touch_during) {
    put("x.pem", touch_during);
    touch_during = NULL;
  }
  if (check_only) {
    checks++;
    return 0;
  }
  int rc = 0;
  if (fail_next) {
    fail_next = 0;
    snprintf(err, err_len, "key does not match certificate (server.key)");
    rc = ED_E_MISMATCH;
  }
  rec.count[trigger][rc == 0]++;
  rec.last_ok = rc == 0;
  rec.last_trigger = trigger;
  rec.last_wall_ns = ed_wall_ns();
  snprintf(rec.last_error, sizeof(rec.last_error), "%s", rc ? err : "");
  return rc;
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

static struct ed_reload *start(const char *a, const char *b) {
  char pa[512], pb[512];
  snprintf(pa, sizeof(pa), "%s/%s", dir, a);
  snprintf(pb, sizeof(pb), "%s/%s", dir, b);
  const char *paths[] = {pa, b ? pb : NULL};
  struct ed_reload_options o = {.fn = fake_reload,
                                .paths = paths,
                                .num_paths = 2,
                                .watch = 1,
                                .sighup = 1,
                                .debounce_ms = 100};
  struct ed_reload *r = NULL;
  CHECK_EQ(ed_reload_new(&r, &loop, &o), 0);
  calls = 0;
  checks = 0;
  memset(&rec, 0, sizeof(rec));
  return r;
}

static void stop(struct ed_reload *r) {
  ed_reload_free(r);
  uv_run(&loop, UV_RUN_DEFAULT);
}

static void test_write_rename_debounce(void) {
  put("cert.pem", "one");
  put("key.pem", "k1");
  struct ed_reload *r = start("cert.pem", "key.pem");
  spin(50);
  CHECK_EQ(calls, 0);

  put("cert.pem", "two"); /* in place */
  spin(400);
  CHECK_EQ(calls, 1);
  CHECK_EQ(last_trigger, ED_RELOAD_WATCH);
  CHECK_EQ(rec.count[ED_RELOAD_WATCH][1], 1);

  for (int i = 0; i < 10; i++) { /* a burst is one reload */
    char v[16];
    snprintf(v, sizeof(v), "k%d", i + 2);
    put("key.pem", v);
    spin(10);
  }
  spin(400);
  CHECK_EQ(calls, 2);

  put("cert.pem", "two"); /* same bytes, same inode: nothing to do */
  spin(400);
  CHECK_EQ(calls, 2);

  put("cert.tmp", "three"); /* rename over */
  sh("mv \"$D/cert.tmp\" \"$D/cert.pem\"");
  spin(400);
  CHECK_EQ(calls, 3);

  /* A failed reload is recorded with its reason, then a good one clears
   * it. */
  fail_next = 1;
  put("cert.pem", "bad");
  spin(400);
  CHECK_EQ(calls, 4);
  CHECK_EQ(rec.last_ok, 0);
  CHECK_EQ(rec.count[ED_RELOAD_WATCH][0], 1);
  CHECK(strstr(rec.last_error, "does not match") != NULL);
  CHECK(rec.last_wall_ns > 0);
  put("cert.pem", "good");
  spin(400);
  CHECK_EQ(calls, 5);
  CHECK_EQ(rec.last_ok, 1);
  CHECK_STR(rec.last_error, "");
  stop(r);
}

static void test_kubernetes_swap(void) {
  /* secret-volume layout: tls.crt -> ..data/tls.crt, ..data -> ..ts1 */
  sh("set -e; cd \"$D\" && mkdir ..ts1 && echo A > ..ts1/tls.crt && "
     "ln -s ..ts1 ..data && ln -s ..data/tls.crt tls.crt");
  struct ed_reload *r = start("tls.crt", NULL);
  spin(50);
  /* What the kubelet does: new dir, new symlink, rename it over ..data,
   * remove the old dir. */
  sh("set -e; cd \"$D\" && mkdir ..ts2 && echo B > ..ts2/tls.crt && "
     "ln -s ..ts2 ..data_tmp && mv -T ..data_tmp ..data && rm -rf ..ts1");
  spin(400);
  CHECK_EQ(calls, 1);
  CHECK_EQ(last_trigger, ED_RELOAD_WATCH);
  /* And again: the watch followed the swap. */
  sh("set -e; cd \"$D\" && mkdir ..ts3 && echo C > ..ts3/tls.crt && "
     "ln -s ..ts3 ..data_tmp && mv -T ..data_tmp ..data && rm -rf ..ts2");
  spin(400);
  CHECK_EQ(calls, 2);
  /* In-place edit inside the current timestamped dir is seen too. */
  sh("echo D > \"$D/..ts3/tls.crt\"");
  spin(400);
  CHECK_EQ(calls, 3);
  stop(r);
}

static void test_sighup_and_now(void) {
  put("x.pem", "x");
  struct ed_reload *r = start("x.pem", NULL);
  raise(SIGHUP);
  spin(100);
  CHECK_EQ(calls, 1);
  CHECK_EQ(last_trigger, ED_RELOAD_SIGNAL);
  CHECK_STR(ed_reload_trigger_name(last_trigger), "signal");
  CHECK_EQ(rec.count[ED_RELOAD_SIGNAL][1], 1);
  char err[128];
  CHECK_EQ(ed_reload_now(r, 1, ED_RELOAD_ADMIN, err, sizeof(err)), 0);
  CHECK_EQ(checks, 1); /* a check reaches the function as a check */
  CHECK_EQ(rec.count[ED_RELOAD_ADMIN][1], 0); /* checks are not reloads */
  CHECK_EQ(ed_reload_count(r), 1);
  fail_next = 1;
  CHECK_EQ(ed_reload_now(r, 0, ED_RELOAD_ADMIN, err, sizeof(err)),
           ED_E_MISMATCH);
  CHECK(strstr(err, "does not match") != NULL);
  CHECK_EQ(rec.count[ED_RELOAD_ADMIN][0], 1);
  CHECK_EQ(rec.last_trigger, ED_RELOAD_ADMIN);
  CHECK_EQ(ed_reload_count(r), 2);
  /* An admin reload resets the watcher's baseline: no second reload. */
  put("x.pem", "y");
  CHECK_EQ(ed_reload_now(r, 0, ED_RELOAD_ADMIN, err, sizeof(err)), 0);
  spin(400);
  CHECK_EQ(calls, 4);
  /* A change that lands while a reload runs is not lost: it reloads again. */
  touch_during = "z";
  CHECK_EQ(ed_reload_now(r, 0, ED_RELOAD_ADMIN, err, sizeof(err)), 0);
  spin(400);
  CHECK_EQ(calls, 6);
  CHECK_EQ(last_trigger, ED_RELOAD_WATCH);
  stop(r);
}

int main(void) {
  const char *t = getenv("TEST_TMPDIR");
  snprintf(dir, sizeof(dir), "%s/reload_test.XXXXXX", t ? t : "/tmp");
  if (!mkdtemp(dir)) return 1;
  setenv("D", dir, 1);
  uv_loop_init(&loop);
  RUN(test_write_rename_debounce);
  RUN(test_kubernetes_swap);
  RUN(test_sighup_and_now);
  CHECK_EQ(uv_loop_close(&loop), 0);
  sh("rm -rf \"$D\"");
  return TEST_RESULT();
}

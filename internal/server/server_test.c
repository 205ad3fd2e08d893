/* internal/server tests: publishing a snapshot and its references, the one
 * reload function (ok, check, failure, the record of every trigger), and
 * the triggers on a running server's control loop (SIGHUP after a file
 * change is one reload). Reference mistakes show as use-after-free or
 * leaks under --config=asan. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal/config/config.h"
#include "internal/server/server.h"
#include "internal/testing/testing.h"
#include "internal/tls/testcerts.h"

static EVP_PKEY *key1, *key2;
static X509 *cert1, *cert2;

static void setup(void) {
  EVP_PKEY *ca_key = tc_key();
  key1 = tc_key();
  key2 = tc_key();
  struct tc_opts o = {.cn = "server test CA"};
  X509 *ca = tc_cert(ca_key, &o);
  struct tc_opts so = {.cn = "server",
                       .issuer = ca,
                       .issuer_key = ca_key,
                       .eku = TC_EKU_SERVER,
                       .san = "DNS:localhost",
                       .serial = 0x1111};
  cert1 = tc_cert(key1, &so);
  so.serial = 0x2221;
  cert2 = tc_cert(key2, &so);
  tc_write_cert(tc_path("srv-ca.pem"), &ca, 1);
  X509_free(ca);
  EVP_PKEY_free(ca_key);
}

/* install writes server |n|'s certificate and key (1 or 2) to the files
 * the server reads; |key_of| picks the key (a mismatch when they differ). */
static void install(int n, int key_of) {
  tc_write_cert(tc_path("srv.pem"), n == 1 ? &cert1 : &cert2, 1);
  tc_write_key(tc_path("srv.key"), key_of == 1 ? key1 : key2, 0600);
}

static struct ed_config *config(void) {
  char *argv[] = {"echod",
                  "--cert",
                  (char *)tc_path("srv.pem"),
                  "--key",
                  (char *)tc_path("srv.key"),
                  "--ca",
                  (char *)tc_path("srv-ca.pem"),
                  "--listen",
                  "127.0.0.1:0",
                  "--workers",
                  "1",
                  "--handshake-threads",
                  "1",
                  "--no-admin",
                  "--no-metrics",
                  "--state-dir",
                  (char *)tc_path("srv-state"),
                  "--reload-debounce",
                  "300ms",
                  NULL};
  struct ed_config *cfg = NULL;
  char err[256];
  int rc = ed_config_load(&cfg, sizeof(argv) / sizeof(argv[0]) - 1, argv, err,
                          sizeof(err));
  CHECK_EQ(rc, 0);
  return cfg;
}

static struct ed_server *server(struct ed_config **out_cfg) {
  struct ed_server *srv = NULL;
  char err[512] = "";
  install(1, 1);
  *out_cfg = config();
  int rc = ed_server_new(&srv, *out_cfg, err, sizeof(err));
  if (rc) fprintf(stderr, "ed_server_new: %s\n", err);
  CHECK_EQ(rc, 0);
  return srv;
}

static uint64_t snap_id(struct ed_server *srv) {
  struct ed_tls_snapshot *s = ed_server_snapshot(srv);
  struct ed_tls_summary sum;
  ed_tls_snapshot_summary(s, &sum);
  ed_tls_snapshot_unref(s);
  return sum.snapshot_id;
}

/* A published snapshot replaces the current one; whoever still holds the
 * old one (a connection accepted before) keeps it usable until it lets
 * go. */
static void test_publish_and_references(void) {
  struct ed_config *cfg;
  struct ed_server *srv = server(&cfg);
  struct ed_tls_snapshot *held = ed_server_snapshot(srv);
  struct ed_tls_summary was, now;
  ed_tls_snapshot_summary(held, &was);
  install(2, 2);
  CHECK_EQ(ed_server_reload(srv, 0, ED_RELOAD_ADMIN, &now, NULL, 0), 0);
  CHECK(now.snapshot_id != was.snapshot_id);
  CHECK_EQ(snap_id(srv), now.snapshot_id);
  /* The held one is intact (ASan: no use after free). */
  struct ed_tls_summary again;
  ed_tls_snapshot_summary(held, &again);
  CHECK_EQ(again.snapshot_id, was.snapshot_id);
  CHECK_STR(again.server.serial, was.server.serial);
  ed_tls_snapshot_unref(held);
  /* Publishing by hand takes the caller's reference. */
  struct ed_tls_snapshot *s = ed_server_snapshot(srv);
  ed_server_publish(srv, s); /* the same one again: still one owner */
  CHECK_EQ(snap_id(srv), now.snapshot_id);
  ed_server_free(srv); /* LSan: every snapshot released */
  ed_config_free(cfg);
}

static void test_reload_check_failure_and_record(void) {
  struct ed_config *cfg;
  struct ed_server *srv = server(&cfg);
  struct ed_reload_status st;
  struct ed_tls_summary sum;
  char err[256];
  uint64_t first = snap_id(srv);
  ed_server_reload_status(srv, &st);
  CHECK_EQ(st.count[ED_RELOAD_STARTUP][1], 1);
  CHECK_EQ(st.last_trigger, ED_RELOAD_STARTUP);

  /* A check answers about what it checked and changes nothing. */
  install(2, 2);
  CHECK_EQ(ed_server_reload(srv, 1, ED_RELOAD_ADMIN, &sum, err, sizeof(err)),
           0);
  CHECK(strstr(sum.server.serial, "2221") != NULL);
  CHECK(sum.snapshot_id != first);
  CHECK_EQ(snap_id(srv), first);
  ed_server_reload_status(srv, &st);
  CHECK_EQ(st.count[ED_RELOAD_ADMIN][1], 0);
  CHECK_EQ(st.last_trigger, ED_RELOAD_STARTUP);

  /* A failure changes nothing, says why, and is recorded. */
  install(2, 1);
  memset(&sum, 0, sizeof(sum));
  CHECK_EQ(ed_server_reload(srv, 0, ED_RELOAD_SIGNAL, &sum, err, sizeof(err)),
           ED_E_MISMATCH);
  CHECK(strstr(err, "match") != NULL);
  CHECK_EQ(sum.snapshot_id, 0); /* untouched on failure */
  CHECK_EQ(snap_id(srv), first);
  ed_server_reload_status(srv, &st);
  CHECK_EQ(st.count[ED_RELOAD_SIGNAL][0], 1);
  CHECK_EQ(st.last_ok, 0);
  CHECK(strstr(st.last_error, "match") != NULL);

  /* Every trigger is recorded the same way; the newest wins. */
  install(2, 2);
  CHECK_EQ(ed_server_reload(srv, 0, ED_RELOAD_WATCH, NULL, err, sizeof(err)),
           0);
  CHECK_STR(err, "");
  ed_server_reload_status(srv, &st);
  CHECK_EQ(st.count[ED_RELOAD_WATCH][1], 1);
  CHECK_EQ(st.last_ok, 1);
  CHECK_EQ(st.last_trigger, ED_RELOAD_WATCH);
  CHECK_STR(st.last_error, "");
  CHECK(snap_id(srv) != first);
  ed_server_free(srv);
  ed_config_free(cfg);
}

/* ---- the triggers on a running server ------------------------------------ */

struct run {
  struct ed_server *srv;
  uv_timer_t timer;
  int step;
  struct ed_reload_status seen;
};

/* step 0: change the files (the watcher arms its debounce) and SIGHUP at
 * once; step 1 (after the debounce): look, then drain. */
static void on_step(uv_timer_t *t) {
  struct run *r = t->data;
  if (r->step++ == 0) {
    install(2, 2);
    raise(SIGHUP);
    uv_timer_start(t, on_step, 1000, 0);
    return;
  }
  ed_server_reload_status(r->srv, &r->seen);
  uv_close((uv_handle_t *)t, NULL);
  ed_server_drain(r->srv, 0);
}

/* start binds the listen addresses and starts the loops, as cmd/server.c
 * does (without the sandbox). */
static int start(struct ed_server *srv) {
  char err[256];
  int rc = ed_server_bind(srv, err, sizeof(err));
  if (!rc) rc = ed_server_start(srv, err, sizeof(err));
  if (rc) fprintf(stderr, "start: %s\n", err);
  return rc;
}

/* run_stepped starts |srv| and runs it until it stops, |step| called on
 * |t| (its data |arg|) after |ms| ms on the control loop: the step re-arms
 * the timer for the next, and the last closes it and drains. */
static void run_stepped(struct ed_server *srv, uv_timer_t *t, uv_timer_cb step,
                        void *arg, uint64_t ms) {
  CHECK_EQ(start(srv), 0);
  uv_timer_init(ed_server_control_loop(srv), t);
  t->data = arg;
  uv_timer_start(t, step, ms, 0);
  CHECK_EQ(ed_server_run(srv), 0);
}

static void test_change_then_sighup_is_one_reload(void) {
  struct ed_config *cfg;
  struct run r = {0};
  r.srv = server(&cfg);
  run_stepped(r.srv, &r.timer, on_step, &r, 100);
  CHECK_EQ(r.step, 2);
  CHECK_EQ(r.seen.count[ED_RELOAD_SIGNAL][1], 1);
  CHECK_EQ(r.seen.count[ED_RELOAD_WATCH][1], 0);
  CHECK_EQ(r.seen.last_trigger, ED_RELOAD_SIGNAL);
  struct ed_tls_snapshot *s = ed_server_snapshot(r.srv);
  struct ed_tls_summary sum;
  ed_tls_snapshot_summary(s, &sum);
  CHECK(strstr(sum.server.serial, "2221") != NULL);
  ed_tls_snapshot_unref(s);
  ed_server_free(r.srv);
  ed_config_free(cfg);
}

/* ---- the re-check after a reload ---------------------------------------- */

struct waited {
  int calls;
  struct ed_recheck_result r;
  int before_return; /* called before ed_server_reload_wait returned */
};

static void on_waited(void *arg, const struct ed_recheck_result *r) {
  struct waited *w = arg;
  w->calls++;
  w->r = *r;
}

static void wait_now(struct ed_server *srv, struct waited *w) {
  ed_server_reload_wait(srv, on_waited, w);
  w->before_return = w->calls;
}

struct recheck_run {
  struct ed_server *srv;
  uv_timer_t timer;
  int step;
  struct waited w;
};

/* step 0: reload (the loops have no session); step 1: look, drain. */
static void on_recheck_step(uv_timer_t *t) {
  struct recheck_run *r = t->data;
  if (r->step++ == 0) {
    install(2, 2);
    CHECK_EQ(ed_server_reload(r->srv, 0, ED_RELOAD_ADMIN, NULL, NULL, 0), 0);
    wait_now(r->srv, &r->w);
    uv_timer_start(t, on_recheck_step, 500, 0);
    return;
  }
  uv_close((uv_handle_t *)t, NULL);
  ed_server_drain(r->srv, 0);
}

/* On a running server a reload's outcome waits for every loop's re-check
 * (the control loop keeps running meanwhile); without running loops, or
 * with --keep-sessions-on-reload, it is there at once. */
static void test_reload_waits_for_the_recheck(void) {
  struct ed_config *cfg;
  struct recheck_run r = {0};
  r.srv = server(&cfg);
  install(2, 2);
  CHECK_EQ(ed_server_reload(r.srv, 0, ED_RELOAD_ADMIN, NULL, NULL, 0), 0);
  wait_now(r.srv, &r.w); /* nothing runs: at once, nothing checked */
  CHECK_EQ(r.w.before_return, 1);
  CHECK_EQ(r.w.r.status, ED_RECHECK_DONE);
  CHECK_EQ(r.w.r.checked, 0);
  memset(&r.w, 0, sizeof(r.w));
  install(1, 1);
  run_stepped(r.srv, &r.timer, on_recheck_step, &r, 50);
  CHECK_EQ(r.w.before_return, 0); /* the loops had it to do first */
  CHECK_EQ(r.w.calls, 1);
  CHECK_EQ(r.w.r.status, ED_RECHECK_DONE);
  CHECK_EQ(r.w.r.checked, 0);
  ed_server_free(r.srv);
  ed_config_free(cfg);
  /* --keep-sessions-on-reload: off, at once. */
  cfg = config();
  cfg->keep_sessions_on_reload = 1;
  struct ed_server *srv = NULL;
  char err[256];
  install(1, 1);
  CHECK_EQ(ed_server_new(&srv, cfg, err, sizeof(err)), 0);
  struct waited w = {0};
  CHECK_EQ(ed_server_reload(srv, 0, ED_RELOAD_SIGNAL, NULL, NULL, 0), 0);
  wait_now(srv, &w);
  CHECK_EQ(w.before_return, 1);
  CHECK_EQ(w.r.status, ED_RECHECK_OFF);
  ed_server_free(srv);
  ed_config_free(cfg);
}

/* ---- snapshots a reload replaced ---------------------------------------- */

struct retire_run {
  struct ed_server *srv;
  uv_timer_t timer;
  int step;
  long live_before, live_after_release, live_later;
};

static void *release(void *arg) {
  ed_tls_snapshot_unref(arg);
  return NULL;
}

/* step 0: a holder of the current snapshot (as a session on a loop is)
 * outlives a reload, then lets go on a thread of its own; step 1: look,
 * drain. */
static void on_retire_step(uv_timer_t *t) {
  struct retire_run *r = t->data;
  if (r->step++ == 0) {
    struct ed_tls_snapshot *held = ed_server_snapshot(r->srv);
    install(2, 2);
    CHECK_EQ(ed_server_reload(r->srv, 0, ED_RELOAD_ADMIN, NULL, NULL, 0), 0);
    r->live_before = ed_tls_snapshots_live();
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, release, held), 0);
    pthread_join(th, NULL);
    r->live_after_release = ed_tls_snapshots_live();
    uv_timer_start(t, on_retire_step, 1500, 0);
    return;
  }
  r->live_later = ed_tls_snapshots_live();
  uv_close((uv_handle_t *)t, NULL);
  ed_server_drain(r->srv, 0);
}

/* A replaced snapshot is not freed by whoever held it last, which may be
 * an I/O loop (its CRLs: milliseconds there), but by the control thread,
 * soon after. */
static void test_retired_snapshot_freed_on_the_control_thread(void) {
  struct ed_config *cfg;
  struct retire_run r = {0};
  r.srv = server(&cfg);
  run_stepped(r.srv, &r.timer, on_retire_step, &r, 50);
  CHECK_EQ(r.step, 2);
  CHECK_EQ(r.live_after_release, r.live_before); /* not on that thread */
  CHECK_EQ(r.live_later, r.live_before - 1);     /* freed since */
  ed_server_free(r.srv);
  ed_config_free(cfg);
}

int main(void) {
  setup();
  RUN(test_publish_and_references);
  RUN(test_reload_check_failure_and_record);
  RUN(test_change_then_sighup_is_one_reload);
  RUN(test_reload_waits_for_the_recheck);
  RUN(test_retired_snapshot_freed_on_the_control_thread);
  X509_free(cert1);
  X509_free(cert2);
  EVP_PKEY_free(key1);
  EVP_PKEY_free(key2);
  return TEST_RESULT();
}

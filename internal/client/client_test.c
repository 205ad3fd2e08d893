/* Unit tests for internal/client: flag parsing, alert names and the
 * sentence a newcomer sees when the dev certificates are missing. The TLS
 * paths are covered end to end by tests/core. */
#include "internal/client/client.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal/testing/testing.h"

static char last_err[512];

static int parse(struct ed_client_opts *o, const char *first, ...) {
  char *argv[32];
  int argc = 0;
  argv[argc++] = "client";
  va_list ap;
  va_start(ap, first);
  for (const char *a = first; a && argc < 31; a = va_arg(ap, const char *))
    argv[argc++] = (char *)a;
  va_end(ap);
  argv[argc] = NULL;
  last_err[0] = '\0';
  return ed_client_opts_parse(o, argc, argv, last_err, sizeof(last_err));
}

static void test_defaults(void) {
  struct ed_client_opts o;
  CHECK_EQ(parse(&o, NULL), 0);
  CHECK_STR(o.connect, "127.0.0.1:7443");
  CHECK(o.ca == NULL && o.cert == NULL && o.key == NULL);
  CHECK(o.servername == NULL);
  CHECK_EQ(o.tls_min, 0x0304);
  CHECK_EQ(o.quiet, 0);
  CHECK_EQ(o.help, 0);
  CHECK_EQ(o.mode, ED_CLIENT_MODE_AUTO);
  CHECK_EQ(o.timeout_ms, 10000);
  ed_client_opts_cleanup(&o);
}

static void test_flags(void) {
  struct ed_client_opts o;
  CHECK_EQ(parse(&o, "--connect", "[::1]:9", "--ca=ca.pem", "--cert", "c.pem",
                 "--key=k.pem", "--servername", "localhost", "--tls-min=1.2",
                 "--quiet", "--sess-out", "s.out", "--sess-in=s.in",
                 "--timeout", "3", "--pipe", NULL),
           0);
  CHECK_STR(o.connect, "[::1]:9");
  CHECK_STR(o.ca, "ca.pem");
  CHECK_STR(o.cert, "c.pem");
  CHECK_STR(o.key, "k.pem");
  CHECK_STR(o.servername, "localhost");
  CHECK_EQ(o.tls_min, 0x0303);
  CHECK_EQ(o.quiet, 1);
  CHECK_STR(o.sess_out, "s.out");
  CHECK_STR(o.sess_in, "s.in");
  CHECK_EQ(o.timeout_ms, 3000);
  CHECK_EQ(o.mode, ED_CLIENT_MODE_PIPE);
  ed_client_opts_cleanup(&o);
  CHECK_EQ(parse(&o, "--help", NULL), 0);
  CHECK_EQ(o.help, 1);
  ed_client_opts_cleanup(&o);
  CHECK(strstr(ed_client_usage(), "--servername") != NULL);
}

static void expect_usage(const char *want, const char *a1, const char *a2) {
  struct ed_client_opts o;
  int rc = parse(&o, a1, a2, NULL);
  CHECK_EQ(rc, ED_E_USAGE);
  CHECK(strstr(last_err, want) != NULL);
  if (!strstr(last_err, want))
    fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", last_err, want);
  CHECK(strchr(last_err, '\n') == NULL);
  ed_client_opts_cleanup(&o);
}

static void test_errors(void) {
  expect_usage("unknown flag --bogus", "--bogus", NULL);
  expect_usage("unexpected argument", "host:1", NULL);
  expect_usage("--connect needs a value", "--connect", NULL);
  expect_usage("not host:port", "--connect", "localhost");
  expect_usage("not host:port", "--connect", "127.0.0.1:0");
  expect_usage("not host:port", "--connect", "127.0.0.1:99999");
  expect_usage("unknown TLS version", "--tls-min", "1.1");
  expect_usage("--timeout", "--timeout", "0");
  expect_usage("empty value", "--ca=", NULL);
  expect_usage("unknown flag --quiet=1", "--quiet=1", NULL);
}

static void test_alert_names(void) {
  CHECK_STR(ed_client_alert_name(44), "certificate_revoked");
  CHECK_STR(ed_client_alert_name(48), "unknown_ca");
  CHECK_STR(ed_client_alert_name(116), "certificate_required");
  CHECK_STR(ed_client_alert_name(70), "protocol_version");
  CHECK_STR(ed_client_alert_name(0), "close_notify");
  CHECK_STR(ed_client_alert_name(250), "unknown");
}

/* test_missing_dev_certs: with an empty state dir the client names the
 * missing file and says how to create it, and fails before connecting. */
static void test_missing_dev_certs(void) {
  char dir[512], out[4096] = "";
  const char *t = getenv("TEST_TMPDIR");
  snprintf(dir, sizeof(dir), "%s/client_test.XXXXXX", t ? t : "/tmp");
  CHECK(mkdtemp(dir) != NULL);
  setenv("ECHOD_STATE_DIR", dir, 1);
  struct ed_client_opts o;
  CHECK_EQ(parse(&o, "--connect", "127.0.0.1:1", NULL), 0);
  FILE *msgs = tmpfile();
  CHECK(msgs != NULL);
  if (!msgs) return;
  int rc = ed_client_run(&o, -1, -1, msgs);
  CHECK_EQ(rc, ED_E_NOENT);
  rewind(msgs);
  size_t n = fread(out, 1, sizeof(out) - 1, msgs);
  out[n] = '\0';
  fclose(msgs);
  CHECK(strstr(out, "/pki/ca.pem does not exist") != NULL);
  CHECK(strstr(out, "bazel run //cmd:server") != NULL);
  CHECK(strstr(out, "bazel run //cmd:pki -- issue client NAME") != NULL);
  CHECK_EQ(strchr(out, '\n') - out, (long)n - 1); /* one line */
  ed_client_opts_cleanup(&o);

  CHECK_EQ(parse(&o, "--ca", "/dev/null", "--cert", "/nonexistent/me.pem",
                 "--key", "/dev/null", NULL),
           0);
  msgs = tmpfile();
  if (!msgs) return;
  CHECK_EQ(ed_client_run(&o, -1, -1, msgs), ED_E_NOENT);
  rewind(msgs);
  n = fread(out, 1, sizeof(out) - 1, msgs);
  out[n] = '\0';
  fclose(msgs);
  CHECK(strstr(out, "client certificate /nonexistent/me.pem does not exist") !=
        NULL);
  CHECK(strstr(out, "issue client NAME") != NULL);
  ed_client_opts_cleanup(&o);
}

int main(void) {
  RUN(test_defaults);
  RUN(test_flags);
  RUN(test_errors);
  RUN(test_alert_names);
  RUN(test_missing_dev_certs);
  return TEST_RESULT();
}

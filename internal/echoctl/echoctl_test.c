/* Unit tests for echoctl: arguments to request lines, durations and byte
 * counts, the human rendering of canned replies, and the unreachable
 * message. */
#include "internal/echoctl/echoctl.h"

#include <stdlib.h>
#include <string.h>

#include "internal/base/base.h"
#include "internal/testing/testing.h"

static char err[1024];

/* Parses a NULL-terminated argument list; returns the rc. */
static int parse(struct ed_echoctl_args *a, const char *const *argv) {
  int argc = 0;
  while (argv[argc]) argc++;
  return ed_echoctl_parse_args(a, argc, (char **)argv, err, sizeof(err));
}

static void expect_request(const char *const *argv, const char *want) {
  struct ed_echoctl_args a;
  CHECK_EQ(parse(&a, argv), 0);
  CHECK_STR(a.request, want);
  ed_echoctl_args_cleanup(&a);
}

static void expect_usage(const char *const *argv, const char *needle) {
  struct ed_echoctl_args a;
  CHECK_EQ(parse(&a, argv), ED_E_USAGE);
  CHECK(strstr(err, needle) != NULL);
  if (!strstr(err, needle)) fprintf(stderr, "  message: %s\n", err);
  ed_echoctl_args_cleanup(&a);
}

static void test_args(void) {
  setenv("ECHOD_STATE_DIR", "/tmp/echod-state", 1);
  struct ed_echoctl_args a;
  const char *st[] = {"echoctl", "status", NULL};
  CHECK_EQ(parse(&a, st), 0);
  CHECK_STR(a.socket, ""); /* no flag: searched at exchange (socket_test) */
  CHECK_STR(a.request, "{\"cmd\":\"status\"}");
  CHECK_EQ(a.json, 0);
  ed_echoctl_args_cleanup(&a);

  const char *sd[] = {"echoctl", "--state-dir", "/x",
                      "--json",  "version",     NULL};
  CHECK_EQ(parse(&a, sd), 0);
  CHECK_STR(a.socket, "/x/admin.sock");
  CHECK_EQ(a.json, 1);
  ed_echoctl_args_cleanup(&a);
  const char *so[] = {"echoctl", "certs", "--socket=/s.sock", NULL};
  CHECK_EQ(parse(&a, so), 0);
  CHECK_STR(a.socket, "/s.sock");
  ed_echoctl_args_cleanup(&a);

  const char *s1[] = {"echoctl",      "sessions",    "--cn",    "alice",
                      "--older-than", "5m",          "--limit", "3",
                      "--state",      "established", NULL};
  expect_request(s1,
                 "{\"cn\":\"alice\",\"older_than\":300,\"limit\":3,"
                 "\"state\":\"established\",\"cmd\":\"sessions\"}");
  const char *s2[] = {"echoctl", "session", "42", NULL};
  expect_request(s2, "{\"session\":\"42\",\"cmd\":\"session\"}");
  const char *k1[] = {"echoctl", "kill", "--cn", "bob", NULL};
  expect_request(k1, "{\"cn\":\"bob\",\"cmd\":\"kill\"}");
  const char *k2[] = {"echoctl", "kill", "7", NULL};
  expect_request(k2, "{\"session\":\"7\",\"cmd\":\"kill\"}");
  const char *r1[] = {"echoctl", "reload", "--check", NULL};
  expect_request(r1, "{\"check\":true,\"cmd\":\"reload\"}");
  const char *d1[] = {"echoctl",   "--timeout", "5s", "drain",
                      "--timeout", "250ms",     NULL};
  CHECK_EQ(parse(&a, d1), 0);
  CHECK_STR(a.request, "{\"timeout\":0.25,\"cmd\":\"drain\"}");
  CHECK(a.timeout_s == 5);
  ed_echoctl_args_cleanup(&a);
  const char *l1[] = {"echoctl", "log-level", "debug", NULL};
  expect_request(l1, "{\"level\":\"debug\",\"cmd\":\"log-level\"}");
}

static void test_usage_errors(void) {
  struct ed_echoctl_args a;
  const char *u1[] = {"echoctl", NULL};
  expect_usage(u1, "no command");
  const char *u2[] = {"echoctl", "reboot", NULL};
  expect_usage(u2, "unknown command \"reboot\"");
  const char *u3[] = {"echoctl", "kill", NULL};
  expect_usage(u3, "kill needs");
  const char *u4[] = {"echoctl", "kill", "1", "--cn", "x", NULL};
  expect_usage(u4, "kill needs");
  const char *u5[] = {"echoctl", "session", "abc", NULL};
  expect_usage(u5, "numeric session id");
  const char *u6[] = {"echoctl", "sessions", "--limit", "0", NULL};
  expect_usage(u6, "--limit");
  const char *u7[] = {"echoctl", "status", "--verbose", NULL};
  expect_usage(u7, "unknown option --verbose");
  const char *u8[] = {"echoctl", "sessions", "--older-than", "soon", NULL};
  expect_usage(u8, "duration");
  const char *u9[] = {"echoctl", "--socket", NULL};
  expect_usage(u9, "--socket needs");
  /* An option given twice is the user's mistake (exit 2), not a request
   * the server would refuse for its duplicated field (exit 1). */
  const char *d1[] = {"echoctl", "sessions", "--cn", "a", "--cn=b", NULL};
  expect_usage(d1, "--cn=b given twice");
  const char *d2[] = {"echoctl", "reload", "--check", "--check", NULL};
  expect_usage(d2, "--check given twice");
  const char *d3[] = {"echoctl",   "drain", "--timeout", "1s",
                      "--timeout", "2s",    NULL};
  expect_usage(d3, "--timeout given twice");
  const char *h[] = {"echoctl", "--help", NULL};
  CHECK_EQ(parse(&a, h), 0);
  CHECK_EQ(a.help, 1);
  ed_echoctl_args_cleanup(&a);
}

static void test_human(void) {
  char b[32];
  double d;
  CHECK_STR(ed_echoctl_human_duration(b, sizeof(b), 0), "0s");
  CHECK_STR(ed_echoctl_human_duration(b, sizeof(b), 0.25), "250ms");
  CHECK_STR(ed_echoctl_human_duration(b, sizeof(b), 45), "45s");
  CHECK_STR(ed_echoctl_human_duration(b, sizeof(b), 200), "3m 20s");
  CHECK_STR(ed_echoctl_human_duration(b, sizeof(b), 7500), "2h 5m");
  CHECK_STR(ed_echoctl_human_duration(b, sizeof(b), 86400 * 12 + 3 * 3600 + 5),
            "12d 3h");
  CHECK_STR(ed_echoctl_human_duration(b, sizeof(b), -90), "-1m 30s");
  /* Absurd values from a broken server print, capped, without overflow. */
  CHECK_STR(ed_echoctl_human_duration(b, sizeof(b), 1e300), "11574074074d 1h");
  CHECK_STR(ed_echoctl_human_bytes(b, sizeof(b), 512), "512 B");
  CHECK_STR(ed_echoctl_human_bytes(b, sizeof(b), 1536), "1.5 KiB");
  CHECK_STR(ed_echoctl_human_bytes(b, sizeof(b), 3.2 * 1024 * 1024), "3.2 MiB");
  CHECK_EQ(ed_echoctl_parse_duration(&d, "90"), 0);
  CHECK(d == 90);
  CHECK_EQ(ed_echoctl_parse_duration(&d, "2h"), 0);
  CHECK(d == 7200);
  CHECK_EQ(ed_echoctl_parse_duration(&d, "1.5s"), 0);
  CHECK(d == 1.5);
  CHECK_EQ(ed_echoctl_parse_duration(&d, "5x"), ED_E_INVAL);
  CHECK_EQ(ed_echoctl_parse_duration(&d, "-1"), ED_E_INVAL);
}

/* Renders |json| for |cmd| into a string (caller frees). */
static char *render(const char *cmd, const char *json) {
  char *out = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&out, &len);
  cJSON *r = cJSON_Parse(json);
  CHECK(r != NULL);
  ed_echoctl_print(f, cmd, r);
  cJSON_Delete(r);
  fclose(f);
  return out;
}

static void test_print_sessions(void) {
  char *s = render(
      "sessions",
      "{\"sessions\":[{\"id\":7,\"state\":\"established\",\"peer\":\"127.0."
      "0.1:50312\",\"cn\":\"dev-client\",\"version\":\"TLSv1.3\",\"cipher\":"
      "\"TLS_AES_128_GCM_SHA256\",\"resumed\":false,\"age_seconds\":75,"
      "\"bytes_in\":2048,\"bytes_out\":2048},{\"id\":12345,\"state\":"
      "\"handshaking\",\"peer\":\"[::1]:1\",\"cn\":\"\",\"resumed\":true,"
      "\"age_seconds\":0.5,\"bytes_in\":0,\"bytes_out\":0}],\"count\":2,"
      "\"truncated\":true}");
  /* Header and rows line up: every row's CN column starts at the same
   * offset as the header's. */
  char *l1 = s, *l2 = strchr(l1, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
  size_t col = (size_t)(strstr(l1, "CN") - l1);
  CHECK((size_t)(strstr(l2, "dev-client") - l2) == col);
  CHECK(l3[col] == '-');
  CHECK(strstr(l2, "1m 15s") != NULL);
  CHECK(strstr(l2, "2.0 KiB") != NULL);
  CHECK(strstr(l3, "yes") != NULL);
  CHECK(strstr(s, "raise --limit") != NULL);
  free(s);
  s = render("sessions", "{\"sessions\":[],\"count\":0}");
  CHECK_STR(s, "no sessions\n");
  free(s);
}

static void test_print_others(void) {
  char *s = render(
      "status",
      "{\"version\":\"dev\",\"state\":\"running\",\"uptime_seconds\":3725,"
      "\"pid\":42,\"listen\":[\"127.0.0.1:7443\"],\"workers\":2,"
      "\"handshake_pool\":{\"threads\":2,\"queue_depth\":0},"
      "\"connections\":{\"accepted\":10,\"closed\":8,\"established\":2,"
      "\"handshaking\":0,\"rejected\":{\"max_connections\":0}},"
      "\"handshakes\":{\"full\":9,\"resumed\":1,\"failed\":2,\"refusals\":"
      "{\"cert_revoked\":2,\"unknown_ca\":0}},\"bytes\":{\"in\":1048576,"
      "\"out\":1048576},\"last_reload\":{\"ok\":false,\"time\":\"T\","
      "\"trigger\":\"watch\",\"error\":\"key does not match\",\"count_ok\":1,"
      "\"count_failed\":1},\"certs\":{\"server\":{\"subject\":\"CN=localhost\""
      ",\"serial\":\"0A\",\"not_after\":\"2027\",\"seconds_to_expiry\":"
      "864000},\"ca\":null,\"crl\":null}}");
  CHECK(strstr(s, "echod dev — running, up 1h 2m (pid 42)") != NULL);
  CHECK(strstr(s, "1 resumed, 2 refused (cert_revoked 2)") != NULL);
  CHECK(strstr(s, "1.0 MiB in") != NULL);
  CHECK(strstr(s, "FAILED at T (watch): key does not match") != NULL);
  CHECK(strstr(s, "CN=localhost, serial 0A, expires in 10d 0h") != NULL);
  CHECK(strstr(s, "CRL           none") != NULL);
  free(s);
  s = render("kill", "{\"killed\":3}");
  CHECK_STR(s, "killed 3 sessions\n");
  free(s);
  s = render("log-level", "{\"level\":\"debug\",\"previous\":\"info\"}");
  CHECK_STR(s, "log level: debug (was info)\n");
  free(s);
  s = render("reload",
             "{\"checked\":true,\"published\":false,\"server\":"
             "{\"subject\":\"CN=x\",\"serial\":\"01\","
             "\"seconds_to_expiry\":60}}");
  CHECK(strstr(s, "check passed") != NULL);
  free(s);
}

static void test_unreachable(void) {
  char *reply = NULL;
  CHECK_EQ(ed_echoctl_exchange(&reply, "/nonexistent/echod/admin.sock",
                               "{\"cmd\":\"status\"}", 1, err, sizeof(err)),
           ED_E_IO);
  CHECK(reply == NULL);
  CHECK(strstr(err, "/nonexistent/echod/admin.sock") != NULL);
  CHECK(strstr(err, "--socket") != NULL);
  const char *argv[] = {"echoctl", "--socket", "/nonexistent/x.sock", "status",
                        NULL};
  FILE *devnull = fopen("/dev/null", "w");
  CHECK_EQ(ed_echoctl_main(4, (char **)argv, devnull, devnull),
           ED_ECHOCTL_EXIT_UNREACHABLE);
  const char *bad[] = {"echoctl", "frobnicate", NULL};
  CHECK_EQ(ed_echoctl_main(2, (char **)bad, devnull, devnull),
           ED_ECHOCTL_EXIT_USAGE);
  fclose(devnull);
}

int main(void) {
  RUN(test_args);
  RUN(test_usage_errors);
  RUN(test_human);
  RUN(test_print_sessions);
  RUN(test_print_others);
  RUN(test_unreachable);
  return TEST_RESULT();
}

/* Unit tests for echoctl: arguments to request lines, durations and byte
 * counts, the human rendering of canned replies, and the unreachable
 * message. */
#include "internal/echoctl/echoctl.h"

#include <stdint.h>
#include <stdio.h>
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

/* test_local_validation: every argument the server would refuse is refused
 * here, exit 2, before anything is sent (issue 13: --state bogus and
 * log-level chatty went to the server and came back as exit 1). */
static void test_local_validation(void) {
  const char *v1[] = {"echoctl", "sessions", "--state", "bogus", NULL};
  expect_usage(v1,
               "--state \"bogus\" is not a session state (accepted, "
               "handshaking, established or closing)");
  const char *v2[] = {"echoctl", "sessions", "--state", "any", NULL};
  expect_usage(v2, "not a session state");
  const char *v3[] = {"echoctl", "log-level", "chatty", NULL};
  expect_usage(v3,
               "log-level \"chatty\" is not a level (debug, info, warn "
               "or error)");
  const char *v4[] = {"echoctl", "session", "0", NULL};
  expect_usage(v4, "numeric session id");
  const char *v5[] = {"echoctl", "kill", "184467440737095516160", NULL};
  expect_usage(v5, "numeric session id");
  const char *v6[] = {"echoctl", "kill", "18446744073709551616", NULL};
  expect_usage(v6, "numeric session id"); /* 2^64: past any id */
  const char *v7[] = {"echoctl", "sessions", "--limit", "100001", NULL};
  expect_usage(v7, "--limit needs a count from 1 to 100000");
  const char *v8[] = {"echoctl", "sessions", "--limit", "99999999999999999999",
                      NULL};
  expect_usage(v8, "--limit");
  const char *v9[] = {"echoctl", "sessions", "--older-than", "31d", NULL};
  expect_usage(v9, "at most 30d");
  const char *v10[] = {"echoctl", "drain", "--timeout", "40d", NULL};
  expect_usage(v10, "at most 30d");
  const char *v11[] = {"echoctl", "kill", "--cn", "", NULL};
  expect_usage(v11, "--cn needs a CN");
  const char *v12[] = {"echoctl", "--timeout", "0", "status", NULL};
  expect_usage(v12, "--timeout needs a duration");
  const char *v13[] = {"echoctl", "sessions", "--older-than", "nan", NULL};
  expect_usage(v13, "--older-than");
  /* What the server takes passes, at the edges too. */
  const char *ok1[] = {"echoctl", "kill", "18446744073709551615", NULL};
  expect_request(ok1,
                 "{\"session\":\"18446744073709551615\","
                 "\"cmd\":\"kill\"}");
  const char *ok2[] = {"echoctl", "log-level", "warning", NULL};
  expect_request(ok2, "{\"level\":\"warning\",\"cmd\":\"log-level\"}");
  const char *ok3[] = {"echoctl", "sessions", "--older-than", "30d", "--limit",
                       "100000",  "--state",  "closing",      NULL};
  expect_request(ok3,
                 "{\"older_than\":2592000,\"limit\":100000,"
                 "\"state\":\"closing\",\"cmd\":\"sessions\"}");
  const char *ok4[] = {"echoctl", "drain", "--timeout", "0", NULL};
  expect_request(ok4, "{\"timeout\":0,\"cmd\":\"drain\"}");
  const char *ok5[] = {"echoctl",    "drain",  "--delay", "5s",
                       "--sessions", "finish", NULL};
  expect_request(ok5,
                 "{\"delay\":5,\"sessions\":\"finish\",\"cmd\":\"drain\"}");
  const char *ok6[] = {"echoctl", "upgrade", NULL};
  expect_request(ok6, "{\"cmd\":\"upgrade\"}");
  const char *bad5[] = {"echoctl", "drain", "--sessions", "later", NULL};
  expect_usage(bad5, "drain --sessions is close or finish");
  const char *bad6[] = {"echoctl", "drain", "--delay", "soon", NULL};
  expect_usage(bad6, "drain --delay needs a duration");
}

/* test_paths_and_version: --socket and --state-dir relative to where the
 * command ran ($BUILD_WORKING_DIRECTORY under `bazel run`); --version. */
static void test_paths_and_version(void) {
  struct ed_echoctl_args a;
  setenv("BUILD_WORKING_DIRECTORY", "/home/u", 1);
  const char *s1[] = {"echoctl", "--socket", "run/a.sock", "status", NULL};
  CHECK_EQ(parse(&a, s1), 0);
  CHECK_STR(a.socket, "/home/u/run/a.sock");
  ed_echoctl_args_cleanup(&a);
  const char *s2[] = {"echoctl", "--state-dir=st", "status", NULL};
  CHECK_EQ(parse(&a, s2), 0);
  CHECK_STR(a.socket, "/home/u/st/admin.sock");
  ed_echoctl_args_cleanup(&a);
  unsetenv("BUILD_WORKING_DIRECTORY");
  const char *v[] = {"echoctl", "--version", NULL};
  CHECK_EQ(parse(&a, v), 0);
  CHECK_EQ(a.version, 1);
  ed_echoctl_args_cleanup(&a);
}

/* test_escape: control bytes, C1 and bidi controls, bad UTF-8 become \xNN;
 * printable text and UTF-8 pass; a backslash is doubled. */
static void test_escape(void) {
  struct {
    const char *in, *want;
    int keep_nl;
  } cases[] = {
      {"alice", "alice", 0},
      {"a, \"b\" c", "a, \"b\" c", 0},
      {"\x1b]0;owned\x07\x1b[2J", "\\x1b]0;owned\\x07\\x1b[2J", 0},
      {"line\nbreak\r", "line\\x0abreak\\x0d", 0},
      {"keep\nthis\r", "keep\nthis\\x0d", 1},
      {"del\x7f", "del\\x7f", 0},
      {"back\\slash", "back\\\\slash", 0},
      {"caf\xc3\xa9 \xe2\x9c\x93", "caf\xc3\xa9 \xe2\x9c\x93", 0},
      {"c1 \xc2\x9b"
       "31m",
       "c1 \\xc2\\x9b31m", 0},
      {"raw \x9b", "raw \\x9b", 0},
      {"rlo \xe2\x80\xaetxt", "rlo \\xe2\\x80\\xaetxt", 0},
      {"cut \xe2\x9c", "cut \\xe2\\x9c", 0},
      {"overlong \xc0\xaf", "overlong \\xc0\\xaf", 0},
      {"", "", 0},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char *got = ed_echoctl_escape(cases[i].in, cases[i].keep_nl);
    CHECK_STR(got, cases[i].want);
    free(got);
  }
  char *n = ed_echoctl_escape(NULL, 0);
  CHECK_STR(n, "");
  free(n);
}

/* utf8 writes |cp| as UTF-8 into |out| (5 bytes); returns |out|. */
static char *utf8(char *out, uint32_t cp) {
  size_t n = 0;
  if (cp < 0x80) {
    out[n++] = (char)cp;
  } else if (cp < 0x800) {
    out[n++] = (char)(0xc0 | cp >> 6);
    out[n++] = (char)(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out[n++] = (char)(0xe0 | cp >> 12);
    out[n++] = (char)(0x80 | (cp >> 6 & 0x3f));
    out[n++] = (char)(0x80 | (cp & 0x3f));
  } else {
    out[n++] = (char)(0xf0 | cp >> 18);
    out[n++] = (char)(0x80 | (cp >> 12 & 0x3f));
    out[n++] = (char)(0x80 | (cp >> 6 & 0x3f));
    out[n++] = (char)(0x80 | (cp & 0x3f));
  }
  out[n] = '\0';
  return out;
}

/* Invisible and format characters are escaped, each range's first and
 * last code point; their visible neighbours, homoglyphs and emoji are
 * not. Before: the zero-width characters, soft hyphen, BOM, word joiner,
 * variation selectors and tag characters (and more) were shown raw, so
 * "ali\u200bce" printed as "alice". */
static void test_escape_hidden(void) {
  static const uint32_t hidden[] = {
      0x80,    0x9f,    0xad,    0x34f,   0x600,   0x605,   0x61c,   0x6dd,
      0x70f,   0x890,   0x891,   0x8e2,   0x115f,  0x1160,  0x17b4,  0x17b5,
      0x180b,  0x180e,  0x180f,  0x200b,  0x200c,  0x200d,  0x200e,  0x200f,
      0x2028,  0x2029,  0x202a,  0x202e,  0x2060,  0x2064,  0x2066,  0x2069,
      0x206f,  0x3164,  0xfe00,  0xfe0f,  0xfeff,  0xffa0,  0xfff9,  0xfffb,
      0x110bd, 0x110cd, 0x13430, 0x1343f, 0x1bca0, 0x1bca3, 0x1d173, 0x1d17a,
      0xe0000, 0xe0001, 0xe0041, 0xe007f, 0xe0100, 0xe01ef, 0xe0fff};
  static const uint32_t shown[] = {
      0xa0,   0xac,    0xae,    0xe9,    0x34e,   0x350,  0x430,
      0x5ff,  0x606,   0x200a,  0x2010,  0x2027,  0x202f, 0x205f,
      0x2070, 0x3163,  0x3165,  0xfdff,  0xfe10,  0xfefe, 0xff41,
      0xfffc, 0x110bc, 0x1d172, 0x1d17b, 0xe1000, 0x1f600};
  for (size_t i = 0; i < sizeof(hidden) / sizeof(hidden[0]); i++) {
    char in[8], want[32] = "";
    utf8(in, hidden[i]);
    for (size_t k = 0; in[k]; k++)
      snprintf(want + strlen(want), 5, "\\x%02x", (unsigned char)in[k]);
    char *got = ed_echoctl_escape(in, 0);
    CHECK_STR(got, want);
    if (strcmp(got, want) != 0) fprintf(stderr, "  U+%04X\n", hidden[i]);
    free(got);
  }
  for (size_t i = 0; i < sizeof(shown) / sizeof(shown[0]); i++) {
    char in[8];
    char *got = ed_echoctl_escape(utf8(in, shown[i]), 0);
    CHECK_STR(got, in);
    free(got);
  }
  /* The reviewer's names: each shows what is hidden in it. */
  char *z = ed_echoctl_escape(
      "ali\xe2\x80\x8b"
      "ce",
      0);
  CHECK_STR(z,
            "ali\\xe2\\x80\\x8b"
            "ce");
  free(z);
  z = ed_echoctl_escape("alice\xf3\xa0\x81\x81", 0);
  CHECK_STR(z, "alice\\xf3\\xa0\\x81\\x81");
  free(z);
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
  CHECK(strstr(s, "open sessions") == NULL);
  free(s);
  s = render("reload",
             "{\"checked\":true,\"published\":true,\"server\":"
             "{\"subject\":\"CN=x\",\"serial\":\"01\","
             "\"seconds_to_expiry\":60},\"recheck\":\"done\","
             "\"sessions_checked\":3,\"sessions_closed\":1}");
  CHECK(strstr(s, "reloaded: serving CN=x") != NULL);
  CHECK(strstr(s, "open sessions: 3 re-checked, 1 closed\n") != NULL);
  free(s);
  s = render("reload",
             "{\"published\":true,\"server\":{},\"recheck\":\"off\","
             "\"sessions_checked\":0,\"sessions_closed\":0}");
  CHECK(strstr(s, "--keep-sessions-on-reload") != NULL);
  free(s);
}

/* test_print_hostile: a CN and SANs carrying escape sequences and a
 * newline are shown escaped in the table, the detail view, certs and
 * errors: no raw control byte reaches the output. */
static void test_print_hostile(void) {
  static const char *const evil = "\\u001b[31mred\\nroot\\u0007\\u009b";
  char json[2048];
  snprintf(json, sizeof(json),
           "{\"sessions\":[{\"id\":1,\"state\":\"established\","
           "\"peer\":\"127.0.0.1:1\",\"cn\":\"%s\"}],\"count\":1}",
           evil);
  const char *cmds[] = {"sessions", "session", "certs"};
  for (int k = 0; k < 3; k++) {
    if (k == 1)
      snprintf(json, sizeof(json),
               "{\"session\":{\"id\":1,\"cn\":\"%s\",\"peer\":\"%s\","
               "\"sans\":[\"URI:%s\",{\"type\":\"DNS\",\"value\":\"%s\"}]}}",
               evil, evil, evil, evil);
    if (k == 2)
      snprintf(json, sizeof(json),
               "{\"server\":{\"subject\":\"CN=%s\",\"sans\":[\"DNS:%s\"]},"
               "\"files\":{\"cert\":\"%s\"}}",
               evil, evil, evil);
    char *out = render(cmds[k], json);
    CHECK(out != NULL);
    if (!out) continue;
    for (const char *p = out; *p; p++) {
      unsigned char c = (unsigned char)*p;
      CHECK(c >= 0x20 || c == '\n');
      CHECK(c != 0x7f && c != 0xc2);
    }
    CHECK(strstr(out, "\\x1b[31mred\\x0aroot\\x07\\xc2\\x9b") != NULL);
    if (!strstr(out, "\\x1b[31mred")) fprintf(stderr, "  got: %s\n", out);
    free(out);
  }
}

/* certs names the --allow-file when the server has one. */
static void test_certs_allow_file(void) {
  char *s = render("certs",
                   "{\"files\":{\"cert\":\"/c\",\"allow_file\":"
                   "\"/etc/echod/allow\"}}");
  CHECK(s && strstr(s, "allow file    /etc/echod/allow\n") != NULL);
  free(s);
  s = render("certs", "{\"files\":{\"cert\":\"/c\",\"allow_file\":null}}");
  CHECK(s && strstr(s, "allow file") == NULL);
  free(s);
}

/* SANs are objects; each prints on its own row, so a value holding a
 * comma and "URI:" reads as what it is: one SAN. */
static void test_print_sans(void) {
  char *s =
      render("session",
             "{\"session\":{\"id\":3,\"state\":\"established\",\"cn\":\"m\","
             "\"sans\":[{\"type\":\"URI\",\"value\":\"spiffe://echod/mallory,"
             "URI:spiffe://echod/"
             "admin\"},{\"type\":\"DNS\",\"value\":\"m.example\"}]}}");
  CHECK(strstr(s,
               "SANs          URI:spiffe://echod/mallory,URI:spiffe://"
               "echod/admin\n              DNS:m.example\n") != NULL);
  if (!strstr(s, "DNS:m.example")) fprintf(stderr, "%s", s);
  free(s);
  s = render("session", "{\"session\":{\"id\":3,\"sans\":[]}}");
  CHECK(strstr(s, "SANs          -\n") != NULL);
  free(s);
  s = render("certs",
             "{\"server\":{\"subject\":\"CN=s\",\"sans\":[{\"type\":\"IP\","
             "\"value\":\"::1\"},{\"type\":\"email\",\"value\":\"a,b@x\"}]},"
             "\"ca\":{\"sans\":[]},\"crl\":null}");
  CHECK(strstr(s, "  SANs        IP:::1\n              email:a,b@x\n") != NULL);
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
  CHECK_EQ(ed_echoctl_main(4, (char **)argv, devnull, devnull, NULL),
           ED_ECHOCTL_EXIT_UNREACHABLE);
  const char *bad[] = {"echoctl", "frobnicate", NULL};
  CHECK_EQ(ed_echoctl_main(2, (char **)bad, devnull, devnull, NULL),
           ED_ECHOCTL_EXIT_USAGE);
  /* A bad argument is refused before any connection: exit 2, not 3, with
   * a socket nobody listens on. */
  const char *st[] = {"echoctl",  "--socket", "/nonexistent/x.sock",
                      "sessions", "--state",  "bogus",
                      NULL};
  CHECK_EQ(ed_echoctl_main(6, (char **)st, devnull, devnull, NULL),
           ED_ECHOCTL_EXIT_USAGE);
  const char *lv[] = {"echoctl",   "--socket", "/nonexistent/x.sock",
                      "log-level", "chatty",   NULL};
  CHECK_EQ(ed_echoctl_main(5, (char **)lv, devnull, devnull, NULL),
           ED_ECHOCTL_EXIT_USAGE);
  const char *ver[] = {"echoctl", "--version", NULL};
  char *text = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&text, &len);
  CHECK_EQ(ed_echoctl_main(2, (char **)ver, mem, devnull, "echoctl 9.9 (x)"),
           ED_ECHOCTL_EXIT_OK);
  fclose(mem);
  CHECK_STR(text, "echoctl 9.9 (x)\n");
  free(text);
  fclose(devnull);
}

int main(void) {
  RUN(test_args);
  RUN(test_usage_errors);
  RUN(test_local_validation);
  RUN(test_paths_and_version);
  RUN(test_escape);
  RUN(test_print_hostile);
  RUN(test_escape_hidden);
  RUN(test_human);
  RUN(test_print_sessions);
  RUN(test_print_others);
  RUN(test_print_sans);
  RUN(test_certs_allow_file);
  RUN(test_unreachable);
  return TEST_RESULT();
}

/* Unit tests for the admin protocol parser and reply envelope. */
#include "internal/admin/proto.h"

#include <stdlib.h>
#include <string.h>

#include "internal/base/base.h"
#include "internal/testing/testing.h"

static char err[256];

static enum ed_admin_err parse(struct ed_admin_request *r, const char *s) {
  return ed_admin_parse(r, s, strlen(s), err, sizeof(err));
}

/* Parses |s|, expects |code|, and checks the message mentions |needle|. */
static void expect_err(const char *s, enum ed_admin_err code,
                       const char *needle) {
  struct ed_admin_request r;
  enum ed_admin_err e = parse(&r, s);
  CHECK_EQ(e, code);
  if (e != code) fprintf(stderr, "  input: %s\n  got: %s\n", s, err);
  CHECK(strstr(err, needle) != NULL);
  if (!strstr(err, needle)) fprintf(stderr, "  message: %s\n", err);
  ed_admin_request_cleanup(&r);
}

static void test_command_names(void) {
  CHECK_STR(ed_admin_cmd_name(ED_ADMIN_LOG_LEVEL), "log-level");
  CHECK_STR(ed_admin_cmd_name(ED_ADMIN_UNKNOWN), "unknown");
  CHECK_EQ(ed_admin_cmd_parse("log-level"), ED_ADMIN_LOG_LEVEL);
  CHECK_EQ(ed_admin_cmd_parse("unknown"), ED_ADMIN_UNKNOWN);
  CHECK_EQ(ed_admin_cmd_parse(NULL), ED_ADMIN_UNKNOWN);
}

static void test_every_command(void) {
  static const char *const cmds[] = {"status", "certs", "version",  "metrics",
                                     "reload", "drain", "log-level"};
  for (size_t i = 0; i < sizeof(cmds) / sizeof(*cmds); i++) {
    char line[64];
    struct ed_admin_request r;
    snprintf(line, sizeof(line), "{\"cmd\":\"%s\"}", cmds[i]);
    CHECK_EQ(parse(&r, line), ED_ADMIN_OK);
    CHECK_STR(ed_admin_cmd_name(r.cmd), cmds[i]);
    CHECK(r.id == NULL);
    ed_admin_request_cleanup(&r);
  }
}

static void test_sessions(void) {
  struct ed_admin_request r;
  CHECK_EQ(parse(&r, "{\"cmd\":\"sessions\"}"), ED_ADMIN_OK);
  CHECK_EQ(r.u.sessions.limit, ED_ADMIN_SESSIONS_DEFAULT_LIMIT);
  CHECK(r.u.sessions.cn == NULL);
  CHECK_EQ(r.u.sessions.has_state, 0);
  ed_admin_request_cleanup(&r);

  CHECK_EQ(parse(&r,
                 " {\"cmd\":\"sessions\",\"cn\":\"alice\",\"state\":"
                 "\"established\",\"older_than\":1.5,\"limit\":10}\r"),
           ED_ADMIN_OK);
  CHECK_EQ(r.cmd, ED_ADMIN_SESSIONS);
  CHECK_STR(r.u.sessions.cn, "alice");
  CHECK_EQ(r.u.sessions.has_state, 1);
  CHECK_EQ(r.u.sessions.state, ED_SESSION_ESTABLISHED);
  CHECK_EQ(r.u.sessions.older_than_ms, 1500);
  CHECK_EQ(r.u.sessions.limit, 10);
  ed_admin_request_cleanup(&r);

  expect_err("{\"cmd\":\"sessions\",\"limit\":0}", ED_ADMIN_ERR_BAD_REQUEST,
             "\"limit\"");
  expect_err("{\"cmd\":\"sessions\",\"limit\":2.5}", ED_ADMIN_ERR_BAD_REQUEST,
             "integer");
  expect_err("{\"cmd\":\"sessions\",\"limit\":\"5\"}", ED_ADMIN_ERR_BAD_REQUEST,
             "\"limit\"");
  expect_err("{\"cmd\":\"sessions\",\"state\":\"sleeping\"}",
             ED_ADMIN_ERR_BAD_REQUEST, "\"state\"");
  expect_err("{\"cmd\":\"sessions\",\"older_than\":-1}",
             ED_ADMIN_ERR_BAD_REQUEST, "\"older_than\"");
  expect_err("{\"cmd\":\"sessions\",\"older_than\":1e400}",
             ED_ADMIN_ERR_BAD_REQUEST, "\"older_than\"");
  expect_err("{\"cmd\":\"sessions\",\"cn\":7}", ED_ADMIN_ERR_BAD_REQUEST,
             "\"cn\" must be a string");
  expect_err("{\"cmd\":\"sessions\",\"cn\":\"\"}", ED_ADMIN_ERR_BAD_REQUEST,
             "empty");
  expect_err("{\"cmd\":\"sessions\",\"olderthan\":5}", ED_ADMIN_ERR_BAD_REQUEST,
             "unknown field \"olderthan\"");
}

static void test_session_and_kill(void) {
  struct ed_admin_request r;
  CHECK_EQ(parse(&r, "{\"cmd\":\"session\",\"session\":42}"), ED_ADMIN_OK);
  CHECK_EQ(r.u.session.id, 42);
  ed_admin_request_cleanup(&r);
  CHECK_EQ(
      parse(&r, "{\"cmd\":\"session\",\"session\":\"18446744073709551615\"}"),
      ED_ADMIN_OK);
  CHECK(r.u.session.id == UINT64_MAX);
  ed_admin_request_cleanup(&r);
  expect_err("{\"cmd\":\"session\"}", ED_ADMIN_ERR_BAD_REQUEST,
             "missing field \"session\"");
  expect_err("{\"cmd\":\"session\",\"session\":0}", ED_ADMIN_ERR_BAD_REQUEST,
             "\"session\"");
  expect_err("{\"cmd\":\"session\",\"session\":\"18446744073709551616\"}",
             ED_ADMIN_ERR_BAD_REQUEST, "positive integer");
  expect_err("{\"cmd\":\"session\",\"session\":\"12a\"}",
             ED_ADMIN_ERR_BAD_REQUEST, "positive integer");
  expect_err("{\"cmd\":\"session\",\"session\":true}", ED_ADMIN_ERR_BAD_REQUEST,
             "positive integer");

  CHECK_EQ(parse(&r, "{\"cmd\":\"kill\",\"session\":7}"), ED_ADMIN_OK);
  CHECK_EQ(r.u.kill.id, 7);
  CHECK(r.u.kill.cn == NULL);
  ed_admin_request_cleanup(&r);
  CHECK_EQ(parse(&r, "{\"cmd\":\"kill\",\"cn\":\"bob\"}"), ED_ADMIN_OK);
  CHECK_STR(r.u.kill.cn, "bob");
  CHECK_EQ(r.u.kill.id, 0);
  ed_admin_request_cleanup(&r);
  expect_err("{\"cmd\":\"kill\"}", ED_ADMIN_ERR_BAD_REQUEST, "exactly one");
  expect_err("{\"cmd\":\"kill\",\"session\":1,\"cn\":\"x\"}",
             ED_ADMIN_ERR_BAD_REQUEST, "exactly one");
  expect_err("{\"cmd\":\"kill\",\"cn\":null}", ED_ADMIN_ERR_BAD_REQUEST,
             "\"cn\" must be a string");
}

/* The fleet's fields: drain's delay and sessions, upgrade (nothing to
 * choose), handover's token (64 lowercase hex digits, nothing else). */
static void test_fleet_commands(void) {
  struct ed_admin_request r;
  CHECK_EQ(parse(&r,
                 "{\"cmd\":\"drain\",\"delay\":1.5,\"sessions\":"
                 "\"finish\"}"),
           ED_ADMIN_OK);
  CHECK_EQ(r.u.drain.has_delay, 1);
  CHECK_EQ(r.u.drain.delay_ms, 1500);
  CHECK_EQ(r.u.drain.sessions, 2);
  ed_admin_request_cleanup(&r);
  CHECK_EQ(parse(&r, "{\"cmd\":\"drain\",\"sessions\":\"close\"}"),
           ED_ADMIN_OK);
  CHECK_EQ(r.u.drain.sessions, 1);
  CHECK_EQ(r.u.drain.has_delay, 0);
  ed_admin_request_cleanup(&r);
  expect_err("{\"cmd\":\"drain\",\"sessions\":\"later\"}",
             ED_ADMIN_ERR_BAD_REQUEST, "\"close\" or \"finish\"");
  CHECK_EQ(parse(&r, "{\"cmd\":\"upgrade\"}"), ED_ADMIN_OK);
  CHECK_EQ(r.cmd, ED_ADMIN_UPGRADE);
  ed_admin_request_cleanup(&r);
  expect_err("{\"cmd\":\"upgrade\",\"path\":\"/bin/sh\"}",
             ED_ADMIN_ERR_BAD_REQUEST, "unknown field");
  char line[200], hex[65];
  memset(hex, 'a', 64);
  hex[64] = '\0';
  snprintf(line, sizeof(line), "{\"cmd\":\"handover\",\"token\":\"%s\"}", hex);
  CHECK_EQ(parse(&r, line), ED_ADMIN_OK);
  CHECK_STR(r.u.handover.token, hex);
  ed_admin_request_cleanup(&r);
  hex[0] = 'A';
  snprintf(line, sizeof(line), "{\"cmd\":\"handover\",\"token\":\"%s\"}", hex);
  expect_err(line, ED_ADMIN_ERR_BAD_REQUEST, "64 lowercase hex digits");
  expect_err("{\"cmd\":\"handover\",\"token\":\"abc\"}",
             ED_ADMIN_ERR_BAD_REQUEST, "64 lowercase hex digits");
  expect_err("{\"cmd\":\"handover\"}", ED_ADMIN_ERR_BAD_REQUEST,
             "64 lowercase hex digits");
}

static void test_reload_drain_level(void) {
  struct ed_admin_request r;
  CHECK_EQ(parse(&r, "{\"cmd\":\"reload\",\"check\":true}"), ED_ADMIN_OK);
  CHECK_EQ(r.u.reload.check, 1);
  ed_admin_request_cleanup(&r);
  CHECK_EQ(parse(&r, "{\"cmd\":\"reload\",\"check\":false}"), ED_ADMIN_OK);
  CHECK_EQ(r.u.reload.check, 0);
  ed_admin_request_cleanup(&r);
  expect_err("{\"cmd\":\"reload\",\"check\":1}", ED_ADMIN_ERR_BAD_REQUEST,
             "true or false");

  CHECK_EQ(parse(&r, "{\"cmd\":\"drain\",\"timeout\":2}"), ED_ADMIN_OK);
  CHECK_EQ(r.u.drain.has_timeout, 1);
  CHECK_EQ(r.u.drain.timeout_ms, 2000);
  ed_admin_request_cleanup(&r);
  CHECK_EQ(parse(&r, "{\"cmd\":\"drain\"}"), ED_ADMIN_OK);
  CHECK_EQ(r.u.drain.has_timeout, 0);
  ed_admin_request_cleanup(&r);
  expect_err("{\"cmd\":\"drain\",\"timeout\":\"5s\"}", ED_ADMIN_ERR_BAD_REQUEST,
             "number of seconds");

  CHECK_EQ(parse(&r, "{\"cmd\":\"log-level\",\"level\":\"debug\"}"),
           ED_ADMIN_OK);
  CHECK_EQ(r.u.log_level.has_level, 1);
  CHECK_EQ(r.u.log_level.level, ED_LOG_DEBUG);
  ed_admin_request_cleanup(&r);
  expect_err("{\"cmd\":\"log-level\",\"level\":\"loud\"}",
             ED_ADMIN_ERR_BAD_REQUEST, "\"level\"");
}

static void test_ids(void) {
  static const char *const ids[] = {"7", "\"abc\"", "true", "null", "-1.5"};
  for (size_t i = 0; i < sizeof(ids) / sizeof(*ids); i++) {
    char line[80];
    struct ed_admin_request r;
    snprintf(line, sizeof(line), "{\"id\":%s,\"cmd\":\"status\"}", ids[i]);
    CHECK_EQ(parse(&r, line), ED_ADMIN_OK);
    CHECK(r.id != NULL);
    char *reply = ed_admin_reply_ok(r.id, NULL);
    char want[120];
    snprintf(want, sizeof(want), "{\"id\":%s,\"ok\":true,\"result\":{}}\n",
             ids[i]);
    CHECK_STR(reply, want);
    free(reply);
    ed_admin_request_cleanup(&r);
  }
  expect_err("{\"id\":[1],\"cmd\":\"status\"}", ED_ADMIN_ERR_BAD_REQUEST,
             "\"id\"");
  /* The id survives a later error so the reply can carry it. */
  struct ed_admin_request r;
  CHECK_EQ(parse(&r, "{\"id\":9,\"cmd\":\"nope\"}"),
           ED_ADMIN_ERR_UNKNOWN_COMMAND);
  CHECK(cJSON_IsNumber(r.id) && r.id->valuedouble == 9);
  CHECK_EQ(r.cmd, ED_ADMIN_UNKNOWN);
  ed_admin_request_cleanup(&r);
  CHECK_EQ(parse(&r, "{\"id\":\"x\",\"cmd\":\"kill\"}"),
           ED_ADMIN_ERR_BAD_REQUEST);
  CHECK_EQ(r.cmd, ED_ADMIN_KILL); /* counted under kill */
  CHECK(cJSON_IsString(r.id));
  ed_admin_request_cleanup(&r);
}

static void test_bad_input(void) {
  expect_err("", ED_ADMIN_ERR_BAD_REQUEST, "empty");
  expect_err("   \r", ED_ADMIN_ERR_BAD_REQUEST, "empty");
  expect_err("status", ED_ADMIN_ERR_BAD_REQUEST, "not valid JSON");
  expect_err("{\"cmd\":\"status\"", ED_ADMIN_ERR_BAD_REQUEST, "not valid JSON");
  expect_err("[\"status\"]", ED_ADMIN_ERR_BAD_REQUEST, "JSON object");
  expect_err("\"status\"", ED_ADMIN_ERR_BAD_REQUEST, "JSON object");
  expect_err("42", ED_ADMIN_ERR_BAD_REQUEST, "JSON object");
  expect_err("{}", ED_ADMIN_ERR_BAD_REQUEST, "missing field \"cmd\"");
  expect_err("{\"cmd\":1}", ED_ADMIN_ERR_BAD_REQUEST, "must be a string");
  expect_err("{\"cmd\":\"reboot\"}", ED_ADMIN_ERR_UNKNOWN_COMMAND, "reboot");
  expect_err("{\"cmd\":\"unknown\"}", ED_ADMIN_ERR_UNKNOWN_COMMAND, "unknown");
  expect_err("{\"cmd\":\"STATUS\"}", ED_ADMIN_ERR_UNKNOWN_COMMAND, "STATUS");
  expect_err("{\"cmd\":\"status\"} {\"cmd\":\"status\"}",
             ED_ADMIN_ERR_BAD_REQUEST, "trailing data");
  expect_err("{\"cmd\":\"status\",\"cmd\":\"kill\"}", ED_ADMIN_ERR_BAD_REQUEST,
             "duplicate");
  expect_err("{\"cmd\":\"status\",\"verbose\":true}", ED_ADMIN_ERR_BAD_REQUEST,
             "unknown field \"verbose\"");
  /* Embedded NUL: the line is taken by length, not by C string. */
  struct ed_admin_request r;
  static const char nul[] = "{\"cmd\":\"status\"}\0garbage";
  CHECK_EQ(ed_admin_parse(&r, nul, sizeof(nul) - 1, err, sizeof(err)),
           ED_ADMIN_ERR_BAD_REQUEST);
  CHECK(strstr(err, "NUL") != NULL);
  ed_admin_request_cleanup(&r);
  /* A NUL escaped inside a string: cJSON's string would end there, and
   * kill would act on "dev-client". Before: accepted as dev-client. */
  expect_err("{\"cmd\":\"kill\",\"cn\":\"dev-client\\u0000zzz\"}",
             ED_ADMIN_ERR_BAD_REQUEST, "field \"cn\" holds a NUL");
  expect_err("{\"cmd\":\"sessions\",\"cn\":\"\\u0000\"}",
             ED_ADMIN_ERR_BAD_REQUEST, "field \"cn\" holds a NUL");
  expect_err("{\"cmd\":\"status\\u0000x\"}", ED_ADMIN_ERR_BAD_REQUEST,
             "field \"cmd\" holds a NUL");
  expect_err("{\"cmd\":\"status\",\"id\":\"a\\u0000\"}",
             ED_ADMIN_ERR_BAD_REQUEST, "field \"id\" holds a NUL");
  expect_err("{\"cmd\":\"kill\",\"cn\\u0000x\":\"a\"}",
             ED_ADMIN_ERR_BAD_REQUEST, "holds a NUL");
  /* An escaped backslash followed by u0000 is six characters of text. */
  CHECK_EQ(parse(&r, "{\"cmd\":\"kill\",\"cn\":\"a\\\\u0000\"}"), ED_ADMIN_OK);
  CHECK_STR(r.u.kill.cn, "a\\u0000");
  ed_admin_request_cleanup(&r);
  /* Not NUL-terminated: parse must stay inside |len|. */
  char *exact = ed_malloc(17);
  memcpy(exact, "{\"cmd\":\"version\"}", 17);
  CHECK_EQ(ed_admin_parse(&r, exact, 17, err, sizeof(err)), ED_ADMIN_OK);
  CHECK_EQ(r.cmd, ED_ADMIN_VERSION);
  ed_admin_request_cleanup(&r);
  free(exact);
}

static void test_too_large(void) {
  size_t n = ED_ADMIN_MAX_LINE + 1;
  char *big = ed_malloc(n);
  memset(big, ' ', n);
  memcpy(big, "{\"cmd\":\"status\"}", 16);
  struct ed_admin_request r;
  CHECK_EQ(ed_admin_parse(&r, big, n, err, sizeof(err)),
           ED_ADMIN_ERR_TOO_LARGE);
  ed_admin_request_cleanup(&r);
  /* Exactly the limit is fine. */
  CHECK_EQ(ed_admin_parse(&r, big, n - 1, err, sizeof(err)), ED_ADMIN_OK);
  ed_admin_request_cleanup(&r);
  free(big);
}

static void test_deep_nesting(void) {
  /* Deep arrays must fail cleanly, not exhaust the stack. */
  size_t depth = 5000;
  char *s = ed_malloc(2 * depth + 32);
  size_t n = 0;
  n += (size_t)sprintf(s, "{\"cmd\":\"status\",\"x\":");
  for (size_t i = 0; i < depth; i++) s[n++] = '[';
  for (size_t i = 0; i < depth; i++) s[n++] = ']';
  s[n++] = '}';
  struct ed_admin_request r;
  CHECK_EQ(ed_admin_parse(&r, s, n, err, sizeof(err)),
           ED_ADMIN_ERR_BAD_REQUEST);
  ed_admin_request_cleanup(&r);
  free(s);
}

static void test_reply_error(void) {
  cJSON *id = cJSON_CreateString("q\"1");
  char *s = ed_admin_reply_error(id, ED_ADMIN_ERR_NOT_FOUND, "no session 5");
  CHECK_STR(s,
            "{\"id\":\"q\\\"1\",\"ok\":false,\"error\":{\"code\":\"not_found\","
            "\"message\":\"no session 5\"}}\n");
  free(s);
  cJSON_Delete(id);
  s = ed_admin_reply_error(NULL, ED_ADMIN_ERR_TOO_LARGE, "big");
  CHECK_STR(s,
            "{\"ok\":false,\"error\":{\"code\":\"too_large\",\"message\":"
            "\"big\"}}\n");
  free(s);
  cJSON *res = cJSON_CreateObject();
  cJSON_AddNumberToObject(res, "n", 3);
  s = ed_admin_reply_ok(NULL, res);
  CHECK_STR(s, "{\"ok\":true,\"result\":{\"n\":3}}\n");
  free(s);
  CHECK_STR(ed_admin_err_name(ED_ADMIN_ERR_BAD_REQUEST), "bad_request");
  CHECK_STR(ed_admin_err_name(ED_ADMIN_ERR_RELOAD_FAILED), "reload_failed");
  CHECK_STR(ed_admin_err_name(ED_ADMIN_ERR_FORBIDDEN), "forbidden");
}

int main(void) {
  RUN(test_command_names);
  RUN(test_every_command);
  RUN(test_sessions);
  RUN(test_session_and_kill);
  RUN(test_reload_drain_level);
  RUN(test_fleet_commands);
  RUN(test_ids);
  RUN(test_bad_input);
  RUN(test_too_large);
  RUN(test_deep_nesting);
  RUN(test_reply_error);
  return TEST_RESULT();
}

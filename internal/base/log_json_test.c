/* Unit tests for --log-format json: ed_log_json_from_logfmt (escaping,
 * ed_logq round trips, invalid UTF-8, truncation) and ed_log's JSON line
 * on stderr. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal/base/base.h"
#include "internal/testing/testing.h"

static char out[ED_LOG_JSON_MAX];

static const char *conv(const char *line) {
  ed_log_json_from_logfmt(out, sizeof(out), line, strlen(line));
  return out;
}

/* Like conv, for lines holding NUL-free bytes given with a length. */
static const char *conv_n(const char *line, size_t len) {
  ed_log_json_from_logfmt(out, sizeof(out), line, len);
  return out;
}

static void test_fields_in_order(void) {
  CHECK_STR(conv("ts=2026-11-26T12:00:00.123Z level=info msg=\"session "
                 "closed\" id=7 peer=127.0.0.1:50312 reason=client_close"),
            "{\"ts\":\"2026-11-26T12:00:00.123Z\",\"level\":\"info\","
            "\"msg\":\"session closed\",\"id\":\"7\","
            "\"peer\":\"127.0.0.1:50312\",\"reason\":\"client_close\"}");
  CHECK_STR(conv(""), "{}");
  CHECK_STR(conv("   "), "{}");
  CHECK_STR(conv("k= e=\"\""), "{\"k\":\"\",\"e\":\"\"}");
  CHECK_STR(conv("a=b=c"), "{\"a\":\"b=c\"}");
  CHECK_STR(conv("=v"), "{\"\":\"v\"}");
}

static void test_logq_escapes_undone(void) {
  /* What ed_logq writes for quotes, backslashes, newline, tab, control
   * bytes and DEL, back to JSON's own escapes. */
  CHECK_STR(conv("k=\"a\\\"b\\\\c\\nd\\te\\x01f\\x7fg\\x1b\""),
            "{\"k\":\"a\\\"b\\\\c\\nd\\te\\u0001f\\u007fg\\u001b\"}");
  /* An escape ed_logq never writes is kept as it is. */
  CHECK_STR(conv("k=\"a\\qb\\x4\""), "{\"k\":\"a\\\\qb\\\\x4\"}");
  /* \r arrives as \x0d and leaves as JSON's \r. */
  CHECK_STR(conv("k=\"\\x0d\""), "{\"k\":\"\\r\"}");
  /* A line cut inside a quoted value: the value runs to the end. */
  CHECK_STR(conv("k=\"abc def"), "{\"k\":\"abc def\"}");
  CHECK_STR(conv("k=\"abc\\"), "{\"k\":\"abc\\\\\"}");
}

static void test_unquoted_values_with_spaces(void) {
  /* "err=%s" with a strerror text: the words stay one value. */
  CHECK_STR(conv("msg=x err=no such file  or dir path=/a b"),
            "{\"msg\":\"x\",\"err\":\"no such file  or dir\","
            "\"path\":\"/a b\"}");
  /* A word after a quoted value, or first on the line, is a key. */
  CHECK_STR(conv("k=\"v\" word last"),
            "{\"k\":\"v\",\"word\":\"\",\"last\":\"\"}");
  CHECK_STR(conv("word k=v"), "{\"word\":\"\",\"k\":\"v\"}");
}

static void test_raw_bytes(void) {
  /* Raw control bytes (a call site that did not use ed_logq). */
  CHECK_STR(conv("k=a\x01\x1f"), "{\"k\":\"a\\u0001\\u001f\"}");
  CHECK_STR(conv("\x02=\x03"), "{\"\\u0002\":\"\\u0003\"}");
  /* Valid UTF-8 passes; U+2028 and U+2029 are escaped. */
  CHECK_STR(conv("k=\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\""),
            "{\"k\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}");
  CHECK_STR(conv("k=\xe2\x80\xa8\xe2\x80\xa9"), "{\"k\":\"\\u2028\\u2029\"}");
  /* Invalid UTF-8: every byte that does not start a valid sequence is
   * U+FFFD — a lone continuation byte, 0xff, an overlong '/', a
   * surrogate, a code point past U+10FFFF and a sequence cut short. */
#define R "\xef\xbf\xbd"
  CHECK_STR(conv("k=\x80"), "{\"k\":\"" R "\"}");
  CHECK_STR(conv("k=\xff"), "{\"k\":\"" R "\"}");
  CHECK_STR(conv("k=\xc0\xaf"), "{\"k\":\"" R R "\"}");
  CHECK_STR(conv("k=\xed\xa0\x80"), "{\"k\":\"" R R R "\"}");
  CHECK_STR(conv("k=\xf4\x90\x80\x80"), "{\"k\":\"" R R R R "\"}");
  CHECK_STR(conv("k=a\xe2\x82"), "{\"k\":\"a" R R "\"}");
  CHECK_STR(conv("k=\"\xe2\x82\" n=1"), "{\"k\":\"" R R "\",\"n\":\"1\"}");
  /* ... also when it comes from a \xNN escape, and in keys. */
  CHECK_STR(conv("k=\"\\xff\""), "{\"k\":\"" R "\"}");
  CHECK_STR(conv("\xfe=1"), "{\"" R "\":\"1\"}");
#undef R
  /* A NUL inside the given length (a \x00 escape or a raw one). */
  CHECK_STR(conv("k=\"\\x00\""), "{\"k\":\"\\u0000\"}");
  CHECK_STR(conv_n("k=a\0b", 5), "{\"k\":\"a\\u0000b\"}");
}

/* Every string ed_logq quotes comes back unchanged through JSON: bytes
 * 0x01..0x7f in random order and length, plus valid UTF-8. */
static void test_round_trip(void) {
  srand(7);
  for (int round = 0; round < 2000; round++) {
    char value[64], q[512], line[600];
    size_t n = (size_t)(rand() % 40);
    for (size_t i = 0; i < n; i++) value[i] = (char)(1 + rand() % 127);
    value[n] = '\0';
    if (round % 5 == 0 && n + 3 < sizeof(value)) strcat(value, "\xc3\xa9");
    snprintf(line, sizeof(line), "msg=x k=%s n=1",
             ed_logq(q, sizeof(q), value));
    cJSON *j = cJSON_Parse(conv(line));
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(j, "k");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "n");
    int ok = cJSON_IsString(k) && strcmp(k->valuestring, value) == 0 &&
             cJSON_IsString(m) && strcmp(m->valuestring, "1") == 0;
    CHECK(ok);
    if (!ok) fprintf(stderr, "  line: %s\n  json: %s\n", line, out);
    cJSON_Delete(j);
    if (!ok) break;
  }
}

static void test_worst_case_fits(void) {
  /* The most a line can grow: one-byte control keys, each on its own. */
  static char line[ED_LOG_LINE_MAX];
  for (size_t i = 0; i + 1 < sizeof(line); i += 2) {
    line[i] = '\x01';
    line[i + 1] = ' ';
  }
  size_t n = ed_log_json_from_logfmt(out, sizeof(out), line, sizeof(line) - 2);
  CHECK(n < sizeof(out));
  CHECK(strstr(out, "truncated") == NULL);
  for (size_t i = 0; i + 3 < sizeof(line); i += 4)
    memcpy(line + i, "\x01=\x01 ", 4);
  n = ed_log_json_from_logfmt(out, sizeof(out), line, sizeof(line) - 2);
  CHECK(strstr(out, "truncated") == NULL);
  cJSON *j = cJSON_Parse(out);
  CHECK(j != NULL);
  cJSON_Delete(j);
}

static void test_truncation_keeps_json_valid(void) {
  char small[64];
  const char *line = "ts=1 level=info msg=\"a long message here\" k=v";
  size_t n = ed_log_json_from_logfmt(small, sizeof(small), line, strlen(line));
  CHECK_EQ(n, strlen(small));
  CHECK_STR(small, "{\"ts\":\"1\",\"level\":\"info\",\"truncated\":\"true\"}");
  CHECK_EQ(ed_log_json_from_logfmt(small, 31, line, strlen(line)), 0);
  CHECK_STR(small, "");
}

/* ed_log in json mode writes exactly one JSON line per call to fd 2. */
static void test_ed_log_writes_json(void) {
  int fds[2];
  CHECK_EQ(pipe(fds), 0);
  int saved = dup(2);
  dup2(fds[1], 2);
  ed_log_set_format(ED_LOG_JSON);
  char q[64];
  ED_WARN("disk \"full\"", "path=%s free=%d", ed_logq(q, sizeof(q), "/a b"), 0);
  ed_log_set_format(ED_LOG_LOGFMT);
  ED_INFO("plain", "k=%s", "v");
  dup2(saved, 2);
  close(saved);
  close(fds[1]);
  char got[1024] = "";
  ssize_t r, len = 0;
  while ((r = read(fds[0], got + len, sizeof(got) - 1 - (size_t)len)) > 0)
    len += r;
  close(fds[0]);
  got[len] = '\0';
  char *nl = strchr(got, '\n');
  CHECK(nl != NULL);
  if (!nl) return;
  *nl = '\0';
  CHECK(strncmp(got, "{\"ts\":\"", 7) == 0);
  const char *tail =
      ",\"level\":\"warn\",\"msg\":\"disk \\\"full\\\"\",\"path\":\"/a b\","
      "\"free\":\"0\"}";
  CHECK(strlen(got) > strlen(tail) &&
        strcmp(got + strlen(got) - strlen(tail), tail) == 0);
  CHECK(strstr(nl + 1, "level=info msg=plain k=v\n") != NULL);
}

static void test_format_names(void) {
  enum ed_log_format f = ED_LOG_JSON;
  CHECK_EQ(ed_log_format_parse(&f, "logfmt"), 0);
  CHECK_EQ(f, ED_LOG_LOGFMT);
  CHECK_EQ(ed_log_format_parse(&f, "json"), 0);
  CHECK_EQ(f, ED_LOG_JSON);
  CHECK_EQ(ed_log_format_parse(&f, "JSON"), ED_E_INVAL);
  CHECK_EQ(ed_log_format_parse(&f, NULL), ED_E_INVAL);
  CHECK_STR(ed_log_format_name(ED_LOG_JSON), "json");
  CHECK_STR(ed_log_format_name((enum ed_log_format)9), "unknown");
}

int main(void) {
  RUN(test_fields_in_order);
  RUN(test_logq_escapes_undone);
  RUN(test_unquoted_values_with_spaces);
  RUN(test_raw_bytes);
  RUN(test_round_trip);
  RUN(test_worst_case_fits);
  RUN(test_truncation_keeps_json_valid);
  RUN(test_ed_log_writes_json);
  RUN(test_format_names);
  return TEST_RESULT();
}

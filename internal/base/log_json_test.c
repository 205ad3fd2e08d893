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
  /* Valid UTF-8 leaves as \u escapes (a surrogate pair past U+FFFF), so
   * the line is ASCII: no raw U+2028/U+2029, bidi override (U+202E),
   * zero-width (U+200B) or tag character (U+E0041). */
  CHECK_STR(conv("k=\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\""),
            "{\"k\":\"caf\\u00e9 \\u20ac \\ud83d\\ude00\"}");
  CHECK_STR(conv("k=\xe2\x80\xa8\xe2\x80\xa9"), "{\"k\":\"\\u2028\\u2029\"}");
  CHECK_STR(conv("k=\"\\xe2\\x80\\xae\\xe2\\x80\\x8b\\xf3\\xa0\\x81\\x81\""),
            "{\"k\":\"\\u202e\\u200b\\udb40\\udc41\"}");
  CHECK_STR(conv("\xc3\xa9=\xef\xbf\xbf"), "{\"\\u00e9\":\"\\uffff\"}");
  /* Invalid UTF-8: every byte that does not start a valid sequence is
   * U+FFFD — a lone continuation byte, 0xff, an overlong '/', a
   * surrogate, a code point past U+10FFFF and a sequence cut short. */
#define R "\\ufffd"
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

/* capture runs |fn| with fd 2 going to a pipe and returns what it wrote
 * (malloc'd, NUL-terminated). Output must stay under the pipe's 64 KiB. */
static char *capture(void (*fn)(void)) {
  int fds[2];
  CHECK_EQ(pipe(fds), 0);
  int saved = dup(2);
  dup2(fds[1], 2);
  fn();
  dup2(saved, 2);
  close(saved);
  close(fds[1]);
  size_t cap = 1 << 16, len = 0;
  char *got = malloc(cap + 1);
  ssize_t r;
  while (len < cap && (r = read(fds[0], got + len, cap - len)) > 0)
    len += (size_t)r;
  close(fds[0]);
  got[len] = '\0';
  return got;
}

/* What the reviewer sent: a 2100-byte CN, 100 DNS SANs, 1100 quotes. */
static char long_cn[2101], quotes[1101], sans[100 * 48];

static void log_long_lines(void) {
  const char *cns[] = {long_cn, "manysans", quotes};
  const char *san[] = {"", sans, ""};
  for (int i = 0; i < 3; i++) {
    size_t qc = 4 * strlen(cns[i]) + 3, qs = 4 * strlen(san[i]) + 3;
    char *a = malloc(qc), *b = malloc(qs);
    ED_INFO("session closed",
            "id=%d peer=127.0.0.1:5 cn=%s sans=%s serial=0A1B version=TLSv1.3 "
            "bytes_in=5 bytes_out=5 duration_ms=1.000 reason=client_close",
            i, ed_logq(a, qc, cns[i]), ed_logq(b, qs, san[i]));
    free(a);
    free(b);
  }
}

/* check_line parses one line (logfmt through the converter, or JSON) and
 * checks every field is there and cn/sans are whole. */
static void check_line(const char *line, size_t len, int json, int i) {
  const char *cns[] = {long_cn, "manysans", quotes};
  const char *san[] = {"", sans, ""};
  char *j = malloc(6 * len + 64);
  if (!json) ed_log_json_from_logfmt(j, 6 * len + 64, line, len);
  cJSON *o = cJSON_ParseWithLength(json ? line : j, json ? len : strlen(j));
  const cJSON *cn = cJSON_GetObjectItemCaseSensitive(o, "cn");
  const cJSON *sa = cJSON_GetObjectItemCaseSensitive(o, "sans");
  const cJSON *re = cJSON_GetObjectItemCaseSensitive(o, "reason");
  const cJSON *se = cJSON_GetObjectItemCaseSensitive(o, "serial");
  CHECK(cJSON_IsString(cn) && strcmp(cn->valuestring, cns[i]) == 0);
  CHECK(cJSON_IsString(sa) && strcmp(sa->valuestring, san[i]) == 0);
  CHECK(cJSON_IsString(re) && strcmp(re->valuestring, "client_close") == 0);
  CHECK(cJSON_IsString(se) && strcmp(se->valuestring, "0A1B") == 0);
  CHECK(cJSON_GetObjectItemCaseSensitive(o, "truncated") == NULL);
  cJSON_Delete(o);
  free(j);
}

/* Lines longer than ED_LOG_LINE_MAX are written whole, one per write, in
 * both formats. Before: cut at 2046 bytes, losing serial=, reason= and
 * the closing quote. */
static void test_long_lines_whole(void) {
  memset(long_cn, 'A', sizeof(long_cn) - 1);
  memset(quotes, '"', sizeof(quotes) - 1);
  size_t o = 0;
  for (int i = 0; i < 100; i++)
    o += (size_t)snprintf(sans + o, sizeof(sans) - o,
                          "%sDNS:host-%03d.very-"
                          "long-subdomain.example.com",
                          i ? "," : "", i);
  for (int json = 0; json < 2; json++) {
    ed_log_set_format(json ? ED_LOG_JSON : ED_LOG_LOGFMT);
    char *got = capture(log_long_lines);
    ed_log_set_format(ED_LOG_LOGFMT);
    char *p = got;
    for (int i = 0; i < 3; i++) {
      char *nl = strchr(p, '\n');
      CHECK(nl != NULL);
      if (!nl) break;
      CHECK((size_t)(nl - p) > ED_LOG_LINE_MAX);
      check_line(p, (size_t)(nl - p), json, i);
      p = nl + 1;
    }
    CHECK_STR(p, "");
    free(got);
  }
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
  RUN(test_long_lines_whole);
  RUN(test_format_names);
  return TEST_RESULT();
}

/* Tests of the pure HTTP request-head parser. */
#include "internal/metrics/http.h"

#include <stdlib.h>
#include <string.h>

#include "internal/base/base.h"
#include "internal/testing/testing.h"

static int parse(struct ed_http_request *r, size_t *used, const char *s) {
  return ed_http_parse_request(r, used, s, strlen(s), ED_HTTP_MAX_HEAD);
}

static int path_eq(const struct ed_http_request *r, const char *p) {
  return r->path_len == strlen(p) && memcmp(r->path, p, r->path_len) == 0;
}

static void test_simple_get(void) {
  struct ed_http_request r;
  size_t used = 0;
  const char *s =
      "GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\nNEXT";
  CHECK_EQ(parse(&r, &used, s), 0);
  CHECK_EQ(used, strlen(s) - 4);
  CHECK_EQ(r.method, ED_HTTP_GET);
  CHECK(path_eq(&r, "/metrics"));
  CHECK_EQ(r.minor_version, 1);
  CHECK_EQ(r.keep_alive, 1);
  CHECK_EQ(r.has_body, 0);
}

static void test_versions_and_connection(void) {
  struct ed_http_request r;
  size_t used;
  CHECK_EQ(parse(&r, &used, "HEAD /healthz HTTP/1.0\r\n\r\n"), 0);
  CHECK_EQ(r.method, ED_HTTP_HEAD);
  CHECK_EQ(r.minor_version, 0);
  CHECK_EQ(r.keep_alive, 0);
  CHECK_EQ(parse(&r, &used, "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"),
           0);
  CHECK_EQ(r.keep_alive, 1);
  CHECK_EQ(parse(&r, &used,
                 "GET / HTTP/1.1\r\nHost: x\r\nConnection: foo, close\r\n\r\n"),
           0);
  CHECK_EQ(r.keep_alive, 0);
  /* Bare LF line ends and leading empty lines are tolerated. */
  CHECK_EQ(parse(&r, &used, "\r\n\nGET /readyz HTTP/1.1\nhost: x\n\n"), 0);
  CHECK(path_eq(&r, "/readyz"));
  CHECK_EQ(used, strlen("\r\n\nGET /readyz HTTP/1.1\nhost: x\n\n"));
}

static void test_other_method_and_body(void) {
  struct ed_http_request r;
  size_t used;
  CHECK_EQ(parse(&r, &used,
                 "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                 "\r\nhello"),
           0);
  CHECK_EQ(r.method, ED_HTTP_OTHER);
  CHECK_EQ(r.method_len, 4);
  CHECK_EQ(r.has_body, 1);
  CHECK_EQ(r.content_length, 5);
  CHECK_EQ(parse(&r, &used, "get / HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
  CHECK_EQ(r.method, ED_HTTP_OTHER); /* methods are case-sensitive */
  CHECK_EQ(parse(&r, &used,
                 "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                 "\r\n"),
           0);
  CHECK_EQ(r.has_body, 1);
  CHECK_EQ(parse(&r, &used,
                 "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                 "Content-Length: 0\r\n\r\n"),
           0);
  CHECK_EQ(r.has_body, 0);
}

static void test_malformed(void) {
  static const char *const bad[] = {
      "GET /metrics\r\n\r\n",                     /* HTTP/0.9 */
      "GET /metrics HTTP/2.0\r\nHost: x\r\n\r\n", /* unsupported */
      "GET /metrics HTTP/1.1\r\n\r\n",            /* no Host in 1.1 */
      "GET  /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /met rics HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /metrics HTTP/1.1 \r\nHost: x\r\n\r\n",
      "G(T / HTTP/1.1\r\nHost: x\r\n\r\n",
      " / HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
      "GET / HTTP/1.1\r\nHost x\r\n\r\n",
      "GET / HTTP/1.1\r\n: x\r\nHost: x\r\n\r\n",
      "GET / HTTP/1.1\r\nHo st: x\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: x\rY\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: \x01\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
      "Content-Length: 2\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n"
      "\r\n",
      "GET /\x80 HTTP/1.1\r\nHost: x\r\n\r\n",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    struct ed_http_request r;
    size_t used;
    int rc = parse(&r, &used, bad[i]);
    if (rc != ED_E_PARSE) fprintf(stderr, "case %zu: rc=%d\n", i, rc);
    CHECK_EQ(rc, ED_E_PARSE);
  }
}

/* Every proper prefix of a valid request asks for more; the whole parses. */
static void test_byte_at_a_time(void) {
  const char *s =
      "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9870\r\nUser-Agent: "
      "Prometheus/2.42.0\r\nAccept: text/plain\r\n\r\n";
  size_t n = strlen(s);
  for (size_t i = 0; i < n; i++) {
    struct ed_http_request r;
    size_t used;
    char *copy = ed_malloc(i + 1); /* exact size: ASan sees any overread */
    memcpy(copy, s, i);
    int rc = ed_http_parse_request(&r, &used, copy, i, ED_HTTP_MAX_HEAD);
    if (rc != ED_E_AGAIN) fprintf(stderr, "prefix %zu: rc=%d\n", i, rc);
    CHECK_EQ(rc, ED_E_AGAIN);
    free(copy);
  }
  struct ed_http_request r;
  size_t used;
  CHECK_EQ(parse(&r, &used, s), 0);
  CHECK_EQ(used, n);
}

static void test_too_big(void) {
  struct ed_http_request r;
  size_t used;
  size_t n = ED_HTTP_MAX_HEAD + 100;
  char *big = ed_malloc(n + 1);
  memset(big, 'a', n);
  const char *start = "GET / HTTP/1.1\r\nHost: x\r\nX: ";
  memcpy(big, start, strlen(start));
  big[n] = '\0';
  /* Incomplete at exactly the limit: still waiting. Past it: refused. */
  CHECK_EQ(
      ed_http_parse_request(&r, &used, big, ED_HTTP_MAX_HEAD, ED_HTTP_MAX_HEAD),
      ED_E_AGAIN);
  CHECK_EQ(ed_http_parse_request(&r, &used, big, ED_HTTP_MAX_HEAD + 1,
                                 ED_HTTP_MAX_HEAD),
           ED_E_TOOBIG);
  /* Complete but longer than the limit: refused. */
  memcpy(big + n - 4, "\r\n\r\n", 4);
  CHECK_EQ(ed_http_parse_request(&r, &used, big, n, ED_HTTP_MAX_HEAD),
           ED_E_TOOBIG);
  /* Complete and exactly at the limit: accepted. */
  memcpy(big + ED_HTTP_MAX_HEAD - 4, "\r\n\r\n", 4);
  CHECK_EQ(ed_http_parse_request(&r, &used, big, n, ED_HTTP_MAX_HEAD), 0);
  CHECK_EQ(used, ED_HTTP_MAX_HEAD);
  free(big);
}

static void test_pipelined(void) {
  const char *s =
      "GET /a HTTP/1.1\r\nHost: x\r\n\r\nHEAD /b HTTP/1.1\r\nHost: x\r\n\r\n";
  struct ed_http_request r;
  size_t used;
  CHECK_EQ(parse(&r, &used, s), 0);
  CHECK(path_eq(&r, "/a"));
  CHECK_EQ(parse(&r, &used, s + used), 0);
  CHECK(path_eq(&r, "/b"));
  CHECK_EQ(r.method, ED_HTTP_HEAD);
}

int main(void) {
  RUN(test_simple_get);
  RUN(test_versions_and_connection);
  RUN(test_other_method_and_body);
  RUN(test_malformed);
  RUN(test_byte_at_a_time);
  RUN(test_too_big);
  RUN(test_pipelined);
  return TEST_RESULT();
}

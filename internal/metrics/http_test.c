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

/* "close" wins over "keep-alive" whatever the order, also across two
 * Connection headers. */
static void test_connection_close_wins(void) {
  static const char *const reqs[] = {
      "GET / HTTP/1.0\r\nConnection: close, keep-alive\r\n\r\n",
      "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
      "GET / HTTP/1.0\r\nConnection: close\r\nConnection: keep-alive\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
      "Connection: keep-alive\r\n\r\n",
  };
  for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
    struct ed_http_request r;
    size_t used;
    CHECK_EQ(parse(&r, &used, reqs[i]), 0);
    if (r.keep_alive != 0) fprintf(stderr, "case %zu kept alive\n", i);
    CHECK_EQ(r.keep_alive, 0);
  }
}

/* Smuggling-style ambiguities: a body announced on a GET (either way) is
 * reported so the endpoint closes after answering; list and signed
 * Content-Length values and NUL bytes anywhere in the head are refused. */
static void test_ambiguous_framing(void) {
  struct ed_http_request r;
  size_t used;
  CHECK_EQ(parse(&r, &used,
                 "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n"),
           0);
  CHECK_EQ(r.has_body, 1);
  CHECK_EQ(
      parse(&r, &used, "GET / HTTP/1.0\r\nTransfer-Encoding: identity\r\n\r\n"),
      0);
  CHECK_EQ(r.has_body, 1);
  static const char *const bad[] = {
      "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 1\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: \r\n\r\n",
      "GET / HTTP/1.1\r\nHost: x\r\nContent-Length : 1\r\n\r\n",
      "GET / HTTP/1.1\r\n Host: x\r\n\r\n", /* fold right after the line */
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    int rc = parse(&r, &used, bad[i]);
    if (rc != ED_E_PARSE) fprintf(stderr, "framing case %zu: rc=%d\n", i, rc);
    CHECK_EQ(rc, ED_E_PARSE);
  }
  /* A NUL in the method, target, header name or value. */
  static const char good[] = "GET /m HTTP/1.1\r\nHost: xy\r\n\r\n";
  static const size_t nul_at[] = {1, 5, 19, 24};
  for (size_t i = 0; i < sizeof(nul_at) / sizeof(nul_at[0]); i++) {
    char copy[sizeof(good)];
    memcpy(copy, good, sizeof(good));
    copy[nul_at[i]] = '\0';
    int rc = ed_http_parse_request(&r, &used, copy, sizeof(good) - 1,
                                   ED_HTTP_MAX_HEAD);
    if (rc != ED_E_PARSE) fprintf(stderr, "NUL at %zu: rc=%d\n", nul_at[i], rc);
    CHECK_EQ(rc, ED_E_PARSE);
  }
  CHECK_EQ(ed_http_parse_request(&r, &used, good, sizeof(good) - 1,
                                 ED_HTTP_MAX_HEAD),
           0);
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
  RUN(test_connection_close_wins);
  RUN(test_ambiguous_framing);
  return TEST_RESULT();
}

/* Unit tests of the address parsers and formatters. */
#include "internal/net/addr.h"

#include <arpa/inet.h>
#include <string.h>

#include "internal/base/base.h"
#include "internal/testing/testing.h"

static void expect_split_err(const char *s, const char *why_part) {
  char host[64];
  uint16_t port = 7;
  const char *why = NULL;
  CHECK_EQ(ed_net_split_hostport(host, sizeof(host), &port, s, &why),
           ED_E_INVAL);
  CHECK(why != NULL && strstr(why, why_part) != NULL);
  if (!why || !strstr(why, why_part))
    fprintf(stderr, "  %s: got \"%s\", want \"%s\"\n", s, why ? why : "",
            why_part);
  CHECK_EQ(port, 7); /* untouched on failure */
}

static void test_split(void) {
  char host[64];
  uint16_t port = 1;
  CHECK_EQ(
      ed_net_split_hostport(host, sizeof(host), &port, "127.0.0.1:7443", NULL),
      0);
  CHECK_STR(host, "127.0.0.1");
  CHECK_EQ(port, 7443);
  CHECK_EQ(ed_net_split_hostport(host, sizeof(host), &port, "[::1]:0", NULL),
           0);
  CHECK_STR(host, "::1");
  CHECK_EQ(port, 0);
  CHECK_EQ(ed_net_split_hostport(host, sizeof(host), &port,
                                 "echo.example:65535", NULL),
           0);
  CHECK_STR(host, "echo.example");
  CHECK_EQ(port, 65535);
  CHECK_EQ(
      ed_net_split_hostport(host, sizeof(host), NULL, "[fe80::1%eth0]:9", NULL),
      0);
  CHECK_STR(host, "fe80::1%eth0");
  expect_split_err("h:65536", "out of range");
  expect_split_err("h", "missing port");
  expect_split_err("h:", "missing port");
  expect_split_err(":80", "missing host");
  expect_split_err("[]:80", "missing host");
  expect_split_err("[::1]", "missing port");
  expect_split_err("[::1:80", "missing ']'");
  expect_split_err("::1:80", "brackets");
  expect_split_err("h:-1", "not a number");
  expect_split_err("h:8x", "not a number");
  CHECK_EQ(ed_net_split_hostport(host, 4, &port, "longhost:1", NULL),
           ED_E_INVAL);
  CHECK_EQ(ed_net_split_hostport(host, 4, &port, NULL, NULL), ED_E_INVAL);
}

static void expect_bind(const char *s, const char *formatted) {
  struct sockaddr_storage ss;
  char out[ED_NET_ADDR_MAX];
  const char *why = NULL;
  CHECK_EQ(ed_net_parse_bind_addr(&ss, s, &why), 0);
  if (why) fprintf(stderr, "  %s refused: %s\n", s, why);
  CHECK_EQ(ed_net_format_addr(out, sizeof(out), (struct sockaddr *)&ss), 0);
  CHECK_STR(out, formatted);
}

static void expect_bind_err(const char *s, const char *why_part) {
  struct sockaddr_storage ss;
  const char *why = NULL;
  CHECK_EQ(ed_net_parse_bind_addr(&ss, s, &why), ED_E_INVAL);
  CHECK(why != NULL && strstr(why, why_part) != NULL);
  if (!why || !strstr(why, why_part))
    fprintf(stderr, "  %s: got \"%s\", want \"%s\"\n", s, why ? why : "",
            why_part);
}

static void test_bind_addr(void) {
  expect_bind("127.0.0.1:9870", "127.0.0.1:9870");
  expect_bind("localhost:1", "127.0.0.1:1");
  expect_bind("*:9870", "0.0.0.0:9870");
  expect_bind("[::1]:0", "[::1]:0");
  expect_bind("[::]:9870", "[::]:9870");
  expect_bind("[fe80::1%lo]:5", "[fe80::1]:5");
  struct sockaddr_storage ss;
  CHECK_EQ(ed_net_parse_bind_addr(&ss, "[fe80::1%1]:5", NULL), 0);
  CHECK_EQ(((struct sockaddr_in6 *)&ss)->sin6_scope_id, 1);
  expect_bind_err("metrics.example:9870", "numeric IP");
  expect_bind_err("999.1.1.1:1", "numeric IP");
  expect_bind_err("[localhost]:1", "numeric IPv6");
  expect_bind_err("[fe80::1%]:1", "empty %zone");
  expect_bind_err("[fe80::1%nosuchif0]:1", "unknown network interface");
  expect_bind_err("::1:9870", "brackets");
  expect_bind_err("127.0.0.1", "missing port");
  expect_bind_err("127.0.0.1:70000", "out of range");
}

static void test_format(void) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(5)};
  struct sockaddr_in6 b = {.sin6_family = AF_INET6, .sin6_port = htons(65535)};
  struct sockaddr_in6 b2 = b;
  char out[ED_NET_ADDR_MAX];
  inet_pton(AF_INET, "1.2.3.4", &a.sin_addr);
  inet_pton(AF_INET6, "2001:db8::1", &b.sin6_addr);
  CHECK_EQ(ed_net_format_addr(out, sizeof(out), (struct sockaddr *)&a), 0);
  CHECK_STR(out, "1.2.3.4:5");
  CHECK_EQ(ed_net_format_addr(out, sizeof(out), (struct sockaddr *)&b), 0);
  CHECK_STR(out, "[2001:db8::1]:65535");
  CHECK_EQ(ed_net_addr_port((struct sockaddr *)&b), 65535);
  struct sockaddr other = {.sa_family = AF_UNIX};
  CHECK_EQ(ed_net_format_addr(out, sizeof(out), &other), ED_E_INVAL);
  CHECK_STR(out, "?");
  ed_net_join_hostport(out, sizeof(out), "::1", 7443);
  CHECK_STR(out, "[::1]:7443");
  ed_net_join_hostport(out, sizeof(out), "echo.example", 7443);
  CHECK_STR(out, "echo.example:7443");
  /* The same host on another port is the same client. */
  b2.sin6_port = htons(1);
  inet_pton(AF_INET6, "2001:db8::1", &b2.sin6_addr);
  CHECK(ed_net_same_host((struct sockaddr *)&b, (struct sockaddr *)&b2));
  inet_pton(AF_INET6, "2001:db8::2", &b2.sin6_addr);
  CHECK(!ed_net_same_host((struct sockaddr *)&b, (struct sockaddr *)&b2));
  CHECK(!ed_net_same_host((struct sockaddr *)&a, (struct sockaddr *)&b));
}

int main(void) {
  RUN(test_split);
  RUN(test_bind_addr);
  RUN(test_format);
  return TEST_RESULT();
}

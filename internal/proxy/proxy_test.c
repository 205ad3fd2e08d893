/* Unit tests for internal/proxy: headers as HAProxy and AWS NLB send them,
 * byte by byte, and every way a header can be wrong. */
#include "internal/proxy/proxy.h"

#include <string.h>
#include <sys/socket.h>

#include "internal/base/base.h"
#include "internal/testing/testing.h"

static const uint8_t sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

/* hdr builds a header: version/command, family/transport, then |body|. */
static size_t hdr(uint8_t *out, uint8_t ver_cmd, uint8_t fam,
                  const uint8_t *body, size_t blen) {
  memcpy(out, sig, 12);
  out[12] = ver_cmd;
  out[13] = fam;
  out[14] = (uint8_t)(blen >> 8);
  out[15] = (uint8_t)blen;
  if (blen) memcpy(out + 16, body, blen);
  return 16 + blen;
}

static const uint8_t v4_body[12] = {
    192, 0, 2, 7, 10, 0, 0, 1, 0xC3, 0x50, 0x1D, 0x13}; /* 50000, 7443 */

static void test_ipv4(void) {
  uint8_t b[64];
  size_t n = hdr(b, 0x21, 0x11, v4_body, sizeof(v4_body));
  struct ed_proxy_header h;
  char s[64];
  CHECK_EQ(ed_proxy_parse(b, n, &h, NULL), 28);
  CHECK_EQ(h.has_addr, 1);
  CHECK_EQ(h.family, AF_INET);
  CHECK_EQ(h.src_port, 50000);
  CHECK_EQ(h.dst_port, 7443);
  CHECK_EQ(ed_proxy_format_src(&h, s, sizeof(s)), 0);
  CHECK_STR(s, "192.0.2.7:50000");
  /* TLS bytes after the header are not part of it. */
  b[n] = 0x16;
  CHECK_EQ(ed_proxy_parse(b, n + 1, &h, NULL), 28);
}

static void test_ipv6_with_tlvs(void) {
  uint8_t body[36 + 7] = {0x20, 0x01, 0x0d, 0xb8};
  body[15] = 1;                     /* src 2001:db8::1 */
  body[31] = 2;                     /* dst ::2 */
  body[32] = 0x01, body[33] = 0xBB; /* src port 443 */
  body[34] = 0x1D, body[35] = 0x13;
  /* A PP2_TYPE_AUTHORITY TLV ("a.b") and a NOOP TLV: skipped. */
  const uint8_t tlvs[7] = {0x02, 0x00, 0x03, 'a', '.', 'b', 0x04};
  memcpy(body + 36, tlvs, 7);
  uint8_t b[128];
  size_t n = hdr(b, 0x21, 0x21, body, sizeof(body));
  struct ed_proxy_header h;
  char s[64];
  CHECK_EQ(ed_proxy_parse(b, n, &h, NULL), 16 + 43);
  CHECK_EQ(h.family, AF_INET6);
  CHECK_EQ(ed_proxy_format_src(&h, s, sizeof(s)), 0);
  CHECK_STR(s, "[2001:db8::1]:443");
}

/* LOCAL (a balancer's health check) and families echod cannot show keep
 * the connection's own address. */
static void test_no_address(void) {
  uint8_t b[300], unix_body[216] = {0};
  struct ed_proxy_header h;
  char s[8] = "x";
  CHECK_EQ(ed_proxy_parse(b, hdr(b, 0x20, 0x00, NULL, 0), &h, NULL), 16);
  CHECK_EQ(h.has_addr, 0);
  CHECK_EQ(ed_proxy_format_src(&h, s, sizeof(s)), ED_E_INVAL);
  CHECK_STR(s, "");
  /* LOCAL may still carry addresses: ignored. */
  CHECK_EQ(ed_proxy_parse(b, hdr(b, 0x20, 0x11, v4_body, 12), &h, NULL), 28);
  CHECK_EQ(h.has_addr, 0);
  CHECK_EQ(ed_proxy_parse(b, hdr(b, 0x21, 0x31, unix_body, 216), &h, NULL),
           232);
  CHECK_EQ(h.has_addr, 0);
  CHECK_EQ(ed_proxy_parse(b, hdr(b, 0x21, 0x12, v4_body, 12), &h, NULL), 28);
  CHECK_EQ(h.has_addr, 0); /* UDP */
}

/* Every prefix of a valid header asks for more; the whole one parses. */
static void test_byte_by_byte(void) {
  uint8_t b[64];
  size_t n = hdr(b, 0x21, 0x11, v4_body, sizeof(v4_body));
  struct ed_proxy_header h;
  for (size_t i = 0; i < n; i++) CHECK_EQ(ed_proxy_parse(b, i, &h, NULL), 0);
  CHECK_EQ(ed_proxy_parse(b, n, &h, NULL), (int)n);
}

static void test_refusals(void) {
  uint8_t b[64];
  struct ed_proxy_header h;
  const char *why = NULL;
  /* A TLS ClientHello is refused at its first byte. */
  const uint8_t hello[1] = {0x16};
  CHECK_EQ(ed_proxy_parse(hello, 1, &h, &why), ED_E_PARSE);
  CHECK_STR(why, "no PROXY protocol v2 header");
  /* Version 1 (text) is not accepted. */
  CHECK_EQ(ed_proxy_parse((const uint8_t *)"PROXY TCP4 ", 11, &h, &why),
           ED_E_PARSE);
  size_t n = hdr(b, 0x11, 0x11, v4_body, 12);
  CHECK_EQ(ed_proxy_parse(b, n, &h, &why), ED_E_PARSE);
  CHECK_STR(why, "unsupported PROXY protocol version");
  n = hdr(b, 0x22, 0x11, v4_body, 12);
  CHECK_EQ(ed_proxy_parse(b, n, &h, &why), ED_E_PARSE);
  CHECK_STR(why, "unknown PROXY protocol command");
  n = hdr(b, 0x21, 0x11, v4_body, 8); /* too short for two IPv4 + ports */
  CHECK_EQ(ed_proxy_parse(b, n, &h, &why), ED_E_PARSE);
  CHECK_STR(why, "PROXY header shorter than its addresses");
  /* A declared length over the cap is refused from the fixed part alone. */
  hdr(b, 0x21, 0x11, v4_body, 12);
  b[14] = 0xFF, b[15] = 0xFF;
  CHECK_EQ(ed_proxy_parse(b, 16, &h, &why), ED_E_PARSE);
  CHECK_STR(why, "PROXY header too large");
  b[14] = (uint8_t)((ED_PROXY_MAX_HEADER - 16) >> 8);
  b[15] = (uint8_t)(ED_PROXY_MAX_HEADER - 16);
  CHECK_EQ(ed_proxy_parse(b, 16, &h, &why), 0); /* exactly the cap: wait */
}

int main(void) {
  RUN(test_ipv4);
  RUN(test_ipv6_with_tlvs);
  RUN(test_no_address);
  RUN(test_byte_by_byte);
  RUN(test_refusals);
  return TEST_RESULT();
}

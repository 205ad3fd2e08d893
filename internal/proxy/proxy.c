/* internal/proxy — see proxy.h. */
#include "internal/proxy/proxy.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "internal/base/base.h"
#include "internal/net/addr.h"

static const uint8_t sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

enum {
  CMD_LOCAL = 0x0,
  CMD_PROXY = 0x1,
  FAM_INET = 0x1,
  FAM_INET6 = 0x2,
  PROTO_STREAM = 0x1,
};

static int fail(const char **out_why, const char *why) {
  if (out_why) *out_why = why;
  return ED_E_PARSE;
}

/* read_addrs fills |out| from the address block of a PROXY command. */
static int read_addrs(const uint8_t *p, size_t rest, uint8_t fam_proto,
                      struct ed_proxy_header *out, const char **out_why) {
  size_t alen;
  if ((fam_proto & 0x0F) != PROTO_STREAM) return 0; /* UNSPEC/DGRAM: keep */
  switch (fam_proto >> 4) {
    case FAM_INET:
      alen = 4, out->family = AF_INET;
      break;
    case FAM_INET6:
      alen = 16, out->family = AF_INET6;
      break;
    default:
      return 0; /* UNSPEC or UNIX: nothing echod can show */
  }
  if (rest < 2 * alen + 4)
    return fail(out_why, "PROXY header shorter than its addresses");
  memcpy(out->src, p, alen);
  memcpy(out->dst, p + alen, alen);
  out->src_port = (uint16_t)(p[2 * alen] << 8 | p[2 * alen + 1]);
  out->dst_port = (uint16_t)(p[2 * alen + 2] << 8 | p[2 * alen + 3]);
  out->has_addr = 1;
  return 0;
}

int ed_proxy_parse(const uint8_t *buf, size_t len, struct ed_proxy_header *out,
                   const char **out_why) {
  memset(out, 0, sizeof(*out));
  size_t n = len < sizeof(sig) ? len : sizeof(sig);
  if (n && memcmp(buf, sig, n) != 0)
    return fail(out_why, "no PROXY protocol v2 header");
  if (len < 16) return 0;
  if ((buf[12] >> 4) != 2)
    return fail(out_why, "unsupported PROXY protocol version");
  uint8_t cmd = buf[12] & 0x0F;
  if (cmd != CMD_LOCAL && cmd != CMD_PROXY)
    return fail(out_why, "unknown PROXY protocol command");
  size_t rest = (size_t)buf[14] << 8 | buf[15];
  if (16 + rest > ED_PROXY_MAX_HEADER)
    return fail(out_why, "PROXY header too large");
  if (len < 16 + rest) return 0;
  if (cmd == CMD_PROXY) {
    int rc = read_addrs(buf + 16, rest, buf[13], out, out_why);
    if (rc != 0) return rc;
  }
  return (int)(16 + rest);
}

int ed_proxy_format_src(const struct ed_proxy_header *h, char *buf,
                        size_t len) {
  struct sockaddr_storage ss = {0};
  if (len) buf[0] = '\0';
  if (!h->has_addr) return ED_E_INVAL;
  if (h->family == AF_INET6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    a->sin6_family = AF_INET6;
    memcpy(&a->sin6_addr, h->src, 16);
    a->sin6_port = htons(h->src_port);
  } else if (h->family == AF_INET) {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    a->sin_family = AF_INET;
    memcpy(&a->sin_addr, h->src, 4);
    a->sin_port = htons(h->src_port);
  } else {
    return ED_E_INVAL;
  }
  return ed_net_format_addr(buf, len, (const struct sockaddr *)&ss);
}

/* internal/proxy — the PROXY protocol version 2 header that an L4 balancer
 * (HAProxy, AWS NLB, Envoy, nginx stream) puts in front of a connection to
 * pass on the client's real address (haproxy's proxy-protocol.txt, 2.2).
 * Pure: parses bytes, does no I/O; the loop feeds it what it has read.
 *
 * Wire format: 12-byte signature, version/command byte (0x20 LOCAL, 0x21
 * PROXY), family/transport byte, 16-bit big-endian length of the rest
 * (addresses, then TLVs, which echod skips). */
#ifndef ED_PROXY_H
#define ED_PROXY_H

#include <stddef.h>
#include <stdint.h>

/* Longest header echod accepts: the fixed 16 bytes plus up to 2 KiB of
 * addresses and TLVs (balancers send 12-216 bytes of addresses and a few
 * short TLVs). Anything longer is refused rather than buffered. */
#define ED_PROXY_MAX_HEADER (16 + 2048)

struct ed_proxy_header {
  /* 1: PROXY command with an IPv4/IPv6 TCP source below. 0: the LOCAL
   * command (the balancer's own health check) or a family echod does not
   * map (UNSPEC, UNIX, UDP): keep the connection's own address. */
  int has_addr;
  int family;      /* AF_INET or AF_INET6 when has_addr */
  uint8_t src[16]; /* 4 or 16 bytes, network order */
  uint8_t dst[16];
  uint16_t src_port; /* host order */
  uint16_t dst_port;
};

/* ed_proxy_parse looks at the first |len| bytes a client sent. Returns:
 *   > 0  a complete valid header of that many bytes; |*out| is filled and
 *        the TLS bytes start right after it;
 *   0    the bytes so far are a valid prefix: read more;
 *   ED_E_PARSE  not a v2 header (|*out_why| says why, a static string).
 * Bytes that cannot begin the signature fail at once, so a client that
 * speaks TLS straight away is refused without waiting for 16 bytes. */
int ed_proxy_parse(const uint8_t *buf, size_t len, struct ed_proxy_header *out,
                   const char **out_why);

/* ed_proxy_format_src writes the source as "1.2.3.4:port" or
 * "[v6]:port" into |buf| (always NUL-terminated). Returns 0, or ED_E_INVAL
 * when the header has no address. */
int ed_proxy_format_src(const struct ed_proxy_header *h, char *buf, size_t len);

#endif

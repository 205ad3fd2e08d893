/* internal/net — see addr.h. */
#include "internal/net/addr.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/base/base.h"

static int fail(const char **out_why, const char *why) {
  if (out_why) *out_why = why;
  return ED_E_INVAL;
}

/* Reads the decimal port at |p| (the rest of the string). */
static const char *parse_port(uint16_t *out, const char *p) {
  unsigned long port = 0;
  if (*p == '\0') return "missing port";
  for (; *p; p++) {
    if (*p < '0' || *p > '9') return "port is not a number";
    port = port * 10 + (unsigned long)(*p - '0');
    if (port > 65535) return "port out of range (0-65535)";
  }
  *out = (uint16_t)port;
  return NULL;
}

int ed_net_split_hostport(char *out_host, size_t host_len, uint16_t *out_port,
                          const char *s, const char **out_why) {
  const char *colon, *h = s, *why;
  size_t hlen;
  uint16_t port;
  if (!s || !out_host || host_len == 0) return fail(out_why, "no address");
  if (s[0] == '[') {
    const char *close = strchr(s, ']');
    if (!close) return fail(out_why, "missing ']' after IPv6 address");
    h = s + 1;
    hlen = (size_t)(close - h);
    if (close[1] != ':') return fail(out_why, "missing port (use [v6]:port)");
    colon = close + 1;
  } else {
    colon = strrchr(s, ':');
    if (!colon) return fail(out_why, "missing port (use host:port)");
    if (memchr(s, ':', (size_t)(colon - s)))
      return fail(out_why, "IPv6 addresses need brackets: [v6]:port");
    hlen = (size_t)(colon - s);
  }
  if (hlen == 0) return fail(out_why, "missing host");
  if ((why = parse_port(&port, colon + 1)) != NULL) return fail(out_why, why);
  if (hlen + 1 > host_len) return fail(out_why, "host name too long");
  memcpy(out_host, h, hlen);
  out_host[hlen] = '\0';
  if (out_port) *out_port = port;
  return 0;
}

/* Reads a numeric IPv6 address with an optional %zone (an interface name
 * or number) into |a|. Returns NULL or a reason. */
static const char *parse_v6(struct sockaddr_in6 *a, char *host) {
  char *zone = strchr(host, '%');
  if (zone) *zone++ = '\0';
  if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
    return "is not a numeric IPv6 address";
  if (zone) {
    char *end;
    unsigned long n = strtoul(zone, &end, 10);
    if (*zone == '\0') return "has an empty %zone";
    a->sin6_scope_id = *end == '\0' ? (uint32_t)n : if_nametoindex(zone);
    if (a->sin6_scope_id == 0) return "names an unknown network interface";
  }
  a->sin6_family = AF_INET6;
  return NULL;
}

int ed_net_parse_bind_addr(struct sockaddr_storage *out, const char *s,
                           const char **out_why) {
  char host[256];
  uint16_t port;
  memset(out, 0, sizeof(*out));
  int rc = ed_net_split_hostport(host, sizeof(host), &port, s, out_why);
  if (rc) return rc;
  if (s[0] == '[') {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)out;
    const char *why = parse_v6(a, host);
    if (why) return fail(out_why, why);
    a->sin6_port = htons(port);
    return 0;
  }
  struct sockaddr_in *a = (struct sockaddr_in *)out;
  if (strcmp(host, "localhost") == 0) {
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  } else if (strcmp(host, "*") == 0) {
    a->sin_addr.s_addr = htonl(INADDR_ANY);
  } else if (inet_pton(AF_INET, host, &a->sin_addr) != 1) {
    return fail(out_why,
                "needs a numeric IP address, [v6], localhost or * as host");
  }
  a->sin_family = AF_INET;
  a->sin_port = htons(port);
  return 0;
}

int ed_net_format_addr(char *out, size_t out_len, const struct sockaddr *sa) {
  char ip[INET6_ADDRSTRLEN];
  if (sa && sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
    inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
    snprintf(out, out_len, "[%s]:%u", ip, ntohs(a->sin6_port));
    return 0;
  }
  if (sa && sa->sa_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
    inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
    snprintf(out, out_len, "%s:%u", ip, ntohs(a->sin_port));
    return 0;
  }
  snprintf(out, out_len, "?");
  return ED_E_INVAL;
}

void ed_net_join_hostport(char *out, size_t out_len, const char *host,
                          uint16_t port) {
  snprintf(out, out_len, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, port);
}

uint16_t ed_net_addr_port(const struct sockaddr *sa) {
  if (sa->sa_family == AF_INET6)
    return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
  if (sa->sa_family == AF_INET)
    return ntohs(((const struct sockaddr_in *)sa)->sin_port);
  return 0;
}

int ed_net_same_host(const struct sockaddr *a, const struct sockaddr *b) {
  if (a->sa_family != b->sa_family) return 0;
  if (a->sa_family == AF_INET)
    return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
           ((const struct sockaddr_in *)b)->sin_addr.s_addr;
  if (a->sa_family == AF_INET6)
    return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                  &((const struct sockaddr_in6 *)b)->sin6_addr,
                  sizeof(struct in6_addr)) == 0;
  return 0;
}

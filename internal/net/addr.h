/* internal/net — socket addresses as text, both ways, in one place.
 *
 * Pure functions: no libuv, no resolver, no global state. Every host:port
 * string echod reads (--listen, --metrics-listen, --connect, bench and
 * echoctl targets) goes through ed_net_split_hostport; every address echod
 * prints (peers, bound listeners) comes from ed_net_format_addr or
 * ed_net_join_hostport, so an IPv6 address is always "[::1]:5". */
#ifndef ED_NET_ADDR_H
#define ED_NET_ADDR_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Room for "[" + an IPv6 address with a %zone + "]:65535" + NUL. */
#define ED_NET_ADDR_MAX 72

/* ed_net_split_hostport splits "host:port" or "[v6]:port" into |out_host|
 * (brackets removed, a %zone kept; |host_len| bytes with the NUL) and
 * |*out_port| (0-65535; may be NULL). The host is not looked at beyond its
 * shape: a name, an IPv4 or a bracketed IPv6 address. An unbracketed IPv6
 * address, an empty host or a missing, non-numeric or out-of-range port is
 * refused. Returns 0, or ED_E_INVAL with a static one-phrase reason in
 * |*out_why| (if not NULL), e.g. "missing port (use host:port)". */
int ed_net_split_hostport(char *out_host, size_t host_len, uint16_t *out_port,
                          const char *s, const char **out_why);

/* ed_net_parse_bind_addr reads an address that can be bound without a
 * resolver: "IPv4:port", "[IPv6]:port" (a %zone names an interface or is
 * its number), "localhost:port" (127.0.0.1) or "*:port" (0.0.0.0), into
 * |*out| (zeroed first; family AF_INET or AF_INET6). Returns 0, or
 * ED_E_INVAL with a static reason in |*out_why| (if not NULL). */
int ed_net_parse_bind_addr(struct sockaddr_storage *out, const char *s,
                           const char **out_why);

/* ed_net_format_addr writes |sa| (AF_INET or AF_INET6) as "1.2.3.4:5" or
 * "[::1]:5" into |out| (|out_len| bytes, ED_NET_ADDR_MAX is enough).
 * Returns 0, or ED_E_INVAL for another family (|out| is then "?"). */
int ed_net_format_addr(char *out, size_t out_len, const struct sockaddr *sa);

/* ed_net_join_hostport writes |host| and |port| as "host:port", bracketing
 * a host that contains ':' ("[::1]:5"). Truncates to fit |out_len|. */
void ed_net_join_hostport(char *out, size_t out_len, const char *host,
                          uint16_t port);

/* ed_net_addr_port returns the port of |sa| (AF_INET or AF_INET6), else 0. */
uint16_t ed_net_addr_port(const struct sockaddr *sa);

/* ed_net_same_host returns 1 if |a| and |b| are the same IP address (the
 * ports are ignored), 0 otherwise or for other families. */
int ed_net_same_host(const struct sockaddr *a, const struct sockaddr *b);

#endif /* ED_NET_ADDR_H */

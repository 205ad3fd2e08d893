/* internal/listen — the TCP sockets echod serves on: bound here, started
 * (listen()) later, or inherited from systemd socket activation.
 *
 * One socket per address, shared by every I/O loop: each loop polls its
 * own dup of the descriptor, and the loop that accepts hands the
 * connection to the next loop in turn (internal/loop/accept.c). The
 * socket does NOT use SO_REUSEPORT. With SO_REUSEPORT the kernel lets any
 * process of the same user bind the same address later and splits new
 * connections between the two (a stranger with its own allow-list on our
 * port, both logging "listening"). Without it bind() fails with
 * EADDRINUSE while anyone else holds the address, and once our socket
 * listens no other socket can bind it. docs/BENCHMARKS.md ("Listener")
 * measures the price: with two loops the split is exact and the
 * connection rate and CPU per connection stay within noise of
 * SO_REUSEPORT.
 *
 * Binding and listening are separate steps so every other startup check
 * can run in between: ed_listen_bind reserves the address (and names who
 * holds it when it cannot), ed_listen_start makes it accept. Between the
 * two, another SO_REUSEADDR socket that is not listening may still bind
 * the address; whichever listens first wins, and ed_listen_start reports
 * the loser's EADDRINUSE the same way as bind does. Two listeners on one
 * address cannot happen.
 *
 * Everything here runs on the thread that starts the server. */
#ifndef ED_LISTEN_H
#define ED_LISTEN_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "internal/base/base.h"

#define ED_LISTEN_BACKLOG 4096
/* TCP_DEFER_ACCEPT: how long the kernel holds a connection that sent
 * nothing yet before accept() returns it anyway (listen.c defer_accept). */
#define ED_LISTEN_DEFER_S 1
#define ED_LISTEN_MAX_INHERITED 16

struct ed_listener {
  int fd;        /* the socket (owned); -1 once closed */
  int inherited; /* 1: from socket activation (already listening) */
  char addr[80]; /* "127.0.0.1:7443", "[::1]:7443": the real bound port */
  char name[64]; /* the LISTEN_FDNAMES entry; "" when bound here */
};

/* ed_listen_bind creates a non-blocking, close-on-exec TCP socket bound to
 * |hostport| ("host:port", "[v6]:port"; the host numeric or resolvable;
 * port 0 picks one) with SO_REUSEADDR (a restart is not blocked by the
 * previous run's TIME_WAIT connections), IPV6_V6ONLY for IPv6,
 * TCP_NODELAY, which every accepted socket inherits on Linux, and
 * TCP_DEFER_ACCEPT (accept returns a connection once its first bytes
 * arrived, or after ED_LISTEN_DEFER_S: the loop reads them at once). It does
 * not listen yet. On success fills |out| and returns 0. On failure |out->fd| is
 * -1, |err| gets one line naming the address and why, and the result is
 * ED_E_USAGE (bad syntax, a host that does not resolve), ED_E_EXIST (the
 * address is in use: the line names the process holding it when /proc shows it)
 * or ED_E_SYS (any other refusal: not an address of this host, a privileged
 * port). */
int ed_listen_bind(struct ed_listener *out, const char *hostport, char *err,
                   size_t err_len);

/* ed_listen_start calls listen() on a bound socket (an inherited one
 * already listens and is left alone). Returns 0, or ED_E_EXIST (another
 * socket started listening on the address since it was bound) or ED_E_SYS
 * with one line in |err|. */
int ed_listen_start(struct ed_listener *l, char *err, size_t err_len);

/* ed_listen_close closes |l|'s socket; safe to call twice. */
void ed_listen_close(struct ed_listener *l);

/* ed_listen_inherit adopts the sockets of systemd socket activation:
 * when $LISTEN_PID is this process and $LISTEN_FDS is N > 0, descriptors
 * 3 .. 3+N-1, named by $LISTEN_FDNAMES (colon-separated) when set. Each
 * must be a listening TCP stream socket (IPv4 or IPv6); it is made
 * close-on-exec and non-blocking and gets TCP_NODELAY and
 * TCP_DEFER_ACCEPT, as a socket bound here. The three
 * variables are removed from the environment either way, so nothing this
 * process starts inherits them. Sets |*out| (caller frees with free()
 * after closing each with ed_listen_close) and |*out_num|; 0 sockets when
 * the variables are absent or meant for another process. Returns 0, or
 * ED_E_USAGE with one line in |err| (a bad variable, or a descriptor that
 * is not a listening TCP socket: a unit file mistake) — then nothing is
 * adopted and the descriptors are left as they were. */
int ed_listen_inherit(struct ed_listener **out, size_t *out_num, char *err,
                      size_t err_len);

/* ed_listen_parse_fds reads $LISTEN_PID / $LISTEN_FDS values (NULL when
 * unset) for process |self|: sets |*out_num| to the number of inherited
 * descriptors (0 when unset or for another pid). Returns 0 or ED_E_USAGE
 * for a malformed value or a count over ED_LISTEN_MAX_INHERITED. Pure. */
int ed_listen_parse_fds(size_t *out_num, const char *listen_pid,
                        const char *listen_fds, pid_t self);

/* ed_listen_holder describes who listens on |sa| (the address a bind was
 * refused for) from /proc/net/tcp{,6} and /proc/PID/fd: "pid 1234
 * (echod)", or "a socket of uid 1000" when no process of ours can see it.
 * A listener on the wildcard address of the same port counts. Writes ""
 * and returns ED_E_NOTFOUND when nothing matches. Best effort: reads
 * every process's fd table, so only for error messages. */
int ed_listen_holder(char *out, size_t out_len, const struct sockaddr *sa);

/* ed_listen_format writes |sa| as "127.0.0.1:7443" or "[::1]:7443". */
void ed_listen_format(char *out, size_t out_len, const struct sockaddr *sa);

#endif /* ED_LISTEN_H */

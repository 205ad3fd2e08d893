/* internal/client — what the client's source files share. Not part of the
 * public API (that is client.h); only internal/client includes this.
 *
 *   client.c   setup (paths, context, TCP, handshake) and ed_client_run
 *   opts.c     flags and --help
 *   explain.c  a failure -> one sentence that says what to do
 *   session.c  moving the data: pipe mode and interactive mode
 *
 * One struct ed_client_conn per ed_client_run, which owns it and everything in
 * it. */
#ifndef ED_CLIENT_CONN_H
#define ED_CLIENT_CONN_H

#include <limits.h>
#include <openssl/ssl.h>
#include <stdint.h>
#include <stdio.h>

#include "internal/client/client.h"

struct ed_client_conn {
  const struct ed_client_opts *o; /* borrowed from the caller */
  FILE *msgs;                     /* borrowed: where sentences go */
  char target[300];               /* --connect as given, for messages */
  char host[256];
  uint16_t port;
  char name[256]; /* what the server certificate must name */
  char ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX];
  int fd;         /* owned; -1 until connected */
  SSL_CTX *ctx;   /* owned */
  SSL *ssl;       /* owned */
  int alert_in;   /* last alert received (not close_notify), or -1 */
  int peer_close; /* the server's close_notify arrived */
  int peer_gone;  /* the server hung up after our close_notify, with
                   * every byte echoed: done, without its close_notify */
  int close_sent; /* our close_notify is out */
  X509 *leaf;     /* owned ref: the server's leaf, seen while verifying */
  int saved_session;
  uint64_t sent, recvd;
};

/* ed_client__say writes one line (a newline is added) to c->msgs. */
void ed_client__say(struct ed_client_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ed_client__ms_left returns the milliseconds until |deadline_ns|
 * (CLOCK_MONOTONIC), rounded up; 0 once it has passed. */
uint64_t ed_client__ms_left(uint64_t deadline_ns);

/* ed_client__wait_ssl polls the socket for what |ssl_err| wants
 * (SSL_ERROR_WANT_WRITE: writable; else readable) until |deadline_ns|.
 * Returns 0, ED_E_TIMEOUT, or ED_E_SYS (errno says why). */
int ed_client__wait_ssl(struct ed_client_conn *c, int ssl_err,
                        uint64_t deadline_ns);

/* ed_client__ssl_err_text returns the text of the newest BoringSSL error
 * (thread-local buffer, valid until the next call), or "unknown error". */
const char *ed_client__ssl_err_text(void);

/* ed_client__name_str writes |nm| in RFC 2253 form into |out|. */
void ed_client__name_str(const X509_NAME *nm, char *out, size_t out_len);

/* ed_client__say_silent_close says that the server closed (or, with
 * |reset|, reset) TCP before sending a byte: what a full server does
 * (--max-connections, --max-pending-handshakes) or one going away. */
void ed_client__say_silent_close(struct ed_client_conn *c, int reset);

/* ed_client__explain_failure prints the one sentence that says why the
 * TLS session failed in |stage| ("handshake", "session", "close") with
 * SSL_get_error code |ssl_err|, clears the error queue, and returns the
 * matching ED_E_* code (see ed_client_run). errno must still hold what the
 * failed SSL call left (callers zero it before the call). */
int ed_client__explain_failure(struct ed_client_conn *c, const char *stage,
                               int ssl_err);

/* ed_client__pipe_mode streams |in_fd| to the server and the echo to
 * |out_fd| byte-exact, then closes. Returns 0 when every byte came back. */
int ed_client__pipe_mode(struct ed_client_conn *c, int in_fd, int out_fd);

/* ed_client__interactive prompts for lines on |in_fd| and prints each
 * echo to |out_fd| until quit or EOF. */
int ed_client__interactive(struct ed_client_conn *c, int in_fd, int out_fd);

#endif /* ED_CLIENT_CONN_H */

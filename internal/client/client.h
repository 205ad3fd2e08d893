/* internal/client — the echo client (echo-client, `bazel run //cmd:client`):
 * connects to an echod server over mutual TLS (BoringSSL, blocking-style
 * I/O with poll; no libuv) and either prompts for lines (a terminal) or
 * streams stdin to the server and the echo to stdout, byte-exact (pipe
 * mode). Every message starts with "echo-client: " and names commands the
 * way the client was started (internal/version/tool.h).
 *
 * Everything that is not echo data (banner, the handshake line, errors)
 * goes to the |msgs| stream (stderr), so pipe mode's stdout holds exactly
 * the bytes the server sent back. */
#ifndef ED_CLIENT_H
#define ED_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "internal/base/base.h"

#define ED_CLIENT_DEFAULT_CONNECT "127.0.0.1:7443"

enum ed_client_mode {
  ED_CLIENT_MODE_AUTO = 0, /* interactive if stdin is a terminal */
  ED_CLIENT_MODE_INTERACTIVE,
  ED_CLIENT_MODE_PIPE,
};

/* Options. Strings are owned by the struct (ed_client_opts_cleanup). NULL
 * paths mean the dev PKI in <state dir>/pki: ca.pem, dev-client.pem and
 * dev-client.key. Paths are absolute (ed_path_resolve). */
struct ed_client_opts {
  int help;         /* --help given: print ed_client_usage(), exit 0 */
  int version;      /* --version given: print the version line, exit 0 */
  char *connect;    /* "host:port" or "[v6]:port" */
  char *ca;         /* CA bundle that must have signed the server cert */
  char *cert;       /* client certificate (chain) PEM */
  char *key;        /* its private key PEM */
  char *servername; /* name/IP to verify (and SNI); default: the host */
  uint16_t tls_min; /* 0x0304 (default) or 0x0303 */
  int quiet;        /* no banner, prompt or handshake line */
  char *sess_in;    /* load a saved TLS session to resume */
  char *sess_out;   /* save the session (ticket) the server issues */
  enum ed_client_mode mode;
  uint32_t timeout_ms; /* connect/handshake and no-progress limit */
};

/* ed_client_opts_parse fills |out| from |argc|/|argv| (argv[0] is the
 * program name); "--flag value" and "--flag=value" both work. Returns 0,
 * or ED_E_USAGE with a one-line message in |err|. Call
 * ed_client_opts_cleanup on |out| in both cases. */
int ed_client_opts_parse(struct ed_client_opts *out, int argc, char **argv,
                         char *err, size_t err_len);
void ed_client_opts_cleanup(struct ed_client_opts *o);

/* ed_client_usage returns the --help text (static). */
const char *ed_client_usage(void);

/* ed_client_run connects as |o| says and runs the session over |in_fd| and
 * |out_fd| (stdin/stdout), writing messages to |msgs|. Returns 0 when the
 * session ended cleanly (every byte sent was echoed), or a negative ED_E_*
 * code after printing one sentence to |msgs| that says what went wrong and
 * what to do (ED_E_NOENT missing files, ED_E_SYS connect failure,
 * ED_E_VERIFY server certificate not trusted, ED_E_TLS refused by the
 * server or other TLS failure, ED_E_CLOSED connection lost early,
 * ED_E_TIMEOUT). */
int ed_client_run(const struct ed_client_opts *o, int in_fd, int out_fd,
                  FILE *msgs);

/* ed_client_alert_name returns the RFC 8446 name of TLS alert |desc|
 * ("certificate_revoked"), or "unknown". The string is static. */
const char *ed_client_alert_name(int desc);

#endif /* ED_CLIENT_H */

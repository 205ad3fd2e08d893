/* internal/client — see client.h.
 *
 * One connection per process: a non-blocking socket driven by poll(2), the
 * SSL object reading and writing it directly. This file sets the session
 * up (paths, context, TCP, handshake) and runs it; opts.c parses the
 * flags, explain.c turns failures into sentences, session.c moves the
 * data (conn.h says what they share). */
#include "internal/client/client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal/client/conn.h"
#include "internal/config/config.h"
#include "internal/tls/sigalgs.h"
#include "internal/version/tool.h"

void ed_client__say(struct ed_client_conn *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfprintf(c->msgs, fmt, ap);
  va_end(ap);
  fputc('\n', c->msgs);
  fflush(c->msgs);
}

uint64_t ed_client__ms_left(uint64_t deadline_ns) {
  uint64_t now = ed_now_ns();
  return now >= deadline_ns ? 0 : (deadline_ns - now) / 1000000 + 1;
}

/* ---- TLS callbacks ------------------------------------------------------- */

static void info_cb(const SSL *ssl, int type, int value) {
  struct ed_client_conn *c = SSL_get_app_data(ssl);
  if (!c || type != SSL_CB_READ_ALERT) return;
  int desc = value & 0xff;
  if (desc == SSL_AD_CLOSE_NOTIFY) {
    c->peer_close = 1;
  } else {
    c->alert_in = desc;
  }
}

static int verify_cb(int ok, X509_STORE_CTX *store) {
  SSL *ssl =
      X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
  struct ed_client_conn *c = ssl ? SSL_get_app_data(ssl) : NULL;
  /* The leaf, whatever depth the callback fires at: an untrusted chain is
   * reported at its top, so waiting for depth 0 could miss the leaf. */
  X509 *leaf = X509_STORE_CTX_get0_cert(store);
  if (c && leaf && !c->leaf) {
    X509_up_ref(leaf);
    c->leaf = leaf;
  }
  return ok;
}

static int new_session_cb(SSL *ssl, SSL_SESSION *sess) {
  struct ed_client_conn *c = SSL_get_app_data(ssl);
  uint8_t *der = NULL;
  size_t len = 0;
  if (!c || !c->o->sess_out || !SSL_SESSION_to_bytes(sess, &der, &len))
    return 0;
  if (ed_write_file_atomic(c->o->sess_out, der, len, 0600) == 0) {
    c->saved_session = 1;
  } else {
    ed_client__say(c, "echo-client: cannot write the session to %s",
                   c->o->sess_out);
  }
  OPENSSL_free(der);
  return 0; /* we did not keep a reference */
}
/* ---- setup: paths, context ----------------------------------------------- */

/* The three files a session needs, and the flag that names each. */
enum file_kind { F_CA, F_CERT, F_KEY };

/* missing_hint writes what to do about a missing file of |kind|, named by
 * its flag (|given|) or taken from the dev PKI. */
static void missing_hint(char *out, size_t out_len, enum file_kind kind,
                         int given, const char *state) {
  char server[64], pki[64];
  ed_tool_cmd(server, sizeof(server), ED_TOOL_SERVER, 0);
  ed_tool_cmd(pki, sizeof(pki), ED_TOOL_PKI, 1);
  if (!given) {
    snprintf(out, out_len,
             "start the server once to create the dev certificates (%s), or "
             "create a client certificate with: %s issue client NAME",
             server, pki);
  } else if (kind == F_CA) {
    snprintf(out, out_len,
             "pass the CA certificate that signed the server's certificate "
             "with --ca FILE (the dev CA is %s/pki/ca.pem)",
             state);
  } else {
    snprintf(out, out_len,
             "create a client certificate with: %s issue client NAME (it "
             "writes NAME.pem and NAME.key in %s/pki)",
             pki, state);
  }
}

static int need_file(struct ed_client_conn *c, const char *path,
                     enum file_kind kind, int given, const char *state) {
  static const char *const what[] = {"CA certificate", "client certificate",
                                     "client key"};
  static const char *const flag[] = {" (--ca)", " (--cert)", " (--key)"};
  if (access(path, R_OK) == 0) return 0;
  int e = errno;
  if (e != ENOENT) {
    ed_client__say(c, "echo-client: cannot read %s %s: %s", what[kind], path,
                   strerror(e));
    return ED_E_NOENT;
  }
  char hint[512];
  missing_hint(hint, sizeof(hint), kind, given, state);
  ed_client__say(c, "echo-client: %s %s%s does not exist; %s", what[kind], path,
                 given ? flag[kind] : "", hint);
  return ED_E_NOENT;
}

/* pick_path sets |out| (PATH_MAX bytes) to |given|, or to
 * <state>/pki/<dev_name> when |given| is NULL. */
static int pick_path(struct ed_client_conn *c, char *out, const char *given,
                     const char *state, const char *dev_name) {
  int n = given ? snprintf(out, PATH_MAX, "%s", given)
                : snprintf(out, PATH_MAX, "%s/pki/%s", state, dev_name);
  if (n >= 0 && n < PATH_MAX) return 0;
  ed_client__say(c, "echo-client: the path %s is too long",
                 given ? given : state);
  return ED_E_TOOBIG;
}

static int resolve_paths(struct ed_client_conn *c) {
  const struct ed_client_opts *o = c->o;
  char state[PATH_MAX];
  if (ed_tool_state_dir(state, sizeof(state), ED_SERVICE_STATE_DIR) < 0) {
    ed_client__say(c, "echo-client: state directory path too long");
    return ED_E_TOOBIG;
  }
  int err = pick_path(c, c->ca, o->ca, state, "ca.pem");
  if (!err) err = pick_path(c, c->cert, o->cert, state, "dev-client.pem");
  if (!err) err = pick_path(c, c->key, o->key, state, "dev-client.key");
  if (!err) err = need_file(c, c->ca, F_CA, !!o->ca, state);
  if (!err) err = need_file(c, c->cert, F_CERT, !!o->cert, state);
  if (!err) err = need_file(c, c->key, F_KEY, !!o->key, state);
  return err;
}

static int make_ctx(struct ed_client_conn *c) {
  c->ctx = SSL_CTX_new(TLS_method());
  if (!c->ctx) return ED_E_NOMEM;
  SSL_CTX_set_min_proto_version(c->ctx, c->o->tls_min);
  SSL_CTX_set_max_proto_version(c->ctx, TLS1_3_VERSION);
  if (!SSL_CTX_load_verify_locations(c->ctx, c->ca, NULL)) {
    ed_client__say(c, "echo-client: %s holds no usable CA certificate (%s)",
                   c->ca, ed_client__ssl_err_text());
    return ED_E_PARSE;
  }
  if (!SSL_CTX_use_certificate_chain_file(c->ctx, c->cert)) {
    ed_client__say(c, "echo-client: %s holds no usable certificate (%s)",
                   c->cert, ed_client__ssl_err_text());
    return ED_E_PARSE;
  }
  if (!SSL_CTX_use_PrivateKey_file(c->ctx, c->key, SSL_FILETYPE_PEM)) {
    ed_client__say(c, "echo-client: %s holds no usable private key (%s)",
                   c->key, ed_client__ssl_err_text());
    return ED_E_PARSE;
  }
  if (!SSL_CTX_check_private_key(c->ctx)) {
    ed_client__say(c,
                   "echo-client: the key %s does not match the certificate %s",
                   c->key, c->cert);
    return ED_E_MISMATCH;
  }
  /* The server's signatures: the same list echod accepts (Ed25519 in,
   * SHA-1 out; internal/tls/sigalgs.h). */
  if (!SSL_CTX_set_verify_algorithm_prefs(c->ctx, ed_tls_sigalgs,
                                          ED_TLS_NUM_SIGALGS))
    return ED_E_NOMEM;
  SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, verify_cb);
  SSL_CTX_set_info_callback(c->ctx, info_cb);
  SSL_CTX_set_session_cache_mode(
      c->ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
  SSL_CTX_sess_set_new_cb(c->ctx, new_session_cb);
  SSL_CTX_set_mode(c->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                               SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  return 0;
}

static int is_ip_literal(const char *s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static int load_session(struct ed_client_conn *c) {
  uint8_t *data = NULL;
  size_t len = 0;
  if (ed_read_file(&data, &len, c->o->sess_in, 1 << 20) != 0) {
    ed_client__say(c, "echo-client: cannot read the session file %s",
                   c->o->sess_in);
    return ED_E_NOENT;
  }
  SSL_SESSION *s = SSL_SESSION_from_bytes(data, len, c->ctx);
  free(data);
  if (!s) {
    ed_client__say(
        c,
        "echo-client: %s is not a saved TLS session (save one with --sess-out)",
        c->o->sess_in);
    ERR_clear_error();
    return ED_E_PARSE;
  }
  SSL_set_session(c->ssl, s);
  SSL_SESSION_free(s);
  return 0;
}

static int make_ssl(struct ed_client_conn *c) {
  c->ssl = SSL_new(c->ctx);
  if (!c->ssl || !SSL_set_fd(c->ssl, c->fd)) return ED_E_NOMEM;
  SSL_set_app_data(c->ssl, c);
  X509_VERIFY_PARAM *param = SSL_get0_param(c->ssl);
  if (is_ip_literal(c->name)) {
    X509_VERIFY_PARAM_set1_ip_asc(param, c->name);
  } else {
    X509_VERIFY_PARAM_set1_host(param, c->name, strlen(c->name));
    SSL_set_tlsext_host_name(c->ssl, c->name);
  }
  if (c->o->sess_in) return load_session(c);
  return 0;
}
/* ---- connecting ---------------------------------------------------------- */

static int connect_one(struct ed_client_conn *c, const struct addrinfo *ai,
                       uint64_t deadline, int *out_errno) {
  int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                  ai->ai_protocol);
  if (fd < 0) return *out_errno = errno, -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
    *out_errno = errno;
    close(fd);
    return -1;
  }
  struct pollfd p = {.fd = fd, .events = POLLOUT};
  int r;
  do {
    r = poll(&p, 1, (int)ed_client__ms_left(deadline));
  } while (r < 0 && errno == EINTR);
  int soerr = 0;
  socklen_t sl = sizeof(soerr);
  if (r == 0) soerr = ETIMEDOUT;
  if (r > 0) getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
  if (r < 0) soerr = errno;
  if (soerr) {
    *out_errno = soerr;
    close(fd);
    return -1;
  }
  c->fd = fd;
  return 0;
}

static int tcp_connect(struct ed_client_conn *c, uint64_t deadline) {
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  struct addrinfo *res = NULL;
  char port[8];
  snprintf(port, sizeof(port), "%u", c->port);
  int g = getaddrinfo(c->host, port, &hints, &res);
  if (g != 0) {
    ed_client__say(c, "echo-client: cannot resolve %s: %s; check --connect",
                   c->host, gai_strerror(g));
    return ED_E_SYS;
  }
  int e = 0;
  for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
    if (connect_one(c, ai, deadline, &e) == 0) break;
  }
  freeaddrinfo(res);
  if (c->fd >= 0) return 0;
  if (e == ECONNREFUSED) {
    char server[64];
    ed_client__say(
        c,
        "echo-client: cannot connect to %s: connection refused; is the server "
        "running? start it with: %s",
        c->target, ed_tool_cmd(server, sizeof(server), ED_TOOL_SERVER, 0));
  } else if (e == ECONNRESET) {
    /* Accepted, then reset at once (a full server), before connect(2)
     * even reported success. */
    ed_client__say_silent_close(c, 1);
    return ED_E_CLOSED;
  } else if (e == ETIMEDOUT) {
    ed_client__say(
        c,
        "echo-client: cannot connect to %s: no answer within %us; check the "
        "address and that the server is reachable",
        c->target, c->o->timeout_ms / 1000);
    return ED_E_TIMEOUT;
  } else {
    ed_client__say(c, "echo-client: cannot connect to %s: %s", c->target,
                   strerror(e));
  }
  return ED_E_SYS;
}
/* ---- the handshake ------------------------------------------------------- */

int ed_client__wait_ssl(struct ed_client_conn *c, int ssl_err,
                        uint64_t deadline) {
  struct pollfd p = {
      .fd = c->fd,
      .events = ssl_err == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN};
  for (;;) {
    int r = poll(&p, 1, (int)ed_client__ms_left(deadline));
    if (r > 0) return 0;
    if (r == 0) return ED_E_TIMEOUT;
    if (errno != EINTR) return ED_E_SYS;
  }
}

static void print_handshake(struct ed_client_conn *c) {
  char subject[256] = "", issuer[256] = "";
  X509 *peer = SSL_get_peer_certificate(c->ssl);
  if (peer) {
    ed_client__name_str(X509_get_subject_name(peer), subject, sizeof(subject));
    ed_client__name_str(X509_get_issuer_name(peer), issuer, sizeof(issuer));
    X509_free(peer);
  }
  const SSL_CIPHER *ciph = SSL_get_current_cipher(c->ssl);
  ed_client__say(
      c,
      "echo-client: handshake ok: peer=%s version=%s cipher=%s resumed=%s "
      "server_subject=\"%s\" server_issuer=\"%s\"",
      c->target, SSL_get_version(c->ssl),
      ciph ? SSL_CIPHER_standard_name(ciph) : "none",
      SSL_session_reused(c->ssl) ? "yes" : "no", subject, issuer);
}

static int handshake(struct ed_client_conn *c, uint64_t deadline) {
  for (;;) {
    errno = 0; /* so a hang-up is told from a stale error */
    int r = SSL_connect(c->ssl);
    if (r == 1) break;
    int e = SSL_get_error(c->ssl, r);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
      return ed_client__explain_failure(c, "handshake", e);
    int w = ed_client__wait_ssl(c, e, deadline);
    if (w == ED_E_TIMEOUT) {
      ed_client__say(c,
                     "echo-client: the TLS handshake with %s did not finish "
                     "within %us; is that an echod server?",
                     c->target, c->o->timeout_ms / 1000);
      return w;
    }
    if (w != 0) {
      ed_client__say(c, "echo-client: waiting for %s failed: %s", c->target,
                     strerror(errno));
      return w;
    }
  }
  if (!c->o->quiet) print_handshake(c);
  return 0;
}

/* ---- run ----------------------------------------------------------------- */

static int run_session(struct ed_client_conn *c, int in_fd, int out_fd) {
  uint64_t deadline = ed_now_ns() + (uint64_t)c->o->timeout_ms * 1000000;
  int rc = resolve_paths(c);
  if (!rc) rc = make_ctx(c);
  if (!rc) rc = tcp_connect(c, deadline);
  if (!rc) rc = make_ssl(c);
  if (!rc) rc = handshake(c, deadline);
  if (rc) return rc;
  enum ed_client_mode mode = c->o->mode;
  if (mode == ED_CLIENT_MODE_AUTO)
    mode = isatty(in_fd) ? ED_CLIENT_MODE_INTERACTIVE : ED_CLIENT_MODE_PIPE;
  if (mode == ED_CLIENT_MODE_INTERACTIVE)
    return ed_client__interactive(c, in_fd, out_fd);
  return ed_client__pipe_mode(c, in_fd, out_fd);
}

int ed_client_run(const struct ed_client_opts *o, int in_fd, int out_fd,
                  FILE *msgs) {
  struct ed_client_conn *c = ed_calloc(1, sizeof(*c));
  c->o = o;
  c->msgs = msgs;
  c->fd = -1;
  c->alert_in = -1;
  snprintf(c->target, sizeof(c->target), "%s",
           o->connect ? o->connect : ED_CLIENT_DEFAULT_CONNECT);
  int rc;
  if (ed_parse_hostport(c->host, sizeof(c->host), &c->port, c->target) != 0) {
    ed_client__say(c, "echo-client: --connect: \"%s\" is not host:port",
                   c->target);
    rc = ED_E_USAGE;
  } else {
    snprintf(c->name, sizeof(c->name), "%s",
             o->servername ? o->servername : c->host);
    rc = run_session(c, in_fd, out_fd);
  }
  SSL_free(c->ssl);
  SSL_CTX_free(c->ctx);
  X509_free(c->leaf);
  if (c->fd >= 0) close(c->fd);
  ERR_clear_error();
  free(c);
  return rc;
}

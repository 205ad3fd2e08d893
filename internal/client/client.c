/* internal/client — see client.h.
 *
 * One connection per process: a non-blocking socket driven by poll(2), the
 * SSL object reading and writing it directly. Pipe mode keeps stdin ->
 * server and server -> stdout moving at the same time, so a large input
 * can never deadlock against the server's bounded echo buffer. */
#include "internal/client/client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal/config/config.h"

#define IO_CHUNK 16384
#define CLOSE_GRACE_MS 2000 /* wait this long for the server's close_notify */

struct conn {
  const struct ed_client_opts *o;
  FILE *msgs;
  char host[256];
  uint16_t port;
  char name[256]; /* what the server certificate must name */
  char ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX];
  int dev_paths; /* paths come from the dev PKI, not flags */
  int fd;
  SSL_CTX *ctx;
  SSL *ssl;
  int alert_in;   /* last alert received (not close_notify), or -1 */
  int peer_close; /* the server's close_notify arrived */
  X509 *leaf;     /* the server's leaf certificate, seen while verifying */
  int saved_session;
  uint64_t sent, recvd;
};

static void say(struct conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void say(struct conn *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfprintf(c->msgs, fmt, ap);
  va_end(ap);
  fputc('\n', c->msgs);
  fflush(c->msgs);
}

static uint64_t ms_left(uint64_t deadline_ns) {
  uint64_t now = ed_now_ns();
  return now >= deadline_ns ? 0 : (deadline_ns - now) / 1000000 + 1;
}

/* ---- options ------------------------------------------------------------- */

const char *ed_client_usage(void) {
  return "usage: client [flags]\n"
         "\n"
         "Connects to an echod server over mutual TLS. On a terminal it "
         "prompts\n"
         "for lines and prints their echo (quit or Ctrl-D ends); otherwise "
         "it\n"
         "streams stdin to the server and the echo to stdout, byte for "
         "byte.\n"
         "With no flags it uses the dev certificates the server created in\n"
         "<state dir>/pki (ca.pem, dev-client.pem, dev-client.key).\n"
         "\n"
         "  --connect HOST:PORT   server address (default 127.0.0.1:7443)\n"
         "  --ca FILE             CA that signed the server's certificate\n"
         "  --cert FILE           this client's certificate\n"
         "  --key FILE            its private key\n"
         "  --servername NAME     name (or IP) the server certificate must "
         "carry\n"
         "                        (default: the host of --connect)\n"
         "  --tls-min 1.2|1.3     lowest TLS version offered (default 1.3)\n"
         "  --quiet               no banner, prompt or handshake line\n"
         "  --sess-out FILE       save the TLS session the server issues\n"
         "  --sess-in FILE        resume the TLS session saved in FILE\n"
         "  --timeout SECONDS     connect/handshake and stall limit "
         "(default 10)\n"
         "  --interactive, --pipe force a mode (default: by stdin)\n"
         "  --help                this text\n";
}

void ed_client_opts_cleanup(struct ed_client_opts *o) {
  free(o->connect);
  free(o->ca);
  free(o->cert);
  free(o->key);
  free(o->servername);
  free(o->sess_in);
  free(o->sess_out);
  memset(o, 0, sizeof(*o));
}

static char **str_field(struct ed_client_opts *o, const char *name) {
  if (strcmp(name, "connect") == 0) return &o->connect;
  if (strcmp(name, "ca") == 0) return &o->ca;
  if (strcmp(name, "cert") == 0) return &o->cert;
  if (strcmp(name, "key") == 0) return &o->key;
  if (strcmp(name, "servername") == 0) return &o->servername;
  if (strcmp(name, "sess-in") == 0) return &o->sess_in;
  if (strcmp(name, "sess-out") == 0) return &o->sess_out;
  return NULL;
}

static int usage_err(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int usage_err(char *err, size_t err_len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (err && err_len) vsnprintf(err, err_len, fmt, ap);
  va_end(ap);
  return ED_E_USAGE;
}

/* set_value applies flag |name| (without "--") = |v|. */
static int set_value(struct ed_client_opts *o, const char *name, const char *v,
                     char *err, size_t err_len) {
  char host[256];
  uint16_t port;
  char **f = str_field(o, name);
  if (*v == '\0') return usage_err(err, err_len, "--%s: empty value", name);
  if (f) {
    if (strcmp(name, "connect") == 0 &&
        (ed_parse_hostport(host, sizeof(host), &port, v) != 0 || port == 0))
      return usage_err(err, err_len,
                       "--connect: \"%s\" is not host:port or [v6]:port", v);
    free(*f);
    *f = ed_strdup(v);
  } else if (strcmp(name, "tls-min") == 0) {
    if (strcmp(v, "1.2") == 0) {
      o->tls_min = 0x0303;
    } else if (strcmp(v, "1.3") == 0) {
      o->tls_min = 0x0304;
    } else {
      return usage_err(err, err_len,
                       "--tls-min: \"%s\" unknown TLS version (use 1.2 or 1.3)",
                       v);
    }
  } else {
    char *end;
    long s = strtol(v, &end, 10);
    if (*end || s <= 0 || s > 3600)
      return usage_err(err, err_len, "--timeout: \"%s\" is not 1-3600 seconds",
                       v);
    o->timeout_ms = (uint32_t)s * 1000;
  }
  return 0;
}

static int set_switch(struct ed_client_opts *o, const char *name) {
  if (strcmp(name, "help") == 0) {
    o->help = 1;
  } else if (strcmp(name, "quiet") == 0) {
    o->quiet = 1;
  } else if (strcmp(name, "interactive") == 0) {
    o->mode = ED_CLIENT_MODE_INTERACTIVE;
  } else if (strcmp(name, "pipe") == 0) {
    o->mode = ED_CLIENT_MODE_PIPE;
  } else {
    return -1;
  }
  return 0;
}

int ed_client_opts_parse(struct ed_client_opts *out, int argc, char **argv,
                         char *err, size_t err_len) {
  memset(out, 0, sizeof(*out));
  out->tls_min = 0x0304;
  out->timeout_ms = 10000;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    char name[32];
    if (strcmp(a, "-h") == 0) a = "--help";
    if (strncmp(a, "--", 2) != 0)
      return usage_err(err, err_len, "unexpected argument \"%s\" (see --help)",
                       a);
    const char *eq = strchr(a + 2, '=');
    size_t n = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
    snprintf(name, sizeof(name), "%.*s", (int)n, a + 2);
    int takes_value = str_field(out, name) || strcmp(name, "tls-min") == 0 ||
                      strcmp(name, "timeout") == 0;
    if (!takes_value) {
      if (eq || set_switch(out, name) != 0)
        return usage_err(err, err_len, "unknown flag %s (see --help)", a);
      continue;
    }
    const char *v = eq ? eq + 1 : NULL;
    if (!v) {
      if (i + 1 >= argc)
        return usage_err(err, err_len, "--%s needs a value", name);
      v = argv[++i];
    }
    int rc = set_value(out, name, v, err, err_len);
    if (rc) return rc;
  }
  if (!out->connect) out->connect = ed_strdup(ED_CLIENT_DEFAULT_CONNECT);
  return 0;
}

/* ---- names for alerts and verify errors ---------------------------------- */

const char *ed_client_alert_name(int desc) {
  static const struct {
    int desc;
    const char *name;
  } names[] = {
      {0, "close_notify"},
      {10, "unexpected_message"},
      {20, "bad_record_mac"},
      {22, "record_overflow"},
      {40, "handshake_failure"},
      {42, "bad_certificate"},
      {43, "unsupported_certificate"},
      {44, "certificate_revoked"},
      {45, "certificate_expired"},
      {46, "certificate_unknown"},
      {47, "illegal_parameter"},
      {48, "unknown_ca"},
      {49, "access_denied"},
      {50, "decode_error"},
      {51, "decrypt_error"},
      {70, "protocol_version"},
      {71, "insufficient_security"},
      {80, "internal_error"},
      {86, "inappropriate_fallback"},
      {90, "user_canceled"},
      {109, "missing_extension"},
      {110, "unsupported_extension"},
      {112, "unrecognized_name"},
      {116, "certificate_required"},
      {120, "no_application_protocol"},
  };
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    if (names[i].desc == desc) return names[i].name;
  }
  return "unknown";
}

static int is_cert_alert(int desc) {
  switch (desc) {
    case 42:
    case 43:
    case 44:
    case 45:
    case 46:
    case 48:
    case 49:
      return 1;
    default:
      return 0;
  }
}

/* ---- TLS callbacks ---------------------------------------------------------
 */

static void info_cb(const SSL *ssl, int type, int value) {
  struct conn *c = SSL_get_app_data(ssl);
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
  struct conn *c = ssl ? SSL_get_app_data(ssl) : NULL;
  X509 *cur = X509_STORE_CTX_get_current_cert(store);
  if (c && cur && X509_STORE_CTX_get_error_depth(store) == 0 && !c->leaf) {
    X509_up_ref(cur);
    c->leaf = cur;
  }
  return ok;
}

static int new_session_cb(SSL *ssl, SSL_SESSION *sess) {
  struct conn *c = SSL_get_app_data(ssl);
  uint8_t *der = NULL;
  size_t len = 0;
  if (!c || !c->o->sess_out || !SSL_SESSION_to_bytes(sess, &der, &len))
    return 0;
  if (ed_write_file_atomic(c->o->sess_out, der, len, 0600) == 0) {
    c->saved_session = 1;
  } else {
    say(c, "client: cannot write the session to %s", c->o->sess_out);
  }
  OPENSSL_free(der);
  return 0; /* we did not keep a reference */
}

/* ---- setup: paths, context ------------------------------------------------
 */

static int need_file(struct conn *c, const char *path, const char *what) {
  if (access(path, R_OK) == 0) return 0;
  int e = errno;
  if (e != ENOENT) {
    say(c, "client: cannot read %s %s: %s", what, path, strerror(e));
  } else if (c->dev_paths) {
    say(c,
        "client: %s %s does not exist; start the server once to create the "
        "dev certificates (bazel run //cmd:server), or create a client "
        "certificate with: bazel run //cmd:pki -- issue client NAME",
        what, path);
  } else {
    say(c,
        "client: %s %s does not exist; create a client certificate with: "
        "bazel run //cmd:pki -- issue client NAME (files land in <state "
        "dir>/pki)",
        what, path);
  }
  return ED_E_NOENT;
}

static int resolve_paths(struct conn *c) {
  const struct ed_client_opts *o = c->o;
  char state[PATH_MAX - 32];
  if (ed_state_dir(state, sizeof(state)) != 0) {
    say(c, "client: state directory path too long");
    return ED_E_TOOBIG;
  }
  c->dev_paths = !o->ca && !o->cert && !o->key;
  snprintf(c->ca, sizeof(c->ca), "%s", o->ca ? o->ca : "");
  if (!o->ca) snprintf(c->ca, sizeof(c->ca), "%s/pki/ca.pem", state);
  snprintf(c->cert, sizeof(c->cert), "%s", o->cert ? o->cert : "");
  if (!o->cert)
    snprintf(c->cert, sizeof(c->cert), "%s/pki/dev-client.pem", state);
  snprintf(c->key, sizeof(c->key), "%s", o->key ? o->key : "");
  if (!o->key) snprintf(c->key, sizeof(c->key), "%s/pki/dev-client.key", state);
  int err = need_file(c, c->ca, "CA certificate");
  if (!err) err = need_file(c, c->cert, "client certificate");
  if (!err) err = need_file(c, c->key, "client key");
  return err;
}

static const char *ssl_err_text(void) {
  static __thread char buf[256];
  uint32_t e = ERR_peek_last_error();
  ERR_error_string_n(e, buf, sizeof(buf));
  return e ? buf : "unknown error";
}

static int make_ctx(struct conn *c) {
  c->ctx = SSL_CTX_new(TLS_method());
  if (!c->ctx) return ED_E_NOMEM;
  SSL_CTX_set_min_proto_version(c->ctx, c->o->tls_min);
  SSL_CTX_set_max_proto_version(c->ctx, TLS1_3_VERSION);
  if (!SSL_CTX_load_verify_locations(c->ctx, c->ca, NULL)) {
    say(c, "client: %s holds no usable CA certificate (%s)", c->ca,
        ssl_err_text());
    return ED_E_PARSE;
  }
  if (!SSL_CTX_use_certificate_chain_file(c->ctx, c->cert)) {
    say(c, "client: %s holds no usable certificate (%s)", c->cert,
        ssl_err_text());
    return ED_E_PARSE;
  }
  if (!SSL_CTX_use_PrivateKey_file(c->ctx, c->key, SSL_FILETYPE_PEM)) {
    say(c, "client: %s holds no usable private key (%s)", c->key,
        ssl_err_text());
    return ED_E_PARSE;
  }
  if (!SSL_CTX_check_private_key(c->ctx)) {
    say(c, "client: the key %s does not match the certificate %s", c->key,
        c->cert);
    return ED_E_MISMATCH;
  }
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

static int load_session(struct conn *c) {
  uint8_t *data = NULL;
  size_t len = 0;
  if (ed_read_file(&data, &len, c->o->sess_in, 1 << 20) != 0) {
    say(c, "client: cannot read the session file %s", c->o->sess_in);
    return ED_E_NOENT;
  }
  SSL_SESSION *s = SSL_SESSION_from_bytes(data, len, c->ctx);
  free(data);
  if (!s) {
    say(c, "client: %s is not a saved TLS session (save one with --sess-out)",
        c->o->sess_in);
    ERR_clear_error();
    return ED_E_PARSE;
  }
  SSL_set_session(c->ssl, s);
  SSL_SESSION_free(s);
  return 0;
}

static int make_ssl(struct conn *c) {
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

/* ---- connecting ------------------------------------------------------------
 */

static int connect_one(struct conn *c, const struct addrinfo *ai,
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
  int r = poll(&p, 1, (int)ms_left(deadline));
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

static int tcp_connect(struct conn *c, uint64_t deadline) {
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  struct addrinfo *res = NULL;
  char port[8];
  snprintf(port, sizeof(port), "%u", c->port);
  int g = getaddrinfo(c->host, port, &hints, &res);
  if (g != 0) {
    say(c, "client: cannot resolve %s: %s; check --connect", c->host,
        gai_strerror(g));
    return ED_E_SYS;
  }
  int e = 0;
  for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
    if (connect_one(c, ai, deadline, &e) == 0) break;
  }
  freeaddrinfo(res);
  if (c->fd >= 0) return 0;
  if (e == ECONNREFUSED) {
    say(c,
        "client: cannot connect to %s: connection refused; is the server "
        "running? start it with: bazel run //cmd:server",
        c->o->connect);
  } else if (e == ETIMEDOUT) {
    say(c,
        "client: cannot connect to %s: no answer within %us; check the "
        "address and that the server is reachable",
        c->o->connect, c->o->timeout_ms / 1000);
    return ED_E_TIMEOUT;
  } else {
    say(c, "client: cannot connect to %s: %s", c->o->connect, strerror(e));
  }
  return ED_E_SYS;
}

/* ---- explaining TLS failures ----------------------------------------------
 */

static void leaf_sans(struct conn *c, char *out, size_t out_len) {
  size_t n = 0;
  out[0] = '\0';
  GENERAL_NAMES *gens =
      c->leaf ? X509_get_ext_d2i(c->leaf, NID_subject_alt_name, NULL, NULL)
              : NULL;
  for (size_t i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
    const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
    char ip[INET6_ADDRSTRLEN] = "";
    if (g->type == GEN_DNS) {
      n += (size_t)snprintf(out + n, out_len - n, "%s%.*s", n ? ", " : "",
                            ASN1_STRING_length(g->d.dNSName),
                            (const char *)ASN1_STRING_get0_data(g->d.dNSName));
    } else if (g->type == GEN_IPADD) {
      int len = ASN1_STRING_length(g->d.iPAddress);
      inet_ntop(len == 4 ? AF_INET : AF_INET6,
                ASN1_STRING_get0_data(g->d.iPAddress), ip, sizeof(ip));
      n += (size_t)snprintf(out + n, out_len - n, "%s%s", n ? ", " : "", ip);
    }
    if (n >= out_len) break;
  }
  GENERAL_NAMES_free(gens);
}

static void name_str(const X509_NAME *nm, char *out, size_t out_len) {
  BIO *b = BIO_new(BIO_s_mem());
  const uint8_t *data = NULL;
  size_t len = 0;
  out[0] = '\0';
  if (!b) return;
  if (X509_NAME_print_ex(b, nm, 0, XN_FLAG_RFC2253) >= 0 &&
      BIO_mem_contents(b, &data, &len)) {
    snprintf(out, out_len, "%.*s", (int)len, (const char *)data);
  }
  BIO_free(b);
}

static int explain_verify(struct conn *c, long v) {
  char sans[512], issuer[256] = "";
  leaf_sans(c, sans, sizeof(sans));
  if (c->leaf) name_str(X509_get_issuer_name(c->leaf), issuer, sizeof(issuer));
  if (v == X509_V_ERR_HOSTNAME_MISMATCH ||
      v == X509_V_ERR_IP_ADDRESS_MISMATCH) {
    say(c,
        "client: the server's certificate is not valid for \"%s\" (it names: "
        "%s); connect with --servername set to one of those names",
        c->name, sans[0] ? sans : "nothing");
  } else if (v == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
             v == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
             v == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
             v == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE ||
             v == X509_V_ERR_CERT_SIGNATURE_FAILURE) {
    say(c,
        "client: the server's certificate (issuer: %s) is not signed by the "
        "CA in %s; pass the CA that signed it with --ca FILE",
        issuer[0] ? issuer : "unknown", c->ca);
  } else if (v == X509_V_ERR_CERT_HAS_EXPIRED ||
             v == X509_V_ERR_CERT_NOT_YET_VALID) {
    say(c,
        "client: the server's certificate %s; the server needs a new one "
        "(bazel run //cmd:pki -- issue server NAME)",
        v == X509_V_ERR_CERT_HAS_EXPIRED ? "has expired" : "is not valid yet");
  } else {
    say(c, "client: the server's certificate failed verification: %s",
        X509_verify_cert_error_string(v));
  }
  return ED_E_VERIFY;
}

static int explain_alert(struct conn *c, int a) {
  const char *name = ed_client_alert_name(a);
  if (a == SSL_AD_CERTIFICATE_REQUIRED) {
    say(c,
        "client: the server requires a client certificate (alert: %s); pass "
        "one with --cert FILE --key FILE",
        name);
  } else if (is_cert_alert(a)) {
    say(c,
        "client: the server rejected this client's certificate (alert: %s); "
        "get a valid one with: bazel run //cmd:pki -- issue client NAME",
        name);
  } else if (a == SSL_AD_PROTOCOL_VERSION) {
    say(c,
        "client: the server does not accept the TLS versions offered (alert: "
        "%s); check --tls-min against the server's",
        name);
  } else {
    say(c,
        "client: the server refused the connection (alert: %s); the server's "
        "log says why",
        name);
  }
  return ED_E_TLS;
}

/* drain_for_alert reads what the server sent before it hung up, so an
 * alert that arrived behind a failed write is still reported. */
static void drain_for_alert(struct conn *c, int ms) {
  uint8_t buf[4096];
  uint64_t deadline = ed_now_ns() + (uint64_t)ms * 1000000;
  while (c->alert_in < 0 && ms_left(deadline) > 0) {
    int n = SSL_read(c->ssl, buf, sizeof(buf));
    if (n > 0) continue;
    if (SSL_get_error(c->ssl, n) != SSL_ERROR_WANT_READ) break;
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    if (poll(&p, 1, (int)ms_left(deadline)) <= 0) break;
  }
  ERR_clear_error();
}

/* explain_failure prints why the TLS session failed in |stage|. */
static int explain_failure(struct conn *c, const char *stage, int ssl_err) {
  long v = SSL_get_verify_result(c->ssl);
  int sys = errno;
  if (v != X509_V_OK && (SSL_in_init(c->ssl) || c->leaf)) {
    ERR_clear_error();
    return explain_verify(c, v);
  }
  if (c->alert_in < 0) {
    uint32_t e = ERR_peek_error();
    int r = ERR_GET_REASON(e);
    if (ERR_GET_LIB(e) == ERR_LIB_SSL && r >= SSL_AD_REASON_OFFSET &&
        r < SSL_AD_REASON_OFFSET + 256)
      c->alert_in = r - SSL_AD_REASON_OFFSET;
  }
  ERR_clear_error();
  if (c->alert_in < 0 && ssl_err != SSL_ERROR_SSL) drain_for_alert(c, 300);
  if (c->alert_in >= 0) return explain_alert(c, c->alert_in);
  if (ssl_err == SSL_ERROR_SYSCALL || ssl_err == SSL_ERROR_ZERO_RETURN) {
    say(c,
        "client: the server closed the connection during the %s (%s); the "
        "server's log says why",
        stage, ssl_err == SSL_ERROR_SYSCALL && sys ? strerror(sys) : "EOF");
    return ED_E_CLOSED;
  }
  say(c, "client: TLS %s failed: %s", stage, ssl_err_text());
  return ED_E_TLS;
}

/* ---- the handshake ---------------------------------------------------------
 */

/* wait_ssl polls the socket for what |ssl_err| wants, until |deadline|.
 * Returns 0, or ED_E_TIMEOUT. */
static int wait_ssl(struct conn *c, int ssl_err, uint64_t deadline) {
  struct pollfd p = {
      .fd = c->fd,
      .events = ssl_err == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN};
  for (;;) {
    int r = poll(&p, 1, (int)ms_left(deadline));
    if (r > 0) return 0;
    if (r == 0) return ED_E_TIMEOUT;
    if (errno != EINTR) return ED_E_SYS;
  }
}

static void print_handshake(struct conn *c) {
  char subject[256] = "", issuer[256] = "";
  X509 *peer = SSL_get_peer_certificate(c->ssl);
  if (peer) {
    name_str(X509_get_subject_name(peer), subject, sizeof(subject));
    name_str(X509_get_issuer_name(peer), issuer, sizeof(issuer));
    X509_free(peer);
  }
  const SSL_CIPHER *ciph = SSL_get_current_cipher(c->ssl);
  say(c,
      "client: handshake ok: peer=%s version=%s cipher=%s resumed=%s "
      "server_subject=\"%s\" server_issuer=\"%s\"",
      c->o->connect, SSL_get_version(c->ssl),
      ciph ? SSL_CIPHER_standard_name(ciph) : "none",
      SSL_session_reused(c->ssl) ? "yes" : "no", subject, issuer);
}

static int handshake(struct conn *c, uint64_t deadline) {
  for (;;) {
    int r = SSL_connect(c->ssl);
    if (r == 1) break;
    int e = SSL_get_error(c->ssl, r);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
      return explain_failure(c, "handshake", e);
    if (wait_ssl(c, e, deadline) != 0) {
      say(c,
          "client: the TLS handshake with %s did not finish within %us; is "
          "that an echod server?",
          c->o->connect, c->o->timeout_ms / 1000);
      return ED_E_TIMEOUT;
    }
  }
  if (!c->o->quiet) print_handshake(c);
  return 0;
}

/* ---- data ------------------------------------------------------------------
 */

static int write_all(int fd, const uint8_t *p, size_t len) {
  while (len) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      struct pollfd pf = {.fd = fd, .events = POLLOUT};
      poll(&pf, 1, 1000);
      continue;
    }
    if (n <= 0) return ED_E_IO;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* pump_read moves everything readable from the server to |out_fd|.
 * Returns 0 (would block or server closed: see c->peer_close) or an error
 * already explained. */
static int pump_read(struct conn *c, int out_fd) {
  uint8_t buf[IO_CHUNK];
  for (;;) {
    int n = SSL_read(c->ssl, buf, sizeof(buf));
    if (n > 0) {
      c->recvd += (uint64_t)n;
      if (out_fd >= 0 && write_all(out_fd, buf, (size_t)n) != 0) {
        say(c, "client: cannot write the echo to stdout: %s", strerror(errno));
        return ED_E_IO;
      }
      continue;
    }
    int e = SSL_get_error(c->ssl, n);
    if (e == SSL_ERROR_WANT_READ) return 0;
    if (e == SSL_ERROR_ZERO_RETURN) return c->peer_close = 1, 0;
    return explain_failure(c, "session", e);
  }
}

/* pump_write sends buf[*off..len). Sets |*want_out| when the socket is
 * full. Returns 0 or an explained error. */
static int pump_write(struct conn *c, const uint8_t *buf, size_t len,
                      size_t *off, int *want_out) {
  *want_out = 0;
  while (*off < len) {
    size_t chunk = len - *off > IO_CHUNK ? IO_CHUNK : len - *off;
    int n = SSL_write(c->ssl, buf + *off, (int)chunk);
    if (n > 0) {
      *off += (size_t)n;
      c->sent += (uint64_t)n;
      continue;
    }
    int e = SSL_get_error(c->ssl, n);
    if (e == SSL_ERROR_WANT_WRITE) return *want_out = 1, 0;
    if (e == SSL_ERROR_WANT_READ) return 0;
    return explain_failure(c, "session", e);
  }
  return 0;
}

/* send_close sends our close_notify. Returns 1 once sent, 0 if the socket
 * was full, or an explained error. */
static int send_close(struct conn *c) {
  int r = SSL_shutdown(c->ssl);
  if (r >= 0) return 1;
  int e = SSL_get_error(c->ssl, r);
  if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) return 0;
  return explain_failure(c, "close", e);
}

/* ---- pipe mode -------------------------------------------------------------
 */

struct pipe_state {
  uint8_t in[IO_CHUNK];
  size_t in_len, in_off;
  int in_eof;
  int closing;          /* our close_notify is out */
  uint64_t progress_ns; /* last time a byte moved */
  uint64_t echoed_ns;   /* when the last echo byte arrived after closing */
};

static int pipe_done(struct conn *c, const struct pipe_state *s) {
  if (!c->o->quiet)
    say(c, "client: closed: sent=%llu received=%llu server_close_notify=%s",
        (unsigned long long)c->sent, (unsigned long long)c->recvd,
        c->peer_close ? "yes" : "no");
  if (s->in_eof && !s->in_len && c->recvd == c->sent) return 0;
  say(c,
      "client: the server closed the session after echoing %llu of %llu "
      "bytes; the server's log says why",
      (unsigned long long)c->recvd, (unsigned long long)c->sent);
  return ED_E_CLOSED;
}

static int read_stdin(struct conn *c, struct pipe_state *s, int in_fd) {
  ssize_t n = read(in_fd, s->in, sizeof(s->in));
  if (n > 0) {
    s->in_len = (size_t)n;
    s->in_off = 0;
  } else if (n == 0) {
    s->in_eof = 1;
  } else if (errno != EINTR && errno != EAGAIN) {
    say(c, "client: cannot read stdin: %s", strerror(errno));
    return ED_E_IO;
  }
  return 0;
}

/* pipe_step moves what can move without blocking. Sets |*want_out| when
 * the socket is full. Returns 0 or an explained error. */
static int pipe_step(struct conn *c, struct pipe_state *s, int out_fd,
                     int *want_out) {
  int rc = pump_write(c, s->in, s->in_len, &s->in_off, want_out);
  if (rc) return rc;
  if (s->in_off == s->in_len) s->in_len = s->in_off = 0;
  if ((rc = pump_read(c, out_fd)) != 0) return rc;
  /* BoringSSL ignores tickets once our close_notify is out, so with
   * --sess-out wait for the session first. */
  int want_ticket = c->o->sess_out && !c->saved_session;
  if (s->in_eof && !s->in_len && !s->closing && !want_ticket) {
    rc = send_close(c);
    if (rc < 0) return rc;
    s->closing = rc;
    if (!rc) *want_out = 1;
  }
  return 0;
}

/* pipe_timeout returns the poll timeout in ms (-1: wait for stdin) or 0
 * with |*stalled| set when the server has made no progress for too long. */
static int pipe_timeout(struct conn *c, struct pipe_state *s, int *stalled) {
  uint64_t now = ed_now_ns();
  *stalled = 0;
  if (s->echoed_ns) {
    uint64_t end = s->echoed_ns + (uint64_t)CLOSE_GRACE_MS * 1000000;
    return now >= end ? 0 : (int)((end - now) / 1000000 + 1);
  }
  if (!s->in_eof && !s->in_len && c->recvd >= c->sent) return -1;
  uint64_t end = s->progress_ns + (uint64_t)c->o->timeout_ms * 1000000;
  if (now >= end) return *stalled = 1, 0;
  return (int)((end - now) / 1000000 + 1);
}

static int pipe_mode(struct conn *c, int in_fd, int out_fd) {
  struct pipe_state *s = ed_calloc(1, sizeof(*s));
  int rc = 0;
  s->progress_ns = ed_now_ns();
  for (;;) {
    uint64_t before = c->sent + c->recvd;
    int want_out = 0, stalled;
    if ((rc = pipe_step(c, s, out_fd, &want_out)) != 0) break;
    if (c->sent + c->recvd != before) s->progress_ns = ed_now_ns();
    int all_echoed = s->closing && c->recvd >= c->sent;
    if (c->peer_close) break;
    if (all_echoed && !s->echoed_ns) s->echoed_ns = ed_now_ns();
    int timeout = pipe_timeout(c, s, &stalled);
    if (stalled && c->recvd >= c->sent) {
      say(c, "client: the server sent no session ticket within %us",
          c->o->timeout_ms / 1000);
      rc = ED_E_TIMEOUT;
      break;
    }
    if (stalled) {
      say(c,
          "client: the server stopped echoing (sent %llu bytes, got %llu "
          "back, nothing for %us)",
          (unsigned long long)c->sent, (unsigned long long)c->recvd,
          c->o->timeout_ms / 1000);
      rc = ED_E_TIMEOUT;
      break;
    }
    if (s->echoed_ns && timeout == 0) break; /* no close_notify: fine */
    struct pollfd p[2] = {
        {.fd = c->fd, .events = (short)(POLLIN | (want_out ? POLLOUT : 0))},
        {.fd = in_fd, .events = POLLIN}};
    int nfds = (!s->in_eof && !s->in_len) ? 2 : 1;
    if (poll(p, (nfds_t)nfds, timeout) < 0 && errno != EINTR) {
      rc = ED_E_SYS;
      break;
    }
    if (nfds == 2 && p[1].revents && (rc = read_stdin(c, s, in_fd)) != 0) break;
  }
  if (rc == 0) rc = pipe_done(c, s);
  free(s);
  return rc;
}

/* ---- interactive mode ------------------------------------------------------
 */

static int send_blocking(struct conn *c, const uint8_t *buf, size_t len,
                         uint64_t deadline) {
  size_t off = 0;
  while (off < len) {
    int want_out = 0;
    int rc = pump_write(c, buf, len, &off, &want_out);
    if (rc) return rc;
    if (off < len &&
        wait_ssl(c, want_out ? SSL_ERROR_WANT_WRITE : SSL_ERROR_WANT_READ,
                 deadline) != 0) {
      say(c, "client: the server stopped reading");
      return ED_E_TIMEOUT;
    }
  }
  return 0;
}

/* await_echo reads until every byte sent has come back. */
static int await_echo(struct conn *c, int out_fd, uint64_t deadline) {
  while (c->recvd < c->sent) {
    int rc = pump_read(c, out_fd);
    if (rc) return rc;
    if (c->peer_close) {
      say(c, "client: the server closed the session");
      return ED_E_CLOSED;
    }
    if (c->recvd >= c->sent) break;
    if (wait_ssl(c, SSL_ERROR_WANT_READ, deadline) != 0) {
      say(c, "client: no echo from the server within %us",
          c->o->timeout_ms / 1000);
      return ED_E_TIMEOUT;
    }
  }
  return 0;
}

/* settle gives the server a moment to send its post-handshake records: in
 * TLS 1.3 the client's certificate is judged after the client's handshake
 * is done, so a refusal shows up here rather than in SSL_connect. */
static int settle(struct conn *c, int out_fd, int ms) {
  uint64_t deadline = ed_now_ns() + (uint64_t)ms * 1000000;
  if (wait_ssl(c, SSL_ERROR_WANT_READ, deadline) != 0) return 0;
  int rc = pump_read(c, out_fd);
  if (!rc && c->peer_close) {
    say(c, "client: the server closed the session right after the handshake");
    return ED_E_CLOSED;
  }
  return rc;
}

static int is_quit(const char *line) {
  return strcmp(line, "quit\n") == 0 || strcmp(line, "quit") == 0 ||
         strcmp(line, "exit\n") == 0;
}

static int interactive(struct conn *c, int in_fd, int out_fd) {
  int rc = settle(c, out_fd, 500);
  if (rc) return rc;
  if (!c->o->quiet)
    say(c,
        "Connected to %s. Type a line to have it echoed; quit or Ctrl-D "
        "ends.",
        c->o->connect);
  FILE *in = fdopen(dup(in_fd), "r");
  if (!in) return ED_E_SYS;
  char *line = NULL;
  size_t cap = 0;
  for (;;) {
    if (!c->o->quiet) write_all(out_fd, (const uint8_t *)"echo> ", 6);
    ssize_t n = getline(&line, &cap, in);
    if (n <= 0 || is_quit(line)) break;
    uint64_t deadline = ed_now_ns() + (uint64_t)c->o->timeout_ms * 1000000;
    if ((rc = send_blocking(c, (uint8_t *)line, (size_t)n, deadline)) != 0 ||
        (rc = await_echo(c, out_fd, deadline)) != 0)
      break;
  }
  if (!c->o->quiet && rc == 0) write_all(out_fd, (const uint8_t *)"\n", 1);
  free(line);
  fclose(in);
  if (rc == 0 && send_close(c) == 0) {
    uint64_t deadline = ed_now_ns() + 1000000000ull;
    if (wait_ssl(c, SSL_ERROR_WANT_WRITE, deadline) == 0) send_close(c);
  }
  return rc;
}

/* ---- run -------------------------------------------------------------------
 */

static int run_session(struct conn *c, int in_fd, int out_fd) {
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
  if (mode == ED_CLIENT_MODE_INTERACTIVE) return interactive(c, in_fd, out_fd);
  return pipe_mode(c, in_fd, out_fd);
}

int ed_client_run(const struct ed_client_opts *o, int in_fd, int out_fd,
                  FILE *msgs) {
  struct conn *c = ed_calloc(1, sizeof(*c));
  c->o = o;
  c->msgs = msgs;
  c->fd = -1;
  c->alert_in = -1;
  int rc;
  if (ed_parse_hostport(c->host, sizeof(c->host), &c->port,
                        o->connect ? o->connect : ED_CLIENT_DEFAULT_CONNECT) !=
      0) {
    say(c, "client: --connect: \"%s\" is not host:port", o->connect);
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

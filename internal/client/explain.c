/* internal/client — turning a failure into one sentence that says what to
 * do: the server's certificate not trusted or not naming the host, an
 * alert the server sent (its reason for refusing us), a hang-up. */
#include <arpa/inet.h>
#include <errno.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "internal/client/conn.h"
#include "internal/version/tool.h"

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

const char *ed_client__ssl_err_text(void) {
  static __thread char buf[256];
  uint32_t e = ERR_peek_last_error();
  ERR_error_string_n(e, buf, sizeof(buf));
  return e ? buf : "unknown error";
}

static void leaf_sans(struct ed_client_conn *c, char *out, size_t out_len) {
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
      /* The server's certificate is untrusted input: only 4 or 16 bytes
       * are an address inet_ntop may read. */
      int len = ASN1_STRING_length(g->d.iPAddress);
      if (len != 4 && len != 16) continue;
      inet_ntop(len == 4 ? AF_INET : AF_INET6,
                ASN1_STRING_get0_data(g->d.iPAddress), ip, sizeof(ip));
      n += (size_t)snprintf(out + n, out_len - n, "%s%s", n ? ", " : "", ip);
    }
    if (n >= out_len) break;
  }
  GENERAL_NAMES_free(gens);
}

void ed_client__name_str(const X509_NAME *nm, char *out, size_t out_len) {
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

static int explain_verify(struct ed_client_conn *c, long v) {
  char sans[512], issuer[256] = "";
  leaf_sans(c, sans, sizeof(sans));
  if (c->leaf)
    ed_client__name_str(X509_get_issuer_name(c->leaf), issuer, sizeof(issuer));
  if (v == X509_V_ERR_HOSTNAME_MISMATCH ||
      v == X509_V_ERR_IP_ADDRESS_MISMATCH) {
    ed_client__say(c,
                   "echo-client: the server's certificate is not valid for "
                   "\"%s\" (it names: "
                   "%s); connect with --servername set to one of those names",
                   c->name, sans[0] ? sans : "nothing");
  } else if (v == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
             v == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
             v == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
             v == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE ||
             v == X509_V_ERR_CERT_SIGNATURE_FAILURE) {
    ed_client__say(c,
                   "echo-client: the server's certificate (issuer: %s) is not "
                   "signed by the "
                   "CA in %s; pass the CA that signed it with --ca FILE",
                   issuer[0] ? issuer : "unknown", c->ca);
  } else if (v == X509_V_ERR_CERT_HAS_EXPIRED ||
             v == X509_V_ERR_CERT_NOT_YET_VALID) {
    char pki[64];
    ed_client__say(
        c,
        "echo-client: the server's certificate %s; the server needs a new one "
        "(%s issue server NAME --replace)",
        v == X509_V_ERR_CERT_HAS_EXPIRED ? "has expired" : "is not valid yet",
        ed_tool_cmd(pki, sizeof(pki), ED_TOOL_PKI, 1));
  } else {
    ed_client__say(
        c, "echo-client: the server's certificate failed verification: %s",
        X509_verify_cert_error_string(v));
  }
  return ED_E_VERIFY;
}

/* own_name writes this client's certificate subject ("CN=alice") for
 * messages about it, or "no certificate". */
static void own_name(struct ed_client_conn *c, char *out, size_t out_len) {
  X509 *mine = c->ctx ? SSL_CTX_get0_certificate(c->ctx) : NULL;
  out[0] = '\0';
  if (mine) ed_client__name_str(X509_get_subject_name(mine), out, out_len);
  if (!out[0]) snprintf(out, out_len, "no certificate");
}

/* What each certificate alert means for a certificate that may well be
 * valid, who can fix it, and the echo-pki arguments that do (or NULL). */
static const struct {
  int alert;
  const char *what, *fix, *pki_args;
} cert_alerts[] = {
    {SSL_AD_ACCESS_DENIED, "is valid but not on the server's allow-list",
     "ask the server's operator to allow it (--allow-cn, --allow-san, "
     "--allow-sha256 or --allow-file)",
     NULL},
    {SSL_AD_CERTIFICATE_REVOKED, "has been revoked by its CA",
     "ask the server's operator for a new certificate", NULL},
    {SSL_AD_UNKNOWN_CA, "is not signed by a CA the server trusts",
     "use a certificate from the server's CA", "issue client NAME"},
    {SSL_AD_CERTIFICATE_EXPIRED, "has expired", "get a new one from its CA",
     "issue client NAME --replace"},
    {SSL_AD_UNSUPPORTED_CERTIFICATE,
     "is not a client certificate (no clientAuth extended key usage)",
     "use one issued for clients", "issue client NAME"},
    {SSL_AD_BAD_CERTIFICATE, "was refused (not valid yet, or unreadable)",
     "the server's log says why", NULL},
    {SSL_AD_CERTIFICATE_UNKNOWN, "was refused", "the server's log says why",
     NULL},
};

/* explain_cert_alert: the server refused this client's certificate.
 * Returns 0 if |a| is not such an alert. */
static int explain_cert_alert(struct ed_client_conn *c, int a,
                              const char *name) {
  char me[256], pki[64];
  for (size_t i = 0; i < sizeof(cert_alerts) / sizeof(*cert_alerts); i++) {
    if (cert_alerts[i].alert != a) continue;
    const char *args = cert_alerts[i].pki_args;
    own_name(c, me, sizeof(me));
    ed_tool_cmd(pki, sizeof(pki), ED_TOOL_PKI, 1);
    ed_client__say(c,
                   "echo-client: the server refused this client's certificate "
                   "(%s): it %s (alert: %s); %s%s%s%s%s%s",
                   me, cert_alerts[i].what, name, cert_alerts[i].fix,
                   args ? " (with echod's CA: " : "", args ? pki : "",
                   args ? " " : "", args ? args : "", args ? ")" : "");
    return 1;
  }
  return 0;
}

static int explain_alert(struct ed_client_conn *c, int a) {
  const char *name = ed_client_alert_name(a);
  if (a == SSL_AD_CERTIFICATE_REQUIRED) {
    ed_client__say(
        c,
        "echo-client: the server requires a client certificate (alert: %s); "
        "pass one with --cert FILE --key FILE",
        name);
  } else if (explain_cert_alert(c, a, name)) {
  } else if (a == SSL_AD_PROTOCOL_VERSION) {
    ed_client__say(
        c,
        "echo-client: the server does not accept the TLS versions offered "
        "(alert: %s); check --tls-min against the server's",
        name);
  } else {
    ed_client__say(
        c,
        "echo-client: the server refused the connection (alert: %s); the "
        "server's log says why",
        name);
  }
  return ED_E_TLS;
}

/* drain_for_alert reads what the server sent before it hung up, so an
 * alert that arrived behind a failed write is still reported. */
static void drain_for_alert(struct ed_client_conn *c, int ms) {
  uint8_t buf[4096];
  uint64_t deadline = ed_now_ns() + (uint64_t)ms * 1000000;
  while (c->alert_in < 0 && ed_client__ms_left(deadline) > 0) {
    int n = SSL_read(c->ssl, buf, sizeof(buf));
    if (n > 0) continue;
    if (SSL_get_error(c->ssl, n) != SSL_ERROR_WANT_READ) break;
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    if (poll(&p, 1, (int)ed_client__ms_left(deadline)) <= 0) break;
  }
  ERR_clear_error();
}

/* explain_failure prints why the TLS session failed in |stage|. */
void ed_client__say_silent_close(struct ed_client_conn *c, int reset) {
  ed_client__say(
      c,
      "echo-client: the server at %s %s the connection before sending "
      "anything (it may be full: --max-connections or "
      "--max-pending-handshakes, or shutting down); try again later, the "
      "server's log says why",
      c->target, reset ? "reset" : "closed");
}

/* explain_silent_close: the server closed or reset TCP before sending a
 * single byte. Without this, the verify result nobody computed read
 * "Invalid certificate verification context". Returns 0 if the server did
 * send something. */
static int explain_silent_close(struct ed_client_conn *c, int sys) {
  BIO *rbio = c->ssl ? SSL_get_rbio(c->ssl) : NULL;
  if (!rbio || BIO_number_read(rbio) > 0 || c->alert_in >= 0) return 0;
  ed_client__say_silent_close(c, sys == ECONNRESET);
  return 1;
}

int ed_client__explain_failure(struct ed_client_conn *c, const char *stage,
                               int ssl_err) {
  long v = SSL_get_verify_result(c->ssl);
  int sys = errno;
  if (SSL_in_init(c->ssl) && explain_silent_close(c, sys)) {
    ERR_clear_error();
    return ED_E_CLOSED;
  }
  /* Only a verification that ran (the callback saw the leaf) has a result
   * worth explaining. */
  if (v != X509_V_OK && c->leaf) {
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
    ed_client__say(
        c,
        "echo-client: the server closed the connection during the %s (%s); the "
        "server's log says why",
        stage, ssl_err == SSL_ERROR_SYSCALL && sys ? strerror(sys) : "EOF");
    return ED_E_CLOSED;
  }
  ed_client__say(c, "echo-client: TLS %s failed: %s", stage,
                 ed_client__ssl_err_text());
  return ED_E_TLS;
}

/* internal/tls — verifying a client certificate during the handshake (on
 * the handshake pool): chain to the CA, clientAuth EKU, validity, CRL and
 * the allow-list. Each refusal gets a reason (tls_types.h) and a TLS alert. */
#include <openssl/err.h>
#include <openssl/pool.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal/tls/tls_internal.h"

static enum ssl_verify_result_t refuse(struct ed_tls_conn *c, uint8_t *alert,
                                       enum ed_hs_reason reason,
                                       uint8_t alert_value,
                                       const char *detail) {
  c->reason = reason;
  c->have_reason = 1;
  c->detail = detail;
  *alert = alert_value;
  return ssl_verify_invalid;
}

static int ignore_crl_time(int ok, X509_STORE_CTX *ctx) {
  int e = X509_STORE_CTX_get_error(ctx);
  if (!ok &&
      (e == X509_V_ERR_CRL_HAS_EXPIRED || e == X509_V_ERR_CRL_NOT_YET_VALID)) {
    return 1;
  }
  return ok;
}

static enum ssl_verify_result_t map_verify_error(struct ed_tls_conn *c,
                                                 uint8_t *alert, int e) {
  switch (e) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return refuse(c, alert, ED_HS_CERT_EXPIRED, SSL_AD_CERTIFICATE_EXPIRED,
                    "certificate expired");
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return refuse(c, alert, ED_HS_CERT_NOT_YET_VALID, SSL_AD_BAD_CERTIFICATE,
                    "certificate not yet valid");
    case X509_V_ERR_CERT_REVOKED:
      return refuse(c, alert, ED_HS_CERT_REVOKED, SSL_AD_CERTIFICATE_REVOKED,
                    "certificate revoked");
    case X509_V_ERR_INVALID_PURPOSE:
      return refuse(c, alert, ED_HS_BAD_EKU, SSL_AD_UNSUPPORTED_CERTIFICATE,
                    "certificate not for client authentication");
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
    case X509_V_ERR_CERT_UNTRUSTED:
      return refuse(c, alert, ED_HS_UNKNOWN_CA, SSL_AD_UNKNOWN_CA,
                    "certificate not issued by the configured CA");
    default:
      return refuse(c, alert, ED_HS_OTHER, SSL_AD_BAD_CERTIFICATE,
                    X509_verify_cert_error_string(e));
  }
}

/* chain_window sets the window in which every certificate of the verified
 * chain (leaf to trust anchor) is valid. */
static void chain_window(X509_STORE_CTX *xs, int64_t *from, int64_t *until) {
  STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(xs);
  *from = 0;
  *until = INT64_MAX;
  for (size_t i = 0; chain && i < sk_X509_num(chain); i++) {
    X509 *x = sk_X509_value(chain, i);
    int64_t nb = ed_tls_asn1_time(X509_get0_notBefore(x));
    int64_t na = ed_tls_asn1_time(X509_get0_notAfter(x));
    if (nb > *from) *from = nb;
    if (na < *until) *until = na;
  }
  if (!chain) *until = 0; /* nothing to cache */
}

/* verify_chain runs X509_verify_cert on |certs| and returns the X509
 * error (X509_V_OK on success, with the chain's validity window). */
static int verify_chain(struct ed_tls_snapshot *s, X509 *leaf,
                        STACK_OF(X509) * chain, int64_t *from, int64_t *until) {
  X509_STORE_CTX *xs = X509_STORE_CTX_new();
  int e = X509_V_ERR_OUT_OF_MEM;
  if (xs && X509_STORE_CTX_init(xs, s->store, leaf, chain) &&
      X509_STORE_CTX_set_purpose(xs, X509_PURPOSE_SSL_CLIENT)) {
    X509_STORE_CTX_set_verify_cb(xs, ignore_crl_time);
    e = X509_verify_cert(xs) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(xs);
    if (e == X509_V_OK) chain_window(xs, from, until);
  }
  X509_STORE_CTX_free(xs);
  ERR_clear_error();
  return e;
}

static void cn_str(char *out, size_t out_len, X509 *x) {
  out[0] = '\0';
  X509_NAME *name = X509_get_subject_name(x);
  int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (i < 0) return;
  uint8_t *utf8 = NULL;
  int n = ASN1_STRING_to_UTF8(
      &utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
  if (n >= 0) snprintf(out, out_len, "%.*s", n, (const char *)utf8);
  OPENSSL_free(utf8);
  ERR_clear_error();
}

struct ed_tls_peer *ed_tls_peer_from_x509(X509 *x, const uint8_t *der,
                                          size_t der_len) {
  struct ed_tls_peer *p = ed_calloc(1, sizeof(*p));
  cn_str(p->cn, sizeof(p->cn), x);
  ed_tls_sans_str(p->sans, sizeof(p->sans), x);
  ed_tls_serial_hex(p->serial, sizeof(p->serial), X509_get0_serialNumber(x));
  SHA256(der, der_len, p->sha256);
  p->not_before = ed_tls_asn1_time(X509_get0_notBefore(x));
  p->not_after = ed_tls_asn1_time(X509_get0_notAfter(x));
  return p;
}

static int san_listed(const struct ed_tls_snapshot *s, const char *sans) {
  const char *p = sans;
  while (*p) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    const char *colon = memchr(p, ':', len);
    for (size_t i = 0; i < s->num_allow_san; i++) {
      const char *a = s->allow_san[i];
      size_t alen = strlen(a);
      if (alen == len && !memcmp(a, p, len)) return 1; /* "DNS:x" form */
      if (colon && alen == len - (size_t)(colon + 1 - p) &&
          !memcmp(a, colon + 1, alen)) {
        return 1; /* bare value */
      }
    }
    p += len + (end ? 1 : 0);
  }
  return 0;
}

int ed_tls_acl_allows(const struct ed_tls_snapshot *s,
                      const struct ed_tls_peer *p) {
  if (!s->num_allow_cn && !s->num_allow_san && !s->num_allow_sha256) return 1;
  for (size_t i = 0; i < s->num_allow_cn; i++) {
    if (p->cn[0] && !strcmp(s->allow_cn[i], p->cn)) return 1;
  }
  if (s->num_allow_san && san_listed(s, p->sans)) return 1;
  for (size_t i = 0; i < s->num_allow_sha256; i++) {
    if (!memcmp(s->allow_sha256[i], p->sha256, 32)) return 1;
  }
  return 0;
}

static int has_client_eku(X509 *leaf) {
  return (X509_get_extension_flags(leaf) & EXFLAG_XKUSAGE) &&
         (X509_get_extended_key_usage(leaf) & XKU_SSL_CLIENT);
}

static enum ssl_verify_result_t check_leaf(struct ed_tls_conn *c,
                                           uint8_t *alert, X509 *leaf,
                                           const CRYPTO_BUFFER *der) {
  if (!has_client_eku(leaf)) {
    return refuse(c, alert, ED_HS_BAD_EKU, SSL_AD_UNSUPPORTED_CERTIFICATE,
                  "certificate lacks the clientAuth EKU");
  }
  struct ed_tls_peer *p = ed_tls_peer_from_x509(leaf, CRYPTO_BUFFER_data(der),
                                                CRYPTO_BUFFER_len(der));
  free(c->peer);
  c->peer = p;
  if (!ed_tls_acl_allows(c->snap, p)) {
    return refuse(c, alert, ED_HS_ACL_DENIED, SSL_AD_ACCESS_DENIED,
                  "client not on the allow-list");
  }
  return ssl_verify_ok;
}

/* cached_chain: the same chain verified before under this snapshot and
 * is still within its validity window. The allow-list is checked again
 * (cheap); the CertificateVerify signature is BoringSSL's, every time. */
static int cached_chain(struct ed_tls_conn *c, const uint8_t key[32],
                        uint8_t *alert, enum ssl_verify_result_t *out) {
  struct ed_tls_peer p;
  if (!ed_tls_vcache_get(c->snap->vcache, key, (int64_t)time(NULL), &p))
    return 0;
  free(c->peer);
  c->peer = ed_malloc(sizeof(*c->peer));
  *c->peer = p;
  *out = ed_tls_acl_allows(c->snap, c->peer)
             ? ssl_verify_ok
             : refuse(c, alert, ED_HS_ACL_DENIED, SSL_AD_ACCESS_DENIED,
                      "client not on the allow-list");
  return 1;
}

enum ssl_verify_result_t ed_tls_verify_client(SSL *ssl, uint8_t *out_alert) {
  struct ed_tls_conn *c = SSL_get_app_data(ssl);
  if (ed_tls_refuse_on_io_thread(c, "client_certificate")) {
    *out_alert = SSL_AD_INTERNAL_ERROR;
    return ssl_verify_invalid;
  }
  const STACK_OF(CRYPTO_BUFFER) *bufs = SSL_get0_peer_certificates(ssl);
  if (!c || !c->snap || !bufs || sk_CRYPTO_BUFFER_num(bufs) == 0) {
    return refuse(c, out_alert, ED_HS_NO_CLIENT_CERT,
                  SSL_AD_CERTIFICATE_REQUIRED, "no client certificate");
  }
  uint8_t key[32];
  enum ssl_verify_result_t r;
  ed_tls_vcache_key(key, bufs);
  if (cached_chain(c, key, out_alert, &r)) return r;
  X509 *leaf = X509_parse_from_buffer(sk_CRYPTO_BUFFER_value(bufs, 0));
  STACK_OF(X509) *chain = sk_X509_new_null();
  int parsed = leaf != NULL && chain != NULL;
  for (size_t i = 1; parsed && i < sk_CRYPTO_BUFFER_num(bufs); i++) {
    X509 *x = X509_parse_from_buffer(sk_CRYPTO_BUFFER_value(bufs, i));
    parsed = x && sk_X509_push(chain, x);
    if (!parsed) X509_free(x);
  }
  int64_t from = 0, until = 0;
  if (!parsed) {
    r = refuse(c, out_alert, ED_HS_PROTOCOL, SSL_AD_BAD_CERTIFICATE,
               "unparseable client certificate");
  } else {
    int e = verify_chain(c->snap, leaf, chain, &from, &until);
    r = e == X509_V_OK
            ? check_leaf(c, out_alert, leaf, sk_CRYPTO_BUFFER_value(bufs, 0))
            : map_verify_error(c, out_alert, e);
    /* Remember a chain that verified and carries the clientAuth EKU; the
     * allow-list is re-checked on every use. */
    if (e == X509_V_OK && has_client_eku(leaf) && c->peer)
      ed_tls_vcache_put(c->snap->vcache, key, from, until, c->peer);
  }
  X509_free(leaf);
  sk_X509_pop_free(chain, X509_free);
  ERR_clear_error();
  return r;
}

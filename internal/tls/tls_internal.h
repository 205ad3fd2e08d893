/* internal/tls — shared between tls_snapshot.c, tls_verify.c, tls_conn.c.
 * Not part of the module's API. */
#ifndef ED_TLS_INTERNAL_H
#define ED_TLS_INTERNAL_H

#include <openssl/x509.h>
#include <stdatomic.h>

#include "internal/tls/tls.h"

struct ed_tls_snapshot {
  _Atomic long refs;
  uint64_t id;
  SSL_CTX *ctx;
  X509_STORE *store; /* CAs (+ CRL with CRL_CHECK when has_crl) */
  int has_crl;
  uint8_t ca_fp[32]; /* SHA-256 over every CA DER: the trust generation */
  char **revoked;    /* sorted uppercase hex serials from the CRL */
  size_t num_revoked;
  char **allow_cn, **allow_san;
  size_t num_allow_cn, num_allow_san;
  uint8_t (*allow_sha256)[32];
  size_t num_allow_sha256;
  struct ed_tls_keyring *keyring;
  struct ed_tls_summary summary;
};

struct ed_tls_conn {
  SSL *ssl;
  struct ed_tls_snapshot *snap; /* server side; NULL for clients */
  struct ed_tls_io *io;         /* the current call's transport */
  struct ed_tls_peer *peer;     /* server side, once verified/restored */
  enum ed_hs_reason reason;     /* set by verification on refusal */
  int have_reason;
  const char *detail;
};

/* tls_verify.c */
extern const SSL_TICKET_AEAD_METHOD ed_tls_ticket_method;
enum ssl_verify_result_t ed_tls_verify_client(SSL *ssl, uint8_t *out_alert);
/* ed_tls_peer_from_x509 builds a peer from a verified certificate. */
struct ed_tls_peer *ed_tls_peer_from_x509(X509 *x, const uint8_t *der,
                                          size_t der_len);
int ed_tls_acl_allows(const struct ed_tls_snapshot *s,
                      const struct ed_tls_peer *p);
int ed_tls_is_revoked(const struct ed_tls_snapshot *s, const char *serial);

/* tls_snapshot.c helpers shared with verification */
void ed_tls_serial_hex(char *out, size_t out_len, const ASN1_INTEGER *serial);
void ed_tls_sans_str(char *out, size_t out_len, X509 *x);
int64_t ed_tls_asn1_time(const ASN1_TIME *t);
void ed_tls_set_err(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* ED_TLS_INTERNAL_H */

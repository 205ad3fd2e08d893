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
  struct ed_tls_vcache *vcache; /* chains that verified (tls_vcache.c) */
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

/* tls_conn.c: ed_tls_refuse_on_io_thread returns 1 (and records the
 * refusal in |c|, logged) when the calling thread is a marked I/O loop:
 * |what| names the check that must not run there. */
int ed_tls_refuse_on_io_thread(struct ed_tls_conn *c, const char *what);

/* tls_verify.c */
extern const SSL_TICKET_AEAD_METHOD ed_tls_ticket_method;
enum ssl_verify_result_t ed_tls_verify_client(SSL *ssl, uint8_t *out_alert);
/* ed_tls_peer_from_x509 builds a peer from a verified certificate. */
struct ed_tls_peer *ed_tls_peer_from_x509(X509 *x, const uint8_t *der,
                                          size_t der_len);
int ed_tls_acl_allows(const struct ed_tls_snapshot *s,
                      const struct ed_tls_peer *p);
int ed_tls_is_revoked(const struct ed_tls_snapshot *s, const char *serial);

/* tls_vcache.c: chains that verified under one snapshot, by the SHA-256
 * of their DER (ed_tls_vcache_key), with their validity window. */
struct ed_tls_vcache;
struct ed_tls_vcache *ed_tls_vcache_new(void);
void ed_tls_vcache_free(struct ed_tls_vcache *vc);
void ed_tls_vcache_key(uint8_t out[32], const STACK_OF(CRYPTO_BUFFER) * bufs);
/* ed_tls_vcache_get copies the cached identity into |out| and returns 1
 * when |key| verified before and |now| is inside its window; else 0. */
int ed_tls_vcache_get(struct ed_tls_vcache *vc, const uint8_t key[32],
                      int64_t now, struct ed_tls_peer *out);
void ed_tls_vcache_put(struct ed_tls_vcache *vc, const uint8_t key[32],
                       int64_t from, int64_t until,
                       const struct ed_tls_peer *p);

/* tls_snapshot.c helpers shared with verification */
void ed_tls_serial_hex(char *out, size_t out_len, const ASN1_INTEGER *serial);
void ed_tls_sans_str(char *out, size_t out_len, X509 *x);
int64_t ed_tls_asn1_time(const ASN1_TIME *t);
void ed_tls_set_err(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* ED_TLS_INTERNAL_H */

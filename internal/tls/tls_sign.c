/* internal/tls — the server's signature (CertificateVerify in TLS 1.3,
 * ServerKeyExchange in TLS 1.2), made here with the snapshot's key
 * rather than by BoringSSL from the SSL_CTX, so that it can be refused for
 * a client that has gone (ed_tls_conn_watch_peer). The signature is the
 * dearest step of a full handshake (an RSA-2048 key: about half a
 * millisecond here, docs/BENCHMARKS.md round 9);
 * a reconnect storm is full of clients that gave up before it, and every
 * step before it (parsing, version and cipher choice, the key share) still
 * runs, so what such a client did wrong is still named. */
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>
#include <stdatomic.h>

#include "internal/tls/tls_internal.h"

void ed_tls_conn_watch_peer(struct ed_tls_conn *c,
                            const _Atomic uint8_t *gone) {
  c->peer_gone = gone;
}

int ed_tls_conn_unsigned(const struct ed_tls_conn *c) {
  return c->sign_refused;
}

/* sign_with makes a |sigalg| signature of |in| with |key|, as BoringSSL
 * would (ssl_private_key_sign): the algorithm's digest, and for RSA-PSS a
 * salt as long as the digest. BoringSSL offers only algorithms the
 * certificate's key supports; the key type is checked again here. */
static int sign_with(EVP_PKEY *key, uint8_t *out, size_t *out_len,
                     size_t max_out, uint16_t sigalg, const uint8_t *in,
                     size_t in_len) {
  if (SSL_get_signature_algorithm_key_type(sigalg) != EVP_PKEY_id(key))
    return 0;
  EVP_MD_CTX ctx;
  EVP_PKEY_CTX *pctx;
  EVP_MD_CTX_init(&ctx);
  int ok = EVP_DigestSignInit(
      &ctx, &pctx, SSL_get_signature_algorithm_digest(sigalg), NULL, key);
  if (ok && SSL_is_signature_algorithm_rsa_pss(sigalg)) {
    ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, -1 /* digest length */);
  }
  *out_len = max_out;
  ok = ok && EVP_DigestSign(&ctx, out, out_len, in, in_len);
  EVP_MD_CTX_cleanup(&ctx);
  return ok;
}

static enum ssl_private_key_result_t sign(SSL *ssl, uint8_t *out,
                                          size_t *out_len, size_t max_out,
                                          uint16_t sigalg, const uint8_t *in,
                                          size_t in_len) {
  struct ed_tls_conn *c = SSL_get_app_data(ssl);
  if (c->peer_gone &&
      atomic_load_explicit(c->peer_gone, memory_order_relaxed) != 0) {
    c->sign_refused = 1;
    c->reason = ED_HS_PROTOCOL;
    c->have_reason = 1;
    c->detail = "the client left before the server signed";
    return ssl_private_key_failure;
  }
  return sign_with(c->snap->key, out, out_len, max_out, sigalg, in, in_len)
             ? ssl_private_key_success
             : ssl_private_key_failure;
}

/* echod negotiates ECDHE only: no RSA key exchange to decrypt. */
static enum ssl_private_key_result_t decrypt(SSL *ssl, uint8_t *out,
                                             size_t *out_len, size_t max_out,
                                             const uint8_t *in, size_t in_len) {
  (void)ssl, (void)out, (void)out_len, (void)max_out, (void)in, (void)in_len;
  return ssl_private_key_failure;
}

/* sign never returns ssl_private_key_retry: nothing to complete. */
static enum ssl_private_key_result_t complete(SSL *ssl, uint8_t *out,
                                              size_t *out_len, size_t max_out) {
  (void)ssl, (void)out, (void)out_len, (void)max_out;
  return ssl_private_key_failure;
}

const SSL_PRIVATE_KEY_METHOD ed_tls_sign_method = {sign, decrypt, complete};

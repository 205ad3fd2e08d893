/* internal/tls — the signature algorithms echod's TLS accepts and makes,
 * one list for the server (client CertificateVerify, its own signatures)
 * and the client tool (the server's signatures). BoringSSL's defaults
 * leave Ed25519 out (an Ed25519 client or server, echo-pki --key-type
 * ed25519, found no common algorithm) and keep SHA-1 (rsa_pkcs1_sha1,
 * ecdsa_sha1) for TLS 1.2, where a peer could then sign over SHA-1. Every
 * key type echo-pki issues has an entry; no SHA-1, no MD5. Header only. */
#ifndef ED_TLS_SIGALGS_H
#define ED_TLS_SIGALGS_H

#include <openssl/ssl.h>

static const uint16_t ed_tls_sigalgs[] = {
    SSL_SIGN_ED25519,
    SSL_SIGN_ECDSA_SECP256R1_SHA256,
    SSL_SIGN_RSA_PSS_RSAE_SHA256,
    SSL_SIGN_RSA_PKCS1_SHA256,
    SSL_SIGN_ECDSA_SECP384R1_SHA384,
    SSL_SIGN_RSA_PSS_RSAE_SHA384,
    SSL_SIGN_RSA_PKCS1_SHA384,
    SSL_SIGN_RSA_PSS_RSAE_SHA512,
    SSL_SIGN_RSA_PKCS1_SHA512,
};

#define ED_TLS_NUM_SIGALGS (sizeof(ed_tls_sigalgs) / sizeof(ed_tls_sigalgs[0]))

#endif /* ED_TLS_SIGALGS_H */

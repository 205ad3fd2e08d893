/* internal/tls — the words other modules share with the TLS module
 * without linking it: why a handshake failed and which cipher suite a
 * session uses. Types and their names only (tls_types.c); nothing here
 * needs BoringSSL, so counters, the admin socket and metrics use them
 * freely. */
#ifndef ED_TLS_TYPES_H
#define ED_TLS_TYPES_H

#include <stdint.h>

/* Why a handshake failed. Label values for
 * echod_tls_handshake_errors_total{reason}, the "handshake failed" log
 * line and the admin "refusals". The TLS alert each one sends is chosen
 * in tls_verify.c (alert_for). */
#define ED_HS_REASONS(X)                      \
  X(NO_CLIENT_CERT, "no_client_cert")         \
  X(UNKNOWN_CA, "unknown_ca")                 \
  X(CERT_EXPIRED, "cert_expired")             \
  X(CERT_NOT_YET_VALID, "cert_not_yet_valid") \
  X(CERT_REVOKED, "cert_revoked")             \
  X(BAD_EKU, "bad_eku")                       \
  X(ACL_DENIED, "acl_denied")                 \
  /* a CN or SAN with a control byte or bad   \
   * UTF-8, two CNs, or a CA as the leaf */   \
  X(BAD_IDENTITY, "bad_identity")             \
  /* --crl-expired refuse: the chain needs a  \
   * CRL past its nextUpdate */               \
  X(CRL_EXPIRED, "crl_expired")               \
  /* more intermediates than                  \
   * --max-chain-depth */                     \
  X(CHAIN_TOO_LONG, "chain_too_long")         \
  X(PROTOCOL, "protocol")                     \
  X(TIMEOUT, "timeout")                       \
  X(OTHER, "other")

enum ed_hs_reason {
#define ED_HS_ENUM_(id, name) ED_HS_##id,
  ED_HS_REASONS(ED_HS_ENUM_)
#undef ED_HS_ENUM_
      ED_HS_REASON_COUNT
};

/* ed_hs_reason_name returns the label ("cert_revoked"); "other" for an
 * out-of-range value. Static string. */
const char *ed_hs_reason_name(enum ed_hs_reason r);

/* The SAN types an identity keeps (others, such as otherName or
 * directoryName, are not identities here and are skipped). Names as the
 * admin JSON "type", the log's "sans=" and --allow-san's prefixes use. */
#define ED_SAN_TYPES(X) \
  X(DNS, "DNS")         \
  X(IP, "IP")           \
  X(URI, "URI")         \
  X(EMAIL, "email")

enum ed_san_type {
#define ED_SAN_ENUM_(id, name) ED_SAN_##id,
  ED_SAN_TYPES(ED_SAN_ENUM_)
#undef ED_SAN_ENUM_
      ED_SAN_TYPE_COUNT
};

/* ed_san_type_name returns "DNS", "IP", "URI" or "email" ("?" out of
 * range). Static string. */
const char *ed_san_type_name(enum ed_san_type t);

/* The cipher suites echod can negotiate (TLS 1.3, and TLS 1.2 ECDHE+AEAD).
 * X(id, IANA value, protocol version name, suite name). Labels for
 * echod_tls_sessions_total{version,cipher}. */
#define ED_SUITES(X)                                                 \
  X(AES_128_GCM_SHA256, 0x1301, "TLSv1.3", "TLS_AES_128_GCM_SHA256") \
  X(AES_256_GCM_SHA384, 0x1302, "TLSv1.3", "TLS_AES_256_GCM_SHA384") \
  X(CHACHA20_POLY1305_SHA256, 0x1303, "TLSv1.3",                     \
    "TLS_CHACHA20_POLY1305_SHA256")                                  \
  X(ECDHE_ECDSA_AES128_GCM, 0xC02B, "TLSv1.2",                       \
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256")                       \
  X(ECDHE_ECDSA_AES256_GCM, 0xC02C, "TLSv1.2",                       \
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384")                       \
  X(ECDHE_RSA_AES128_GCM, 0xC02F, "TLSv1.2",                         \
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")                         \
  X(ECDHE_RSA_AES256_GCM, 0xC030, "TLSv1.2",                         \
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384")                         \
  X(ECDHE_ECDSA_CHACHA20, 0xCCA9, "TLSv1.2",                         \
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256")                 \
  X(ECDHE_RSA_CHACHA20, 0xCCA8, "TLSv1.2",                           \
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256")                   \
  X(OTHER, 0x0000, "other", "other")

enum ed_suite {
#define ED_SUITE_ENUM_(id, iana, ver, name) ED_SUITE_##id,
  ED_SUITES(ED_SUITE_ENUM_)
#undef ED_SUITE_ENUM_
      ED_SUITE_COUNT
};

/* ed_suite_name and ed_suite_version return the suite's IANA name and its
 * protocol version ("TLSv1.3"); static strings. */
const char *ed_suite_name(enum ed_suite s);
const char *ed_suite_version(enum ed_suite s);
/* ed_suite_from_iana maps a cipher's IANA value (SSL_CIPHER_get_protocol_id)
 * to its ed_suite, ED_SUITE_OTHER if unknown. */
enum ed_suite ed_suite_from_iana(uint16_t iana);

#endif /* ED_TLS_TYPES_H */

/* internal/tls — test-only certificate minting with BoringSSL, so the unit
 * tests need no CLI and no fixed files. Everything aborts on failure. */
#ifndef ED_TLS_TESTCERTS_H
#define ED_TLS_TESTCERTS_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdint.h>

enum tc_eku { TC_EKU_NONE = 0, TC_EKU_CLIENT, TC_EKU_SERVER };

/* One SAN written as given (so tests can mint what an attacker would:
 * NULs, commas, bad lengths). |type| is GEN_DNS, GEN_URI, GEN_EMAIL or
 * GEN_IPADD; |len| 0 means strlen(value). */
struct tc_san {
  int type;
  const char *value;
  size_t len;
};

struct tc_opts {
  const char *cn;
  size_t cn_len;        /* 0: strlen(cn); set it to put a NUL in the CN */
  int cn_type;          /* 0: UTF-8 text; else an ASN.1 string type taking
                         * |cn|'s bytes as they are (e.g. bad UTF-8) */
  const char *cn2;      /* a second CN attribute, or NULL */
  int ca;               /* with an issuer: an intermediate CA (CA:TRUE) */
  const char *bc;       /* with |ca|: basicConstraints instead of
                         * "critical,CA:TRUE" (e.g. with pathlen:0) */
  X509 *issuer;         /* NULL: self-signed CA */
  EVP_PKEY *issuer_key; /* NULL: self-signed */
  enum tc_eku eku;
  long from_s, to_s; /* validity relative to now; default -300 .. +86400 */
  uint64_t serial;   /* default: random */
  size_t serial_len; /* else: a positive serial this many bytes long */
  const char *san;   /* "DNS:localhost,URI:spiffe://x" or NULL */
  const struct tc_san *sans; /* or these, raw (not with |san|) */
  size_t num_sans;
  int dup_san;     /* the raw SAN extension twice */
  const char *ku;  /* a leaf's keyUsage instead of digitalSignature */
  const char *nc;  /* a CA's nameConstraints, e.g. "critical,permitted;DNS:x" */
  const char *aki; /* with an issuer: authorityKeyIdentifier instead of
                    * "keyid" (e.g. "keyid,issuer:always": the issuer's
                    * own issuer and serial too; "none": a CA without
                    * one; a leaf too) */
};

EVP_PKEY *tc_key(void);
X509 *tc_cert(EVP_PKEY *key, const struct tc_opts *o);
/* tc_crl returns a CRL by |ca| revoking |serials|, next update +next_s. */
X509_CRL *tc_crl(X509 *ca, EVP_PKEY *ca_key, X509 *const *revoked,
                 size_t num_revoked, long next_s);
/* tc_crl_at is tc_crl with lastUpdate at now + |last_s| (tc_crl: -60). */
X509_CRL *tc_crl_at(X509 *ca, EVP_PKEY *ca_key, X509 *const *revoked,
                    size_t num_revoked, long last_s, long next_s);
/* tc_crl_num is tc_crl_at with a CRL Number extension |number| (none when
 * |number| < 0, as tc_crl_at; -2: the number -1, which RFC 5280 forbids). */
X509_CRL *tc_crl_num(X509 *ca, EVP_PKEY *ca_key, X509 *const *revoked,
                     size_t num_revoked, long last_s, long next_s, long number);
/* tc_write_crls writes several CRLs into one PEM file. */
void tc_write_crls(const char *path, X509_CRL *const *crls, size_t num);
void tc_write_cert(const char *path, X509 *const *certs, size_t num);
void tc_write_key(const char *path, EVP_PKEY *key, unsigned mode);
void tc_write_crl(const char *path, X509_CRL *crl);
/* tc_path writes "<TEST_TMPDIR or /tmp>/<name>" into a static ring. */
const char *tc_path(const char *name);

#endif

#include "internal/tls/testcerts.h"

#include <openssl/bn.h>
#include <openssl/ec_key.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void need(int ok, const char *what) {
  if (!ok) {
    fprintf(stderr, "testcerts: %s failed\n", what);
    abort();
  }
}

EVP_PKEY *tc_key(void) {
  EC_KEY *ec = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
  need(ec && EC_KEY_generate_key(ec), "EC keygen");
  EVP_PKEY *k = EVP_PKEY_new();
  need(EVP_PKEY_assign_EC_KEY(k, ec), "assign key");
  return k;
}

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
  X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
  need(ext && X509_add_ext(x, ext, -1), value);
  X509_EXTENSION_free(ext);
}

static void add_raw_sans(X509 *x, const struct tc_san *sans, size_t num,
                         int twice) {
  GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();
  for (size_t i = 0; i < num; i++) {
    GENERAL_NAME *g = GENERAL_NAME_new();
    ASN1_STRING *v = ASN1_STRING_type_new(
        sans[i].type == GEN_IPADD ? V_ASN1_OCTET_STRING : V_ASN1_IA5STRING);
    size_t len = sans[i].len ? sans[i].len : strlen(sans[i].value);
    need(g && v && ASN1_STRING_set(v, sans[i].value, (int)len), "san");
    GENERAL_NAME_set0_value(g, sans[i].type, v);
    need(sk_GENERAL_NAME_push(names, g), "san push");
  }
  need(X509_add1_ext_i2d(x, NID_subject_alt_name, names, 0, 0), "san ext");
  if (twice)
    need(
        X509_add1_ext_i2d(x, NID_subject_alt_name, names, 0, X509V3_ADD_APPEND),
        "second san ext");
  GENERAL_NAMES_free(names);
}

X509 *tc_cert(EVP_PKEY *key, const struct tc_opts *o) {
  X509 *x = X509_new();
  X509 *issuer = o->issuer ? o->issuer : x;
  need(X509_set_version(x, X509_VERSION_3), "version");
  uint64_t serial = o->serial;
  if (!serial) RAND_bytes((uint8_t *)&serial, sizeof(serial));
  serial &= 0x7fffffffffffffffull;
  need(ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), serial | 1), "sn");
  if (o->serial_len) {
    uint8_t *b = malloc(o->serial_len);
    need(b != NULL, "malloc");
    memset(b, 0x5a, o->serial_len);
    need(ASN1_STRING_set(X509_get_serialNumber(x), b, (int)o->serial_len),
         "long sn");
    free(b);
  }
  X509_NAME *name = X509_get_subject_name(x);
  int cn_len = o->cn_len ? (int)o->cn_len : -1;
  need(X509_NAME_add_entry_by_txt(name, "CN",
                                  o->cn_type ? o->cn_type : MBSTRING_UTF8,
                                  (const uint8_t *)o->cn, cn_len, -1, 0),
       "cn");
  if (o->cn2)
    need(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                    (const uint8_t *)o->cn2, -1, -1, 0),
         "cn2");
  need(X509_set_issuer_name(x, X509_get_subject_name(issuer)), "issuer");
  long from = o->from_s ? o->from_s : -300, to = o->to_s ? o->to_s : 86400;
  need(X509_gmtime_adj(X509_getm_notBefore(x), from) &&
           X509_gmtime_adj(X509_getm_notAfter(x), to),
       "validity");
  need(X509_set_pubkey(x, key), "pubkey");
  add_ext(x, issuer, NID_subject_key_identifier, "hash");
  if (!o->issuer || o->ca) {
    add_ext(x, issuer, NID_basic_constraints,
            o->bc ? o->bc : "critical,CA:TRUE");
    add_ext(x, issuer, NID_key_usage,
            o->eku ? "critical,digitalSignature,keyCertSign,cRLSign"
                   : "critical,keyCertSign,cRLSign");
    if (o->issuer && !(o->aki && !strcmp(o->aki, "none")))
      add_ext(x, issuer, NID_authority_key_identifier,
              o->aki ? o->aki : "keyid");
    if (o->nc) add_ext(x, issuer, NID_name_constraints, o->nc);
  } else {
    add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE");
    add_ext(x, issuer, NID_key_usage,
            o->ku ? o->ku : "critical,digitalSignature");
    if (!(o->aki && !strcmp(o->aki, "none")))
      add_ext(x, issuer, NID_authority_key_identifier,
              o->aki ? o->aki : "keyid");
  }
  if (o->eku == TC_EKU_CLIENT)
    add_ext(x, issuer, NID_ext_key_usage, "clientAuth");
  if (o->eku == TC_EKU_SERVER)
    add_ext(x, issuer, NID_ext_key_usage, "serverAuth");
  if (o->san) add_ext(x, issuer, NID_subject_alt_name, o->san);
  if (o->num_sans) add_raw_sans(x, o->sans, o->num_sans, o->dup_san);
  need(X509_sign(x, o->issuer_key ? o->issuer_key : key, EVP_sha256()), "sign");
  return x;
}

X509_CRL *tc_crl(X509 *ca, EVP_PKEY *ca_key, X509 *const *revoked,
                 size_t num_revoked, long next_s) {
  return tc_crl_at(ca, ca_key, revoked, num_revoked, -60, next_s);
}

X509_CRL *tc_crl_at(X509 *ca, EVP_PKEY *ca_key, X509 *const *revoked,
                    size_t num_revoked, long last_s, long next_s) {
  return tc_crl_num(ca, ca_key, revoked, num_revoked, last_s, next_s, -1);
}

X509_CRL *tc_crl_num(X509 *ca, EVP_PKEY *ca_key, X509 *const *revoked,
                     size_t num_revoked, long last_s, long next_s,
                     long number) {
  X509_CRL *crl = X509_CRL_new();
  if (number >= 0 || number == -2) {
    ASN1_INTEGER *n = ASN1_INTEGER_new();
    need(n && ASN1_INTEGER_set(n, number == -2 ? -1 : number) &&
             X509_CRL_add1_ext_i2d(crl, NID_crl_number, n, 0, 0),
         "crl number");
    ASN1_INTEGER_free(n);
  }
  need(X509_CRL_set_version(crl, X509_CRL_VERSION_2), "crl version");
  need(X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)), "crl issuer");
  ASN1_TIME *t = X509_gmtime_adj(NULL, last_s);
  need(t && X509_CRL_set1_lastUpdate(crl, t), "lastUpdate");
  need(X509_gmtime_adj(t, next_s) && X509_CRL_set1_nextUpdate(crl, t), "next");
  for (size_t i = 0; i < num_revoked; i++) {
    X509_REVOKED *r = X509_REVOKED_new();
    need(
        X509_REVOKED_set_serialNumber(r, X509_get0_serialNumber(revoked[i])) &&
            X509_REVOKED_set_revocationDate(r, X509_CRL_get0_lastUpdate(crl)) &&
            X509_CRL_add0_revoked(crl, r),
        "revoked");
  }
  ASN1_TIME_free(t);
  need(X509_CRL_sort(crl) && X509_CRL_sign(crl, ca_key, EVP_sha256()), "crl");
  return crl;
}

static FILE *open_w(const char *path, unsigned mode) {
  unlink(path);
  FILE *f = fopen(path, "w");
  need(f != NULL, path);
  chmod(path, mode);
  return f;
}

void tc_write_cert(const char *path, X509 *const *certs, size_t num) {
  FILE *f = open_w(path, 0644);
  for (size_t i = 0; i < num; i++) need(PEM_write_X509(f, certs[i]), path);
  fclose(f);
}

void tc_write_crls(const char *path, X509_CRL *const *crls, size_t num) {
  FILE *f = open_w(path, 0644);
  for (size_t i = 0; i < num; i++) need(PEM_write_X509_CRL(f, crls[i]), path);
  fclose(f);
}

void tc_write_key(const char *path, EVP_PKEY *key, unsigned mode) {
  FILE *f = open_w(path, 0600);
  need(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), path);
  fclose(f);
  chmod(path, mode);
}

void tc_write_crl(const char *path, X509_CRL *crl) {
  FILE *f = open_w(path, 0644);
  need(PEM_write_X509_CRL(f, crl), path);
  fclose(f);
}

const char *tc_path(const char *name) {
  static char ring[16][512];
  static int next;
  const char *dir = getenv("TEST_TMPDIR");
  char *out = ring[next++ % 16];
  snprintf(out, sizeof(ring[0]), "%s/%s", dir ? dir : "/tmp", name);
  return out;
}

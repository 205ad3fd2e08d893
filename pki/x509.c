/* pki — keys, certificates and CRLs with BoringSSL. See pki_internal.h. */
#include <arpa/inet.h>
#include <ctype.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ec_key.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/base/base.h"
#include "pki/pki_internal.h"

/* ---- keys ---------------------------------------------------------------- */

EVP_PKEY *ed_pki__keygen(enum ed_pki_key_type t) {
  int id = EVP_PKEY_EC, bits = 0, nid = 0;
  switch (t) {
    case ED_PKI_KEY_P256:
      nid = NID_X9_62_prime256v1;
      break;
    case ED_PKI_KEY_P384:
      nid = NID_secp384r1;
      break;
    case ED_PKI_KEY_RSA2048:
      id = EVP_PKEY_RSA, bits = 2048;
      break;
    case ED_PKI_KEY_RSA3072:
      id = EVP_PKEY_RSA, bits = 3072;
      break;
    case ED_PKI_KEY_RSA4096:
      id = EVP_PKEY_RSA, bits = 4096;
      break;
    case ED_PKI_KEY_ED25519:
      id = EVP_PKEY_ED25519;
      break;
    default:
      return NULL;
  }
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(id, NULL);
  EVP_PKEY *key = NULL;
  int ok = ctx && EVP_PKEY_keygen_init(ctx);
  if (ok && nid) ok = EVP_PKEY_CTX_set_ec_paramgen_curve_nid(ctx, nid);
  if (ok && bits) ok = EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, bits);
  if (ok) ok = EVP_PKEY_keygen(ctx, &key);
  EVP_PKEY_CTX_free(ctx);
  if (!ok) {
    EVP_PKEY_free(key);
    return NULL;
  }
  return key;
}

/* sig_md picks the digest to sign with: NULL (none) for Ed25519, SHA-384
 * for P-384, SHA-256 otherwise. */
static const EVP_MD *sig_md(const EVP_PKEY *key) {
  switch (EVP_PKEY_id(key)) {
    case EVP_PKEY_ED25519:
      return NULL;
    case EVP_PKEY_EC:
      if (EVP_PKEY_bits(key) > 256) return EVP_sha384();
      return EVP_sha256();
    default:
      return EVP_sha256();
  }
}

static void key_type_str(const EVP_PKEY *key, char *out, size_t out_len) {
  switch (EVP_PKEY_id(key)) {
    case EVP_PKEY_EC: {
      const EC_KEY *ec = EVP_PKEY_get0_EC_KEY(key);
      int nid = ec ? EC_GROUP_get_curve_name(EC_KEY_get0_group(ec)) : 0;
      const char *n = nid == NID_X9_62_prime256v1 ? "p256"
                      : nid == NID_secp384r1      ? "p384"
                      : nid == NID_secp521r1      ? "p521"
                                                  : "ec";
      snprintf(out, out_len, "%s", n);
      break;
    }
    case EVP_PKEY_RSA:
      snprintf(out, out_len, "rsa%d", EVP_PKEY_bits(key));
      break;
    case EVP_PKEY_ED25519:
      snprintf(out, out_len, "ed25519");
      break;
    default:
      snprintf(out, out_len, "unknown");
      break;
  }
}

/* ---- serials ------------------------------------------------------------- */

/* rand_serial returns a random positive 128-bit serial whose first byte is
 * 0x40-0x7f, so it is always 16 bytes (32 hex digits) long. */
static ASN1_INTEGER *rand_serial(void) {
  uint8_t b[16];
  RAND_bytes(b, sizeof(b));
  b[0] = (uint8_t)((b[0] & 0x3f) | 0x40);
  BIGNUM *bn = BN_bin2bn(b, sizeof(b), NULL);
  ASN1_INTEGER *s = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
  BN_free(bn);
  return s;
}

/* serial_strip skips "0x", colons and leading zeros of |s| into |out| in
 * upper case. Returns 0, or -1 if |s| is not hex or too long. */
static int serial_strip(char *out, size_t out_len, const char *s) {
  if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) s += 2;
  size_t o = 0;
  for (; *s; s++) {
    if (*s == ':') continue;
    if (!isxdigit((unsigned char)*s)) return -1;
    if (o == 0 && *s == '0') continue;
    if (o + 1 >= out_len) return -1;
    out[o++] = (char)toupper((unsigned char)*s);
  }
  if (o == 0) out[o++] = '0';
  out[o] = '\0';
  return 0;
}

int ed_pki__serial_ok(const char *s) {
  char tmp[ED_PKI_SERIAL_MAX + 1];
  if (!s || serial_strip(tmp, sizeof(tmp), s) != 0) return 0;
  return strpbrk(s, "0123456789abcdefABCDEF") != NULL;
}

int ed_pki__serial_eq(const char *a, const char *b) {
  char x[ED_PKI_SERIAL_MAX + 1], y[ED_PKI_SERIAL_MAX + 1];
  if (serial_strip(x, sizeof(x), a) || serial_strip(y, sizeof(y), b)) return 0;
  return strcmp(x, y) == 0;
}

static ASN1_INTEGER *serial_from_hex(const char *hex) {
  char clean[ED_PKI_SERIAL_MAX + 1];
  if (serial_strip(clean, sizeof(clean), hex) != 0) return NULL;
  BIGNUM *bn = NULL;
  if (!BN_hex2bn(&bn, clean)) return NULL;
  ASN1_INTEGER *s = BN_to_ASN1_INTEGER(bn, NULL);
  BN_free(bn);
  return s;
}

/* serial_hex writes |s| as uppercase hex bytes, like openssl -serial. */
static void serial_hex(char *out, size_t out_len, const ASN1_INTEGER *s) {
  const uint8_t *p = ASN1_STRING_get0_data(s);
  size_t n = (size_t)ASN1_STRING_length(s), o = 0;
  out[0] = '\0';
  if (n == 0) snprintf(out, out_len, "00");
  for (size_t i = 0; i < n && o + 3 <= out_len; i++, o += 2) {
    snprintf(out + o, out_len - o, "%02X", p[i]);
  }
}

/* ---- certificates -------------------------------------------------------- */

static int set_time(ASN1_TIME *(*getm)(X509 *), X509 *x, int64_t t) {
  return ASN1_TIME_set(getm(x), (time_t)t) != NULL;
}

/* key_id computes the RFC 5280 method-1 key identifier of |x|'s key. */
static ASN1_OCTET_STRING *key_id(const X509 *x) {
  uint8_t md[EVP_MAX_MD_SIZE];
  unsigned md_len = 0;
  if (!X509_pubkey_digest(x, EVP_sha1(), md, &md_len)) return NULL;
  ASN1_OCTET_STRING *id = ASN1_OCTET_STRING_new();
  if (id && !ASN1_OCTET_STRING_set(id, md, (int)md_len)) {
    ASN1_OCTET_STRING_free(id);
    id = NULL;
  }
  return id;
}

static int add_basic_constraints(X509 *x, int is_ca) {
  BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
  if (!bc) return 0;
  bc->ca = is_ca ? 0xff : 0;
  if (is_ca) { /* pathlen 0: this CA signs only leaves */
    bc->pathlen = ASN1_INTEGER_new();
    if (!bc->pathlen || !ASN1_INTEGER_set(bc->pathlen, 0)) {
      BASIC_CONSTRAINTS_free(bc);
      return 0;
    }
  }
  int ok = X509_add1_ext_i2d(x, NID_basic_constraints, bc, 1, 0);
  BASIC_CONSTRAINTS_free(bc);
  return ok;
}

static int add_key_usage(X509 *x, int is_ca) {
  ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();
  int ok = ku != NULL;
  if (ok && is_ca) { /* keyCertSign (5), cRLSign (6) */
    ok = ASN1_BIT_STRING_set_bit(ku, 5, 1) && ASN1_BIT_STRING_set_bit(ku, 6, 1);
  } else if (ok) { /* digitalSignature (0) */
    ok = ASN1_BIT_STRING_set_bit(ku, 0, 1);
  }
  if (ok) ok = X509_add1_ext_i2d(x, NID_key_usage, ku, 1, 0);
  ASN1_BIT_STRING_free(ku);
  return ok;
}

static int add_eku(X509 *x, unsigned eku) {
  if (!eku) return 1;
  EXTENDED_KEY_USAGE *ext = sk_ASN1_OBJECT_new_null();
  int ok = ext != NULL;
  if (ok && (eku & ED_PKI__EKU_SERVER)) {
    ok = sk_ASN1_OBJECT_push(ext, OBJ_nid2obj(NID_server_auth)) != 0;
  }
  if (ok && (eku & ED_PKI__EKU_CLIENT)) {
    ok = sk_ASN1_OBJECT_push(ext, OBJ_nid2obj(NID_client_auth)) != 0;
  }
  if (ok) ok = X509_add1_ext_i2d(x, NID_ext_key_usage, ext, 0, 0);
  EXTENDED_KEY_USAGE_free(ext);
  return ok;
}

/* issuer_key_id returns the identifier a certificate signed by |issuer|
 * names in its AKID: the issuer's own SKID when it has one (so the two
 * match even if the issuer computed it another way), else method 1. */
static ASN1_OCTET_STRING *issuer_key_id(X509 *issuer) {
  const ASN1_OCTET_STRING *skid = X509_get0_subject_key_id(issuer);
  return skid ? ASN1_OCTET_STRING_dup(skid) : key_id(issuer);
}

static int add_key_ids(X509 *x, X509 *issuer) {
  ASN1_OCTET_STRING *skid = key_id(x);
  AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
  int ok = skid && akid;
  if (ok) ok = X509_add1_ext_i2d(x, NID_subject_key_identifier, skid, 0, 0);
  if (ok)
    ok = (akid->keyid = issuer ? issuer_key_id(issuer) : key_id(x)) != NULL;
  if (ok) ok = X509_add1_ext_i2d(x, NID_authority_key_identifier, akid, 0, 0);
  ASN1_OCTET_STRING_free(skid);
  AUTHORITY_KEYID_free(akid);
  return ok;
}

static int push_name(GENERAL_NAMES *gens, int type, const char *s) {
  ASN1_STRING *str =
      type == GEN_IPADD ? ASN1_OCTET_STRING_new() : ASN1_IA5STRING_new();
  uint8_t ip[16];
  int ok = str != NULL;
  if (ok && type == GEN_IPADD) {
    int v4 = inet_pton(AF_INET, s, ip) == 1;
    ok = (v4 || inet_pton(AF_INET6, s, ip) == 1) &&
         ASN1_OCTET_STRING_set(str, ip, v4 ? 4 : 16);
  } else if (ok) {
    ok = ASN1_STRING_set(str, s, (int)strlen(s));
  }
  GENERAL_NAME *gen = ok ? GENERAL_NAME_new() : NULL;
  if (!gen) {
    ASN1_STRING_free(str);
    return 0;
  }
  GENERAL_NAME_set0_value(gen, type, str);
  if (!sk_GENERAL_NAME_push(gens, gen)) {
    GENERAL_NAME_free(gen);
    return 0;
  }
  return 1;
}

static int add_sans(X509 *x, const struct ed_pki__sans *s) {
  if (s->num_dns + s->num_ips + s->num_uris + s->num_emails == 0) return 1;
  GENERAL_NAMES *gens = GENERAL_NAMES_new();
  int ok = gens != NULL;
  for (size_t i = 0; ok && i < s->num_dns; i++)
    ok = push_name(gens, GEN_DNS, s->dns[i]);
  for (size_t i = 0; ok && i < s->num_ips; i++)
    ok = push_name(gens, GEN_IPADD, s->ips[i]);
  for (size_t i = 0; ok && i < s->num_uris; i++)
    ok = push_name(gens, GEN_URI, s->uris[i]);
  for (size_t i = 0; ok && i < s->num_emails; i++)
    ok = push_name(gens, GEN_EMAIL, s->emails[i]);
  if (ok) ok = X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, 0);
  GENERAL_NAMES_free(gens);
  return ok;
}

static int set_names(X509 *x, const char *cn, X509 *issuer) {
  X509_NAME *name = X509_NAME_new();
  int ok =
      name && X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                                         (const uint8_t *)cn, -1, -1, 0);
  if (ok) ok = X509_set_subject_name(x, name);
  if (ok) {
    ok = X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
  }
  X509_NAME_free(name);
  return ok;
}

X509 *ed_pki__make_cert(const struct ed_pki__cert_spec *spec, EVP_PKEY *key,
                        X509 *issuer, EVP_PKEY *issuer_key) {
  X509 *x = X509_new();
  ASN1_INTEGER *serial = rand_serial();
  EVP_PKEY *signer = issuer ? issuer_key : key;
  int ok = x && serial && X509_set_version(x, X509_VERSION_3) &&
           X509_set_serialNumber(x, serial) &&
           set_time(X509_getm_notBefore, x, spec->not_before) &&
           set_time(X509_getm_notAfter, x, spec->not_after) &&
           set_names(x, spec->cn, issuer) && X509_set_pubkey(x, key) &&
           add_basic_constraints(x, spec->is_ca) &&
           add_key_usage(x, spec->is_ca) && add_eku(x, spec->eku) &&
           add_sans(x, &spec->sans) && add_key_ids(x, issuer) &&
           X509_sign(x, signer, sig_md(signer));
  ASN1_INTEGER_free(serial);
  if (!ok) {
    X509_free(x);
    return NULL;
  }
  return x;
}

/* ---- CRLs ---------------------------------------------------------------- */

static int add_revoked(X509_CRL *crl, const struct ed_pki__revoked *r) {
  X509_REVOKED *rev = X509_REVOKED_new();
  ASN1_INTEGER *serial = serial_from_hex(r->serial);
  ASN1_TIME *when = ASN1_TIME_set(NULL, (time_t)r->revoked_at);
  int ok = rev && serial && when &&
           X509_REVOKED_set_serialNumber(rev, serial) &&
           X509_REVOKED_set_revocationDate(rev, when);
  /* RFC 5280 5.3.1: omit the reason code rather than say "unspecified". */
  if (ok && r->reason != ED_PKI_REASON_UNSPECIFIED) {
    ASN1_ENUMERATED *e = ASN1_ENUMERATED_new();
    ok = e && ASN1_ENUMERATED_set(e, (long)r->reason) &&
         X509_REVOKED_add1_ext_i2d(rev, NID_crl_reason, e, 0, 0);
    ASN1_ENUMERATED_free(e);
  }
  if (ok) ok = X509_CRL_add0_revoked(crl, rev);
  if (!ok) X509_REVOKED_free(rev);
  ASN1_INTEGER_free(serial);
  ASN1_TIME_free(when);
  return ok;
}

static int crl_times(X509_CRL *crl, int64_t this_update, int64_t next_update) {
  ASN1_TIME *a = ASN1_TIME_set(NULL, (time_t)this_update);
  ASN1_TIME *b = ASN1_TIME_set(NULL, (time_t)next_update);
  int ok = a && b && X509_CRL_set1_lastUpdate(crl, a) &&
           X509_CRL_set1_nextUpdate(crl, b);
  ASN1_TIME_free(a);
  ASN1_TIME_free(b);
  return ok;
}

static int crl_exts(X509_CRL *crl, X509 *ca, int64_t number) {
  ASN1_INTEGER *n = ASN1_INTEGER_new();
  AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
  int ok = n && akid && ASN1_INTEGER_set_uint64(n, (uint64_t)number) &&
           X509_CRL_add1_ext_i2d(crl, NID_crl_number, n, 0, 0) &&
           (akid->keyid = issuer_key_id(ca)) != NULL &&
           X509_CRL_add1_ext_i2d(crl, NID_authority_key_identifier, akid, 0, 0);
  ASN1_INTEGER_free(n);
  AUTHORITY_KEYID_free(akid);
  return ok;
}

X509_CRL *ed_pki__make_crl(X509 *ca, EVP_PKEY *ca_key,
                           const struct ed_pki__revoked *revoked, size_t num,
                           int64_t number, int64_t this_update,
                           int64_t next_update) {
  X509_CRL *crl = X509_CRL_new();
  int ok = crl && X509_CRL_set_version(crl, X509_CRL_VERSION_2) &&
           X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)) &&
           crl_times(crl, this_update, next_update);
  for (size_t i = 0; ok && i < num; i++) ok = add_revoked(crl, &revoked[i]);
  if (ok) ok = X509_CRL_sort(crl) && crl_exts(crl, ca, number);
  if (ok) ok = X509_CRL_sign(crl, ca_key, sig_md(ca_key));
  if (!ok) {
    X509_CRL_free(crl);
    return NULL;
  }
  return crl;
}

static int time_of(int64_t *out, const ASN1_TIME *t);

int64_t ed_pki__crl_number(const X509_CRL *crl) {
  ASN1_INTEGER *n = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
  uint64_t v = 0;
  int ok = n && ASN1_INTEGER_get_uint64(&v, n) && v <= INT64_MAX;
  ASN1_INTEGER_free(n);
  ERR_clear_error();
  return ok ? (int64_t)v : -1;
}

int ed_pki__crl_next_update(int64_t *out, const X509_CRL *crl) {
  const ASN1_TIME *t = X509_CRL_get0_nextUpdate(crl);
  int ok = t && time_of(out, t);
  ERR_clear_error();
  return ok;
}

/* ---- PEM ----------------------------------------------------------------- */

static char *bio_take(BIO *b, int ok, size_t *out_len) {
  const uint8_t *data = NULL;
  size_t len = 0;
  char *out = NULL;
  if (ok && BIO_mem_contents(b, &data, &len)) {
    out = ed_malloc(len + 1);
    memcpy(out, data, len);
    out[len] = '\0';
    if (out_len) *out_len = len;
  }
  BIO_free(b);
  return out;
}

char *ed_pki__pem_cert(X509 *x, size_t *out_len) {
  BIO *b = BIO_new(BIO_s_mem());
  return bio_take(b, b && PEM_write_bio_X509(b, x), out_len);
}

char *ed_pki__pem_key(EVP_PKEY *key, size_t *out_len) {
  BIO *b = BIO_new(BIO_s_mem());
  int ok = b && PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL);
  return bio_take(b, ok, out_len);
}

char *ed_pki__pem_crl(X509_CRL *crl, size_t *out_len) {
  BIO *b = BIO_new(BIO_s_mem());
  return bio_take(b, b && PEM_write_bio_X509_CRL(b, crl), out_len);
}

X509 *ed_pki__parse_cert(const char *pem, size_t len) {
  BIO *b = BIO_new_mem_buf(pem, (int)len);
  X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
  BIO_free(b);
  return x;
}

EVP_PKEY *ed_pki__parse_key(const char *pem, size_t len) {
  BIO *b = BIO_new_mem_buf(pem, (int)len);
  EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
  BIO_free(b);
  return k;
}

X509_CRL *ed_pki__parse_crl(const char *pem, size_t len) {
  BIO *b = BIO_new_mem_buf(pem, (int)len);
  X509_CRL *c = b ? PEM_read_bio_X509_CRL(b, NULL, NULL, NULL) : NULL;
  BIO_free(b);
  return c;
}

/* ---- describing certificates --------------------------------------------- */

static int time_of(int64_t *out, const ASN1_TIME *t) {
  ASN1_TIME *epoch = ASN1_TIME_set(NULL, 0);
  int days = 0, secs = 0;
  int ok = epoch && ASN1_TIME_diff(&days, &secs, epoch, t);
  ASN1_TIME_free(epoch);
  if (ok) *out = (int64_t)days * 86400 + secs;
  return ok;
}

static enum ed_pki_role role_of(X509 *x) {
  if (X509_check_ca(x)) return ED_PKI_CA;
  uint32_t xku = X509_get_extended_key_usage(x);
  if ((X509_get_extension_flags(x) & EXFLAG_XKUSAGE) && (xku & XKU_SSL_SERVER))
    return ED_PKI_SERVER;
  return ED_PKI_CLIENT;
}

int ed_pki__fill_info(struct ed_pki_cert_info *out, X509 *x) {
  uint8_t md[EVP_MAX_MD_SIZE];
  unsigned md_len = 0;
  EVP_PKEY *key = X509_get_pubkey(x);
  int ok = key && time_of(&out->not_before, X509_get0_notBefore(x)) &&
           time_of(&out->not_after, X509_get0_notAfter(x)) &&
           X509_digest(x, EVP_sha256(), md, &md_len) && md_len == 32;
  if (ok) {
    key_type_str(key, out->key_type, sizeof(out->key_type));
    serial_hex(out->serial, sizeof(out->serial), X509_get0_serialNumber(x));
    for (unsigned i = 0; i < md_len; i++) {
      snprintf(out->sha256 + 2 * i, 3, "%02x", md[i]);
    }
    out->role = role_of(x);
  }
  EVP_PKEY_free(key);
  ERR_clear_error();
  return ok ? 0 : ED_E_PARSE;
}

static void name_str(char *out, size_t out_len, const X509_NAME *name) {
  BIO *b = BIO_new(BIO_s_mem());
  char *s = NULL;
  if (b) {
    /* RFC 2253 escaping (a CN's comma shows as "\,"), but UTF-8 as UTF-8
     * rather than \XX escapes. */
    int ok = X509_NAME_print_ex(b, name, 0,
                                XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0;
    s = bio_take(b, ok, NULL);
  }
  snprintf(out, out_len, "%s", s ? s : "");
  free(s);
}

static void push_str(char ***list, size_t *num, const char *s) {
  *list = ed_realloc(*list, (*num + 1) * sizeof(char *));
  (*list)[(*num)++] = ed_strdup(s);
}

/* gen_str writes |g| as "DNS:...", "IP:..." etc. Only the string-valued
 * types are read through d.ia5 / d.iPAddress: for the others (directory
 * names, other names) the union holds a different type. */
static void gen_str(char *out, size_t out_len, const GENERAL_NAME *g) {
  static const struct {
    int type;
    const char *prefix;
  } str_types[] = {{GEN_DNS, "DNS"}, {GEN_URI, "URI"}, {GEN_EMAIL, "email"}};
  for (size_t i = 0; i < sizeof(str_types) / sizeof(str_types[0]); i++) {
    if (g->type != str_types[i].type) continue;
    snprintf(out, out_len, "%s:%.*s", str_types[i].prefix,
             ASN1_STRING_length(g->d.ia5),
             (const char *)ASN1_STRING_get0_data(g->d.ia5));
    return;
  }
  if (g->type == GEN_IPADD) {
    char ip[INET6_ADDRSTRLEN] = "?";
    int n = ASN1_STRING_length(g->d.iPAddress);
    if (n == 4 || n == 16) {
      inet_ntop(n == 4 ? AF_INET : AF_INET6,
                ASN1_STRING_get0_data(g->d.iPAddress), ip, sizeof(ip));
    }
    snprintf(out, out_len, "IP:%s", ip);
    return;
  }
  snprintf(out, out_len, "other:%d", g->type);
}

static void fill_sans(struct ed_pki_cert_details *d, X509 *x) {
  GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
  for (size_t i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
    char buf[512];
    gen_str(buf, sizeof(buf), sk_GENERAL_NAME_value(gens, i));
    push_str(&d->sans, &d->num_sans, buf);
  }
  GENERAL_NAMES_free(gens);
}

static void fill_ekus(struct ed_pki_cert_details *d, X509 *x) {
  EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(x, NID_ext_key_usage, NULL, NULL);
  for (size_t i = 0; eku && i < sk_ASN1_OBJECT_num(eku); i++) {
    const ASN1_OBJECT *obj = sk_ASN1_OBJECT_value(eku, i);
    int nid = OBJ_obj2nid(obj);
    char buf[128];
    if (nid == NID_server_auth) {
      snprintf(buf, sizeof(buf), "serverAuth");
    } else if (nid == NID_client_auth) {
      snprintf(buf, sizeof(buf), "clientAuth");
    } else {
      OBJ_obj2txt(buf, sizeof(buf), obj, 1);
    }
    push_str(&d->ekus, &d->num_ekus, buf);
  }
  EXTENDED_KEY_USAGE_free(eku);
}

/* subject_cn returns the first CN of |x| as UTF-8, exactly (new), or
 * NULL. */
static char *subject_cn(X509 *x) {
  const X509_NAME *nm = X509_get_subject_name(x);
  int i = X509_NAME_get_index_by_NID(nm, NID_commonName, -1);
  X509_NAME_ENTRY *e = i >= 0 ? X509_NAME_get_entry(nm, i) : NULL;
  uint8_t *utf8 = NULL;
  int n = e ? ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e)) : -1;
  char *cn = n >= 0 ? ed_strndup((const char *)utf8, (size_t)n) : NULL;
  OPENSSL_free(utf8);
  return cn;
}

int ed_pki__fill_details(struct ed_pki_cert_details *d, X509 *x) {
  int err = ed_pki__fill_info(&d->info, x);
  if (err) return err;
  d->cn = subject_cn(x);
  name_str(d->subject, sizeof(d->subject), X509_get_subject_name(x));
  name_str(d->issuer, sizeof(d->issuer), X509_get_issuer_name(x));
  fill_sans(d, x);
  fill_ekus(d, x);
  d->is_ca = X509_check_ca(x) != 0;
  ERR_clear_error();
  return 0;
}

/* ---- validating names ---------------------------------------------------- */

static int dns_ok(const char *s) {
  size_t n = strlen(s), label = 0;
  if (n == 0 || n > 253) return 0;
  if (s[0] == '*' && s[1] == '.') s += 2; /* one leading wildcard label */
  for (const char *p = s; *p; p++) {
    unsigned char c = (unsigned char)*p;
    if (c == '.') {
      if (label == 0) return 0;
      label = 0;
    } else if (isalnum(c) || c == '-' || c == '_') {
      if (++label > 63) return 0;
    } else {
      return 0;
    }
  }
  return label > 0;
}

static int ip_ok(const char *s) {
  uint8_t buf[16];
  return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* uri_ok accepts scheme://rest (text_problem already allowed only
 * printable ASCII: commas, quotes and spaces are fine, matched exactly). */
static int uri_ok(const char *s) {
  const char *colon = strstr(s, "://");
  if (!colon || colon == s || !isalpha((unsigned char)s[0])) return 0;
  for (const char *p = s; p < colon; p++) {
    if (!isalnum((unsigned char)*p) && !strchr("+.-", *p)) return 0;
  }
  return colon[3] != '\0' && strlen(s) <= 1024;
}

/* email_ok accepts local@domain: any printable local part (RFC 5321 lets
 * it be quoted, with spaces, commas, even '@'), a DNS name after the last
 * '@'. */
static int email_ok(const char *s) {
  const char *at = strrchr(s, '@');
  return at && at != s && strlen(s) <= 254 && dns_ok(at + 1);
}

/* show_bytes writes |s| for a one-line message: printable ASCII as is,
 * every other byte as \xNN. */
static void show_bytes(char *out, size_t out_len, const char *s) {
  size_t o = 0;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    int w = *p >= 0x20 && *p < 0x7f
                ? snprintf(out + o, out_len - o, "%c", *p)
                : snprintf(out + o, out_len - o, "\\x%02x", *p);
    if (w < 0 || (size_t)w >= out_len - o) break;
    o += (size_t)w;
  }
  out[o < out_len ? o : out_len - 1] = '\0';
}

/* text_problem says why |s| may not be put in a certificate, or NULL.
 * Control characters (C0, DEL, and C1 as UTF-8) never may; without
 * |utf8_ok| (IA5String SANs) only printable ASCII may; with it (the CN, a
 * UTF8String) well-formed UTF-8 may too. Sets |*at| to the byte offset.
 * |*out_chars| counts characters (code points). */
static const char *text_problem(const unsigned char *s, int utf8_ok, size_t *at,
                                size_t *out_chars) {
  size_t chars = 0;
  for (size_t i = 0; s[i]; chars++) {
    *at = i;
    if (s[i] < 0x20 || s[i] == 0x7f) return "a control character";
    if (s[i] < 0x80) {
      i++;
      continue;
    }
    if (!utf8_ok) return "a non-ASCII byte (SANs are ASCII; percent-encode)";
    size_t len = s[i] >= 0xf0 ? 4 : s[i] >= 0xe0 ? 3 : s[i] >= 0xc2 ? 2 : 0;
    uint32_t cp = len ? s[i] & (0x7f >> len) : 0;
    for (size_t k = 1; k < len; k++) {
      if ((s[i + k] & 0xc0) != 0x80) len = 0;
      if (len) cp = cp << 6 | (s[i + k] & 0x3f);
    }
    if (!len || s[i] > 0xf4 || (len == 3 && cp < 0x800) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
      return "invalid UTF-8";
    if (cp <= 0x9f) return "a control character";
    i += len;
  }
  *out_chars = chars;
  return NULL;
}

int ed_pki__check_text(const char *what, const char *s, int utf8_ok,
                       size_t max_chars, char *err, size_t err_len) {
  char shown[600];
  size_t at = 0, chars = 0;
  const char *why =
      text_problem((const unsigned char *)(s ? s : ""), utf8_ok, &at, &chars);
  show_bytes(shown, sizeof(shown), s ? s : "");
  if (why)
    return ed_pki__fmt_err(err, err_len, ED_E_INVAL,
                           "invalid %s \"%s\": %s at byte %zu (names, CNs and "
                           "SANs hold printable characters%s)",
                           what, shown, why, at, utf8_ok ? " and UTF-8" : "");
  if (chars == 0 || chars > max_chars)
    return ed_pki__fmt_err(err, err_len, ED_E_INVAL,
                           "invalid %s \"%s\" (want 1-%zu characters)", what,
                           shown, max_chars);
  return 0;
}

/* check_list runs text and form checks over one kind of SAN. */
static int check_list(const char *const *v, size_t n, const char *what,
                      int (*form_ok)(const char *), const char *form, char *err,
                      size_t err_len) {
  for (size_t i = 0; i < n; i++) {
    int rc = ed_pki__check_text(what, v[i], 0, 1024, err, err_len);
    if (rc) return rc;
    if (!form_ok(v[i]))
      return ed_pki__fmt_err(err, err_len, ED_E_INVAL, "invalid %s \"%s\"%s",
                             what, v[i], form);
  }
  return 0;
}

int ed_pki__check_sans(const struct ed_pki__sans *s, char *err,
                       size_t err_len) {
  int rc = check_list(s->dns, s->num_dns, "DNS name", dns_ok, "", err, err_len);
  if (!rc)
    rc = check_list(s->ips, s->num_ips, "IP address", ip_ok, "", err, err_len);
  if (!rc)
    rc = check_list(s->uris, s->num_uris, "URI", uri_ok, " (want scheme://...)",
                    err, err_len);
  if (!rc)
    rc = check_list(s->emails, s->num_emails, "email address", email_ok,
                    " (want local@domain)", err, err_len);
  return rc;
}

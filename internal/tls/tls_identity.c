/* internal/tls — a client's identity as data: the subject CN and the SANs
 * (DNS, IP, URI, email), each with its exact length, parsed once per
 * verified chain from what BoringSSL already decoded, plus what a later
 * re-check needs (each certificate's serial and issuing CA, the chain's
 * validity window). Names that could mislead a reader or a comparison - a
 * NUL or other control character, invalid UTF-8, two CNs, two SAN
 * extensions - make the certificate unusable as an identity (bad_identity)
 * instead of being cut, skipped or joined into a string. */
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/mem.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "internal/tls/tls_internal.h"

/* ---- small pieces -------------------------------------------------------- */

int64_t ed_tls_asn1_time(const ASN1_TIME *t) {
  /* Measured from the epoch, not from "now" plus time(NULL): those are two
   * readings of the clock, and a second boundary between them made two
   * equal times differ by one (CRL order, tls_crl.c, compares them). */
  int days = 0, secs = 0;
  ASN1_TIME *epoch = t ? ASN1_TIME_set(NULL, 0) : NULL;
  int ok = epoch && ASN1_TIME_diff(&days, &secs, epoch, t);
  ASN1_TIME_free(epoch);
  ERR_clear_error();
  return ok ? (int64_t)days * 86400 + secs : 0;
}

int ed_tls_ca_id(uint8_t out[ED_TLS_CA_ID_LEN], X509 *x) {
  uint8_t *name = NULL, *spki = NULL;
  int nlen = i2d_X509_NAME(X509_get_subject_name(x), &name);
  int slen = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &spki);
  int ok = nlen > 0 && slen > 0;
  if (ok) {
    SHA256_CTX sha;
    SHA256_Init(&sha);
    SHA256_Update(&sha, name, (size_t)nlen);
    SHA256_Update(&sha, spki, (size_t)slen);
    SHA256_Final(out, &sha);
  } else {
    memset(out, 0, ED_TLS_CA_ID_LEN);
  }
  OPENSSL_free(name);
  OPENSSL_free(spki);
  ERR_clear_error();
  return ok;
}

int ed_tls_cert_hash(uint8_t out[32], X509 *x) {
  unsigned len = 0;
  int ok = X509_digest(x, EVP_sha256(), out, &len) && len == 32;
  if (!ok) memset(out, 0, 32);
  ERR_clear_error();
  return ok;
}

int ed_tls_ext_hash(uint8_t out[32], X509 *x) {
  const STACK_OF(X509_EXTENSION) *exts = X509_get0_extensions(x);
  uint8_t *der = NULL;
  int len = exts ? i2d_X509_EXTENSIONS((X509_EXTENSIONS *)exts, &der) : 0;
  int ok = len >= 0;
  if (ok) SHA256(der, (size_t)len, out);
  if (!ok) memset(out, 0, 32);
  OPENSSL_free(der);
  ERR_clear_error();
  return ok;
}

/* magnitude returns |i|'s value bytes without leading zeros. */
static const uint8_t *magnitude(const ASN1_INTEGER *i, size_t *len) {
  const uint8_t *p = ASN1_STRING_get0_data(i);
  size_t n = (size_t)ASN1_STRING_length(i);
  while (n > 0 && p[0] == 0) p++, n--;
  *len = n;
  return p;
}

size_t ed_tls_serial_canon_len(const ASN1_INTEGER *i) {
  size_t n;
  magnitude(i, &n);
  return n + 1;
}

void ed_tls_serial_canon_at(struct ed_tls_serial *out, const ASN1_INTEGER *i,
                            uint8_t *dst) {
  size_t n;
  const uint8_t *p = magnitude(i, &n);
  dst[0] = ASN1_STRING_type(i) == V_ASN1_NEG_INTEGER && n > 0;
  if (n) memcpy(dst + 1, p, n);
  out->bytes = dst;
  out->len = n + 1;
}

void ed_tls_serial_canon(struct ed_tls_serial *out, const ASN1_INTEGER *i) {
  ed_tls_serial_canon_at(out, i, ed_malloc(ed_tls_serial_canon_len(i)));
}

int ed_tls_serial_cmp(const struct ed_tls_serial *a,
                      const struct ed_tls_serial *b) {
  if (a->len != b->len) return a->len < b->len ? -1 : 1;
  return memcmp(a->bytes, b->bytes, a->len);
}

/* serial_text writes |s| as uppercase hex ("-" first when negative; "00"
 * for zero). Returns a new string. */
static char *serial_text(const struct ed_tls_serial *s) {
  static const char digits[] = "0123456789ABCDEF";
  size_t n = s->len - 1;
  char *out = ed_malloc(2 * n + 4), *o = out;
  if (s->bytes[0]) *o++ = '-';
  for (size_t i = 1; i <= n; i++) {
    *o++ = digits[s->bytes[i] >> 4];
    *o++ = digits[s->bytes[i] & 15];
  }
  if (n == 0) *o++ = '0', *o++ = '0';
  *o = '\0';
  return out;
}

/* ---- what a name may hold ------------------------------------------------ */

enum text_problem { TEXT_OK = 0, TEXT_CONTROL, TEXT_ENCODING };

/* utf8_problem checks |s| is UTF-8 as RFC 3629 has it (shortest form, no
 * surrogates, at most U+10FFFF) without C0 controls, DEL or C1 controls
 * (U+0080..U+009F: some terminals act on them, e.g. U+009B as CSI). */
static enum text_problem utf8_problem(const uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = s[i];
    if (c < 0x80) {
      if (c < 0x20 || c == 0x7f) return TEXT_CONTROL;
      i++;
      continue;
    }
    size_t k = c >= 0xc2 && c <= 0xdf   ? 1
               : c >= 0xe0 && c <= 0xef ? 2
               : c >= 0xf0 && c <= 0xf4 ? 3
                                        : 0;
    if (k == 0 || n - i - 1 < k) return TEXT_ENCODING;
    uint32_t cp = c & (0x3f >> k);
    for (size_t j = 1; j <= k; j++) {
      if ((s[i + j] & 0xc0) != 0x80) return TEXT_ENCODING;
      cp = cp << 6 | (s[i + j] & 0x3f);
    }
    if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
      return TEXT_ENCODING;
    if (cp <= 0x9f) return TEXT_CONTROL; /* C1 */
    i += k + 1;
  }
  return TEXT_OK;
}

/* ascii_problem: DNS, URI and email SANs are IA5String (ASCII); printable
 * only. */
static enum text_problem ascii_problem(const uint8_t *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (s[i] < 0x20 || s[i] == 0x7f) return TEXT_CONTROL;
    if (s[i] > 0x7f) return TEXT_ENCODING;
  }
  return TEXT_OK;
}

static char *dup_bytes(const void *p, size_t n) {
  char *s = ed_malloc(n + 1);
  if (n) memcpy(s, p, n);
  s[n] = '\0';
  return s;
}

/* ---- parsing ------------------------------------------------------------- */

static struct ed_tls_peer *peer_alloc(void) {
  struct ed_tls_peer *p = ed_calloc(1, sizeof(*p));
  atomic_init(&p->refs, 1);
  return p;
}

static void peer_free(struct ed_tls_peer *p) {
  free(p->cn);
  for (size_t i = 0; i < p->num_sans; i++) free(p->sans[i].value);
  free(p->sans);
  free(p->serial);
  for (size_t i = 0; i < p->num_links; i++) free(p->links[i].serial.bytes);
  free(p->links);
  free(p->root_serial.bytes);
  free(p);
}

/* parse_cn sets p->cn from the subject's only CN. */
static const char *parse_cn(struct ed_tls_peer *p, X509 *x) {
  X509_NAME *name = X509_get_subject_name(x);
  int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (i < 0) return NULL;
  if (X509_NAME_get_index_by_NID(name, NID_commonName, i) >= 0)
    return "two or more CNs in the subject";
  uint8_t *utf8 = NULL;
  int n = ASN1_STRING_to_UTF8(
      &utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
  ERR_clear_error();
  if (n < 0) return "the CN is not a readable string";
  enum text_problem t = utf8_problem(utf8, (size_t)n);
  if (t == TEXT_OK) {
    p->cn = dup_bytes(utf8, (size_t)n);
    p->cn_len = (size_t)n;
  }
  OPENSSL_free(utf8);
  if (t == TEXT_CONTROL)
    return "the CN holds a NUL or another control character";
  if (t == TEXT_ENCODING) return "the CN is not valid UTF-8";
  return NULL;
}

static const char *const san_control[] = {
    "a DNS SAN holds a NUL or another control character", NULL,
    "a URI SAN holds a NUL or another control character",
    "an email SAN holds a NUL or another control character"};
static const char *const san_encoding[] = {"a DNS SAN is not ASCII", NULL,
                                           "a URI SAN is not ASCII",
                                           "an email SAN is not ASCII"};

/* san_set fills |out| from the value of a SAN of |type| (an IP SAN's value
 * is the address). Returns NULL or why it is refused. */
static const char *san_set(struct ed_tls_san *out, enum ed_san_type type,
                           const uint8_t *v, size_t n) {
  memset(out, 0, sizeof(*out));
  out->type = type;
  if (type == ED_SAN_IP) {
    char text[INET6_ADDRSTRLEN];
    if (n != 4 && n != 16) return "an IP SAN is not 4 or 16 bytes";
    memcpy(out->ip, v, n);
    out->ip_len = (uint8_t)n;
    inet_ntop(n == 4 ? AF_INET : AF_INET6, v, text, sizeof(text));
    out->len = strlen(text);
    out->value = dup_bytes(text, out->len);
    return NULL;
  }
  enum text_problem t = ascii_problem(v, n);
  if (t == TEXT_CONTROL) return san_control[type];
  if (t == TEXT_ENCODING) return san_encoding[type];
  out->value = dup_bytes(v, n);
  out->len = n;
  return NULL;
}

static const char *add_general_name(struct ed_tls_peer *p,
                                    const GENERAL_NAME *g) {
  const ASN1_STRING *s = NULL;
  enum ed_san_type type;
  switch (g->type) {
    case GEN_DNS:
      s = g->d.dNSName, type = ED_SAN_DNS;
      break;
    case GEN_URI:
      s = g->d.uniformResourceIdentifier, type = ED_SAN_URI;
      break;
    case GEN_EMAIL:
      s = g->d.rfc822Name, type = ED_SAN_EMAIL;
      break;
    case GEN_IPADD:
      s = g->d.iPAddress, type = ED_SAN_IP;
      break;
    default:
      return NULL; /* not an identity here */
  }
  const char *why =
      san_set(&p->sans[p->num_sans], type, ASN1_STRING_get0_data(s),
              (size_t)ASN1_STRING_length(s));
  if (!why) p->num_sans++;
  return why;
}

/* parse_sans sets p->sans from the SAN extension, if any. */
static const char *parse_sans(struct ed_tls_peer *p, X509 *x) {
  int crit = -1;
  GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL);
  ERR_clear_error();
  if (!names) {
    if (crit == -2) return "two SAN extensions";
    return crit == -1 ? NULL : "the SAN extension does not parse";
  }
  const char *why = NULL;
  size_t n = sk_GENERAL_NAME_num(names);
  p->sans = ed_calloc(n ? n : 1, sizeof(*p->sans));
  for (size_t i = 0; i < n && !why; i++)
    why = add_general_name(p, sk_GENERAL_NAME_value(names, i));
  GENERAL_NAMES_free(names);
  return why;
}

void ed_tls_window_narrow(int64_t *not_before, int64_t *not_after, X509 *x) {
  int64_t nb = ed_tls_asn1_time(X509_get0_notBefore(x));
  int64_t na = ed_tls_asn1_time(X509_get0_notAfter(x));
  if (nb > *not_before) *not_before = nb;
  if (na < *not_after) *not_after = na;
}

/* names_issuer_cert: |x|'s authorityKeyIdentifier names its issuer's
 * serial (or the issuer's own issuer): X509_check_issued then takes that
 * certificate only, never a renewal of it (another serial). */
static int names_issuer_cert(X509 *x) {
  return X509_get0_authority_serial(x) || X509_get0_authority_issuer(x);
}

/* set_links records each certificate below the trust anchor with its
 * issuer's id and extensions, whether it names its issuer by serial, the
 * anchor's serial, and the window in which the whole chain is valid. A
 * chain of one (a self-signed leaf in the bundle) is its own issuer.
 * Which issuers the client sent is the verifier's to say
 * (ED_TLS_LINK_SENT, tls_verify.c). */
static void set_links(struct ed_tls_peer *p, X509 *leaf,
                      STACK_OF(X509) * chain) {
  size_t n = chain ? sk_X509_num(chain) : 0;
  p->num_links = n > 1 ? n - 1 : 1;
  p->links = ed_calloc(p->num_links, sizeof(*p->links));
  p->not_before = INT64_MIN;
  p->not_after = INT64_MAX;
  for (size_t i = 0; i < p->num_links; i++) {
    X509 *x = n ? sk_X509_value(chain, i) : leaf;
    ed_tls_serial_canon(&p->links[i].serial, X509_get0_serialNumber(x));
    if (names_issuer_cert(x)) p->links[i].flags |= ED_TLS_LINK_PINNED;
    if (n == 1) p->links[i].flags |= ED_TLS_LINK_SELF;
    if (n) {
      X509 *issuer = sk_X509_value(chain, n > 1 ? i + 1 : i);
      ed_tls_ca_id(p->links[i].issuer, issuer);
      ed_tls_ext_hash(p->links[i].issuer_ext, issuer);
    }
    ed_tls_window_narrow(&p->not_before, &p->not_after, x);
  }
  X509 *root = n ? sk_X509_value(chain, n - 1) : leaf;
  ed_tls_serial_canon(&p->root_serial, X509_get0_serialNumber(root));
  if (n > 1) ed_tls_window_narrow(&p->not_before, &p->not_after, root);
  p->own_not_before = p->not_before;
  p->own_not_after = p->not_after;
}

struct ed_tls_peer *ed_tls_identity_new(X509 *leaf, const uint8_t *der,
                                        size_t der_len, STACK_OF(X509) * chain,
                                        const char **out_detail) {
  struct ed_tls_peer *p = peer_alloc();
  const char *why = parse_cn(p, leaf);
  if (!why) why = parse_sans(p, leaf);
  if (why) {
    peer_free(p);
    *out_detail = why;
    return NULL;
  }
  SHA256(der, der_len, p->sha256);
  set_links(p, leaf, chain);
  p->serial = serial_text(&p->links[0].serial);
  return p;
}

int ed_tls_peer_from_der(struct ed_tls_peer **out, const char **out_detail,
                         const uint8_t *der, size_t der_len) {
  *out = NULL;
  const uint8_t *q = der;
  X509 *x = d2i_X509(NULL, &q, (long)der_len);
  ERR_clear_error();
  if (!x || q != der + der_len) {
    X509_free(x);
    return ED_E_PARSE;
  }
  *out = ed_tls_identity_new(x, der, der_len, NULL, out_detail);
  X509_free(x);
  return *out ? 0 : ED_E_INVAL;
}

/* ---- accessors ------------------------------------------------------------
 */

void ed_tls_peer_ref(const struct ed_tls_peer *p) {
  struct ed_tls_peer *m = (struct ed_tls_peer *)p; /* the count only */
  atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
}

void ed_tls_peer_unref(const struct ed_tls_peer *p) {
  struct ed_tls_peer *m = (struct ed_tls_peer *)p;
  if (m && atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1)
    peer_free(m);
}

const char *ed_tls_peer_cn(const struct ed_tls_peer *p, size_t *out_len) {
  if (out_len) *out_len = p->cn_len;
  return p->cn;
}

int ed_tls_peer_cn_is(const struct ed_tls_peer *p, const char *cn) {
  return p && p->cn && cn && strlen(cn) == p->cn_len &&
         memcmp(cn, p->cn, p->cn_len) == 0;
}

size_t ed_tls_peer_num_sans(const struct ed_tls_peer *p) {
  return p->num_sans;
}

enum ed_san_type ed_tls_peer_san(const struct ed_tls_peer *p, size_t i,
                                 const char **out_value, size_t *out_len) {
  *out_value = p->sans[i].value;
  *out_len = p->sans[i].len;
  return p->sans[i].type;
}

const char *ed_tls_peer_serial(const struct ed_tls_peer *p) {
  return p->serial;
}

const uint8_t *ed_tls_peer_sha256(const struct ed_tls_peer *p) {
  return p->sha256;
}

void ed_tls_peer_validity(const struct ed_tls_peer *p, int64_t *out_not_before,
                          int64_t *out_not_after) {
  *out_not_before = p->not_before;
  *out_not_after = p->not_after;
}

size_t ed_tls_peer_chain_depth(const struct ed_tls_peer *p) {
  return p->num_links - 1;
}

char *ed_tls_peer_sans_text(const struct ed_tls_peer *p) {
  static const char hex[] = "0123456789ABCDEF";
  size_t cap = 1;
  for (size_t i = 0; i < p->num_sans; i++) cap += 8 + 3 * p->sans[i].len;
  char *out = ed_malloc(cap), *o = out;
  for (size_t i = 0; i < p->num_sans; i++) {
    const struct ed_tls_san *s = &p->sans[i];
    o += sprintf(o, "%s%s:", i ? "," : "", ed_san_type_name(s->type));
    for (size_t j = 0; j < s->len; j++) {
      uint8_t c = (uint8_t)s->value[j];
      if (c == '%' || c == ',' || c < 0x21 || c > 0x7e) {
        *o++ = '%', *o++ = hex[c >> 4], *o++ = hex[c & 15];
      } else {
        *o++ = (char)c;
      }
    }
  }
  *o = '\0';
  return out;
}

/* ---- the ticket's form ------------------------------------------------------
 *
 * u8 version (3) | u64 not_before | u64 not_after | sha256[32]
 * | u8 has_cn | u16-prefixed cn
 * | u16 num_sans | each: u8 type, u16-prefixed value (IP: the address)
 * | u8 num_links | each: u8-prefixed serial (ed_tls_serial), issuer[32],
 *   issuer_ext[32], u8 flags (ED_TLS_LINK_*)
 * | u8-prefixed root_serial */

/* 3 since the verification checks every issuer of the chain, those from
 * --ca included (tls_verify.c check_issuers): a ticket of version 2 may
 * carry an identity a certificate of --ca that may not issue vouched for,
 * which the re-check could not see (a ticket keeps only serials and
 * issuers), so it does not resume: that client's next handshake is a full
 * one. */
/* 4 since each link records its issuer's extensions too (issuer_ext):
 * a ticket of version 3 cannot tell a CA from its re-issue with narrower
 * constraints, so it does not resume. */
/* 5 since each link records whether the client sent its issuer and
 * whether it names its issuer by serial, and the anchor's serial: the
 * re-check then follows the path a full handshake would take now (the
 * bundle's certificate before the client's copy, a serial-pinned issuer
 * only), which a ticket of version 4 cannot tell. */
/* 6 since a chain of one (a self-signed client certificate in the bundle)
 * is marked (ED_TLS_LINK_SELF): it holds only with that very certificate,
 * never a re-issue, which a ticket of version 5 cannot tell. */
/* 7 since check_issuers counts path lengths as RFC 5280 does (never the
 * leaf, and every CA's pathLenConstraint binds, the anchor's too): a
 * ticket of version 6 may carry an identity whose chain went past one,
 * which the re-check cannot see (it compares each issuer's extensions,
 * not the path's length), so it does not resume. */
#define IDENTITY_VERSION 7

static const uint8_t *san_wire(const struct ed_tls_san *s, size_t *out_len) {
  *out_len = s->type == ED_SAN_IP ? s->ip_len : s->len;
  return s->type == ED_SAN_IP ? s->ip : (const uint8_t *)s->value;
}

size_t ed_tls_identity_encoded_len(const struct ed_tls_peer *p) {
  size_t n = 1 + 8 + 8 + 32 + 1 + 2 + p->cn_len + 2 + 1, len;
  for (size_t i = 0; i < p->num_sans; i++) {
    san_wire(&p->sans[i], &len);
    n += 1 + 2 + len;
  }
  for (size_t i = 0; i < p->num_links; i++)
    n += 1 + p->links[i].serial.len + ED_TLS_CA_ID_LEN + 32 + 1;
  return n + 1 + p->root_serial.len;
}

static int add_u16_bytes(CBB *cbb, const void *p, size_t n) {
  CBB child;
  return CBB_add_u16_length_prefixed(cbb, &child) &&
         CBB_add_bytes(&child, p, n) && CBB_flush(cbb);
}

int ed_tls_identity_encode(CBB *cbb, const struct ed_tls_peer *p) {
  if (p->num_sans > 0xffff || p->num_links > 0xff) return 0;
  int ok = CBB_add_u8(cbb, IDENTITY_VERSION) &&
           CBB_add_u64(cbb, (uint64_t)p->not_before) &&
           CBB_add_u64(cbb, (uint64_t)p->not_after) &&
           CBB_add_bytes(cbb, p->sha256, 32) &&
           CBB_add_u8(cbb, p->cn != NULL) &&
           add_u16_bytes(cbb, p->cn, p->cn_len) &&
           CBB_add_u16(cbb, (uint16_t)p->num_sans);
  for (size_t i = 0; ok && i < p->num_sans; i++) {
    size_t len;
    const uint8_t *v = san_wire(&p->sans[i], &len);
    ok =
        CBB_add_u8(cbb, (uint8_t)p->sans[i].type) && add_u16_bytes(cbb, v, len);
  }
  ok = ok && CBB_add_u8(cbb, (uint8_t)p->num_links);
  for (size_t i = 0; ok && i < p->num_links; i++) {
    CBB child;
    const struct ed_tls_link *l = &p->links[i];
    ok = CBB_add_u8_length_prefixed(cbb, &child) &&
         CBB_add_bytes(&child, l->serial.bytes, l->serial.len) &&
         CBB_add_bytes(cbb, l->issuer, ED_TLS_CA_ID_LEN) &&
         CBB_add_bytes(cbb, l->issuer_ext, 32) && CBB_add_u8(cbb, l->flags) &&
         CBB_flush(cbb);
  }
  CBB root;
  return ok && CBB_add_u8_length_prefixed(cbb, &root) &&
         CBB_add_bytes(&root, p->root_serial.bytes, p->root_serial.len) &&
         CBB_flush(cbb);
}

static int decode_sans(CBS *cbs, struct ed_tls_peer *p) {
  uint16_t n;
  if (!CBS_get_u16(cbs, &n)) return 0;
  p->sans = ed_calloc(n ? n : 1, sizeof(*p->sans));
  for (uint16_t i = 0; i < n; i++) {
    uint8_t type;
    CBS v;
    if (!CBS_get_u8(cbs, &type) || type >= ED_SAN_TYPE_COUNT ||
        !CBS_get_u16_length_prefixed(cbs, &v) ||
        san_set(&p->sans[p->num_sans], (enum ed_san_type)type, CBS_data(&v),
                CBS_len(&v)) != NULL)
      return 0;
    p->num_sans++;
  }
  return 1;
}

static int decode_links(CBS *cbs, struct ed_tls_peer *p) {
  uint8_t n;
  if (!CBS_get_u8(cbs, &n) || n == 0) return 0;
  p->links = ed_calloc(n, sizeof(*p->links));
  for (uint8_t i = 0; i < n; i++) {
    CBS serial;
    struct ed_tls_link *l = &p->links[i];
    if (!CBS_get_u8_length_prefixed(cbs, &serial) || CBS_len(&serial) == 0 ||
        !CBS_copy_bytes(cbs, l->issuer, ED_TLS_CA_ID_LEN) ||
        !CBS_copy_bytes(cbs, l->issuer_ext, 32) ||
        !CBS_get_u8(cbs, &l->flags) ||
        (l->flags &
         ~(ED_TLS_LINK_SENT | ED_TLS_LINK_PINNED | ED_TLS_LINK_SELF)))
      return 0;
    l->serial.len = CBS_len(&serial);
    l->serial.bytes = (uint8_t *)dup_bytes(CBS_data(&serial), l->serial.len);
    p->num_links++;
  }
  CBS root;
  if (!CBS_get_u8_length_prefixed(cbs, &root) || CBS_len(&root) == 0) return 0;
  p->root_serial.len = CBS_len(&root);
  p->root_serial.bytes = (uint8_t *)dup_bytes(CBS_data(&root), CBS_len(&root));
  return 1;
}

struct ed_tls_peer *ed_tls_identity_decode(CBS *cbs) {
  struct ed_tls_peer *p = peer_alloc();
  uint8_t ver, has_cn;
  uint64_t nb, na;
  CBS cn;
  int ok = CBS_get_u8(cbs, &ver) && ver == IDENTITY_VERSION &&
           CBS_get_u64(cbs, &nb) && CBS_get_u64(cbs, &na) &&
           CBS_copy_bytes(cbs, p->sha256, 32) && CBS_get_u8(cbs, &has_cn) &&
           CBS_get_u16_length_prefixed(cbs, &cn) &&
           (has_cn || CBS_len(&cn) == 0) &&
           utf8_problem(CBS_data(&cn), CBS_len(&cn)) == TEXT_OK &&
           decode_sans(cbs, p) && decode_links(cbs, p);
  if (!ok) {
    peer_free(p);
    return NULL;
  }
  if (has_cn) {
    p->cn_len = CBS_len(&cn);
    p->cn = dup_bytes(CBS_data(&cn), p->cn_len);
  }
  p->not_before = p->own_not_before = (int64_t)nb;
  p->not_after = p->own_not_after = (int64_t)na;
  p->serial = serial_text(&p->links[0].serial);
  return p;
}

/* ---- --allow-san -----------------------------------------------------------
 */

static const struct {
  const char *prefix;
  enum ed_san_type type;
} san_prefixes[] = {
    {"DNS:", ED_SAN_DNS},
    {"URI:", ED_SAN_URI},
    {"email:", ED_SAN_EMAIL},
    {"IP:", ED_SAN_IP},
};

static int parse_ip(uint8_t out[16], uint8_t *out_len, const char *s) {
  if (inet_pton(AF_INET, s, out) == 1) return *out_len = 4, 1;
  if (inet_pton(AF_INET6, s, out) == 1) return *out_len = 16, 1;
  *out_len = 0;
  return 0;
}

/* bare_type says which SAN type a value without a prefix names, by its
 * form: "://" a URI, else "@" an email address, else an IP address if it
 * parses as one, else a DNS name. So a bare value matches one SAN type
 * only: "spiffe://echod/admin" never matches a DNS SAN that differs in
 * case only. Returns 0, or -1 when the value fits none (a ':' a DNS name
 * cannot hold, as in "urn:x" or "mailto:x": their type must be spelled). */
static int bare_type(enum ed_san_type *out, const char *v) {
  uint8_t ip[16], ip_len;
  if (strstr(v, "://")) {
    *out = ED_SAN_URI;
  } else if (strchr(v, '@')) {
    *out = ED_SAN_EMAIL;
  } else if (parse_ip(ip, &ip_len, v)) {
    *out = ED_SAN_IP;
  } else if (strchr(v, ':')) {
    return -1;
  } else {
    *out = ED_SAN_DNS;
  }
  return 0;
}

int ed_tls_allow_san_parse(struct ed_tls_allow_san *out, const char *s,
                           const char **out_why) {
  memset(out, 0, sizeof(*out));
  const char *v = NULL;
  for (size_t i = 0; i < sizeof(san_prefixes) / sizeof(san_prefixes[0]); i++) {
    size_t n = strlen(san_prefixes[i].prefix);
    if (strncasecmp(s, san_prefixes[i].prefix, n) == 0) {
      out->type = san_prefixes[i].type;
      v = s + n;
      break;
    }
  }
  if (v && *v == '\0') {
    *out_why = "has nothing after its type";
    return ED_E_INVAL;
  }
  if (!v && bare_type(&out->type, v = s) != 0) {
    *out_why =
        "names no SAN type by its form (a URI without \"://\" "
        "needs its type: URI:VALUE)";
    return ED_E_INVAL;
  }
  if (*v == '\0') {
    *out_why = "is empty";
    return ED_E_INVAL;
  }
  if (out->type == ED_SAN_IP && !parse_ip(out->ip, &out->ip_len, v)) {
    *out_why = "is not an IP address (IP:10.0.0.1, IP:::1)";
    return ED_E_INVAL;
  }
  out->len = strlen(v);
  out->value = dup_bytes(v, out->len);
  return 0;
}

int ed_tls_allow_san_check(const char *s, const char **out_why) {
  struct ed_tls_allow_san a;
  int rc = ed_tls_allow_san_parse(&a, s, out_why);
  if (rc == 0) ed_tls_allow_san_cleanup(&a);
  return rc;
}

void ed_tls_allow_san_cleanup(struct ed_tls_allow_san *a) {
  free(a->value);
  a->value = NULL;
}

/* A SAN as the allow-list compares it: an IP by its address bytes, a DNS
 * name by its bytes with ASCII case folded, the others by their bytes. */
struct san_key {
  enum ed_san_type type;
  const uint8_t *b;
  size_t len;
};

static struct san_key allow_key(const struct ed_tls_allow_san *a) {
  if (a->type == ED_SAN_IP) return (struct san_key){a->type, a->ip, a->ip_len};
  return (struct san_key){a->type, (const uint8_t *)a->value, a->len};
}

static struct san_key peer_key(const struct ed_tls_san *s) {
  if (s->type == ED_SAN_IP) return (struct san_key){s->type, s->ip, s->ip_len};
  return (struct san_key){s->type, (const uint8_t *)s->value, s->len};
}

static int fold(uint8_t c) {
  return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int key_cmp(const struct san_key *x, const struct san_key *y) {
  if (x->type != y->type) return x->type < y->type ? -1 : 1;
  if (x->len != y->len) return x->len < y->len ? -1 : 1;
  for (size_t i = 0; i < x->len; i++) {
    int a = x->type == ED_SAN_DNS ? fold(x->b[i]) : x->b[i];
    int b = x->type == ED_SAN_DNS ? fold(y->b[i]) : y->b[i];
    if (a != b) return a < b ? -1 : 1;
  }
  return 0;
}

int ed_tls_allow_san_cmp(const void *a, const void *b) {
  struct san_key x = allow_key(a), y = allow_key(b);
  return key_cmp(&x, &y);
}

static int peer_san_cmp(const void *peer, const void *allow) {
  struct san_key x = peer_key(peer), y = allow_key(allow);
  return key_cmp(&x, &y);
}

int ed_tls_allow_san_find(const struct ed_tls_allow_san *sorted, size_t num,
                          const struct ed_tls_san *san) {
  return num && bsearch(san, sorted, num, sizeof(*sorted), peer_san_cmp);
}

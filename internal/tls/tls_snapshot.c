/* internal/tls — credential snapshots: load, check, build the SSL_CTX and
 * the summary the admin socket and metrics show. */
#include <openssl/bio.h>
#include <openssl/bytestring.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pool.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "internal/tls/sigalgs.h"
#include "internal/tls/tls_internal.h"

#define MAX_PEM_FILE (4u << 20)

/* Ids, for logs; a snapshot made later has a larger one
 * (ed_tls_conn_rebase never moves a connection back). */
static _Atomic uint64_t next_snapshot_id = 1;
static _Atomic long live_snapshots; /* ed_tls_snapshots_live */

void ed_tls_set_err(char *err, size_t err_len, const char *fmt, ...) {
  if (!err || !err_len) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, err_len, fmt, ap);
  va_end(ap);
}

void ed_tls_hex(char *out, const uint8_t *in, size_t len) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < len; i++) {
    out[2 * i] = digits[in[i] >> 4];
    out[2 * i + 1] = digits[in[i] & 15];
  }
  out[2 * len] = '\0';
}

/* Written as the identity writes it (tls_identity.c serial_text): "-"
 * first when negative, "00" for zero, so a refused client's line and an
 * accepted one's name a certificate the same way. */
void ed_tls_serial_hex(char *out, size_t out_len, const ASN1_INTEGER *serial) {
  static const char digits[] = "0123456789ABCDEF";
  static const uint8_t zero = 0;
  const uint8_t *p = ASN1_STRING_get0_data(serial);
  size_t n = (size_t)ASN1_STRING_length(serial), o = 0;
  while (n > 0 && p[0] == 0) p++, n--; /* canonical: no leading zero bytes */
  if (n == 0)
    p = &zero, n = 1;
  else if (ASN1_STRING_type(serial) == V_ASN1_NEG_INTEGER && o + 2 <= out_len)
    out[o++] = '-';
  for (size_t i = 0; i < n && o + 3 <= out_len; i++) {
    out[o++] = digits[p[i] >> 4];
    out[o++] = digits[p[i] & 15];
  }
  if (out_len) out[o < out_len ? o : out_len - 1] = '\0';
}

void ed_tls_name_str(char *out, size_t out_len, const X509_NAME *name) {
  out[0] = '\0';
  BIO *b = BIO_new(BIO_s_mem());
  if (!b) return;
  if (X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) >= 0) {
    const uint8_t *p;
    size_t n;
    BIO_mem_contents(b, &p, &n);
    snprintf(out, out_len, "%.*s", (int)n, (const char *)p);
  }
  BIO_free(b);
}

static void cert_info(struct ed_tls_cert_info *out, X509 *x) {
  memset(out, 0, sizeof(*out));
  ed_tls_name_str(out->subject, sizeof(out->subject), X509_get_subject_name(x));
  ed_tls_name_str(out->issuer, sizeof(out->issuer), X509_get_issuer_name(x));
  ed_tls_serial_hex(out->serial, sizeof(out->serial),
                    X509_get0_serialNumber(x));
  out->not_before = ed_tls_asn1_time(X509_get0_notBefore(x));
  out->not_after = ed_tls_asn1_time(X509_get0_notAfter(x));
  uint8_t *der = NULL;
  int len = i2d_X509(x, &der);
  if (len > 0) {
    uint8_t md[32];
    SHA256(der, (size_t)len, md);
    ed_tls_hex(out->sha256, md, 32);
  }
  OPENSSL_free(der);
}

/* ---- loading files ---------------------------------------------------- */

/* A PEM file in memory: the BIO reads from |data|, which we own. */
struct pem {
  BIO *bio;
  uint8_t *data;
};

static int read_pem(struct pem *out, const char *what, const char *path,
                    char *err, size_t err_len) {
  size_t len;
  int rc = ed_read_file(&out->data, &len, path, MAX_PEM_FILE);
  if (rc) {
    ed_tls_set_err(err, err_len, "cannot read %s file %s: %s", what, path,
                   ed_strerror(rc));
    return rc;
  }
  out->bio = BIO_new_mem_buf(out->data, (int)len);
  return 0;
}

static void free_pem(struct pem *p) {
  BIO_free(p->bio);
  free(p->data);
}

/* load_certs reads every certificate in |path|. */
static int load_certs(STACK_OF(X509) * *out, const char *what, const char *path,
                      char *err, size_t err_len) {
  struct pem b;
  int rc = read_pem(&b, what, path, err, err_len);
  if (rc) return rc;
  STACK_OF(X509) *sk = sk_X509_new_null();
  X509 *x;
  while ((x = PEM_read_bio_X509(b.bio, NULL, NULL, NULL)) != NULL) {
    sk_X509_push(sk, x);
  }
  ERR_clear_error();
  free_pem(&b);
  if (sk_X509_num(sk) == 0) {
    sk_X509_free(sk);
    ed_tls_set_err(err, err_len, "%s file %s holds no PEM certificate", what,
                   path);
    return ED_E_PARSE;
  }
  *out = sk;
  return 0;
}

/* ed_tls_check_secret_mode refuses a key file that group or others may
 * access. With |allow_group_read|, a root-owned key its group may read
 * passes (the rule PostgreSQL uses; how Kubernetes hands a Secret to a
 * non-root server). |what| names the file ("key file"). */
int ed_tls_check_secret_mode(const char *path, const char *what,
                             int allow_group_read, char *err, size_t err_len) {
  struct stat st;
  if (stat(path, &st) != 0) {
    ed_tls_set_err(err, err_len, "cannot read %s %s: %s", what, path,
                   ed_strerror(ED_E_NOENT));
    return ED_E_NOENT;
  }
  mode_t bad = S_IRWXO | S_IWGRP | S_IXGRP | S_IRGRP;
  if (allow_group_read && st.st_uid == 0) bad &= ~(mode_t)S_IRGRP;
  if (st.st_mode & bad) {
    /* Only group read on a root-owned key: the flag is the other way. */
    int flag_helps = !allow_group_read && st.st_uid == 0 &&
                     !(st.st_mode & bad & ~(mode_t)S_IRGRP);
    ed_tls_set_err(err, err_len,
                   "%s %s has mode %04o: group/others may read it; "
                   "run: chmod 600 %s%s",
                   what, path, (unsigned)(st.st_mode & 07777), path,
                   flag_helps ? ", or pass --allow-group-readable-key if its "
                                "group must read it (a Kubernetes Secret "
                                "volume with fsGroup)"
                              : "");
    return ED_E_INSECURE;
  }
  return 0;
}

static int load_key(EVP_PKEY **out, const char *path, int allow_group_read,
                    char *err, size_t err_len) {
  int rc = ed_tls_check_secret_mode(path, "key file", allow_group_read, err,
                                    err_len);
  struct pem b;
  if (!rc) rc = read_pem(&b, "key", path, err, err_len);
  if (rc) return rc;
  *out = PEM_read_bio_PrivateKey(b.bio, NULL, NULL, NULL);
  free_pem(&b);
  ERR_clear_error();
  if (!*out) {
    ed_tls_set_err(err, err_len, "key file %s holds no PEM private key", path);
    return ED_E_PARSE;
  }
  return 0;
}

/* ---- checks ------------------------------------------------------------ */

/* server_revoked returns the CRL file that revokes a certificate of the
 * server's verified |chain|, or NULL. */
static const char *server_revoked(const struct ed_tls_snapshot *s,
                                  STACK_OF(X509) * chain) {
  const char *file = NULL;
  for (size_t i = 0; !file && i + 1 < sk_X509_num(chain); i++) {
    uint8_t id[ED_TLS_CA_ID_LEN];
    ed_tls_ca_id(id, sk_X509_value(chain, i + 1));
    const struct ed_tls_ca *ca = ed_tls_find_ca(s, id);
    if (!ca || !ca->has_crl) continue;
    struct ed_tls_serial serial;
    ed_tls_serial_canon(&serial,
                        X509_get0_serialNumber(sk_X509_value(chain, i)));
    if (ed_tls_ca_revokes(ca, &serial)) file = ca->crl_file;
    free(serial.bytes);
  }
  return file;
}

/* verify_server runs the chain check; returns the X509 error and, on
 * success, the verified chain in |*out_chain|. */
static int verify_server(struct ed_tls_snapshot *s, STACK_OF(X509) * certs,
                         STACK_OF(X509) * *out_chain) {
  STACK_OF(X509) *chain = sk_X509_dup(certs);
  X509 *leaf = sk_X509_shift(chain);
  X509_STORE_CTX *xs = ed_tls_verify_ctx(s, leaf, chain);
  int e = X509_V_ERR_OUT_OF_MEM;
  if (xs) {
    e = X509_verify_cert(xs) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(xs);
    if (e == X509_V_OK) *out_chain = X509_STORE_CTX_get1_chain(xs);
  }
  X509_STORE_CTX_free(xs);
  sk_X509_free(chain);
  ERR_clear_error();
  return e;
}

/* check_server_chain verifies the server's own chain. A CRL revoking it
 * (the leaf or a CA above it) is logged, not refused: refusing would keep
 * the old snapshot, and with it the old CRLs, so the very reload that
 * revokes a compromised intermediate would let its clients in. Writes,
 * per snapshot build (start and each reload) while it is revoked:
 *   level=warn msg="server certificate revoked" cert=/etc/echod/cert.pem
 *       crl=/etc/echod/ca.crl hint="clients that check revocation refuse
 *       it; replace it" */
static int check_server_chain(struct ed_tls_snapshot *s, STACK_OF(X509) * certs,
                              const char *path, char *err, size_t err_len) {
  STACK_OF(X509) *chain = NULL;
  int e = verify_server(s, certs, &chain);
  const char *crl = e == X509_V_OK ? server_revoked(s, chain) : NULL;
  sk_X509_pop_free(chain, X509_free);
  if (crl) {
    char qp[600], qc[600];
    ED_WARN("server certificate revoked",
            "cert=%s crl=%s hint=\"clients that check revocation refuse it; "
            "replace it\"",
            ed_logq(qp, sizeof(qp), path), ed_logq(qc, sizeof(qc), crl));
  }
  if (e == X509_V_OK) return 0;
  int rc = ED_E_VERIFY;
  if (e == X509_V_ERR_CERT_HAS_EXPIRED || e == X509_V_ERR_CERT_NOT_YET_VALID) {
    rc = ED_E_EXPIRED;
  }
  ed_tls_set_err(err, err_len,
                 "certificate %s does not verify against the CA: %s", path,
                 X509_verify_cert_error_string(e));
  return rc;
}

/* The snapshot an X509_STORE_CTX verifies against, for issuer_from_store. */
static int snapshot_index = -1;
static pthread_once_t snapshot_index_once = PTHREAD_ONCE_INIT;

static void new_snapshot_index(void) {
  snapshot_index = X509_STORE_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

X509_STORE_CTX *ed_tls_verify_ctx(struct ed_tls_snapshot *s, X509 *leaf,
                                  STACK_OF(X509) * chain) {
  pthread_once(&snapshot_index_once, new_snapshot_index);
  X509_STORE_CTX *xs = X509_STORE_CTX_new();
  if (xs && X509_STORE_CTX_init(xs, s->store, leaf, chain) &&
      snapshot_index >= 0 && X509_STORE_CTX_set_ex_data(xs, snapshot_index, s))
    return xs;
  X509_STORE_CTX_free(xs);
  return NULL;
}

/* signed_by: |cand|'s key signed |x|. The key identifiers tell when |x|
 * names one and |cand| has one (X509_check_issued compared them);
 * otherwise only the signature can: a CA's key rollover under its name
 * (the same name, another key) would be taken for |x|'s issuer, and
 * TRUSTED_FIRST never leaves the store again once it took one. */
static int signed_by(X509 *cand, X509 *x) {
  if (X509_get0_authority_key_id(x) && X509_get0_subject_key_id(cand)) return 1;
  EVP_PKEY *pk = X509_get_pubkey(cand);
  int ok = pk && X509_verify(x, pk) == 1;
  EVP_PKEY_free(pk);
  ERR_clear_error();
  return ok;
}

/* snapshot_of: the snapshot |ctx| verifies against (ed_tls_verify_ctx). */
static const struct ed_tls_snapshot *snapshot_of(X509_STORE_CTX *ctx) {
  return snapshot_index >= 0 ? X509_STORE_CTX_get_ex_data(ctx, snapshot_index)
                             : NULL;
}

/* certs_named is the store's lookup by name (X509_STORE_set_lookup_certs):
 * the snapshot's index, not the store, holds the bundle. */
static STACK_OF(X509) * certs_named(X509_STORE_CTX *ctx, X509_NAME *name) {
  return ed_tls_certs_named(snapshot_of(ctx), name);
}

/* issuer_from_store is the store's issuer lookup. Among the bundle's
 * certificates that could have issued |x| (a CA and its re-issue share
 * name and key) it takes the one valid now and not revoked on its own
 * issuer's CRL, then one valid now, then the one valid longest (a
 * renewal's): ed_tls_ca_pick's order, which the re-check follows.
 * BoringSSL's own lookup takes the first in its index, whose order within
 * one name is not the bundle's: an expired original could refuse the
 * clients its renewal vouches for, new chains could keep going through a
 * certificate that is about to leave the bundle, and a revoked renewal
 * would refuse every client its valid original still vouches for. */
static int issuer_from_store(X509 **out, X509_STORE_CTX *ctx, X509 *x) {
  const struct ed_tls_snapshot *s = snapshot_of(ctx);
  int64_t now = (int64_t)time(NULL);
  /* A self-signed |x| (a chain of one) is its own issuer when the bundle
   * holds it: BoringSSL wants that very certificate back. */
  int self_signed = X509_check_issued(x, x) == X509_V_OK;
  const struct ed_tls_ca_cert *best = NULL;
  int best_tier = -1;
  size_t first, end = ed_tls_cas_named(s, X509_get_issuer_name(x), &first);
  for (size_t i = first; i < end; i++) {
    const struct ed_tls_ca *ca = s->cas_by_name[i];
    for (size_t j = 0; j < ca->num_certs; j++) {
      const struct ed_tls_ca_cert *cc = &ca->certs[j];
      int tier;
      if (self_signed && !X509_cmp(cc->x, x))
        tier = 3;
      else if (X509_check_issued(cc->x, x) == X509_V_OK && signed_by(cc->x, x))
        tier = ed_tls_cert_tier(cc, now);
      else
        continue;
      /* Equals: the first in the bundle, as ed_tls_ca_pick. */
      if (tier > best_tier ||
          (tier == best_tier &&
           (cc->not_after > best->not_after ||
            (cc->not_after == best->not_after && cc->nth < best->nth)))) {
        best = cc;
        best_tier = tier;
      }
    }
  }
  ERR_clear_error();
  *out = best ? best->x : NULL;
  if (*out) X509_up_ref(*out);
  return best != NULL;
}

/* new_store makes the store verification runs on. It holds no
 * certificate: both of its lookups by name come from the snapshot's index
 * (certs_named, issuer_from_store). BoringSSL's store sorts its list
 * again at every certificate added (quadratic in the bundle: seconds for
 * thousands of CAs) and takes a write lock at every lookup. */
static int new_store(struct ed_tls_snapshot *s) {
  s->store = X509_STORE_new();
  if (!s->store) return ED_E_NOMEM;
  X509_STORE_set_get_issuer(s->store, issuer_from_store);
  X509_STORE_set_lookup_certs(s->store, certs_named);
  return 0;
}

/* ---- the SSL_CTX -------------------------------------------------------- */

/* set_chain gives |ctx| the server's chain; the key stays with
 * the snapshot, for tls_sign.c (BoringSSL calls it for every signature). */
static int set_chain(SSL_CTX *ctx, STACK_OF(X509) * certs) {
  size_t n = sk_X509_num(certs);
  CRYPTO_BUFFER **bufs = ed_calloc(n, sizeof(*bufs));
  int ok = 1;
  for (size_t i = 0; i < n && ok; i++) {
    uint8_t *der = NULL;
    int len = i2d_X509(sk_X509_value(certs, i), &der);
    bufs[i] = len > 0 ? CRYPTO_BUFFER_new(der, (size_t)len, NULL) : NULL;
    ok = bufs[i] != NULL;
    OPENSSL_free(der);
  }
  ok = ok && SSL_CTX_set_chain_and_key(ctx, bufs, n, NULL, &ed_tls_sign_method);
  for (size_t i = 0; i < n; i++) CRYPTO_BUFFER_free(bufs[i]);
  free(bufs);
  return ok;
}

static const char kCiphers12[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

static int build_ctx(struct ed_tls_snapshot *s, const struct ed_tls_params *p,
                     STACK_OF(X509) * certs, EVP_PKEY *key) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_with_buffers_method());
  s->ctx = ctx;
  if (!ctx) return 0;
  uint16_t min = p->tls_min == TLS1_2_VERSION ? TLS1_2_VERSION : TLS1_3_VERSION;
  uint32_t life = p->ticket_lifetime_s ? p->ticket_lifetime_s : 7200;
  static const uint8_t sid_ctx[] = "echod";
  EVP_PKEY_up_ref(key);
  s->key = key;
  int ok = set_chain(ctx, certs) && SSL_CTX_set_min_proto_version(ctx, min) &&
           SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) &&
           SSL_CTX_set_strict_cipher_list(ctx, kCiphers12) &&
           SSL_CTX_set1_curves_list(ctx, "X25519:P-256:P-384") &&
           SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
  /* Signatures we accept from clients and make ourselves (sigalgs.h). */
  if (!ok ||
      !SSL_CTX_set_verify_algorithm_prefs(ctx, ed_tls_sigalgs,
                                          ED_TLS_NUM_SIGALGS) ||
      !SSL_CTX_set_signing_algorithm_prefs(ctx, ed_tls_sigalgs,
                                           ED_TLS_NUM_SIGALGS))
    return 0;
  SSL_CTX_set_custom_verify(ctx,
                            SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                            ed_tls_verify_client);
  SSL_CTX_set_ticket_aead_method(ctx, &ed_tls_ticket_method);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_timeout(ctx, life);
  SSL_CTX_set_session_psk_dhe_timeout(ctx, life);
  SSL_CTX_set_num_tickets(ctx, 1);
  /* The ticket carries the identity we need; the session does not need
   * the client's certificates (smaller tickets, less memory). */
  SSL_CTX_set_retain_only_sha256_of_client_certs(ctx, 1);
  return 1;
}

static void copy_list(char ***out, size_t *out_num, const char *const *in,
                      size_t num) {
  *out = ed_calloc(num + 1, sizeof(char *));
  for (size_t i = 0; i < num; i++) (*out)[i] = ed_strdup(in[i]);
  *out_num = num;
}

/* ---- the allow-lists, sorted for lookups ----------------------------------
 */

struct cn_key {
  const char *b;
  size_t len;
};

static int cn_cmp(const struct cn_key *x, const struct cn_key *y) {
  if (x->len != y->len) return x->len < y->len ? -1 : 1;
  return memcmp(x->b, y->b, x->len);
}

static int allow_cn_sort_cmp(const void *a, const void *b) {
  const char *x = *(const char *const *)a, *y = *(const char *const *)b;
  struct cn_key kx = {x, strlen(x)}, ky = {y, strlen(y)};
  return cn_cmp(&kx, &ky);
}

static int allow_cn_find_cmp(const void *key, const void *entry) {
  const char *e = *(const char *const *)entry;
  struct cn_key ke = {e, strlen(e)};
  return cn_cmp(key, &ke);
}

int ed_tls_allow_cn_find(const struct ed_tls_snapshot *s, const char *cn,
                         size_t len) {
  struct cn_key k = {cn, len};
  return s->num_allow_cn && bsearch(&k, s->allow_cn, s->num_allow_cn,
                                    sizeof(char *), allow_cn_find_cmp);
}

int ed_tls_pin_cmp(const void *a, const void *b) {
  return memcmp(a, b, 32);
}

/* sort_allow_lists sorts |s|'s allow-lists for ed_tls_acl_allows, which
 * then looks each of a client's names up instead of comparing it with
 * every entry (an allow-file of 1 MiB holds ~26,000 CNs: a scan of them
 * all at every handshake and every re-check). */
static void sort_allow_lists(struct ed_tls_snapshot *s) {
  qsort(s->allow_cn, s->num_allow_cn, sizeof(char *), allow_cn_sort_cmp);
  qsort(s->allow_san, s->num_allow_san, sizeof(*s->allow_san),
        ed_tls_allow_san_cmp);
  qsort(s->allow_sha256, s->num_allow_sha256, 32, ed_tls_pin_cmp);
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int copy_pins(struct ed_tls_snapshot *s, const struct ed_tls_params *p,
                     char *err, size_t err_len) {
  s->allow_sha256 = ed_calloc(p->num_allow_sha256 + 1, 32);
  for (size_t i = 0; i < p->num_allow_sha256; i++) {
    const char *h = p->allow_sha256[i];
    size_t n = 0;
    for (; *h && n < 32; h++) {
      if (*h == ':') continue;
      int hi = hexval(h[0]), lo = h[1] ? hexval(h[1]) : -1;
      if (hi < 0 || lo < 0) break;
      s->allow_sha256[i][n++] = (uint8_t)(hi << 4 | lo);
      h++;
    }
    if (n != 32 || *h) {
      ed_tls_set_err(err, err_len, "bad SHA-256 pin %s", p->allow_sha256[i]);
      return ED_E_INVAL;
    }
  }
  s->num_allow_sha256 = p->num_allow_sha256;
  return 0;
}

static int copy_allow_sans(struct ed_tls_snapshot *s,
                           const struct ed_tls_params *p, char *err,
                           size_t err_len) {
  s->allow_san = ed_calloc(p->num_allow_san + 1, sizeof(*s->allow_san));
  for (size_t i = 0; i < p->num_allow_san; i++) {
    const char *why = NULL;
    if (ed_tls_allow_san_parse(&s->allow_san[i], p->allow_san[i], &why)) {
      ed_tls_set_err(err, err_len, "allow-san %s %s", p->allow_san[i], why);
      return ED_E_INVAL;
    }
    s->num_allow_san++;
  }
  return 0;
}

/* ---- public ------------------------------------------------------------- */

/* load_trust loads the CA bundle and the CRLs into |s|. */
static int load_trust(struct ed_tls_snapshot *s, const struct ed_tls_params *p,
                      STACK_OF(X509) * *out_cas, char *err, size_t err_len) {
  int rc = load_certs(out_cas, "CA", p->ca, err, err_len);
  if (!rc && new_store(s)) {
    ed_tls_set_err(err, err_len, "out of memory for CA file %s", p->ca);
    rc = ED_E_NOMEM;
  }
  if (!rc) rc = ed_tls_index_cas(s, *out_cas, err, err_len);
  if (!rc) rc = ed_tls_load_crls(s, p->crls, p->num_crls, p->ca, err, err_len);
  return rc;
}

/* describe fills the summary and the names the admin socket shows. The
 * server certificate's names must be clean like a client's. */
static int describe(struct ed_tls_snapshot *s, const struct ed_tls_params *p,
                    STACK_OF(X509) * certs, STACK_OF(X509) * cas, char *err,
                    size_t err_len) {
  const char *why = NULL, *ca_why = NULL;
  X509 *leaf = sk_X509_value(certs, 0), *ca = sk_X509_value(cas, 0);
  uint8_t *der = NULL;
  int len = i2d_X509(leaf, &der);
  if (len > 0)
    s->server_id = ed_tls_identity_new(leaf, der, (size_t)len, NULL, &why);
  OPENSSL_free(der);
  der = NULL;
  len = i2d_X509(ca, &der);
  /* Only shown: a CA whose names are not clean just shows none. */
  if (len > 0)
    s->ca_id = ed_tls_identity_new(ca, der, (size_t)len, NULL, &ca_why);
  OPENSSL_free(der);
  if (!s->server_id) {
    ed_tls_set_err(err, err_len, "certificate %s: %s", p->cert,
                   why ? why : "cannot be read");
    return ED_E_PARSE;
  }
  cert_info(&s->summary.server, leaf);
  cert_info(&s->summary.ca, ca);
  s->summary.num_ca = sk_X509_num(cas);
  return 0;
}

static int snapshot_load(struct ed_tls_snapshot *s,
                         const struct ed_tls_params *p, char *err,
                         size_t err_len) {
  STACK_OF(X509) *certs = NULL, *cas = NULL;
  EVP_PKEY *key = NULL;
  int rc = load_certs(&certs, "certificate", p->cert, err, err_len);
  if (!rc)
    rc = load_key(&key, p->key, p->allow_group_readable_key, err, err_len);
  if (!rc && !X509_check_private_key(sk_X509_value(certs, 0), key)) {
    ed_tls_set_err(err, err_len, "key %s does not match certificate %s", p->key,
                   p->cert);
    rc = ED_E_MISMATCH;
  }
  ERR_clear_error();
  if (!rc) rc = load_trust(s, p, &cas, err, err_len);
  if (!rc) rc = check_server_chain(s, certs, p->cert, err, err_len);
  if (!rc && !build_ctx(s, p, certs, key)) {
    ed_tls_set_err(err, err_len, "cannot configure TLS with %s and %s", p->cert,
                   p->key);
    rc = ED_E_TLS;
  }
  if (!rc) rc = describe(s, p, certs, cas, err, err_len);
  ERR_clear_error();
  sk_X509_pop_free(certs, X509_free);
  sk_X509_pop_free(cas, X509_free);
  EVP_PKEY_free(key);
  return rc;
}

int ed_tls_snapshot_new(struct ed_tls_snapshot **out,
                        const struct ed_tls_params *p, char *err,
                        size_t err_len) {
  *out = NULL;
  if (!p->cert || !p->key || !p->ca || (!p->keyring && !p->ticket_keys)) {
    ed_tls_set_err(err, err_len, "cert, key and CA are all required");
    return ED_E_INVAL;
  }
  struct ed_tls_snapshot *s = ed_calloc(1, sizeof(*s));
  atomic_init(&s->refs, 1);
  atomic_fetch_add_explicit(&live_snapshots, 1, memory_order_relaxed);
  s->id = atomic_fetch_add(&next_snapshot_id, 1);
  s->vcache = ed_tls_vcache_new();
  s->crl_expired_refuse = p->crl_expired_refuse;
  s->limit_chain_depth = p->limit_chain_depth;
  s->max_chain_depth = p->max_chain_depth;
  copy_list(&s->allow_cn, &s->num_allow_cn, p->allow_cn, p->num_allow_cn);
  s->allow_list_required = p->allow_list_required;
  int rc = copy_allow_sans(s, p, err, err_len);
  if (!rc) rc = copy_pins(s, p, err, err_len);
  if (!rc) sort_allow_lists(s);
  if (!rc) rc = snapshot_load(s, p, err, err_len);
  if (!rc && p->ticket_keys) {
    rc = ed_tls_keyring_load(&s->keyring, p->ticket_keys,
                             p->allow_group_readable_key, err, err_len);
  } else if (!rc) {
    s->keyring = p->keyring;
    ed_tls_keyring_ref(p->keyring);
  }
  if (rc) {
    ed_tls_snapshot_unref(s);
    return rc;
  }
  s->summary.snapshot_id = s->id;
  s->summary.loaded_wall_ns = ed_wall_ns();
  ed_tls_snapshot_warn_crl_expired(s, (int64_t)time(NULL));
  *out = s;
  return 0;
}

void ed_tls_snapshot_ref(struct ed_tls_snapshot *s) {
  atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

static void free_list(char **l, size_t n) {
  for (size_t i = 0; l && i < n; i++) free(l[i]);
  free(l);
}

void ed_tls_snapshot_unref(struct ed_tls_snapshot *s) {
  if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
    return;
  SSL_CTX_free(s->ctx);
  EVP_PKEY_free(s->key);
  X509_STORE_free(s->store);
  ed_tls_free_cas(s);
  free_list(s->allow_cn, s->num_allow_cn);
  for (size_t i = 0; i < s->num_allow_san; i++)
    ed_tls_allow_san_cleanup(&s->allow_san[i]);
  free(s->allow_san);
  free(s->allow_sha256);
  ed_tls_peer_unref(s->server_id);
  ed_tls_peer_unref(s->ca_id);
  ed_tls_keyring_unref(s->keyring);
  ed_tls_vcache_free(s->vcache);
  free(s);
  atomic_fetch_sub_explicit(&live_snapshots, 1, memory_order_relaxed);
}

int ed_tls_snapshot_sole(const struct ed_tls_snapshot *s) {
  return atomic_load_explicit(&s->refs, memory_order_acquire) == 1;
}

long ed_tls_snapshots_live(void) {
  return atomic_load_explicit(&live_snapshots, memory_order_relaxed);
}

SSL_CTX *ed_tls_snapshot_ctx(const struct ed_tls_snapshot *s) {
  return s->ctx;
}

void ed_tls_snapshot_ticket_info(const struct ed_tls_snapshot *s,
                                 struct ed_tls_ticket_info *out) {
  ed_tls_keyring_info(s->keyring, out);
}

void ed_tls_snapshot_summary(const struct ed_tls_snapshot *s,
                             struct ed_tls_summary *out) {
  *out = s->summary;
}

const struct ed_tls_peer *ed_tls_snapshot_server_peer(
    const struct ed_tls_snapshot *s) {
  return s->server_id;
}

const struct ed_tls_peer *ed_tls_snapshot_ca_peer(
    const struct ed_tls_snapshot *s) {
  return s->ca_id;
}

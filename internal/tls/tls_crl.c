/* internal/tls — the bundle's CAs and their CRLs. Each CA is indexed by
 * its id (ed_tls_ca_id); each CRL is attached to the CA of the bundle
 * whose name it carries and whose key signed it. Revocation is then a
 * lookup, for any certificate whose issuer is known by id: the handshake,
 * a ticket and a live session's re-check all use the same lookup
 * (ed_tls_peer_recheck), and none needs the certificates again.
 *
 * Rules (README "Trust", docs/deploy.md): any number of CRLs, several per
 * file; with any CRL, every CA of the bundle must have one; a CRL no CA
 * signed is an error naming its file; of several CRLs of one CA the one
 * with the highest CRL Number is used, without numbers the latest
 * lastUpdate, and on a tie the one read last (file order, then flag
 * order), so appending a fresh CRL always works; numbered and unnumbered
 * CRLs of one CA, and a CRL dated in the future (past ED_TLS_CRL_SKEW_S),
 * are errors; delta, partitioned (issuingDistributionPoint) and indirect
 * CRLs, CRLs without nextUpdate, and unknown critical extensions are
 * refused rather than half-understood. */
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal/tls/tls_internal.h"

#define MAX_CRL_FILE (64u << 20)
/* How far a CRL's lastUpdate may be ahead of this host's clock: clocks
 * kept by NTP differ by far less. A CRL dated further ahead would be
 * preferred by lastUpdate over every CRL issued until that date, so it
 * fails the load instead. */
#define ED_TLS_CRL_SKEW_S 300

/* utc_str writes |t| (Unix seconds) as 2026-01-02T03:04:05Z. */
static void utc_str(char *out, size_t out_len, int64_t t) {
  time_t tt = (time_t)t;
  struct tm tm;
  gmtime_r(&tt, &tm);
  strftime(out, out_len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- the CAs ------------------------------------------------------------- */

static int cmp_ca(const void *a, const void *b) {
  return memcmp(((const struct ed_tls_ca *)a)->id,
                ((const struct ed_tls_ca *)b)->id, ED_TLS_CA_ID_LEN);
}

/* One bundle entry, for sorting: its id, then its place in the bundle. */
struct ca_entry {
  uint8_t id[ED_TLS_CA_ID_LEN];
  size_t at;
};

static int cmp_time(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

static int cmp_entry(const void *a, const void *b) {
  const struct ca_entry *x = a, *y = b;
  int c = memcmp(x->id, y->id, ED_TLS_CA_ID_LEN);
  return c ? c : (x->at > y->at) - (x->at < y->at);
}

/* ---- who issued each certificate of the bundle ----------------------------
 */

static int cmp_subject(const void *a, const void *b) {
  const struct ed_tls_ca *x = *(const struct ed_tls_ca *const *)a;
  const struct ed_tls_ca *y = *(const struct ed_tls_ca *const *)b;
  int c = X509_NAME_cmp(X509_get_subject_name(x->cert),
                        X509_get_subject_name(y->cert));
  return c ? c : (x > y) - (x < y); /* one array: by id */
}

static int named(const struct ed_tls_ca *ca, const X509_NAME *name) {
  return !X509_NAME_cmp(X509_get_subject_name(ca->cert), name);
}

/* first_named: where CAs named |name| begin in s->cas_by_name. */
static size_t first_named(const struct ed_tls_snapshot *s,
                          const X509_NAME *name) {
  size_t lo = 0, hi = s->num_cas;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (X509_NAME_cmp(X509_get_subject_name(s->cas_by_name[mid]->cert), name) <
        0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

size_t ed_tls_cas_named(const struct ed_tls_snapshot *s, const X509_NAME *name,
                        size_t *first) {
  *first = 0;
  if (!s || !s->cas_by_name) return 0;
  size_t end = *first = first_named(s, name);
  while (end < s->num_cas && named(s->cas_by_name[end], name)) end++;
  return end;
}

STACK_OF(X509) *
    ed_tls_certs_named(const struct ed_tls_snapshot *s, const X509_NAME *name) {
  STACK_OF(X509) *sk = sk_X509_new_null();
  size_t first, end = ed_tls_cas_named(s, name, &first);
  for (size_t i = first; sk && i < end; i++) {
    const struct ed_tls_ca *ca = s->cas_by_name[i];
    for (size_t j = 0; j < ca->num_certs; j++) {
      if (!sk_X509_push(sk, ca->certs[j].x)) {
        sk_X509_pop_free(sk, X509_free);
        return NULL;
      }
      X509_up_ref(ca->certs[j].x);
    }
  }
  return sk;
}

/* issued: |ca| issued |x| as the verifier would take it: |x| names it
 * (issuer name, authorityKeyIdentifier, keyUsage: X509_check_issued) and,
 * unless |x| is |ca|'s own self-signed certificate (an anchor, whose
 * signature BoringSSL does not check either), its key verifies |x|. */
static int issued(const struct ed_tls_ca *ca, X509 *x, int own) {
  /* Any of the CA's certificates: |x| may name one of them by serial. */
  size_t k = 0;
  while (k < ca->num_certs && X509_check_issued(ca->certs[k].x, x) != X509_V_OK)
    k++;
  if (k == ca->num_certs) return 0;
  if (own && X509_check_issued(x, x) == X509_V_OK) return 1;
  EVP_PKEY *pk = X509_get_pubkey(ca->cert);
  int ok = pk && X509_verify(x, pk) == 1;
  EVP_PKEY_free(pk);
  ERR_clear_error();
  return ok;
}

/* sort_by_name sorts the CAs by name (s->cas_by_name: a bundle may hold
 * thousands) and refuses more than ED_TLS_MAX_KEYS_PER_NAME under one
 * name: each certificate naming it without a key identifier, each CRL of
 * it and each client certificate claiming it costs a signature check per
 * key (a CA's key rollover needs two or three). */
static int sort_by_name(struct ed_tls_snapshot *s, char *err, size_t err_len) {
  const struct ed_tls_ca **by_name =
      ed_calloc(s->num_cas ? s->num_cas : 1, sizeof(*by_name));
  for (size_t i = 0; i < s->num_cas; i++) by_name[i] = &s->cas[i];
  qsort(by_name, s->num_cas, sizeof(*by_name), cmp_subject);
  s->cas_by_name = by_name;
  for (size_t i = 0, run = 1; i < s->num_cas; i++, run++) {
    if (i && !named(by_name[i], X509_get_subject_name(by_name[i - 1]->cert)))
      run = 1;
    if (run > ED_TLS_MAX_KEYS_PER_NAME) {
      ed_tls_set_err(err, err_len,
                     "more than %d CA certificates named %s with different "
                     "keys (a key rollover needs two or three)",
                     ED_TLS_MAX_KEYS_PER_NAME, by_name[i]->subject);
      return ED_E_PARSE;
    }
  }
  return 0;
}

/* link_issuers sets every bundle certificate's issuer: its own CA when it
 * is self-signed, else the first CA of the bundle that issued it. Copies
 * of one certificate (the same CA, the same bytes) share the answer. */
static void link_issuers(struct ed_tls_snapshot *s) {
  const struct ed_tls_ca **by_name = s->cas_by_name;
  for (size_t i = 0; i < s->num_cas; i++) {
    struct ed_tls_ca *own = &s->cas[i];
    for (size_t j = 0; j < own->num_certs; j++) {
      struct ed_tls_ca_cert *cc = &own->certs[j];
      const struct ed_tls_ca_cert *same = ed_tls_ca_cert_of(own, cc->der);
      if (same != cc) {
        cc->issuer = same->issuer;
        cc->self_signed = same->self_signed;
        continue;
      }
      const X509_NAME *name = X509_get_issuer_name(cc->x);
      if (issued(own, cc->x, 1)) {
        cc->issuer = own;
        cc->self_signed = X509_check_issued(cc->x, cc->x) == X509_V_OK;
        continue;
      }
      size_t k, end = ed_tls_cas_named(s, name, &k);
      for (; k < end && !cc->issuer; k++) {
        if (by_name[k] != own && issued(by_name[k], cc->x, 0))
          cc->issuer = by_name[k];
      }
    }
  }
}

/* ed_tls_index_cas sorts the bundle's entries once (by id, then by their
 * place in the bundle) and folds each run of one id into one CA: the same
 * name and key twice is a re-issued CA, which remembers both certificates,
 * in bundle order; its first one is its cert. (Sorting the index after
 * each entry made a bundle of thousands quadratic.) */
int ed_tls_index_cas(struct ed_tls_snapshot *s, STACK_OF(X509) * cas, char *err,
                     size_t err_len) {
  size_t n = sk_X509_num(cas);
  s->cas = ed_calloc(n ? n : 1, sizeof(*s->cas));
  struct ca_entry *e = ed_calloc(n ? n : 1, sizeof(*e));
  for (size_t i = 0; i < n; i++) {
    e[i].at = i;
    if (!ed_tls_ca_id(e[i].id, sk_X509_value(cas, i))) {
      free(e);
      ed_tls_set_err(err, err_len, "CA certificate #%zu cannot be read", i + 1);
      return ED_E_PARSE;
    }
  }
  qsort(e, n, sizeof(*e), cmp_entry);
  for (size_t i = 0; i < n; i++) {
    X509 *x = sk_X509_value(cas, e[i].at);
    struct ed_tls_ca *ca = &s->cas[s->num_cas - (s->num_cas > 0)];
    if (!s->num_cas || memcmp(ca->id, e[i].id, ED_TLS_CA_ID_LEN)) {
      ca = &s->cas[s->num_cas++];
      memcpy(ca->id, e[i].id, ED_TLS_CA_ID_LEN);
      char subject[256];
      ed_tls_name_str(subject, sizeof(subject), X509_get_subject_name(x));
      X509_up_ref(x);
      ca->cert = x;
      ca->subject = ed_strdup(subject);
    }
    struct ed_tls_ca_cert cc;
    ed_tls_cert_hash(cc.der, x);
    ed_tls_ext_hash(cc.ext, x);
    cc.not_before = ed_tls_asn1_time(X509_get0_notBefore(x));
    cc.not_after = ed_tls_asn1_time(X509_get0_notAfter(x));
    ed_tls_serial_canon(&cc.serial, X509_get0_serialNumber(x));
    X509_up_ref(x);
    cc.x = x;
    cc.issuer = NULL;
    cc.self_signed = 0;
    cc.nth = ca->num_certs;
    ca->certs = ed_realloc(ca->certs, (ca->num_certs + 1) * sizeof(*ca->certs));
    ca->certs[ca->num_certs++] = cc;
  }
  free(e);
  int rc = sort_by_name(s, err, err_len);
  if (rc) return rc;
  link_issuers(s);
  s->ca_starts = ed_calloc(n ? n : 1, sizeof(*s->ca_starts));
  for (size_t i = 0; i < s->num_cas; i++)
    for (size_t j = 0; j < s->cas[i].num_certs; j++)
      s->ca_starts[s->num_ca_starts++] = s->cas[i].certs[j].not_before;
  qsort(s->ca_starts, s->num_ca_starts, sizeof(*s->ca_starts), cmp_time);
  return 0;
}

int64_t ed_tls_next_ca_start(const struct ed_tls_snapshot *s, int64_t now) {
  size_t lo = 0, hi = s->num_ca_starts; /* the first start > now */
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (s->ca_starts[mid] <= now)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < s->num_ca_starts ? s->ca_starts[lo] : INT64_MAX;
}

const struct ed_tls_ca_cert *ed_tls_ca_cert_of(const struct ed_tls_ca *ca,
                                               const uint8_t der[32]) {
  for (size_t i = 0; ca && i < ca->num_certs; i++)
    if (!memcmp(ca->certs[i].der, der, 32)) return &ca->certs[i];
  return NULL;
}

int ed_tls_ca_cert_revoked(const struct ed_tls_ca_cert *cc) {
  return cc->issuer && !cc->self_signed &&
         ed_tls_ca_revokes(cc->issuer, &cc->serial);
}

int ed_tls_cert_tier(const struct ed_tls_ca_cert *cc, int64_t now) {
  if (!ed_tls_valid_at(cc->not_before, cc->not_after, now)) return 0;
  return ed_tls_ca_cert_revoked(cc) ? 1 : 2;
}

const struct ed_tls_ca_cert *ed_tls_ca_pick(const struct ed_tls_ca *ca,
                                            const struct ed_tls_serial *serial,
                                            int64_t now) {
  const struct ed_tls_ca_cert *best = NULL;
  int best_tier = -1;
  for (size_t i = 0; ca && i < ca->num_certs; i++) {
    const struct ed_tls_ca_cert *cc = &ca->certs[i];
    if (serial && ed_tls_serial_cmp(serial, &cc->serial)) continue;
    int tier = ed_tls_cert_tier(cc, now);
    if (tier > best_tier ||
        (tier == best_tier && cc->not_after > best->not_after)) {
      best = cc;
      best_tier = tier;
    }
  }
  return best;
}

const struct ed_tls_ca *ed_tls_find_ca(const struct ed_tls_snapshot *s,
                                       const uint8_t id[ED_TLS_CA_ID_LEN]) {
  struct ed_tls_ca key;
  memcpy(key.id, id, ED_TLS_CA_ID_LEN);
  if (!s->num_cas) return NULL;
  return bsearch(&key, s->cas, s->num_cas, sizeof(*s->cas), cmp_ca);
}

static void free_revoked(struct ed_tls_ca *ca) {
  free(ca->revoked_bytes);
  free(ca->revoked);
  ca->revoked_bytes = NULL;
  ca->revoked = NULL;
  ca->num_revoked = 0;
}

void ed_tls_free_cas(struct ed_tls_snapshot *s) {
  for (size_t i = 0; i < s->num_cas; i++) {
    X509_free(s->cas[i].cert);
    for (size_t j = 0; j < s->cas[i].num_certs; j++) {
      free(s->cas[i].certs[j].serial.bytes);
      X509_free(s->cas[i].certs[j].x);
    }
    free(s->cas[i].certs);
    free(s->cas[i].subject);
    free(s->cas[i].crl_file);
    free(s->cas[i].crl_number.bytes);
    free_revoked(&s->cas[i]);
  }
  free(s->cas_by_name);
  s->cas_by_name = NULL;
  free(s->cas);
  s->cas = NULL;
  s->num_cas = 0;
  free(s->ca_starts);
  s->ca_starts = NULL;
  s->num_ca_starts = 0;
}

static int cmp_serial(const void *a, const void *b) {
  return ed_tls_serial_cmp(a, b);
}

int ed_tls_ca_revokes(const struct ed_tls_ca *ca,
                      const struct ed_tls_serial *serial) {
  return ca->num_revoked && bsearch(serial, ca->revoked, ca->num_revoked,
                                    sizeof(*ca->revoked), cmp_serial) != NULL;
}

/* ---- one CRL ---------------------------------------------------------------
 */

/* unsupported says why echod will not use |crl|, or NULL. */
static const char *unsupported(const X509_CRL *crl) {
  if (!X509_CRL_get0_nextUpdate(crl)) return "has no nextUpdate";
  if (X509_CRL_get_ext_by_NID(crl, NID_delta_crl, -1) >= 0)
    return "is a delta CRL (not supported)";
  if (X509_CRL_get_ext_by_NID(crl, NID_issuing_distribution_point, -1) >= 0)
    return "is partitioned (issuingDistributionPoint; not supported)";
  if (X509_CRL_get_ext_by_critical(crl, 1, -1) >= 0)
    return "has an unknown critical extension";
  STACK_OF(X509_REVOKED) *rev = X509_CRL_get_REVOKED((X509_CRL *)crl);
  for (size_t i = 0; i < sk_X509_REVOKED_num(rev); i++) {
    if (X509_REVOKED_get_ext_by_critical(sk_X509_REVOKED_value(rev, i), 1,
                                         -1) >= 0)
      return "has an entry with a critical extension (indirect CRL; not "
             "supported)";
  }
  return NULL;
}

/* signer returns the CA of |s| that issued |crl|: same name (found by
 * name: at most ED_TLS_MAX_KEYS_PER_NAME of them), and its key verifies
 * the CRL's signature. */
static struct ed_tls_ca *signer(struct ed_tls_snapshot *s, X509_CRL *crl) {
  size_t i, end = ed_tls_cas_named(s, X509_CRL_get_issuer(crl), &i);
  for (; i < end; i++) {
    EVP_PKEY *pk = X509_get_pubkey(s->cas_by_name[i]->cert);
    int ok = pk && X509_CRL_verify(crl, pk) == 1;
    EVP_PKEY_free(pk);
    ERR_clear_error();
    if (ok) return (struct ed_tls_ca *)s->cas_by_name[i];
  }
  return NULL;
}

/* A CRL being attached: where it is and what orders it. */
struct crl_in {
  X509_CRL *crl;
  const char *file;
  size_t nth;
  int numbered;
  struct ed_tls_serial number; /* owned; when |numbered| */
  int64_t last_update;
};

static void set_crl(struct ed_tls_ca *ca, struct crl_in *in) {
  free_revoked(ca);
  free(ca->crl_file);
  free(ca->crl_number.bytes);
  STACK_OF(X509_REVOKED) *rev = X509_CRL_get_REVOKED(in->crl);
  size_t n = sk_X509_REVOKED_num(rev);
  /* Two allocations, however long the CRL: a CRL of 600,000 entries is
   * then ~14 MB with 7-byte serials (not ~29 with one allocation per
   * serial; 17 bytes an entry plus its serial), and freeing it
   * with its snapshot - on whichever thread drops the last reference,
   * an I/O loop's too - is two calls, not 600,000. */
  size_t total = 0;
  for (size_t i = 0; i < n; i++)
    total += ed_tls_serial_canon_len(
        X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(rev, i)));
  ca->revoked = ed_calloc(n ? n : 1, sizeof(*ca->revoked));
  ca->revoked_bytes = ed_malloc(total ? total : 1);
  for (size_t i = 0, at = 0; i < n; i++) {
    ed_tls_serial_canon_at(
        &ca->revoked[i],
        X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(rev, i)),
        ca->revoked_bytes + at);
    at += ca->revoked[i].len;
  }
  ca->num_revoked = n;
  qsort(ca->revoked, n, sizeof(*ca->revoked), cmp_serial);
  ca->has_crl = 1;
  ca->crl_file = ed_strdup(in->file);
  ca->crl_nth = in->nth;
  ca->crl_numbered = in->numbered;
  ca->crl_number = in->number; /* ownership moves */
  in->number = (struct ed_tls_serial){NULL, 0};
  ca->crl_last_update = in->last_update;
  ca->crl_next_update = ed_tls_asn1_time(X509_CRL_get0_nextUpdate(in->crl));
}

/* read_number sets |in|'s CRL Number. Returns 0, or -1 when the extension
 * is there but does not decode (or is there twice). */
static int read_number(struct crl_in *in) {
  int crit = 0;
  ASN1_INTEGER *n = X509_CRL_get_ext_d2i(in->crl, NID_crl_number, &crit, NULL);
  ERR_clear_error();
  if (!n) return crit == -1 ? 0 : -1;
  if (ASN1_STRING_type(n) == V_ASN1_NEG_INTEGER) { /* RFC 5280: >= 0 */
    ASN1_INTEGER_free(n);
    return -1;
  }
  ed_tls_serial_canon(&in->number, n);
  in->numbered = 1;
  ASN1_INTEGER_free(n);
  return 0;
}

/* crl_order compares two CRLs of one CA by the rule that says which is
 * newer: the higher CRL Number when both have one; with equal numbers or
 * not both numbered, the later lastUpdate. < 0, 0 or > 0. Used to pick a
 * CA's CRL (replaces) and to refuse going back at a reload (older). */
static int crl_order(int a_numbered, const struct ed_tls_serial *a_number,
                     int64_t a_last_update, int b_numbered,
                     const struct ed_tls_serial *b_number,
                     int64_t b_last_update) {
  if (a_numbered && b_numbered) {
    int c = ed_tls_serial_cmp(a_number, b_number);
    if (c != 0) return c;
  }
  return (a_last_update > b_last_update) - (a_last_update < b_last_update);
}

/* replaces says whether |in| is newer than the CRL |ca| holds (crl_order;
 * check_order already refused one numbered and one not); on a tie, |in|,
 * which was read later. */
static int replaces(const struct ed_tls_ca *ca, const struct crl_in *in) {
  if (!ca->has_crl) return 1;
  return crl_order(in->numbered, &in->number, in->last_update, ca->crl_numbered,
                   &ca->crl_number, ca->crl_last_update) >= 0;
}

/* check_order refuses what would make "the newest CRL" a guess: a CRL
 * dated in the future, a CRL Number that does not decode, and one CA's
 * CRLs with and without numbers. */
static int check_order(const struct ed_tls_ca *ca, const struct crl_in *in,
                       const char *issuer, int64_t now, char *err,
                       size_t err_len) {
  if (in->last_update > now + ED_TLS_CRL_SKEW_S) {
    char when[32], clock[32];
    utc_str(when, sizeof(when), in->last_update);
    utc_str(clock, sizeof(clock), now);
    ed_tls_set_err(err, err_len,
                   "CRL #%zu in %s (issuer %s) has lastUpdate %s, in the "
                   "future (this host's clock: %s): it would outrank every "
                   "CRL issued before that date; fix the CA's clock or this "
                   "host's, and re-sign it",
                   in->nth, in->file, issuer, when, clock);
    return ED_E_INVAL;
  }
  if (ca->has_crl && ca->crl_numbered != in->numbered) {
    ed_tls_set_err(err, err_len,
                   "CRL #%zu in %s and CRL #%zu in %s (issuer %s): one has a "
                   "CRL Number, the other none, so which is newer is "
                   "unknown; give only the current CRL of this CA",
                   ca->crl_nth, ca->crl_file, in->nth, in->file, issuer);
    return ED_E_INVAL;
  }
  return 0;
}

static int attach_crl(struct ed_tls_snapshot *s, struct crl_in *in,
                      const char *ca_file, int64_t now, char *err,
                      size_t err_len) {
  char issuer[256];
  ed_tls_name_str(issuer, sizeof(issuer), X509_CRL_get_issuer(in->crl));
  const char *why = unsupported(in->crl);
  if (!why && read_number(in) != 0)
    why = "has a CRL Number that cannot be read (or is negative)";
  if (why) {
    ed_tls_set_err(err, err_len, "CRL #%zu in %s (issuer %s) %s", in->nth,
                   in->file, issuer, why);
    return ED_E_PARSE;
  }
  struct ed_tls_ca *ca = signer(s, in->crl);
  if (!ca) {
    ed_tls_set_err(err, err_len,
                   "CRL #%zu in %s (issuer %s) is not signed by any CA of %s",
                   in->nth, in->file, issuer, ca_file);
    return ED_E_VERIFY;
  }
  in->last_update = ed_tls_asn1_time(X509_CRL_get0_lastUpdate(in->crl));
  int rc = check_order(ca, in, issuer, now, err, err_len);
  if (!rc && replaces(ca, in)) set_crl(ca, in);
  return rc;
}

/* The CRLs read so far (SHA-256 of each DER): a copy of one is skipped
 * before its signature is checked again (the same CRL twice decides as
 * once; a file of one CRL repeated up to MAX_CRL_FILE was a minute of
 * signature checks and of rebuilding its revoked list). */
struct crls_seen {
  uint8_t (*md)[32];
  size_t n, cap;
};

static int seen_before(struct crls_seen *seen, X509_CRL *crl) {
  uint8_t md[32];
  unsigned md_len = 0;
  if (!X509_CRL_digest(crl, EVP_sha256(), md, &md_len) || md_len != 32) {
    ERR_clear_error();
    return 0; /* checked as usual */
  }
  for (size_t i = 0; i < seen->n; i++)
    if (!memcmp(seen->md[i], md, 32)) return 1;
  if (seen->n == seen->cap) {
    seen->cap = seen->cap ? 2 * seen->cap : 16;
    seen->md = ed_realloc(seen->md, seen->cap * sizeof(*seen->md));
  }
  memcpy(seen->md[seen->n++], md, 32);
  return 0;
}

/* load_file attaches every CRL of |file|. */
static int load_file(struct ed_tls_snapshot *s, const char *file,
                     const char *ca_file, int64_t now, struct crls_seen *seen,
                     char *err, size_t err_len) {
  uint8_t *data = NULL;
  size_t len = 0, nth = 0;
  int rc = ed_read_file(&data, &len, file, MAX_CRL_FILE);
  if (rc) {
    ed_tls_set_err(err, err_len, "cannot read CRL file %s: %s", file,
                   ed_strerror(rc));
    return rc;
  }
  BIO *bio = BIO_new_mem_buf(data, (int)len);
  X509_CRL *crl;
  ERR_clear_error();
  while (!rc && (crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL))) {
    struct crl_in in = {.crl = crl, .file = file, .nth = ++nth};
    if (!seen_before(seen, crl))
      rc = attach_crl(s, &in, ca_file, now, err, err_len);
    free(in.number.bytes);
    X509_CRL_free(crl);
  }
  uint32_t e = ERR_peek_last_error();
  int clean_end = !e || (ERR_GET_LIB(e) == ERR_LIB_PEM &&
                         ERR_GET_REASON(e) == PEM_R_NO_START_LINE);
  ERR_clear_error();
  BIO_free(bio);
  free(data);
  if (!rc && !clean_end) {
    ed_tls_set_err(err, err_len, "CRL file %s: CRL #%zu does not parse", file,
                   nth + 1);
    rc = ED_E_PARSE;
  } else if (!rc && nth == 0) {
    ed_tls_set_err(err, err_len, "CRL file %s holds no PEM CRL", file);
    rc = ED_E_PARSE;
  }
  return rc;
}

static void summarize(struct ed_tls_snapshot *s) {
  struct ed_tls_summary *sum = &s->summary;
  sum->has_crl = 1;
  for (size_t i = 0; i < s->num_cas; i++) {
    const struct ed_tls_ca *ca = &s->cas[i];
    sum->num_crl++;
    sum->crl_entries += ca->num_revoked;
    if (sum->num_crl == 1 || ca->crl_next_update < sum->crl_next_update) {
      sum->crl_next_update = ca->crl_next_update;
      sum->crl_last_update = ca->crl_last_update;
    }
  }
}

int ed_tls_load_crls(struct ed_tls_snapshot *s, const char *const *files,
                     size_t num_files, const char *ca_file, char *err,
                     size_t err_len) {
  if (num_files == 0) return 0;
  int64_t now = (int64_t)time(NULL);
  struct crls_seen seen = {0};
  for (size_t i = 0; i < num_files; i++) {
    int rc = load_file(s, files[i], ca_file, now, &seen, err, err_len);
    if (rc) {
      free(seen.md);
      return rc;
    }
  }
  free(seen.md);
  for (size_t i = 0; i < s->num_cas; i++) {
    if (s->cas[i].has_crl) continue;
    ed_tls_set_err(err, err_len,
                   "CA %s in %s has no CRL: with --crl, give the CRL of "
                   "every CA of the bundle",
                   s->cas[i].subject, ca_file);
    return ED_E_NOTFOUND;
  }
  s->has_crl = 1;
  summarize(s);
  return 0;
}

/* ---- going back at a reload ---------------------------------------------- */

/* number_str writes a CRL Number (canonical, >= 0): decimal up to 64
 * bits, else 0x and hex. */
static void number_str(char *out, size_t out_len,
                       const struct ed_tls_serial *n) {
  size_t len = n->len - 1;
  if (len <= 8) {
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) v = v << 8 | n->bytes[1 + i];
    snprintf(out, out_len, "%llu", (unsigned long long)v);
    return;
  }
  size_t o = (size_t)snprintf(out, out_len, "0x");
  for (size_t i = 0; i < len && o + 3 <= out_len; i++, o += 2)
    snprintf(out + o, out_len - o, "%02X", n->bytes[1 + i]);
}

/* older says why |next|'s CRL of a CA is older than |cur|'s (crl_order),
 * or NULL. */
static const char *older(const struct ed_tls_ca *cur,
                         const struct ed_tls_ca *next) {
  if (crl_order(next->crl_numbered, &next->crl_number, next->crl_last_update,
                cur->crl_numbered, &cur->crl_number, cur->crl_last_update) >= 0)
    return NULL;
  int by_number = next->crl_numbered && cur->crl_numbered &&
                  ed_tls_serial_cmp(&next->crl_number, &cur->crl_number) != 0;
  return by_number ? "a lower CRL Number" : "an earlier lastUpdate";
}

int ed_tls_snapshot_crl_rollback(const struct ed_tls_snapshot *cur,
                                 const struct ed_tls_snapshot *next, char *err,
                                 size_t err_len) {
  for (size_t i = 0; cur && next->has_crl && i < next->num_cas; i++) {
    const struct ed_tls_ca *n = &next->cas[i];
    const struct ed_tls_ca *c = ed_tls_find_ca(cur, n->id);
    const char *why = c && c->has_crl ? older(c, n) : NULL;
    if (!why) continue;
    char cn[80] = "none", nn[80] = "none", cw[32], nw[32];
    if (c->crl_numbered) number_str(cn, sizeof(cn), &c->crl_number);
    if (n->crl_numbered) number_str(nn, sizeof(nn), &n->crl_number);
    utc_str(cw, sizeof(cw), c->crl_last_update);
    utc_str(nw, sizeof(nw), n->crl_last_update);
    ed_tls_set_err(err, err_len,
                   "CRL #%zu in %s (issuer %s; CRL Number %s, lastUpdate %s) "
                   "is older than the one in use (CRL Number %s, lastUpdate "
                   "%s): it has %s, and would un-revoke what the newer one "
                   "revoked; give the CA's current CRL (a restart takes any)",
                   n->crl_nth, n->crl_file, n->subject, nn, nw, cn, cw, why);
    return ED_E_INVAL;
  }
  return 0;
}

/* ---- expiry -------------------------------------------------------------- */

/* Writes, per expired CRL at each snapshot build and each
 * --crl-warn-interval tick (crl_expired= is the --crl-expired policy):
 *   level=warn msg="CRL past its next update" file=/etc/echod/ca.crl
 *       issuer="CN=echod client CA,O=Example" next_update=2026-11-30T00:00:00Z
 *       crl_expired=warn */
size_t ed_tls_snapshot_warn_crl_expired(const struct ed_tls_snapshot *s,
                                        int64_t now) {
  size_t n = 0;
  for (size_t i = 0; s->has_crl && i < s->num_cas; i++) {
    const struct ed_tls_ca *ca = &s->cas[i];
    if (ca->crl_next_update > now) continue;
    char file[600], issuer[600], when[32];
    utc_str(when, sizeof(when), ca->crl_next_update);
    ED_WARN("CRL past its next update",
            "file=%s issuer=%s next_update=%s crl_expired=%s",
            ed_logq(file, sizeof(file), ca->crl_file),
            ed_logq(issuer, sizeof(issuer), ca->subject), when,
            s->crl_expired_refuse ? "refuse" : "warn");
    n++;
  }
  return n;
}

/* internal/tls — verifying a client certificate during the handshake (on
 * the handshake pool), and the re-check every later decision about that
 * identity shares. BoringSSL builds and verifies the chain to a CA of the
 * bundle (signatures, validity, the clientAuth purpose); then the leaf's
 * names become an identity (tls_identity.c) and ed_tls_peer_recheck
 * decides the rest - revocation of every certificate below the root,
 * depth, allow-list - exactly as it will for a ticket or a live session.
 * Each refusal gets a reason (tls_types.h) and a TLS alert (alert_for). */
#include <openssl/err.h>
#include <openssl/pool.h>
#include <openssl/x509v3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal/tls/tls_internal.h"

/* ed_tls_alert_for: the alert each refusal sends.
 * - bad_identity: bad_certificate. The certificate verified, but as an
 *   identity it is malformed (control bytes, two CNs) or the wrong kind (a
 *   CA); "corrupt certificate" is what bad_certificate means, and it does
 *   not tell a prober which rule it hit.
 * - crl_expired: certificate_unknown ("some other issue ... rendering it
 *   unacceptable"). The client's certificate is fine; our CRL is stale.
 *   certificate_expired (BoringSSL's choice for X509_V_ERR_CRL_HAS_EXPIRED)
 *   would tell the client something false.
 * - chain_too_long: unknown_ca, as BoringSSL and OpenSSL answer
 *   X509_V_ERR_CERT_CHAIN_TOO_LONG: that intermediate is not an issuer we
 *   accept at that depth. */
uint8_t ed_tls_alert_for(enum ed_hs_reason r) {
  switch (r) {
    case ED_HS_NO_CLIENT_CERT:
      return SSL_AD_CERTIFICATE_REQUIRED;
    case ED_HS_UNKNOWN_CA:
    case ED_HS_CHAIN_TOO_LONG:
      return SSL_AD_UNKNOWN_CA;
    case ED_HS_CERT_EXPIRED:
      return SSL_AD_CERTIFICATE_EXPIRED;
    case ED_HS_CERT_REVOKED:
      return SSL_AD_CERTIFICATE_REVOKED;
    case ED_HS_BAD_EKU:
      return SSL_AD_UNSUPPORTED_CERTIFICATE;
    case ED_HS_ACL_DENIED:
      return SSL_AD_ACCESS_DENIED;
    case ED_HS_CRL_EXPIRED:
      return SSL_AD_CERTIFICATE_UNKNOWN;
    default: /* not_yet_valid, bad_identity, protocol, other */
      return SSL_AD_BAD_CERTIFICATE;
  }
}

static enum ssl_verify_result_t refuse(struct ed_tls_conn *c, uint8_t *alert,
                                       enum ed_hs_reason reason,
                                       const char *detail) {
  c->reason = reason;
  c->have_reason = 1;
  c->detail = detail;
  *alert = ed_tls_alert_for(reason);
  return ssl_verify_invalid;
}

static enum ssl_verify_result_t map_verify_error(struct ed_tls_conn *c,
                                                 uint8_t *alert, int e) {
  switch (e) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return refuse(c, alert, ED_HS_CERT_EXPIRED, "certificate expired");
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return refuse(c, alert, ED_HS_CERT_NOT_YET_VALID,
                    "certificate not yet valid");
    case X509_V_ERR_INVALID_PURPOSE:
      return refuse(c, alert, ED_HS_BAD_EKU,
                    "certificate not for client authentication");
    case X509_V_ERR_CERT_CHAIN_TOO_LONG:
      return refuse(c, alert, ED_HS_CHAIN_TOO_LONG, "chain too long");
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
    case X509_V_ERR_CERT_UNTRUSTED:
      return refuse(c, alert, ED_HS_UNKNOWN_CA,
                    "certificate not issued by the configured CA");
    /* A chain through a certificate that may not issue: it does not lead
     * to a CA we trust (BoringSSL's alert for the first two as well). */
    case X509_V_ERR_INVALID_CA:
      return refuse(c, alert, ED_HS_UNKNOWN_CA,
                    "a certificate of the chain that signed another is not "
                    "a CA (basicConstraints CA:TRUE and keyCertSign "
                    "required)");
    case X509_V_ERR_PATH_LENGTH_EXCEEDED:
      return refuse(c, alert, ED_HS_UNKNOWN_CA,
                    "an intermediate of the chain is below more CAs than a "
                    "pathLenConstraint above it allows");
    case X509_V_ERR_INVALID_NON_CA:
      return refuse(c, alert, ED_HS_UNKNOWN_CA,
                    "a certificate of the chain that is not a CA is used as "
                    "one");
    /* Names a CA of the chain may not vouch for: no CA we trust signed
     * them, as above. */
    case X509_V_ERR_PERMITTED_VIOLATION:
      return refuse(c, alert, ED_HS_UNKNOWN_CA,
                    "a name of the certificate is outside what a CA of the "
                    "chain may sign (its permitted name constraints)");
    case X509_V_ERR_EXCLUDED_VIOLATION:
      return refuse(c, alert, ED_HS_UNKNOWN_CA,
                    "a name of the certificate is one a CA of the chain may "
                    "not sign (its excluded name constraints)");
    case X509_V_ERR_NAME_CONSTRAINTS_WITHOUT_SANS:
      return refuse(c, alert, ED_HS_UNKNOWN_CA,
                    "a CA of the chain has name constraints, and the "
                    "certificate names itself by a CN that looks like a DNS "
                    "name instead of a SAN");
    case X509_V_ERR_SUBTREE_MINMAX:
    case X509_V_ERR_UNSUPPORTED_CONSTRAINT_TYPE:
    case X509_V_ERR_UNSUPPORTED_CONSTRAINT_SYNTAX:
    case X509_V_ERR_UNSUPPORTED_NAME_SYNTAX:
      return refuse(c, alert, ED_HS_UNKNOWN_CA,
                    "a CA of the chain has name constraints the certificate's "
                    "names cannot be checked against");
    default:
      return refuse(c, alert, ED_HS_OTHER, X509_verify_cert_error_string(e));
  }
}

/* check_issuers checks that every certificate of the verified |chain|
 * that signed another (each above the leaf, the trust anchor included) may
 * issue: basicConstraints CA:TRUE (keyCertSign when it has keyUsage), and
 * no pathLenConstraint exceeded below it; and that an intermediate has no
 * critical extension BoringSSL does not know and, with an EKU, clientAuth.
 * BoringSSL checks these on the certificates the
 * client sent only, and takes an issuer from the bundle before the
 * client's copy (X509_V_FLAG_TRUSTED_FIRST): so an intermediate of --ca -
 * where --crl wants every one - was never checked, nor a self-signed
 * client certificate in --ca signing others. The trust anchor's EKU is
 * left alone, as BoringSSL does. Returns X509_V_OK or the X509 error
 * BoringSSL gives for a certificate the client sent. */
static int check_issuers(STACK_OF(X509) * chain) {
  size_t n = sk_X509_num(chain);
  /* Intermediates below |i| that are not self-issued: a
   * pathLenConstraint counts those only, never the leaf (RFC 5280 6.1.4
   * (l)), self-issued or not, and every CA's binds, the trust anchor's
   * and a self-issued CA certificate's too ((m); OpenSSL 1.1 and Go do
   * the same). BoringSSL counts the leaf when it is not self-issued and
   * allows one more, and skips self-issued CAs: so a self-issued leaf
   * (its subject its issuer's name, which the issuing CA chooses) got
   * one intermediate more past a path length, and a root's or a key
   * rollover certificate's pathlen bound nothing. */
  long below = 0;
  for (size_t i = 0; i < n; i++) {
    X509 *x = sk_X509_value(chain, i);
    uint32_t flags = X509_get_extension_flags(x);
    int inter = i > 0 && i + 1 < n;
    if (i > 0 && !X509_check_ca(x)) return X509_V_ERR_INVALID_CA;
    if (inter && (flags & EXFLAG_CRITICAL))
      return X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION;
    if (inter && X509_check_purpose(x, X509_PURPOSE_SSL_CLIENT, 1) != 1)
      return X509_V_ERR_INVALID_PURPOSE;
    long max = X509_get_pathlen(x);
    if (i > 1 && max >= 0 && below > max)
      return X509_V_ERR_PATH_LENGTH_EXCEEDED;
    if (i > 0 && !(flags & EXFLAG_SI)) below++;
  }
  return X509_V_OK;
}

/* verify_chain runs X509_verify_cert on |leaf| and the client's other
 * certificates, then check_issuers; returns the X509 error, and on success
 * the verified chain (leaf to trust anchor) in |*out_chain|. No CRL here:
 * revocation is ed_tls_peer_recheck's, with the snapshot's own index. */
static int verify_chain(struct ed_tls_snapshot *s, X509 *leaf,
                        STACK_OF(X509) * chain, STACK_OF(X509) * *out_chain) {
  X509_STORE_CTX *xs = ed_tls_verify_ctx(s, leaf, chain);
  int e = X509_V_ERR_OUT_OF_MEM;
  if (xs && X509_STORE_CTX_set_purpose(xs, X509_PURPOSE_SSL_CLIENT)) {
    e = X509_verify_cert(xs) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(xs);
    if (e == X509_V_OK) *out_chain = X509_STORE_CTX_get1_chain(xs);
  }
  if (e == X509_V_OK) e = check_issuers(*out_chain);
  if (e != X509_V_OK) {
    sk_X509_pop_free(*out_chain, X509_free);
    *out_chain = NULL;
  }
  X509_STORE_CTX_free(xs);
  ERR_clear_error();
  return e;
}

static int has_client_eku(X509 *leaf) {
  return (X509_get_extension_flags(leaf) & EXFLAG_XKUSAGE) &&
         (X509_get_extended_key_usage(leaf) & XKU_SSL_CLIENT);
}

/* mark_sent_issuers flags the links whose issuing certificate the chain
 * went through (|verified|, leaf first) was the client's, not one of the
 * bundle's (ED_TLS_LINK_SENT), and sets the identity's own window: the
 * leaf's, those issuers', and those of the bundle's issuers that a
 * certificate below names by serial (no renewal can stand in for them). */
static void mark_sent_issuers(const struct ed_tls_snapshot *s,
                              struct ed_tls_peer *p,
                              STACK_OF(X509) * verified) {
  size_t n = sk_X509_num(verified);
  if (!n) return; /* own window: the whole chain's, as set */
  int64_t nb = INT64_MIN, na = INT64_MAX;
  ed_tls_window_narrow(&nb, &na, sk_X509_value(verified, 0));
  for (size_t i = 0; i < p->num_links; i++) {
    uint8_t der[32];
    const struct ed_tls_ca *ca = ed_tls_find_ca(s, p->links[i].issuer);
    X509 *subject = sk_X509_value(verified, i);
    X509 *issuer = sk_X509_value(verified, n > 1 ? i + 1 : i);
    if (!ca || !issuer || !ed_tls_cert_hash(der, issuer) ||
        !ed_tls_ca_cert_of(ca, der)) {
      p->links[i].flags |= ED_TLS_LINK_SENT;
      if (issuer) ed_tls_window_narrow(&nb, &na, issuer);
    } else if (!subject || (p->links[i].flags & ED_TLS_LINK_PINNED)) {
      ed_tls_window_narrow(&nb, &na, issuer);
    }
  }
  p->own_not_before = nb;
  p->own_not_after = na;
}

/* identify checks what the verified leaf may be as a client and parses
 * its identity into c->peer. */
static enum ssl_verify_result_t identify(struct ed_tls_conn *c, uint8_t *alert,
                                         X509 *leaf, const CRYPTO_BUFFER *der,
                                         STACK_OF(X509) * verified) {
  if (!has_client_eku(leaf))
    return refuse(c, alert, ED_HS_BAD_EKU,
                  "certificate lacks the clientAuth EKU");
  if (X509_get_extension_flags(leaf) & EXFLAG_CA)
    return refuse(c, alert, ED_HS_BAD_IDENTITY,
                  "the client certificate is a CA (basicConstraints CA:TRUE)");
  const char *why = NULL;
  struct ed_tls_peer *p = ed_tls_identity_new(
      leaf, CRYPTO_BUFFER_data(der), CRYPTO_BUFFER_len(der), verified, &why);
  if (!p) return refuse(c, alert, ED_HS_BAD_IDENTITY, why);
  mark_sent_issuers(c->trust, p, verified);
  ed_tls_peer_unref(c->peer);
  c->peer = p;
  return ssl_verify_ok;
}

/* verify_full parses and verifies the client's chain and, when it passes,
 * sets c->peer. */
static enum ssl_verify_result_t verify_full(struct ed_tls_conn *c,
                                            uint8_t *alert,
                                            const STACK_OF(CRYPTO_BUFFER) *
                                                bufs) {
  X509 *leaf = X509_parse_from_buffer(sk_CRYPTO_BUFFER_value(bufs, 0));
  STACK_OF(X509) *chain = sk_X509_new_null(), *verified = NULL;
  int parsed = leaf != NULL && chain != NULL;
  for (size_t i = 1; parsed && i < sk_CRYPTO_BUFFER_num(bufs); i++) {
    X509 *x = X509_parse_from_buffer(sk_CRYPTO_BUFFER_value(bufs, i));
    parsed = x && sk_X509_push(chain, x);
    if (!parsed) X509_free(x);
  }
  enum ssl_verify_result_t r;
  if (!parsed) {
    r = refuse(c, alert, ED_HS_PROTOCOL, "unparseable client certificate");
  } else {
    int e = verify_chain(c->trust, leaf, chain, &verified);
    r = e == X509_V_OK ? identify(c, alert, leaf,
                                  sk_CRYPTO_BUFFER_value(bufs, 0), verified)
                       : map_verify_error(c, alert, e);
  }
  X509_free(leaf);
  sk_X509_pop_free(chain, X509_free);
  sk_X509_pop_free(verified, X509_free);
  ERR_clear_error();
  return r;
}

/* verify_presented decides on the chain |bufs| the client presented. */
static enum ssl_verify_result_t verify_presented(struct ed_tls_conn *c,
                                                 uint8_t *out_alert,
                                                 const STACK_OF(CRYPTO_BUFFER) *
                                                     bufs) {
  /* The same chain verified before under this snapshot (and is within
   * its validity): skip to the re-check. The CertificateVerify signature
   * is BoringSSL's, every time. */
  uint8_t key[32];
  int64_t now = (int64_t)time(NULL);
  ed_tls_vcache_key(key, bufs);
  struct ed_tls_peer *cached = ed_tls_vcache_get(c->trust->vcache, key, now);
  if (cached) {
    ed_tls_peer_unref(c->peer);
    c->peer = cached;
  } else {
    enum ssl_verify_result_t r = verify_full(c, out_alert, bufs);
    if (r != ssl_verify_ok) return r;
    ed_tls_vcache_put(c->trust->vcache, key, c->peer,
                      ed_tls_next_ca_start(c->trust, now));
  }
  enum ed_hs_reason reason;
  const char *detail;
  if (ed_tls_peer_recheck(c->trust, c->peer, now, &reason, &detail) != 0)
    return refuse(c, out_alert, reason, detail);
  return ssl_verify_ok;
}

enum ssl_verify_result_t ed_tls_verify_client(SSL *ssl, uint8_t *out_alert) {
  struct ed_tls_conn *c = SSL_get_app_data(ssl);
  if (ed_tls_refuse_on_io_thread(c, "client_certificate")) {
    *out_alert = SSL_AD_INTERNAL_ERROR;
    return ssl_verify_invalid;
  }
  return ed_tls_verify_certs(c, out_alert, SSL_get0_peer_certificates(ssl));
}

enum ssl_verify_result_t ed_tls_verify_certs(struct ed_tls_conn *c,
                                             uint8_t *out_alert,
                                             const STACK_OF(CRYPTO_BUFFER) *
                                                 bufs) {
  if (!c || !c->snap || !bufs || sk_CRYPTO_BUFFER_num(bufs) == 0)
    return refuse(c, out_alert, ED_HS_NO_CLIENT_CERT, "no client certificate");
  enum ssl_verify_result_t r = verify_presented(c, out_alert, bufs);
  /* Refused: keep who it was for the log line (refusals only, so an
   * accepted handshake pays nothing for it). */
  if (r != ssl_verify_ok)
    ed_tls_note_presented(c, sk_CRYPTO_BUFFER_value(bufs, 0));
  return r;
}

int ed_tls_conn_refuse(struct ed_tls_conn *c, struct ed_tls_io *io,
                       enum ed_hs_reason reason, const char *detail) {
  c->reason = reason;
  c->have_reason = 1;
  c->detail = detail;
  c->io = io;
  SSL_send_fatal_alert(c->ssl, ed_tls_alert_for(reason));
  c->io = NULL;
  ERR_clear_error();
  return ED_E_TLS;
}

/* ---- the re-check -------------------------------------------------------- */

int ed_tls_acl_allows(const struct ed_tls_snapshot *s,
                      const struct ed_tls_peer *p) {
  if (!s->num_allow_cn && !s->num_allow_san && !s->num_allow_sha256 &&
      !s->allow_list_required)
    return 1;
  /* Each list is sorted (tls_snapshot.c): a lookup per name, whatever
   * the list's length (an allow-file may hold tens of thousands). */
  if (p->cn && ed_tls_allow_cn_find(s, p->cn, p->cn_len)) return 1;
  for (size_t j = 0; j < p->num_sans; j++) {
    if (ed_tls_allow_san_find(s->allow_san, s->num_allow_san, &p->sans[j]))
      return 1;
  }
  return s->num_allow_sha256 &&
         bsearch(p->sha256, s->allow_sha256, s->num_allow_sha256, 32,
                 ed_tls_pin_cmp) != NULL;
}

/* ---- the path a full handshake would take now ------------------------------
 *
 * A session's chain was verified once; the bundle and the CRLs may change
 * under it (reloads), and so may which of the bundle's certificates a full
 * handshake would go through (a renewal begins, the original ends, one is
 * revoked). For each link the re-check asks the store's issuer lookup's
 * question again (ed_tls_ca_pick: the bundle's certificate before the
 * client's copy, X509_V_FLAG_TRUSTED_FIRST; only the one with the serial
 * a certificate names) and compares the answer with what the chain was
 * verified through. */

/* The answer at one link, mildest first. */
enum path {
  /* The same way: the certificate the lookup takes has the extensions
   * the chain was verified with and the same issuer above it, is valid now
   * and not revoked (the one of then, or a renewal); or the client's copy
   * stands, the bundle holding none the lookup would take instead. */
  PATH_HOLDS = 1,
  /* Every certificate the lookup could take valid now is revoked. */
  PATH_REVOKED = 2,
  /* It would take another certificate: other extensions (a re-issue may
   * add name constraints, a path length or an EKU the chain fails, which
   * the identity's serials and ids cannot show), another issuer above, or
   * none valid now. Only a full handshake can tell. */
  PATH_CHANGED = 4,
};

static enum path link_path(const struct ed_tls_snapshot *s,
                           const struct ed_tls_peer *p, size_t i, int64_t now) {
  const struct ed_tls_link *l = &p->links[i];
  int last = i + 1 == p->num_links;
  const struct ed_tls_ca *ca = ed_tls_find_ca(s, l->issuer);
  const struct ed_tls_serial *pin = NULL;
  if (l->flags & ED_TLS_LINK_PINNED)
    pin = last ? &p->root_serial : &p->links[i + 1].serial;
  /* A chain of one (the leaf is its own anchor): BoringSSL takes back only
   * that very certificate (X509_cmp), never a re-issue. */
  const struct ed_tls_ca_cert *cc = l->flags & ED_TLS_LINK_SELF
                                        ? ed_tls_ca_cert_of(ca, p->sha256)
                                        : ed_tls_ca_pick(ca, pin, now);
  /* The anchor comes from the bundle only: none (of its serial), no chain.
   * Below it, where the chain went through the client's own copy, it may
   * again; where it went through the bundle's, now gone, nothing says the
   * client has a copy, or one that would do. */
  if (!cc)
    return !last && (l->flags & ED_TLS_LINK_SENT) ? PATH_HOLDS : PATH_CHANGED;
  /* A root is its own issuer; BoringSSL ends a chain at a self-signed one.
   * Once a chain goes through the bundle it stays there: the CA above
   * must be the bundle's too (NULL: the client sent it, or it is gone). */
  const struct ed_tls_ca *above =
      last ? ca : ed_tls_find_ca(s, p->links[i + 1].issuer);
  if (!ed_tls_valid_at(cc->not_before, cc->not_after, now) ||
      memcmp(cc->ext, l->issuer_ext, sizeof(cc->ext)) != 0 || !above ||
      cc->issuer != above || (last && !cc->self_signed))
    return PATH_CHANGED;
  return ed_tls_ca_cert_revoked(cc) ? PATH_REVOKED : PATH_HOLDS;
}

/* chain_paths: the answers of every link, or-ed (enum path). */
static int chain_paths(const struct ed_tls_snapshot *s,
                       const struct ed_tls_peer *p, int64_t now) {
  int paths = 0;
  for (size_t i = 0; i < p->num_links; i++) paths |= link_path(s, p, i, now);
  return paths;
}

/* revocation checks each certificate below the root against its issuer's
 * CRL, and that no certificate a full handshake would take from the bundle
 * now is revoked (|paths|, chain_paths). A CRL that proves a revocation
 * counts even when it is stale. */
static int revocation(const struct ed_tls_snapshot *s,
                      const struct ed_tls_peer *p, int64_t now, int paths,
                      enum ed_hs_reason *out_reason, const char **out_detail) {
  int stale = 0;
  for (size_t i = 0; i < p->num_links; i++) {
    const struct ed_tls_ca *ca = ed_tls_find_ca(s, p->links[i].issuer);
    if (!ca || !ca->has_crl) {
      *out_reason = ED_HS_UNKNOWN_CA;
      *out_detail =
          "no CRL for a CA of the chain (with --crl, every CA that "
          "issues clients must be in --ca with its CRL)";
      return ED_E_VERIFY;
    }
    if (ed_tls_ca_revokes(ca, &p->links[i].serial)) {
      *out_reason = ED_HS_CERT_REVOKED;
      *out_detail = i == 0 ? "certificate revoked"
                           : "an intermediate CA of the chain is revoked";
      return ED_E_VERIFY;
    }
    stale |= ca->crl_next_update <= now; /* as BoringSSL: from that second */
  }
  if (paths & PATH_REVOKED) {
    *out_reason = ED_HS_CERT_REVOKED;
    *out_detail =
        "a CA of the chain is in the CA bundle only as revoked "
        "certificates (those valid now)";
    return ED_E_VERIFY;
  }
  if (stale && s->crl_expired_refuse) {
    *out_reason = ED_HS_CRL_EXPIRED;
    *out_detail =
        "a CRL the chain needs is past its next update "
        "(--crl-expired refuse)";
    return ED_E_VERIFY;
  }
  return 0;
}

static int fail(enum ed_hs_reason *out_reason, const char **out_detail,
                enum ed_hs_reason r, const char *d) {
  *out_reason = r;
  *out_detail = d;
  return ED_E_VERIFY;
}

int ed_tls_peer_recheck(const struct ed_tls_snapshot *s,
                        const struct ed_tls_peer *p, int64_t now,
                        enum ed_hs_reason *out_reason,
                        const char **out_detail) {
  if (ed_tls_refuse_on_io_thread(NULL, "identity_recheck"))
    return fail(out_reason, out_detail, ED_HS_OTHER,
                "internal error: certificate check on an I/O loop");
  if (!p || p->num_links == 0)
    return fail(out_reason, out_detail, ED_HS_OTHER, "no identity");
  if (!ed_tls_find_ca(s, p->links[p->num_links - 1].issuer))
    return fail(out_reason, out_detail, ED_HS_UNKNOWN_CA,
                "the CA the chain leads to is not in the CA bundle");
  /* While every link holds, a full handshake now would go through
   * certificates valid now (renewals, perhaps): only the identity's own
   * window is left to check. Otherwise the whole chain's is. */
  int paths = chain_paths(s, p, now);
  int64_t not_before = p->not_before, not_after = p->not_after;
  if (paths == PATH_HOLDS)
    not_before = p->own_not_before, not_after = p->own_not_after;
  if (now < not_before)
    return fail(out_reason, out_detail, ED_HS_CERT_NOT_YET_VALID,
                "a certificate of the chain is not yet valid");
  if (!ed_tls_valid_at(not_before, not_after, now))
    return fail(out_reason, out_detail, ED_HS_CERT_EXPIRED,
                "a certificate of the chain has expired");
  if (paths & PATH_CHANGED)
    return fail(out_reason, out_detail, ED_HS_UNKNOWN_CA,
                "a CA of the chain was re-issued (other extensions or "
                "issuer), or none of its certificates is valid now: only a "
                "full handshake can verify the chain");
  if (s->limit_chain_depth && p->num_links - 1 > s->max_chain_depth)
    return fail(out_reason, out_detail, ED_HS_CHAIN_TOO_LONG,
                "more intermediate CAs than --max-chain-depth allows");
  if (s->has_crl && revocation(s, p, now, paths, out_reason, out_detail))
    return ED_E_VERIFY;
  if (!ed_tls_acl_allows(s, p))
    return fail(out_reason, out_detail, ED_HS_ACL_DENIED,
                "client not on the allow-list");
  return 0;
}

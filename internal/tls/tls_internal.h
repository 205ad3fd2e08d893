/* internal/tls — shared between the module's files. Not part of the
 * module's API. */
#ifndef ED_TLS_INTERNAL_H
#define ED_TLS_INTERNAL_H

#include <openssl/bytestring.h>
#include <openssl/pool.h>
#include <openssl/x509.h>
#include <stdatomic.h>

#include "internal/tls/tls.h"

/* ---- identity (tls_identity.c) ------------------------------------------ */

/* A CA by what signs with it: SHA-256 over its subject name DER followed
 * by its SubjectPublicKeyInfo DER. A CA re-issued with the same name and
 * key (new validity) keeps its id; a new key or a new name is another CA. */
#define ED_TLS_CA_ID_LEN 32
/* At most this many CAs of the bundle share a subject name (with
 * different keys): tls_crl.c sort_by_name. */
#define ED_TLS_MAX_KEYS_PER_NAME 8
int ed_tls_ca_id(uint8_t out[ED_TLS_CA_ID_LEN], X509 *x);
/* ed_tls_cert_hash writes the SHA-256 of |x|'s DER; ed_tls_ext_hash that
 * of its extensions (the DER of the list; an empty list when it has
 * none): what a CA may sign (basicConstraints and its path length, key
 * usage, EKU, name constraints, policies, critical extensions) is all
 * there. 0 on failure (zeros). */
int ed_tls_cert_hash(uint8_t out[32], X509 *x);
int ed_tls_ext_hash(uint8_t out[32], X509 *x);

/* A serial number as compared: a sign byte (1 negative, 0 otherwise) then
 * the magnitude without leading zero bytes. */
struct ed_tls_serial {
  uint8_t *bytes;
  size_t len;
};
void ed_tls_serial_canon(struct ed_tls_serial *out, const ASN1_INTEGER *i);
/* ed_tls_serial_canon_len is how many bytes |i|'s form takes;
 * ed_tls_serial_canon_at writes it at |dst| (that many bytes, the
 * caller's) instead of a new allocation. */
size_t ed_tls_serial_canon_len(const ASN1_INTEGER *i);
void ed_tls_serial_canon_at(struct ed_tls_serial *out, const ASN1_INTEGER *i,
                            uint8_t *dst);
int ed_tls_serial_cmp(const struct ed_tls_serial *a,
                      const struct ed_tls_serial *b);

struct ed_tls_san {
  enum ed_san_type type;
  char *value; /* NUL-terminated, |len| bytes; IP: the address as text */
  size_t len;
  uint8_t ip[16]; /* IP: the address (ip_len 4 or 16) */
  uint8_t ip_len;
};

/* ed_tls_link.flags */
enum {
  /* The issuer's certificate the chain went through was the client's,
   * not one of the bundle's. */
  ED_TLS_LINK_SENT = 1,
  /* The certificate names its issuer's serial (authorityKeyIdentifier):
   * only the issuer's certificate with that serial can issue it. */
  ED_TLS_LINK_PINNED = 2,
  /* A chain of one: the leaf is its own anchor (X509_cmp: only itself). */
  ED_TLS_LINK_SELF = 4,
};

/* One certificate of the verified chain below the trust anchor: the leaf
 * first, then each intermediate. */
struct ed_tls_link {
  struct ed_tls_serial serial;
  uint8_t issuer[ED_TLS_CA_ID_LEN]; /* the CA that signed it */
  /* ed_tls_ext_hash of that CA's certificate as the chain was verified
   * with it (the bundle's, or the client's: ED_TLS_LINK_SENT). A CA
   * re-issued with the same name and key (the same |issuer|) may carry
   * name constraints, a path length or an EKU the chain would fail: the
   * re-check vouches for the chain only while the certificate a full
   * handshake would take from the bundle has these very extensions (a
   * renewal: new validity and serial) and the same issuer
   * (tls_verify.c link_path). */
  uint8_t issuer_ext[32];
  uint8_t flags; /* ED_TLS_LINK_* */
};

struct ed_tls_peer {
  _Atomic long refs;
  char *cn; /* NULL when the subject has no CN */
  size_t cn_len;
  struct ed_tls_san *sans;
  size_t num_sans;
  char *serial; /* the leaf's, uppercase hex */
  uint8_t sha256[32];
  int64_t not_before, not_after; /* every certificate of the chain */
  /* The leaf's, and every issuer's the client sent itself (issuer_ext
   * zeros): the window the re-check asks for while every CA of the chain
   * from the bundle is vouched for by a certificate there valid now (a
   * renewal carries the chain past the old certificate's end). Tickets
   * carry only the whole window: decoded, this is the same. */
  int64_t own_not_before, own_not_after;
  /* links[num_links - 1].issuer is the trust anchor. */
  struct ed_tls_link *links;
  size_t num_links;
  /* The trust anchor's serial: an issuer named by serial
   * (ED_TLS_LINK_PINNED) is links[i + 1]'s, or this for the last link. */
  struct ed_tls_serial root_serial;
};

/* ed_tls_valid_at: a certificate, or a chain's window, from |not_before|
 * to |not_after| (Unix seconds) is valid at |now| as BoringSSL's verifier
 * counts it: from the notBefore second on, up to but not including the
 * notAfter second (X509_cmp_time: notAfter <= now is expired). Every
 * check of echod's own uses it, so the chain cache, the re-check, tickets
 * and a fresh verification agree to the second. */
static inline int ed_tls_valid_at(int64_t not_before, int64_t not_after,
                                  int64_t now) {
  return not_before <= now && now < not_after;
}

/* ed_tls_window_narrow narrows the window [*not_before, *not_after] to
 * the part in which |x| is valid too (Unix seconds). */
void ed_tls_window_narrow(int64_t *not_before, int64_t *not_after, X509 *x);

/* ed_tls_identity_new builds an identity from |leaf| (DER |der|) and the
 * verified |chain| (leaf first, trust anchor last), or from the leaf alone
 * when |chain| is NULL (links then name the leaf's issuer as zeros).
 * Returns NULL and sets |*out_detail| (static) when a name breaks the
 * rules: a CN or SAN with a control character (C0, DEL, C1) or invalid
 * UTF-8 (CN) / non-ASCII (DNS, URI, email), two CNs, an IP SAN that is not
 * 4 or 16 bytes, two or an undecodable SAN extension. */
struct ed_tls_peer *ed_tls_identity_new(X509 *leaf, const uint8_t *der,
                                        size_t der_len, STACK_OF(X509) * chain,
                                        const char **out_detail);

/* The ticket's form of an identity (tls_ticket.c). encode returns 0 on
 * allocation failure; decode returns NULL for anything malformed. */
int ed_tls_identity_encode(CBB *cbb, const struct ed_tls_peer *p);
size_t ed_tls_identity_encoded_len(const struct ed_tls_peer *p);
struct ed_tls_peer *ed_tls_identity_decode(CBS *cbs);

/* One --allow-san entry, parsed: only SANs of |type| match, the type its
 * prefix names (any case) or, without one, its form (a bare value). */
struct ed_tls_allow_san {
  enum ed_san_type type;
  char *value;
  size_t len;
  uint8_t ip[16]; /* the value as an address, when it is one */
  uint8_t ip_len;
};

/* ed_tls_allow_san_parse parses |s| ("DNS:x", "URI:x", "email:x", "IP:a",
 * prefixes in any case, or a bare value: "://" makes it a URI, else "@" an
 * email, else an IP address if it is one, else a DNS name). Returns 0, or
 * ED_E_INVAL with |*out_why| (static). */
int ed_tls_allow_san_parse(struct ed_tls_allow_san *out, const char *s,
                           const char **out_why);
void ed_tls_allow_san_cleanup(struct ed_tls_allow_san *a);
/* ed_tls_allow_san_cmp orders allow-list SANs (qsort) so that
 * ed_tls_allow_san_find can look a certificate's SAN up among |num| sorted
 * ones: equal type, and equal value - an IP as an address, a DNS name with
 * ASCII case folded, any other byte for byte. */
int ed_tls_allow_san_cmp(const void *a, const void *b);
int ed_tls_allow_san_find(const struct ed_tls_allow_san *sorted, size_t num,
                          const struct ed_tls_san *san);

/* ---- snapshot ------------------------------------------------------------ */

/* A CA of the bundle and, with --crl, its CRL (tls_crl.c). */
struct ed_tls_ca_cert {
  uint8_t der[32], ext[32]; /* ed_tls_cert_hash, ed_tls_ext_hash */
  int64_t not_before, not_after;
  struct ed_tls_serial serial; /* owned */
  X509 *x;                     /* owned reference */
  /* The CA of the bundle that issued it (its own CA when it is
   * self-signed: a root, which nothing revokes), NULL when none did. */
  const struct ed_tls_ca *issuer;
  int self_signed;
  size_t nth; /* its place among its CA's certificates (bundle order) */
};

struct ed_tls_ca {
  uint8_t id[ED_TLS_CA_ID_LEN];
  X509 *cert;
  /* Every certificate of the bundle with this id (a CA and its re-issue
   * may both be there). */
  struct ed_tls_ca_cert *certs;
  size_t num_certs;
  char *subject; /* RFC 2253, for messages */
  int has_crl;
  char *crl_file;                  /* where its CRL came from */
  size_t crl_nth;                  /* which CRL of that file (1-based) */
  int crl_numbered;                /* it has a CRL Number extension */
  struct ed_tls_serial crl_number; /* its value, when it has one */
  int64_t crl_last_update, crl_next_update;
  struct ed_tls_serial *revoked; /* sorted (ed_tls_serial_cmp) */
  size_t num_revoked;
  uint8_t *revoked_bytes; /* every revoked[i].bytes, in one allocation */
};

/* ed_tls_ca_cert_of: |ca|'s bundle entry of the certificate whose
 * ed_tls_cert_hash is |der|, or NULL (|ca| NULL too). */
const struct ed_tls_ca_cert *ed_tls_ca_cert_of(const struct ed_tls_ca *ca,
                                               const uint8_t der[32]);

/* ed_tls_ca_pick: the certificate of |ca| the store's issuer lookup takes
 * at |now| (tls_snapshot.c issuer_from_store): valid now and not revoked
 * on its issuer's CRL first, then valid now, then the one valid longest;
 * among equals the first in the bundle. Only those with |serial| when it
 * is not NULL (the certificate below names its issuer's serial). NULL
 * when there is none. */
const struct ed_tls_ca_cert *ed_tls_ca_pick(const struct ed_tls_ca *ca,
                                            const struct ed_tls_serial *serial,
                                            int64_t now);
/* ed_tls_ca_cert_revoked: |cc| is revoked on its issuer's CRL. */
int ed_tls_ca_cert_revoked(const struct ed_tls_ca_cert *cc);
/* ed_tls_cert_tier: how the issuer lookup ranks |cc| at |now|: 2 valid
 * and not revoked on its issuer's CRL, 1 valid, 0 not valid (then the
 * later notAfter first). */
int ed_tls_cert_tier(const struct ed_tls_ca_cert *cc, int64_t now);
/* ed_tls_verify_ctx: a context for X509_verify_cert of |leaf| (with the
 * untrusted |chain|) on |s|'s store, whose issuer lookup ranks the
 * bundle's certificates by |s|'s index and CRLs. NULL when out of memory. */
X509_STORE_CTX *ed_tls_verify_ctx(struct ed_tls_snapshot *s, X509 *leaf,
                                  STACK_OF(X509) * chain);
/* ed_tls_certs_named: every bundle certificate whose subject is |name|, a
 * reference each, in bundle order per CA; NULL when out of memory. */
STACK_OF(X509) *
    ed_tls_certs_named(const struct ed_tls_snapshot *s, const X509_NAME *name);
/* ed_tls_cas_named: the CAs named |name| are s->cas_by_name[*first] up to
 * the index returned (none when |s| is NULL). */
size_t ed_tls_cas_named(const struct ed_tls_snapshot *s, const X509_NAME *name,
                        size_t *first);

struct ed_tls_snapshot {
  _Atomic long refs;
  uint64_t id;
  SSL_CTX *ctx;
  EVP_PKEY *key;         /* the server's; tls_sign.c signs with it */
  X509_STORE *store;     /* the CAs; revocation is ours (tls_crl.c) */
  struct ed_tls_ca *cas; /* sorted by id, one per distinct id */
  size_t num_cas;
  /* The same CAs by subject name (X509_NAME_cmp, then id): the store's
   * lookups by name come from here (ed_tls_certs_named). */
  const struct ed_tls_ca **cas_by_name;
  /* Every bundle certificate's notBefore, sorted: a chain's path may
   * change when one of them begins (ed_tls_next_ca_start). */
  int64_t *ca_starts;
  size_t num_ca_starts;
  int has_crl;            /* --crl given: every CA has a CRL */
  int crl_expired_refuse; /* --crl-expired refuse */
  int limit_chain_depth;
  uint32_t max_chain_depth;
  char **allow_cn;
  size_t num_allow_cn;
  struct ed_tls_allow_san *allow_san;
  size_t num_allow_san;
  uint8_t (*allow_sha256)[32];
  size_t num_allow_sha256;
  int allow_list_required; /* empty lists refuse everybody */
  struct ed_tls_keyring *keyring;
  struct ed_tls_summary summary;
  struct ed_tls_peer *server_id, *ca_id; /* for the admin socket */
  struct ed_tls_vcache *vcache;          /* chains that verified */
};

/* tls_crl.c: the CAs of |cas| (the bundle) indexed into |s|, then the CRLs
 * of |files| attached to them (every CA needs one when any is given).
 * Return 0 or an ED_E_* code with a message naming the file or CA. */
int ed_tls_index_cas(struct ed_tls_snapshot *s, STACK_OF(X509) * cas, char *err,
                     size_t err_len);
int ed_tls_load_crls(struct ed_tls_snapshot *s, const char *const *files,
                     size_t num_files, const char *ca_file, char *err,
                     size_t err_len);
void ed_tls_free_cas(struct ed_tls_snapshot *s);
const struct ed_tls_ca *ed_tls_find_ca(const struct ed_tls_snapshot *s,
                                       const uint8_t id[ED_TLS_CA_ID_LEN]);
int ed_tls_ca_revokes(const struct ed_tls_ca *ca,
                      const struct ed_tls_serial *serial);

/* What a client presented, kept when its certificate was refused
 * (tls_presented.c): see struct ed_tls_presented. */
struct ed_tls_seen {
  int have;
  char *cn; /* NULL: no CN; at most ED_TLS_PRESENTED_MAX bytes kept */
  size_t cn_len, cn_full;
  char *serial; /* "" when the certificate did not parse; cut likewise */
  size_t serial_full;
  uint8_t sha256[32];
};

struct ed_tls_conn {
  SSL *ssl;
  struct ed_tls_snapshot *snap; /* server side; NULL for clients: the
                                 * SSL_CTX, the server's certificate */
  /* Server side: whose trust decides on the client - CA bundle, CRLs,
   * allow-list, limits (|snap| unless ed_tls_conn_retrust changed it). */
  struct ed_tls_snapshot *trust;
  struct ed_tls_io *io;     /* the current call's transport */
  struct ed_tls_peer *peer; /* server side, once verified/restored */
  enum ed_hs_reason reason; /* set by verification on refusal */
  int have_reason;
  const char *detail;
  struct ed_tls_seen seen; /* a refused client's certificate */
  /* Server side: the caller's word that the peer has gone (non-zero);
   * NULL: never (ed_tls_conn_watch_peer). |sign_refused| is set when the
   * signature was refused for it (tls_sign.c). */
  const _Atomic uint8_t *peer_gone;
  int sign_refused;
  /* The sizes of the last two transport reads (tls_conn.c io_read):
   * BoringSSL reads a record's header, then exactly its body, so a
   * failure right after reads of 5 and 2 bytes was on a 2-byte record
   * (name_plaintext_alert). */
  size_t rd_prev, rd_last;
};

/* tls_conn.c: ed_tls_refuse_on_io_thread returns 1 (and records the
 * refusal in |c|, logged) when the calling thread is a marked I/O loop:
 * |what| names the check that must not run there. */
int ed_tls_refuse_on_io_thread(struct ed_tls_conn *c, const char *what);

/* tls_presented.c: ed_tls_note_presented keeps what the client presented
 * as |leaf| (its DER) in c->seen, parsed without trusting it (a refusal's
 * log line names it); ed_tls_seen_cleanup frees it. */
void ed_tls_note_presented(struct ed_tls_conn *c, const CRYPTO_BUFFER *leaf);
void ed_tls_seen_cleanup(struct ed_tls_seen *s);

/* tls_sign.c: the server's signature, made by echod rather than by
 * BoringSSL from the SSL_CTX's key, so that it can be refused for a peer
 * that has gone (ed_tls_conn_watch_peer). */
extern const SSL_PRIVATE_KEY_METHOD ed_tls_sign_method;

/* tls_snapshot.c: the sorted allow-lists' lookups (CNs by their bytes;
 * pins: 32-byte SHA-256 values, ordered by ed_tls_pin_cmp). */
int ed_tls_allow_cn_find(const struct ed_tls_snapshot *s, const char *cn,
                         size_t len);
int ed_tls_pin_cmp(const void *a, const void *b);

/* tls_verify.c */
extern const SSL_TICKET_AEAD_METHOD ed_tls_ticket_method;
enum ssl_verify_result_t ed_tls_verify_client(SSL *ssl, uint8_t *out_alert);
/* ed_tls_verify_certs is ed_tls_verify_client's decision on the chain
 * |bufs| a client presented (leaf first) for |c| (server side: c->snap and
 * c->trust set), once the handshake has it: verification against
 * c->trust, the identity into c->peer, the re-check; on refusal c->reason,
 * c->detail, *out_alert and c->seen. The handshake calls it; the tests
 * and the chain fuzzer (internal/tls/fuzz/chain_fuzz.c) call it without
 * one. Not on an I/O loop (ed_tls_verify_client refuses there). */
enum ssl_verify_result_t ed_tls_verify_certs(struct ed_tls_conn *c,
                                             uint8_t *out_alert,
                                             const STACK_OF(CRYPTO_BUFFER) *
                                                 bufs);
/* ed_tls_alert_for returns the TLS alert a refusal for |r| sends. */
uint8_t ed_tls_alert_for(enum ed_hs_reason r);
int ed_tls_acl_allows(const struct ed_tls_snapshot *s,
                      const struct ed_tls_peer *p);

/* tls_vcache.c: chains that verified under one snapshot, by the SHA-256
 * of their DER (ed_tls_vcache_key), with their identity. */
struct ed_tls_vcache;
struct ed_tls_vcache *ed_tls_vcache_new(void);
void ed_tls_vcache_free(struct ed_tls_vcache *vc);
void ed_tls_vcache_key(uint8_t out[32], const STACK_OF(CRYPTO_BUFFER) * bufs);
/* ed_tls_vcache_get returns the cached identity (a new reference) when
 * |key| verified before, |now| is inside its validity and before the
 * entry's |until|; else NULL. */
struct ed_tls_peer *ed_tls_vcache_get(struct ed_tls_vcache *vc,
                                      const uint8_t key[32], int64_t now);
/* ed_tls_vcache_put remembers |p| (takes its own reference) until
 * |until| (Unix seconds, exclusive): ed_tls_next_ca_start at the time of
 * the verification, after which the chain may take another path. */
void ed_tls_vcache_put(struct ed_tls_vcache *vc, const uint8_t key[32],
                       struct ed_tls_peer *p, int64_t until);
/* ed_tls_next_ca_start: the first notBefore of a bundle certificate
 * after |now| (INT64_MAX: none). A certificate that begins can change
 * the path a chain verifies through ("valid now, then valid longest"). */
int64_t ed_tls_next_ca_start(const struct ed_tls_snapshot *s, int64_t now);

/* tls_identity.c: |t| as Unix seconds (0 when absent). */
int64_t ed_tls_asn1_time(const ASN1_TIME *t);

/* tls_snapshot.c helpers shared with verification */
void ed_tls_serial_hex(char *out, size_t out_len, const ASN1_INTEGER *serial);
void ed_tls_name_str(char *out, size_t out_len, const X509_NAME *name);
void ed_tls_set_err(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* ed_tls_check_secret_mode: a private key's (or ticket-keys file's) mode,
 * see ed_tls_snapshot_new; |what| names it in the message. Returns 0,
 * ED_E_NOENT or ED_E_INSECURE. */
int ed_tls_check_secret_mode(const char *path, const char *what,
                             int allow_group_read, char *err, size_t err_len);

#endif /* ED_TLS_INTERNAL_H */

/* internal/tls — echod's TLS: credential snapshots, client verification,
 * session-ticket keys, and the per-connection engine. No sockets and no
 * libuv here: ciphertext in, ciphertext out, plaintext read/write.
 *
 * Snapshot: an immutable, reference-counted bundle of the server's cert,
 * key, CA bundle, the CAs' CRLs and allow-lists, with the SSL_CTX made
 * from them. Building
 * one checks everything (ed_tls_snapshot_new); a reload builds a new one
 * and swaps a pointer. Connections keep a reference to the snapshot they
 * started with (its SSL_CTX, the server's certificate); a handshake under
 * way can be told to decide on its client with a newer one
 * (ed_tls_conn_retrust). Thread-safe: any thread may use a snapshot.
 *
 * Ticket keys (ed_tls_keyring) live outside the snapshots, so tickets stay
 * valid across reloads - or, with a ticket-keys file, are read with every
 * snapshot from that file, shared by every replica. A ticket carries the
 * client's identity and what the whole-chain re-check needs; opening one
 * re-checks it against the snapshot that decides on the connection's client
 * (ed_tls_peer_recheck: CA, validity, every CRL, depth, allow-list), and a
 * ticket that no longer passes is ignored: the client falls back to a full
 * handshake, which refuses it with the right reason. */
#ifndef ED_TLS_H
#define ED_TLS_H

#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>

#include "internal/base/base.h"
#include "internal/tls/tls_types.h"

/* ---- ticket key ring ------------------------------------------------------
 */

struct ed_tls_keyring;

/* ed_tls_keyring_new returns a key ring that rotates its AES-128-GCM
 * ticket key every |rotate_s| seconds; the previous key still opens
 * tickets. Reference-counted (starts at 1). Thread-safe. */
struct ed_tls_keyring *ed_tls_keyring_new(uint32_t rotate_s);
void ed_tls_keyring_ref(struct ed_tls_keyring *kr);
/* ed_tls_keyring_unref drops a reference; NULL is fine. */
void ed_tls_keyring_unref(struct ed_tls_keyring *kr);
/* ed_tls_keyring_rotate rotates now (tests; rotation is otherwise lazy).
 * A ring from a file never rotates: this does nothing to it. */
void ed_tls_keyring_rotate(struct ed_tls_keyring *kr);

/* ---- shared ticket keys (--ticket-keys) -----------------------------------
 *
 * Replicas behind one balancer share their ticket keys through a file, so
 * a ticket one replica issued resumes on any other, and on itself after a
 * restart. The file (docs/deploy.md, "Session-ticket keys"):
 *
 *   # comments and blank lines are ignored
 *   v1:<64 hex digits>      one 32-byte secret per line; at most 16
 *
 * The first key seals new tickets; every key opens them, so operators
 * rotate by putting a new line first and dropping the last one later.
 * Each secret stands for one AES-128-GCM key and a 16-byte key id, both
 * derived from it with HKDF-SHA256 (the same on every replica). */

#define ED_TLS_TICKET_KEYS_MAX 16
#define ED_TLS_TICKET_SECRET_LEN 32
#define ED_TLS_TICKET_FILE_MAX (64 * 1024)
#define ED_TLS_TICKET_LINE_LEN (3 + 2 * ED_TLS_TICKET_SECRET_LEN) /* v1:hex */
#define ED_TLS_TICKET_ID_SHOWN 8 /* bytes of the issuing key's id shown */

/* ed_tls_ticket_keys_parse reads the text of a ticket-keys file (|len|
 * bytes, any bytes; |path| only names it in messages) into |out| (room
 * for ED_TLS_TICKET_KEYS_MAX secrets) and sets |*out_num|. Returns 0, or
 * ED_E_PARSE with one line in |err| naming the file and the line: a line
 * that is not "v1:" and 64 hex digits (spaces, tabs and a CR around it
 * are ignored), a key given twice, more than ED_TLS_TICKET_KEYS_MAX keys,
 * or none. Pure. */
int ed_tls_ticket_keys_parse(uint8_t (*out)[ED_TLS_TICKET_SECRET_LEN],
                             size_t *out_num, const char *text, size_t len,
                             const char *path, char *err, size_t err_len);

/* ed_tls_ticket_key_format writes |secret| as a file line ("v1:" and 64
 * lowercase hex digits, no newline) into |out|
 * (ED_TLS_TICKET_LINE_LEN + 1 bytes). */
void ed_tls_ticket_key_format(char *out,
                              const uint8_t secret[ED_TLS_TICKET_SECRET_LEN]);

/* ed_tls_keyring_from_secrets returns a ring holding the keys |secrets|
 * stand for, in that order (the first seals), which never rotates; NULL
 * when |num| is 0 or over ED_TLS_TICKET_KEYS_MAX. One reference. */
struct ed_tls_keyring *ed_tls_keyring_from_secrets(
    const uint8_t (*secrets)[ED_TLS_TICKET_SECRET_LEN], size_t num);

/* ed_tls_keyring_load reads the ticket-keys file |path|: its mode first,
 * with the private key's rule (0600 or stricter; with
 * |allow_group_read|, also a root-owned file its group may read:
 * ED_E_INSECURE), then its text (ED_E_NOENT, ED_E_PERM, ED_E_TOOBIG,
 * ED_E_IO) and its keys (ED_E_PARSE). On success sets |*out| (one
 * reference) and returns 0; on failure writes one line naming the file
 * to |err|. The secrets are wiped from memory once the keys are made. */
int ed_tls_keyring_load(struct ed_tls_keyring **out, const char *path,
                        int allow_group_read, char *err, size_t err_len);

/* Which ticket keys are in use: for metrics and the admin socket. Never
 * key material: the id is public (every ticket carries it in the clear). */
struct ed_tls_ticket_info {
  int from_file;     /* 1: --ticket-keys; 0: in memory, rotating */
  size_t num_keys;   /* keys that open tickets (the first also seals) */
  uint64_t rotate_s; /* in memory: the rotation period; 0 from a file */
  char issuing_id[2 * ED_TLS_TICKET_ID_SHOWN + 1]; /* the sealing key's id,
                                                    * first bytes, hex */
};

/* ed_tls_keyring_info fills |out| for |kr| now (an in-memory ring may
 * rotate first, when its key is due). Any thread. */
void ed_tls_keyring_info(struct ed_tls_keyring *kr,
                         struct ed_tls_ticket_info *out);

/* ---- credential snapshot ------------------------------------------------- */

struct ed_tls_params {
  const char *cert; /* PEM: leaf first, then any intermediates */
  const char *key;  /* PEM private key; must be mode 0600 or stricter */
  /* Also accept a key that root owns and its group may read (0640, 0440),
   * as a Kubernetes Secret volume with fsGroup mounts it. Off: refused. */
  int allow_group_readable_key;
  const char *ca; /* PEM bundle of trusted client CAs (and the server's) */
  /* CRL files (PEM; each may hold several CRLs). With any, every CA of
   * the bundle must have a CRL signed by it, and every certificate of a
   * client's chain below its root (leaf and intermediates) is checked
   * against the CRL of its issuer. None: no revocation checks. */
  const char *const *crls;
  size_t num_crls;
  /* A CRL past its nextUpdate: 0 = still used (a warning is logged at
   * each build, see ed_tls_snapshot_warn_crl_expired); 1 = a client whose
   * chain needs it is refused (crl_expired). */
  int crl_expired_refuse;
  /* With limit_chain_depth, a client chain may have at most
   * max_chain_depth intermediate CAs between the leaf and the root (0:
   * leaf signed by a root of the bundle). */
  int limit_chain_depth;
  uint32_t max_chain_depth;
  uint16_t tls_min; /* TLS1_3_VERSION (default when 0) or TLS1_2_VERSION */
  /* Allow-lists (borrowed during ed_tls_snapshot_new; copied). When any
   * is non-empty, a client must match one entry of one of them:
   * allow_cn by exact bytes; allow_san "DNS:", "URI:", "email:", "IP:" or
   * bare (README, "Allow-lists"); allow_sha256 hex of the client cert DER. */
  const char *const *allow_cn;
  size_t num_allow_cn;
  const char *const *allow_san;
  size_t num_allow_san;
  const char *const *allow_sha256;
  size_t num_allow_sha256;
  /* An allow-list is configured even when the three are empty (an
   * --allow-file with no entries): then nobody matches, rather than the
   * empty lists meaning "no allow-list, any client of the CA". */
  int allow_list_required;
  struct ed_tls_keyring *keyring; /* the snapshot takes a ref; required
                                   * unless ticket_keys is set */
  /* A ticket-keys file (--ticket-keys): the snapshot's tickets use its keys
   * (ed_tls_keyring_load, with allow_group_readable_key's rule for its
   * mode) instead of |keyring|; a bad file fails the build like a bad
   * certificate. NULL: |keyring|. */
  const char *ticket_keys;
  /* Seconds a ticket stays usable (default 2 * 3600 when 0). */
  uint32_t ticket_lifetime_s;
};

struct ed_tls_snapshot;

/* ed_tls_allow_san_check checks one allow-san entry the way
 * ed_tls_snapshot_new will parse it (README, "Allow-lists"), so that a
 * caller reading entries from a file can name the line. Returns 0, or
 * ED_E_INVAL with |*out_why| (static text). */
int ed_tls_allow_san_check(const char *s, const char **out_why);

/* ed_tls_snapshot_new loads and checks the files in |p|: key file mode
 * (ED_E_INSECURE), readable files (ED_E_NOENT, ED_E_PERM, ED_E_IO), PEM
 * contents (ED_E_PARSE), key matches cert (ED_E_MISMATCH), cert chains to
 * the CA (ED_E_VERIFY), is within validity (ED_E_EXPIRED) and its names
 * are clean (ED_E_PARSE) - a CRL revoking it is logged as a warning, not
 * refused, so that revocations always take effect -, each CRL parses
 * (ED_E_PARSE) and is signed by a CA of the bundle (ED_E_VERIFY), every CA
 * has a CRL when any is given (ED_E_NOTFOUND, naming the CA), allow-list
 * entries parse (ED_E_INVAL). Each CRL past its nextUpdate is logged as a
 * warning. On success sets |*out| (one reference) and returns 0; on
 * failure writes a one-line message naming the file or CA to |err| and
 * returns the code. */
int ed_tls_snapshot_new(struct ed_tls_snapshot **out,
                        const struct ed_tls_params *p, char *err,
                        size_t err_len);
/* ed_tls_snapshot_crl_rollback checks a reload's snapshot |next| against
 * |cur|, the one in use (NULL: nothing to check): the CRL |next| uses for
 * a CA (same name and key) must not be older than the one |cur| uses - a
 * lower CRL Number when both have one, else an earlier lastUpdate. An
 * older CRL, put back by mistake or replayed by whoever can write the
 * file, would un-revoke what the newer one revoked. Returns 0, or
 * ED_E_INVAL with a one-line message naming the file, the CA and both
 * CRLs in |err|. */
int ed_tls_snapshot_crl_rollback(const struct ed_tls_snapshot *cur,
                                 const struct ed_tls_snapshot *next, char *err,
                                 size_t err_len);
void ed_tls_snapshot_ref(struct ed_tls_snapshot *s);
/* ed_tls_snapshot_unref drops a reference; NULL is fine. */
void ed_tls_snapshot_unref(struct ed_tls_snapshot *s);
/* ed_tls_snapshot_sole: the caller's reference to |s| is the only one. */
int ed_tls_snapshot_sole(const struct ed_tls_snapshot *s);
/* ed_tls_snapshots_live: how many snapshots the process holds now (the
 * current one, one being built or checked, and older ones still held by
 * connections: handshakes under way, sessions not yet re-checked). */
long ed_tls_snapshots_live(void);

/* ed_tls_snapshot_ctx returns the server SSL_CTX (borrowed). */
SSL_CTX *ed_tls_snapshot_ctx(const struct ed_tls_snapshot *s);

/* The server's and the first CA's certificate, for the admin socket and
 * metrics. Their SANs: ed_tls_snapshot_server_peer / _ca_peer. */
struct ed_tls_cert_info {
  char subject[256]; /* RFC 2253 ("CN=server") */
  char issuer[256];
  char serial[72];               /* uppercase hex */
  int64_t not_before, not_after; /* Unix seconds */
  char sha256[65];               /* lowercase hex of the DER */
};

struct ed_tls_summary {
  struct ed_tls_cert_info server; /* the leaf we serve */
  struct ed_tls_cert_info ca;     /* the first CA in the bundle */
  size_t num_ca;                  /* CAs in the bundle */
  int has_crl;
  size_t num_crl; /* CRLs in use (one per CA) */
  /* The CRL due first: its nextUpdate and lastUpdate (Unix seconds; 0 if
   * none). */
  int64_t crl_last_update, crl_next_update;
  size_t crl_entries; /* revoked serials, all CRLs */
  uint64_t snapshot_id;
  uint64_t loaded_wall_ns; /* when the snapshot was built */
};

/* ed_tls_snapshot_ticket_info describes the ticket keys |s| seals and
 * opens tickets with (ed_tls_keyring_info). */
void ed_tls_snapshot_ticket_info(const struct ed_tls_snapshot *s,
                                 struct ed_tls_ticket_info *out);

/* ed_tls_snapshot_summary copies the summary computed at build time. */
void ed_tls_snapshot_summary(const struct ed_tls_snapshot *s,
                             struct ed_tls_summary *out);

struct ed_tls_peer;

/* ed_tls_snapshot_server_peer and ed_tls_snapshot_ca_peer return the names
 * (CN, SANs) of the server certificate and of the bundle's first CA,
 * borrowed from |s| (valid while the caller holds |s|). The CA's is NULL
 * when its names could not be read as an identity. */
const struct ed_tls_peer *ed_tls_snapshot_server_peer(
    const struct ed_tls_snapshot *s);
const struct ed_tls_peer *ed_tls_snapshot_ca_peer(
    const struct ed_tls_snapshot *s);

/* ed_tls_snapshot_warn_crl_expired logs one warning per CRL of |s| past
 * its nextUpdate at |now| (Unix seconds): file, issuer, next update and
 * what the --crl-expired policy does about it. Returns how many. The
 * snapshot build calls it; a caller may call it periodically (any thread;
 * no public-key work). */
size_t ed_tls_snapshot_warn_crl_expired(const struct ed_tls_snapshot *s,
                                        int64_t now);

/* ---- the client's identity ------------------------------------------------
 */

/* What a verified client certificate says, parsed once per verified chain
 * (or restored from a ticket): the subject CN, the SANs (DNS, IP, URI,
 * email, in certificate order; other SAN types are skipped), the leaf's
 * serial and SHA-256, and what a later re-check needs (each certificate's
 * serial and issuing CA below the root, the chain's validity window).
 * Immutable and reference-counted: any thread may hold, read, ref and
 * unref it; it is freed with its last reference. Every string is exact:
 * its length is given, nothing is truncated, and it holds no NUL or
 * other control character (such certificates are refused, bad_identity),
 * so it is also a valid C string. */
struct ed_tls_peer;

/* ed_tls_peer_ref adds a reference; ed_tls_peer_unref drops one (NULL is
 * fine). The count is the only mutable part, hence const pointers. */
void ed_tls_peer_ref(const struct ed_tls_peer *p);
void ed_tls_peer_unref(const struct ed_tls_peer *p);

/* ed_tls_peer_cn returns the subject CN (UTF-8) and sets |*out_len|, or
 * returns NULL (|*out_len| 0) when the certificate has no CN. |out_len|
 * may be NULL. */
const char *ed_tls_peer_cn(const struct ed_tls_peer *p, size_t *out_len);
/* ed_tls_peer_cn_is returns 1 when the CN is exactly |cn| (same length,
 * same bytes), else 0 (also when there is no CN). */
int ed_tls_peer_cn_is(const struct ed_tls_peer *p, const char *cn);
size_t ed_tls_peer_num_sans(const struct ed_tls_peer *p);
/* ed_tls_peer_san returns SAN |i|'s type and sets |*out_value| (borrowed,
 * NUL-terminated; an IP SAN's address as text: "10.0.0.1", "::1") and
 * |*out_len|. */
enum ed_san_type ed_tls_peer_san(const struct ed_tls_peer *p, size_t i,
                                 const char **out_value, size_t *out_len);
/* ed_tls_peer_serial returns the leaf's serial, uppercase hex (borrowed). */
const char *ed_tls_peer_serial(const struct ed_tls_peer *p);
/* ed_tls_peer_sha256 returns the SHA-256 of the leaf's DER (32 bytes). */
const uint8_t *ed_tls_peer_sha256(const struct ed_tls_peer *p);
/* ed_tls_peer_validity sets the window in which every certificate of the
 * chain is valid (Unix seconds). */
void ed_tls_peer_validity(const struct ed_tls_peer *p, int64_t *out_not_before,
                          int64_t *out_not_after);
/* ed_tls_peer_chain_depth returns the number of intermediate CAs between
 * the leaf and the root of the verified chain (0: signed by a root). */
size_t ed_tls_peer_chain_depth(const struct ed_tls_peer *p);

/* ed_tls_peer_sans_text returns the SANs as one unambiguous string for a
 * log field: "TYPE:value" entries joined by ',', where inside each value
 * '%' and ',' (and any byte below 0x21 or above 0x7e) are written %XX, so
 * a ',' always separates entries. "" when there are none. The caller
 * frees it (free()). */
char *ed_tls_peer_sans_text(const struct ed_tls_peer *p);

/* ed_tls_peer_from_der parses the identity of one DER certificate, alone
 * (no chain, no verification; its links name an unknown issuer): what
 * the handshake does with a client's leaf once its chain verified. On
 * success sets |*out| (one reference) and returns 0; returns ED_E_PARSE
 * for something that is not a certificate, ED_E_INVAL with |*out_detail|
 * (static) for names that break the rules (bad_identity). For tests and
 * the fuzzer. */
int ed_tls_peer_from_der(struct ed_tls_peer **out, const char **out_detail,
                         const uint8_t *der, size_t der_len);

/* ed_tls_peer_recheck decides whether |p|, verified earlier (a full
 * handshake, a ticket, an established session), still passes under
 * snapshot |s| at |now| (Unix seconds): the root its chain led to is still
 * a CA of the bundle (else unknown_ca); every certificate of the chain is
 * within validity (cert_not_yet_valid, cert_expired); the chain has no
 * more intermediates than max_chain_depth (chain_too_long); when |s| has
 * CRLs, each certificate below the root has a CRL from its issuer in |s|
 * (else unknown_ca), is not on it (cert_revoked) and, with
 * crl_expired_refuse, that CRL is not past its nextUpdate (crl_expired);
 * and |p| matches the allow-list (acl_denied). Returns 0 when it passes;
 * otherwise ED_E_VERIFY and sets |*out_reason| and |*out_detail| (a static
 * string). No public-key work and no allocation, but it is a certificate
 * check: on a thread marked as an I/O loop (ed_tls_mark_io_thread) it
 * refuses to decide (ED_E_VERIFY, reason other). Any other thread may call
 * it, for any number of identities. The handshake decides with it too, so
 * a re-check and a new handshake of the same chain agree. */
int ed_tls_peer_recheck(const struct ed_tls_snapshot *s,
                        const struct ed_tls_peer *p, int64_t now,
                        enum ed_hs_reason *out_reason, const char **out_detail);

/* ---- per-connection engine ----------------------------------------------- */

/* One call's transport: the engine reads ciphertext from in[in_used ..
 * in_len) (advancing in_used) and appends ciphertext to |out|. If |out|
 * would pass its cap the call fails (caps are the caller's bound). */
struct ed_tls_io {
  const uint8_t *in;
  size_t in_len;
  size_t in_used;
  struct ed_buf *out;
};

struct ed_tls_conn;

/* ed_tls_conn_new_server returns a server engine on |snap| (takes a
 * reference for the connection's life). */
struct ed_tls_conn *ed_tls_conn_new_server(struct ed_tls_snapshot *snap);

/* ed_tls_conn_retrust makes |snap|'s trust (CA bundle, CRLs, allow-list,
 * chain depth; it takes a reference) decide on the client from the next
 * handshake call on, in place of the snapshot |c| was made with, which
 * keeps serving the server's certificate. For a handshake under way when
 * a newer snapshot is published: its client certificate (or ticket) is
 * then judged by the newest credentials. Server side; not while another
 * call on |c| runs. */
void ed_tls_conn_retrust(struct ed_tls_conn *c, struct ed_tls_snapshot *snap);

/* ed_tls_conn_rebase moves a connection whose handshake is complete and
 * whose client was just re-checked against |snap| and passed onto |snap|
 * altogether (it takes a reference): its trust and the snapshot it holds.
 * Without it a long-lived session would keep the snapshot of its
 * handshake - CRLs, CA bundle, allow-list - in memory for its whole life,
 * one such snapshot per reload it outlived. The SSL keeps its own
 * reference to that snapshot's SSL_CTX (the server's chain: small). Never
 * moves back: a |snap| no newer than the one |c| holds changes nothing.
 * Server side; not while another call on |c| runs. */
void ed_tls_conn_rebase(struct ed_tls_conn *c, struct ed_tls_snapshot *snap);

/* ed_tls_conn_new_client returns a client engine on |ctx| (SSL_CTX
 * reference taken), sending |servername| as SNI when not NULL, resuming
 * |session| when not NULL. For tests, the client and bench. */
struct ed_tls_conn *ed_tls_conn_new_client(SSL_CTX *ctx, const char *servername,
                                           SSL_SESSION *session);

/* ed_tls_conn_free frees |c|; NULL is fine. */
void ed_tls_conn_free(struct ed_tls_conn *c);

/* ed_tls_conn_handshake advances the handshake with the bytes in |io|.
 * Returns 1 when the handshake is complete, 0 when it needs more input
 * (all of io->in was consumed), or ED_E_TLS on failure: the alert to send
 * (if any) is in io->out, and ed_tls_conn_failure() says why. Public-key
 * work happens here: call it on the handshake pool (only a resumption's
 * tail, see ed_tls_conn_resumption_tail, may run on an I/O loop). */
int ed_tls_conn_handshake(struct ed_tls_conn *c, struct ed_tls_io *io);

/* ed_tls_conn_watch_peer gives server engine |c| the caller's word on
 * whether anybody will read what it makes: while |*gone| (the caller's,
 * read with a relaxed atomic load, valid for |c|'s life) is non-zero, the
 * engine refuses to make the server's signature, and the handshake call
 * fails there (ed_tls_conn_unsigned), after everything before it ran: a
 * ClientHello the engine refuses is still named. No client can finish a
 * handshake without the server's first flight, so one that left (FIN or
 * RST) before the signature costs the key exchange, not the signature. */
void ed_tls_conn_watch_peer(struct ed_tls_conn *c, const _Atomic uint8_t *gone);

/* ed_tls_conn_unsigned returns 1 when |c|'s last handshake call failed
 * because it would not sign for a peer that had gone
 * (ed_tls_conn_watch_peer). */
int ed_tls_conn_unsigned(const struct ed_tls_conn *c);

/* ed_tls_conn_resumption_tail returns 1 when |c| (server side) resumed a
 * session and has sent its Finished: all that is left is the client's
 * Finished and a new ticket, symmetric crypto only (the key exchange ran,
 * and the ticket's identity was re-checked against the CRL and allow-list
 * when it was opened, in the earlier step). The rest of such a handshake
 * may then run on an I/O loop. 0 for everything else: full handshakes, a
 * resumption that still has to answer a HelloRetryRequest, clients. */
int ed_tls_conn_resumption_tail(const struct ed_tls_conn *c);

/* ed_tls_mark_io_thread(1) marks the calling thread as an I/O loop, (0)
 * clears the mark. On a marked thread every certificate check - the
 * client's chain, CRL and allow-list before its CertificateVerify, and
 * the same re-check when a ticket is opened - fails the handshake with an
 * internal error (reason other, logged at error): the design's "all
 * public-key work runs in the pool" (docs/architecture.md) is enforced,
 * not assumed. */
void ed_tls_mark_io_thread(int on);

/* ed_tls_conn_read decrypts into |buf| (|len| bytes) and sets |*out_n|.
 * Returns 0 with *out_n > 0; ED_E_AGAIN when io->in is exhausted;
 * ED_E_CLOSED when the peer sent close_notify; ED_E_TLS on a protocol
 * error (alert in io->out). May write (KeyUpdate replies) to io->out. */
int ed_tls_conn_read(struct ed_tls_conn *c, struct ed_tls_io *io, size_t *out_n,
                     uint8_t *buf, size_t len);

/* ed_tls_conn_write encrypts all |len| bytes into io->out. Returns 0 or
 * ED_E_TLS. */
int ed_tls_conn_write(struct ed_tls_conn *c, struct ed_tls_io *io,
                      const uint8_t *data, size_t len);

/* ed_tls_conn_shutdown writes close_notify into io->out. Returns 0 or
 * ED_E_TLS (handshake not done, or failed). */
int ed_tls_conn_shutdown(struct ed_tls_conn *c, struct ed_tls_io *io);

/* ed_tls_conn_failure returns why the last call failed: a handshake
 * reason, and a short detail (static or borrowed from |c|). Clears the
 * BoringSSL error queue. */
enum ed_hs_reason ed_tls_conn_failure(struct ed_tls_conn *c,
                                      const char **out_detail);

/* ed_tls_conn_refuse ends a server handshake that completed (or whose
 * last flight was accepted) but whose client no longer passes a check made
 * after it: the identity re-checked against a newer snapshot than the one
 * it was verified with. Writes the alert the handshake's own verification
 * sends for |reason| (certificate_revoked for cert_revoked, ...) to
 * io->out, records |reason| and |detail| (static) for
 * ed_tls_conn_failure, and returns ED_E_TLS: nothing more may be read or
 * written on |c|. */
int ed_tls_conn_refuse(struct ed_tls_conn *c, struct ed_tls_io *io,
                       enum ed_hs_reason reason, const char *detail);

/* What a client presented as its certificate (server side), whether it
 * was accepted or refused: for the log line of a refused handshake. Read
 * without trusting it: |cn| is the subject's first CN as it came (UTF-8
 * when it converts, else its raw bytes), |cn_len| bytes of which any may
 * be a NUL or a control byte, so escape it (ed_logq_bytes) before it
 * leaves the process; NULL when there is no CN. */
struct ed_tls_presented {
  const char *cn;
  size_t cn_len;
  /* A refused certificate's CN and serial are the client's to size (up
   * to the 100 KiB certificate message): only their first
   * ED_TLS_PRESENTED_MAX bytes (characters) are kept. |cn_full| and
   * |serial_full| are then their whole lengths; 0 when nothing was cut. */
  size_t cn_full;
  const char *serial; /* uppercase hex; "" when the certificate did not
                       * parse */
  size_t serial_full;
  char sha256[65]; /* lowercase hex of the leaf's DER: names it exactly */
};
#define ED_TLS_PRESENTED_MAX 256

/* ed_tls_conn_presented fills |out| (strings borrowed from |c|, valid
 * until it is freed) and returns 1 when the client presented a
 * certificate that the handshake looked at; returns 0 when none was
 * presented, or the handshake did not get that far. */
int ed_tls_conn_presented(const struct ed_tls_conn *c,
                          struct ed_tls_presented *out);

/* After a complete handshake: */
/* ed_tls_conn_peer returns the client's identity (server side; borrowed
 * from |c|: take a reference to keep it longer), or NULL. */
const struct ed_tls_peer *ed_tls_conn_peer(const struct ed_tls_conn *c);
int ed_tls_conn_resumed(const struct ed_tls_conn *c);
/* ed_tls_conn_suite returns the negotiated suite (tls_types.h). */
enum ed_suite ed_tls_conn_suite(const struct ed_tls_conn *c);
/* ed_tls_conn_version returns "TLSv1.3" or "TLSv1.2" (static). */
const char *ed_tls_conn_version(const struct ed_tls_conn *c);

/* ---- helpers ------------------------------------------------------------- */

/* ed_tls_hex writes |len| bytes as lowercase hex into |out| (2*len+1). */
void ed_tls_hex(char *out, const uint8_t *in, size_t len);

#endif /* ED_TLS_H */

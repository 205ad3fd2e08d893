/* internal/tls — echod's TLS: credential snapshots, client verification,
 * session-ticket keys, and the per-connection engine. No sockets and no
 * libuv here: ciphertext in, ciphertext out, plaintext read/write.
 *
 * Snapshot: an immutable, reference-counted bundle of the server's cert,
 * key, CA, CRL and allow-lists, with the SSL_CTX made from them. Building
 * one checks everything (ed_tls_snapshot_new); a reload builds a new one
 * and swaps a pointer. Connections keep a reference to the snapshot they
 * started with. Thread-safe: any thread may use a snapshot.
 *
 * Ticket keys (ed_tls_keyring) live outside the snapshots, so tickets stay
 * valid across reloads. A ticket carries the client's identity; opening one
 * re-checks it against the CURRENT snapshot's CA, CRL and allow-list, and a
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
/* ed_tls_keyring_rotate rotates now (tests; rotation is otherwise lazy). */
void ed_tls_keyring_rotate(struct ed_tls_keyring *kr);

/* ---- credential snapshot ------------------------------------------------- */

struct ed_tls_params {
  const char *cert; /* PEM: leaf first, then any intermediates */
  const char *key;  /* PEM private key; must be mode 0600 or stricter */
  /* Also accept a key that root owns and its group may read (0640, 0440),
   * as a Kubernetes Secret volume with fsGroup mounts it. Off: refused. */
  int allow_group_readable_key;
  const char *ca;   /* PEM bundle of trusted client CAs (and the server's) */
  const char *crl;  /* PEM CRL signed by a CA in |ca|; NULL for none */
  uint16_t tls_min; /* TLS1_3_VERSION (default when 0) or TLS1_2_VERSION */
  /* Allow-lists (borrowed during ed_tls_snapshot_new; copied). When any
   * is non-empty, a client must match one entry of one of them. */
  const char *const *allow_cn;
  size_t num_allow_cn;
  const char *const *allow_san; /* DNS, URI or email SAN, exact */
  size_t num_allow_san;
  const char *const *allow_sha256; /* hex SHA-256 of the client cert DER */
  size_t num_allow_sha256;
  struct ed_tls_keyring *keyring; /* required; the snapshot takes a ref */
  /* Seconds a ticket stays usable (default 2 * 3600 when 0). */
  uint32_t ticket_lifetime_s;
};

struct ed_tls_snapshot;

/* ed_tls_snapshot_new loads and checks the files in |p|: key file mode
 * (ED_E_INSECURE), readable files (ED_E_NOENT, ED_E_PERM, ED_E_IO), PEM
 * contents (ED_E_PARSE), key matches cert (ED_E_MISMATCH), cert chains to
 * the CA (ED_E_VERIFY), cert within validity (ED_E_EXPIRED), CRL parses
 * (ED_E_PARSE) and is signed by the CA (ED_E_VERIFY). On success sets
 * |*out| (one reference) and returns 0; on failure writes a one-line
 * message naming the file to |err| and returns the code. */
int ed_tls_snapshot_new(struct ed_tls_snapshot **out,
                        const struct ed_tls_params *p, char *err,
                        size_t err_len);
void ed_tls_snapshot_ref(struct ed_tls_snapshot *s);
/* ed_tls_snapshot_unref drops a reference; NULL is fine. */
void ed_tls_snapshot_unref(struct ed_tls_snapshot *s);

/* ed_tls_snapshot_ctx returns the server SSL_CTX (borrowed). */
SSL_CTX *ed_tls_snapshot_ctx(const struct ed_tls_snapshot *s);

/* ed_tls_snapshot_id returns a number unique to this snapshot in this
 * process (1, 2, ...), for logs. */
uint64_t ed_tls_snapshot_id(const struct ed_tls_snapshot *s);

struct ed_tls_cert_info {
  char subject[256]; /* RFC 2253 ("CN=server") */
  char issuer[256];
  char serial[72];               /* uppercase hex */
  char sans[512];                /* "DNS:localhost,IP:127.0.0.1" */
  int64_t not_before, not_after; /* Unix seconds */
  char sha256[65];               /* lowercase hex of the DER */
};

struct ed_tls_summary {
  struct ed_tls_cert_info server; /* the leaf we serve */
  struct ed_tls_cert_info ca;     /* the first CA in the bundle */
  size_t num_ca;                  /* CAs in the bundle */
  int has_crl;
  int64_t crl_last_update, crl_next_update; /* Unix seconds; 0 if none */
  size_t crl_entries;
  uint64_t snapshot_id;
  uint64_t loaded_wall_ns; /* when the snapshot was built */
};

/* ed_tls_snapshot_summary copies the summary computed at build time. */
void ed_tls_snapshot_summary(const struct ed_tls_snapshot *s,
                             struct ed_tls_summary *out);

/* ---- the client's identity ------------------------------------------------
 */

/* What a verified client certificate said; built during the handshake (or
 * restored from a ticket). Immutable once the handshake is done. */
struct ed_tls_peer {
  char cn[128];
  char sans[512]; /* "DNS:a,URI:b,email:c,IP:d" */
  char serial[72];
  uint8_t sha256[32];
  int64_t not_before, not_after;
};

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

/* After a complete handshake: */
/* ed_tls_conn_peer returns the client's identity (server side; borrowed
 * from |c|), or NULL. */
const struct ed_tls_peer *ed_tls_conn_peer(const struct ed_tls_conn *c);
int ed_tls_conn_resumed(const struct ed_tls_conn *c);
/* ed_tls_conn_suite returns the negotiated suite (tls_types.h). */
enum ed_suite ed_tls_conn_suite(const struct ed_tls_conn *c);
/* ed_tls_conn_version returns "TLSv1.3" or "TLSv1.2" (static). */
const char *ed_tls_conn_version(const struct ed_tls_conn *c);
/* ed_tls_conn_ssl returns the SSL object (borrowed; tests and client). */
SSL *ed_tls_conn_ssl(const struct ed_tls_conn *c);

/* ---- helpers ------------------------------------------------------------- */

/* ed_tls_hex writes |len| bytes as lowercase hex into |out| (2*len+1). */
void ed_tls_hex(char *out, const uint8_t *in, size_t len);

#endif /* ED_TLS_H */

/* internal/tls — session tickets. Keys rotate in a ring that outlives the
 * snapshots (or come from a --ticket-keys file, tls_ticket_keys.c, and
 * then belong to the snapshot built with them); a ticket carries the client's
 * identity and what the whole chain's re-check needs (each certificate's serial
 * and issuing CA below the root, the chain's validity window), so a resumption
 * is re-checked with ed_tls_peer_recheck - CA, validity, every CRL, depth,
 * allow-list - without any certificate.
 *
 * Ticket: key_id[16] | nonce[12] | AES-128-GCM(identity | session) | tag.
 * Identity: tls_identity.c (ed_tls_identity_encode), or one byte 0 when it
 * would pass IDENTITY_MAX: such a ticket never resumes (full handshakes
 * for that client), rather than failing the handshake that issues it. */
#include <openssl/aead.h>
#include <openssl/bytestring.h>
#include <openssl/digest.h>
#include <openssl/err.h>
#include <openssl/hkdf.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal/tls/tls_internal.h"

#define KEY_ID_LEN 16
#define NONCE_LEN 12
#define TAG_LEN 16
#define HEADER_LEN (KEY_ID_LEN + NONCE_LEN)
#define IDENTITY_MAX 8192 /* well inside a ticket's 64 KiB */
#define NO_IDENTITY 0
#define AEAD_KEY_LEN 16 /* AES-128-GCM */

struct tkey {
  uint8_t id[KEY_ID_LEN];
  EVP_AEAD_CTX aead;
  uint64_t born_ns;
};

/* The ring: keys[0] seals, every key opens. In memory (the default) it
 * holds the current key and the one before it and rotates every
 * |period_ns|; from a --ticket-keys file (tls_ticket_keys.c) it holds that
 * file's keys, in its order, and never changes (period_ns 0): a reload
 * builds another ring with the snapshot. */
struct ed_tls_keyring {
  _Atomic long refs;
  pthread_rwlock_t lock;
  uint64_t period_ns;
  int from_file;
  struct tkey *keys[ED_TLS_TICKET_KEYS_MAX];
  size_t num;
};

static struct tkey *tkey_with(const uint8_t id[KEY_ID_LEN],
                              const uint8_t secret[AEAD_KEY_LEN]) {
  struct tkey *k = ed_calloc(1, sizeof(*k));
  memcpy(k->id, id, KEY_ID_LEN);
  if (!EVP_AEAD_CTX_init(&k->aead, EVP_aead_aes_128_gcm(), secret, AEAD_KEY_LEN,
                         TAG_LEN, NULL)) {
    abort(); /* cannot happen with a valid fixed-size key */
  }
  k->born_ns = ed_now_ns();
  return k;
}

static struct tkey *tkey_new(void) {
  uint8_t id[KEY_ID_LEN], secret[AEAD_KEY_LEN];
  RAND_bytes(id, sizeof(id));
  RAND_bytes(secret, sizeof(secret));
  struct tkey *k = tkey_with(id, secret);
  OPENSSL_cleanse(secret, sizeof(secret));
  return k;
}

/* tkey_derive makes the key a file's secret stands for: its id and its
 * AES key are HKDF-SHA256 outputs of the secret under two labels, so every
 * replica derives the same ones and the id, which every ticket carries in
 * the clear, says nothing about the AES key. */
static struct tkey *tkey_derive(
    const uint8_t secret[ED_TLS_TICKET_SECRET_LEN]) {
  static const uint8_t salt[] = "echod ticket key v1";
  static const uint8_t id_info[] = "key id", aes_info[] = "aes-128-gcm";
  uint8_t id[KEY_ID_LEN], key[AEAD_KEY_LEN];
  if (!HKDF(id, sizeof(id), EVP_sha256(), secret, ED_TLS_TICKET_SECRET_LEN,
            salt, sizeof(salt) - 1, id_info, sizeof(id_info) - 1) ||
      !HKDF(key, sizeof(key), EVP_sha256(), secret, ED_TLS_TICKET_SECRET_LEN,
            salt, sizeof(salt) - 1, aes_info, sizeof(aes_info) - 1)) {
    abort(); /* cannot happen: fixed sizes, SHA-256 */
  }
  struct tkey *k = tkey_with(id, key);
  OPENSSL_cleanse(key, sizeof(key));
  return k;
}

static void tkey_free(struct tkey *k) {
  if (!k) return;
  EVP_AEAD_CTX_cleanup(&k->aead);
  free(k);
}

static struct ed_tls_keyring *ring_alloc(void) {
  struct ed_tls_keyring *kr = ed_calloc(1, sizeof(*kr));
  atomic_init(&kr->refs, 1);
  pthread_rwlock_init(&kr->lock, NULL);
  return kr;
}

struct ed_tls_keyring *ed_tls_keyring_new(uint32_t rotate_s) {
  struct ed_tls_keyring *kr = ring_alloc();
  kr->period_ns = (uint64_t)(rotate_s ? rotate_s : 3600) * 1000000000ull;
  kr->keys[0] = tkey_new();
  kr->num = 1;
  return kr;
}

struct ed_tls_keyring *ed_tls_keyring_from_secrets(
    const uint8_t (*secrets)[ED_TLS_TICKET_SECRET_LEN], size_t num) {
  if (num == 0 || num > ED_TLS_TICKET_KEYS_MAX) return NULL;
  struct ed_tls_keyring *kr = ring_alloc();
  kr->from_file = 1;
  for (size_t i = 0; i < num; i++) kr->keys[i] = tkey_derive(secrets[i]);
  kr->num = num;
  return kr;
}

void ed_tls_keyring_ref(struct ed_tls_keyring *kr) {
  atomic_fetch_add_explicit(&kr->refs, 1, memory_order_relaxed);
}

void ed_tls_keyring_unref(struct ed_tls_keyring *kr) {
  if (!kr || atomic_fetch_sub_explicit(&kr->refs, 1, memory_order_acq_rel) != 1)
    return;
  for (size_t i = 0; i < kr->num; i++) tkey_free(kr->keys[i]);
  pthread_rwlock_destroy(&kr->lock);
  free(kr);
}

static void rotate_locked(struct ed_tls_keyring *kr) {
  if (kr->num == 2) tkey_free(kr->keys[1]);
  kr->keys[1] = kr->keys[0];
  kr->keys[0] = tkey_new();
  kr->num = 2;
}

void ed_tls_keyring_rotate(struct ed_tls_keyring *kr) {
  if (kr->from_file) return; /* a file's keys change with the file */
  pthread_rwlock_wrlock(&kr->lock);
  rotate_locked(kr);
  pthread_rwlock_unlock(&kr->lock);
}

/* lock_fresh takes the read lock, rotating first when the key is due. */
static void lock_fresh(struct ed_tls_keyring *kr) {
  pthread_rwlock_rdlock(&kr->lock);
  if (!kr->period_ns || ed_now_ns() - kr->keys[0]->born_ns < kr->period_ns)
    return;
  pthread_rwlock_unlock(&kr->lock);
  pthread_rwlock_wrlock(&kr->lock);
  if (ed_now_ns() - kr->keys[0]->born_ns >= kr->period_ns) rotate_locked(kr);
  pthread_rwlock_unlock(&kr->lock);
  pthread_rwlock_rdlock(&kr->lock);
}

void ed_tls_keyring_info(struct ed_tls_keyring *kr,
                         struct ed_tls_ticket_info *out) {
  memset(out, 0, sizeof(*out));
  lock_fresh(kr);
  out->from_file = kr->from_file;
  out->num_keys = kr->num;
  out->rotate_s = kr->period_ns / 1000000000ull;
  ed_tls_hex(out->issuing_id, kr->keys[0]->id, ED_TLS_TICKET_ID_SHOWN);
  pthread_rwlock_unlock(&kr->lock);
}

/* ---- identity ------------------------------------------------------------
 */

static int ticket_identity_fits(const struct ed_tls_peer *p) {
  return ed_tls_identity_encoded_len(p) <= IDENTITY_MAX;
}

static int write_identity(CBB *cbb, const struct ed_tls_peer *p) {
  if (!ticket_identity_fits(p)) return CBB_add_u8(cbb, NO_IDENTITY);
  return ed_tls_identity_encode(cbb, p);
}

/* ---- the SSL_TICKET_AEAD_METHOD ---------------------------------------- */

/* conn_keyring: the keys of the snapshot that decides on the client - the
 * newest one when a reload came during the handshake - so a key just
 * added to --ticket-keys opens tickets at once. */
static struct ed_tls_keyring *conn_keyring(const struct ed_tls_conn *c) {
  return (c->trust ? c->trust : c->snap)->keyring;
}

/* ticket_overhead is exact per connection: a ticket grows by what this
 * client's identity takes. */
static size_t ticket_overhead(SSL *ssl) {
  struct ed_tls_conn *c = SSL_get_app_data(ssl);
  size_t id = 1;
  if (c && c->peer && ticket_identity_fits(c->peer))
    id = ed_tls_identity_encoded_len(c->peer);
  return HEADER_LEN + TAG_LEN + id;
}

static int ticket_seal(SSL *ssl, uint8_t *out, size_t *out_len,
                       size_t max_out_len, const uint8_t *in, size_t in_len) {
  struct ed_tls_conn *c = SSL_get_app_data(ssl);
  if (!c || !c->snap || !c->peer) return 0;
  CBB cbb;
  uint8_t *pt = NULL;
  size_t pt_len = 0;
  int ok = CBB_init(&cbb, in_len + 256) && write_identity(&cbb, c->peer) &&
           CBB_add_bytes(&cbb, in, in_len) && CBB_finish(&cbb, &pt, &pt_len);
  if (!ok) {
    CBB_cleanup(&cbb);
    return 0;
  }
  struct ed_tls_keyring *kr = conn_keyring(c);
  size_t n = 0;
  ok = max_out_len >= HEADER_LEN + pt_len + TAG_LEN;
  lock_fresh(kr);
  if (ok) {
    memcpy(out, kr->keys[0]->id, KEY_ID_LEN);
    RAND_bytes(out + KEY_ID_LEN, NONCE_LEN);
    ok = EVP_AEAD_CTX_seal(&kr->keys[0]->aead, out + HEADER_LEN, &n,
                           max_out_len - HEADER_LEN, out + KEY_ID_LEN,
                           NONCE_LEN, pt, pt_len, out, KEY_ID_LEN);
  }
  pthread_rwlock_unlock(&kr->lock);
  OPENSSL_free(pt);
  *out_len = HEADER_LEN + n;
  return ok;
}

/* open_with decrypts |in| with the matching key into |pt| (in_len bytes).
 * Returns the plaintext length, or 0 when no key matches / it is forged. */
static size_t open_with(struct ed_tls_keyring *kr, uint8_t *pt,
                        const uint8_t *in, size_t in_len) {
  size_t n = 0;
  lock_fresh(kr);
  struct tkey *k = NULL;
  for (size_t i = 0; !k && i < kr->num; i++)
    if (!memcmp(in, kr->keys[i]->id, KEY_ID_LEN)) k = kr->keys[i];
  if (k && !EVP_AEAD_CTX_open(&k->aead, pt, &n, in_len, in + KEY_ID_LEN,
                              NONCE_LEN, in + HEADER_LEN, in_len - HEADER_LEN,
                              in, KEY_ID_LEN)) {
    n = 0;
  }
  pthread_rwlock_unlock(&kr->lock);
  ERR_clear_error();
  return n;
}

/* trusted decodes the identity at the front of |cbs| and re-checks it
 * against the connection's snapshot. Returns it (one reference) or NULL. */
static struct ed_tls_peer *trusted(struct ed_tls_conn *c, CBS *cbs) {
  struct ed_tls_peer *p = ed_tls_identity_decode(cbs);
  enum ed_hs_reason reason;
  const char *detail;
  if (p && ed_tls_peer_recheck(c->trust, p, (int64_t)time(NULL), &reason,
                               &detail) != 0) {
    ED_DEBUG("ticket ignored", "reason=%s serial=%s", ed_hs_reason_name(reason),
             ed_tls_peer_serial(p));
    ed_tls_peer_unref(p);
    p = NULL;
  }
  return p;
}

static enum ssl_ticket_aead_result_t ticket_open(SSL *ssl, uint8_t *out,
                                                 size_t *out_len,
                                                 size_t max_out_len,
                                                 const uint8_t *in,
                                                 size_t in_len) {
  struct ed_tls_conn *c = SSL_get_app_data(ssl);
  if (!c || !c->snap || in_len < HEADER_LEN + TAG_LEN)
    return ssl_ticket_aead_ignore_ticket;
  if (ed_tls_refuse_on_io_thread(c, "ticket")) return ssl_ticket_aead_error;
  uint8_t *pt = ed_malloc(in_len);
  size_t pt_len = open_with(conn_keyring(c), pt, in, in_len);
  CBS cbs;
  CBS_init(&cbs, pt, pt_len);
  enum ssl_ticket_aead_result_t r = ssl_ticket_aead_ignore_ticket;
  struct ed_tls_peer *p = pt_len ? trusted(c, &cbs) : NULL;
  if (p && CBS_len(&cbs) <= max_out_len) {
    memcpy(out, CBS_data(&cbs), CBS_len(&cbs));
    *out_len = CBS_len(&cbs);
    ed_tls_peer_unref(c->peer);
    c->peer = p;
    p = NULL;
    r = ssl_ticket_aead_success;
  }
  ed_tls_peer_unref(p);
  free(pt);
  return r;
}

const SSL_TICKET_AEAD_METHOD ed_tls_ticket_method = {
    ticket_overhead,
    ticket_seal,
    ticket_open,
};

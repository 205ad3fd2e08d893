/* internal/tls — session tickets. Keys rotate in a ring that outlives the
 * snapshots; a ticket carries the client's identity and what the whole
 * chain's re-check needs (each certificate's serial and issuing CA below
 * the root, the chain's validity window), so a resumption is re-checked
 * with ed_tls_peer_recheck - CA, validity, every CRL, depth, allow-list -
 * without any certificate.
 *
 * Ticket: key_id[16] | nonce[12] | AES-128-GCM(identity | session) | tag.
 * Identity: tls_identity.c (ed_tls_identity_encode), or one byte 0 when it
 * would pass IDENTITY_MAX: such a ticket never resumes (full handshakes
 * for that client), rather than failing the handshake that issues it. */
#include <openssl/aead.h>
#include <openssl/bytestring.h>
#include <openssl/err.h>
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

struct tkey {
  uint8_t id[KEY_ID_LEN];
  EVP_AEAD_CTX aead;
  uint64_t born_ns;
};

struct ed_tls_keyring {
  _Atomic long refs;
  pthread_rwlock_t lock;
  uint64_t period_ns;
  struct tkey *cur, *prev;
};

static struct tkey *tkey_new(void) {
  struct tkey *k = ed_calloc(1, sizeof(*k));
  uint8_t secret[16];
  RAND_bytes(k->id, sizeof(k->id));
  RAND_bytes(secret, sizeof(secret));
  if (!EVP_AEAD_CTX_init(&k->aead, EVP_aead_aes_128_gcm(), secret,
                         sizeof(secret), TAG_LEN, NULL)) {
    abort(); /* cannot happen with a valid fixed-size key */
  }
  OPENSSL_cleanse(secret, sizeof(secret));
  k->born_ns = ed_now_ns();
  return k;
}

static void tkey_free(struct tkey *k) {
  if (!k) return;
  EVP_AEAD_CTX_cleanup(&k->aead);
  free(k);
}

struct ed_tls_keyring *ed_tls_keyring_new(uint32_t rotate_s) {
  struct ed_tls_keyring *kr = ed_calloc(1, sizeof(*kr));
  atomic_init(&kr->refs, 1);
  pthread_rwlock_init(&kr->lock, NULL);
  kr->period_ns = (uint64_t)(rotate_s ? rotate_s : 3600) * 1000000000ull;
  kr->cur = tkey_new();
  return kr;
}

void ed_tls_keyring_ref(struct ed_tls_keyring *kr) {
  atomic_fetch_add_explicit(&kr->refs, 1, memory_order_relaxed);
}

void ed_tls_keyring_unref(struct ed_tls_keyring *kr) {
  if (!kr || atomic_fetch_sub_explicit(&kr->refs, 1, memory_order_acq_rel) != 1)
    return;
  tkey_free(kr->cur);
  tkey_free(kr->prev);
  pthread_rwlock_destroy(&kr->lock);
  free(kr);
}

static void rotate_locked(struct ed_tls_keyring *kr) {
  tkey_free(kr->prev);
  kr->prev = kr->cur;
  kr->cur = tkey_new();
}

void ed_tls_keyring_rotate(struct ed_tls_keyring *kr) {
  pthread_rwlock_wrlock(&kr->lock);
  rotate_locked(kr);
  pthread_rwlock_unlock(&kr->lock);
}

/* lock_fresh takes the read lock, rotating first when the key is due. */
static void lock_fresh(struct ed_tls_keyring *kr) {
  pthread_rwlock_rdlock(&kr->lock);
  if (ed_now_ns() - kr->cur->born_ns < kr->period_ns) return;
  pthread_rwlock_unlock(&kr->lock);
  pthread_rwlock_wrlock(&kr->lock);
  if (ed_now_ns() - kr->cur->born_ns >= kr->period_ns) rotate_locked(kr);
  pthread_rwlock_unlock(&kr->lock);
  pthread_rwlock_rdlock(&kr->lock);
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
  struct ed_tls_keyring *kr = c->snap->keyring;
  size_t n = 0;
  ok = max_out_len >= HEADER_LEN + pt_len + TAG_LEN;
  lock_fresh(kr);
  if (ok) {
    memcpy(out, kr->cur->id, KEY_ID_LEN);
    RAND_bytes(out + KEY_ID_LEN, NONCE_LEN);
    ok = EVP_AEAD_CTX_seal(&kr->cur->aead, out + HEADER_LEN, &n,
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
  if (!memcmp(in, kr->cur->id, KEY_ID_LEN)) k = kr->cur;
  if (kr->prev && !memcmp(in, kr->prev->id, KEY_ID_LEN)) k = kr->prev;
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
  size_t pt_len = open_with(c->snap->keyring, pt, in, in_len);
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

/* internal/tls — session tickets. Keys rotate in a ring that outlives the
 * snapshots; a ticket carries the client's identity so that a resumption
 * is re-checked against the current CA, CRL and allow-list without
 * parsing any certificate.
 *
 * Ticket: key_id[16] | nonce[12] | AES-128-GCM(identity | session) | tag.
 * Identity: ver=1 | ca_fp[32] | not_before i64 | not_after i64 | sha256[32]
 *           | u8 len cn | u16 len sans | u8 len serial (each then bytes). */
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
#define IDENTITY_MAX (1 + 32 + 8 + 8 + 32 + 1 + 127 + 2 + 511 + 1 + 71)

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

static int add_str(CBB *cbb, const char *s, int wide) {
  size_t n = strlen(s);
  CBB child;
  int ok = wide ? CBB_add_u16_length_prefixed(cbb, &child)
                : CBB_add_u8_length_prefixed(cbb, &child);
  return ok && CBB_add_bytes(&child, (const uint8_t *)s, n) && CBB_flush(cbb);
}

static int write_identity(CBB *cbb, const struct ed_tls_snapshot *s,
                          const struct ed_tls_peer *p) {
  return CBB_add_u8(cbb, 1) && CBB_add_bytes(cbb, s->ca_fp, 32) &&
         CBB_add_u64(cbb, (uint64_t)p->not_before) &&
         CBB_add_u64(cbb, (uint64_t)p->not_after) &&
         CBB_add_bytes(cbb, p->sha256, 32) && add_str(cbb, p->cn, 0) &&
         add_str(cbb, p->sans, 1) && add_str(cbb, p->serial, 0);
}

static int get_str(CBS *cbs, char *out, size_t out_len, int wide) {
  CBS v;
  int ok = wide ? CBS_get_u16_length_prefixed(cbs, &v)
                : CBS_get_u8_length_prefixed(cbs, &v);
  if (!ok || CBS_len(&v) >= out_len) return 0;
  memcpy(out, CBS_data(&v), CBS_len(&v));
  out[CBS_len(&v)] = '\0';
  return 1;
}

static int read_identity(CBS *cbs, struct ed_tls_peer *p, uint8_t ca_fp[32]) {
  uint8_t ver;
  uint64_t nb, na;
  if (!CBS_get_u8(cbs, &ver) || ver != 1 || !CBS_copy_bytes(cbs, ca_fp, 32) ||
      !CBS_get_u64(cbs, &nb) || !CBS_get_u64(cbs, &na) ||
      !CBS_copy_bytes(cbs, p->sha256, 32) ||
      !get_str(cbs, p->cn, sizeof(p->cn), 0) ||
      !get_str(cbs, p->sans, sizeof(p->sans), 1) ||
      !get_str(cbs, p->serial, sizeof(p->serial), 0)) {
    return 0;
  }
  p->not_before = (int64_t)nb;
  p->not_after = (int64_t)na;
  return 1;
}

/* still_trusted re-checks a ticket's identity against |s| (the snapshot
 * current when the connection was accepted). */
static const char *still_trusted(const struct ed_tls_snapshot *s,
                                 const struct ed_tls_peer *p,
                                 const uint8_t ca_fp[32]) {
  int64_t now = (int64_t)time(NULL);
  if (memcmp(ca_fp, s->ca_fp, 32) != 0) return "ca_changed";
  if (now < p->not_before || now > p->not_after) return "expired";
  if (ed_tls_is_revoked(s, p->serial)) return "revoked";
  if (!ed_tls_acl_allows(s, p)) return "acl";
  return NULL;
}

/* ---- the SSL_TICKET_AEAD_METHOD ---------------------------------------- */

static size_t ticket_overhead(SSL *ssl) {
  (void)ssl;
  return HEADER_LEN + TAG_LEN + IDENTITY_MAX;
}

static int ticket_seal(SSL *ssl, uint8_t *out, size_t *out_len,
                       size_t max_out_len, const uint8_t *in, size_t in_len) {
  struct ed_tls_conn *c = SSL_get_app_data(ssl);
  if (!c || !c->snap || !c->peer) return 0;
  CBB cbb;
  uint8_t *pt = NULL;
  size_t pt_len = 0;
  int ok = CBB_init(&cbb, in_len + 256) &&
           write_identity(&cbb, c->snap, c->peer) &&
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
  struct ed_tls_peer *p = ed_calloc(1, sizeof(*p));
  uint8_t ca_fp[32];
  CBS cbs;
  CBS_init(&cbs, pt, pt_len);
  enum ssl_ticket_aead_result_t r = ssl_ticket_aead_ignore_ticket;
  if (pt_len && read_identity(&cbs, p, ca_fp) && CBS_len(&cbs) <= max_out_len) {
    const char *why = still_trusted(c->snap, p, ca_fp);
    if (why) {
      ED_DEBUG("ticket ignored", "reason=%s serial=%s", why, p->serial);
    } else {
      memcpy(out, CBS_data(&cbs), CBS_len(&cbs));
      *out_len = CBS_len(&cbs);
      free(c->peer);
      c->peer = p;
      p = NULL;
      r = ssl_ticket_aead_success;
    }
  }
  free(p);
  free(pt);
  return r;
}

const SSL_TICKET_AEAD_METHOD ed_tls_ticket_method = {
    ticket_overhead,
    ticket_seal,
    ticket_open,
};

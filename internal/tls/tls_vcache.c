/* internal/tls — a small cache of client chains that verified, one per
 * snapshot. Verifying a chain (parse it, build it to the CA, check the
 * CA's ECDSA signature, EKU, CRL) gives the same answer every time for the
 * same bytes under the same snapshot, except for time: so a chain that
 * verified is remembered by the SHA-256 of its DER, with its identity
 * (which carries the validity window of the whole verified chain), until
 * a certificate of the bundle begins (the chain's path may then change:
 * a re-issue valid longer takes over, with its constraints), and the
 * next full handshake of the same client skips straight to the re-check
 * (revocation, depth, allow-list: cheap lookups, run every time) and its
 * CertificateVerify (which proves key possession and is never cached). A reload
 * builds a new snapshot and so starts with an empty cache: a new CRL or CA
 * applies at once. Used on the handshake pool; one mutex, held for a reference.
 */
#include <openssl/sha.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal/tls/tls_internal.h"

#define VCACHE_SLOTS 64 /* direct-mapped; a collision replaces */

struct vslot {
  uint8_t key[32];
  struct ed_tls_peer *peer; /* NULL: empty; one reference */
  int64_t until;            /* a bundle certificate begins: maybe a new path */
};

struct ed_tls_vcache {
  pthread_mutex_t mu;
  struct vslot *slots; /* allocated on the first put */
};

struct ed_tls_vcache *ed_tls_vcache_new(void) {
  struct ed_tls_vcache *vc = ed_calloc(1, sizeof(*vc));
  pthread_mutex_init(&vc->mu, NULL);
  return vc;
}

void ed_tls_vcache_free(struct ed_tls_vcache *vc) {
  if (!vc) return;
  pthread_mutex_destroy(&vc->mu);
  for (size_t i = 0; vc->slots && i < VCACHE_SLOTS; i++)
    ed_tls_peer_unref(vc->slots[i].peer);
  free(vc->slots);
  free(vc);
}

void ed_tls_vcache_key(uint8_t out[32], const STACK_OF(CRYPTO_BUFFER) * bufs) {
  SHA256_CTX sha;
  SHA256_Init(&sha);
  for (size_t i = 0; i < sk_CRYPTO_BUFFER_num(bufs); i++) {
    const CRYPTO_BUFFER *b = sk_CRYPTO_BUFFER_value(bufs, i);
    uint8_t len[4];
    size_t n = CRYPTO_BUFFER_len(b);
    len[0] = (uint8_t)(n >> 24), len[1] = (uint8_t)(n >> 16);
    len[2] = (uint8_t)(n >> 8), len[3] = (uint8_t)n;
    SHA256_Update(&sha, len, sizeof(len));
    SHA256_Update(&sha, CRYPTO_BUFFER_data(b), n);
  }
  SHA256_Final(out, &sha);
}

struct ed_tls_peer *ed_tls_vcache_get(struct ed_tls_vcache *vc,
                                      const uint8_t key[32], int64_t now) {
  struct ed_tls_peer *hit = NULL;
  pthread_mutex_lock(&vc->mu);
  struct vslot *s = vc->slots ? &vc->slots[key[0] % VCACHE_SLOTS] : NULL;
  if (s && s->peer && !memcmp(s->key, key, 32) &&
      ed_tls_valid_at(s->peer->not_before, s->peer->not_after, now) &&
      now < s->until) {
    hit = s->peer;
    ed_tls_peer_ref(hit);
  }
  pthread_mutex_unlock(&vc->mu);
  return hit;
}

void ed_tls_vcache_put(struct ed_tls_vcache *vc, const uint8_t key[32],
                       struct ed_tls_peer *p, int64_t until) {
  ed_tls_peer_ref(p);
  pthread_mutex_lock(&vc->mu);
  if (!vc->slots) vc->slots = ed_calloc(VCACHE_SLOTS, sizeof(*vc->slots));
  struct vslot *s = &vc->slots[key[0] % VCACHE_SLOTS];
  struct ed_tls_peer *old = s->peer;
  memcpy(s->key, key, 32);
  s->peer = p;
  s->until = until;
  pthread_mutex_unlock(&vc->mu);
  ed_tls_peer_unref(old);
}

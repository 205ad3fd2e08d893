/* What the identity fuzzers (identity_fuzz.c, chain_fuzz.c) check alike.
 * Header-only: each fuzzer is one program built by
 * tools/fuzz/run_fuzzer.sh from its own sources. */
#ifndef ED_TLS_FUZZ_IDENTITY_H
#define ED_TLS_FUZZ_IDENTITY_H

#include <stdlib.h>
#include <string.h>

#include "internal/tls/tls_internal.h"

/* need aborts (a finding) unless |ok|. */
static inline void need(int ok) {
  if (!ok) abort();
}

/* round_trip encodes |p| as a ticket carries it and decodes it back:
 * the length promised, all of it read, and the same CN, SANs, serial and
 * hash. Returns the decoded identity (the caller unrefs it). */
static inline struct ed_tls_peer *round_trip(const struct ed_tls_peer *p) {
  CBB cbb;
  uint8_t *buf = NULL;
  size_t len = 0;
  need(CBB_init(&cbb, 256) && ed_tls_identity_encode(&cbb, p) &&
       CBB_finish(&cbb, &buf, &len));
  need(len == ed_tls_identity_encoded_len(p));
  CBS cbs;
  CBS_init(&cbs, buf, len);
  struct ed_tls_peer *q = ed_tls_identity_decode(&cbs);
  need(q != NULL && CBS_len(&cbs) == 0);
  OPENSSL_free(buf);
  size_t a, b;
  const char *ca = ed_tls_peer_cn(p, &a), *cb = ed_tls_peer_cn(q, &b);
  need(a == b && !ca == !cb && (!ca || memcmp(ca, cb, a) == 0));
  need(ed_tls_peer_num_sans(p) == ed_tls_peer_num_sans(q));
  for (size_t i = 0; i < ed_tls_peer_num_sans(p); i++) {
    const char *v, *w;
    need(ed_tls_peer_san(p, i, &v, &a) == ed_tls_peer_san(q, i, &w, &b));
    need(a == b && memcmp(v, w, a) == 0);
  }
  need(strcmp(ed_tls_peer_serial(p), ed_tls_peer_serial(q)) == 0);
  need(memcmp(ed_tls_peer_sha256(p), ed_tls_peer_sha256(q), 32) == 0);
  return q;
}

#endif /* ED_TLS_FUZZ_IDENTITY_H */

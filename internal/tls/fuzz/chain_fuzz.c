/* libFuzzer target: a client's certificate chain through echod's own
 * decision on it (ed_tls_verify_certs, what ed_tls_verify_client runs once
 * the handshake has the chain: verify_presented -> verify_full ->
 * X509_verify_cert with the snapshot's issuer lookup, check_issuers,
 * identify, mark_sent_issuers, then ed_tls_peer_recheck), against a few
 * snapshots of one hostile CA bundle built once at start.
 *
 * Input: one byte choosing the snapshot (low two bits), then up to
 * MAX_CERTS certificates, each a 2-byte big-endian length and that many
 * bytes of DER, the leaf first; a length past the end takes what is left.
 * A length from 0xFF00 up is no length but certificate number (its low
 * byte, modulo their count) of the fixture's pool.pem, with no bytes
 * after it: so the fuzzer can put together chains of certificates whose
 * signatures hold (reordered, repeated, mixed from colliding CAs), which
 * flipping bytes of DER never gives.
 *
 * The bundle comes from $ECHOD_FUZZ_FIXTURE (written with the seeds by
 * tests/identity/chain_fuzz_seeds.py): server.pem/server.key, bundle.pem,
 * bundle0.pem (bundle.pem plus a self-signed client certificate),
 * bundle2.pem (bundle.pem plus a re-issue of its intermediate), crl.pem,
 * pool.pem. Snapshots: 0 bundle0.pem; 1 bundle.pem with crl.pem,
 * --crl-expired refuse; 2 the same with --max-chain-depth 0 and an
 * allow-list; 3 bundle2.pem, crl.pem.
 *
 * Aborts when a promise breaks:
 * - accepted: an identity (c->peer) with at least one link, no reason;
 *   the re-check of that identity agrees; no bundle CA of its chain has
 *   more intermediates below it than its pathLenConstraint allows; its
 *   ticket encoding decodes to the same identity, which the re-check
 *   accepts as well; the same chain once more (from the chain cache) is
 *   accepted as the same identity;
 * - refused: a reason, a detail, the alert ed_tls_alert_for gives it, no
 *   refusal without c->seen (what was presented, cut to
 *   ED_TLS_PRESENTED_MAX). */
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pool.h>
#include <openssl/x509v3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal/tls/fuzz/fuzz_identity.h"
#include "internal/tls/tls_internal.h"

#define MAX_CERTS 12
#define NUM_SNAPS 4

static struct ed_tls_snapshot *snaps[NUM_SNAPS];
static struct ed_tls_keyring *keyring;
static CRYPTO_BUFFER *pool[256];
static size_t pool_len;
static int verbose; /* $ECHOD_FUZZ_VERBOSE: one line per input, to stderr */

static const char *fixture(char *buf, size_t len, const char *name) {
  const char *dir = getenv("ECHOD_FUZZ_FIXTURE");
  if (!dir) {
    fprintf(stderr,
            "chain_fuzz: set ECHOD_FUZZ_FIXTURE to the directory "
            "tests/identity/chain_fuzz_seeds.py SEEDS FIXTURE wrote\n");
    exit(1);
  }
  snprintf(buf, len, "%s/%s", dir, name);
  return buf;
}

static struct ed_tls_snapshot *snapshot(const char *bundle, int crl,
                                        int depth0_allow) {
  char cert[4096], key[4096], ca[4096], crlf[4096], err[512];
  const char *crls[] = {fixture(crlf, sizeof(crlf), "crl.pem")};
  const char *allow_cn[] = {"alice", "carol"};
  struct ed_tls_params p = {
      .cert = fixture(cert, sizeof(cert), "server.pem"),
      .key = fixture(key, sizeof(key), "server.key"),
      .ca = fixture(ca, sizeof(ca), bundle),
      .crls = crl ? crls : NULL,
      .num_crls = crl ? 1 : 0,
      .crl_expired_refuse = crl,
      .limit_chain_depth = depth0_allow,
      .max_chain_depth = 0,
      .allow_cn = depth0_allow ? allow_cn : NULL,
      .num_allow_cn = depth0_allow ? 2 : 0,
      .keyring = keyring,
  };
  struct ed_tls_snapshot *s = NULL;
  if (ed_tls_snapshot_new(&s, &p, err, sizeof(err)) != 0) {
    fprintf(stderr, "chain_fuzz: snapshot of %s: %s\n", bundle, err);
    exit(1);
  }
  return s;
}

static void load_pool(void) {
  char path[4096];
  FILE *f = fopen(fixture(path, sizeof(path), "pool.pem"), "r");
  X509 *x;
  while (f && pool_len < 256 &&
         (x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
    uint8_t *der = NULL;
    int len = i2d_X509(x, &der);
    need(len > 0);
    pool[pool_len++] = CRYPTO_BUFFER_new(der, (size_t)len, NULL);
    OPENSSL_free(der);
    X509_free(x);
  }
  if (f) fclose(f);
  ERR_clear_error();
  if (!pool_len) {
    fprintf(stderr, "chain_fuzz: no certificate in %s\n", path);
    exit(1);
  }
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  ed_log_set_level(ED_LOG_ERROR);
  verbose = getenv("ECHOD_FUZZ_VERBOSE") != NULL;
  keyring = ed_tls_keyring_new(3600);
  load_pool();
  snaps[0] = snapshot("bundle0.pem", 0, 0);
  snaps[1] = snapshot("bundle.pem", 1, 0);
  snaps[2] = snapshot("bundle.pem", 1, 1);
  snaps[3] = snapshot("bundle2.pem", 1, 0);
  return 0;
}

static int same_serial(const struct ed_tls_serial *a,
                       const struct ed_tls_serial *b) {
  return ed_tls_serial_cmp(a, b) == 0;
}

/* check_path_lengths: no CA of the bundle the accepted chain went
 * through, the trust anchor included, has more intermediates below it
 * than its pathLenConstraint allows. Link i's issuer has links 1..i's
 * certificates (intermediates) below it; the fixture has no self-issued
 * intermediate, so each counts (RFC 5280 6.1.4 (l): the leaf never does;
 * (m): every CA's constraint binds). */
static void check_path_lengths(const struct ed_tls_snapshot *s,
                               const struct ed_tls_peer *p) {
  for (size_t i = 1; i < p->num_links; i++) {
    const struct ed_tls_link *l = &p->links[i];
    const struct ed_tls_ca *ca = ed_tls_find_ca(s, l->issuer);
    if (!ca || (l->flags & ED_TLS_LINK_SENT)) continue;
    for (size_t j = 0; j < ca->num_certs; j++) {
      X509 *x = ca->certs[j].x;
      long max = X509_get_pathlen(x);
      if (memcmp(ca->certs[j].ext, l->issuer_ext, 32) != 0 || max < 0) continue;
      need((long)i <= max);
    }
  }
}

/* check_identity: what identify and mark_sent_issuers made of an
 * accepted chain holds together, and its ticket form decodes to it. */
static void check_identity(const struct ed_tls_snapshot *s,
                           const struct ed_tls_peer *p, int64_t now) {
  need(p->num_links >= 1 && p->links != NULL);
  need(p->serial && p->serial[0]);
  need(p->own_not_before >= p->not_before);
  need(p->own_not_after <= p->not_after);
  enum ed_hs_reason reason;
  const char *detail;
  need(ed_tls_peer_recheck(s, p, now, &reason, &detail) == 0);
  check_path_lengths(s, p);

  struct ed_tls_peer *q = round_trip(p);
  need(p->not_before == q->not_before && p->not_after == q->not_after);
  need(p->num_links == q->num_links);
  for (size_t i = 0; i < p->num_links; i++) {
    need(same_serial(&p->links[i].serial, &q->links[i].serial));
    need(memcmp(p->links[i].issuer, q->links[i].issuer, 32) == 0);
    need(memcmp(p->links[i].issuer_ext, q->links[i].issuer_ext, 32) == 0);
    need(p->links[i].flags == q->links[i].flags);
  }
  need(same_serial(&p->root_serial, &q->root_serial));
  /* A ticket's identity is decided on as the handshake's was: the
   * re-check takes it back while its chain's window holds. */
  if (ed_tls_valid_at(q->not_before, q->not_after, now))
    need(ed_tls_peer_recheck(s, q, now, &reason, &detail) == 0);
  ed_tls_peer_unref(q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  struct ed_tls_snapshot *s = snaps[data[0] % NUM_SNAPS];
  STACK_OF(CRYPTO_BUFFER) *bufs = sk_CRYPTO_BUFFER_new_null();
  need(bufs != NULL);
  size_t off = 1;
  while (off + 2 <= size && sk_CRYPTO_BUFFER_num(bufs) < MAX_CERTS) {
    size_t n = (size_t)data[off] << 8 | data[off + 1];
    off += 2;
    CRYPTO_BUFFER *b;
    if (n >= 0xFF00) {
      b = pool[(n & 0xFF) % pool_len];
      CRYPTO_BUFFER_up_ref(b);
    } else {
      if (n > size - off) n = size - off;
      b = CRYPTO_BUFFER_new(data + off, n, NULL);
      off += n;
    }
    need(b && sk_CRYPTO_BUFFER_push(bufs, b));
  }

  struct ed_tls_conn *c = ed_tls_conn_new_server(s);
  uint8_t alert = 0;
  int64_t now = (int64_t)time(NULL);
  enum ssl_verify_result_t r = ed_tls_verify_certs(c, &alert, bufs);
  if (verbose) {
    size_t cn_len = 0;
    const char *cn = c->peer ? ed_tls_peer_cn(c->peer, &cn_len) : NULL;
    fprintf(stderr, "chain_fuzz: snapshot %d, %zu certificates: %s %.*s\n",
            data[0] % NUM_SNAPS, sk_CRYPTO_BUFFER_num(bufs),
            r == ssl_verify_ok ? "accepted" : "refused:",
            r == ssl_verify_ok ? (int)(cn_len > 60 ? 60 : cn_len)
                               : (int)strlen(c->detail),
            r == ssl_verify_ok ? (cn ? cn : "") : c->detail);
  }
  if (r == ssl_verify_ok) {
    need(c->peer != NULL && !c->have_reason);
    check_identity(s, c->peer, now);
    /* The same chain again comes from the chain cache (vcache): the same
     * decision, the same identity. */
    struct ed_tls_conn *again = ed_tls_conn_new_server(s);
    uint8_t alert2 = 0;
    need(ed_tls_verify_certs(again, &alert2, bufs) == ssl_verify_ok);
    need(again->peer && !memcmp(again->peer->sha256, c->peer->sha256, 32));
    need(again->peer->num_links == c->peer->num_links);
    ed_tls_conn_free(again);
  } else {
    need(r == ssl_verify_invalid);
    need(c->have_reason && c->detail != NULL && c->detail[0]);
    need(alert == ed_tls_alert_for(c->reason));
    if (sk_CRYPTO_BUFFER_num(bufs) > 0) {
      struct ed_tls_presented pr;
      need(ed_tls_conn_presented(c, &pr) == 1);
      need(pr.serial != NULL && strlen(pr.serial) <= ED_TLS_PRESENTED_MAX);
      need(pr.cn_len <= ED_TLS_PRESENTED_MAX);
    } else {
      need(c->reason == ED_HS_NO_CLIENT_CERT);
    }
  }
  ed_tls_conn_free(c);
  sk_CRYPTO_BUFFER_pop_free(bufs, CRYPTO_BUFFER_free);
  ERR_clear_error();
  return 0;
}

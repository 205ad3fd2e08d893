/* internal/tls tests: snapshots (good and every failure), in-memory
 * handshakes between a client and a server engine (also one byte at a
 * time), every refusal reason with its alert, and ticket resumption
 * (including refusal after a CRL update). */
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal/base/base.h"
#include "internal/testing/testing.h"
#include "internal/tls/testcerts.h"
#include "internal/tls/testpair.h"
#include "internal/tls/tls.h"
#include "internal/tls/tls_internal.h"

/* ---- fixture ---------------------------------------------------------- */

static EVP_PKEY *ca_key, *rogue_key, *srv_key, *cli_key;
static X509 *ca, *rogue, *srv, *alice, *bob, *expired, *notyet, *revoked,
    *noeku, *rogue_cli;
static struct ed_tls_keyring *keyring;

static X509 *client_cert(const char *cn, long from, long to, enum tc_eku eku,
                         X509 *issuer, EVP_PKEY *ikey, const char *san) {
  struct tc_opts o = {.cn = cn,
                      .issuer = issuer,
                      .issuer_key = ikey,
                      .eku = eku,
                      .from_s = from,
                      .to_s = to,
                      .san = san};
  return tc_cert(cli_key, &o);
}

static void setup(void) {
  ca_key = tc_key(), rogue_key = tc_key(), srv_key = tc_key();
  cli_key = tc_key();
  struct tc_opts o = {.cn = "test CA"};
  ca = tc_cert(ca_key, &o);
  o.cn = "rogue CA";
  rogue = tc_cert(rogue_key, &o);
  struct tc_opts so = {.cn = "server",
                       .issuer = ca,
                       .issuer_key = ca_key,
                       .eku = TC_EKU_SERVER,
                       .san = "DNS:localhost"};
  srv = tc_cert(srv_key, &so);
  alice = client_cert("alice", 0, 0, TC_EKU_CLIENT, ca, ca_key,
                      "DNS:alice.example,URI:spiffe://echod/alice");
  bob = client_cert("bob", 0, 0, TC_EKU_CLIENT, ca, ca_key, NULL);
  expired = client_cert("old", -7200, -3600, TC_EKU_CLIENT, ca, ca_key, NULL);
  notyet = client_cert("new", 3600, 7200, TC_EKU_CLIENT, ca, ca_key, NULL);
  revoked = client_cert("mallory", 0, 0, TC_EKU_CLIENT, ca, ca_key, NULL);
  noeku = client_cert("noeku", 0, 0, TC_EKU_NONE, ca, ca_key, NULL);
  rogue_cli = client_cert("alice", 0, 0, TC_EKU_CLIENT, rogue, rogue_key, NULL);
  tc_write_cert(tc_path("ca.pem"), &ca, 1);
  tc_write_cert(tc_path("rogue.pem"), &rogue, 1);
  tc_write_cert(tc_path("server.pem"), &srv, 1);
  tc_write_key(tc_path("server.key"), srv_key, 0600);
  tc_write_key(tc_path("other.key"), cli_key, 0600);
  X509_CRL *crl = tc_crl(ca, ca_key, &revoked, 1, 86400);
  tc_write_crl(tc_path("crl.pem"), crl);
  X509_CRL_free(crl);
  crl = tc_crl(ca, ca_key, NULL, 0, 86400);
  tc_write_crl(tc_path("crl0.pem"), crl);
  X509_CRL_free(crl);
  keyring = ed_tls_keyring_new(3600);
}

static struct ed_tls_params base_params(void) {
  struct ed_tls_params p = {.cert = tc_path("server.pem"),
                            .key = tc_path("server.key"),
                            .ca = tc_path("ca.pem"),
                            .keyring = keyring};
  return p;
}

/* with_crl makes |p| use the one CRL file |name| (static storage: build
 * the snapshot before the next call). */
static void with_crl(struct ed_tls_params *p, const char *name) {
  static char path[512];
  static const char *list[1];
  snprintf(path, sizeof(path), "%s", tc_path(name));
  list[0] = path;
  p->crls = list;
  p->num_crls = 1;
}

static struct ed_tls_snapshot *snap_with(const struct ed_tls_params *p) {
  struct ed_tls_snapshot *s = NULL;
  char err[256] = "";
  int rc = ed_tls_snapshot_new(&s, p, err, sizeof(err));
  if (rc) fprintf(stderr, "snapshot: %s\n", err);
  CHECK_EQ(rc, 0);
  return s;
}

static SSL_CTX *client_ctx(X509 *cert, uint16_t max_version) {
  return tp_client_ctx(cert, cert == srv ? srv_key : cli_key, NULL, ca,
                       max_version);
}

/* ---- tests ------------------------------------------------------------ */

static void test_snapshot_ok(void) {
  struct ed_tls_params p = base_params();
  with_crl(&p, "crl.pem");
  struct ed_tls_snapshot *s = snap_with(&p);
  if (!s) return;
  struct ed_tls_summary sum;
  ed_tls_snapshot_summary(s, &sum);
  CHECK_STR(sum.server.subject, "CN=server");
  CHECK_STR(sum.server.issuer, "CN=test CA");
  CHECK_STR(sum.ca.subject, "CN=test CA");
  const struct ed_tls_peer *sid = ed_tls_snapshot_server_peer(s);
  const char *v;
  size_t vlen;
  CHECK_EQ(ed_tls_peer_num_sans(sid), 1);
  CHECK_EQ(ed_tls_peer_san(sid, 0, &v, &vlen), ED_SAN_DNS);
  CHECK_STR(v, "localhost");
  CHECK_EQ(vlen, 9);
  CHECK_EQ(sum.num_crl, 1);
  CHECK_EQ(strlen(sum.server.sha256), 64);
  CHECK(sum.server.not_after > sum.server.not_before);
  CHECK_EQ(sum.has_crl, 1);
  CHECK_EQ(sum.crl_entries, 1);
  CHECK(sum.crl_next_update > sum.crl_last_update);
  CHECK_EQ(sum.num_ca, 1);
  ed_tls_snapshot_unref(s);
}

static int snap_err(const struct ed_tls_params *p, const char *want_in_msg) {
  struct ed_tls_snapshot *s = NULL;
  char err[512] = "";
  int rc = ed_tls_snapshot_new(&s, p, err, sizeof(err));
  CHECK(s == NULL);
  CHECK(strstr(err, want_in_msg) != NULL);
  if (!strstr(err, want_in_msg)) fprintf(stderr, "  message: %s\n", err);
  return rc;
}

/* A CRL's serials are kept side by side in one allocation
 * (tls_crl.c set_crl): each of many, of every length (zero, negative,
 * 1 to 20 bytes) is found, and a serial that is a prefix or an extension
 * of a revoked one, or differs only in sign, is not. */
static void test_crl_many_serials(void) {
  enum { N = 300 };
  X509 *rev[N];
  for (size_t i = 0; i < N; i++) {
    struct tc_opts o = {
        .cn = "many", .issuer = ca, .issuer_key = ca_key, .eku = TC_EKU_CLIENT};
    if (i % 3 == 0 && i < 60) /* 20 lengths, 0x5a each byte */
      o.serial_len = 1 + i % 20;
    else
      o.serial = i * 7919;
    rev[i] = tc_cert(cli_key, &o);
  }
  /* Serial 0 and -5 (RFC 5280 forbids both; CRLs carry them anyway). */
  ASN1_INTEGER_set(X509_get_serialNumber(rev[1]), 0);
  ASN1_INTEGER_set(X509_get_serialNumber(rev[2]), -5);
  X509_CRL *crl = tc_crl(ca, ca_key, rev, N, 86400);
  tc_write_crl(tc_path("crl-many.pem"), crl);
  X509_CRL_free(crl);
  struct ed_tls_params p = base_params();
  with_crl(&p, "crl-many.pem");
  struct ed_tls_snapshot *s = snap_with(&p);
  if (!s) return;
  uint8_t id[ED_TLS_CA_ID_LEN];
  CHECK(ed_tls_ca_id(id, ca));
  const struct ed_tls_ca *c = ed_tls_find_ca(s, id);
  CHECK(c != NULL);
  CHECK(c && c->num_revoked == N);
  for (size_t i = 0; c && i < N; i++) {
    struct ed_tls_serial sn;
    ed_tls_serial_canon(&sn, X509_get0_serialNumber(rev[i]));
    CHECK(ed_tls_ca_revokes(c, &sn));
    free(sn.bytes);
  }
  static const long absent[] = {5, -7919, 7919 * 3 + 1, 1L << 40};
  for (size_t i = 0; c && i < sizeof(absent) / sizeof(*absent); i++) {
    ASN1_INTEGER *a = ASN1_INTEGER_new();
    ASN1_INTEGER_set(a, absent[i]);
    struct ed_tls_serial sn;
    ed_tls_serial_canon(&sn, a);
    CHECK(!ed_tls_ca_revokes(c, &sn));
    free(sn.bytes);
    ASN1_INTEGER_free(a);
  }
  uint8_t longer[22];
  memset(longer, 0x5a, sizeof(longer));
  ASN1_INTEGER *a = ASN1_INTEGER_new();
  ASN1_STRING_set(a, longer, sizeof(longer)); /* 0x5a x 22: none revoked */
  struct ed_tls_serial sn;
  ed_tls_serial_canon(&sn, a);
  CHECK(c && !ed_tls_ca_revokes(c, &sn));
  free(sn.bytes);
  ASN1_INTEGER_free(a);
  for (size_t i = 0; i < N; i++) X509_free(rev[i]);
  ed_tls_snapshot_unref(s);
}

/* The CA index (tls_crl.c ed_tls_index_cas) of a bundle of many CAs,
 * some listed two or three times (a re-issue: the same name and key), the
 * copies far apart: one CA per name and key, found by its id, remembering
 * its certificates in bundle order, the first one its cert, each its own
 * issuer (self-signed); the lookup by name the store's verification uses
 * (ed_tls_certs_named) gives exactly a name's certificates, in that order. */
static void test_index_many_cas(void) {
  enum { N = 400 };
  EVP_PKEY *key = tc_key();
  STACK_OF(X509) *bundle = sk_X509_new_null();
  X509 *first[N];
  for (size_t i = 0; i < N; i++) {
    char cn[32];
    snprintf(cn, sizeof(cn), "index CA %zu", (i * 7919) % N);
    struct tc_opts o = {.cn = cn, .serial = 1 + i};
    first[i] = tc_cert(key, &o);
    sk_X509_push(bundle, first[i]);
  }
  /* Re-issues of every 5th CA (serial 10000 + i), listed after all the
   * originals, and of every 25th a third time, before the second. */
  for (size_t i = 0; i < N; i += 25) {
    char cn[32];
    snprintf(cn, sizeof(cn), "index CA %zu", (i * 7919) % N);
    struct tc_opts o = {.cn = cn, .serial = 20000 + i};
    sk_X509_push(bundle, tc_cert(key, &o));
  }
  for (size_t i = 0; i < N; i += 5) {
    char cn[32];
    snprintf(cn, sizeof(cn), "index CA %zu", (i * 7919) % N);
    struct tc_opts o = {.cn = cn, .serial = 10000 + i};
    sk_X509_push(bundle, tc_cert(key, &o));
  }
  struct ed_tls_snapshot s;
  memset(&s, 0, sizeof(s));
  char err[256] = "";
  CHECK_EQ(ed_tls_index_cas(&s, bundle, err, sizeof(err)), 0);
  CHECK_EQ(s.num_cas, N);
  for (size_t i = 1; i < s.num_cas; i++) /* sorted, no id twice */
    CHECK(memcmp(s.cas[i - 1].id, s.cas[i].id, ED_TLS_CA_ID_LEN) < 0);
  for (size_t i = 0; i < N; i++) {
    uint8_t id[ED_TLS_CA_ID_LEN];
    CHECK(ed_tls_ca_id(id, first[i]));
    const struct ed_tls_ca *c = ed_tls_find_ca(&s, id);
    CHECK(c != NULL);
    if (!c) continue;
    CHECK(c->cert == first[i]);
    size_t want = 1 + (i % 5 == 0) + (i % 25 == 0);
    CHECK_EQ(c->num_certs, want);
    long serials[3] = {(long)(1 + i), (long)(20000 + i), (long)(10000 + i)};
    if (i % 25) serials[1] = serials[2]; /* no third: the 5th's re-issue */
    for (size_t k = 0; k < c->num_certs && k < want; k++) {
      X509 *x = NULL;
      for (size_t j = 0; j < sk_X509_num(bundle); j++) {
        uint8_t der[32];
        ed_tls_cert_hash(der, sk_X509_value(bundle, j));
        if (!memcmp(der, c->certs[k].der, 32)) x = sk_X509_value(bundle, j);
      }
      CHECK(x != NULL);
      CHECK(x && ASN1_INTEGER_get(X509_get0_serialNumber(x)) ==
                     (serials[k] | 1)); /* tc_cert makes serials odd */
      CHECK(c->certs[k].issuer == c && c->certs[k].self_signed);
    }
    STACK_OF(X509) *named =
        ed_tls_certs_named(&s, X509_get_subject_name(first[i]));
    CHECK(named && sk_X509_num(named) == c->num_certs);
    for (size_t k = 0; named && k < sk_X509_num(named) && k < c->num_certs; k++)
      CHECK(sk_X509_value(named, k) == c->certs[k].x);
    sk_X509_pop_free(named, X509_free);
  }
  X509_NAME *nobody = X509_NAME_new();
  X509_NAME_add_entry_by_txt(nobody, "CN", MBSTRING_ASC,
                             (const uint8_t *)"index CA none", -1, -1, 0);
  STACK_OF(X509) *none = ed_tls_certs_named(&s, nobody);
  CHECK(none && sk_X509_num(none) == 0);
  sk_X509_pop_free(none, X509_free);
  X509_NAME_free(nobody);
  ed_tls_free_cas(&s);
  sk_X509_pop_free(bundle, X509_free);
  EVP_PKEY_free(key);
}

/* At most ED_TLS_MAX_KEYS_PER_NAME CAs of one name with different keys:
 * each costs a signature check per certificate, CRL or client claiming
 * that name without a key identifier, so a bundle of hundreds was a
 * reload of minutes. One more is refused, naming the name. */
static void test_index_keys_per_name(void) {
  for (int n = ED_TLS_MAX_KEYS_PER_NAME; n <= ED_TLS_MAX_KEYS_PER_NAME + 1;
       n++) {
    STACK_OF(X509) *bundle = sk_X509_new_null();
    for (int i = 0; i < n; i++) {
      EVP_PKEY *k = tc_key();
      struct tc_opts o = {.cn = "rolled over"};
      sk_X509_push(bundle, tc_cert(k, &o));
      EVP_PKEY_free(k);
    }
    struct ed_tls_snapshot s;
    memset(&s, 0, sizeof(s));
    char err[256] = "";
    int rc = ed_tls_index_cas(&s, bundle, err, sizeof(err));
    if (n <= ED_TLS_MAX_KEYS_PER_NAME) {
      CHECK_EQ(rc, 0);
      CHECK_EQ(s.num_cas, (size_t)n);
    } else {
      CHECK_EQ(rc, ED_E_PARSE);
      CHECK(strstr(err, "CN=rolled over") != NULL);
    }
    ed_tls_free_cas(&s);
    sk_X509_pop_free(bundle, X509_free);
  }
}

static void test_snapshot_failures(void) {
  struct ed_tls_params p = base_params();
  p.cert = tc_path("missing.pem");
  CHECK_EQ(snap_err(&p, "missing.pem"), ED_E_NOENT);

  ed_write_file_atomic(tc_path("corrupt.pem"),
                       "-----BEGIN CERTIFICATE-----\n"
                       "garbage\n-----END CERTIFICATE-----\n",
                       60, 0644);
  p = base_params();
  p.cert = tc_path("corrupt.pem");
  CHECK_EQ(snap_err(&p, "corrupt.pem"), ED_E_PARSE);

  p = base_params();
  p.key = tc_path("other.key");
  CHECK_EQ(snap_err(&p, "does not match"), ED_E_MISMATCH);

  p = base_params();
  p.ca = tc_path("rogue.pem");
  CHECK_EQ(snap_err(&p, "does not verify"), ED_E_VERIFY);

  struct tc_opts o = {.cn = "server",
                      .issuer = ca,
                      .issuer_key = ca_key,
                      .eku = TC_EKU_SERVER,
                      .from_s = -7200,
                      .to_s = -60};
  X509 *old = tc_cert(srv_key, &o);
  tc_write_cert(tc_path("expired-server.pem"), &old, 1);
  X509_free(old);
  p = base_params();
  p.cert = tc_path("expired-server.pem");
  CHECK_EQ(snap_err(&p, "expired"), ED_E_EXPIRED);

  ed_write_file_atomic(tc_path("bad-crl.pem"), "not a crl\n", 10, 0644);
  p = base_params();
  with_crl(&p, "bad-crl.pem");
  CHECK_EQ(snap_err(&p, "bad-crl.pem"), ED_E_PARSE);

  X509_CRL *crl = tc_crl(rogue, rogue_key, NULL, 0, 86400);
  tc_write_crl(tc_path("rogue-crl.pem"), crl);
  X509_CRL_free(crl);
  p = base_params();
  with_crl(&p, "rogue-crl.pem");
  CHECK_EQ(snap_err(&p, "is not signed by any CA of"), ED_E_VERIFY);

  tc_write_key(tc_path("open.key"), srv_key, 0644);
  p = base_params();
  p.key = tc_path("open.key");
  CHECK_EQ(snap_err(&p, "chmod 600"), ED_E_INSECURE);
  p.allow_group_readable_key = 1; /* others may read: still refused */
  CHECK_EQ(snap_err(&p, "chmod 600"), ED_E_INSECURE);
}

/* A root-owned key its group may read (a Kubernetes Secret with fsGroup)
 * passes only with allow_group_readable_key; a key the process owns never
 * does, nor group write. */
static void test_group_readable_key(void) {
  tc_write_key(tc_path("group.key"), srv_key, 0440);
  struct ed_tls_params p = base_params();
  p.key = tc_path("group.key");
  CHECK_EQ(snap_err(&p, "chmod 600"), ED_E_INSECURE);
  p.allow_group_readable_key = 1;
  if (geteuid() == 0) {
    struct ed_tls_snapshot *s = NULL;
    char err[512] = "";
    CHECK_EQ(ed_tls_snapshot_new(&s, &p, err, sizeof(err)), 0);
    ed_tls_snapshot_unref(s);
    CHECK_EQ(chown(tc_path("group.key"), 65534, 0), 0);
    CHECK_EQ(snap_err(&p, "chmod 600"), ED_E_INSECURE); /* not root's */
  } else {
    CHECK_EQ(snap_err(&p, "chmod 600"), ED_E_INSECURE); /* ours, not root's */
  }
  tc_write_key(tc_path("group-w.key"), srv_key, 0460);
  p.key = tc_path("group-w.key");
  CHECK_EQ(snap_err(&p, "chmod 600"), ED_E_INSECURE);
}

static void run_good(size_t step, size_t len) {
  struct ed_tls_params prm = base_params();
  with_crl(&prm, "crl.pem");
  struct ed_tls_snapshot *s = snap_with(&prm);
  SSL_CTX *cctx = client_ctx(alice, TLS1_3_VERSION);
  struct tp_pair p;
  tp_pair_init(&p, cctx, s, NULL, step);
  tp_handshake(&p);
  CHECK_EQ(p.cl_rc, 1);
  CHECK_EQ(p.sv_rc, 1);
  const struct ed_tls_peer *peer = ed_tls_conn_peer(p.sv);
  CHECK(peer != NULL);
  if (peer) {
    CHECK_STR(ed_tls_peer_cn(peer, NULL), "alice");
    char *sans = ed_tls_peer_sans_text(peer);
    CHECK_STR(sans, "DNS:alice.example,URI:spiffe://echod/alice");
    free(sans);
    CHECK(strlen(ed_tls_peer_serial(peer)) >= 2);
  }
  CHECK_STR(ed_tls_conn_version(p.sv), "TLSv1.3");
  CHECK_EQ(ed_tls_conn_resumed(p.sv), 0);
  CHECK(ed_tls_conn_suite(p.sv) != ED_SUITE_OTHER);
  uint8_t *data = malloc(len);
  for (size_t i = 0; i < len; i++) data[i] = (uint8_t)(i * 7 + (i >> 8));
  CHECK_EQ(tp_echo(&p, data, len), 0);
  CHECK_EQ(tp_echo(&p, (const uint8_t *)"\0x\0", 3), 0);
  /* close_notify reaches the other side as ED_E_CLOSED. */
  struct ed_tls_io io = {NULL, 0, 0, &p.c2s};
  CHECK_EQ(ed_tls_conn_shutdown(p.cl, &io), 0);
  struct ed_buf got;
  ed_buf_init(&got, 1024);
  CHECK_EQ(tp_read_some(&p, p.sv, &p.c2s, &p.s2c, &got), ED_E_CLOSED);
  ed_buf_cleanup(&got);
  free(data);
  tp_pair_free(&p);
  SSL_CTX_free(cctx);
  ed_tls_snapshot_unref(s);
}

static void test_handshake_and_echo(void) {
  run_good(1 << 20, 200000);
}

static void test_one_byte_transport(void) {
  run_good(1, 20000);
}

/* check_presented: the server names what |cert| was (NULL: nothing
 * presented, or refused before the certificate was looked at). */
static void check_presented(const struct ed_tls_conn *sv, X509 *cert) {
  struct ed_tls_presented pr;
  int have = ed_tls_conn_presented(sv, &pr);
  CHECK_EQ(have, cert != NULL);
  if (!have || !cert) return;
  char cn[256] = "", serial[80], sha[65];
  uint8_t md[32], *der = NULL;
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn,
                            sizeof(cn));
  CHECK(pr.cn != NULL && pr.cn_len == strlen(cn) &&
        !memcmp(pr.cn, cn, pr.cn_len));
  BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
  char *hex = BN_bn2hex(bn);
  snprintf(serial, sizeof(serial), "%s", hex);
  CHECK_EQ(strcasecmp(pr.serial, serial), 0); /* BN_bn2hex: lowercase */
  OPENSSL_free(hex);
  BN_free(bn);
  int len = i2d_X509(cert, &der);
  SHA256(der, (size_t)len, md);
  OPENSSL_free(der);
  ed_tls_hex(sha, md, 32);
  CHECK_STR(pr.sha256, sha);
}

/* refused runs a handshake of |cert| against |prm| and checks the
 * server's reason, the alert the client reads and what the server says
 * was presented. */
static void refused(const struct ed_tls_params *prm, X509 *cert,
                    uint16_t client_max, enum ed_hs_reason want,
                    int want_alert) {
  struct ed_tls_snapshot *s = snap_with(prm);
  SSL_CTX *cctx = client_ctx(cert, client_max);
  struct tp_pair p;
  tp_pair_init(&p, cctx, s, NULL, 1 << 20);
  tp_handshake(&p);
  CHECK(p.sv_rc < 0);
  CHECK_EQ(p.reason, want);
  if (p.reason != want)
    fprintf(stderr, "  got reason %s\n", ed_hs_reason_name(p.reason));
  if (want_alert) CHECK_EQ(tp_client_alert(&p), want_alert);
  check_presented(p.sv, client_max == TLS1_3_VERSION ? cert : NULL);
  tp_pair_free(&p);
  SSL_CTX_free(cctx);
  ed_tls_snapshot_unref(s);
}

/* A refused certificate's CN and serial are the client's to size: the
 * server keeps their first ED_TLS_PRESENTED_MAX bytes (hex digits) and
 * says how long they were; the SHA-256 is of the whole certificate. */
static void test_presented_is_bounded(void) {
  struct ed_tls_params prm = base_params();
  size_t long_len = 20000;
  char *long_cn = ed_malloc(long_len);
  memset(long_cn, 'x', long_len);
  struct tc_opts o = {.cn = long_cn,
                      .cn_len = long_len,
                      .cn_type = V_ASN1_UTF8STRING, /* past CN's 64 */
                      .eku = TC_EKU_CLIENT,
                      .serial_len = 3000,
                      .issuer = rogue, /* no CA of ours */
                      .issuer_key = rogue_key};
  EVP_PKEY *key = tc_key();
  X509 *huge = tc_cert(key, &o);
  struct ed_tls_snapshot *s = snap_with(&prm);
  SSL_CTX *cctx = client_ctx(NULL, TLS1_3_VERSION);
  CHECK(SSL_CTX_use_certificate(cctx, huge) &&
        SSL_CTX_use_PrivateKey(cctx, key));
  struct tp_pair p;
  tp_pair_init(&p, cctx, s, NULL, 1 << 20);
  tp_handshake(&p);
  CHECK(p.sv_rc < 0);
  CHECK_EQ(p.reason, ED_HS_UNKNOWN_CA);
  struct ed_tls_presented pr;
  CHECK_EQ(ed_tls_conn_presented(p.sv, &pr), 1);
  CHECK_EQ(pr.cn_len, ED_TLS_PRESENTED_MAX);
  CHECK_EQ(pr.cn_full, long_len);
  CHECK(!memcmp(pr.cn, long_cn, pr.cn_len));
  CHECK_EQ(strlen(pr.serial), ED_TLS_PRESENTED_MAX);
  CHECK_EQ(pr.serial_full, 2 * 3000);
  CHECK(!strncmp(pr.serial, "5A5A5A5A", 8));
  uint8_t md[32], *der = NULL;
  char sha[65];
  int len = i2d_X509(huge, &der);
  SHA256(der, (size_t)len, md);
  OPENSSL_free(der);
  ed_tls_hex(sha, md, 32);
  CHECK_STR(pr.sha256, sha);
  tp_pair_free(&p);
  SSL_CTX_free(cctx);
  ed_tls_snapshot_unref(s);
  X509_free(huge);
  EVP_PKEY_free(key);
  free(long_cn);
}

/* A client certificate whose keyUsage lacks digitalSignature (its key
 * may not sign): BoringSSL refuses it before verification; the reason is
 * the certificate's (bad_eku), not the protocol. */
static void test_key_usage_without_signing(void) {
  struct ed_tls_params prm = base_params();
  /* RSA: BoringSSL's client refuses to present such an EC certificate. */
  EVP_PKEY *key = EVP_PKEY_new();
  RSA *rsa = RSA_new();
  BIGNUM *e = BN_new();
  CHECK(key && rsa && e && BN_set_word(e, RSA_F4) &&
        RSA_generate_key_ex(rsa, 2048, e, NULL) &&
        EVP_PKEY_assign_RSA(key, rsa));
  BN_free(e);
  struct tc_opts o = {.cn = "alice",
                      .eku = TC_EKU_CLIENT,
                      .issuer = ca,
                      .issuer_key = ca_key,
                      .ku = "critical,keyEncipherment"};
  X509 *x = tc_cert(key, &o);
  struct ed_tls_snapshot *s = snap_with(&prm);
  SSL_CTX *cctx = client_ctx(NULL, TLS1_3_VERSION);
  CHECK(SSL_CTX_use_certificate(cctx, x) && SSL_CTX_use_PrivateKey(cctx, key));
  ERR_clear_error();
  struct tp_pair p;
  tp_pair_init(&p, cctx, s, NULL, 1 << 20);
  tp_handshake(&p);
  CHECK(p.sv_rc < 0);
  CHECK_STR(ed_hs_reason_name(p.reason), "bad_eku");
  CHECK_STR(p.detail, "KEY_USAGE_BIT_INCORRECT");
  tp_pair_free(&p);
  SSL_CTX_free(cctx);
  ed_tls_snapshot_unref(s);
  X509_free(x);
  EVP_PKEY_free(key);
}

static void test_refusals(void) {
  struct ed_tls_params prm = base_params();
  with_crl(&prm, "crl.pem");
  refused(&prm, NULL, TLS1_3_VERSION, ED_HS_NO_CLIENT_CERT,
          SSL_R_TLSV1_ALERT_CERTIFICATE_REQUIRED);
  refused(&prm, rogue_cli, TLS1_3_VERSION, ED_HS_UNKNOWN_CA,
          SSL_R_TLSV1_ALERT_UNKNOWN_CA);
  refused(&prm, expired, TLS1_3_VERSION, ED_HS_CERT_EXPIRED,
          SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED);
  refused(&prm, notyet, TLS1_3_VERSION, ED_HS_CERT_NOT_YET_VALID,
          SSL_R_SSLV3_ALERT_BAD_CERTIFICATE);
  refused(&prm, revoked, TLS1_3_VERSION, ED_HS_CERT_REVOKED,
          SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED);
  refused(&prm, srv, TLS1_3_VERSION, ED_HS_BAD_EKU,
          SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE);
  refused(&prm, noeku, TLS1_3_VERSION, ED_HS_BAD_EKU,
          SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE);
  refused(&prm, alice, TLS1_2_VERSION, ED_HS_PROTOCOL, 0);

  const char *cns[] = {"bob"};
  prm.allow_cn = cns, prm.num_allow_cn = 1;
  refused(&prm, alice, TLS1_3_VERSION, ED_HS_ACL_DENIED,
          SSL_R_TLSV1_ALERT_ACCESS_DENIED);
}

/* allowed checks that |cert| gets through |prm|. */
static void allowed(const struct ed_tls_params *prm, X509 *cert) {
  struct ed_tls_snapshot *s = snap_with(prm);
  SSL_CTX *cctx = client_ctx(cert, TLS1_3_VERSION);
  struct tp_pair p;
  tp_pair_init(&p, cctx, s, NULL, 1 << 20);
  tp_handshake(&p);
  CHECK_EQ(p.sv_rc, 1);
  CHECK_EQ(tp_echo(&p, (const uint8_t *)"hi", 2), 0);
  tp_pair_free(&p);
  SSL_CTX_free(cctx);
  ed_tls_snapshot_unref(s);
}

static void test_allow_lists(void) {
  struct ed_tls_params prm = base_params();
  const char *cns[] = {"bob", "alice"};
  prm.allow_cn = cns, prm.num_allow_cn = 2;
  allowed(&prm, alice);
  prm = base_params();
  const char *sans[] = {"spiffe://echod/alice"};
  prm.allow_san = sans, prm.num_allow_san = 1;
  allowed(&prm, alice);
  refused(&prm, bob, TLS1_3_VERSION, ED_HS_ACL_DENIED, 0);
  const char *dns[] = {"DNS:alice.example"};
  prm.allow_san = dns;
  allowed(&prm, alice);

  uint8_t *der = NULL;
  int len = i2d_X509(bob, &der);
  uint8_t md[32];
  SHA256(der, (size_t)len, md);
  OPENSSL_free(der);
  char hex[65];
  ed_tls_hex(hex, md, 32);
  const char *pins[] = {hex};
  prm = base_params();
  prm.allow_sha256 = pins, prm.num_allow_sha256 = 1;
  allowed(&prm, bob);
  refused(&prm, alice, TLS1_3_VERSION, ED_HS_ACL_DENIED, 0);

  /* An --allow-file with no entries: the allow-list is on and empty, so
   * it refuses everybody (no entries must not mean "any client"). */
  prm = base_params();
  prm.allow_list_required = 1;
  refused(&prm, alice, TLS1_3_VERSION, ED_HS_ACL_DENIED,
          SSL_R_TLSV1_ALERT_ACCESS_DENIED);
  const char *only_bob[] = {"bob"};
  prm.allow_cn = only_bob, prm.num_allow_cn = 1;
  allowed(&prm, bob);
  const char *why = NULL;
  CHECK_EQ(ed_tls_allow_san_check("URI:spiffe://x", &why), 0);
  CHECK_EQ(ed_tls_allow_san_check("IP:not-an-ip", &why), ED_E_INVAL);
  CHECK(why != NULL);
}

/* Long allow-lists are sorted and searched (tls_snapshot.c): each kind
 * still matches exactly as comparing every entry did - a CN and a URI
 * byte for byte, a DNS name with ASCII case folded, a SAN only with its
 * own type - among thousands of entries, some a byte, a case or a length
 * away. */
static void test_allow_lists_many(void) {
  enum { N = 3000, MAX = N + 8 };
  static char buf[MAX][72];
  const char *list[MAX];
  struct ed_tls_params prm;
#define FILL(fmt)                                               \
  for (size_t i = 0; i < N; i++) {                              \
    snprintf(buf[i], sizeof(buf[i]), fmt, (unsigned)i * 7919u); \
    list[i] = buf[i];                                           \
  }
#define WITH(n, ...)                                          \
  do {                                                        \
    const char *more[] = {__VA_ARGS__};                       \
    for (size_t i = 0; i < sizeof(more) / sizeof(*more); i++) \
      list[(n) + i] = more[i];                                \
  } while (0)
  FILL("client-%u");
  WITH(N, "alicf", "alic", "alice ", "Alice", "alicea", "bob");
  prm = base_params();
  prm.allow_cn = list, prm.num_allow_cn = N + 6;
  refused(&prm, alice, TLS1_3_VERSION, ED_HS_ACL_DENIED, 0);
  allowed(&prm, bob);
  list[N / 2] = "alice";
  allowed(&prm, alice);

  FILL("DNS:decoy-%u.example");
  WITH(N, "DNS:alice.exampl", "URI:alice.example", "DNS:alice.example.");
  prm = base_params();
  prm.allow_san = list, prm.num_allow_san = N + 3;
  refused(&prm, alice, TLS1_3_VERSION, ED_HS_ACL_DENIED, 0);
  list[N + 3] = "DNS:ALICE.Example"; /* DNS: case folded */
  prm.num_allow_san = N + 4;
  allowed(&prm, alice);

  FILL("URI:spiffe://echod/decoy-%u");
  WITH(N, "URI:spiffe://echod/Alice", "URI:SPIFFE://echod/alice");
  prm.allow_san = list, prm.num_allow_san = N + 2;
  refused(&prm, alice, TLS1_3_VERSION, ED_HS_ACL_DENIED, 0);
  list[N + 2] = "URI:spiffe://echod/alice";
  prm.num_allow_san = N + 3;
  allowed(&prm, alice);
  refused(&prm, bob, TLS1_3_VERSION, ED_HS_ACL_DENIED, 0);

  uint8_t *der = NULL;
  int len = i2d_X509(bob, &der);
  uint8_t md[32];
  SHA256(der, (size_t)len, md);
  OPENSSL_free(der);
  for (size_t i = 0; i < N; i++) {
    uint8_t decoy[32];
    memcpy(decoy, md, 32);
    decoy[i % 32] ^= (uint8_t)(1 + i / 32); /* one byte off */
    ed_tls_hex(buf[i], decoy, 32);
    list[i] = buf[i];
  }
  prm = base_params();
  prm.allow_sha256 = list, prm.num_allow_sha256 = N;
  refused(&prm, bob, TLS1_3_VERSION, ED_HS_ACL_DENIED, 0);
  ed_tls_hex(buf[N], md, 32);
  list[N] = buf[N];
  prm.num_allow_sha256 = N + 1;
  allowed(&prm, bob);
  refused(&prm, alice, TLS1_3_VERSION, ED_HS_ACL_DENIED, 0);
#undef FILL
#undef WITH
}

/* The allow-list's SAN lookup (sorted, ed_tls_allow_san_find) against the
 * comparison with every entry it replaced (scan_matches: that code, kept
 * here as the reference), on random lists and SANs drawn from a tiny
 * alphabet, so that matches and near misses - a case, a byte, a length,
 * the type - are frequent: both agree on every SAN. */
static int scan_caseeq(const char *a, const char *b, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
    if (x >= 'A' && x <= 'Z') x = (unsigned char)(x + 32);
    if (y >= 'A' && y <= 'Z') y = (unsigned char)(y + 32);
    if (x != y) return 0;
  }
  return 1;
}

static int scan_matches(const struct ed_tls_allow_san *a,
                        const struct ed_tls_san *san) {
  if (a->type != san->type) return 0;
  switch (san->type) {
    case ED_SAN_IP:
      return a->ip_len == san->ip_len &&
             memcmp(a->ip, san->ip, san->ip_len) == 0;
    case ED_SAN_DNS:
      return a->len == san->len && scan_caseeq(a->value, san->value, a->len);
    default:
      return a->len == san->len && memcmp(a->value, san->value, a->len) == 0;
  }
}

static uint32_t next_rand(uint32_t *x) {
  *x ^= *x << 13, *x ^= *x >> 17, *x ^= *x << 5;
  return *x;
}

/* random_name fills |out| (|cap| >= 4) with 0-3 bytes of a tiny alphabet
 * ("zZ" and "Zz" differ only in case, "z\0" hides a NUL) and sets the IP
 * bytes to 4 or 16 of 0/1. */
static void random_name(uint32_t *x, enum ed_san_type *type, char *out,
                        size_t *len, uint8_t ip[16], uint8_t *ip_len) {
  static const char alpha[] = {'z', 'Z', 'a', '.', '\0', '\xe9'};
  static const enum ed_san_type types[] = {ED_SAN_DNS, ED_SAN_URI, ED_SAN_EMAIL,
                                           ED_SAN_IP};
  *type = types[next_rand(x) % 4];
  *len = next_rand(x) % 4;
  for (size_t i = 0; i < *len; i++) out[i] = alpha[next_rand(x) % 6];
  out[*len] = '\0';
  *ip_len = next_rand(x) % 2 ? 4 : 16;
  for (size_t i = 0; i < *ip_len; i++) ip[i] = (uint8_t)(next_rand(x) % 2);
}

static void test_allow_san_lookup_matches_scan(void) {
  enum { MAXN = 24 };
  uint32_t x = 2463534242u;
  struct ed_tls_allow_san list[MAXN];
  char vals[MAXN][4], pv[4];
  size_t agreed = 0, found = 0;
  for (int round = 0; round < 400; round++) {
    size_t n = next_rand(&x) % MAXN;
    for (size_t i = 0; i < n; i++) {
      memset(&list[i], 0, sizeof(list[i]));
      random_name(&x, &list[i].type, vals[i], &list[i].len, list[i].ip,
                  &list[i].ip_len);
      list[i].value = vals[i];
    }
    qsort(list, n, sizeof(*list), ed_tls_allow_san_cmp);
    for (int k = 0; k < 64; k++) {
      struct ed_tls_san san;
      memset(&san, 0, sizeof(san));
      random_name(&x, &san.type, pv, &san.len, san.ip, &san.ip_len);
      san.value = pv;
      int want = 0;
      for (size_t i = 0; i < n; i++) want |= scan_matches(&list[i], &san);
      int got = ed_tls_allow_san_find(list, n, &san) != 0;
      CHECK_EQ(got, want);
      agreed += got == want;
      found += want;
    }
  }
  CHECK_EQ(agreed, 400u * 64u);
  CHECK(found > 1000); /* the draws do meet: a test that can fail */
}

/* hs_on runs one handshake of |cert| against |s|; returns the server's
 * result and sets |*reason| and |*out_peer| (a reference) when it has
 * one. */
static int hs_on(struct ed_tls_snapshot *s, X509 *cert,
                 enum ed_hs_reason *reason,
                 const struct ed_tls_peer **out_peer) {
  SSL_CTX *cctx = client_ctx(cert, TLS1_3_VERSION);
  struct tp_pair p;
  tp_pair_init(&p, cctx, s, NULL, 1 << 20);
  tp_handshake(&p);
  int rc = p.sv_rc;
  *reason = p.reason;
  const struct ed_tls_peer *peer = ed_tls_conn_peer(p.sv);
  if (out_peer && peer) ed_tls_peer_ref(*out_peer = peer);
  tp_pair_free(&p);
  SSL_CTX_free(cctx);
  return rc;
}

/* A second full handshake of the same chain under the same snapshot takes
 * the verified-chain cache: same identity, and refusals stay refusals
 * with the same reason (EKU, expiry, CRL never cached as good; the
 * allow-list re-checked on every hit). */
static void test_verified_chain_cache(void) {
  struct ed_tls_params prm = base_params();
  with_crl(&prm, "crl.pem");
  const char *cns[] = {"alice"};
  prm.allow_cn = cns, prm.num_allow_cn = 1;
  struct ed_tls_snapshot *s = snap_with(&prm);
  const struct ed_tls_peer *first = NULL, *second = NULL;
  enum ed_hs_reason r;
  CHECK_EQ(hs_on(s, alice, &r, &first), 1);
  CHECK_EQ(hs_on(s, alice, &r, &second), 1);
  CHECK(first == second); /* the cached identity itself */
  CHECK_STR(ed_tls_peer_cn(second, NULL), "alice");
  ed_tls_peer_unref(first);
  ed_tls_peer_unref(second);
  for (int i = 0; i < 2; i++) {
    CHECK(hs_on(s, bob, &r, NULL) < 0);
    CHECK_EQ(r, ED_HS_ACL_DENIED);
    CHECK(hs_on(s, srv, &r, NULL) < 0);
    CHECK_EQ(r, ED_HS_BAD_EKU);
    CHECK(hs_on(s, expired, &r, NULL) < 0);
    CHECK_EQ(r, ED_HS_CERT_EXPIRED);
    CHECK(hs_on(s, revoked, &r, NULL) < 0);
    CHECK_EQ(r, ED_HS_CERT_REVOKED);
  }
  ed_tls_snapshot_unref(s);
}

static void test_tls12_option(void) {
  struct ed_tls_params prm = base_params();
  prm.tls_min = TLS1_2_VERSION;
  struct ed_tls_snapshot *s = snap_with(&prm);
  SSL_CTX *cctx = client_ctx(alice, TLS1_2_VERSION);
  struct tp_pair p;
  tp_pair_init(&p, cctx, s, NULL, 1 << 20);
  tp_handshake(&p);
  CHECK_EQ(p.sv_rc, 1);
  CHECK_STR(ed_tls_conn_version(p.sv), "TLSv1.2");
  enum ed_suite suite = ed_tls_conn_suite(p.sv);
  CHECK(suite == ED_SUITE_ECDHE_ECDSA_AES128_GCM ||
        suite == ED_SUITE_ECDHE_ECDSA_AES256_GCM ||
        suite == ED_SUITE_ECDHE_ECDSA_CHACHA20);
  CHECK_EQ(tp_echo(&p, (const uint8_t *)"twelve", 6), 0);
  tp_pair_free(&p);
  SSL_CTX_free(cctx);
  ed_tls_snapshot_unref(s);
}

static void test_garbage(void) {
  struct ed_tls_params prm = base_params();
  struct ed_tls_snapshot *s = snap_with(&prm);
  struct ed_tls_conn *sv = ed_tls_conn_new_server(s);
  struct ed_buf out;
  ed_buf_init(&out, 1 << 16);
  static const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  struct ed_tls_io io = {(const uint8_t *)junk, sizeof(junk) - 1, 0, &out};
  CHECK_EQ(ed_tls_conn_handshake(sv, &io), ED_E_TLS);
  CHECK_EQ(ed_tls_conn_failure(sv, NULL), ED_HS_PROTOCOL);
  ed_buf_cleanup(&out);
  ed_tls_conn_free(sv);
  ed_tls_snapshot_unref(s);
}

/* A record that does not verify where the client's first encrypted
 * flight should be (garbage after the ClientHello): the peer's fault, so
 * protocol, named by the record layer's error rather than the cipher's,
 * which BoringSSL queues first. */
static void test_garbage_after_hello(void) {
  struct ed_tls_params prm = base_params();
  struct ed_tls_snapshot *s = snap_with(&prm);
  SSL_CTX *cctx = client_ctx(alice, TLS1_3_VERSION);
  struct tp_pair p;
  tp_pair_init(&p, cctx, s, NULL, 1 << 20);
  tp_hs_step(&p, p.cl, &p.cl_rc, &p.s2c, &p.c2s, 0); /* the ClientHello */
  CHECK(p.c2s.len > 0);
  uint8_t rec[5 + 48] = {0x17, 0x03, 0x03, 0x00, 48};
  for (size_t i = 5; i < sizeof(rec); i++) rec[i] = (uint8_t)(i * 37);
  ed_buf_append(&p.c2s, rec, sizeof(rec));
  while (tp_hs_step(&p, p.sv, &p.sv_rc, &p.c2s, &p.s2c, 1)) {
  }
  CHECK(p.sv_rc < 0);
  CHECK_STR(ed_hs_reason_name(p.reason), "protocol");
  CHECK_STR(p.detail, "DECRYPTION_FAILED_OR_BAD_RECORD_MAC");
  tp_pair_free(&p);
  SSL_CTX_free(cctx);
  ed_tls_snapshot_unref(s);
}

/* A TLS 1.3 client that refuses the server's flight and sends its alert
 * unencrypted (as OpenSSL's client does), with or without a
 * compatibility ChangeCipherSpec before it: named as the client's alert
 * (by its code when BoringSSL has no name for it). A 3-byte "alert" is no
 * such thing and stays a record that does not decrypt. */
static void test_plaintext_alert_after_flight(void) {
  struct ed_tls_params prm = base_params();
  struct ed_tls_snapshot *s = snap_with(&prm);
  SSL_CTX *cctx = client_ctx(alice, TLS1_3_VERSION);
  static const uint8_t ccs[] = {0x14, 0x03, 0x03, 0x00, 0x01, 0x01};
  static const uint8_t unknown_ca[] = {0x15, 0x03, 0x03, 0x00, 0x02, 2, 48};
  static const uint8_t code_254[] = {0x15, 0x03, 0x03, 0x00, 0x02, 2, 254};
  static const uint8_t not_alert[] = {0x15, 0x03, 0x03, 0x00, 0x03, 2, 48, 0};
  static const struct {
    int ccs;
    const uint8_t *rec;
    size_t len;
    const char *detail;
  } cases[] = {
      {0, unknown_ca, sizeof(unknown_ca), "TLSV1_ALERT_UNKNOWN_CA"},
      {1, unknown_ca, sizeof(unknown_ca), "TLSV1_ALERT_UNKNOWN_CA"},
      {0, code_254, sizeof(code_254), "TLS_ALERT_254"}, /* no name */
      {0, not_alert, sizeof(not_alert), "DECRYPTION_FAILED_OR_BAD_RECORD_MAC"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct tp_pair p;
    tp_pair_init(&p, cctx, s, NULL, 1 << 20);
    tp_hs_step(&p, p.cl, &p.cl_rc, &p.s2c, &p.c2s, 0); /* the ClientHello */
    tp_hs_step(&p, p.sv, &p.sv_rc, &p.c2s, &p.s2c, 1); /* its flight */
    CHECK_EQ(p.sv_rc, 0);
    CHECK(p.s2c.len > 0);
    if (cases[i].ccs) ed_buf_append(&p.c2s, ccs, sizeof(ccs));
    ed_buf_append(&p.c2s, cases[i].rec, cases[i].len);
    while (tp_hs_step(&p, p.sv, &p.sv_rc, &p.c2s, &p.s2c, 1)) {
    }
    CHECK(p.sv_rc < 0);
    CHECK_STR(ed_hs_reason_name(p.reason), "protocol");
    CHECK_STR(p.detail, cases[i].detail);
    tp_pair_free(&p);
  }
  SSL_CTX_free(cctx);
  ed_tls_snapshot_unref(s);
}

/* A record that is not an alert, whose body happens to end in the 7
 * bytes of a 2-byte alert record, is still a record that does not
 * decrypt: name_plaintext_alert must look at the record the engine
 * failed on, not at the last 7 bytes it read (review2). */
static void test_plaintext_alert_lookalike_tail(void) {
  struct ed_tls_params prm = base_params();
  struct ed_tls_snapshot *s = snap_with(&prm);
  SSL_CTX *cctx = client_ctx(alice, TLS1_3_VERSION);
  /* application_data, 24 bytes of "ciphertext" ending in 15 03 03 00 02 02 30
   */
  static const uint8_t tail[] = {0x17, 0x03, 0x03, 0x00, 0x18, 0xde, 0xad, 0xbe,
                                 0xef, 0xde, 0xad, 0xbe, 0xef, 0xde, 0xad, 0xbe,
                                 0xef, 0xde, 0xad, 0xbe, 0xef, 0xde, 0x15, 0x03,
                                 0x03, 0x00, 0x02, 0x02, 0x30};
  struct tp_pair p;
  tp_pair_init(&p, cctx, s, NULL, 1 << 20);
  tp_hs_step(&p, p.cl, &p.cl_rc, &p.s2c, &p.c2s, 0); /* the ClientHello */
  tp_hs_step(&p, p.sv, &p.sv_rc, &p.c2s, &p.s2c, 1); /* its flight */
  CHECK_EQ(p.sv_rc, 0);
  ed_buf_append(&p.c2s, tail, sizeof(tail));
  while (tp_hs_step(&p, p.sv, &p.sv_rc, &p.c2s, &p.s2c, 1)) {
  }
  CHECK(p.sv_rc < 0);
  CHECK_STR(p.detail, "DECRYPTION_FAILED_OR_BAD_RECORD_MAC");
  tp_pair_free(&p);
  SSL_CTX_free(cctx);
  ed_tls_snapshot_unref(s);
}

/* The peer watch (ed_tls_conn_watch_peer): with the caller's word that
 * the client has gone, an honest ClientHello stops at the server's
 * signature (nothing to send, ed_tls_conn_unsigned), a refused one is
 * still named (here: TLS 1.2 only, against a TLS 1.3 server), and
 * without the word the same engine signs as ever. */
static void test_watch_peer(void) {
  struct ed_tls_params prm = base_params();
  struct ed_tls_snapshot *s = snap_with(&prm);
  for (int i = 0; i < 3; i++) {
    int gone = i > 0, tls12 = i == 2;
    _Atomic uint8_t word = (uint8_t)gone;
    SSL_CTX *cctx = client_ctx(alice, tls12 ? TLS1_2_VERSION : TLS1_3_VERSION);
    struct tp_pair p;
    tp_pair_init(&p, cctx, s, NULL, 1 << 20);
    ed_tls_conn_watch_peer(p.sv, &word);
    tp_hs_step(&p, p.cl, &p.cl_rc, &p.s2c, &p.c2s, 0); /* the ClientHello */
    tp_hs_step(&p, p.sv, &p.sv_rc, &p.c2s, &p.s2c, 1);
    if (!gone) {
      CHECK_EQ(p.sv_rc, 0); /* its flight, signed */
      CHECK(p.s2c.len > 0);
      CHECK_EQ(ed_tls_conn_unsigned(p.sv), 0);
      tp_handshake(&p);
      CHECK_EQ(p.sv_rc, 1);
    } else if (!tls12) {
      CHECK(p.sv_rc < 0);
      CHECK_EQ(p.s2c.len, 0);
      CHECK_EQ(ed_tls_conn_unsigned(p.sv), 1);
      CHECK_STR(ed_hs_reason_name(p.reason), "protocol");
    } else {
      CHECK(p.sv_rc < 0);
      CHECK_EQ(ed_tls_conn_unsigned(p.sv), 0);
      CHECK_STR(p.detail, "UNSUPPORTED_PROTOCOL");
    }
    tp_pair_free(&p);
    SSL_CTX_free(cctx);
  }
  ed_tls_snapshot_unref(s);
}

/* resume connects with tp_last_session and returns the server's result. */
static int resume(struct ed_tls_snapshot *s, SSL_CTX *cctx, int *out_resumed,
                  enum ed_hs_reason *out_reason) {
  SSL_SESSION *sess = tp_last_session;
  if (sess) SSL_SESSION_up_ref(sess);
  struct tp_pair p;
  tp_pair_init(&p, cctx, s, sess, 1 << 20);
  tp_handshake(&p);
  int rc = p.sv_rc;
  *out_resumed = rc == 1 && ed_tls_conn_resumed(p.sv);
  *out_reason = p.reason;
  if (rc == 1) {
    CHECK_EQ(tp_echo(&p, (const uint8_t *)"again", 5), 0); /* new ticket */
    CHECK_STR(ed_tls_peer_cn(ed_tls_conn_peer(p.sv), NULL), "mallory");
  }
  tp_pair_free(&p);
  SSL_SESSION_free(sess);
  return rc;
}

static void test_resumption(void) {
  struct ed_tls_params prm = base_params();
  with_crl(&prm, "crl0.pem");
  struct ed_tls_snapshot *s = snap_with(&prm);
  SSL_CTX *cctx = client_ctx(revoked, TLS1_3_VERSION);
  SSL_SESSION_free(tp_last_session);
  tp_last_session = NULL;
  int resumed;
  enum ed_hs_reason reason;
  CHECK_EQ(resume(s, cctx, &resumed, &reason), 1);
  CHECK_EQ(resumed, 0);
  CHECK(tp_last_session != NULL);
  CHECK_EQ(resume(s, cctx, &resumed, &reason), 1);
  CHECK_EQ(resumed, 1);

  /* A new snapshot (reload) keeps tickets valid; one rotation too. */
  struct ed_tls_snapshot *s2 = snap_with(&prm);
  ed_tls_keyring_rotate(keyring);
  CHECK_EQ(resume(s2, cctx, &resumed, &reason), 1);
  CHECK_EQ(resumed, 1);

  /* After the CRL revokes the client, its ticket no longer works. */
  with_crl(&prm, "crl.pem");
  struct ed_tls_snapshot *s3 = snap_with(&prm);
  CHECK(resume(s3, cctx, &resumed, &reason) < 0);
  CHECK_EQ(resumed, 0);
  CHECK_EQ(reason, ED_HS_CERT_REVOKED);

  /* Not on the allow-list any more: refused too. */
  const char *cns[] = {"alice"};
  with_crl(&prm, "crl0.pem");
  prm.allow_cn = cns, prm.num_allow_cn = 1;
  struct ed_tls_snapshot *s4 = snap_with(&prm);
  CHECK(resume(s4, cctx, &resumed, &reason) < 0);
  CHECK_EQ(reason, ED_HS_ACL_DENIED);

  /* Two rotations retire the key: full handshake, still accepted. */
  CHECK_EQ(resume(s, cctx, &resumed, &reason), 1);
  ed_tls_keyring_rotate(keyring);
  ed_tls_keyring_rotate(keyring);
  CHECK_EQ(resume(s, cctx, &resumed, &reason), 1);
  CHECK_EQ(resumed, 0);

  SSL_SESSION_free(tp_last_session);
  tp_last_session = NULL;
  SSL_CTX_free(cctx);
  ed_tls_snapshot_unref(s);
  ed_tls_snapshot_unref(s2);
  ed_tls_snapshot_unref(s3);
  ed_tls_snapshot_unref(s4);
}

/* ---- what may run on an I/O loop -------------------------------------- */

/* server_flight runs client and server one call each, |n| times: the
 * client's first flight and the server's answer (twice with a
 * HelloRetryRequest). Returns the server's result. */
static int server_flight(struct tp_pair *p, int n) {
  for (int i = 0; i < n; i++) {
    tp_hs_step(p, p->cl, &p->cl_rc, &p->s2c, &p->c2s, 0);
    tp_hs_step(p, p->sv, &p->sv_rc, &p->c2s, &p->s2c, 1);
  }
  return p->sv_rc;
}

/* finish_on_io_thread runs the rest of the handshake with the server's
 * calls on a thread marked as an I/O loop. */
static void finish_on_io_thread(struct tp_pair *p) {
  for (int i = 0; i < 100 && !(p->cl_rc && p->sv_rc); i++) {
    int moved = tp_hs_step(p, p->cl, &p->cl_rc, &p->s2c, &p->c2s, 0);
    ed_tls_mark_io_thread(1);
    moved |= tp_hs_step(p, p->sv, &p->sv_rc, &p->c2s, &p->s2c, 1);
    ed_tls_mark_io_thread(0);
    if (!moved) break;
  }
}

/* tail_case: a first handshake (gets a ticket), then a second one with
 * it, |flights| client/server rounds before the server waits for the
 * client's Finished. Returns ed_tls_conn_resumption_tail after the
 * full handshake's first step in |*out_full|, and after the resumption's
 * first rounds; finishes the resumption on a marked thread and checks it
 * resumed and echoes. */
static int tail_case(struct ed_tls_snapshot *s, SSL_CTX *cctx, int flights,
                     int *out_full) {
  SSL_SESSION_free(tp_last_session);
  tp_last_session = NULL;
  struct tp_pair p;
  tp_pair_init(&p, cctx, s, NULL, 1 << 20);
  CHECK_EQ(server_flight(&p, flights), 0);
  *out_full = ed_tls_conn_resumption_tail(p.sv);
  tp_handshake(&p);
  CHECK_EQ(p.sv_rc, 1);
  CHECK_EQ(tp_echo(&p, (const uint8_t *)"t", 1), 0); /* TLS 1.3 ticket */
  tp_pair_free(&p);
  CHECK(tp_last_session != NULL);
  SSL_SESSION *sess = tp_last_session;
  SSL_SESSION_up_ref(sess);
  tp_pair_init(&p, cctx, s, sess, 1 << 20);
  CHECK_EQ(server_flight(&p, flights), 0);
  int tail = ed_tls_conn_resumption_tail(p.sv);
  if (tail) {
    finish_on_io_thread(&p);
    CHECK_EQ(p.sv_rc, 1);
    CHECK_EQ(p.cl_rc, 1);
    CHECK(ed_tls_conn_resumed(p.sv));
    CHECK_EQ(ed_tls_conn_resumption_tail(p.sv), 0); /* done */
    CHECK_EQ(tp_echo(&p, (const uint8_t *)"inline", 6), 0);
    CHECK_STR(ed_tls_peer_cn(ed_tls_conn_peer(p.sv), NULL), "alice");
  }
  tp_pair_free(&p);
  SSL_SESSION_free(sess);
  return tail;
}

/* A resumption's last step (client Finished, new ticket) may run on an
 * I/O loop; a full handshake's never, nor a resumption that still has to
 * answer a HelloRetryRequest (its key exchange is ahead). This also pins
 * the BoringSSL state names ed_tls_conn_resumption_tail relies on. */
static void test_resumption_tail(void) {
  struct ed_tls_params prm = base_params();
  prm.tls_min = TLS1_2_VERSION;
  struct ed_tls_snapshot *s = snap_with(&prm);
  int full;
  SSL_CTX *cctx = client_ctx(alice, TLS1_3_VERSION);
  CHECK_EQ(tail_case(s, cctx, 1, &full), 1);
  CHECK_EQ(full, 0);
  SSL_CTX_free(cctx);
  cctx = client_ctx(alice, TLS1_2_VERSION);
  CHECK_EQ(tail_case(s, cctx, 1, &full), 1);
  CHECK_EQ(full, 0);
  SSL_CTX_free(cctx);
  /* The client's key share (P-521) is not one the server takes: HRR. */
  cctx = client_ctx(alice, TLS1_3_VERSION);
  CHECK(SSL_CTX_set1_curves_list(cctx, "P-521:P-256"));
  struct tp_pair p;
  tp_pair_init(&p, cctx, s, NULL, 1 << 20);
  CHECK_EQ(server_flight(&p, 1), 0);
  CHECK_EQ(ed_tls_conn_resumption_tail(p.sv), 0); /* HRR sent */
  tp_pair_free(&p);
  CHECK_EQ(tail_case(s, cctx, 2, &full), 1);
  CHECK_EQ(full, 0);
  /* ... and after the HRR round of a resumption, not yet either. */
  SSL_SESSION *sess = tp_last_session;
  SSL_SESSION_up_ref(sess);
  tp_pair_init(&p, cctx, s, sess, 1 << 20);
  CHECK_EQ(server_flight(&p, 1), 0);
  CHECK_EQ(ed_tls_conn_resumption_tail(p.sv), 0);
  tp_pair_free(&p);
  SSL_SESSION_free(sess);
  SSL_CTX_free(cctx);
  ed_tls_snapshot_unref(s);
}

/* On a thread marked as an I/O loop, the certificate checks refuse: a full
 * handshake's client chain and a ticket's re-check both fail the
 * handshake with an internal error instead of running there. */
static void test_io_thread_guard(void) {
  struct ed_tls_params prm = base_params();
  struct ed_tls_snapshot *s = snap_with(&prm);
  SSL_CTX *cctx = client_ctx(alice, TLS1_3_VERSION);
  SSL_SESSION_free(tp_last_session);
  tp_last_session = NULL;
  struct tp_pair p;
  tp_pair_init(&p, cctx, s, NULL, 1 << 20);
  CHECK_EQ(server_flight(&p, 1), 0);
  finish_on_io_thread(&p); /* the client's Certificate arrives here */
  CHECK(p.sv_rc < 0);
  CHECK_EQ(p.reason, ED_HS_OTHER);
  CHECK(ed_tls_conn_peer(p.sv) == NULL);
  tp_pair_free(&p);
  /* The same handshake off the marked thread works and gives a ticket. */
  tp_pair_init(&p, cctx, s, NULL, 1 << 20);
  tp_handshake(&p);
  CHECK_EQ(p.sv_rc, 1);
  CHECK_EQ(tp_echo(&p, (const uint8_t *)"t", 1), 0);
  tp_pair_free(&p);
  CHECK(tp_last_session != NULL);
  /* A ticket opened on a marked thread: refused, not resumed. */
  SSL_SESSION *sess = tp_last_session;
  SSL_SESSION_up_ref(sess);
  tp_pair_init(&p, cctx, s, sess, 1 << 20);
  tp_hs_step(&p, p.cl, &p.cl_rc, &p.s2c, &p.c2s, 0);
  ed_tls_mark_io_thread(1);
  tp_hs_step(&p, p.sv, &p.sv_rc, &p.c2s, &p.s2c, 1);
  ed_tls_mark_io_thread(0);
  CHECK(p.sv_rc < 0);
  CHECK_EQ(p.reason, ED_HS_OTHER);
  const char *detail = NULL;
  ed_tls_conn_failure(p.sv, &detail);
  CHECK(strstr(detail, "I/O loop") != NULL);
  tp_pair_free(&p);
  SSL_SESSION_free(sess);
  SSL_CTX_free(cctx);
  ed_tls_snapshot_unref(s);
}

/* A handshake that completed, then refused by a later check (its
 * identity against a newer snapshot): the client reads the alert of the
 * reason, the server reports the reason and who it was. */
static void test_refuse_after_handshake(void) {
  struct ed_tls_params prm = base_params();
  struct ed_tls_snapshot *s = snap_with(&prm);
  SSL_CTX *cctx = client_ctx(alice, TLS1_3_VERSION);
  struct tp_pair p;
  tp_pair_init(&p, cctx, s, NULL, 1 << 20);
  tp_handshake(&p);
  CHECK_EQ(p.sv_rc, 1);
  check_presented(p.sv, alice);
  struct ed_tls_io io = {NULL, 0, 0, &p.s2c};
  CHECK_EQ(ed_tls_conn_refuse(p.sv, &io, ED_HS_CERT_REVOKED, "revoked later"),
           ED_E_TLS);
  const char *detail = NULL;
  CHECK_EQ(ed_tls_conn_failure(p.sv, &detail), ED_HS_CERT_REVOKED);
  CHECK_STR(detail, "revoked later");
  CHECK_EQ(tp_client_alert(&p), SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED);
  /* The re-check itself refuses to run on an I/O loop. */
  const struct ed_tls_peer *peer = ed_tls_conn_peer(p.sv);
  enum ed_hs_reason r;
  CHECK_EQ(ed_tls_peer_recheck(s, peer, time(NULL), &r, &detail), 0);
  ed_tls_mark_io_thread(1);
  CHECK_EQ(ed_tls_peer_recheck(s, peer, time(NULL), &r, &detail), ED_E_VERIFY);
  ed_tls_mark_io_thread(0);
  CHECK_EQ(r, ED_HS_OTHER);
  CHECK(strstr(detail, "I/O loop") != NULL);
  tp_pair_free(&p);
  SSL_CTX_free(cctx);
  ed_tls_snapshot_unref(s);
}

/* A handshake under way is told to decide with a newer snapshot before
 * the client's certificate arrives: the newer one's allow-list refuses
 * it, in the handshake itself (no ticket was sent). */
static void test_retrust_mid_handshake(void) {
  struct ed_tls_params prm = base_params();
  struct ed_tls_snapshot *s1 = snap_with(&prm);
  const char *cns[] = {"bob"};
  prm.allow_cn = cns, prm.num_allow_cn = 1;
  struct ed_tls_snapshot *s2 = snap_with(&prm);
  SSL_CTX *cctx = client_ctx(alice, TLS1_3_VERSION);
  struct tp_pair p;
  tp_pair_init(&p, cctx, s1, NULL, 1 << 20);
  CHECK_EQ(server_flight(&p, 1), 0);
  ed_tls_conn_retrust(p.sv, s2);
  ed_tls_snapshot_unref(s2); /* |p.sv| holds it now */
  tp_handshake(&p);
  CHECK(p.sv_rc < 0);
  CHECK_EQ(p.reason, ED_HS_ACL_DENIED);
  CHECK_EQ(tp_client_alert(&p), SSL_R_TLSV1_ALERT_ACCESS_DENIED);
  check_presented(p.sv, alice);
  tp_pair_free(&p);
  SSL_CTX_free(cctx);
  ed_tls_snapshot_unref(s1);
}

static void teardown(void) {
  X509 *all[] = {ca,      rogue,  srv,     alice, bob,
                 expired, notyet, revoked, noeku, rogue_cli};
  for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) X509_free(all[i]);
  EVP_PKEY_free(ca_key);
  EVP_PKEY_free(rogue_key);
  EVP_PKEY_free(srv_key);
  EVP_PKEY_free(cli_key);
  ed_tls_keyring_unref(keyring);
}

int main(void) {
  ed_log_set_level(ED_LOG_WARN);
  setup();
  RUN(test_snapshot_ok);
  RUN(test_snapshot_failures);
  RUN(test_crl_many_serials);
  RUN(test_index_many_cas);
  RUN(test_index_keys_per_name);
  RUN(test_group_readable_key);
  RUN(test_handshake_and_echo);
  RUN(test_one_byte_transport);
  RUN(test_refusals);
  RUN(test_allow_lists);
  RUN(test_allow_lists_many);
  RUN(test_allow_san_lookup_matches_scan);
  RUN(test_verified_chain_cache);
  RUN(test_tls12_option);
  RUN(test_garbage);
  RUN(test_garbage_after_hello);
  RUN(test_plaintext_alert_after_flight);
  RUN(test_plaintext_alert_lookalike_tail);
  RUN(test_presented_is_bounded);
  RUN(test_key_usage_without_signing);
  RUN(test_watch_peer);
  RUN(test_resumption);
  RUN(test_resumption_tail);
  RUN(test_io_thread_guard);
  RUN(test_refuse_after_handshake);
  RUN(test_retrust_mid_handshake);
  teardown();
  return TEST_RESULT();
}

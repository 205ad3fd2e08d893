/* internal/tls tests for identity and revocation: what a certificate's
 * names become (exact, typed, never cut), which names are refused
 * (bad_identity), how --allow-san matches (no substring, prefix or other
 * entry), ed_tls_peer_recheck under changed snapshots, several CRLs (per
 * CA, several per file, the newest of one CA), the whole chain's
 * revocation, --crl-expired, --max-chain-depth, and tickets re-checked
 * across the whole chain. Certificates are minted as an attacker would. */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal/base/base.h"
#include "internal/testing/testing.h"
#include "internal/tls/testcerts.h"
#include "internal/tls/testpair.h"
#include "internal/tls/tls.h"

/* ---- fixture ---------------------------------------------------------- */

static EVP_PKEY *key_a, *key_b, *key_i, *srv_key, *cli_key;
static X509 *ca_a, *ca_b, *inter, *srv, *srv_b, *alice, *bob_b, *carol, *dave_b;
static struct ed_tls_keyring *keyring;

/* FREE_CERTS(x, ...) and FREE_KEYS(k, ...) free what a test minted. */
static void free_certs(X509 *const *x, size_t n) {
  for (size_t i = 0; i < n; i++) X509_free(x[i]);
}
static void free_keys(EVP_PKEY *const *k, size_t n) {
  for (size_t i = 0; i < n; i++) EVP_PKEY_free(k[i]);
}
#define FREE_CERTS(...)               \
  free_certs((X509 *[]){__VA_ARGS__}, \
             sizeof((X509 *[]){__VA_ARGS__}) / sizeof(X509 *))
#define FREE_KEYS(...)                   \
  free_keys((EVP_PKEY *[]){__VA_ARGS__}, \
            sizeof((EVP_PKEY *[]){__VA_ARGS__}) / sizeof(EVP_PKEY *))

static X509 *client(const char *cn, X509 *issuer, EVP_PKEY *ikey,
                    const char *san) {
  struct tc_opts o = {.cn = cn,
                      .issuer = issuer,
                      .issuer_key = ikey,
                      .eku = TC_EKU_CLIENT,
                      .san = san};
  return tc_cert(cli_key, &o);
}

/* hostile mints a client of CA A from |o| (issuer, EKU and key set). */
static X509 *hostile(struct tc_opts o) {
  o.issuer = ca_a, o.issuer_key = key_a, o.eku = TC_EKU_CLIENT;
  return tc_cert(cli_key, &o);
}

static void write_crl(const char *name, X509 *ca, EVP_PKEY *key, X509 *revoked,
                      long next_s) {
  X509_CRL *crl =
      tc_crl(ca, key, revoked ? &revoked : NULL, revoked ? 1 : 0, next_s);
  tc_write_crl(tc_path(name), crl);
  X509_CRL_free(crl);
}

static void setup(void) {
  key_a = tc_key(), key_b = tc_key(), key_i = tc_key();
  srv_key = tc_key(), cli_key = tc_key();
  struct tc_opts o = {.cn = "root A"};
  ca_a = tc_cert(key_a, &o);
  o.cn = "root B";
  ca_b = tc_cert(key_b, &o);
  struct tc_opts io = {
      .cn = "inter A1", .issuer = ca_a, .issuer_key = key_a, .ca = 1};
  inter = tc_cert(key_i, &io);
  struct tc_opts so = {.cn = "server",
                       .issuer = ca_a,
                       .issuer_key = key_a,
                       .eku = TC_EKU_SERVER,
                       .san = "DNS:localhost"};
  srv = tc_cert(srv_key, &so);
  so.issuer = ca_b, so.issuer_key = key_b;
  srv_b = tc_cert(srv_key, &so);
  alice = client("alice", ca_a, key_a,
                 "DNS:alice.example,URI:spiffe://echod/alice,IP:127.0.0.1,"
                 "IP:::1");
  bob_b = client("bob", ca_b, key_b, NULL);
  dave_b = client("dave", ca_b, key_b, NULL);
  carol = client("carol", inter, key_i, NULL);
  tc_write_cert(tc_path("a.pem"), &ca_a, 1);
  tc_write_cert(tc_path("b.pem"), &ca_b, 1);
  X509 *ab[] = {ca_a, ca_b}, *ai[] = {ca_a, inter};
  tc_write_cert(tc_path("ab.pem"), ab, 2);
  tc_write_cert(tc_path("a-inter.pem"), ai, 2);
  /* inter re-issued: the same name and key, another certificate (pathlen
   * 0 here; name constraints would do the same). */
  io.to_s = 3600; /* renewed: the same extensions, another validity */
  X509 *renewed = tc_cert(key_i, &io);
  io.bc = "critical,CA:TRUE,pathlen:0";
  X509 *reissued = tc_cert(key_i, &io);
  X509 *ar[] = {ca_a, reissued}, *air[] = {ca_a, inter, reissued},
       *an[] = {ca_a, renewed};
  tc_write_cert(tc_path("a-reissued.pem"), ar, 2);
  tc_write_cert(tc_path("a-inter-reissued.pem"), air, 3);
  tc_write_cert(tc_path("a-renewed.pem"), an, 2);
  FREE_CERTS(reissued, renewed);
  tc_write_cert(tc_path("srv.pem"), &srv, 1);
  tc_write_cert(tc_path("srv-b.pem"), &srv_b, 1);
  tc_write_key(tc_path("srv.key"), srv_key, 0600);
  write_crl("crl-a.pem", ca_a, key_a, NULL, 86400);
  write_crl("crl-a-alice.pem", ca_a, key_a, alice, 86400);
  write_crl("crl-a-inter.pem", ca_a, key_a, inter, 86400);
  write_crl("crl-a-srv.pem", ca_a, key_a, srv, 86400);
  write_crl("crl-b.pem", ca_b, key_b, NULL, 86400);
  write_crl("crl-b-dave.pem", ca_b, key_b, dave_b, 86400);
  write_crl("crl-i.pem", inter, key_i, NULL, 86400);
  write_crl("crl-i-old.pem", inter, key_i, NULL, -30);
  keyring = ed_tls_keyring_new(3600);
}

static void teardown(void) {
  FREE_CERTS(ca_a, ca_b, inter, srv, srv_b, alice, bob_b, carol, dave_b);
  FREE_KEYS(key_a, key_b, key_i, srv_key, cli_key);
  SSL_SESSION_free(tp_last_session);
  tp_last_session = NULL;
  ed_tls_keyring_unref(keyring);
}

/* A snapshot's inputs; CRL names are files under tc_path. */
struct setup {
  const char *ca, *cert; /* default a.pem, srv.pem */
  const char *crls[4];
  int refuse, depth; /* depth < 0: no limit */
  const char *allow_san, *allow_cn;
};

static int build(struct ed_tls_snapshot **out, const struct setup *u, char *err,
                 size_t err_len) {
  char paths[4][512];
  const char *crls[4];
  size_t n = 0;
  for (; n < 4 && u->crls[n]; n++) {
    snprintf(paths[n], sizeof(paths[n]), "%s", tc_path(u->crls[n]));
    crls[n] = paths[n];
  }
  char ca[512], cert[512], key[512];
  snprintf(ca, sizeof(ca), "%s", tc_path(u->ca ? u->ca : "a.pem"));
  snprintf(cert, sizeof(cert), "%s", tc_path(u->cert ? u->cert : "srv.pem"));
  snprintf(key, sizeof(key), "%s", tc_path("srv.key"));
  struct ed_tls_params p = {.cert = cert,
                            .key = key,
                            .ca = ca,
                            .crls = crls,
                            .num_crls = n,
                            .crl_expired_refuse = u->refuse,
                            .limit_chain_depth = u->depth >= 0,
                            .max_chain_depth = (uint32_t)u->depth,
                            .allow_san = &u->allow_san,
                            .num_allow_san = u->allow_san != NULL,
                            .allow_cn = &u->allow_cn,
                            .num_allow_cn = u->allow_cn != NULL,
                            .keyring = keyring};
  return ed_tls_snapshot_new(out, &p, err, err_len);
}

static struct ed_tls_snapshot *snap(struct setup u) {
  struct ed_tls_snapshot *s = NULL;
  char err[512] = "";
  int rc = build(&s, &u, err, sizeof(err));
  if (rc) fprintf(stderr, "  snapshot: %s\n", err);
  CHECK_EQ(rc, 0);
  return s;
}

/* snap_fails checks the build fails with |want_rc| and a message holding
 * |want|. */
static void snap_fails(struct setup u, int want_rc, const char *want) {
  struct ed_tls_snapshot *s = NULL;
  char err[512] = "";
  CHECK_EQ(build(&s, &u, err, sizeof(err)), want_rc);
  CHECK(s == NULL);
  CHECK(strstr(err, want) != NULL);
  if (!strstr(err, want)) fprintf(stderr, "  message: %s\n", err);
  ed_tls_snapshot_unref(s);
}

/* A re-check's or a handshake's reason when it passed. */
static const enum ed_hs_reason PASS = ED_HS_REASON_COUNT;

/* run_chain runs a handshake of |leaf| sending |c1| then |c2| (either
 * NULL) as intermediates against |s|, with |sess| to resume. Returns the
 * server's result; sets, when asked, |*reason| (the refusal's; PASS when
 * served), |*alert| (the client's alert reason on a refusal, else 0) and,
 * when served, |*out| (the identity, a reference) and |*resumed|. */
static int run_chain(struct ed_tls_snapshot *s, X509 *leaf, X509 *c1, X509 *c2,
                     SSL_SESSION *sess, enum ed_hs_reason *reason, int *alert,
                     const struct ed_tls_peer **out, int *resumed) {
  SSL_CTX *cctx = tp_client_ctx(leaf, cli_key, c1, ca_a, TLS1_3_VERSION);
  if (c2) CHECK(SSL_CTX_add1_chain_cert(cctx, c2));
  struct tp_pair p;
  tp_pair_init(&p, cctx, s, sess, 1 << 20);
  tp_handshake(&p);
  int rc = p.sv_rc;
  if (reason) *reason = rc < 0 ? p.reason : PASS;
  if (alert) *alert = rc < 0 ? tp_client_alert(&p) : 0;
  if (rc == 1) {
    CHECK_EQ(tp_echo(&p, (const uint8_t *)"ok", 2), 0); /* + a ticket */
    if (out) ed_tls_peer_ref(*out = ed_tls_conn_peer(p.sv));
    if (resumed) *resumed = ed_tls_conn_resumed(p.sv);
  }
  tp_pair_free(&p);
  SSL_CTX_free(cctx);
  return rc;
}

/* refused_for checks that |s| refuses |leaf| sending |c1|, |c2| (with
 * |ticket| to resume, or NULL) for |want|; returns the client's alert. */
static int refused_for(struct ed_tls_snapshot *s, X509 *leaf, X509 *c1,
                       X509 *c2, SSL_SESSION *ticket, enum ed_hs_reason want) {
  enum ed_hs_reason r = PASS;
  int alert = 0;
  CHECK(run_chain(s, leaf, c1, c2, ticket, &r, &alert, NULL, NULL) < 0);
  CHECK_EQ(r, want);
  if (r != want) fprintf(stderr, "  got %s\n", ed_hs_reason_name(r));
  return alert;
}

static void expect_refused(struct ed_tls_snapshot *s, X509 *cert, X509 *chain,
                           enum ed_hs_reason want, int want_alert) {
  CHECK_EQ(refused_for(s, cert, chain, NULL, NULL, want), want_alert);
}

static const struct ed_tls_peer *peer_of(struct ed_tls_snapshot *s, X509 *cert,
                                         X509 *chain) {
  const struct ed_tls_peer *p = NULL;
  CHECK_EQ(run_chain(s, cert, chain, NULL, NULL, NULL, NULL, &p, NULL), 1);
  return p;
}

/* peer_under: peer_of under a snapshot of |u| made for it (NULL if that
 * snapshot failed). */
static const struct ed_tls_peer *peer_under(struct setup u, X509 *cert,
                                            X509 *chain) {
  struct ed_tls_snapshot *s = snap(u);
  const struct ed_tls_peer *p = s ? peer_of(s, cert, chain) : NULL;
  ed_tls_snapshot_unref(s);
  return p;
}

/* What a full handshake left: the identity (a reference) and the last
 * ticket the client was given (owned), either NULL; |resumed| 0 (-1 when
 * refused). session_free drops both. */
struct session {
  const struct ed_tls_peer *peer;
  SSL_SESSION *ticket;
  int resumed;
};

/* full_session checks that a full handshake of |leaf| sending |c1|, |c2|
 * passes |s| (and says why not), and keeps its identity and its ticket. */
static struct session full_session(struct ed_tls_snapshot *s, X509 *leaf,
                                   X509 *c1, X509 *c2) {
  struct session x = {NULL, NULL, -1};
  enum ed_hs_reason r = PASS;
  SSL_SESSION_free(tp_last_session);
  tp_last_session = NULL;
  CHECK_EQ(run_chain(s, leaf, c1, c2, NULL, &r, NULL, &x.peer, &x.resumed), 1);
  if (r != PASS) fprintf(stderr, "  refused %s\n", ed_hs_reason_name(r));
  x.ticket = tp_last_session;
  tp_last_session = NULL;
  return x;
}

static void session_free(struct session *x) {
  ed_tls_peer_unref(x->peer);
  SSL_SESSION_free(x->ticket);
}

/* expect_served checks that a full handshake of |leaf| sending |c1|, |c2|
 * passes |s|. */
static void expect_served(struct ed_tls_snapshot *s, X509 *leaf, X509 *c1,
                          X509 *c2) {
  struct session x = full_session(s, leaf, c1, c2);
  session_free(&x);
}

/* What a handshake gave: the server's result (1 served, <0 refused), the
 * refusal's reason (PASS when served), and 1 if a ticket resumed it (0 a
 * full handshake, -1 refused). */
struct outcome {
  int rc;
  enum ed_hs_reason reason;
  int resumed;
};

/* handshake runs |leaf| sending |c1|, |c2| against |s|, offering |ticket|
 * to resume (NULL: a full handshake). */
static struct outcome handshake(struct ed_tls_snapshot *s, X509 *leaf, X509 *c1,
                                X509 *c2, SSL_SESSION *ticket) {
  struct outcome o = {0, PASS, -1};
  o.rc = run_chain(s, leaf, c1, c2, ticket, &o.reason, NULL, NULL, &o.resumed);
  return o;
}

static int from_der(struct ed_tls_peer **out, const char **why, X509 *x) {
  uint8_t *der = NULL;
  int len = i2d_X509(x, &der);
  int rc = ed_tls_peer_from_der(out, why, der, (size_t)len);
  OPENSSL_free(der);
  return rc;
}

/* ---- extraction ------------------------------------------------------- */

static void check_san(const struct ed_tls_peer *p, size_t i,
                      enum ed_san_type type, const char *value, size_t len) {
  const char *v = NULL;
  size_t n = 0;
  CHECK_EQ(ed_tls_peer_san(p, i, &v, &n), type);
  CHECK_EQ(n, len);
  CHECK(v && memcmp(v, value, len) == 0 && v[len] == '\0');
}

static void test_extract(void) {
  struct ed_tls_peer *p = NULL;
  const char *why = NULL;
  CHECK_EQ(from_der(&p, &why, alice), 0);
  size_t cn_len = 0;
  CHECK_STR(ed_tls_peer_cn(p, &cn_len), "alice");
  CHECK_EQ(cn_len, 5);
  CHECK(ed_tls_peer_cn_is(p, "alice"));
  CHECK(!ed_tls_peer_cn_is(p, "alic") && !ed_tls_peer_cn_is(p, "alice "));
  CHECK_EQ(ed_tls_peer_num_sans(p), 4);
  check_san(p, 0, ED_SAN_DNS, "alice.example", 13);
  check_san(p, 1, ED_SAN_URI, "spiffe://echod/alice", 20);
  check_san(p, 2, ED_SAN_IP, "127.0.0.1", 9);
  check_san(p, 3, ED_SAN_IP, "::1", 3);
  char *t = ed_tls_peer_sans_text(p);
  CHECK_STR(t,
            "DNS:alice.example,URI:spiffe://echod/alice,IP:127.0.0.1,"
            "IP:::1");
  free(t);
  CHECK(strlen(ed_tls_peer_serial(p)) >= 2);
  CHECK_EQ(ed_tls_peer_chain_depth(p), 0);
  ed_tls_peer_unref(p);

  /* A comma is part of the one value; the log text cannot be split
   * into two SANs. */
  struct tc_san uri = {GEN_URI,
                       "spiffe://echod/mallory,URI:spiffe://echod/admin", 0};
  X509 *x = hostile((struct tc_opts){.cn = "m%", .sans = &uri, .num_sans = 1});
  CHECK_EQ(from_der(&p, &why, x), 0);
  CHECK_EQ(ed_tls_peer_num_sans(p), 1);
  check_san(p, 0, ED_SAN_URI, uri.value, strlen(uri.value));
  t = ed_tls_peer_sans_text(p);
  CHECK_STR(t, "URI:spiffe://echod/mallory%2CURI:spiffe://echod/admin");
  free(t);
  ed_tls_peer_unref(p);
  X509_free(x);

  /* 200 bytes of CN: kept whole. */
  char long_cn[201];
  memset(long_cn, 'c', 200);
  long_cn[200] = '\0';
  /* Past X.520's 64-character bound, which CAs do not all enforce. */
  x = hostile((struct tc_opts){.cn = long_cn, .cn_type = V_ASN1_UTF8STRING});
  CHECK_EQ(from_der(&p, &why, x), 0);
  CHECK_STR(ed_tls_peer_cn(p, &cn_len), long_cn);
  CHECK_EQ(cn_len, 200);
  ed_tls_peer_unref(p);
  X509_free(x);
  CHECK_EQ(ed_tls_peer_from_der(&p, &why, (const uint8_t *)"\x30\x03xyz", 5),
           ED_E_PARSE);
}

struct bad_case {
  struct tc_opts o;
  const char *why;
};

static void test_bad_identity_names(void) {
  static const struct tc_san nul_dns = {GEN_DNS, "admin\0.attacker.example",
                                        24};
  static const struct tc_san esc_uri = {GEN_URI, "spiffe://x/\x1b[2J", 0};
  static const struct tc_san hi_dns = {GEN_DNS, "caf\xc3\xa9.example", 0};
  static const struct tc_san ip5 = {GEN_IPADD, "\x0a\x00\x00\x01\x02", 5};
  static const struct tc_san del_email = {GEN_EMAIL, "a\x7f@example.com", 0};
  static const struct tc_san ok_dns = {GEN_DNS, "ok.example", 0};
  const struct bad_case cases[] = {
      {{.cn = "alice\0evil", .cn_len = 10}, "CN holds a NUL"},
      {{.cn = "alice\x1b[31m"}, "CN holds a NUL or another control"},
      {{.cn = "alice\nadmin"}, "CN holds a NUL or another control"},
      {{.cn = "alice\xc2\x9b"}, "CN holds a NUL or another control"}, /* C1 */
      {{.cn = "alice", .cn2 = "admin"}, "two or more CNs"},
      {{.cn = "m", .sans = &nul_dns, .num_sans = 1}, "DNS SAN holds a NUL"},
      {{.cn = "m", .sans = &esc_uri, .num_sans = 1}, "URI SAN holds a NUL"},
      {{.cn = "m", .sans = &del_email, .num_sans = 1}, "email SAN holds"},
      {{.cn = "m", .sans = &hi_dns, .num_sans = 1}, "DNS SAN is not ASCII"},
      {{.cn = "m", .sans = &ip5, .num_sans = 1}, "not 4 or 16 bytes"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    X509 *x = hostile(cases[i].o);
    struct ed_tls_peer *p = NULL;
    const char *why = "";
    CHECK_EQ(from_der(&p, &why, x), ED_E_INVAL);
    CHECK(p == NULL);
    CHECK(why && strstr(why, cases[i].why) != NULL);
    if (!why || !strstr(why, cases[i].why))
      fprintf(stderr, "  case %zu: %s\n", i, why ? why : "(null)");
    X509_free(x);
  }
  /* Invalid UTF-8 in a UTF8String CN (BoringSSL will not even sign one:
   * patched into the DER): refused, here or by the parser itself. */
  static const char *const bad_utf8[] = {"\xff", "\xc0\xaf", "\xed\xa0\x80"};
  for (size_t i = 0; i < 3; i++) {
    X509 *x = hostile((struct tc_opts){.cn = "alice-XYZ"});
    uint8_t *der = NULL;
    int len = i2d_X509(x, &der);
    uint8_t *at = memmem(der, (size_t)len, "XYZ", 3);
    CHECK(at != NULL);
    if (at) memcpy(at, bad_utf8[i], strlen(bad_utf8[i]));
    if (at && strlen(bad_utf8[i]) < 3) at[strlen(bad_utf8[i])] = 'A';
    struct ed_tls_peer *p = NULL;
    const char *why = NULL;
    CHECK(ed_tls_peer_from_der(&p, &why, der, (size_t)len) != 0);
    CHECK(p == NULL);
    OPENSSL_free(der);
    X509_free(x);
  }
  /* Two SAN extensions: refused here, or by the parser itself. */
  X509 *x = hostile((struct tc_opts){
      .cn = "m", .sans = &ok_dns, .num_sans = 1, .dup_san = 1});
  struct ed_tls_peer *p = NULL;
  const char *why = NULL;
  CHECK(from_der(&p, &why, x) != 0);
  CHECK(p == NULL);
  X509_free(x);
}

/* Through a real handshake: each refused as bad_identity with
 * bad_certificate; a 200-byte CN gets in whole. */
static void test_bad_identity_handshake(void) {
  struct ed_tls_snapshot *s = snap((struct setup){.depth = -1});
  static const struct tc_san nul_dns = {GEN_DNS, "admin\0.attacker.example",
                                        24};
  X509 *bad[] = {
      hostile((struct tc_opts){.cn = "alice\0evil", .cn_len = 10}),
      hostile((struct tc_opts){.cn = "alice", .cn2 = "admin"}),
      hostile((struct tc_opts){.cn = "alice", .sans = &nul_dns, .num_sans = 1}),
      hostile((struct tc_opts){.cn = "a CA", .ca = 1}), /* CA:TRUE leaf */
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    expect_refused(s, bad[i], NULL, ED_HS_BAD_IDENTITY,
                   SSL_R_SSLV3_ALERT_BAD_CERTIFICATE);
    X509_free(bad[i]);
  }
  char long_cn[201];
  memset(long_cn, 'L', 200);
  long_cn[200] = '\0';
  X509 *x =
      hostile((struct tc_opts){.cn = long_cn, .cn_type = V_ASN1_UTF8STRING});
  const struct ed_tls_peer *p = peer_of(s, x, NULL);
  size_t n = 0;
  if (p) CHECK_STR(ed_tls_peer_cn(p, &n), long_cn);
  CHECK_EQ(n, 200);
  ed_tls_peer_unref(p);
  X509_free(x);
  ed_tls_snapshot_unref(s);
}

/* ---- --allow-san, --allow-cn ------------------------------------------ */

/* allowed says whether |p| passes an allow-list of one SAN entry. */
static int allowed(const struct ed_tls_peer *p, const char *allow_san,
                   const char *allow_cn) {
  struct ed_tls_snapshot *s = snap((struct setup){
      .depth = -1, .allow_san = allow_san, .allow_cn = allow_cn});
  enum ed_hs_reason r = ED_HS_OTHER;
  const char *d = NULL;
  int rc = s ? ed_tls_peer_recheck(s, p, (int64_t)time(NULL), &r, &d) : -1;
  if (rc) CHECK_EQ(r, ED_HS_ACL_DENIED);
  ed_tls_snapshot_unref(s);
  return rc == 0;
}

static void test_allow_lists(void) {
  struct ed_tls_snapshot *s = snap((struct setup){.depth = -1});
  const struct ed_tls_peer *a = peer_of(s, alice, NULL);
  struct tc_san uri = {GEN_URI,
                       "spiffe://echod/mallory,URI:spiffe://echod/admin", 0};
  struct tc_san mail = {GEN_EMAIL, "mallory,admin@example.com", 0};
  struct tc_san v4m = {GEN_IPADD, "\0\0\0\0\0\0\0\0\0\0\xff\xff\x7f\0\0\x01",
                       16};
  X509 *xu = hostile((struct tc_opts){.cn = "m1", .sans = &uri, .num_sans = 1});
  X509 *xm =
      hostile((struct tc_opts){.cn = "m2", .sans = &mail, .num_sans = 1});
  X509 *xv = hostile((struct tc_opts){.cn = "m3", .sans = &v4m, .num_sans = 1});
  const struct ed_tls_peer *mu = peer_of(s, xu, NULL);
  const struct ed_tls_peer *mm = peer_of(s, xm, NULL);
  const struct ed_tls_peer *mv = peer_of(s, xv, NULL);
  if (!a || !mu || !mm || !mv) return;
  /* The comma attacks: one SAN is one value, never a list. */
  CHECK(!allowed(mu, "spiffe://echod/admin", NULL));
  CHECK(!allowed(mu, "URI:spiffe://echod/admin", NULL));
  CHECK(!allowed(mu, "spiffe://echod/mallory", NULL));
  CHECK(
      allowed(mu, "URI:spiffe://echod/mallory,URI:spiffe://echod/admin", NULL));
  CHECK(!allowed(mm, "admin@example.com", NULL));
  CHECK(!allowed(mm, "email:admin@example.com", NULL));
  CHECK(allowed(mm, "mallory,admin@example.com", NULL));
  /* Typed entries: DNS ignores ASCII case, URI and email do not. */
  CHECK(allowed(a, "DNS:ALICE.Example", NULL));
  CHECK(allowed(a, "alice.EXAMPLE", NULL)); /* bare, matches the DNS SAN */
  CHECK(allowed(a, "URI:spiffe://echod/alice", NULL));
  CHECK(!allowed(a, "URI:SPIFFE://echod/alice", NULL));
  CHECK(!allowed(a, "DNS:spiffe://echod/alice", NULL)); /* wrong type */
  CHECK(!allowed(a, "email:alice.example", NULL));
  /* No substring, prefix or suffix. */
  CHECK(!allowed(a, "alice", NULL));
  CHECK(!allowed(a, "alice.exampl", NULL));
  CHECK(!allowed(a, "DNS:alice.example.", NULL));
  CHECK(!allowed(a, "spiffe://echod/alic", NULL));
  CHECK(!allowed(a, "URI:spiffe://echod/alice/x", NULL));
  /* IP SANs compare as addresses. */
  CHECK(allowed(a, "IP:::1", NULL));
  CHECK(allowed(a, "IP:0:0:0:0:0:0:0:1", NULL));
  CHECK(allowed(a, "::1", NULL)); /* bare: an address matches IP SANs */
  CHECK(allowed(a, "IP:127.0.0.1", NULL));
  CHECK(!allowed(a, "IP:127.0.0.2", NULL));
  CHECK(!allowed(mv, "IP:127.0.0.1", NULL)); /* ::ffff:127.0.0.1 is 16 bytes */
  CHECK(allowed(mv, "IP:::ffff:127.0.0.1", NULL));
  /* --allow-cn: exact bytes. */
  CHECK(allowed(a, NULL, "alice"));
  CHECK(!allowed(a, NULL, "Alice"));
  CHECK(!allowed(a, NULL, "alic"));
  const struct ed_tls_peer *all[] = {a, mu, mm, mv};
  for (size_t i = 0; i < 4; i++) ed_tls_peer_unref(all[i]);
  FREE_CERTS(xu, xm, xv);
  ed_tls_snapshot_unref(s);
}

/* A bare --allow-san value matches only the SAN type its form names
 * ("://" URI, "@" email, an address IP, else DNS); prefixes in any case.
 * Before: a bare value matched every type (so the DNS SAN
 * SPIFFE://ECHOD/ADMIN, compared ignoring case, passed for
 * spiffe://echod/admin), and "dns:" was a bare value. */
static void test_allow_san_types(void) {
  struct ed_tls_snapshot *s = snap((struct setup){.depth = -1});
  struct tc_san d1 = {GEN_DNS, "SPIFFE://ECHOD/ADMIN", 0};
  struct tc_san d2 = {GEN_DNS, "admin@example.com", 0};
  struct tc_san d3 = {GEN_DNS, "127.0.0.1", 0};
  struct tc_san e1 = {GEN_EMAIL, "admin@example.com", 0};
  struct tc_san u1 = {GEN_URI, "spiffe://echod/admin", 0};
  X509 *x[5] = {
      hostile((struct tc_opts){.cn = "d1", .sans = &d1, .num_sans = 1}),
      hostile((struct tc_opts){.cn = "d2", .sans = &d2, .num_sans = 1}),
      hostile((struct tc_opts){.cn = "d3", .sans = &d3, .num_sans = 1}),
      hostile((struct tc_opts){.cn = "e1", .sans = &e1, .num_sans = 1}),
      hostile((struct tc_opts){.cn = "u1", .sans = &u1, .num_sans = 1})};
  const struct ed_tls_peer *p[5], *a = peer_of(s, alice, NULL);
  for (size_t i = 0; i < 5; i++) p[i] = peer_of(s, x[i], NULL);
  if (a && p[0] && p[1] && p[2] && p[3] && p[4]) {
    /* Bare values: one type each. */
    CHECK(!allowed(p[0], "spiffe://echod/admin", NULL));
    CHECK(allowed(p[4], "spiffe://echod/admin", NULL));
    CHECK(!allowed(p[1], "admin@example.com", NULL));
    CHECK(allowed(p[3], "admin@example.com", NULL));
    CHECK(!allowed(p[2], "127.0.0.1", NULL));
    CHECK(allowed(a, "127.0.0.1", NULL));
    CHECK(allowed(a, "alice.example", NULL));
    CHECK(!allowed(p[4], "echod", NULL));
    /* Typed, in any case: the value is whatever follows. */
    CHECK(allowed(p[0], "DNS:spiffe://echod/admin", NULL));
    CHECK(allowed(p[0], "dns:SPIFFE://ECHOD/ADMIN", NULL));
    CHECK(allowed(p[1], "Dns:admin@example.com", NULL));
    CHECK(allowed(p[2], "DNS:127.0.0.1", NULL));
    CHECK(allowed(a, "dns:alice.example", NULL));
    CHECK(allowed(a, "uri:spiffe://echod/alice", NULL));
    CHECK(allowed(a, "Ip:::1", NULL));
    CHECK(allowed(p[3], "EMAIL:admin@example.com", NULL));
    CHECK(!allowed(p[3], "uri:admin@example.com", NULL));
  }
  for (size_t i = 0; i < 5; i++) {
    ed_tls_peer_unref(p[i]);
    X509_free(x[i]);
  }
  ed_tls_peer_unref(a);
  ed_tls_snapshot_unref(s);
  /* A bare value of no type's form (a URI without "://"). */
  snap_fails((struct setup){.depth = -1, .allow_san = "urn:uuid:1"}, ED_E_INVAL,
             "urn:uuid:1 names no SAN type by its form");
  snap_fails((struct setup){.depth = -1, .allow_san = "ip:nope"}, ED_E_INVAL,
             "ip:nope is not an IP address");
}

/* Entries that do not parse fail the build; the handshake refuses the
 * comma SAN with acl_denied and access_denied. */
static void test_allow_list_errors(void) {
  snap_fails((struct setup){.depth = -1, .allow_san = "IP:nope"}, ED_E_INVAL,
             "IP:nope is not an IP address");
  snap_fails((struct setup){.depth = -1, .allow_san = "DNS:"}, ED_E_INVAL,
             "nothing after its type");
  struct tc_san uri = {GEN_URI,
                       "spiffe://echod/mallory,URI:spiffe://echod/admin", 0};
  X509 *xu = hostile((struct tc_opts){.cn = "m1", .sans = &uri, .num_sans = 1});
  struct ed_tls_snapshot *acl =
      snap((struct setup){.depth = -1, .allow_san = "spiffe://echod/admin"});
  expect_refused(acl, xu, NULL, ED_HS_ACL_DENIED,
                 SSL_R_TLSV1_ALERT_ACCESS_DENIED);
  ed_tls_snapshot_unref(acl);
  X509_free(xu);
}

/* ---- re-check --------------------------------------------------------- */

static enum ed_hs_reason recheck(struct setup u, const struct ed_tls_peer *p,
                                 int64_t at) {
  struct ed_tls_snapshot *s = snap(u);
  enum ed_hs_reason r = PASS;
  const char *d = NULL;
  if (s && p && ed_tls_peer_recheck(s, p, at, &r, &d) != 0) CHECK(d != NULL);
  ed_tls_snapshot_unref(s);
  return r; /* PASS: passed */
}

static void test_recheck(void) {
  int64_t now = (int64_t)time(NULL);
  struct ed_tls_snapshot *s = snap((struct setup){.depth = -1});
  const struct ed_tls_peer *a = peer_of(s, alice, NULL);
  const struct ed_tls_peer *c = peer_of(s, carol, inter); /* sends inter */
  ed_tls_snapshot_unref(s);
  if (!a || !c) return;
  CHECK_EQ(ed_tls_peer_chain_depth(c), 1);
  CHECK_EQ(recheck((struct setup){.depth = -1}, a, now), PASS);
  CHECK_EQ(
      recheck((struct setup){.depth = -1, .crls = {"crl-a-alice.pem"}}, a, now),
      ED_HS_CERT_REVOKED);
  CHECK_EQ(recheck((struct setup){.depth = -1, .crls = {"crl-a.pem"}}, a, now),
           PASS);
  /* The CA changed: the bundle no longer holds the chain's root. */
  CHECK_EQ(recheck((struct setup){.depth = -1, .ca = "ab.pem"}, a, now), PASS);
  CHECK_EQ(
      recheck((struct setup){.depth = -1, .ca = "b.pem", .cert = "srv-b.pem"},
              a, now),
      ED_HS_UNKNOWN_CA);
  struct ed_tls_peer *other = NULL; /* same names, no chain: unknown root */
  const char *why = NULL;
  CHECK_EQ(from_der(&other, &why, alice), 0);
  CHECK_EQ(recheck((struct setup){.depth = -1}, other, now), ED_HS_UNKNOWN_CA);
  ed_tls_peer_unref(other);
  /* Time, for the whole chain. */
  CHECK_EQ(recheck((struct setup){.depth = -1}, a, now + 400 * 86400),
           ED_HS_CERT_EXPIRED);
  CHECK_EQ(recheck((struct setup){.depth = -1}, a, now - 86400),
           ED_HS_CERT_NOT_YET_VALID);
  CHECK_EQ(recheck((struct setup){.depth = -1, .allow_cn = "bob"}, a, now),
           ED_HS_ACL_DENIED);
  /* Depth: carol has one intermediate. */
  CHECK_EQ(recheck((struct setup){.depth = 0}, c, now), ED_HS_CHAIN_TOO_LONG);
  CHECK_EQ(recheck((struct setup){.depth = 1}, c, now), PASS);
  CHECK_EQ(recheck((struct setup){.depth = 0}, a, now), PASS);
  /* With CRLs, an intermediate not in the bundle has no CRL: refused. */
  CHECK_EQ(recheck((struct setup){.depth = -1, .crls = {"crl-a.pem"}}, c, now),
           ED_HS_UNKNOWN_CA);
  struct setup both = {
      .ca = "a-inter.pem", .depth = -1, .crls = {"crl-a.pem", "crl-i.pem"}};
  CHECK_EQ(recheck(both, c, now), PASS);
  both.crls[0] = "crl-a-inter.pem"; /* the intermediate revoked */
  CHECK_EQ(recheck(both, c, now), ED_HS_CERT_REVOKED);
  both.crls[0] = "crl-a.pem", both.crls[1] = "crl-i-old.pem";
  CHECK_EQ(recheck(both, c, now), PASS); /* warn: still used */
  both.refuse = 1;
  CHECK_EQ(recheck(both, c, now), ED_HS_CRL_EXPIRED);
  CHECK_EQ(recheck(both, a, now), PASS); /* alice needs only A's CRL */
  /* carol verified through the bundle's intermediate, then that one
   * re-issued (same name and key) with a path length: the chain was
   * verified with a certificate that allowed what the new one may not.
   * With both in the bundle, or renewed with the same extensions, it
   * stands. Had carol sent the intermediate herself (|c|), the chain
   * went through her copy; but a full handshake now takes the bundle's
   * (X509_V_FLAG_TRUSTED_FIRST), so the re-issue decides for her too. */
  struct setup in_bundle = {.ca = "a-inter.pem", .depth = -1};
  s = snap(in_bundle);
  const struct ed_tls_peer *cb = peer_of(s, carol, NULL);
  ed_tls_snapshot_unref(s);
  CHECK_EQ(recheck(in_bundle, cb, now), PASS);
  CHECK_EQ(
      recheck((struct setup){.ca = "a-reissued.pem", .depth = -1}, cb, now),
      ED_HS_UNKNOWN_CA);
  CHECK_EQ(recheck((struct setup){.ca = "a-inter-reissued.pem", .depth = -1},
                   cb, now),
           PASS);
  CHECK_EQ(recheck((struct setup){.ca = "a-renewed.pem", .depth = -1}, cb, now),
           PASS);
  CHECK_EQ(recheck((struct setup){.ca = "a-renewed.pem", .depth = -1}, cb,
                   now + 7200),
           ED_HS_UNKNOWN_CA); /* the renewal is no longer valid */
  CHECK_EQ(recheck((struct setup){.ca = "a-reissued.pem", .depth = -1}, c, now),
           ED_HS_UNKNOWN_CA);
  CHECK_EQ(recheck((struct setup){.ca = "a-reissued.pem", .depth = -1}, a, now),
           PASS); /* alice's root is as it was */
  ed_tls_peer_unref(cb);
  ed_tls_peer_unref(a);
  ed_tls_peer_unref(c);
}

/* BUNDLE writes a CA file |name| of root A (it signed the server's
 * certificate) and the certificates given, and is a setup with it. */
static struct setup bundle(const char *name, X509 *const *certs, size_t n) {
  tc_write_cert(tc_path(name), certs, n);
  return (struct setup){.ca = name, .depth = -1};
}
#define BUNDLE(name, ...)                     \
  bundle(name, (X509 *[]){ca_a, __VA_ARGS__}, \
         sizeof((X509 *[]){ca_a, __VA_ARGS__}) / sizeof(X509 *))

/* A root valid for 10 days and its intermediate in four certificates of
 * one name, key and extensions: |old| ends in a day, |renewal| in five,
 * |ended| ended an hour ago; |inter| is the options they were made with
 * (to make more). */
struct renewed {
  EVP_PKEY *kr, *ki;
  X509 *root, *old, *renewal, *ended;
  struct tc_opts inter;
};

static void renewed_init(struct renewed *r, const char *root_cn,
                         const char *inter_cn) {
  const int64_t day = 86400;
  r->kr = tc_key(), r->ki = tc_key();
  struct tc_opts ro = {.cn = root_cn, .to_s = 10 * day};
  r->root = tc_cert(r->kr, &ro);
  r->inter = (struct tc_opts){
      .cn = inter_cn, .issuer = r->root, .issuer_key = r->kr, .ca = 1};
  struct tc_opts io = r->inter;
  io.to_s = day;
  r->old = tc_cert(r->ki, &io);
  io.to_s = 5 * day;
  r->renewal = tc_cert(r->ki, &io);
  io.from_s = -2 * day, io.to_s = -3600;
  r->ended = tc_cert(r->ki, &io);
}

static void renewed_free(struct renewed *r) {
  FREE_CERTS(r->root, r->old, r->renewal, r->ended);
  FREE_KEYS(r->kr, r->ki);
}

/* A root renewed (the same name, key and extensions): |old| ends in
 * |old_days|, |renewal| in 10. Under |old| an intermediate ending in
 * |inter_days| that names its serial (keyid,issuer:always), so it chains
 * to that very certificate only; under that a client |leaf| ending in
 * |leaf_days|. */
struct pinned_root {
  EVP_PKEY *kr, *ki;
  X509 *old, *renewal, *inter, *leaf;
};

static void pinned_root_init(struct pinned_root *q, const char *root_cn,
                             const char *inter_cn, const char *leaf_cn,
                             long old_days, long inter_days, long leaf_days) {
  const long day = 86400;
  q->kr = tc_key(), q->ki = tc_key();
  struct tc_opts ro = {.cn = root_cn, .to_s = old_days * day};
  q->old = tc_cert(q->kr, &ro);
  ro.to_s = 10 * day;
  q->renewal = tc_cert(q->kr, &ro);
  struct tc_opts io = {.cn = inter_cn,
                       .issuer = q->old,
                       .issuer_key = q->kr,
                       .ca = 1,
                       .to_s = inter_days * day,
                       .aki = "keyid,issuer:always"};
  q->inter = tc_cert(q->ki, &io);
  struct tc_opts lo = {.cn = leaf_cn,
                       .issuer = q->inter,
                       .issuer_key = q->ki,
                       .eku = TC_EKU_CLIENT,
                       .to_s = leaf_days * day};
  q->leaf = tc_cert(cli_key, &lo);
}

static void pinned_root_free(struct pinned_root *q) {
  FREE_CERTS(q->old, q->renewal, q->inter, q->leaf);
  FREE_KEYS(q->kr, q->ki);
}

/* An intermediate renewed (the same name, key and extensions, a later
 * end) carries a session verified through the old certificate past that
 * certificate's end, while the renewal is in the bundle and valid: a full
 * handshake then would go through the renewal. What the bundle does not
 * vouch for still ends it: the leaf's own end, an intermediate the client
 * sent itself, a CA gone from the bundle, no renewal, a narrowed re-issue. */
static void test_recheck_renewed_past_the_old_end(void) {
  const int64_t day = 86400, now = (int64_t)time(NULL);
  struct renewed r;
  renewed_init(&r, "root R", "inter R1");
  X509 *root = r.root, *old = r.old, *renewal = r.renewal;
  struct tc_opts io = r.inter;
  io.to_s = 5 * day, io.bc = "critical,CA:TRUE,pathlen:0";
  X509 *narrowed = tc_cert(r.ki, &io);
  struct tc_opts lo = {.cn = "erin",
                       .issuer = old,
                       .issuer_key = r.ki,
                       .eku = TC_EKU_CLIENT,
                       .to_s = 4 * day};
  X509 *erin = tc_cert(cli_key, &lo);
  struct setup old_b = BUNDLE("r-old.pem", root, old);
  struct setup new_b = BUNDLE("r-new.pem", root, renewal);
  struct setup both_b = BUNDLE("r-both.pem", root, old, renewal);
  struct setup narrow_b = BUNDLE("r-narrow.pem", root, narrowed);
  struct setup root_b = BUNDLE("r-root.pem", root);
  const struct ed_tls_peer *e = peer_under(old_b, erin, NULL);
  /* erin sends the old intermediate herself */
  const struct ed_tls_peer *es = peer_under(root_b, erin, old);
  if (e && es) {
    int64_t later = now + 2 * day; /* the old one has ended */
    CHECK_EQ(recheck(new_b, e, now), PASS);
    CHECK_EQ(recheck(new_b, e, later), PASS);
    CHECK_EQ(recheck(both_b, e, later), PASS);
    CHECK_EQ(recheck(new_b, e, now + 4 * day + 3600), ED_HS_CERT_EXPIRED);
    CHECK_EQ(recheck(old_b, e, later), ED_HS_CERT_EXPIRED);
    CHECK_EQ(recheck(root_b, e, later), ED_HS_CERT_EXPIRED);
    CHECK_EQ(recheck(narrow_b, e, later), ED_HS_CERT_EXPIRED);
    CHECK_EQ(recheck(narrow_b, e, now), ED_HS_UNKNOWN_CA);
    CHECK_EQ(recheck(new_b, es, now), PASS);
    CHECK_EQ(recheck(new_b, es, later), ED_HS_CERT_EXPIRED);
    /* A ticket carries the whole chain's window: the identity a
     * resumption (after the reload that brought the renewal) decodes from
     * a ticket of a chain through the old certificate ends with it (a full
     * handshake follows, through the renewal). */
    struct ed_tls_snapshot *so = snap(old_b), *sn = snap(new_b);
    struct session first = full_session(so, erin, NULL, NULL);
    const struct ed_tls_peer *t = NULL;
    int resumed = -1;
    CHECK(first.ticket != NULL);
    if (first.ticket)
      CHECK_EQ(run_chain(sn, erin, NULL, NULL, first.ticket, NULL, NULL, &t,
                         &resumed),
               1);
    CHECK_EQ(resumed, 1);
    if (t) {
      CHECK_EQ(recheck(new_b, t, now), PASS);
      CHECK_EQ(recheck(new_b, t, later), ED_HS_CERT_EXPIRED);
    }
    ed_tls_peer_unref(t);
    session_free(&first);
    ed_tls_snapshot_unref(so);
    ed_tls_snapshot_unref(sn);
  }
  ed_tls_peer_unref(e);
  ed_tls_peer_unref(es);
  FREE_CERTS(narrowed, erin);
  renewed_free(&r);
}

/* A certificate whose authorityKeyIdentifier names its issuer's serial
 * (keyid,issuer:always) can be issued by that very certificate only:
 * BoringSSL's X509_check_issued refuses a renewal (another serial), so
 * once the old certificate has ended a full handshake is refused even with
 * the renewal in the bundle (and with the client sending the old one). The
 * renewal does not vouch for such a chain: a session through the old
 * certificate ends with it. The same one level up: an intermediate naming
 * its root's serial, the root renewed. */
static void test_recheck_renewal_not_for_serial_pinned(void) {
  const int64_t day = 86400, now = (int64_t)time(NULL);
  const char *pin = "keyid,issuer:always";
  struct renewed r;
  renewed_init(&r, "root P", "inter P1");
  X509 *root = r.root, *old = r.old, *renewal = r.renewal, *ended = r.ended;
  struct tc_opts lo = {.cn = "frank",
                       .issuer = old,
                       .issuer_key = r.ki,
                       .eku = TC_EKU_CLIENT,
                       .to_s = 4 * day,
                       .aki = pin};
  X509 *frank = tc_cert(cli_key, &lo);
  lo.issuer = ended;
  X509 *frank_e = tc_cert(cli_key, &lo); /* names the ended one's serial */
  lo.aki = NULL;
  X509 *grace_e = tc_cert(cli_key, &lo); /* names its key only */
  /* A root renewed (same name, key and extensions, a later end) under an
   * intermediate that names the old root's serial. */
  struct pinned_root q;
  pinned_root_init(&q, "root Q", "inter Q1", "hank", 1, 5, 4);
  X509 *q_old = q.old, *q_new = q.renewal, *j = q.inter, *hank = q.leaf;
  struct setup old_b = BUNDLE("p-old.pem", root, old);
  struct setup new_b = BUNDLE("p-new.pem", root, renewal);
  struct setup both_b = BUNDLE("p-both.pem", root, old, renewal);
  struct setup ended_b = BUNDLE("p-ended.pem", root, ended, renewal);
  struct setup q_old_b = BUNDLE("q-old.pem", q_old, j);
  struct setup q_new_b = BUNDLE("q-new.pem", q_new, j);
  struct setup q_both_b = BUNDLE("q-both.pem", q_old, q_new, j);

  /* What a full handshake does once the old certificate has ended: a
   * chain that names only its key goes through the renewal; one that
   * names the ended certificate's serial is refused. */
  struct ed_tls_snapshot *s = snap(ended_b);
  if (s) {
    expect_served(s, grace_e, NULL, NULL);
    expect_refused(s, frank_e, NULL, ED_HS_CERT_EXPIRED,
                   SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED);
    expect_refused(s, frank_e, ended, ED_HS_CERT_EXPIRED,
                   SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED);
  }
  ed_tls_snapshot_unref(s);

  const struct ed_tls_peer *f = peer_under(old_b, frank, NULL);
  const struct ed_tls_peer *h = peer_under(q_old_b, hank, NULL);
  if (f && h) {
    int64_t later = now + 2 * day; /* the old ones have ended */
    CHECK_EQ(recheck(both_b, f, now), PASS);
    CHECK_EQ(recheck(both_b, f, later), ED_HS_CERT_EXPIRED);
    CHECK_EQ(recheck(new_b, f, later), ED_HS_CERT_EXPIRED);
    CHECK_EQ(recheck(q_both_b, h, now), PASS);
    CHECK_EQ(recheck(q_both_b, h, later), ED_HS_CERT_EXPIRED);
    CHECK_EQ(recheck(q_new_b, h, later), ED_HS_CERT_EXPIRED);
  }
  ed_tls_peer_unref(f);
  ed_tls_peer_unref(h);
  FREE_CERTS(frank, frank_e, grace_e);
  pinned_root_free(&q);
  renewed_free(&r);
}

/* A renewal revoked on its root's CRL (how deploy.md takes a CA
 * certificate out of use) does not vouch: a full handshake through it is
 * refused (revoked), so a session through the old certificate ends with
 * the old one, and one whose CA is there only as that revoked renewal
 * closes at the reload, revoked as a full handshake would be. */
static void test_recheck_revoked_renewal(void) {
  const int64_t day = 86400, now = (int64_t)time(NULL);
  struct renewed r;
  renewed_init(&r, "root V", "inter V1");
  X509 *root = r.root, *old = r.old, *renewal = r.renewal, *ended = r.ended;
  struct tc_opts lo = {.cn = "ivan",
                       .issuer = old,
                       .issuer_key = r.ki,
                       .eku = TC_EKU_CLIENT,
                       .to_s = 4 * day};
  X509 *ivan = tc_cert(cli_key, &lo);
  lo.issuer = ended;
  X509 *ivan_e = tc_cert(cli_key, &lo);
  struct setup old_b = BUNDLE("v-old.pem", root, old);
  (void)BUNDLE("v-both.pem", root, old, renewal);
  (void)BUNDLE("v-ended.pem", root, ended, renewal);
  write_crl("crl-v-root.pem", root, r.kr, renewal, day);
  write_crl("crl-v-root-none.pem", root, r.kr, NULL, day);
  write_crl("crl-v-inter.pem", old, r.ki, NULL, day);
  struct setup new_b = BUNDLE("v-new.pem", root, renewal);
  new_b.crls[0] = "crl-a.pem", new_b.crls[1] = "crl-v-root.pem";
  new_b.crls[2] = "crl-v-inter.pem";
  struct setup both_b = new_b, ended_b = new_b, fine_b = new_b;
  both_b.ca = "v-both.pem", ended_b.ca = "v-ended.pem";
  fine_b.crls[1] = "crl-v-root-none.pem";

  /* A full handshake once the old certificate has ended goes through the
   * renewal, and is refused: it is revoked. */
  struct ed_tls_snapshot *s = snap(ended_b);
  if (s)
    expect_refused(s, ivan_e, NULL, ED_HS_CERT_REVOKED,
                   SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED);
  ed_tls_snapshot_unref(s);

  const struct ed_tls_peer *e = peer_under(old_b, ivan, NULL);
  if (e) {
    int64_t later = now + 2 * day;             /* the old one has ended */
    CHECK_EQ(recheck(fine_b, e, later), PASS); /* not revoked: it vouches */
    CHECK_EQ(recheck(both_b, e, now), PASS);   /* the old one is in use */
    CHECK_EQ(recheck(both_b, e, later), ED_HS_CERT_EXPIRED);
    CHECK_EQ(recheck(new_b, e, later), ED_HS_CERT_EXPIRED);
    CHECK_EQ(recheck(new_b, e, now), ED_HS_CERT_REVOKED);
  }
  ed_tls_peer_unref(e);
  FREE_CERTS(ivan, ivan_e);
  renewed_free(&r);
}

/* ---- review h40 --------------------------------------------------------- */

/* secs_of: |t| as Unix seconds (as tls_identity.c reads it). */
static int64_t secs_of(const ASN1_TIME *t) {
  int days = 0, secs = 0;
  ASN1_TIME *epoch = ASN1_TIME_set(NULL, 0);
  CHECK(epoch && ASN1_TIME_diff(&days, &secs, epoch, t));
  ASN1_TIME_free(epoch);
  return (int64_t)days * 86400 + secs;
}

/* BoringSSL counts a certificate expired from its notAfter second on
 * (X509_cmp_time: notAfter <= now), so a full handshake at that second is
 * refused cert_expired. The re-check, the verified-chain cache and the
 * renewal lookups count that second as valid (now > not_after): a chain
 * cached a moment before is admitted at the very second a fresh
 * verification refuses it, and a re-check then passes what the handshake
 * refuses. The same chain, the same snapshot, two answers. */
static void test_not_after_second(void) {
  struct tc_opts lo = {.cn = "kate",
                       .issuer = ca_a,
                       .issuer_key = key_a,
                       .eku = TC_EKU_CLIENT,
                       .to_s = 3};
  X509 *kate = tc_cert(cli_key, &lo);
  int64_t na = secs_of(X509_get0_notAfter(kate));
  struct setup u = {.depth = -1};
  struct ed_tls_snapshot *s = snap(u), *fresh = snap(u);
  const struct ed_tls_peer *p = s ? peer_of(s, kate, NULL) : NULL; /* cached */
  if (p) {
    CHECK_EQ(recheck(u, p, na - 1), PASS);
    CHECK_EQ(recheck(u, p, na), ED_HS_CERT_EXPIRED); /* as the handshake */
  }
  while ((int64_t)time(NULL) < na) usleep(1000);
  struct outcome f = handshake(fresh, kate, NULL, NULL, NULL);
  struct outcome c = handshake(s, kate, NULL, NULL, NULL);
  if ((int64_t)time(NULL) == na) { /* both inside the notAfter second */
    CHECK(f.rc < 0);
    CHECK_EQ(f.reason, ED_HS_CERT_EXPIRED);
    CHECK(c.rc < 0); /* fails: the cache admits her */
    CHECK_EQ(c.reason, ED_HS_CERT_EXPIRED);
  } else {
    fprintf(stderr, "  (the notAfter second passed mid-test: not decided)\n");
  }
  ed_tls_peer_unref(p);
  ed_tls_snapshot_unref(s);
  ed_tls_snapshot_unref(fresh);
  X509_free(kate);
}

/* carol sent the intermediate herself under a bundle of root A alone
 * (her link's issuer_ext is zeros: "a full handshake would use the
 * client's again"). Then the bundle gains a re-issue of that intermediate
 * (same name and key) for servers only. A full handshake now goes through
 * the bundle's copy (trusted first; X509_check_issued accepts it) even
 * though carol sends hers, and is refused bad_eku. Her session and her
 * ticket are not: the re-check never compares a client-sent issuer. */
static void test_recheck_client_sent_issuer_narrowed_in_bundle(void) {
  const int64_t now = (int64_t)time(NULL);
  struct tc_opts io = {.cn = "inter A1",
                       .issuer = ca_a,
                       .issuer_key = key_a,
                       .ca = 1,
                       .eku = TC_EKU_SERVER};
  X509 *servers_only = tc_cert(key_i, &io);
  struct setup root_only = {.depth = -1};
  struct setup narrowed = BUNDLE("a-inter-servers-only.pem", servers_only);
  struct ed_tls_snapshot *s1 = snap(root_only), *s2 = snap(narrowed);
  if (s1 && s2) {
    expect_refused(s2, carol, inter, ED_HS_BAD_EKU,
                   SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE);
    struct session first = full_session(s1, carol, inter, NULL);
    if (first.peer) /* fails: passes */
      CHECK(recheck(narrowed, first.peer, now) != PASS);
    CHECK(first.ticket != NULL);
    if (first.ticket) /* fails: the ticket resumes her */
      refused_for(s2, carol, inter, NULL, first.ticket, ED_HS_BAD_EKU);
    session_free(&first);
  }
  ed_tls_snapshot_unref(s1);
  ed_tls_snapshot_unref(s2);
  X509_free(servers_only);
}

/* The renewal that vouches need not be the certificate a full handshake
 * takes: the store's lookup takes the one valid now and valid longest, a
 * re-issue for servers only here, and a full handshake through it is
 * refused. bundle_vouches accepts any certificate with the link's
 * extensions valid now, so a session through the old certificate outlives
 * that certificate's end (before 297a7ac it ended with it) although no
 * full handshake of it could pass. */
static void test_recheck_renewal_not_the_path(void) {
  const int64_t day = 86400, now = (int64_t)time(NULL);
  struct renewed r;
  renewed_init(&r, "root W", "inter W1");
  struct tc_opts io = r.inter;
  io.to_s = 9 * day, io.eku = TC_EKU_SERVER; /* valid longest */
  X509 *servers_only = tc_cert(r.ki, &io);
  struct tc_opts lo = {.cn = "judy",
                       .issuer = r.old,
                       .issuer_key = r.ki,
                       .eku = TC_EKU_CLIENT,
                       .to_s = 4 * day};
  X509 *judy = tc_cert(cli_key, &lo);
  lo.issuer = r.renewal;
  X509 *judy_r = tc_cert(cli_key, &lo);
  struct setup old_b = BUNDLE("w-old.pem", r.root, r.old);
  struct setup now_b = BUNDLE("w-now.pem", r.root, r.renewal, servers_only);
  struct ed_tls_snapshot *s = snap(now_b);
  if (s) /* any chain of that CA now goes through the servers-only one */
    expect_refused(s, judy_r, NULL, ED_HS_BAD_EKU,
                   SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE);
  ed_tls_snapshot_unref(s);
  const struct ed_tls_peer *e = peer_under(old_b, judy, NULL);
  if (e) /* the old one has ended: fails (passes, vouched by the renewal) */
    CHECK_EQ(recheck(now_b, e, now + 2 * day), ED_HS_CERT_EXPIRED);
  ed_tls_peer_unref(e);
  FREE_CERTS(servers_only, judy, judy_r);
  renewed_free(&r);
}

/* A "renewal" is recognised by name, key and extensions only, not by who
 * issued it: intermediates without an authorityKeyIdentifier (RFC 5280
 * wants one, many private CAs omit it) cross-signed by a root X that is
 * not in the bundle have exactly the old one's extensions. Once the old
 * certificate has ended, a full handshake can only go through the
 * cross-signed one, to a root the bundle does not hold (refused
 * unknown_ca); the re-check lets the cross-signed one vouch (and checks
 * its serial against root A's CRL, which never issued it), so the
 * session outlives the old certificate. */
static void test_recheck_renewal_from_another_issuer(void) {
  const int64_t day = 86400, now = (int64_t)time(NULL);
  EVP_PKEY *km = tc_key(), *kx = tc_key(), *kn = tc_key();
  struct tc_opts xo = {.cn = "root X", .to_s = 10 * day};
  X509 *root_x = tc_cert(kx, &xo);
  xo.cn = "root M";
  X509 *root_m = tc_cert(km, &xo);
  struct tc_opts io = {.cn = "inter N1",
                       .issuer = root_m,
                       .issuer_key = km,
                       .ca = 1,
                       .aki = "none",
                       .to_s = day};
  X509 *old = tc_cert(kn, &io);
  io.issuer = root_x, io.issuer_key = kx, io.to_s = 5 * day;
  X509 *cross = tc_cert(kn, &io);
  struct tc_opts lo = {.cn = "kim",
                       .issuer = old,
                       .issuer_key = kn,
                       .eku = TC_EKU_CLIENT,
                       .to_s = 4 * day};
  X509 *kim = tc_cert(cli_key, &lo);
  struct setup old_b = BUNDLE("n-old.pem", root_m, old);
  struct setup cross_b = BUNDLE("n-cross.pem", root_m, cross);
  struct ed_tls_snapshot *s = snap(cross_b);
  if (s)
    expect_refused(s, kim, NULL, ED_HS_UNKNOWN_CA,
                   SSL_R_TLSV1_ALERT_UNKNOWN_CA);
  ed_tls_snapshot_unref(s);
  const struct ed_tls_peer *k = peer_under(old_b, kim, NULL);
  if (k) /* fails: passes, vouched by a certificate root A never issued */
    CHECK(recheck(cross_b, k, now + 2 * day) != PASS);
  ed_tls_peer_unref(k);
  FREE_CERTS(root_x, root_m, old, cross, kim);
  FREE_KEYS(km, kx, kn);
}

/* The store's lookup takes the certificate valid now and valid longest,
 * revoked or not: with an intermediate's old certificate and a renewal
 * revoked on the root's CRL both in the bundle (the state deploy.md's
 * "a renewal revoked on its issuer's CRL vouches for nothing" describes),
 * every full handshake goes through the revoked renewal and is refused
 * revoked, although the old certificate is valid, not revoked, and the
 * re-check of a session through it passes (test_recheck_revoked_renewal:
 * "the old one is in use"). The same client is in on its open session and
 * out on every new one. */
static void test_full_handshake_avoids_revoked_renewal(void) {
  const int64_t day = 86400;
  struct renewed r;
  renewed_init(&r, "root U", "inter U1");
  struct tc_opts lo = {.cn = "leo",
                       .issuer = r.old,
                       .issuer_key = r.ki,
                       .eku = TC_EKU_CLIENT,
                       .to_s = 4 * day};
  X509 *leo = tc_cert(cli_key, &lo);
  struct setup both_b = BUNDLE("u-both.pem", r.root, r.old, r.renewal);
  write_crl("crl-u-root.pem", r.root, r.kr, r.renewal, day);
  write_crl("crl-u-inter.pem", r.old, r.ki, NULL, day);
  both_b.crls[0] = "crl-a.pem", both_b.crls[1] = "crl-u-root.pem";
  both_b.crls[2] = "crl-u-inter.pem";
  struct ed_tls_snapshot *s = snap(both_b);
  if (s) expect_served(s, leo, NULL, NULL);
  ed_tls_snapshot_unref(s);
  X509_free(leo);
  renewed_free(&r);
}

/* A CRL is past its next update from that very second on, as BoringSSL
 * has it (X509_cmp_time: nextUpdate <= now): with --crl-expired refuse
 * the re-check refuses at that second, not one later. */
static void test_crl_next_update_second(void) {
  write_crl("crl-a-edge.pem", ca_a, key_a, NULL, 3600);
  struct setup u = {.depth = -1, .crls = {"crl-a-edge.pem"}, .refuse = 1};
  struct ed_tls_snapshot *s = snap(u);
  const struct ed_tls_peer *a = s ? peer_of(s, alice, NULL) : NULL;
  struct ed_tls_summary sum;
  if (s) ed_tls_snapshot_summary(s, &sum);
  ed_tls_snapshot_unref(s);
  if (!a) return;
  CHECK(sum.crl_next_update > (int64_t)time(NULL));
  CHECK_EQ(recheck(u, a, sum.crl_next_update - 1), PASS);
  CHECK_EQ(recheck(u, a, sum.crl_next_update), ED_HS_CRL_EXPIRED);
  ed_tls_peer_unref(a);
}

/* ---- review h42 --------------------------------------------------------- */

/* H1. An intermediate (sent by the client) that names its root's serial
 * (keyid,issuer:always) chains only to that very root certificate. The
 * root is renewed (same name and key, another serial) and the bundle
 * holds only the renewal: no
 * full handshake can pass (X509_check_issued refuses the renewal; the old
 * root sent by the client is no anchor), yet the re-check of a session
 * through the old root finds no certificate of that serial (PATH_GONE:
 * "the client may send its own") and lets the whole window decide; the
 * ticket resumes likewise. tls_verify.c link_path: a trust anchor cannot
 * be sent, GONE at the last link must be CHANGED. */
static void test_recheck_pinned_root_gone(void) {
  const int64_t now = (int64_t)time(NULL);
  struct pinned_root q;
  pinned_root_init(&q, "root Q2", "inter Q21", "hugo", 3, 5, 2);
  X509 *q_old = q.old, *q_new = q.renewal, *j = q.inter, *hugo = q.leaf;
  struct setup old_b = BUNDLE("q2-old.pem", q_old); /* hugo sends j */
  struct setup new_b = BUNDLE("q2-new.pem", q_new);
  struct ed_tls_snapshot *so = snap(old_b), *sn = snap(new_b);
  if (so && sn) {
    /* A full handshake under the new bundle: refused, sent or not. */
    refused_for(sn, hugo, j, NULL, NULL, ED_HS_UNKNOWN_CA);
    refused_for(sn, hugo, j, q_old, NULL, ED_HS_UNKNOWN_CA);
    struct session first = full_session(so, hugo, j, NULL);
    if (first.peer) /* fails: passes (PATH_GONE, the whole window) */
      CHECK_EQ(recheck(new_b, first.peer, now), ED_HS_UNKNOWN_CA);
    CHECK(first.ticket != NULL);
    if (first.ticket) {
      struct outcome o = handshake(sn, hugo, j, NULL, first.ticket);
      CHECK(o.rc < 0 || o.resumed == 0); /* fails: the ticket resumes */
    }
    session_free(&first);
  }
  ed_tls_snapshot_unref(so);
  ed_tls_snapshot_unref(sn);
  pinned_root_free(&q);
}

/* H2. Two intermediates the client sent itself (leaf -> I2 -> I1 -> root
 * A), no CRLs. Then I2 - the very certificate - is added to the bundle.
 * A full handshake now takes the bundle's I2 (trusted first), looks for
 * I1 in the store only, finds none, and is refused (unable to get issuer;
 * under X509_V_FLAG_TRUSTED_FIRST BoringSSL tries no other chain). The
 * re-check compares the bundle I2's issuer with the CA above in the
 * chain: both unknown to the bundle, both NULL, "the same issuer": the
 * link holds, the session and its ticket stay. tls_verify.c link_path
 * "cc->issuer != above": NULL must never match. */
static void test_recheck_bundle_issuer_of_unknown_ca(void) {
  const int64_t now = (int64_t)time(NULL);
  EVP_PKEY *k1 = tc_key(), *k2 = tc_key();
  struct tc_opts o1 = {
      .cn = "inter H1", .issuer = ca_a, .issuer_key = key_a, .ca = 1};
  X509 *i1 = tc_cert(k1, &o1);
  struct tc_opts o2 = {
      .cn = "inter H2", .issuer = i1, .issuer_key = k1, .ca = 1};
  X509 *i2 = tc_cert(k2, &o2);
  struct tc_opts lo = {
      .cn = "olga", .issuer = i2, .issuer_key = k2, .eku = TC_EKU_CLIENT};
  X509 *olga = tc_cert(cli_key, &lo);
  struct setup root_only = {.depth = -1};
  struct setup with_i2 = BUNDLE("a-i2.pem", i2);
  struct ed_tls_snapshot *s1 = snap(root_only), *s2 = snap(with_i2);
  if (s1 && s2) {
    refused_for(s2, olga, i2, i1, NULL, ED_HS_UNKNOWN_CA);
    struct session first = full_session(s1, olga, i2, i1);
    if (first.peer) /* fails: passes */
      CHECK(recheck(with_i2, first.peer, now) != PASS);
    if (first.ticket) /* fails: the ticket resumes her */
      CHECK(handshake(s2, olga, i2, i1, first.ticket).rc < 0);
    session_free(&first);
  }
  ed_tls_snapshot_unref(s1);
  ed_tls_snapshot_unref(s2);
  FREE_CERTS(i1, i2, olga);
  FREE_KEYS(k1, k2);
}

/* self_signed_leaf mints a self-signed client certificate (CA:FALSE,
 * keyCertSign so that BoringSSL counts it self-signed) of |cli_key|. */
static X509 *self_signed_leaf(const char *cn, long to_s) {
  struct tc_opts t = {.cn = cn};
  X509 *tmpl = tc_cert(cli_key, &t); /* its name and key: the issuer */
  struct tc_opts o = {.cn = cn,
                      .issuer = tmpl,
                      .issuer_key = cli_key,
                      .eku = TC_EKU_CLIENT,
                      .ku = "critical,digitalSignature,keyCertSign",
                      .to_s = to_s};
  X509 *x = tc_cert(cli_key, &o);
  X509_free(tmpl);
  return x;
}

/* H3. A chain of one: a self-signed client certificate in the bundle.
 * BoringSSL takes it only when the store's issuer lookup returns that
 * very certificate (X509_cmp, "DEPTH_ZERO_SELF_SIGNED_CERT"). With its
 * re-issue (same name, key and extensions, valid longer) in the bundle,
 * the lookup ranks the re-issue first and every full handshake of the
 * old certificate is refused - also with the re-issue alone in the
 * bundle. The re-check of a session (and its ticket) of the old one finds
 * the re-issue a renewal that vouches: it passes. link_path: a chain of
 * one holds only with its own certificate (the pick's DER is the
 * leaf's). */
static void test_recheck_self_signed_leaf_reissued(void) {
  const int64_t day = 86400, now = (int64_t)time(NULL);
  X509 *old = self_signed_leaf("sam", day);
  X509 *re = self_signed_leaf("sam", 5 * day);
  struct setup old_b = BUNDLE("sam-old.pem", old);
  struct setup both_b = BUNDLE("sam-both.pem", old, re);
  struct setup new_b = BUNDLE("sam-new.pem", re);
  struct ed_tls_snapshot *so = snap(old_b), *sb = snap(both_b),
                         *sn = snap(new_b);
  if (so && sb && sn) {
    /* With the old one still in the bundle it is its own anchor (fails:
     * refused unknown_ca, the lookup returns the re-issue). */
    expect_served(sb, old, NULL, NULL);
    refused_for(sn, old, NULL, NULL, NULL, ED_HS_UNKNOWN_CA);
    struct session first = full_session(so, old, NULL, NULL);
    if (first.peer) {
      CHECK_EQ(recheck(both_b, first.peer, now), PASS);
      CHECK(recheck(new_b, first.peer, now) != PASS); /* fails: passes */
    }
    if (first.ticket) /* fails: the ticket resumes */
      CHECK(handshake(sn, old, NULL, NULL, first.ticket).rc < 0);
    session_free(&first);
  }
  ed_tls_snapshot_unref(so);
  ed_tls_snapshot_unref(sb);
  ed_tls_snapshot_unref(sn);
  FREE_CERTS(old, re);
}

/* H4. Two roots of one name and different keys (a key rollover: the new
 * root valid longer), leaves without an authorityKeyIdentifier. The
 * store's issuer lookup ranks every certificate of that name that
 * X509_check_issued accepts - by name alone here - so it takes the new
 * root and the leaf's signature fails: every full handshake of an old-key
 * client is refused. The re-check looks only at the CA of the old key
 * (ids are name and key): sessions and tickets pass. issuer_from_store:
 * rank only candidates whose key verifies |x| (as link_issuers does). */
static void test_same_name_other_key_root(void) {
  const int64_t day = 86400, now = (int64_t)time(NULL);
  EVP_PKEY *k1 = tc_key(), *k2 = tc_key();
  struct tc_opts ro = {.cn = "root K", .to_s = 10 * day};
  X509 *r1 = tc_cert(k1, &ro);
  ro.to_s = 20 * day;
  X509 *r2 = tc_cert(k2, &ro);
  struct tc_opts lo = {.cn = "nina",
                       .issuer = r1,
                       .issuer_key = k1,
                       .eku = TC_EKU_CLIENT,
                       .aki = "none"};
  X509 *nina = tc_cert(cli_key, &lo);
  struct setup one_b = BUNDLE("k-one.pem", r1);
  struct setup two_b = BUNDLE("k-two.pem", r1, r2);
  struct ed_tls_snapshot *s1 = snap(one_b), *s2 = snap(two_b);
  if (s1 && s2) {
    /* fails: refused unknown_ca, the lookup took the new root K, whose
     * key did not sign her; the re-check passes her session (below) */
    expect_served(s2, nina, NULL, NULL);
    const struct ed_tls_peer *p = peer_of(s1, nina, NULL);
    if (p) /* agrees with the full handshake once that one passes */
      CHECK_EQ(recheck(two_b, p, now), PASS);
    ed_tls_peer_unref(p);
  }
  ed_tls_snapshot_unref(s1);
  ed_tls_snapshot_unref(s2);
  FREE_CERTS(r1, r2, nina);
  FREE_KEYS(k1, k2);
}

/* L1 (the other way). An intermediate that names its root's serial, and
 * the root's renewal listed before the original in the bundle (both
 * valid). BoringSSL verifies the chain through the original. But
 * link_issuers checks a bundle certificate only against the first
 * certificate of each CA (X509_check_issued(ca->cert, x): the serial
 * differs), so the intermediate's issuer is unknown (NULL) and the
 * re-check that every handshake runs says "changed": every client of that
 * intermediate is refused unknown_ca, and its revocation on the root's
 * CRL is invisible to the ranking. */
static void test_pinned_to_second_cert_of_root(void) {
  struct pinned_root q;
  pinned_root_init(&q, "root Q3", "inter Q31", "pia", 5, 4, 2);
  X509 *q_old = q.old, *q_new = q.renewal, *j = q.inter, *pia = q.leaf;
  struct setup old_first = BUNDLE("q3-old-first.pem", q_old, q_new, j);
  struct setup new_first = BUNDLE("q3-new-first.pem", q_new, q_old, j);
  struct ed_tls_snapshot *s1 = snap(old_first), *s2 = snap(new_first);
  if (s1 && s2) {
    expect_served(s1, pia, NULL, NULL);
    expect_served(s2, pia, NULL, NULL); /* fails: unknown_ca */
  }
  ed_tls_snapshot_unref(s1);
  ed_tls_snapshot_unref(s2);
  pinned_root_free(&q);
}

/* ---- review h43 --------------------------------------------------------- */

/* H43-1. PATH_GONE below the anchor: the chain went through the bundle's
 * copy of an intermediate (X509_V_FLAG_TRUSTED_FIRST), though the client
 * sent its own, an older copy of the same name and key that has already
 * ended. The bundle then drops the intermediate (root only). A full
 * handshake now has only the client's copy and is refused cert_expired;
 * the re-check finds no bundle certificate of that CA, calls the link
 * PATH_GONE ("the client may send its own") and lets the whole window of
 * the chain decide - the window of the bundle's copy, which the client
 * does not have. Session and ticket stay. The same happens when the
 * client sent no copy at all (a full handshake: unknown_ca), with a copy
 * for servers only (bad_eku), or a path through the client's copies that
 * is longer than --max-chain-depth allows. tls_verify.c link_path:
 * "if (!cc) return ... PATH_GONE". */
static void test_recheck_gone_client_copy_expired(void) {
  const int64_t day = 86400, now = (int64_t)time(NULL);
  struct renewed r;
  renewed_init(&r, "root G", "inter G1");
  struct tc_opts lo = {.cn = "gina",
                       .issuer = r.renewal,
                       .issuer_key = r.ki,
                       .eku = TC_EKU_CLIENT,
                       .to_s = 4 * day};
  X509 *gina = tc_cert(cli_key, &lo);
  struct setup with_i = BUNDLE("g-with-i.pem", r.root, r.renewal);
  struct setup root_b = BUNDLE("g-root.pem", r.root);
  struct ed_tls_snapshot *s1 = snap(with_i), *s2 = snap(root_b);
  if (s1 && s2) {
    /* Now, under the root alone: her own copy has ended. */
    refused_for(s2, gina, r.ended, NULL, NULL, ED_HS_CERT_EXPIRED);
    struct session first = full_session(s1, gina, r.ended, NULL);
    if (first.peer) /* fails: passes */
      CHECK(recheck(root_b, first.peer, now) != PASS);
    CHECK(first.ticket != NULL);
    if (first.ticket) /* fails: the ticket resumes her */
      CHECK(handshake(s2, gina, r.ended, NULL, first.ticket).rc < 0);
    session_free(&first);
  }
  ed_tls_snapshot_unref(s1);
  ed_tls_snapshot_unref(s2);
  X509_free(gina);
  renewed_free(&r);
}

/* H43-2. An intermediate's key rollover, clients without an
 * authorityKeyIdentifier (as H4, one level down). A client sends its
 * intermediate (old key) itself; the bundle then gains the intermediate's
 * new-key certificate (same name, issued by root A). The store holds one
 * key for that name, so issuer_from_store checks no signature: it returns
 * the new-key certificate for her leaf (X509_check_issued: name only),
 * TRUSTED_FIRST stops there, and her leaf's signature fails: every full
 * handshake of an old-key client was refused unknown_ca, while the
 * re-check (the old key's CA id is not in the bundle; a link the client
 * sent holds) kept her session and ticket. The lookup now checks the
 * signature where no key identifiers tell: it finds no issuer in the
 * store, the chain goes through her own copy, and the full handshake, the
 * re-check and the ticket agree that she passes. */
static void test_sent_issuer_other_key_in_bundle(void) {
  const int64_t now = (int64_t)time(NULL);
  EVP_PKEY *k1 = tc_key(), *k2 = tc_key();
  struct tc_opts io = {
      .cn = "inter R1", .issuer = ca_a, .issuer_key = key_a, .ca = 1};
  X509 *i_old = tc_cert(k1, &io), *i_new = tc_cert(k2, &io);
  struct tc_opts lo = {.cn = "rita",
                       .issuer = i_old,
                       .issuer_key = k1,
                       .eku = TC_EKU_CLIENT,
                       .aki = "none"};
  X509 *rita = tc_cert(cli_key, &lo);
  struct setup root_only = {.depth = -1};
  struct setup with_new = BUNDLE("r-new.pem", i_new);
  struct ed_tls_snapshot *s1 = snap(root_only), *s2 = snap(with_new);
  if (s1 && s2) {
    expect_served(s2, rita, i_old, NULL); /* fails before: unknown_ca */
    struct session first = full_session(s1, rita, i_old, NULL);
    if (first.peer) CHECK_EQ(recheck(with_new, first.peer, now), PASS);
    CHECK(first.ticket != NULL);
    if (first.ticket) {
      struct outcome o = handshake(s2, rita, i_old, NULL, first.ticket);
      CHECK_EQ(o.rc, 1);
      CHECK_EQ(o.resumed, 1);
    }
    session_free(&first);
  }
  ed_tls_snapshot_unref(s1);
  ed_tls_snapshot_unref(s2);
  FREE_CERTS(i_old, i_new, rita);
  FREE_KEYS(k1, k2);
}

/* ---- several CRLs ----------------------------------------------------- */

static void test_crls(void) {
  struct setup two = {
      .ca = "ab.pem", .depth = -1, .crls = {"crl-a.pem", "crl-b-dave.pem"}};
  struct ed_tls_snapshot *s = snap(two);
  if (s) {
    struct ed_tls_summary sum;
    ed_tls_snapshot_summary(s, &sum);
    CHECK_EQ(sum.num_crl, 2);
    CHECK_EQ(sum.crl_entries, 1);
    CHECK_EQ(ed_tls_snapshot_warn_crl_expired(s, (int64_t)time(NULL)), 0);
    expect_served(s, alice, NULL, NULL);
    expect_served(s, bob_b, NULL, NULL);
    expect_refused(s, dave_b, NULL, ED_HS_CERT_REVOKED,
                   SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED);
    ed_tls_snapshot_unref(s);
  }
  /* One file holding both CRLs (A revoking alice, B revoking dave). */
  X509_CRL *crls[] = {tc_crl(ca_a, key_a, &alice, 1, 86400),
                      tc_crl(ca_b, key_b, &dave_b, 1, 86400),
                      tc_crl(ca_a, key_a, NULL, 0, 86400)};
  tc_write_crls(tc_path("both.pem"), crls, 2);
  s = snap((struct setup){.ca = "ab.pem", .depth = -1, .crls = {"both.pem"}});
  if (s) {
    expect_refused(s, alice, NULL, ED_HS_CERT_REVOKED,
                   SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED);
    expect_refused(s, dave_b, NULL, ED_HS_CERT_REVOKED,
                   SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED);
    expect_served(s, bob_b, NULL, NULL);
    ed_tls_snapshot_unref(s);
  }
  /* Two CRLs of A: the newer (later lastUpdate) wins, in either order. */
  X509_CRL *newer = tc_crl_at(ca_a, key_a, NULL, 0, -10, 86400);
  X509_CRL *pair[] = {crls[0], newer}, *rpair[] = {newer, crls[0]};
  tc_write_crls(tc_path("a-twice.pem"), pair, 2);
  tc_write_crls(tc_path("a-twice-r.pem"), rpair, 2);
  s = snap((struct setup){.depth = -1, .crls = {"a-twice.pem"}});
  CHECK(s && handshake(s, alice, NULL, NULL, NULL).rc == 1);
  ed_tls_snapshot_unref(s);
  s = snap((struct setup){.depth = -1, .crls = {"a-twice-r.pem"}});
  CHECK(s && handshake(s, alice, NULL, NULL, NULL).rc == 1);
  ed_tls_snapshot_unref(s);
  for (size_t i = 0; i < 3; i++) X509_CRL_free(crls[i]);
  X509_CRL_free(newer);
}

/* Which CRL of one CA counts (README "Trust"): the highest CRL Number;
 * with equal numbers or none, the latest lastUpdate; on a tie, the one
 * read last. Before: the first of a lastUpdate tie was kept (an appended
 * CRL signed in the same second was ignored), numbers were ignored. */
static int alice_in(const char *f1, const char *f2) {
  struct ed_tls_snapshot *s =
      snap((struct setup){.depth = -1, .crls = {f1, f2}});
  int rc = s ? handshake(s, alice, NULL, NULL, NULL).rc : -9;
  ed_tls_snapshot_unref(s);
  return rc == 1;
}

static void write_crl_num(const char *name, X509 *revoked, long last_s,
                          long number) {
  X509_CRL *crl = tc_crl_num(ca_a, key_a, revoked ? &revoked : NULL,
                             revoked ? 1 : 0, last_s, 86400, number);
  tc_write_crl(tc_path(name), crl);
  X509_CRL_free(crl);
}

static void test_crl_order(void) {
  /* Same second, numbered (echo-pki revoke twice): the higher number. */
  write_crl_num("n1-empty.pem", NULL, -60, 1);
  write_crl_num("n2-alice.pem", alice, -60, 2);
  write_crl_num("n3-empty.pem", NULL, -60, 3);
  CHECK(!alice_in("n1-empty.pem", "n2-alice.pem"));
  CHECK(!alice_in("n2-alice.pem", "n1-empty.pem"));
  CHECK(alice_in("n2-alice.pem", "n3-empty.pem"));
  CHECK(alice_in("n3-empty.pem", "n2-alice.pem"));
  /* The number outranks lastUpdate. */
  write_crl_num("n5-alice-old.pem", alice, -3600, 5);
  write_crl_num("n4-empty-new.pem", NULL, -10, 4);
  CHECK(!alice_in("n4-empty-new.pem", "n5-alice-old.pem"));
  CHECK(!alice_in("n5-alice-old.pem", "n4-empty-new.pem"));
  /* Equal numbers (a re-signed CRL): the later lastUpdate, then order. */
  write_crl_num("n5-empty-new.pem", NULL, -10, 5);
  CHECK(alice_in("n5-alice-old.pem", "n5-empty-new.pem"));
  CHECK(alice_in("n5-empty-new.pem", "n5-alice-old.pem"));
  write_crl_num("n5-alice-new.pem", alice, -10, 5);
  CHECK(!alice_in("n5-empty-new.pem", "n5-alice-new.pem"));
  CHECK(alice_in("n5-alice-new.pem", "n5-empty-new.pem"));
  /* No numbers, same lastUpdate: the one read last (flag order, and file
   * order inside one file). */
  write_crl_num("u-empty.pem", NULL, -60, -1);
  write_crl_num("u-alice.pem", alice, -60, -1);
  CHECK(!alice_in("u-empty.pem", "u-alice.pem"));
  CHECK(alice_in("u-alice.pem", "u-empty.pem"));
  X509_CRL *e = tc_crl_num(ca_a, key_a, NULL, 0, -60, 86400, -1);
  X509_CRL *r = tc_crl_num(ca_a, key_a, &alice, 1, -60, 86400, -1);
  X509_CRL *er[] = {e, r};
  tc_write_crls(tc_path("u-empty-alice.pem"), er, 2);
  CHECK(!alice_in("u-empty-alice.pem", NULL));
  X509_CRL_free(e);
  X509_CRL_free(r);
}

static void test_crl_order_failures(void) {
  /* Dated in the future: it would outrank every CRL until that date. */
  write_crl_num("future.pem", NULL, 86400, -1);
  snap_fails((struct setup){.depth = -1, .crls = {"crl-a.pem", "future.pem"}},
             ED_E_INVAL, "CRL #1 in ");
  snap_fails((struct setup){.depth = -1, .crls = {"future.pem"}}, ED_E_INVAL,
             "future.pem (issuer CN=root A) has lastUpdate ");
  write_crl_num("future-num.pem", NULL, 86400, 9);
  snap_fails((struct setup){.depth = -1, .crls = {"future-num.pem"}},
             ED_E_INVAL, "in the future");
  /* A minute ahead is clock skew, not an error. */
  write_crl_num("skew.pem", alice, 60, -1);
  CHECK(!alice_in("skew.pem", NULL));
  /* Numbered and unnumbered CRLs of one CA: which is newer is unknown. */
  snap_fails(
      (struct setup){.depth = -1, .crls = {"u-empty.pem", "n2-alice.pem"}},
      ED_E_INVAL, "one has a CRL Number, the other none");
  snap_fails(
      (struct setup){.depth = -1, .crls = {"n2-alice.pem", "u-empty.pem"}},
      ED_E_INVAL, "n2-alice.pem and CRL #1 in ");
  /* A negative CRL Number. */
  write_crl_num("n-neg.pem", NULL, -60, -2);
  snap_fails((struct setup){.depth = -1, .crls = {"n-neg.pem"}}, ED_E_PARSE,
             "has a CRL Number that cannot be read");
}

/* A reload may not go back to an older CRL of a CA: a lower number, or
 * without numbers an earlier lastUpdate (it would un-revoke alice). */
static void rollback(const char *cur, const char *next, const char *want) {
  struct ed_tls_snapshot *c = snap((struct setup){.depth = -1, .crls = {cur}});
  struct ed_tls_snapshot *n = snap((struct setup){.depth = -1, .crls = {next}});
  char err[512] = "";
  CHECK_EQ(ed_tls_snapshot_crl_rollback(c, n, err, sizeof(err)),
           want ? ED_E_INVAL : 0);
  CHECK(want ? strstr(err, want) != NULL : !err[0]);
  ed_tls_snapshot_unref(c);
  ed_tls_snapshot_unref(n);
}

static void test_crl_rollback(void) {
  rollback("n5-alice-new.pem", "n4-empty-new.pem",
           "n4-empty-new.pem (issuer CN=root A; CRL Number 4, lastUpdate ");
  rollback("n5-alice-new.pem", "n5-alice-old.pem", "an earlier lastUpdate");
  rollback("u-alice.pem", "skew.pem", NULL); /* later: fine */
  rollback("skew.pem", "u-alice.pem", "CRL Number none, lastUpdate ");
  rollback("n4-empty-new.pem", "n5-alice-old.pem", NULL); /* number wins */
  rollback("n5-alice-new.pem", "n5-alice-new.pem", NULL); /* the same one */
  rollback("crl-a.pem", "crl-a.pem", NULL);
  CHECK_EQ(ed_tls_snapshot_crl_rollback(NULL, NULL, NULL, 0), 0); /* start */
}

static void test_crl_failures(void) {
  /* A CA of the bundle without a CRL: named. */
  snap_fails((struct setup){.ca = "ab.pem", .depth = -1, .crls = {"crl-a.pem"}},
             ED_E_NOTFOUND, "CA CN=root B in ");
  snap_fails(
      (struct setup){.ca = "a-inter.pem", .depth = -1, .crls = {"crl-a.pem"}},
      ED_E_NOTFOUND, "CA CN=inter A1 in ");
  /* A CRL no CA of the bundle signed: its file named. */
  snap_fails((struct setup){.depth = -1, .crls = {"crl-a.pem", "crl-b.pem"}},
             ED_E_VERIFY,
             "crl-b.pem (issuer CN=root B) is not signed by any CA");
  /* A second block that does not parse. */
  char bad[4096];
  uint8_t *good = NULL;
  size_t len = 0;
  CHECK_EQ(ed_read_file(&good, &len, tc_path("crl-a.pem"), 1 << 20), 0);
  int n =
      snprintf(bad, sizeof(bad),
               "%.*s-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n",
               (int)len, (const char *)good);
  free(good);
  ed_write_file_atomic(tc_path("crl-bad2.pem"), bad, (size_t)n, 0644);
  snap_fails((struct setup){.depth = -1, .crls = {"crl-bad2.pem"}}, ED_E_PARSE,
             "crl-bad2.pem: CRL #2 does not parse");
  ed_write_file_atomic(tc_path("crl-none.pem"), "hello\n", 6, 0644);
  snap_fails((struct setup){.depth = -1, .crls = {"crl-none.pem"}}, ED_E_PARSE,
             "holds no PEM CRL");
  /* The server's own certificate revoked: a warning, not a failure (a
   * failed reload would keep the old CRLs). */
  struct ed_tls_snapshot *rs =
      snap((struct setup){.depth = -1, .crls = {"crl-a-srv.pem"}});
  CHECK(rs != NULL);
  ed_tls_snapshot_unref(rs);
  /* An expired CRL loads (warn), and is reported. */
  struct ed_tls_snapshot *s =
      snap((struct setup){.ca = "a-inter.pem",
                          .depth = -1,
                          .crls = {"crl-a.pem", "crl-i-old.pem"}});
  if (s) CHECK_EQ(ed_tls_snapshot_warn_crl_expired(s, (int64_t)time(NULL)), 1);
  ed_tls_snapshot_unref(s);
}

/* ---- the chain in handshakes and tickets ------------------------------ */

static void test_chain_handshakes(void) {
  struct setup u = {
      .ca = "a-inter.pem", .depth = -1, .crls = {"crl-a.pem", "crl-i.pem"}};
  struct ed_tls_snapshot *s = snap(u);
  struct session first = full_session(s, carol, inter, NULL);
  CHECK_EQ(first.resumed, 0);
  CHECK(first.ticket != NULL);
  struct outcome again = handshake(s, carol, inter, NULL, first.ticket);
  CHECK_EQ(again.rc, 1);
  CHECK_EQ(again.resumed, 1);
  /* The intermediate is revoked (a reload): the ticket is not honoured
   * and the full handshake refuses. */
  u.crls[0] = "crl-a-inter.pem";
  struct ed_tls_snapshot *s2 = snap(u);
  refused_for(s2, carol, inter, NULL, first.ticket, ED_HS_CERT_REVOKED);
  expect_refused(s2, carol, inter, ED_HS_CERT_REVOKED,
                 SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED);
  session_free(&first);
  /* An expired CRL under refuse; too deep. */
  u.crls[0] = "crl-a.pem", u.crls[1] = "crl-i-old.pem", u.refuse = 1;
  struct ed_tls_snapshot *s3 = snap(u);
  expect_refused(s3, carol, inter, ED_HS_CRL_EXPIRED,
                 SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN);
  expect_served(s3, alice, NULL, NULL);
  struct ed_tls_snapshot *s4 = snap((struct setup){.depth = 0});
  expect_refused(s4, carol, inter, ED_HS_CHAIN_TOO_LONG,
                 SSL_R_TLSV1_ALERT_UNKNOWN_CA);
  expect_served(s4, alice, NULL, NULL);
  ed_tls_snapshot_unref(s);
  ed_tls_snapshot_unref(s2);
  ed_tls_snapshot_unref(s3);
  ed_tls_snapshot_unref(s4);
}

/* chain_refusal runs |leaf| sent with |c1| then |c2| against |s|; returns
 * the server's reason (ED_HS_OTHER if it was served) and checks the alert
 * and that the detail holds |want_detail|. */
static enum ed_hs_reason chain_refusal(struct ed_tls_snapshot *s, X509 *leaf,
                                       X509 *c1, X509 *c2,
                                       const char *want_detail) {
  SSL_CTX *cctx = tp_client_ctx(leaf, cli_key, c1, ca_a, TLS1_3_VERSION);
  if (c2) CHECK(SSL_CTX_add1_chain_cert(cctx, c2));
  struct tp_pair p;
  tp_pair_init(&p, cctx, s, NULL, 1 << 20);
  tp_handshake(&p);
  enum ed_hs_reason r = p.sv_rc < 0 ? p.reason : ED_HS_OTHER;
  if (p.sv_rc < 0) {
    CHECK(p.detail && strstr(p.detail, want_detail));
    if (p.detail && !strstr(p.detail, want_detail))
      fprintf(stderr, "  detail: %s\n", p.detail);
    CHECK_EQ(tp_client_alert(&p), SSL_R_TLSV1_ALERT_UNKNOWN_CA);
  }
  tp_pair_free(&p);
  SSL_CTX_free(cctx);
  return r;
}

/* A name-constrained intermediate (DNS under team-a.example): a client
 * with a SAN outside, or with no SAN and a DNS-like CN, ends at no CA we
 * trust: unknown_ca with what is wrong. Before: reason other. */
static void test_name_constraints(void) {
  struct ed_tls_snapshot *s = snap((struct setup){.depth = -1});
  EVP_PKEY *k = tc_key();
  struct tc_opts io = {.cn = "team-a CA",
                       .issuer = ca_a,
                       .issuer_key = key_a,
                       .ca = 1,
                       .nc = "critical,permitted;DNS:team-a.example"};
  X509 *nc = tc_cert(k, &io);
  X509 *in = client("in", nc, k, "DNS:svc.team-a.example");
  X509 *out = client("out", nc, k, "DNS:svc.team-b.example");
  X509 *bare = client("svc.team-b.example", nc, k, NULL);
  CHECK_EQ(chain_refusal(s, in, nc, NULL, ""), ED_HS_OTHER); /* served */
  CHECK_EQ(chain_refusal(s, out, nc, NULL, "permitted name constraints"),
           ED_HS_UNKNOWN_CA);
  CHECK_EQ(chain_refusal(s, bare, nc, NULL, "looks like a DNS name"),
           ED_HS_UNKNOWN_CA);
  FREE_CERTS(nc, in, out, bare);
  EVP_PKEY_free(k);
  ed_tls_snapshot_unref(s);
}

/* Chains through a certificate that may not issue end at no trusted CA:
 * unknown_ca with what is wrong. Before: reason other, alert
 * bad_certificate. A pathLenConstraint counts the intermediates below
 * the CA, never the leaf (RFC 5280 6.1.4 (l)): a leaf that is self-issued
 * (its subject its issuer's name, as a sub-CA may name a client it
 * issues) changes nothing. Before: check_issuers (and BoringSSL) counted
 * the leaf only when not self-issued, so one more intermediate passed
 * under a self-issued leaf, which may carry any SAN (found by
 * //internal/tls/fuzz:chain_fuzz_test's seeds). */
static void test_chain_not_a_ca(void) {
  struct ed_tls_snapshot *s = snap((struct setup){.depth = -1});
  EVP_PKEY *k = tc_key();
  struct tc_opts io = {.cn = "inter",
                       .issuer = ca_a,
                       .issuer_key = key_a,
                       .ca = 1,
                       .bc = "critical,CA:FALSE"}; /* keyCertSign, no CA */
  X509 *noca = tc_cert(k, &io);
  io.bc = "critical,CA:TRUE,pathlen:0";
  X509 *pl0 = tc_cert(k, &io);
  io.bc = NULL;
  X509 *nolimit = tc_cert(k, &io); /* the same name and key, no limit */
  struct tc_opts so = {.cn = "sub", .issuer = pl0, .issuer_key = k, .ca = 1};
  X509 *sub = tc_cert(k, &so);
  X509 *l1 = client("under noCA", noca, k, NULL);
  X509 *l2 = client("under sub", sub, k, NULL);
  X509 *si = client("sub", sub, k, "URI:spiffe://echod/admin");
  X509 *under = client("inter", pl0, k, NULL); /* self-issued too */
  CHECK_EQ(chain_refusal(s, l1, noca, NULL, "is not a CA"), ED_HS_UNKNOWN_CA);
  CHECK_EQ(chain_refusal(s, l2, sub, pl0, "pathLenConstraint"),
           ED_HS_UNKNOWN_CA);
  CHECK_EQ(chain_refusal(s, si, sub, pl0, "pathLenConstraint"),
           ED_HS_UNKNOWN_CA);
  CHECK_EQ(chain_refusal(s, l2, sub, nolimit, ""), ED_HS_OTHER); /* served */
  /* The same with that intermediate in the bundle (one at a time: they
   * share a name and key), sent or not: the bundle's copy is the one
   * verified. Before: all served. */
  X509 *with_noca[] = {ca_a, noca}, *with_pl0[] = {ca_a, pl0};
  tc_write_cert(tc_path("a-noca.pem"), with_noca, 2);
  tc_write_cert(tc_path("a-pl0.pem"), with_pl0, 2);
  struct ed_tls_snapshot *sn =
      snap((struct setup){.ca = "a-noca.pem", .depth = -1});
  struct ed_tls_snapshot *sp =
      snap((struct setup){.ca = "a-pl0.pem", .depth = -1});
  CHECK_EQ(chain_refusal(sn, l1, NULL, NULL, "is not a CA"), ED_HS_UNKNOWN_CA);
  CHECK_EQ(chain_refusal(sn, l1, noca, NULL, "is not a CA"), ED_HS_UNKNOWN_CA);
  CHECK_EQ(chain_refusal(sp, l2, sub, NULL, "pathLenConstraint"),
           ED_HS_UNKNOWN_CA);
  CHECK_EQ(chain_refusal(sp, l2, sub, pl0, "pathLenConstraint"),
           ED_HS_UNKNOWN_CA);
  CHECK_EQ(chain_refusal(sp, si, sub, NULL, "pathLenConstraint"),
           ED_HS_UNKNOWN_CA);
  CHECK_EQ(chain_refusal(sp, si, sub, pl0, "pathLenConstraint"),
           ED_HS_UNKNOWN_CA);
  /* A leaf right under the pathlen:0 CA, self-issued or not: served. */
  CHECK_EQ(chain_refusal(sp, under, NULL, NULL, ""), ED_HS_OTHER);
  ed_tls_snapshot_unref(sn);
  ed_tls_snapshot_unref(sp);
  FREE_CERTS(noca, pl0, nolimit, sub, l1, l2, si, under);
  EVP_PKEY_free(k);
  ed_tls_snapshot_unref(s);
}

/* A pathLenConstraint binds every CA of the chain, the trust anchor and
 * a self-issued CA certificate (a key rollover's: subject and issuer the
 * same name) too (RFC 5280 6.1.4 (m); OpenSSL 1.1 and Go enforce both).
 * echod's own `pki` CA says pathlen:0 for "this CA signs only leaves".
 * Before: check_issuers (as the pinned BoringSSL) skipped any self-issued
 * CA, so a root's pathlen:0 never refused an intermediate below it, nor
 * did a self-issued intermediate's. */
static void test_pathlen_root_and_self_issued_ca(void) {
  EVP_PKEY *kr = tc_key(), *ki = tc_key(), *ks = tc_key();
  struct tc_opts ro = {.cn = "root P", .bc = "critical,CA:TRUE,pathlen:0"};
  X509 *rp = tc_cert(kr, &ro);
  struct tc_opts io = {
      .cn = "inter P", .issuer = rp, .issuer_key = kr, .ca = 1};
  X509 *ip = tc_cert(ki, &io);
  X509 *under_inter = client("under inter P", ip, ki, NULL);
  X509 *under_root = client("under root P", rp, kr, NULL);
  X509 *with_rp[] = {ca_a, rp};
  tc_write_cert(tc_path("a-rp.pem"), with_rp, 2);
  struct ed_tls_snapshot *s =
      snap((struct setup){.ca = "a-rp.pem", .depth = -1});
  CHECK_EQ(chain_refusal(s, under_inter, ip, NULL, "pathLenConstraint"),
           ED_HS_UNKNOWN_CA);
  CHECK_EQ(chain_refusal(s, under_root, NULL, NULL, ""), ED_HS_OTHER);
  /* Root A's self-issued certificate for a new key, pathlen:0, sent by
   * the client with a sub-CA below it. */
  struct tc_opts so = {.cn = "root A",
                       .issuer = ca_a,
                       .issuer_key = key_a,
                       .ca = 1,
                       .bc = "critical,CA:TRUE,pathlen:0"};
  X509 *si = tc_cert(ks, &so);
  struct tc_opts bo = {
      .cn = "sub of new A", .issuer = si, .issuer_key = ks, .ca = 1};
  X509 *sub = tc_cert(ki, &bo);
  X509 *under_sub = client("under sub of new A", sub, ki, NULL);
  X509 *under_si = client("under new A", si, ks, NULL);
  CHECK_EQ(chain_refusal(s, under_sub, sub, si, "pathLenConstraint"),
           ED_HS_UNKNOWN_CA);
  CHECK_EQ(chain_refusal(s, under_si, si, NULL, ""), ED_HS_OTHER);
  ed_tls_snapshot_unref(s);
  FREE_CERTS(rp, ip, under_inter, under_root, si, sub, under_sub, under_si);
  FREE_KEYS(kr, ki, ks);
}

/* An intermediate of the bundle whose EKU is serverAuth only issues no
 * clients, sent or not, as one the client sends and the bundle lacks.
 * Before: the bundle's copy was never checked and both were served. */
/* The verified-chain cache keeps a chain only until a certificate of the
 * bundle begins: "valid now, then valid longest" may then take another
 * path. Here the bundle's intermediate is re-issued for servers only
 * (EKU), to begin 2 s from now and last longer: carol's chain verifies
 * through the old one, then, once the re-issue has begun, through it and
 * is refused - by the same snapshot, cached or not. (The cache let her
 * in until the old certificate ended.) */
static void test_vcache_until_a_ca_begins(void) {
  struct tc_opts io = {.cn = "inter A1",
                       .issuer = ca_a,
                       .issuer_key = key_a,
                       .ca = 1,
                       .eku = TC_EKU_SERVER,
                       .from_s = 2,
                       .to_s = 2 * 86400};
  X509 *servers_only = tc_cert(key_i, &io);
  struct setup u = BUNDLE("a-inter-servers-later.pem", inter, servers_only);
  struct ed_tls_snapshot *s = snap(u);
  if (s) {
    expect_served(s, carol, NULL, NULL); /* cached */
    sleep(3);
    expect_refused(s, carol, NULL, ED_HS_BAD_EKU,
                   SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE);
    struct ed_tls_snapshot *fresh = snap(u);
    expect_refused(fresh, carol, NULL, ED_HS_BAD_EKU,
                   SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE);
    ed_tls_snapshot_unref(fresh);
  }
  ed_tls_snapshot_unref(s);
  X509_free(servers_only);
}

static void test_bundle_intermediate_eku(void) {
  EVP_PKEY *k = tc_key();
  struct tc_opts o = {.cn = "servers only",
                      .issuer = ca_a,
                      .issuer_key = key_a,
                      .ca = 1,
                      .eku = TC_EKU_SERVER};
  X509 *srv_ca = tc_cert(k, &o);
  X509 *leaf = client("under servers only", srv_ca, k, NULL);
  X509 *bundle[] = {ca_a, srv_ca};
  tc_write_cert(tc_path("a-servers-only.pem"), bundle, 2);
  struct ed_tls_snapshot *s =
      snap((struct setup){.ca = "a-servers-only.pem", .depth = -1});
  expect_refused(s, leaf, NULL, ED_HS_BAD_EKU,
                 SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE);
  expect_refused(s, leaf, srv_ca, ED_HS_BAD_EKU,
                 SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE);
  ed_tls_snapshot_unref(s);
  FREE_CERTS(leaf, srv_ca);
  EVP_PKEY_free(k);
}

/* An identity too big for a ticket (over 8 KiB) still gets in; its
 * ticket just never resumes. */
static void test_big_identity_ticket(void) {
  enum { N = 80 };
  static char values[N][130];
  struct tc_san sans[N];
  for (int i = 0; i < N; i++) {
    int n = snprintf(values[i], 20, "spiffe://echod/%d/", i & 127);
    memset(values[i] + n, '0', 110);
    values[i][n + 110] = '\0';
    sans[i] = (struct tc_san){GEN_URI, values[i], 0};
  }
  X509 *big =
      hostile((struct tc_opts){.cn = "big", .sans = sans, .num_sans = N});
  struct ed_tls_snapshot *s = snap((struct setup){.depth = -1});
  struct session first = full_session(s, big, NULL, NULL);
  if (first.peer) CHECK_EQ(ed_tls_peer_num_sans(first.peer), N);
  struct outcome again = handshake(s, big, NULL, NULL, first.ticket);
  CHECK_EQ(again.rc, 1);
  CHECK_EQ(again.resumed, 0);
  session_free(&first);
  X509_free(big);
  ed_tls_snapshot_unref(s);
}

/* What the log line does with what identities may hold: the CN through
 * ed_logq stays one field; SANs through ed_tls_peer_sans_text too. */
static void test_log_fields(void) {
  char out[256];
  CHECK_STR(ed_logq(out, sizeof(out), "a \"b\"=c\\d"),
            "\"a \\\"b\\\"=c\\\\d\"");
  CHECK_STR(ed_logq(out, sizeof(out), "x\x1b[31my\tz\r"),
            "\"x\\x1b[31my\\tz\\x0d\"");
  struct tc_san s[] = {{GEN_URI, "spiffe://a b/\"q\"=1%", 0},
                       {GEN_EMAIL, "x,y@z", 0}};
  X509 *x = hostile((struct tc_opts){.cn = "q", .sans = s, .num_sans = 2});
  struct ed_tls_peer *p = NULL;
  const char *why = NULL;
  CHECK_EQ(from_der(&p, &why, x), 0);
  char *t = p ? ed_tls_peer_sans_text(p) : NULL;
  CHECK_STR(t, "URI:spiffe://a%20b/\"q\"=1%25,email:x%2Cy@z");
  CHECK_STR(ed_logq(out, sizeof(out), t),
            "\"URI:spiffe://a%20b/\\\"q\\\"=1%25,email:x%2Cy@z\"");
  free(t);
  ed_tls_peer_unref(p);
  X509_free(x);
}

int main(void) {
  ed_log_set_level(ED_LOG_ERROR);
  setup();
  RUN(test_extract);
  RUN(test_bad_identity_names);
  RUN(test_bad_identity_handshake);
  RUN(test_allow_lists);
  RUN(test_allow_list_errors);
  RUN(test_allow_san_types);
  RUN(test_recheck);
  RUN(test_recheck_renewed_past_the_old_end);
  RUN(test_recheck_renewal_not_for_serial_pinned);
  RUN(test_recheck_revoked_renewal);
  RUN(test_not_after_second);
  RUN(test_recheck_client_sent_issuer_narrowed_in_bundle);
  RUN(test_recheck_renewal_not_the_path);
  RUN(test_recheck_renewal_from_another_issuer);
  RUN(test_full_handshake_avoids_revoked_renewal);
  RUN(test_crl_next_update_second);
  RUN(test_recheck_pinned_root_gone);
  RUN(test_recheck_bundle_issuer_of_unknown_ca);
  RUN(test_recheck_self_signed_leaf_reissued);
  RUN(test_same_name_other_key_root);
  RUN(test_pinned_to_second_cert_of_root);
  RUN(test_recheck_gone_client_copy_expired);
  RUN(test_sent_issuer_other_key_in_bundle);
  RUN(test_crls);
  RUN(test_crl_failures);
  RUN(test_crl_order);
  RUN(test_crl_order_failures);
  RUN(test_crl_rollback);
  RUN(test_chain_handshakes);
  RUN(test_chain_not_a_ca);
  RUN(test_pathlen_root_and_self_issued_ca);
  RUN(test_name_constraints);
  RUN(test_bundle_intermediate_eku);
  RUN(test_vcache_until_a_ca_begins);
  RUN(test_big_identity_ticket);
  RUN(test_log_fields);
  teardown();
  return TEST_RESULT();
}

/* internal/tls — shared ticket keys (--ticket-keys): the file format
 * (every refusal names the file and line), the mode rule, and what
 * sharing buys: a ticket one server issued resumes on another server that
 * loaded the same file - also with the keys rotated (a new first line) -
 * and not on one with other keys or with the default in-memory ring; the
 * re-check against the CRL applies to such a ticket too. */
#include <openssl/ssl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "internal/base/base.h"
#include "internal/testing/testing.h"
#include "internal/tls/testcerts.h"
#include "internal/tls/testpair.h"
#include "internal/tls/tls.h"

static EVP_PKEY *ca_key, *srv_key, *cli_key;
static X509 *ca, *srv, *alice;

static const char K1[] =
    "v1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
static const char K2[] =
    "v1:FFEEDDCCBBAA99887766554433221100ffeeddccbbaa99887766554433221100";
static const char K3[] =
    "v1:5555555555555555555555555555555555555555555555555555555555555555";

static void setup(void) {
  ca_key = tc_key(), srv_key = tc_key(), cli_key = tc_key();
  struct tc_opts o = {.cn = "test CA"};
  ca = tc_cert(ca_key, &o);
  struct tc_opts so = {.cn = "server",
                       .issuer = ca,
                       .issuer_key = ca_key,
                       .eku = TC_EKU_SERVER,
                       .san = "DNS:localhost"};
  srv = tc_cert(srv_key, &so);
  struct tc_opts co = {
      .cn = "alice", .issuer = ca, .issuer_key = ca_key, .eku = TC_EKU_CLIENT};
  alice = tc_cert(cli_key, &co);
  tc_write_cert(tc_path("tk-ca.pem"), &ca, 1);
  tc_write_cert(tc_path("tk-server.pem"), &srv, 1);
  tc_write_key(tc_path("tk-server.key"), srv_key, 0600);
  X509_CRL *crl = tc_crl(ca, ca_key, NULL, 0, 86400);
  tc_write_crl(tc_path("tk-crl0.pem"), crl);
  X509_CRL_free(crl);
  crl = tc_crl(ca, ca_key, &alice, 1, 86400);
  tc_write_crl(tc_path("tk-crl1.pem"), crl);
  X509_CRL_free(crl);
}

static void write_file(const char *name, const char *text, unsigned mode) {
  const char *path = tc_path(name);
  CHECK_EQ(ed_write_file_atomic(path, text, strlen(text), mode), 0);
}

static int parse(const char *text, size_t *out_num, char *err, size_t len) {
  uint8_t keys[ED_TLS_TICKET_KEYS_MAX][ED_TLS_TICKET_SECRET_LEN];
  return ed_tls_ticket_keys_parse(keys, out_num, text, strlen(text), "F", err,
                                  len);
}

static void expect_bad(const char *text, const char *msg) {
  char err[256] = "";
  size_t n = 99;
  CHECK_EQ(parse(text, &n, err, sizeof(err)), ED_E_PARSE);
  CHECK_EQ(n, 0);
  if (!strstr(err, msg)) fprintf(stderr, "got: %s\nwant: %s\n", err, msg);
  CHECK(strstr(err, msg) != NULL);
}

static void test_format(void) {
  char text[2048], err[256];
  size_t n = 0;
  snprintf(text, sizeof(text), "# rotated today\n\n  %s \r\n%s", K1, K2);
  CHECK_EQ(parse(text, &n, err, sizeof(err)), 0);
  CHECK_EQ(n, 2);
  /* A key round-trips through ed_tls_ticket_key_format, lowercase. */
  uint8_t keys[ED_TLS_TICKET_KEYS_MAX][ED_TLS_TICKET_SECRET_LEN];
  CHECK_EQ(
      ed_tls_ticket_keys_parse(keys, &n, K2, strlen(K2), "F", err, sizeof(err)),
      0);
  char line[ED_TLS_TICKET_LINE_LEN + 1];
  ed_tls_ticket_key_format(line, keys[0]);
  CHECK_STR(line,
            "v1:ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221"
            "100");
  expect_bad("", "ticket-keys file F holds no key");
  expect_bad("# only a comment\n", "holds no key");
  expect_bad("v2:00\n", "ticket-keys file F line 1: expected v1:");
  snprintf(text, sizeof(text), "%s\n%.66s\n", K1, K2); /* one digit short */
  expect_bad(text, "ticket-keys file F line 2: expected v1:");
  snprintf(text, sizeof(text), "%s\n%sg\n", K1, K2); /* one too many */
  expect_bad(text, "line 2: expected");
  snprintf(text, sizeof(text), "%s\nv1:%.63sx\n", K1, K2 + 3); /* not hex */
  expect_bad(text, "line 2: expected");
  snprintf(text, sizeof(text), "%s\n%s x\n", K1, K2); /* trailing word */
  expect_bad(text, "line 2: expected");
  snprintf(text, sizeof(text), "%s\n\n%s\n", K1, K1);
  expect_bad(text, "line 3: this key is already on an earlier line");
  size_t at = 0;
  for (int i = 0; i < 17; i++)
    at += (size_t)snprintf(text + at, sizeof(text) - at, "v1:%064x\n", i + 1);
  expect_bad(text, "line 17: more than 16 keys");
}

static void test_load_mode(void) {
  char text[256], err[256] = "";
  struct ed_tls_keyring *kr = NULL;
  snprintf(text, sizeof(text), "%s\n", K1);
  write_file("tk-open.keys", text, 0644);
  CHECK_EQ(
      ed_tls_keyring_load(&kr, tc_path("tk-open.keys"), 0, err, sizeof(err)),
      ED_E_INSECURE);
  CHECK(strstr(err, "ticket-keys file") && strstr(err, "mode 0644"));
  CHECK(kr == NULL);
  CHECK_EQ(
      ed_tls_keyring_load(&kr, tc_path("tk-none.keys"), 0, err, sizeof(err)),
      ED_E_NOENT);
  write_file("tk-ok.keys", text, 0600);
  CHECK_EQ(ed_tls_keyring_load(&kr, tc_path("tk-ok.keys"), 0, err, sizeof(err)),
           0);
  struct ed_tls_ticket_info info;
  ed_tls_keyring_info(kr, &info);
  CHECK_EQ(info.from_file, 1);
  CHECK_EQ(info.num_keys, 1);
  CHECK_EQ(info.rotate_s, 0);
  CHECK_EQ(strlen(info.issuing_id), 16);
  /* The id is derived, not the secret's first bytes. */
  CHECK(strncmp(info.issuing_id, "0001020304050607", 16) != 0);
  ed_tls_keyring_rotate(kr); /* a file's ring never rotates */
  struct ed_tls_ticket_info again;
  ed_tls_keyring_info(kr, &again);
  CHECK_STR(again.issuing_id, info.issuing_id);
  ed_tls_keyring_unref(kr);
}

/* snap builds a snapshot on the ticket-keys file |keys| (NULL: |ring|). */
static struct ed_tls_snapshot *snap(const char *keys,
                                    struct ed_tls_keyring *ring,
                                    const char *crl) {
  static const char *crls[1];
  crls[0] = tc_path(crl);
  struct ed_tls_params p = {.cert = tc_path("tk-server.pem"),
                            .key = tc_path("tk-server.key"),
                            .ca = tc_path("tk-ca.pem"),
                            .crls = crls,
                            .num_crls = 1,
                            .keyring = ring,
                            .ticket_keys = keys ? tc_path(keys) : NULL};
  struct ed_tls_snapshot *s = NULL;
  char err[256] = "";
  int rc = ed_tls_snapshot_new(&s, &p, err, sizeof(err));
  if (rc) fprintf(stderr, "snapshot: %s\n", err);
  CHECK_EQ(rc, 0);
  return s;
}

/* connect_to runs one handshake and echo against |s|, resuming the last
 * ticket when there is one. Returns 1 resumed, 0 full, -1 refused. */
static int connect_to(struct ed_tls_snapshot *s, SSL_CTX *cctx) {
  SSL_SESSION *sess = tp_last_session;
  if (sess) SSL_SESSION_up_ref(sess);
  struct tp_pair p;
  tp_pair_init(&p, cctx, s, sess, 1 << 20);
  tp_handshake(&p);
  int r = p.sv_rc == 1 ? ed_tls_conn_resumed(p.sv) : -1;
  if (p.sv_rc == 1)
    CHECK_EQ(tp_echo(&p, (const uint8_t *)"x", 1), 0); /* the new ticket */
  tp_pair_free(&p);
  SSL_SESSION_free(sess);
  return r;
}

static void forget_ticket(void) {
  SSL_SESSION_free(tp_last_session);
  tp_last_session = NULL;
}

static void test_shared_between_servers(void) {
  char text[512];
  snprintf(text, sizeof(text), "%s\n", K1);
  write_file("tk-a.keys", text, 0600);
  snprintf(text, sizeof(text), "%s\n%s\n", K2, K1); /* rotated: K2 seals */
  write_file("tk-b.keys", text, 0600);
  snprintf(text, sizeof(text), "%s\n", K3);
  write_file("tk-c.keys", text, 0600);
  struct ed_tls_keyring *mem = ed_tls_keyring_new(3600);
  struct ed_tls_snapshot *a = snap("tk-a.keys", NULL, "tk-crl0.pem");
  struct ed_tls_snapshot *a2 = snap("tk-a.keys", NULL, "tk-crl0.pem");
  struct ed_tls_snapshot *b = snap("tk-b.keys", NULL, "tk-crl0.pem");
  struct ed_tls_snapshot *c = snap("tk-c.keys", NULL, "tk-crl0.pem");
  struct ed_tls_snapshot *m = snap(NULL, mem, "tk-crl0.pem");
  struct ed_tls_snapshot *revoking = snap("tk-b.keys", NULL, "tk-crl1.pem");
  SSL_CTX *cctx = tp_client_ctx(alice, cli_key, NULL, ca, TLS1_3_VERSION);
  forget_ticket();
  CHECK_EQ(connect_to(a, cctx), 0);  /* full: the first ticket */
  CHECK_EQ(connect_to(a2, cctx), 1); /* another "replica", same file */
  CHECK_EQ(connect_to(b, cctx), 1);  /* rotated: K1 still opens */
  CHECK_EQ(connect_to(a, cctx), 0);  /* b sealed with K2: a lacks it */
  CHECK_EQ(connect_to(b, cctx), 1);  /* a's K1 ticket ... */
  CHECK_EQ(connect_to(b, cctx), 1);  /* ... and b's own K2 ticket */
  CHECK_EQ(connect_to(c, cctx), 0);  /* other keys: full handshake */
  CHECK_EQ(connect_to(m, cctx), 0);  /* in-memory keys: full */
  CHECK_EQ(connect_to(a, cctx), 0);
  CHECK_EQ(connect_to(revoking, cctx), -1); /* the CRL wins over a ticket */
  struct ed_tls_ticket_info ia, ib, im;
  ed_tls_snapshot_ticket_info(a, &ia);
  ed_tls_snapshot_ticket_info(b, &ib);
  ed_tls_snapshot_ticket_info(m, &im);
  CHECK_EQ(ib.num_keys, 2);
  CHECK(strcmp(ia.issuing_id, ib.issuing_id) != 0);
  CHECK_EQ(im.from_file, 0);
  CHECK_EQ(im.rotate_s, 3600);
  forget_ticket();
  SSL_CTX_free(cctx);
  struct ed_tls_snapshot *all[] = {a, a2, b, c, m, revoking};
  for (size_t i = 0; i < 6; i++) ed_tls_snapshot_unref(all[i]);
  ed_tls_keyring_unref(mem);
}

/* A bad file fails the build like a bad certificate (the reload keeps
 * the old snapshot, and with it the old keys). */
static void test_bad_file_fails_snapshot(void) {
  write_file("tk-bad.keys", "v1:nothex\n", 0600);
  struct ed_tls_params p = {.cert = tc_path("tk-server.pem"),
                            .key = tc_path("tk-server.key"),
                            .ca = tc_path("tk-ca.pem"),
                            .ticket_keys = tc_path("tk-bad.keys")};
  struct ed_tls_snapshot *s = NULL;
  char err[256] = "";
  CHECK_EQ(ed_tls_snapshot_new(&s, &p, err, sizeof(err)), ED_E_PARSE);
  CHECK(s == NULL);
  CHECK(strstr(err, "tk-bad.keys line 1") != NULL);
}

int main(void) {
  ed_log_set_level(ED_LOG_WARN);
  setup();
  RUN(test_format);
  RUN(test_load_mode);
  RUN(test_shared_between_servers);
  RUN(test_bad_file_fails_snapshot);
  X509 *all[] = {ca, srv, alice};
  for (size_t i = 0; i < 3; i++) X509_free(all[i]);
  EVP_PKEY_free(ca_key);
  EVP_PKEY_free(srv_key);
  EVP_PKEY_free(cli_key);
  return TEST_RESULT();
}

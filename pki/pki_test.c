/* Unit tests for pki: what a CA user would notice — files and modes,
 * certificate contents checked with BoringSSL's own verifier, revocation,
 * refusals that leave the directory byte-identical, crash leftovers. */
#include "pki/pki.h"

#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal/base/base.h"
#include "internal/testing/testing.h"
#include "pki/test_util.h"
#include "pki/testca.h"

static char err[ED_PKI_ERR_LEN];

/* new_ca makes a fresh P-256 CA in a new temporary directory. */
static struct ed_pki *new_ca(char **out_dir) {
  *out_dir = pkit_tmpdir("pki");
  char *dir = ed_malloc(strlen(*out_dir) + 8);
  sprintf(dir, "%s/ca", *out_dir); /* not yet there: init makes it */
  free(*out_dir);
  *out_dir = dir;
  struct ed_pki *pki = NULL;
  int rc = ed_pki_init(&pki, dir, NULL, err, sizeof(err));
  CHECK_EQ(rc, 0);
  if (rc) {
    fprintf(stderr, "init: %s\n", err);
    abort();
  }
  return pki;
}

static int issue(struct ed_pki *pki, enum ed_pki_role role, const char *name) {
  struct ed_pki_issue_opts o = {.role = role, .name = name};
  return ed_pki_issue(pki, NULL, &o);
}

static int ext_critical(X509 *x, int nid) {
  int i = X509_get_ext_by_NID(x, nid, -1);
  return i >= 0 && X509_EXTENSION_get_critical(X509_get_ext(x, i));
}

static int has_san(const struct ed_pki_cert_details *d, const char *san) {
  for (size_t i = 0; i < d->num_sans; i++) {
    if (strcmp(d->sans[i], san) == 0) return 1;
  }
  return 0;
}

static void test_init(void) {
  char *dir;
  struct ed_pki *pki = new_ca(&dir);
  CHECK_EQ(pkit_mode(dir), 0700);
  CHECK_EQ(pkit_mode(pkit_path(dir, "ca.key")), 0600);
  CHECK(pkit_mode(pkit_path(dir, "index.json")) >= 0);
  X509 *ca = pkit_load_cert(pkit_path(dir, "ca.pem"));
  CHECK(ca != NULL);
  CHECK(X509_check_ca(ca));
  CHECK(X509_get_key_usage(ca) == (KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  CHECK(ext_critical(ca, NID_basic_constraints));
  CHECK(ext_critical(ca, NID_key_usage));
  CHECK(X509_get0_subject_key_id(ca) != NULL);
  CHECK_EQ(ASN1_STRING_length(X509_get0_serialNumber(ca)), 16);
  struct ed_pki_cert_details *d = NULL;
  CHECK_EQ(ed_pki_show(pki, &d, "ca"), 0);
  CHECK_STR(d->subject, "CN=echod dev CA");
  CHECK_STR(d->info.key_type, "p256");
  CHECK_EQ(d->info.role, ED_PKI_CA);
  int64_t days = (d->info.not_after - (int64_t)time(NULL)) / 86400;
  CHECK(days >= 3649 && days <= 3650);
  /* An empty CRL, signed by the CA. */
  X509_CRL *crl = pkit_load_crl(pkit_path(dir, "crl.pem"));
  CHECK(crl && sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)) == 0);
  EVP_PKEY *pub = X509_get_pubkey(ca);
  CHECK(crl && X509_CRL_verify(crl, pub) == 1);
  EVP_PKEY_free(pub);
  X509_CRL_free(crl);
  /* A second init refuses, and changes nothing; --force replaces. */
  char *before = pkit_snapshot(dir);
  CHECK_EQ(ed_pki_init(NULL, dir, NULL, err, sizeof(err)), ED_E_EXIST);
  CHECK(pkit_contains(err, "--force"));
  char *after = pkit_snapshot(dir);
  CHECK_STR(before, after);
  struct ed_pki_init_opts force = {.force = 1, .cn = "Other CA"};
  CHECK_EQ(ed_pki_init(NULL, dir, &force, err, sizeof(err)), 0);
  X509 *ca2 = pkit_load_cert(pkit_path(dir, "ca.pem"));
  CHECK(ca2 && X509_cmp(ca, ca2) != 0);
  X509_free(ca2);
  X509_free(ca);
  free(before);
  free(after);
  ed_pki_cert_details_free(d);
  ed_pki_free(pki);
  free(dir);
}

static void test_issue_server_defaults(void) {
  char *dir;
  struct ed_pki *pki = new_ca(&dir);
  struct ed_pki_cert_info info;
  struct ed_pki_issue_opts o = {.role = ED_PKI_SERVER, .name = "web"};
  CHECK_EQ(ed_pki_issue(pki, &info, &o), 0);
  CHECK_STR(info.name, "web");
  CHECK_EQ(strlen(info.serial), 32);
  int64_t days = (info.not_after - (int64_t)time(NULL)) / 86400;
  CHECK(days >= ED_PKI_SERVER_DAYS - 1 && days <= ED_PKI_SERVER_DAYS);
  CHECK_EQ(pkit_mode(pkit_path(dir, "web.key")), 0600);
  const char *ca = pkit_path(dir, "ca.pem"), *pem = pkit_path(dir, "web.pem");
  CHECK_EQ(pkit_verify(ca, pem, NULL, X509_PURPOSE_SSL_SERVER), 0);
  CHECK_EQ(
      pkit_verify(ca, pem, pkit_path(dir, "crl.pem"), X509_PURPOSE_SSL_SERVER),
      0);
  CHECK_EQ(pkit_verify(ca, pem, NULL, X509_PURPOSE_SSL_CLIENT),
           X509_V_ERR_INVALID_PURPOSE);
  struct ed_pki_cert_details *d = NULL;
  CHECK_EQ(ed_pki_show(pki, &d, "web"), 0);
  CHECK(has_san(d, "DNS:localhost") && has_san(d, "IP:127.0.0.1"));
  CHECK(has_san(d, "IP:::1"));
  CHECK(d->num_ekus == 1 && strcmp(d->ekus[0], "serverAuth") == 0);
  CHECK_STR(d->subject, "CN=web");
  CHECK_STR(d->issuer, "CN=echod dev CA");
  ed_pki_cert_details_free(d);
  /* The chain file is the leaf then the CA. */
  char *chain = pkit_read(pkit_path(dir, "web-chain.pem"), NULL);
  char *leaf = pkit_read(pem, NULL), *cap = pkit_read(ca, NULL);
  CHECK(chain && leaf && cap && strncmp(chain, leaf, strlen(leaf)) == 0 &&
        strcmp(chain + strlen(leaf), cap) == 0);
  X509 *x = pkit_load_cert(pem);
  X509 *cax = pkit_load_cert(ca);
  /* AKID names the CA's SKID; the leaf has its own SKID. */
  CHECK(x && cax && X509_get0_authority_key_id(x) != NULL &&
        X509_get0_subject_key_id(cax) != NULL &&
        ASN1_STRING_cmp(X509_get0_authority_key_id(x),
                        X509_get0_subject_key_id(cax)) == 0);
  CHECK(x && X509_get0_subject_key_id(x) != NULL &&
        ASN1_STRING_cmp(X509_get0_subject_key_id(x),
                        X509_get0_subject_key_id(cax)) != 0);
  CHECK(x && X509_get_key_usage(x) == KU_DIGITAL_SIGNATURE);
  CHECK(x && ext_critical(x, NID_basic_constraints));
  CHECK(x && ext_critical(x, NID_key_usage));
  CHECK(x && !X509_check_ca(x));
  /* The serial is positive, 16 bytes, and random: a second certificate
   * gets another one. */
  const ASN1_INTEGER *sn = x ? X509_get0_serialNumber(x) : NULL;
  CHECK(sn && ASN1_STRING_type(sn) == V_ASN1_INTEGER &&
        ASN1_STRING_length(sn) == 16 &&
        (ASN1_STRING_get0_data(sn)[0] & 0x80) == 0);
  struct ed_pki_cert_info info2;
  o.name = "web2";
  CHECK_EQ(ed_pki_issue(pki, &info2, &o), 0);
  CHECK(strcmp(info.serial, info2.serial) != 0);
  X509_free(cax);
  X509_free(x);
  free(chain);
  free(leaf);
  free(cap);
  ed_pki_free(pki);
  free(dir);
}

static void test_issue_client_sans(void) {
  char *dir;
  struct ed_pki *pki = new_ca(&dir);
  const char *dns[] = {"alice.example.com"}, *ips[] = {"10.0.0.1"};
  const char *uris[] = {"spiffe://echod/alice"}, *emails[] = {"a@example.com"};
  struct ed_pki_issue_opts o = {
      .role = ED_PKI_CLIENT,
      .name = "alice",
      .days = 10,
      .dns = dns,
      .num_dns = 1,
      .ips = ips,
      .num_ips = 1,
      .uris = uris,
      .num_uris = 1,
      .emails = emails,
      .num_emails = 1,
  };
  CHECK_EQ(ed_pki_issue(pki, NULL, &o), 0);
  struct ed_pki_cert_details *d = NULL;
  CHECK_EQ(ed_pki_show(pki, &d, "alice"), 0);
  CHECK_EQ(d->num_sans, 4);
  CHECK(has_san(d, "DNS:alice.example.com") && has_san(d, "IP:10.0.0.1"));
  CHECK(has_san(d, "URI:spiffe://echod/alice"));
  CHECK(has_san(d, "email:a@example.com"));
  CHECK(d->num_ekus == 1 && strcmp(d->ekus[0], "clientAuth") == 0);
  CHECK_EQ(d->info.role, ED_PKI_CLIENT);
  int64_t left = d->info.not_after - (int64_t)time(NULL);
  CHECK(left > 10 * 86400 - 60 && left <= 10 * 86400);
  char *json = ed_pki_details_json(d);
  CHECK(pkit_contains(json, "\"spiffe://echod/alice\"") ||
        pkit_contains(json, "URI:spiffe://echod/alice"));
  free(json);
  ed_pki_cert_details_free(d);
  const char *ca = pkit_path(dir, "ca.pem"), *pem = pkit_path(dir, "alice.pem");
  CHECK_EQ(pkit_verify(ca, pem, NULL, X509_PURPOSE_SSL_CLIENT), 0);
  CHECK_EQ(pkit_verify(ca, pem, NULL, X509_PURPOSE_SSL_SERVER),
           X509_V_ERR_INVALID_PURPOSE);
  /* Default client: no SANs at all. */
  CHECK_EQ(issue(pki, ED_PKI_CLIENT, "bob"), 0);
  CHECK_EQ(ed_pki_show(pki, &d, "bob"), 0);
  CHECK_EQ(d->num_sans, 0);
  int64_t days = (d->info.not_after - (int64_t)time(NULL)) / 86400;
  CHECK(days >= ED_PKI_CLIENT_DAYS - 1 && days <= ED_PKI_CLIENT_DAYS);
  ed_pki_cert_details_free(d);
  ed_pki_free(pki);
  free(dir);
}

/* Every key type makes a CA whose leaves verify (RSA 4096 is left to the
 * end-to-end test, which runs it once). */
static void test_key_types(void) {
  static const enum ed_pki_key_type types[] = {
      ED_PKI_KEY_P384, ED_PKI_KEY_ED25519, ED_PKI_KEY_RSA2048};
  for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
    char *base = pkit_tmpdir("keytype");
    struct ed_pki_init_opts io = {.key_type = types[i]};
    struct ed_pki *pki = NULL;
    CHECK_EQ(ed_pki_init(&pki, base, &io, err, sizeof(err)), 0);
    if (!pki) continue;
    struct ed_pki_issue_opts o = {
        .role = ED_PKI_CLIENT, .name = "c", .key_type = types[i]};
    struct ed_pki_cert_info info;
    CHECK_EQ(ed_pki_issue(pki, &info, &o), 0);
    CHECK_STR(info.key_type, ed_pki_key_type_name(types[i]));
    CHECK_EQ(pkit_verify(pkit_path(base, "ca.pem"), pkit_path(base, "c.pem"),
                         pkit_path(base, "crl.pem"), X509_PURPOSE_SSL_CLIENT),
             0);
    CHECK_EQ(ed_pki_revoke(pki, NULL, "c", ED_PKI_REASON_UNSPECIFIED), 0);
    CHECK_EQ(pkit_verify(pkit_path(base, "ca.pem"), pkit_path(base, "c.pem"),
                         pkit_path(base, "crl.pem"), X509_PURPOSE_SSL_CLIENT),
             X509_V_ERR_CERT_REVOKED);
    ed_pki_free(pki);
    free(base);
  }
}

static void test_revoke_and_crl(void) {
  char *dir;
  struct ed_pki *pki = new_ca(&dir);
  const char *ca = pkit_path(dir, "ca.pem"), *crl = pkit_path(dir, "crl.pem");
  struct ed_pki_cert_info a, b;
  struct ed_pki_issue_opts o = {.role = ED_PKI_CLIENT, .name = "a"};
  CHECK_EQ(ed_pki_issue(pki, &a, &o), 0);
  o.name = "b";
  CHECK_EQ(ed_pki_issue(pki, &b, &o), 0);
  CHECK_EQ(pkit_verify(ca, pkit_path(dir, "a.pem"), crl, 0), 0);
  struct ed_pki_cert_info r;
  CHECK_EQ(ed_pki_revoke(pki, &r, "a", ED_PKI_REASON_KEY_COMPROMISE), 0);
  CHECK_STR(r.serial, a.serial);
  CHECK_EQ(pkit_verify(ca, pkit_path(dir, "a.pem"), crl, 0),
           X509_V_ERR_CERT_REVOKED);
  CHECK_EQ(pkit_verify(ca, pkit_path(dir, "b.pem"), crl, 0), 0);
  /* By serial, lower case with colons, as openssl might print it. */
  char colons[100] = "";
  for (size_t i = 0; b.serial[i]; i += 2) {
    char pair[4] = {(char)(b.serial[i] | 0x20), (char)(b.serial[i + 1] | 0x20)};
    if (i) strcat(colons, ":");
    strcat(colons, pair);
  }
  CHECK_EQ(ed_pki_revoke(pki, NULL, colons, ED_PKI_REASON_SUPERSEDED), 0);
  CHECK_EQ(pkit_verify(ca, pkit_path(dir, "b.pem"), crl, 0),
           X509_V_ERR_CERT_REVOKED);
  X509_CRL *c = pkit_load_crl(crl);
  CHECK(c && sk_X509_REVOKED_num(X509_CRL_get_REVOKED(c)) == 2);
  ASN1_INTEGER *num =
      c ? X509_CRL_get_ext_d2i(c, NID_crl_number, NULL, NULL) : NULL;
  CHECK(num && ASN1_INTEGER_get(num) == 3); /* init 1, two revokes */
  CHECK(c && X509_CRL_get_ext_by_NID(c, NID_authority_key_identifier, -1) >= 0);
  /* The CRL's AKID names the CA's SKID, and a revoked entry carries its
   * reason code. */
  X509 *cax = pkit_load_cert(ca);
  AUTHORITY_KEYID *akid =
      c ? X509_CRL_get_ext_d2i(c, NID_authority_key_identifier, NULL, NULL)
        : NULL;
  CHECK(akid && akid->keyid && cax &&
        ASN1_STRING_cmp(akid->keyid, X509_get0_subject_key_id(cax)) == 0);
  AUTHORITY_KEYID_free(akid);
  X509_free(cax);
  X509_REVOKED *rev0 =
      c ? sk_X509_REVOKED_value(X509_CRL_get_REVOKED(c), 0) : NULL;
  ASN1_ENUMERATED *why =
      rev0 ? X509_REVOKED_get_ext_d2i(rev0, NID_crl_reason, NULL, NULL) : NULL;
  CHECK(why && (ASN1_ENUMERATED_get(why) == ED_PKI_REASON_KEY_COMPROMISE ||
                ASN1_ENUMERATED_get(why) == ED_PKI_REASON_SUPERSEDED));
  ASN1_ENUMERATED_free(why);
  ASN1_INTEGER_free(num);
  X509_CRL_free(c);
  /* crl --days 3 re-signs with the next number. */
  CHECK_EQ(ed_pki_crl(pki, 3), 0);
  c = pkit_load_crl(crl);
  int day = 0, sec = 0;
  CHECK(c && ASN1_TIME_diff(&day, &sec, NULL, X509_CRL_get0_nextUpdate(c)));
  CHECK(day == 2 || (day == 3 && sec == 0));
  num = c ? X509_CRL_get_ext_d2i(c, NID_crl_number, NULL, NULL) : NULL;
  CHECK(num && ASN1_INTEGER_get(num) == 4);
  CHECK(c && sk_X509_REVOKED_num(X509_CRL_get_REVOKED(c)) == 2);
  ASN1_INTEGER_free(num);
  X509_CRL_free(c);
  /* list shows both, revoked, with reasons. */
  struct ed_pki_cert_info *infos = NULL;
  size_t n = 0;
  CHECK_EQ(ed_pki_list(pki, &infos, &n), 0);
  CHECK_EQ(n, 2);
  CHECK(n == 2 && infos[0].revoked && infos[1].revoked);
  CHECK(n == 2 && infos[0].reason == ED_PKI_REASON_KEY_COMPROMISE);
  CHECK(n == 2 && strcmp(infos[1].name, "b") == 0);
  char *json = ed_pki_list_json(infos, n);
  CHECK(pkit_contains(json, "\"keyCompromise\""));
  CHECK(pkit_contains(json, a.serial));
  free(json);
  free(infos);
  ed_pki_free(pki);
  free(dir);
}

/* expect_refused runs |rc| (already computed) and checks it and that the
 * directory is byte-identical to |before|. */
static void expect_unchanged(const char *dir, const char *before, int rc,
                             int want, const char *what) {
  CHECK_EQ(rc, want);
  char *after = pkit_snapshot(dir);
  CHECK_STR(before, after);
  if (rc != want) fprintf(stderr, "  (%s)\n", what);
  free(after);
}

static void test_bad_input_changes_nothing(void) {
  char *dir;
  struct ed_pki *pki = new_ca(&dir);
  CHECK_EQ(issue(pki, ED_PKI_CLIENT, "alice"), 0);
  CHECK_EQ(issue(pki, ED_PKI_CLIENT, "gone"), 0);
  CHECK_EQ(ed_pki_revoke(pki, NULL, "gone", ED_PKI_REASON_UNSPECIFIED), 0);
  char *before = pkit_snapshot(dir);
  static const char *const bad_names[] = {
      "",
      ".hidden",
      "a/b",
      "../x",
      "ca",
      "CRL",
      "index",
      "x-chain",
      "sp ace",
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
  for (size_t i = 0; i < sizeof(bad_names) / sizeof(char *); i++) {
    expect_unchanged(dir, before, issue(pki, ED_PKI_CLIENT, bad_names[i]),
                     ED_E_INVAL, bad_names[i]);
    CHECK(pkit_contains(ed_pki_last_error(pki), "invalid name"));
  }
  const char *bad_ip[] = {"300.1.1.1"}, *bad_dns[] = {"a..b"};
  const char *bad_uri[] = {"no-scheme"}, *bad_email[] = {"nobody"};
  struct ed_pki_issue_opts o = {.role = ED_PKI_SERVER, .name = "s"};
  o.ips = bad_ip, o.num_ips = 1;
  expect_unchanged(dir, before, ed_pki_issue(pki, NULL, &o), ED_E_INVAL, "ip");
  CHECK(pkit_contains(ed_pki_last_error(pki), "invalid IP address"));
  CHECK(pkit_contains(ed_pki_last_error(pki), "300.1.1.1"));
  o.num_ips = 0, o.dns = bad_dns, o.num_dns = 1;
  expect_unchanged(dir, before, ed_pki_issue(pki, NULL, &o), ED_E_INVAL, "dns");
  o.num_dns = 0, o.uris = bad_uri, o.num_uris = 1;
  expect_unchanged(dir, before, ed_pki_issue(pki, NULL, &o), ED_E_INVAL, "uri");
  o.num_uris = 0, o.emails = bad_email, o.num_emails = 1;
  expect_unchanged(dir, before, ed_pki_issue(pki, NULL, &o), ED_E_INVAL,
                   "email");
  o.num_emails = 0, o.days = ED_PKI_MAX_DAYS + 1;
  expect_unchanged(dir, before, ed_pki_issue(pki, NULL, &o), ED_E_INVAL,
                   "days");
  expect_unchanged(dir, before, issue(pki, ED_PKI_CLIENT, "alice"), ED_E_EXIST,
                   "duplicate");
  CHECK(pkit_contains(ed_pki_last_error(pki), "already exists"));
  expect_unchanged(
      dir, before,
      ed_pki_revoke(pki, NULL, "nobody", ED_PKI_REASON_UNSPECIFIED),
      ED_E_NOTFOUND, "revoke unknown");
  expect_unchanged(dir, before,
                   ed_pki_revoke(pki, NULL, "gone", ED_PKI_REASON_UNSPECIFIED),
                   ED_E_STATE, "revoke twice");
  expect_unchanged(dir, before, ed_pki_crl(pki, -1), ED_E_INVAL, "crl days");
  struct ed_pki_cert_details *d = NULL;
  expect_unchanged(dir, before, ed_pki_show(pki, &d, "nobody"), ED_E_NOTFOUND,
                   "show");
  struct ed_pki_init_opts io = {.cn = ""};
  expect_unchanged(dir, before, ed_pki_init(NULL, dir, &io, err, sizeof(err)),
                   ED_E_INVAL, "init cn");
  free(before);
  ed_pki_free(pki);
  free(dir);
}

static void test_key_permissions(void) {
  char *dir;
  struct ed_pki *pki = new_ca(&dir);
  const char *key = pkit_path(dir, "ca.key");
  CHECK_EQ(ed_pki_check_key_file(key, err, sizeof(err)), 0);
  CHECK_EQ(chmod(key, 0640), 0);
  char *before = pkit_snapshot(dir);
  expect_unchanged(dir, before, issue(pki, ED_PKI_CLIENT, "x"), ED_E_INSECURE,
                   "group-readable key");
  char hint[1100];
  snprintf(hint, sizeof(hint), "chmod 600 %s", key);
  CHECK(pkit_contains(ed_pki_last_error(pki), hint));
  CHECK_EQ(ed_pki_check_key_file(key, err, sizeof(err)), ED_E_INSECURE);
  CHECK(pkit_contains(err, hint) && pkit_contains(err, "0640"));
  CHECK_EQ(chmod(key, 0604), 0);
  CHECK_EQ(ed_pki_check_key_file(key, err, sizeof(err)), ED_E_INSECURE);
  CHECK_EQ(chmod(key, 0600), 0);
  CHECK_EQ(issue(pki, ED_PKI_CLIENT, "x"), 0);
  CHECK_EQ(pkit_mode(pkit_path(dir, "x.key")), 0600);
  CHECK_EQ(ed_pki_check_key_file(pkit_path(dir, "nope.key"), err, sizeof(err)),
           ED_E_NOENT);
  free(before);
  ed_pki_free(pki);
  free(dir);
}

/* write_text replaces |path| with |text|. */
static void write_text(const char *path, const char *text) {
  CHECK_EQ(ed_write_file_atomic(path, text, strlen(text), 0600), 0);
}

static void test_corrupt_files(void) {
  char *dir;
  struct ed_pki *pki = new_ca(&dir);
  CHECK_EQ(issue(pki, ED_PKI_CLIENT, "alice"), 0);
  struct ed_pki *other = NULL;
  char *odir = pkit_tmpdir("other");
  CHECK_EQ(ed_pki_init(&other, odir, NULL, err, sizeof(err)), 0);
  ed_pki_free(other);
  static const char *const files[] = {"index.json", "ca.pem", "ca.key"};
  for (size_t i = 0; i < 3; i++) {
    const char *p = pkit_path(dir, files[i]);
    char *good = pkit_read(p, NULL);
    write_text(p, "{ not what it should be");
    char *before = pkit_snapshot(dir);
    struct ed_pki *again = NULL;
    int rc = ed_pki_open(&again, dir, err, sizeof(err));
    if (i < 2) {
      expect_unchanged(dir, before, rc, ED_E_PARSE, files[i]);
      CHECK(pkit_contains(err, files[i]) && pkit_contains(err, "corrupt"));
    } else { /* the key is read only when signing */
      CHECK_EQ(rc, 0);
      expect_unchanged(dir, before, issue(again, ED_PKI_CLIENT, "bob"),
                       ED_E_PARSE, "ca.key");
      CHECK(pkit_contains(ed_pki_last_error(again), "ca.key"));
    }
    ed_pki_free(again);
    free(before);
    write_text(p, good);
    free(good);
  }
  /* Another CA's key: refused as a mismatch. */
  char *good = pkit_read(pkit_path(dir, "ca.key"), NULL);
  char *foreign = pkit_read(pkit_path(odir, "ca.key"), NULL);
  write_text(pkit_path(dir, "ca.key"), foreign);
  char *before = pkit_snapshot(dir);
  expect_unchanged(dir, before, issue(pki, ED_PKI_CLIENT, "bob"), ED_E_MISMATCH,
                   "mismatch");
  write_text(pkit_path(dir, "ca.key"), good);
  CHECK_EQ(issue(pki, ED_PKI_CLIENT, "bob"), 0);
  /* Unreadable: ca.pem is a directory. */
  CHECK_EQ(unlink(pkit_path(dir, "ca.pem")), 0);
  CHECK_EQ(mkdir(pkit_path(dir, "ca.pem"), 0700), 0);
  struct ed_pki *again = NULL;
  CHECK_EQ(ed_pki_open(&again, dir, err, sizeof(err)), ED_E_IO);
  CHECK(pkit_contains(err, "ca.pem"));
  /* No CA at all. */
  CHECK_EQ(ed_pki_open(&again, pkit_path(odir, "none"), err, sizeof(err)),
           ED_E_NOENT);
  CHECK(pkit_contains(err, "no CA"));
  free(before);
  free(good);
  free(foreign);
  free(odir);
  ed_pki_free(pki);
  free(dir);
}

/* Leftovers of a crash at each step of a write sequence. */
static void test_interrupted_writes(void) {
  char *dir;
  struct ed_pki *pki = new_ca(&dir);
  struct ed_pki_cert_info first, second;
  struct ed_pki_issue_opts o = {.role = ED_PKI_CLIENT, .name = "c"};
  CHECK_EQ(ed_pki_issue(pki, &first, &o), 0);
  /* Issue stopped before NAME.pem: issuing again works and revokes the
   * unfinished one, so it can never be used. */
  CHECK_EQ(unlink(pkit_path(dir, "c.pem")), 0);
  CHECK_EQ(ed_pki_issue(pki, &second, &o), 0);
  CHECK(strcmp(first.serial, second.serial) != 0);
  struct ed_pki_cert_details *d = NULL;
  CHECK_EQ(ed_pki_show(pki, &d, first.serial), 0);
  CHECK(d && d->info.revoked && d->info.reason == ED_PKI_REASON_SUPERSEDED);
  ed_pki_cert_details_free(d);
  X509_CRL *crl = pkit_load_crl(pkit_path(dir, "crl.pem"));
  CHECK(crl && sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)) == 1);
  X509_CRL_free(crl);
  /* Revoke stopped before crl.pem: revoking again finishes it. */
  char *old_crl = pkit_read(pkit_path(dir, "crl.pem"), NULL);
  CHECK_EQ(ed_pki_revoke(pki, NULL, "c", ED_PKI_REASON_UNSPECIFIED), 0);
  write_text(pkit_path(dir, "crl.pem"), old_crl);
  CHECK_EQ(pkit_verify(pkit_path(dir, "ca.pem"), pkit_path(dir, "c.pem"),
                       pkit_path(dir, "crl.pem"), 0),
           0);
  CHECK_EQ(ed_pki_revoke(pki, NULL, "c", ED_PKI_REASON_UNSPECIFIED), 0);
  CHECK_EQ(pkit_verify(pkit_path(dir, "ca.pem"), pkit_path(dir, "c.pem"),
                       pkit_path(dir, "crl.pem"), 0),
           X509_V_ERR_CERT_REVOKED);
  CHECK_EQ(ed_pki_revoke(pki, NULL, "c", ED_PKI_REASON_UNSPECIFIED),
           ED_E_STATE);
  free(old_crl);
  /* Init stopped before index.json: no CA, and a clear message. */
  CHECK_EQ(unlink(pkit_path(dir, "index.json")), 0);
  struct ed_pki *again = NULL;
  CHECK_EQ(ed_pki_open(&again, dir, err, sizeof(err)), ED_E_NOENT);
  CHECK(pkit_contains(err, "interrupted init"));
  struct ed_pki_init_opts force = {.force = 1};
  CHECK_EQ(ed_pki_init(&again, dir, &force, err, sizeof(err)), 0);
  ed_pki_free(again);
  ed_pki_free(pki);
  free(dir);
}

static void test_replace(void) {
  char *dir;
  struct ed_pki *pki = new_ca(&dir);
  struct ed_pki_cert_info a, b;
  struct ed_pki_issue_opts o = {.role = ED_PKI_SERVER, .name = "s"};
  CHECK_EQ(ed_pki_issue(pki, &a, &o), 0);
  o.replace = 1;
  CHECK_EQ(ed_pki_issue(pki, &b, &o), 0);
  const char *ca = pkit_path(dir, "ca.pem"), *crl = pkit_path(dir, "crl.pem");
  CHECK_EQ(pkit_verify(ca, pkit_path(dir, "s.pem"), crl, 0), 0);
  struct ed_pki_cert_details *d = NULL;
  CHECK_EQ(ed_pki_show(pki, &d, "s"), 0);
  CHECK(d && strcmp(d->info.serial, b.serial) == 0 && !d->info.revoked);
  ed_pki_cert_details_free(d);
  CHECK_EQ(ed_pki_show(pki, &d, a.serial), 0);
  CHECK(d && d->info.revoked);
  ed_pki_cert_details_free(d);
  /* After a revoke, the name is free again without --replace. */
  CHECK_EQ(ed_pki_revoke(pki, NULL, "s", ED_PKI_REASON_UNSPECIFIED), 0);
  o.replace = 0;
  CHECK_EQ(ed_pki_issue(pki, NULL, &o), 0);
  ed_pki_free(pki);
  free(dir);
}

/* A leaf never outlives its CA. */
static void test_leaf_clamped_to_ca(void) {
  char *base = pkit_tmpdir("short");
  struct ed_pki_init_opts io = {.days = 30};
  struct ed_pki *pki = NULL;
  CHECK_EQ(ed_pki_init(&pki, base, &io, err, sizeof(err)), 0);
  struct ed_pki_cert_info info;
  struct ed_pki_issue_opts o = {.role = ED_PKI_SERVER, .name = "s"};
  CHECK_EQ(ed_pki_issue(pki, &info, &o), 0);
  struct ed_pki_cert_details *d = NULL;
  CHECK_EQ(ed_pki_show(pki, &d, "ca"), 0);
  CHECK(d && info.not_after == d->info.not_after);
  ed_pki_cert_details_free(d);
  ed_pki_free(pki);
  free(base);
}

static void test_dev_setup(void) {
  char *base = pkit_tmpdir("dev");
  char dir[1100];
  snprintf(dir, sizeof(dir), "%s/state/pki", base);
  struct ed_pki_dev_paths p;
  CHECK_EQ(ed_pki_dev_setup(&p, dir, err, sizeof(err)), 0);
  CHECK_EQ(p.created, ED_PKI_DEV_CREATED_CA | ED_PKI_DEV_CREATED_SERVER |
                          ED_PKI_DEV_CREATED_CLIENT);
  CHECK_STR(p.server_cert, pkit_path(dir, "server.pem"));
  CHECK_STR(p.client_key, pkit_path(dir, "dev-client.key"));
  CHECK_STR(p.ca_cert, pkit_path(dir, "ca.pem"));
  CHECK_EQ(pkit_mode(dir), 0700);
  CHECK_EQ(pkit_mode(p.server_key), 0600);
  CHECK_EQ(
      pkit_verify(p.ca_cert, p.server_cert, p.crl, X509_PURPOSE_SSL_SERVER), 0);
  CHECK_EQ(
      pkit_verify(p.ca_cert, p.client_cert, p.crl, X509_PURPOSE_SSL_CLIENT), 0);
  /* Idempotent: nothing created, nothing changed. */
  char *before = pkit_snapshot(dir);
  CHECK_EQ(ed_pki_dev_setup(&p, dir, err, sizeof(err)), 0);
  CHECK_EQ(p.created, 0);
  char *after = pkit_snapshot(dir);
  CHECK_STR(before, after);
  free(after);
  /* Only what is missing: a certificate with neither record nor file. */
  struct ed_pki *pki = NULL;
  CHECK_EQ(ed_pki_init(NULL, pkit_path(base, "fresh"), NULL, err, sizeof(err)),
           0);
  CHECK_EQ(ed_pki_open(&pki, pkit_path(base, "fresh"), err, sizeof(err)), 0);
  CHECK_EQ(issue(pki, ED_PKI_SERVER, "server"), 0);
  ed_pki_free(pki);
  CHECK_EQ(ed_pki_dev_setup(&p, pkit_path(base, "fresh"), err, sizeof(err)), 0);
  CHECK_EQ(p.created, ED_PKI_DEV_CREATED_CLIENT);
  free(before);
  free(base);
}

/* expect_dev_refusal runs dev setup on |dir| and checks that it fails with
 * |want_rc| and a one-line message holding |w1| and |w2|, and that the
 * directory is byte-identical afterwards. */
static void expect_dev_refusal(const char *dir, int want_rc, const char *w1,
                               const char *w2) {
  struct ed_pki_dev_paths p;
  char *before = pkit_snapshot(dir);
  err[0] = '\0';
  CHECK_EQ(ed_pki_dev_setup(&p, dir, err, sizeof(err)), want_rc);
  CHECK(strstr(err, w1) != NULL);
  CHECK(strstr(err, w2) != NULL);
  CHECK(strchr(err, '\n') == NULL);
  if (!strstr(err, w1) || !strstr(err, w2)) fprintf(stderr, "  %s\n", err);
  char *after = pkit_snapshot(dir);
  CHECK_STR(before, after);
  free(before);
  free(after);
}

/* move_over renames DIR/FROM.pem and .key over DIR/TO.pem and .key, as
 * docs/deploy.md's rotation does. */
static void move_over(const char *dir, const char *from, const char *to) {
  const char *ext[] = {".pem", ".key"};
  for (int i = 0; i < 2; i++) {
    char a[1200], b[1200];
    snprintf(a, sizeof(a), "%s/%s%s", dir, from, ext[i]);
    snprintf(b, sizeof(b), "%s/%s%s", dir, to, ext[i]);
    CHECK_EQ(rename(a, b), 0);
  }
}

/* crl_of reads |dir|/crl.pem: seconds to its nextUpdate, and how many
 * it revokes. */
static void crl_of(const char *dir, long *left, size_t *num_revoked) {
  X509_CRL *crl = pkit_load_crl(pkit_path(dir, "crl.pem"));
  int days = 0, secs = 0;
  *left = -1;
  *num_revoked = 0;
  CHECK(crl != NULL);
  if (!crl) return;
  CHECK(ASN1_TIME_diff(&days, &secs, NULL, X509_CRL_get0_nextUpdate(crl)));
  *left = (long)days * 86400 + secs;
  STACK_OF(X509_REVOKED) *r = X509_CRL_get_REVOKED(crl);
  *num_revoked = r ? sk_X509_REVOKED_num(r) : 0;
  X509_CRL_free(crl);
}

/* A dev CRL with less than half its validity left is re-signed at the
 * next setup, from the index (its revocations kept): a packaged dev
 * server restarted now and then never serves a stale CRL. A fresh one is
 * left alone. */
/* dev_testca makes a dev PKI in a new <tmp>/pki (its path in |dir|) and
 * opens it as a test CA (NULL on failure). */
static struct ed_testca *dev_testca(const char *tag, char **base, char *dir,
                                    size_t dir_len) {
  *base = pkit_tmpdir(tag);
  snprintf(dir, dir_len, "%s/pki", *base);
  struct ed_pki_dev_paths p;
  CHECK_EQ(ed_pki_dev_setup(&p, dir, err, sizeof(err)), 0);
  struct ed_testca *ca = ed_testca_new(dir);
  CHECK(ca != NULL);
  return ca;
}

static void test_dev_setup_renews_crl(void) {
  char *base, dir[1100];
  struct ed_testca *ca = dev_testca("devcrl", &base, dir, sizeof(dir));
  if (!ca) return;
  struct ed_pki_dev_paths p;
  struct ed_pki_cert_info gone;
  CHECK_EQ(issue(ed_testca_pki(ca), ED_PKI_CLIENT, "gone"), 0);
  CHECK_EQ(ed_pki_revoke(ed_testca_pki(ca), &gone, "gone",
                         ED_PKI_REASON_KEY_COMPROMISE),
           0);
  const char *serial = gone.serial;
  /* Two of its seven days left: due. */
  CHECK_EQ(ed_testca_write_crl(ca, pkit_path(dir, "crl.pem"), &serial, 1, 2),
           0);
  ed_testca_free(ca);
  long left;
  size_t revoked;
  crl_of(dir, &left, &revoked);
  CHECK(left > 86400 && left <= 2 * 86400);
  CHECK_EQ(ed_pki_dev_setup(&p, dir, err, sizeof(err)), 0);
  CHECK_EQ(p.created, ED_PKI_DEV_RENEWED_CRL);
  crl_of(dir, &left, &revoked);
  CHECK(left > 6 * 86400 && left <= 7 * 86400);
  CHECK_EQ(revoked, 1);
  CHECK_EQ(ed_pki_dev_setup(&p, dir, err, sizeof(err)), 0);
  CHECK_EQ(p.created, 0);
  free(base);
}

/* test_crl_due: due once less than half the index's CRL days (7) are
 * left, or when crl.pem is unreadable; its nextUpdate is reported. */
static void test_crl_due(void) {
  char *base, dir[1100];
  struct ed_testca *ca = dev_testca("crldue", &base, dir, sizeof(dir));
  if (!ca) return;
  struct ed_pki *pki = ed_testca_pki(ca);
  int64_t now = (int64_t)time(NULL), next = -1;
  CHECK_EQ(ed_pki_crl_due(pki, now, &next), 0);
  CHECK(next > now + 6 * 86400 && next <= now + 7 * 86400 + 60);
  /* 3.5 days on, exactly half is left; a minute later, less. */
  CHECK_EQ(ed_pki_crl_due(pki, next - 7 * 86400 / 2, NULL), 0);
  CHECK_EQ(ed_pki_crl_due(pki, next - 7 * 86400 / 2 + 60, NULL), 1);
  CHECK_EQ(ed_testca_write_crl(ca, pkit_path(dir, "crl.pem"), NULL, 0, 2), 0);
  CHECK_EQ(ed_pki_crl_due(pki, now, NULL), 1);
  CHECK_EQ(ed_pki_crl(pki, 0), 0);
  CHECK_EQ(ed_pki_crl_due(pki, now, NULL), 0);
  /* A CRL of 2 days is due a minute after it was signed (never less than
   * 2 days' margin): the timer re-signs it at every run. */
  CHECK_EQ(ed_pki_crl(pki, 2), 0);
  CHECK_EQ(ed_pki_crl_due(pki, now + 60, NULL), 1);
  CHECK_EQ(ed_pki_crl(pki, 7), 0);
  CHECK_EQ(ed_pki_crl_due(pki, now, NULL), 0);
  FILE *f = fopen(pkit_path(dir, "crl.pem"), "w");
  CHECK(f != NULL);
  if (f) fclose(f);
  CHECK_EQ(ed_pki_crl_due(pki, now, &next), 1);
  CHECK_EQ(next, 0);
  ed_testca_free(ca);
  free(base);
}

/* test_dev_setup_replaces_nothing: what exists and does not match the
 * index is reported, never re-issued, replaced or revoked (issue 13: a
 * certificate renamed over server.pem was re-issued and the operator's
 * certificate marked superseded). */
static void test_dev_setup_replaces_nothing(void) {
  char *base = pkit_tmpdir("devkeep");
  char dir[1100], serial[ED_PKI_SERIAL_MAX + 1];
  snprintf(dir, sizeof(dir), "%s/pki", base);
  struct ed_pki_dev_paths p;
  struct ed_pki_cert_info web;
  CHECK_EQ(ed_pki_dev_setup(&p, dir, err, sizeof(err)), 0);
  struct ed_pki *pki = NULL;
  CHECK_EQ(ed_pki_open(&pki, dir, err, sizeof(err)), 0);
  struct ed_pki_issue_opts o = {.role = ED_PKI_SERVER, .name = "web"};
  CHECK_EQ(ed_pki_issue(pki, &web, &o), 0);
  move_over(dir, "web", "server"); /* the operator's rotation */
  expect_dev_refusal(dir, ED_E_MISMATCH, "server.pem holds serial", web.serial);
  /* Nothing was revoked: the operator's certificate and the recorded one
   * are both live. */
  struct ed_pki_cert_info *list = NULL;
  size_t n = 0;
  CHECK_EQ(ed_pki_list(pki, &list, &n), 0);
  for (size_t i = 0; i < n; i++) CHECK_EQ(list[i].revoked, 0);
  snprintf(serial, sizeof(serial), "%s", n ? list[0].serial : "");
  free(list);
  CHECK(strstr(err, "--replace") != NULL);
  /* The recorded certificate back, its key gone. */
  char rec[1200];
  snprintf(rec, sizeof(rec), "%s/server.key", dir);
  CHECK_EQ(unlink(rec), 0);
  snprintf(rec, sizeof(rec), "%s/server.pem", dir);
  CHECK_EQ(unlink(rec), 0);
  expect_dev_refusal(dir, ED_E_STATE, "server.pem is missing", serial);
  /* Revoked by the operator: not re-issued behind their back. The
   * server's own certificate stops the start; dev-client only warns. */
  CHECK_EQ(ed_pki_revoke(pki, NULL, "server", ED_PKI_REASON_UNSPECIFIED), 0);
  expect_dev_refusal(dir, ED_E_EXPIRED, "\"server\"", "is revoked");
  CHECK(strstr(err, "issue server server") != NULL);
  CHECK(strstr(err, "--replace") == NULL); /* nothing live to replace */
  CHECK_EQ(issue(pki, ED_PKI_SERVER, "server"), 0);
  CHECK_EQ(ed_pki_revoke(pki, NULL, "dev-client", ED_PKI_REASON_UNSPECIFIED),
           0);
  char *before = pkit_snapshot(dir);
  CHECK_EQ(ed_pki_dev_setup(&p, dir, err, sizeof(err)), 0);
  CHECK_EQ(p.created, 0);
  CHECK(strstr(p.warning, "\"dev-client\"") != NULL);
  CHECK(strstr(p.warning, "is revoked") != NULL);
  char *after = pkit_snapshot(dir);
  CHECK_STR(before, after);
  free(before);
  free(after);
  ed_pki_free(pki);
  /* A file the index does not know. */
  snprintf(dir, sizeof(dir), "%s/stray", base);
  CHECK_EQ(ed_pki_init(NULL, dir, NULL, err, sizeof(err)), 0);
  write_text(pkit_path(dir, "dev-client.key"), "mine");
  expect_dev_refusal(dir, ED_E_STATE, "dev-client.key exists",
                     "records no certificate");
  free(base);
}

static void test_dev_setup_foreign_ca(void) {
  char *base = pkit_tmpdir("devforeign");
  struct ed_pki_dev_paths p;
  /* Someone else's CA (no index.json): hands off. */
  char other[1100];
  snprintf(other, sizeof(other), "%s/theirs", base);
  CHECK_EQ(ed_mkdir_p(other, 0700), 0);
  write_text(pkit_path(other, "ca.pem"), "theirs");
  char *theirs = pkit_snapshot(other);
  CHECK_EQ(ed_pki_dev_setup(&p, other, err, sizeof(err)), ED_E_EXIST);
  char *after = pkit_snapshot(other);
  CHECK_STR(theirs, after);
  free(after);
  free(theirs);
  free(base);
}

static void test_default_dir(void) {
  char *base = pkit_tmpdir("state");
  setenv("ECHOD_STATE_DIR", base, 1);
  char dir[ED_PKI_PATH_MAX];
  CHECK_EQ(ed_pki_default_dir(dir, sizeof(dir)), 0);
  CHECK_STR(dir, pkit_path(base, "pki"));
  struct ed_pki *pki = NULL;
  CHECK_EQ(ed_pki_init(&pki, NULL, NULL, err, sizeof(err)), 0);
  CHECK(pki && strcmp(ed_pki_dir(pki), dir) == 0);
  CHECK_EQ(pkit_mode(pkit_path(dir, "ca.key")), 0600);
  ed_pki_free(pki);
  unsetenv("ECHOD_STATE_DIR");
  free(base);
}

static void test_parsers(void) {
  enum ed_pki_key_type t;
  CHECK_EQ(ed_pki_key_type_parse(&t, "rsa3072"), 0);
  CHECK_EQ(t, ED_PKI_KEY_RSA3072);
  CHECK_EQ(ed_pki_key_type_parse(&t, "dsa"), ED_E_INVAL);
  enum ed_pki_reason r;
  CHECK_EQ(ed_pki_reason_parse(&r, "keycompromise"), 0);
  CHECK_EQ(r, ED_PKI_REASON_KEY_COMPROMISE);
  CHECK_EQ(ed_pki_reason_parse(&r, "bored"), ED_E_INVAL);
  CHECK_STR(ed_pki_reason_name(ED_PKI_REASON_PRIVILEGE_WITHDRAWN),
            "privilegeWithdrawn");
  CHECK_EQ(ed_pki_check_name("alice.example_1-b", err, sizeof(err)), 0);
  CHECK_EQ(ed_pki_check_name("a\nb", err, sizeof(err)), ED_E_INVAL);
  CHECK(strchr(err, '\n') == NULL); /* messages stay on one line */
  char t1[32];
  CHECK_STR(ed_pki_time_str(t1, sizeof(t1), 0), "1970-01-01T00:00:00Z");
  struct ed_pki_cert_details *d = NULL;
  CHECK_EQ(ed_pki_describe_pem(&d, "junk", 4, err, sizeof(err)), ED_E_PARSE);
}

int main(void) {
  RUN(test_init);
  RUN(test_issue_server_defaults);
  RUN(test_issue_client_sans);
  RUN(test_key_types);
  RUN(test_revoke_and_crl);
  RUN(test_bad_input_changes_nothing);
  RUN(test_key_permissions);
  RUN(test_corrupt_files);
  RUN(test_interrupted_writes);
  RUN(test_replace);
  RUN(test_leaf_clamped_to_ca);
  RUN(test_dev_setup);
  RUN(test_dev_setup_renews_crl);
  RUN(test_crl_due);
  RUN(test_dev_setup_replaces_nothing);
  RUN(test_dev_setup_foreign_ca);
  RUN(test_default_dir);
  RUN(test_parsers);
  return TEST_RESULT();
}

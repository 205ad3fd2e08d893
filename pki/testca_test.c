/* Unit tests for testca: each kind of bad certificate fails verification
 * for exactly the reason it is meant to, and good ones carry what was
 * asked for. */
#include "pki/testca.h"

#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal/base/base.h"
#include "internal/testing/testing.h"
#include "pki/test_util.h"

static struct ed_testca *ca;
static const char *dir;

static int verify(const char *name, const char *crl, int purpose) {
  char file[128];
  snprintf(file, sizeof(file), "%s.pem", name);
  return pkit_verify(pkit_path(dir, "ca.pem"), pkit_path(dir, file), crl,
                     purpose);
}

static void test_good_client_with_names(void) {
  const char *dns[] = {"alice.test"}, *uris[] = {"spiffe://echod/alice"};
  struct ed_testca_opts o = {.cn = "Alice Example",
                             .dns = dns,
                             .num_dns = 1,
                             .uris = uris,
                             .num_uris = 1};
  struct ed_pki_cert_info info;
  CHECK_EQ(ed_testca_issue(ca, &info, "alice", ED_TESTCA_GOOD, &o), 0);
  CHECK_EQ(verify("alice", NULL, X509_PURPOSE_SSL_CLIENT), 0);
  CHECK_EQ(pkit_mode(pkit_path(dir, "alice.key")), 0600);
  struct ed_pki_cert_details *d = NULL;
  CHECK_EQ(ed_pki_show(ed_testca_pki(ca), &d, "alice"), 0);
  CHECK_STR(d->subject, "CN=Alice Example");
  CHECK(d->num_sans == 2 && strcmp(d->sans[0], "DNS:alice.test") == 0 &&
        strcmp(d->sans[1], "URI:spiffe://echod/alice") == 0);
  CHECK(d->num_ekus == 1 && strcmp(d->ekus[0], "clientAuth") == 0);
  CHECK_STR(d->info.serial, info.serial);
  ed_pki_cert_details_free(d);
}

static void test_good_server(void) {
  const char *ips[] = {"127.0.0.1"};
  struct ed_testca_opts o = {.role = ED_PKI_SERVER, .ips = ips, .num_ips = 1};
  CHECK_EQ(ed_testca_issue(ca, NULL, "srv", ED_TESTCA_GOOD, &o), 0);
  CHECK_EQ(verify("srv", NULL, X509_PURPOSE_SSL_SERVER), 0);
  CHECK_EQ(verify("srv", NULL, X509_PURPOSE_SSL_CLIENT),
           X509_V_ERR_INVALID_PURPOSE);
}

static void test_bad_kinds(void) {
  CHECK_EQ(ed_testca_issue(ca, NULL, "expired", ED_TESTCA_EXPIRED, NULL), 0);
  CHECK_EQ(verify("expired", NULL, X509_PURPOSE_SSL_CLIENT),
           X509_V_ERR_CERT_HAS_EXPIRED);
  CHECK_EQ(ed_testca_issue(ca, NULL, "early", ED_TESTCA_NOT_YET_VALID, NULL),
           0);
  CHECK_EQ(verify("early", NULL, X509_PURPOSE_SSL_CLIENT),
           X509_V_ERR_CERT_NOT_YET_VALID);
  /* A server certificate used as a client's. */
  CHECK_EQ(ed_testca_issue(ca, NULL, "wrongeku", ED_TESTCA_WRONG_EKU, NULL), 0);
  CHECK_EQ(verify("wrongeku", NULL, X509_PURPOSE_SSL_CLIENT),
           X509_V_ERR_INVALID_PURPOSE);
  CHECK_EQ(verify("wrongeku", NULL, X509_PURPOSE_SSL_SERVER), 0);
  struct ed_testca_opts srv = {.role = ED_PKI_SERVER};
  CHECK_EQ(ed_testca_issue(ca, NULL, "clientsrv", ED_TESTCA_WRONG_EKU, &srv),
           0);
  CHECK_EQ(verify("clientsrv", NULL, X509_PURPOSE_SSL_SERVER),
           X509_V_ERR_INVALID_PURPOSE);
  /* Signed by another CA: ours does not know the issuer; the rogue one
   * does. */
  CHECK_EQ(ed_testca_issue(ca, NULL, "rogue", ED_TESTCA_ROGUE_CA, NULL), 0);
  CHECK_EQ(verify("rogue", NULL, X509_PURPOSE_SSL_CLIENT),
           X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
  CHECK_EQ(
      pkit_verify(pkit_path(dir, "rogue/ca.pem"), pkit_path(dir, "rogue.pem"),
                  NULL, X509_PURPOSE_SSL_CLIENT),
      0);
  CHECK_EQ(pkit_mode(pkit_path(dir, "rogue.key")), 0600);
  /* Names are not reused across the two CAs. */
  CHECK_EQ(ed_testca_issue(ca, NULL, "alice", ED_TESTCA_ROGUE_CA, NULL),
           ED_E_EXIST);
  CHECK_EQ(ed_testca_issue(ca, NULL, "bad/name", ED_TESTCA_GOOD, NULL),
           ED_E_INVAL);
  CHECK(strstr(ed_testca_last_error(ca), "invalid name") != NULL);
}

static void test_crls(void) {
  struct ed_pki_cert_info a, b;
  CHECK_EQ(ed_testca_issue(ca, &a, "crl-a", ED_TESTCA_GOOD, NULL), 0);
  CHECK_EQ(ed_testca_issue(ca, &b, "crl-b", ED_TESTCA_GOOD, NULL), 0);
  const char *custom = pkit_path(dir, "custom-crl.pem");
  const char *serials[] = {a.serial};
  CHECK_EQ(ed_testca_write_crl(ca, custom, serials, 1, 0), 0);
  CHECK_EQ(verify("crl-a", custom, 0), X509_V_ERR_CERT_REVOKED);
  CHECK_EQ(verify("crl-b", custom, 0), 0);
  /* The CA's own crl.pem was not touched by that. */
  CHECK_EQ(verify("crl-a", pkit_path(dir, "crl.pem"), 0), 0);
  const char *expired = pkit_path(dir, "expired-crl.pem");
  CHECK_EQ(ed_testca_write_crl(ca, expired, NULL, 0, -1), 0);
  CHECK_EQ(verify("crl-b", expired, 0), X509_V_ERR_CRL_HAS_EXPIRED);
  const char *junk[] = {"xyz"};
  CHECK_EQ(ed_testca_write_crl(ca, custom, junk, 1, 0), ED_E_INVAL);
  /* Revoking through the real CA updates crl.pem. */
  CHECK_EQ(ed_testca_revoke(ca, "crl-b"), 0);
  CHECK_EQ(verify("crl-b", pkit_path(dir, "crl.pem"), 0),
           X509_V_ERR_CERT_REVOKED);
}

static void test_reopen_and_kinds(void) {
  struct ed_testca *again = ed_testca_new(dir); /* opens, does not replace */
  CHECK(again != NULL);
  CHECK_EQ(ed_testca_issue(again, NULL, "later", ED_TESTCA_GOOD, NULL), 0);
  CHECK_EQ(verify("later", NULL, X509_PURPOSE_SSL_CLIENT), 0);
  ed_testca_free(again);
  enum ed_testca_kind k;
  CHECK_EQ(ed_testca_kind_parse(&k, "not-yet-valid"), 0);
  CHECK_EQ(k, ED_TESTCA_NOT_YET_VALID);
  CHECK_EQ(ed_testca_kind_parse(&k, "rogue-ca"), 0);
  CHECK_EQ(k, ED_TESTCA_ROGUE_CA);
  CHECK_EQ(ed_testca_kind_parse(&k, "nice"), ED_E_INVAL);
}

int main(void) {
  char *base = pkit_tmpdir("testca");
  ca = ed_testca_new(base);
  if (!ca) return 1;
  dir = ed_testca_dir(ca);
  RUN(test_good_client_with_names);
  RUN(test_good_server);
  RUN(test_bad_kinds);
  RUN(test_crls);
  RUN(test_reopen_and_kinds);
  ed_testca_free(ca);
  free(base);
  return TEST_RESULT();
}

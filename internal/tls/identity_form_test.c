/* internal/tls — the identity's form in a ticket (tls_identity.c): it
 * round-trips, and a ticket of an earlier form does not open. Version 2
 * tickets were minted before every issuer of the chain was checked
 * (check_issuers), and version 3 ones without each issuer's certificate
 * (a re-issued CA looked like the old one), and version 6 ones while a
 * pathLenConstraint was counted as BoringSSL does (a self-issued leaf
 * not counted, a root's constraint not checked), so one may carry an
 * identity that would now be refused: it must not resume. */
#include <openssl/bytestring.h>
#include <openssl/mem.h>
#include <stdlib.h>
#include <string.h>

#include "internal/base/base.h"
#include "internal/testing/testing.h"
#include "internal/tls/testcerts.h"
#include "internal/tls/tls_internal.h"

/* decodes: |p|'s encoding, its first byte (the version) set to
 * |version|, decodes. */
static int decodes(const struct ed_tls_peer *p, uint8_t version) {
  CBB cbb;
  uint8_t *buf = NULL;
  size_t len = 0;
  CHECK(CBB_init(&cbb, 256) && ed_tls_identity_encode(&cbb, p) &&
        CBB_finish(&cbb, &buf, &len));
  if (!buf) return 0;
  buf[0] = version;
  CBS cbs;
  CBS_init(&cbs, buf, len);
  struct ed_tls_peer *q = ed_tls_identity_decode(&cbs);
  int ok = q != NULL && CBS_len(&cbs) == 0;
  ed_tls_peer_unref(q);
  OPENSSL_free(buf);
  return ok;
}

static void test_version(void) {
  EVP_PKEY *k = tc_key();
  struct tc_opts o = {.cn = "alice", .eku = TC_EKU_CLIENT};
  X509 *x = tc_cert(k, &o);
  uint8_t *der = NULL;
  int n = i2d_X509(x, &der);
  struct ed_tls_peer *p = NULL;
  const char *why = NULL;
  CHECK_EQ(ed_tls_peer_from_der(&p, &why, der, (size_t)n), 0);
  if (p) {
    CHECK(decodes(p, 7));
    CHECK(!decodes(p, 2)); /* before check_issuers: not resumed */
    CHECK(!decodes(p, 3)); /* without the issuers' certificates */
    CHECK(!decodes(p, 4)); /* without who sent each issuer */
    CHECK(!decodes(p, 5)); /* without chains of one marked */
    CHECK(!decodes(p, 6)); /* path lengths counted as BoringSSL does */
    CHECK(!decodes(p, 8));
  }
  ed_tls_peer_unref(p);
  OPENSSL_free(der);
  X509_free(x);
  EVP_PKEY_free(k);
}

int main(void) {
  RUN(test_version);
  return TEST_RESULT();
}

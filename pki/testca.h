/* testca — a CA for tests: good certificates with chosen names, and
 * deliberately bad ones (expired, not yet valid, wrong EKU, signed by a
 * rogue CA) plus CRLs revoking chosen serials. Test-only
 * (//pki:testca, testonly); production code cannot link it.
 *
 * In C:
 *
 *   struct ed_testca *ca = ed_testca_new(dir);      // CA in dir (P-256)
 *   ed_testca_issue(ca, NULL, "alice", ED_TESTCA_GOOD, NULL);
 *   ed_testca_issue(ca, NULL, "old", ED_TESTCA_EXPIRED, NULL);
 *   struct ed_testca_opts o = {.role = ED_PKI_SERVER};
 *   ed_testca_issue(ca, NULL, "srv", ED_TESTCA_GOOD, &o);
 *   ed_testca_revoke(ca, "alice");                  // rewrites dir/crl.pem
 *   ...  dir/ca.pem, dir/crl.pem, dir/alice.pem, dir/alice.key ...
 *   ed_testca_free(ca);
 *
 * Every certificate NAME is written as dir/NAME.pem, dir/NAME.key (0600)
 * and dir/NAME-chain.pem (NAME.pem + its issuer). Certificates from the
 * real CA are recorded in dir/index.json like any other (so `pki list`
 * shows them and they can be revoked); ROGUE_CA ones are signed by a
 * second CA kept in dir/rogue/ (CN "echod rogue CA", its own ca.pem),
 * created on first use. Names follow ed_pki_check_name and must be unused.
 *
 * From a shell or Python, //pki:testca_tool (testonly cc_binary) does the
 * same; it prints the serial of what it issued on stdout, errors on
 * stderr, exit 0/1/2 like pki:
 *
 *   testca_tool --dir D init [--key-type T]
 *   testca_tool --dir D issue NAME [--kind good|expired|not-yet-valid|
 *                                          wrong-eku|rogue-ca]
 *                      [--server] [--cn CN] [--dns N]... [--ip A]...
 *                      [--uri U]... [--email E]... [--key-type T]
 *   testca_tool --dir D revoke NAME             (rewrites D/crl.pem)
 *   testca_tool --dir D crl --out PATH [--serial HEX]... [--days N]
 *
 * `issue` creates the CA in D if there is none. `crl --days N` with N < 0
 * writes a CRL whose nextUpdate is -N days in the past (expired). */
#ifndef ED_TESTCA_H
#define ED_TESTCA_H

#include <stddef.h>

#include "pki/pki.h"

enum ed_testca_kind {
  ED_TESTCA_GOOD = 0,      /* valid now, correct EKU, signed by the CA */
  ED_TESTCA_EXPIRED,       /* notBefore 30 days ago, notAfter 1 day ago */
  ED_TESTCA_NOT_YET_VALID, /* notBefore in 1 day, notAfter in 30 days */
  /* EKU for the other role: a client certificate carrying only serverAuth
   * (a server certificate used as a client), or a server certificate
   * carrying only clientAuth. */
  ED_TESTCA_WRONG_EKU,
  ED_TESTCA_ROGUE_CA, /* valid, but signed by dir/rogue's CA */
};

/* ed_testca_kind_parse reads "good", "expired", "not-yet-valid",
 * "wrong-eku" or "rogue-ca". Returns 0 or ED_E_INVAL. */
int ed_testca_kind_parse(enum ed_testca_kind *out, const char *s);

struct ed_testca_opts {
  enum ed_pki_role role;         /* default ED_PKI_CLIENT */
  const char *cn;                /* default: the name */
  enum ed_pki_key_type key_type; /* default P-256 */
  int days;                      /* GOOD/ROGUE_CA validity; 0: 30 days */
  /* SANs; none by default (not even for servers: pass them). */
  const char *const *dns;
  size_t num_dns;
  const char *const *ips;
  size_t num_ips;
  const char *const *uris;
  size_t num_uris;
  const char *const *emails;
  size_t num_emails;
};

struct ed_testca;

/* ed_testca_new opens the CA in |dir|, or creates one there (P-256, the
 * directory too) if there is none. Returns NULL and prints the reason to
 * stderr on failure. Free with ed_testca_free. */
struct ed_testca *ed_testca_new(const char *dir);

/* ed_testca_new_key_type is ed_testca_new with the key type of a new CA. */
struct ed_testca *ed_testca_new_key_type(const char *dir,
                                         enum ed_pki_key_type key_type);

void ed_testca_free(struct ed_testca *ca);

/* ed_testca_dir returns the directory (borrowed). */
const char *ed_testca_dir(const struct ed_testca *ca);

/* ed_testca_pki returns the underlying CA (borrowed) for the pki.h API. */
struct ed_pki *ed_testca_pki(struct ed_testca *ca);

/* ed_testca_last_error returns the message of the last failure. */
const char *ed_testca_last_error(const struct ed_testca *ca);

/* ed_testca_issue writes certificate |name| of |kind| (see above); |opts|
 * may be NULL (a client certificate). Fills |out_info| if not NULL.
 * Returns 0 or an ED_E_* code. */
int ed_testca_issue(struct ed_testca *ca, struct ed_pki_cert_info *out_info,
                    const char *name, enum ed_testca_kind kind,
                    const struct ed_testca_opts *opts);

/* ed_testca_revoke revokes |name_or_serial| (keyCompromise) in the real CA
 * and rewrites dir/crl.pem. */
int ed_testca_revoke(struct ed_testca *ca, const char *name_or_serial);

/* ed_testca_write_crl writes to |path| a CRL signed by the real CA that
 * revokes |serials| (hex, as ed_pki_cert_info.serial), whatever the index
 * says; the index and dir/crl.pem are untouched. |days| > 0: nextUpdate
 * that many days ahead; |days| < 0: an expired CRL (nextUpdate -days days
 * ago); 0: 7 days. */
int ed_testca_write_crl(struct ed_testca *ca, const char *path,
                        const char *const *serials, size_t num_serials,
                        int days);

#endif /* ED_TESTCA_H */

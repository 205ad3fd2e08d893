/* pki — echod's certificate authority as a library, on BoringSSL only.
 *
 * A CA lives in one directory (default: <state dir>/pki, see
 * ed_pki_default_dir), mode 0700:
 *
 *   ca.pem, ca.key      the CA certificate and its private key (0600)
 *   crl.pem             the current CRL, signed by the CA
 *   index.json          every certificate the CA signed (name, role, serial,
 *                       validity, revocation, the certificate itself)
 *   NAME.pem, NAME.key  an issued certificate and its key (0600)
 *   NAME-chain.pem      NAME.pem followed by ca.pem
 *   .lock               taken (flock) by every command that writes
 *
 * index.json is the commit point of every change and is always written
 * atomically (temporary file + rename). Write orders:
 *   init:   ca.key, ca.pem, crl.pem, then index.json. The CA exists once
 *           index.json does; --force first removes index.json.
 *   issue:  index.json (so every signed certificate is recorded and can be
 *           revoked), then NAME.key, NAME-chain.pem and NAME.pem last. An
 *           index entry whose NAME.pem is missing or holds another serial is
 *           "incomplete" (an interrupted issue); issuing NAME again revokes
 *           it as superseded and carries on.
 *   revoke: index.json (revoked, next CRL number), then crl.pem. A crl.pem
 *           older than the index (interrupted revoke) is rewritten by the
 *           next revoke or crl.
 * crl.pem is derived from index.json; `crl` rewrites it.
 *
 * Certificates: random 128-bit positive serials (32 hex digits); notBefore
 * is backdated 5 minutes for clock skew. CA: basicConstraints CA:TRUE and
 * keyUsage keyCertSign+cRLSign (both critical), SKID, default 3650 days.
 * Leaves: CN=NAME, basicConstraints CA:FALSE and keyUsage digitalSignature
 * (critical), EKU serverAuth (server) or clientAuth (client), SANs, SKID,
 * AKID; default 825 days (server; the most browsers accept) or 365 days
 * (client). CRLs: v2, CRL number, AKID, reason codes, nextUpdate 7 days
 * after thisUpdate by default.
 *
 * Errors: functions return 0 or a negative ED_E_* code (internal/base).
 * ED_E_INVAL means the caller's input was bad (a usage error for a CLI);
 * every other code is a failure. Functions on a struct ed_pki leave a
 * one-line message in ed_pki_last_error(); the others take |err|, a buffer
 * of |err_len| bytes (ED_PKI_ERR_LEN is enough), which may be NULL. A
 * failed call changes nothing on disk, except for I/O errors in the middle
 * of a write sequence above (which the next command copes with).
 *
 * Thread safety: a struct ed_pki is used by one thread at a time; several
 * processes may use one CA directory at once (writes are serialised with
 * flock). */
#ifndef ED_PKI_H
#define ED_PKI_H

#include <stddef.h>
#include <stdint.h>

#define ED_PKI_ERR_LEN 2560  /* room for two paths */
#define ED_PKI_NAME_MAX 64   /* longest certificate name */
#define ED_PKI_SERIAL_MAX 64 /* longest serial, in hex digits */
#define ED_PKI_PATH_MAX 1024 /* longest path this library builds */
#define ED_PKI_CA_DAYS 3650  /* default validity of a new CA */
#define ED_PKI_SERVER_DAYS 825
#define ED_PKI_CLIENT_DAYS 365
#define ED_PKI_CRL_DAYS 7     /* default CRL nextUpdate - thisUpdate */
#define ED_PKI_MAX_DAYS 36500 /* longest validity accepted */

enum ed_pki_key_type {
  ED_PKI_KEY_P256 = 0, /* ECDSA P-256, the default */
  ED_PKI_KEY_P384,
  ED_PKI_KEY_RSA2048,
  ED_PKI_KEY_RSA3072,
  ED_PKI_KEY_RSA4096,
  ED_PKI_KEY_ED25519,
};

/* ed_pki_key_type_parse sets |*out| from "p256", "p384", "rsa2048",
 * "rsa3072", "rsa4096" or "ed25519". Returns 0 or ED_E_INVAL. */
int ed_pki_key_type_parse(enum ed_pki_key_type *out, const char *s);
/* ed_pki_key_type_name returns the name parsed above (static string). */
const char *ed_pki_key_type_name(enum ed_pki_key_type t);

enum ed_pki_role {
  ED_PKI_CLIENT = 0, /* EKU clientAuth */
  ED_PKI_SERVER = 1, /* EKU serverAuth */
  ED_PKI_CA = 2,     /* the CA itself (ed_pki_show "ca") */
};

/* ed_pki_role_name returns "client", "server" or "ca". */
const char *ed_pki_role_name(enum ed_pki_role role);

/* Revocation reasons (RFC 5280 CRLReason values). */
enum ed_pki_reason {
  ED_PKI_REASON_UNSPECIFIED = 0,
  ED_PKI_REASON_KEY_COMPROMISE = 1,
  ED_PKI_REASON_CA_COMPROMISE = 2,
  ED_PKI_REASON_AFFILIATION_CHANGED = 3,
  ED_PKI_REASON_SUPERSEDED = 4,
  ED_PKI_REASON_CESSATION_OF_OPERATION = 5,
  ED_PKI_REASON_PRIVILEGE_WITHDRAWN = 9,
};

/* ed_pki_reason_parse sets |*out| from an RFC 5280 name ("keyCompromise",
 * "superseded", ...; case-insensitive). Returns 0 or ED_E_INVAL. */
int ed_pki_reason_parse(enum ed_pki_reason *out, const char *s);
/* ed_pki_reason_name returns the RFC 5280 name ("keyCompromise"). */
const char *ed_pki_reason_name(enum ed_pki_reason reason);

/* ed_pki_default_dir writes <state dir>/pki (ed_state_dir) into |out|.
 * Returns 0 or ED_E_TOOBIG. */
int ed_pki_default_dir(char *out, size_t out_len);

/* ed_pki_check_name returns 0 if |name| may name a certificate: 1 to
 * ED_PKI_NAME_MAX characters from [A-Za-z0-9._-], not starting with '.',
 * not "ca", "crl" or "index" and not ending in "-chain" (names become file
 * names). Otherwise ED_E_INVAL with the reason in |err|. */
int ed_pki_check_name(const char *name, char *err, size_t err_len);

/* ed_pki_check_key_file checks that the private key file |path| is a
 * regular file that group and others can neither read nor write. Returns
 * 0; ED_E_INSECURE with a message that names the file, its mode and the
 * fix ("chmod 600 PATH"); ED_E_NOENT; or ED_E_IO. The server calls it for
 * its own key too. */
int ed_pki_check_key_file(const char *path, char *err, size_t err_len);

/* ed_pki_time_str writes |t| (Unix seconds) as "2026-11-26T12:00:00Z". */
char *ed_pki_time_str(char *out, size_t out_len, int64_t t);

/* ---- the CA -------------------------------------------------------------- */

struct ed_pki;

/* A certificate as the index records it. */
struct ed_pki_cert_info {
  char name[ED_PKI_NAME_MAX + 1]; /* "" for a certificate not in the index */
  enum ed_pki_role role;
  char serial[ED_PKI_SERIAL_MAX + 1]; /* uppercase hex, as openssl prints */
  int64_t not_before;                 /* Unix seconds */
  int64_t not_after;
  char key_type[16];  /* "p256", ..., or e.g. "rsa1024" for foreign certs */
  char sha256[65];    /* lowercase hex SHA-256 of the DER certificate */
  int revoked;        /* 1 once revoked */
  int64_t revoked_at; /* Unix seconds, when revoked */
  enum ed_pki_reason reason;
};

struct ed_pki_init_opts {
  const char *cn;                /* NULL: "echod dev CA"; 1-64 characters,
                                  * printable or UTF-8, no control ones */
  enum ed_pki_key_type key_type; /* default P-256 */
  int days;                      /* 0: ED_PKI_CA_DAYS */
  int crl_days;                  /* 0: ED_PKI_CRL_DAYS */
  int force;                     /* replace an existing CA */
};

/* ed_pki_init creates a CA in |dir| (NULL: ed_pki_default_dir), creating
 * the directory (0700) if needed and writing ca.key, ca.pem, an empty
 * crl.pem and index.json. |opts| may be NULL for all defaults. Refuses with
 * ED_E_EXIST if ca.pem, ca.key or index.json is already there, unless
 * opts->force: then the old CA and its index are replaced (files of
 * certificates it issued stay until reissued). On success, if |out_pki| is
 * not NULL, sets it to the opened CA (caller frees with ed_pki_free). */
int ed_pki_init(struct ed_pki **out_pki, const char *dir,
                const struct ed_pki_init_opts *opts, char *err, size_t err_len);

/* ed_pki_open opens the CA in |dir| (NULL: ed_pki_default_dir): reads and
 * checks ca.pem and index.json (not the key; signing operations read it
 * and check its mode). On success sets |*out_pki| (caller frees with
 * ed_pki_free). Errors: ED_E_NOENT (no CA there), ED_E_PARSE (corrupt
 * file), ED_E_PERM, ED_E_IO. */
int ed_pki_open(struct ed_pki **out_pki, const char *dir, char *err,
                size_t err_len);

/* ed_pki_free frees |pki|; NULL is fine. */
void ed_pki_free(struct ed_pki *pki);

/* ed_pki_last_error returns the message of the last failed call on |pki|
 * ("" if none). Valid until the next call on |pki|. */
const char *ed_pki_last_error(const struct ed_pki *pki);

/* ed_pki_dir returns the CA's directory (borrowed from |pki|). */
const char *ed_pki_dir(const struct ed_pki *pki);

struct ed_pki_issue_opts {
  enum ed_pki_role role;         /* ED_PKI_SERVER or ED_PKI_CLIENT */
  const char *name;              /* file name; ed_pki_check_name */
  const char *cn;                /* the CN; NULL: |name|. 1-64 characters,
                                  * printable or UTF-8, no control ones */
  enum ed_pki_key_type key_type; /* default P-256 */
  int days;                      /* 0: the role's default */
  /* Subject alternative names. A server certificate with no DNS name and
   * no IP gets localhost, 127.0.0.1, ::1 and the host name. */
  const char *const *dns; /* "example.com", "*.example.com" */
  size_t num_dns;
  const char *const *ips; /* "127.0.0.1", "::1" */
  size_t num_ips;
  /* URIs and emails: printable ASCII (commas, quotes and spaces too),
   * kept byte for byte; no control characters, no NUL. */
  const char *const *uris; /* "spiffe://echod/alice" */
  size_t num_uris;
  const char *const *emails; /* "alice@example.com" */
  size_t num_emails;
  /* A live certificate with the same name is refused (ED_E_EXIST) unless
   * |replace|: then it is revoked as superseded and crl.pem rewritten. */
  int replace;
};

/* ed_pki_issue signs a new certificate and writes NAME.key, NAME.pem and
 * NAME-chain.pem in the CA's directory. On success fills |out_info| if not
 * NULL. Errors: ED_E_INVAL (bad name, SAN, days), ED_E_EXIST (live
 * certificate with that name), ED_E_INSECURE (ca.key mode), ED_E_PARSE,
 * ED_E_MISMATCH (ca.key does not match ca.pem), ED_E_IO. */
int ed_pki_issue(struct ed_pki *pki, struct ed_pki_cert_info *out_info,
                 const struct ed_pki_issue_opts *opts);

/* ed_pki_revoke revokes the live certificate named |name_or_serial| (or,
 * failing that, the one with that serial, hex, colons allowed) and
 * rewrites crl.pem. Fills |out_info| if not NULL. Errors: ED_E_NOTFOUND,
 * ED_E_STATE (already revoked), and those of signing. */
int ed_pki_revoke(struct ed_pki *pki, struct ed_pki_cert_info *out_info,
                  const char *name_or_serial, enum ed_pki_reason reason);

/* ed_pki_crl rewrites crl.pem with the next CRL number, thisUpdate now
 * and nextUpdate |days| later (0: the last value used, ED_PKI_CRL_DAYS at
 * first). */
int ed_pki_crl(struct ed_pki *pki, int days);

/* ed_pki_crl_due returns 1 when crl.pem should be re-signed: it is
 * missing or unreadable, or less than half its validity (the index's CRL
 * days), or less than 2 days, is left at |now| (Unix time); else 0. Sets
 * |*out_next_update| to its nextUpdate (0 when unreadable) if not NULL. */
int ed_pki_crl_due(struct ed_pki *pki, int64_t now, int64_t *out_next_update);

/* ed_pki_list sets |*out_infos| to a new array (caller frees with free())
 * of every certificate in the index, in issue order, and |*out_num|. */
int ed_pki_list(struct ed_pki *pki, struct ed_pki_cert_info **out_infos,
                size_t *out_num);

/* What `show` prints. */
struct ed_pki_cert_details {
  struct ed_pki_cert_info info;
  char *cn;          /* the subject's CN, exactly (UTF-8); NULL if none */
  char subject[256]; /* RFC 2253, "CN=alice" (a comma in a value: "\,") */
  char issuer[256];
  char **sans; /* "DNS:localhost", "IP:127.0.0.1", "URI:...", "email:..." */
  size_t num_sans;
  char **ekus; /* "serverAuth", "clientAuth", or a dotted OID */
  size_t num_ekus;
  int is_ca;
};

void ed_pki_cert_details_free(struct ed_pki_cert_details *d);

/* ed_pki_show describes the certificate |name_or_serial| from the index
 * (the live one if a name has several), or the CA for "ca". On success sets
 * |*out| (caller frees with ed_pki_cert_details_free). ED_E_NOTFOUND if
 * there is none. */
int ed_pki_show(struct ed_pki *pki, struct ed_pki_cert_details **out,
                const char *name_or_serial);

/* ed_pki_describe_pem describes the first certificate in the PEM text
 * |pem| (|pem_len| bytes); info.name is "" and info.role is derived from
 * the certificate. Sets |*out| as ed_pki_show does. ED_E_PARSE if there is
 * no certificate. */
int ed_pki_describe_pem(struct ed_pki_cert_details **out, const char *pem,
                        size_t pem_len, char *err, size_t err_len);

/* ed_pki_list_json and ed_pki_details_json render what list and show print
 * with --json. Return a new NUL-terminated string (caller frees). */
char *ed_pki_list_json(const struct ed_pki_cert_info *infos, size_t num);
char *ed_pki_details_json(const struct ed_pki_cert_details *d);

/* ---- zero-config first run ----------------------------------------------- */

#define ED_PKI_DEV_SERVER_NAME "server"
#define ED_PKI_DEV_CLIENT_NAME "dev-client"

enum {
  ED_PKI_DEV_CREATED_CA = 1,
  ED_PKI_DEV_CREATED_SERVER = 2,
  ED_PKI_DEV_CREATED_CLIENT = 4,
  /* crl.pem re-signed: it was past half its validity (crl_days) */
  ED_PKI_DEV_RENEWED_CRL = 8,
};

struct ed_pki_dev_paths {
  char dir[ED_PKI_PATH_MAX];
  char ca_cert[ED_PKI_PATH_MAX]; /* DIR/ca.pem */
  char crl[ED_PKI_PATH_MAX];     /* DIR/crl.pem */
  char server_cert[ED_PKI_PATH_MAX];
  char server_key[ED_PKI_PATH_MAX];
  char server_chain[ED_PKI_PATH_MAX];
  char client_cert[ED_PKI_PATH_MAX];
  char client_key[ED_PKI_PATH_MAX];
  char client_chain[ED_PKI_PATH_MAX];
  unsigned created; /* ED_PKI_DEV_CREATED_* bits; 0 when all was there */
  /* One line when dev-client is revoked or expired (left alone: the
   * server starts; clients presenting it are refused), else "". */
  char warning[ED_PKI_ERR_LEN];
};

/* ed_pki_dev_setup makes sure |dir| (NULL: ed_pki_default_dir) holds a CA,
 * a server certificate "server" (default SANs) and a client certificate
 * "dev-client", creating only what is missing: a certificate of which
 * there is neither a record in index.json nor a file. It never replaces,
 * re-issues or revokes anything that exists: when what is there does not
 * match the records (NAME.pem holds another serial, a key is missing or
 * does not match, a file without a record), or "server" is revoked or
 * expired, it changes nothing and fails with one line in |err| naming the
 * file, what differs and the command that fixes it (ED_E_MISMATCH,
 * ED_E_STATE or ED_E_EXPIRED); a revoked or expired dev-client only sets
 * out_paths->warning. One thing it renews: crl.pem, re-signed from the
 * index (the same revocations, the next CRL number) once less than half
 * its validity is left, so a dev server restarted now and then never
 * serves a CRL past its nextUpdate. Idempotent. Fills
 * |out_paths| (may be NULL) with the file paths and what it created.
 * Refuses (ED_E_EXIST) to touch a directory holding ca.pem or ca.key but no
 * index.json, since that is someone else's CA. */
int ed_pki_dev_setup(struct ed_pki_dev_paths *out_paths, const char *dir,
                     char *err, size_t err_len);

#endif /* ED_PKI_H */

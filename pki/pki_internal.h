/* pki internals shared by the pki/ sources and the test-only testca library.
 * Not a public API: nothing outside pki/ includes this. Names are ed_pki__*. */
#ifndef ED_PKI_INTERNAL_H
#define ED_PKI_INTERNAL_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdarg.h>

#include "pki/pki.h"

/* notBefore and CRL thisUpdate are this far in the past, for clock skew. */
#define ED_PKI__BACKDATE_S 300
#define ED_PKI__MAX_FILE (16u << 20) /* largest CA file read */

/* ed_pki__fmt_err writes a message to |err| (if not NULL), clears the
 * BoringSSL error queue and returns |code|. */
int ed_pki__fmt_err(char *err, size_t err_len, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- x509.c: keys, certificates, CRLs ------------------------------------ */

struct ed_pki__sans {
  const char *const *dns;
  size_t num_dns;
  const char *const *ips;
  size_t num_ips;
  const char *const *uris;
  size_t num_uris;
  const char *const *emails;
  size_t num_emails;
};

enum { ED_PKI__EKU_SERVER = 1, ED_PKI__EKU_CLIENT = 2 };

struct ed_pki__cert_spec {
  int is_ca;
  const char *cn;
  struct ed_pki__sans sans; /* validated already */
  int64_t not_before;       /* Unix seconds */
  int64_t not_after;
  unsigned eku; /* ED_PKI__EKU_* bits; 0 for none */
};

/* ed_pki__keygen generates a key. Returns NULL on failure. */
EVP_PKEY *ed_pki__keygen(enum ed_pki_key_type t);

/* ed_pki__make_cert builds and signs a certificate for |key| with a fresh
 * random serial. |issuer| NULL means self-signed by |key|; otherwise it is
 * signed by |issuer_key|. Returns a new X509 or NULL. */
X509 *ed_pki__make_cert(const struct ed_pki__cert_spec *spec, EVP_PKEY *key,
                        X509 *issuer, EVP_PKEY *issuer_key);

struct ed_pki__revoked {
  const char *serial; /* hex */
  int64_t revoked_at;
  enum ed_pki_reason reason;
};

/* ed_pki__make_crl builds and signs a v2 CRL. Returns NULL on failure. */
X509_CRL *ed_pki__make_crl(X509 *ca, EVP_PKEY *ca_key,
                           const struct ed_pki__revoked *revoked, size_t num,
                           int64_t number, int64_t this_update,
                           int64_t next_update);

/* PEM encoders return a new NUL-terminated string (caller frees) and its
 * length in |*out_len|, or NULL. Keys are unencrypted PKCS#8. */
char *ed_pki__pem_cert(X509 *x, size_t *out_len);
char *ed_pki__pem_key(EVP_PKEY *key, size_t *out_len);
char *ed_pki__pem_crl(X509_CRL *crl, size_t *out_len);

/* PEM decoders read the first object of their type; NULL if none. */
X509 *ed_pki__parse_cert(const char *pem, size_t len);
EVP_PKEY *ed_pki__parse_key(const char *pem, size_t len);
X509_CRL *ed_pki__parse_crl(const char *pem, size_t len);

/* ed_pki__load_crl reads and parses |pki|'s crl.pem; NULL when missing or
 * unreadable (the error queue cleared). Caller frees. */
X509_CRL *ed_pki__load_crl(struct ed_pki *pki);
/* ed_pki__crl_number returns |crl|'s CRL number, or -1. */
int64_t ed_pki__crl_number(const X509_CRL *crl);
/* ed_pki__crl_next_update sets |*out| to |crl|'s nextUpdate (Unix time);
 * returns 1, or 0 when it has none. */
int ed_pki__crl_next_update(int64_t *out, const X509_CRL *crl);

/* ed_pki__fill_info fills the certificate fields of |out| from |x| (not
 * name or revocation). Returns 0 or ED_E_PARSE. */
int ed_pki__fill_info(struct ed_pki_cert_info *out, X509 *x);

/* ed_pki__fill_details fills |d| (zeroed by the caller) from |x|. */
int ed_pki__fill_details(struct ed_pki_cert_details *d, X509 *x);

/* ed_pki__serial_eq compares two hex serials, ignoring case, colons, a
 * leading "0x" and leading zeros. */
int ed_pki__serial_eq(const char *a, const char *b);

/* ed_pki__serial_ok returns 1 if |s| is a hex serial ed_pki__serial_eq
 * accepts (at most ED_PKI_SERIAL_MAX digits). */
int ed_pki__serial_ok(const char *s);

/* ed_pki__check_text checks |s| as the |what| ("URI", "common name") of a
 * certificate: 1 to |max_chars| characters, no control character (C0,
 * DEL, C1), printable ASCII only unless |utf8_ok| (then well-formed UTF-8
 * too). Returns 0, or ED_E_INVAL with one line in |err| that shows the
 * value with \xNN escapes and where the bad byte is. */
int ed_pki__check_text(const char *what, const char *s, int utf8_ok,
                       size_t max_chars, char *err, size_t err_len);

/* ed_pki__check_sans validates |sans|: ed_pki__check_text (ASCII), then
 * the form of each kind. Returns 0 or ED_E_INVAL + |err|. */
int ed_pki__check_sans(const struct ed_pki__sans *sans, char *err,
                       size_t err_len);

/* ---- index.c: index.json ------------------------------------------------- */

struct ed_pki__entry {
  struct ed_pki_cert_info info;
  char *pem; /* the certificate, owned */
};

struct ed_pki__index {
  int64_t crl_number; /* number of the newest CRL */
  int crl_days;
  struct ed_pki__entry *entries; /* in issue order */
  size_t num_entries;
};

/* ed_pki__index_parse parses index.json text into |out| (zeroed first).
 * Returns 0 or ED_E_PARSE with the reason in |err|. */
int ed_pki__index_parse(struct ed_pki__index *out, const char *json, char *err,
                        size_t err_len);

/* ed_pki__index_render returns index.json text (caller frees). */
char *ed_pki__index_render(const struct ed_pki__index *idx);

void ed_pki__index_cleanup(struct ed_pki__index *idx);

/* ed_pki__index_append adds a zeroed entry and returns it (valid until the
 * next append). */
struct ed_pki__entry *ed_pki__index_append(struct ed_pki__index *idx);

/* ed_pki__time_parse parses what ed_pki_time_str writes. Returns 0 or
 * ED_E_PARSE. */
int ed_pki__time_parse(int64_t *out, const char *s);

/* ---- pki.c: the CA object and what issue.c and testca share ------------- */

/* The CA object (opaque in pki.h). */
struct ed_pki {
  char dir[ED_PKI_PATH_MAX];
  X509 *ca;
  char *ca_pem; /* ca.pem as read, for chain files */
  struct ed_pki__index idx;
  EVP_PKEY *key; /* the CA key, loaded only while writing */
  int lock_fd;   /* -1 unless writing */
  char err[ED_PKI_ERR_LEN];
};

/* ed_pki__path joins |dir| and |file| into |out| (ED_PKI_PATH_MAX bytes).
 * Returns 0 or ED_E_TOOBIG. */
int ed_pki__path(char *out, const char *dir, const char *file);

/* ed_pki__resolve_dir copies |dir| (NULL or "": the default), made
 * absolute (ed_path_resolve), to |out| (ED_PKI_PATH_MAX bytes), leaving
 * room for file names. */
int ed_pki__resolve_dir(char *out, const char *dir, char *err, size_t err_len);

/* ed_pki__cmd writes the echo-pki command that runs |args| on the CA in
 * |dir|, the way this process was started (internal/version/tool.h):
 * "echo-pki init", "bazel run //cmd:pki -- --dir DIR init" (--dir only
 * when |dir| is not the default). Returns |out|. */
char *ed_pki__cmd(char *out, size_t out_len, const char *dir, const char *args);

/* ed_pki__exists returns 1 if DIR/FILE exists (as anything). */
int ed_pki__exists(const char *dir, const char *file);

/* ed_pki__read reads DIR/FILE (NUL-terminated, caller frees);
 * ed_pki__write writes it atomically with |mode|. On failure both return
 * the ED_E_* code with a message naming the file in |err|. */
int ed_pki__read(char **out, size_t *out_len, const char *dir, const char *file,
                 char *err, size_t err_len);
int ed_pki__write(const char *dir, const char *file, const char *data,
                  size_t len, unsigned mode, char *err, size_t err_len);

/* ed_pki__lock takes an exclusive flock on DIR/.lock (creating it); close
 * the returned fd to release it. */
int ed_pki__lock(const char *dir, int *out_fd, char *err, size_t err_len);

/* ed_pki__load_state (re)reads index.json and ca.pem into |pki|. */
int ed_pki__load_state(struct ed_pki *pki);

/* ed_pki__begin_write locks the directory, re-reads the state and loads
 * the CA key (checking its mode); ed_pki__end_write releases both. */
int ed_pki__begin_write(struct ed_pki *pki);
void ed_pki__end_write(struct ed_pki *pki);

/* ed_pki__write_index writes index.json; ed_pki__write_crl signs and
 * writes crl.pem from the index (its CRL number and crl_days). Both need
 * ed_pki__begin_write. */
int ed_pki__write_index(struct ed_pki *pki);
int ed_pki__write_crl(struct ed_pki *pki);

/* ed_pki__crl_pem signs a CRL of the revoked entries of |idx| and returns
 * its PEM (caller frees), or NULL. */
char *ed_pki__crl_pem(X509 *ca, EVP_PKEY *key, const struct ed_pki__index *idx,
                      size_t *out_len);

/* ed_pki__find_name returns the index of the newest entry named |name|,
 * preferring a live one, or -1. ed_pki__find_serial finds by serial. */
long ed_pki__find_name(const struct ed_pki__index *idx, const char *name);
long ed_pki__find_serial(const struct ed_pki__index *idx, const char *serial);

/* ed_pki__entry_complete returns 1 if NAME.pem holds |e|'s certificate. */
int ed_pki__entry_complete(struct ed_pki *pki, const struct ed_pki__entry *e);

void ed_pki__mark_revoked(struct ed_pki__entry *e, enum ed_pki_reason reason);

/* ---- issue.c: hooks for testca ------------------------------------------- */

/* A leaf certificate with every knob, for ed_pki_issue and testca. */
struct ed_pki__leaf {
  enum ed_pki_role role;
  const char *name;
  const char *cn; /* NULL: name */
  enum ed_pki_key_type key_type;
  struct ed_pki__sans sans;
  int64_t not_before; /* Unix seconds */
  int64_t not_after;
  unsigned eku; /* ED_PKI__EKU_* */
  int replace;
  /* if_missing: when a live certificate NAME is recorded (decided under
   * the lock), touch nothing: ED_E_EXIST if it is unexpired and its files
   * complete, else ED_E_STATE. */
  int if_missing;
};

/* ed_pki__issue_leaf issues |leaf| as ed_pki_issue does, without applying
 * defaults or checking that the validity is sane. */
int ed_pki__issue_leaf(struct ed_pki *pki, struct ed_pki_cert_info *out_info,
                       const struct ed_pki__leaf *leaf);

/* ed_pki__write_crl_file writes to |path| a CRL signed by the CA listing
 * |serials| (hex), with the given times. The index is not touched. */
int ed_pki__write_crl_file(struct ed_pki *pki, const char *path,
                           const char *const *serials, size_t num,
                           int64_t this_update, int64_t next_update);

/* ed_pki__seterr sets ed_pki_last_error and returns |code|. */
int ed_pki__seterr(struct ed_pki *pki, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* ED_PKI_INTERNAL_H */

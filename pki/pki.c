/* pki — the CA: open, init, issue, revoke, crl, list, show. See pki.h for
 * the directory layout and the write orders that keep it crash-safe. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/mem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal/base/base.h"
#include "internal/version/tool.h"
#include "pki/pki_internal.h"

/* ---- errors and paths ---------------------------------------------------- */

static void vfmt(char *err, size_t err_len, const char *fmt, va_list ap) {
  if (!err || err_len == 0) return;
  vsnprintf(err, err_len, fmt, ap);
  /* One line, whatever the input held. */
  for (char *p = err; *p; p++) {
    if ((unsigned char)*p < ' ' || *p == 0x7f) *p = '?';
  }
}

int ed_pki__fmt_err(char *err, size_t err_len, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfmt(err, err_len, fmt, ap);
  va_end(ap);
  ERR_clear_error();
  return code;
}

int ed_pki__seterr(struct ed_pki *pki, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfmt(pki->err, sizeof(pki->err), fmt, ap);
  va_end(ap);
  ERR_clear_error();
  return code;
}

const char *ed_pki_last_error(const struct ed_pki *pki) {
  return pki->err;
}

const char *ed_pki_dir(const struct ed_pki *pki) {
  return pki->dir;
}

int ed_pki__path(char *out, const char *dir, const char *file) {
  int n = snprintf(out, ED_PKI_PATH_MAX, "%s/%s", dir, file);
  return (n < 0 || n >= ED_PKI_PATH_MAX) ? ED_E_TOOBIG : 0;
}

int ed_pki__resolve_dir(char *out, const char *dir, char *err, size_t err_len) {
  int n = 0;
  if (dir && *dir) {
    /* Relative to where the command ran: under `bazel run` the user's
     * directory, never Bazel's runfiles tree. */
    char *abs = ed_path_resolve(NULL, dir);
    n = snprintf(out, ED_PKI_PATH_MAX, "%s", abs);
    free(abs);
  } else if (ed_pki_default_dir(out, ED_PKI_PATH_MAX) != 0) {
    n = -1;
  }
  /* Leave room for "/NAME-chain.pem" and a temporary-file suffix. */
  if (n < 0 || (size_t)n + ED_PKI_NAME_MAX + 32 >= ED_PKI_PATH_MAX)
    return ed_pki__fmt_err(err, err_len, ED_E_TOOBIG, "CA directory too long");
  return 0;
}

char *ed_pki__cmd(char *out, size_t out_len, const char *dir,
                  const char *args) {
  char tool[64], dflt[ED_PKI_PATH_MAX];
  ed_tool_cmd(tool, sizeof(tool), ED_TOOL_PKI, 1);
  int other = dir && (ed_pki_default_dir(dflt, sizeof(dflt)) != 0 ||
                      strcmp(dflt, dir) != 0);
  snprintf(out, out_len, "%s%s%s %s", tool, other ? " --dir " : "",
           other ? dir : "", args);
  return out;
}

int ed_pki_default_dir(char *out, size_t out_len) {
  char state[ED_PKI_PATH_MAX];
  int rc = ed_state_dir(state, sizeof(state));
  if (rc) return rc;
  int n = snprintf(out, out_len, "%s/pki", state);
  return (n < 0 || (size_t)n >= out_len) ? ED_E_TOOBIG : 0;
}

int ed_pki__exists(const char *dir, const char *file) {
  char p[ED_PKI_PATH_MAX];
  struct stat st;
  return ed_pki__path(p, dir, file) == 0 && lstat(p, &st) == 0;
}

int ed_pki__read(char **out, size_t *out_len, const char *dir, const char *file,
                 char *err, size_t err_len) {
  char p[ED_PKI_PATH_MAX];
  uint8_t *data = NULL;
  size_t len = 0;
  int rc = ed_pki__path(p, dir, file);
  if (!rc) rc = ed_read_file(&data, &len, p, ED_PKI__MAX_FILE);
  if (rc) {
    return ed_pki__fmt_err(err, err_len, rc, "cannot read %s: %s", p,
                           ed_strerror(rc));
  }
  *out = (char *)data;
  if (out_len) *out_len = len;
  return 0;
}

int ed_pki__write(const char *dir, const char *file, const char *data,
                  size_t len, unsigned mode, char *err, size_t err_len) {
  char p[ED_PKI_PATH_MAX];
  int rc = ed_pki__path(p, dir, file);
  if (!rc) rc = ed_write_file_atomic(p, data, len, mode);
  if (rc) {
    return ed_pki__fmt_err(err, err_len, rc, "cannot write %s: %s", p,
                           ed_strerror(rc));
  }
  return 0;
}

/* ---- names, enums, key files --------------------------------------------- */

int ed_pki_check_name(const char *name, char *err, size_t err_len) {
  size_t n = name ? strlen(name) : 0;
  int ok = n > 0 && n <= ED_PKI_NAME_MAX && name[0] != '.';
  for (size_t i = 0; ok && i < n; i++) {
    char c = name[i];
    ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
  }
  if (!ok) {
    return ed_pki__fmt_err(err, err_len, ED_E_INVAL,
                           "invalid name \"%s\": use 1-%d letters, digits, "
                           "'.', '_' or '-', not starting with '.'",
                           name ? name : "", ED_PKI_NAME_MAX);
  }
  if (strcasecmp(name, "ca") == 0 || strcasecmp(name, "crl") == 0 ||
      strcasecmp(name, "index") == 0 ||
      (n >= 6 && strcmp(name + n - 6, "-chain") == 0)) {
    return ed_pki__fmt_err(err, err_len, ED_E_INVAL,
                           "invalid name \"%s\": reserved (ca, crl, index and "
                           "*-chain name the CA's own files)",
                           name);
  }
  return 0;
}

static const char *const key_type_names[] = {
    [ED_PKI_KEY_P256] = "p256",       [ED_PKI_KEY_P384] = "p384",
    [ED_PKI_KEY_RSA2048] = "rsa2048", [ED_PKI_KEY_RSA3072] = "rsa3072",
    [ED_PKI_KEY_RSA4096] = "rsa4096", [ED_PKI_KEY_ED25519] = "ed25519",
};

int ed_pki_key_type_parse(enum ed_pki_key_type *out, const char *s) {
  for (size_t i = 0; s && i < sizeof(key_type_names) / sizeof(char *); i++) {
    if (strcmp(s, key_type_names[i]) == 0) {
      *out = (enum ed_pki_key_type)i;
      return 0;
    }
  }
  return ED_E_INVAL;
}

const char *ed_pki_key_type_name(enum ed_pki_key_type t) {
  if ((unsigned)t >= sizeof(key_type_names) / sizeof(char *)) return "unknown";
  return key_type_names[t];
}

const char *ed_pki_role_name(enum ed_pki_role role) {
  switch (role) {
    case ED_PKI_CLIENT:
      return "client";
    case ED_PKI_SERVER:
      return "server";
    case ED_PKI_CA:
      return "ca";
  }
  return "unknown";
}

static const struct {
  enum ed_pki_reason reason;
  const char *name;
} reasons[] = {
    {ED_PKI_REASON_UNSPECIFIED, "unspecified"},
    {ED_PKI_REASON_KEY_COMPROMISE, "keyCompromise"},
    {ED_PKI_REASON_CA_COMPROMISE, "cACompromise"},
    {ED_PKI_REASON_AFFILIATION_CHANGED, "affiliationChanged"},
    {ED_PKI_REASON_SUPERSEDED, "superseded"},
    {ED_PKI_REASON_CESSATION_OF_OPERATION, "cessationOfOperation"},
    {ED_PKI_REASON_PRIVILEGE_WITHDRAWN, "privilegeWithdrawn"},
};

int ed_pki_reason_parse(enum ed_pki_reason *out, const char *s) {
  for (size_t i = 0; s && i < sizeof(reasons) / sizeof(reasons[0]); i++) {
    if (strcasecmp(s, reasons[i].name) == 0) {
      *out = reasons[i].reason;
      return 0;
    }
  }
  return ED_E_INVAL;
}

const char *ed_pki_reason_name(enum ed_pki_reason reason) {
  for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
    if (reasons[i].reason == reason) return reasons[i].name;
  }
  return "unknown";
}

int ed_pki_check_key_file(const char *path, char *err, size_t err_len) {
  struct stat st;
  if (stat(path, &st) != 0) {
    int rc = errno == ENOENT ? ED_E_NOENT : ED_E_IO;
    return ed_pki__fmt_err(err, err_len, rc, "cannot read private key %s: %s",
                           path, strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    return ed_pki__fmt_err(err, err_len, ED_E_IO,
                           "private key %s is not a regular file", path);
  }
  if (st.st_mode & 077) {
    return ed_pki__fmt_err(err, err_len, ED_E_INSECURE,
                           "private key %s is accessible by group or others "
                           "(mode %04o); fix it with: chmod 600 %s",
                           path, (unsigned)(st.st_mode & 07777), path);
  }
  return 0;
}

/* ---- loading ------------------------------------------------------------- */

static int load_index(struct ed_pki__index *out, const char *dir, char *err,
                      size_t err_len) {
  char *text = NULL, cmd[ED_PKI_PATH_MAX + 96];
  char why[ED_PKI_ERR_LEN];
  if (!ed_pki__exists(dir, "index.json")) {
    if (ed_pki__exists(dir, "ca.pem") || ed_pki__exists(dir, "ca.key")) {
      return ed_pki__fmt_err(
          err, err_len, ED_E_NOENT,
          "%s has a CA certificate or key but no "
          "index.json (interrupted init?); replace it "
          "with: %s",
          dir, ed_pki__cmd(cmd, sizeof(cmd), dir, "init --force"));
    }
    return ed_pki__fmt_err(err, err_len, ED_E_NOENT,
                           "no CA in %s; create one with: %s", dir,
                           ed_pki__cmd(cmd, sizeof(cmd), dir, "init"));
  }
  int rc = ed_pki__read(&text, NULL, dir, "index.json", err, err_len);
  if (rc) return rc;
  rc = ed_pki__index_parse(out, text, why, sizeof(why));
  free(text);
  if (rc) {
    return ed_pki__fmt_err(err, err_len, rc, "%s/index.json is corrupt: %s",
                           dir, why);
  }
  return 0;
}

static int load_ca(X509 **out, char **out_pem, const char *dir, char *err,
                   size_t err_len) {
  char *pem = NULL;
  size_t len = 0;
  int rc = ed_pki__read(&pem, &len, dir, "ca.pem", err, err_len);
  if (rc) return rc;
  X509 *x = ed_pki__parse_cert(pem, len);
  if (!x || !X509_check_ca(x)) {
    X509_free(x);
    free(pem);
    return ed_pki__fmt_err(err, err_len, ED_E_PARSE,
                           "%s/ca.pem is corrupt: not a PEM CA certificate",
                           dir);
  }
  *out = x;
  *out_pem = pem;
  return 0;
}

/* ed_pki__load_state (re)reads index.json and ca.pem into |pki|; on failure
 * |pki| keeps what it had. */
int ed_pki__load_state(struct ed_pki *pki) {
  struct ed_pki__index idx;
  X509 *ca = NULL;
  char *ca_pem = NULL;
  int rc = load_index(&idx, pki->dir, pki->err, sizeof(pki->err));
  if (rc) return rc;
  rc = load_ca(&ca, &ca_pem, pki->dir, pki->err, sizeof(pki->err));
  if (rc) {
    ed_pki__index_cleanup(&idx);
    return rc;
  }
  ed_pki__index_cleanup(&pki->idx);
  X509_free(pki->ca);
  free(pki->ca_pem);
  pki->idx = idx;
  pki->ca = ca;
  pki->ca_pem = ca_pem;
  return 0;
}

static int load_key(struct ed_pki *pki) {
  char p[ED_PKI_PATH_MAX], *pem = NULL;
  size_t len = 0;
  int rc = ed_pki__path(p, pki->dir, "ca.key");
  if (!rc) rc = ed_pki_check_key_file(p, pki->err, sizeof(pki->err));
  if (!rc)
    rc = ed_pki__read(&pem, &len, pki->dir, "ca.key", pki->err,
                      sizeof(pki->err));
  if (rc) return rc;
  EVP_PKEY *key = ed_pki__parse_key(pem, len);
  OPENSSL_cleanse(pem, len);
  free(pem);
  if (!key) {
    return ed_pki__seterr(pki, ED_E_PARSE,
                          "%s is corrupt: not a PEM private key", p);
  }
  if (!X509_check_private_key(pki->ca, key)) {
    EVP_PKEY_free(key);
    return ed_pki__seterr(pki, ED_E_MISMATCH, "%s does not match %s/ca.pem", p,
                          pki->dir);
  }
  pki->key = key;
  return 0;
}

int ed_pki__lock(const char *dir, int *out_fd, char *err, size_t err_len) {
  char p[ED_PKI_PATH_MAX];
  int rc = ed_pki__path(p, dir, ".lock");
  if (rc) return ed_pki__fmt_err(err, err_len, rc, "CA directory too long");
  int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0 || flock(fd, LOCK_EX) != 0) {
    int e = errno;
    if (fd >= 0) close(fd);
    return ed_pki__fmt_err(err, err_len, e == EACCES ? ED_E_PERM : ED_E_IO,
                           "cannot lock %s: %s", p, strerror(e));
  }
  *out_fd = fd;
  return 0;
}

void ed_pki__end_write(struct ed_pki *pki) {
  EVP_PKEY_free(pki->key);
  pki->key = NULL;
  if (pki->lock_fd >= 0) close(pki->lock_fd); /* releases the flock */
  pki->lock_fd = -1;
}

/* ed_pki__begin_write locks the directory, re-reads what another process may
 * have changed, and loads the CA key. end_write undoes it. */
int ed_pki__begin_write(struct ed_pki *pki) {
  int rc = ed_pki__lock(pki->dir, &pki->lock_fd, pki->err, sizeof(pki->err));
  if (!rc) rc = ed_pki__load_state(pki);
  if (!rc) rc = load_key(pki);
  if (rc) ed_pki__end_write(pki);
  return rc;
}

int ed_pki_open(struct ed_pki **out_pki, const char *dir, char *err,
                size_t err_len) {
  struct ed_pki *pki = ed_calloc(1, sizeof(*pki));
  pki->lock_fd = -1;
  int rc = ed_pki__resolve_dir(pki->dir, dir, err, err_len);
  if (!rc) {
    rc = ed_pki__load_state(pki);
    if (rc && err) snprintf(err, err_len, "%s", pki->err);
  }
  if (rc) {
    ed_pki_free(pki);
    return rc;
  }
  pki->err[0] = '\0';
  *out_pki = pki;
  return 0;
}

void ed_pki_free(struct ed_pki *pki) {
  if (!pki) return;
  ed_pki__end_write(pki);
  X509_free(pki->ca);
  free(pki->ca_pem);
  ed_pki__index_cleanup(&pki->idx);
  free(pki);
}

/* ---- CRLs ---------------------------------------------------------------- */

/* ed_pki__crl_pem signs a CRL of every revoked entry in the index, with the
 * index's CRL number, and returns it as PEM. */
char *ed_pki__crl_pem(X509 *ca, EVP_PKEY *key, const struct ed_pki__index *idx,
                      size_t *out_len) {
  struct ed_pki__revoked *rev = ed_calloc(idx->num_entries + 1, sizeof(*rev));
  size_t n = 0;
  for (size_t i = 0; i < idx->num_entries; i++) {
    const struct ed_pki_cert_info *in = &idx->entries[i].info;
    if (!in->revoked) continue;
    rev[n++] = (struct ed_pki__revoked){in->serial, in->revoked_at, in->reason};
  }
  int64_t now = (int64_t)time(NULL);
  X509_CRL *crl = ed_pki__make_crl(ca, key, rev, n, idx->crl_number,
                                   now - ED_PKI__BACKDATE_S,
                                   now + (int64_t)idx->crl_days * 86400);
  free(rev);
  char *pem = crl ? ed_pki__pem_crl(crl, out_len) : NULL;
  X509_CRL_free(crl);
  return pem;
}

int ed_pki__write_crl(struct ed_pki *pki) {
  size_t len = 0;
  char *pem = ed_pki__crl_pem(pki->ca, pki->key, &pki->idx, &len);
  if (!pem) return ed_pki__seterr(pki, ED_E_CRYPTO, "cannot sign the CRL");
  int rc = ed_pki__write(pki->dir, "crl.pem", pem, len, 0644, pki->err,
                         sizeof(pki->err));
  free(pem);
  return rc;
}

X509_CRL *ed_pki__load_crl(struct ed_pki *pki) {
  char *pem = NULL;
  size_t len = 0;
  if (ed_pki__read(&pem, &len, pki->dir, "crl.pem", NULL, 0) != 0) return NULL;
  X509_CRL *crl = ed_pki__parse_crl(pem, len);
  free(pem);
  ERR_clear_error();
  return crl;
}

/* crl_current returns 1 if crl.pem carries the index's CRL number, i.e. no
 * revoke was interrupted between writing index.json and crl.pem. */
static int crl_current(struct ed_pki *pki) {
  X509_CRL *crl = ed_pki__load_crl(pki);
  int64_t n = crl ? ed_pki__crl_number(crl) : -1;
  X509_CRL_free(crl);
  return n == pki->idx.crl_number;
}

int ed_pki__write_index(struct ed_pki *pki) {
  char *text = ed_pki__index_render(&pki->idx);
  if (!text) return ed_pki__seterr(pki, ED_E_NOMEM, "cannot render index");
  int rc = ed_pki__write(pki->dir, "index.json", text, strlen(text), 0644,
                         pki->err, sizeof(pki->err));
  free(text);
  return rc;
}

int ed_pki_crl(struct ed_pki *pki, int days) {
  pki->err[0] = '\0';
  if (days < 0 || days > ED_PKI_MAX_DAYS) {
    return ed_pki__seterr(pki, ED_E_INVAL,
                          "invalid CRL validity %d days "
                          "(want 1-%d)",
                          days, ED_PKI_MAX_DAYS);
  }
  int rc = ed_pki__begin_write(pki);
  if (rc) return rc;
  if (days) pki->idx.crl_days = days;
  pki->idx.crl_number++;
  rc = ed_pki__write_index(pki);
  if (!rc) rc = ed_pki__write_crl(pki);
  ed_pki__end_write(pki);
  return rc;
}

int ed_pki_crl_due(struct ed_pki *pki, int64_t now, int64_t *out_next_update) {
  int64_t next = 0;
  X509_CRL *crl = ed_pki__load_crl(pki);
  int ok = crl && ed_pki__crl_next_update(&next, crl);
  X509_CRL_free(crl);
  if (out_next_update) *out_next_update = ok ? next : 0;
  /* Half its validity, and never less than 2 days: a CRL of a day or two
   * is re-signed at every run of a twice-daily timer (echod-crl.timer),
   * which would otherwise find it not yet due and come back too late. */
  int64_t margin = (int64_t)pki->idx.crl_days * 86400 / 2;
  if (margin < 2 * 86400) margin = 2 * 86400;
  return !ok || next - now < margin;
}

/* ---- finding certificates ------------------------------------------------ */

/* ed_pki__find_name returns the index of the newest entry named |name|,
 * preferring a live one, or -1. */
long ed_pki__find_name(const struct ed_pki__index *idx, const char *name) {
  long any = -1;
  for (size_t i = idx->num_entries; i-- > 0;) {
    const struct ed_pki_cert_info *in = &idx->entries[i].info;
    if (strcmp(in->name, name) != 0) continue;
    if (!in->revoked) return (long)i;
    if (any < 0) any = (long)i;
  }
  return any;
}

long ed_pki__find_serial(const struct ed_pki__index *idx, const char *serial) {
  if (!ed_pki__serial_ok(serial)) return -1;
  for (size_t i = 0; i < idx->num_entries; i++) {
    if (ed_pki__serial_eq(idx->entries[i].info.serial, serial)) return (long)i;
  }
  return -1;
}

static long find_cert(const struct ed_pki__index *idx, const char *target) {
  long i = ed_pki__find_name(idx, target);
  return i >= 0 ? i : ed_pki__find_serial(idx, target);
}

/* ed_pki__entry_complete returns 1 if NAME.pem holds |e|'s certificate:
 * NAME.pem is written last, so the issue that made |e| finished. */
int ed_pki__entry_complete(struct ed_pki *pki, const struct ed_pki__entry *e) {
  char file[ED_PKI_NAME_MAX + 8], *pem = NULL;
  size_t len = 0;
  snprintf(file, sizeof(file), "%s.pem", e->info.name);
  if (ed_pki__read(&pem, &len, pki->dir, file, NULL, 0) != 0) return 0;
  X509 *x = ed_pki__parse_cert(pem, len);
  struct ed_pki_cert_info info;
  int ok = x && ed_pki__fill_info(&info, x) == 0 &&
           ed_pki__serial_eq(info.serial, e->info.serial);
  X509_free(x);
  free(pem);
  ERR_clear_error();
  return ok;
}

void ed_pki__mark_revoked(struct ed_pki__entry *e, enum ed_pki_reason reason) {
  e->info.revoked = 1;
  e->info.revoked_at = (int64_t)time(NULL);
  e->info.reason = reason;
}

/* ---- revoke -------------------------------------------------------------- */

static int revoke_locked(struct ed_pki *pki, struct ed_pki_cert_info *out_info,
                         const char *target, enum ed_pki_reason reason) {
  long i = find_cert(&pki->idx, target);
  if (i < 0) {
    return ed_pki__seterr(pki, ED_E_NOTFOUND,
                          "no certificate named or with serial \"%s\"", target);
  }
  struct ed_pki__entry *e = &pki->idx.entries[i];
  if (e->info.revoked) {
    if (out_info) *out_info = e->info;
    /* An interrupted revoke left crl.pem behind the index: finish it. */
    if (!crl_current(pki)) return ed_pki__write_crl(pki);
    char when[32];
    return ed_pki__seterr(
        pki, ED_E_STATE,
        "certificate \"%s\" (serial %s) is already revoked "
        "(%s, %s)",
        e->info.name, e->info.serial,
        ed_pki_time_str(when, sizeof(when), e->info.revoked_at),
        ed_pki_reason_name(e->info.reason));
  }
  ed_pki__mark_revoked(e, reason);
  pki->idx.crl_number++;
  if (out_info) *out_info = e->info;
  int rc = ed_pki__write_index(pki);
  if (!rc) rc = ed_pki__write_crl(pki);
  return rc;
}

int ed_pki_revoke(struct ed_pki *pki, struct ed_pki_cert_info *out_info,
                  const char *name_or_serial, enum ed_pki_reason reason) {
  pki->err[0] = '\0';
  if (!name_or_serial || !*name_or_serial) {
    return ed_pki__seterr(pki, ED_E_INVAL, "missing certificate name");
  }
  if (strcmp(ed_pki_reason_name(reason), "unknown") == 0) {
    return ed_pki__seterr(pki, ED_E_INVAL, "invalid revocation reason %d",
                          (int)reason);
  }
  int rc = ed_pki__begin_write(pki);
  if (rc) return rc;
  rc = revoke_locked(pki, out_info, name_or_serial, reason);
  ed_pki__end_write(pki);
  return rc;
}

/* ---- list and show ------------------------------------------------------- */

int ed_pki_list(struct ed_pki *pki, struct ed_pki_cert_info **out_infos,
                size_t *out_num) {
  pki->err[0] = '\0';
  int rc = ed_pki__load_state(pki); /* see what other processes did */
  if (rc) return rc;
  size_t n = pki->idx.num_entries;
  struct ed_pki_cert_info *infos = ed_calloc(n ? n : 1, sizeof(*infos));
  for (size_t i = 0; i < n; i++) infos[i] = pki->idx.entries[i].info;
  *out_infos = infos;
  *out_num = n;
  return 0;
}

void ed_pki_cert_details_free(struct ed_pki_cert_details *d) {
  if (!d) return;
  for (size_t i = 0; i < d->num_sans; i++) free(d->sans[i]);
  for (size_t i = 0; i < d->num_ekus; i++) free(d->ekus[i]);
  free(d->cn);
  free(d->sans);
  free(d->ekus);
  free(d);
}

int ed_pki_describe_pem(struct ed_pki_cert_details **out, const char *pem,
                        size_t pem_len, char *err, size_t err_len) {
  X509 *x = ed_pki__parse_cert(pem, pem_len);
  if (!x) {
    return ed_pki__fmt_err(err, err_len, ED_E_PARSE,
                           "no PEM certificate found");
  }
  struct ed_pki_cert_details *d = ed_calloc(1, sizeof(*d));
  int rc = ed_pki__fill_details(d, x);
  X509_free(x);
  if (rc) {
    ed_pki_cert_details_free(d);
    return ed_pki__fmt_err(err, err_len, rc, "cannot read the certificate");
  }
  *out = d;
  return 0;
}

int ed_pki_show(struct ed_pki *pki, struct ed_pki_cert_details **out,
                const char *name_or_serial) {
  pki->err[0] = '\0';
  int rc = ed_pki__load_state(pki);
  if (rc) return rc;
  if (name_or_serial && strcmp(name_or_serial, "ca") == 0) {
    rc = ed_pki_describe_pem(out, pki->ca_pem, strlen(pki->ca_pem), pki->err,
                             sizeof(pki->err));
    if (!rc) snprintf((*out)->info.name, sizeof((*out)->info.name), "ca");
    return rc;
  }
  long i = name_or_serial ? find_cert(&pki->idx, name_or_serial) : -1;
  if (i < 0) {
    return ed_pki__seterr(pki, ED_E_NOTFOUND,
                          "no certificate named or with serial \"%s\"",
                          name_or_serial ? name_or_serial : "");
  }
  const struct ed_pki__entry *e = &pki->idx.entries[i];
  rc = ed_pki_describe_pem(out, e->pem, strlen(e->pem), pki->err,
                           sizeof(pki->err));
  if (rc) {
    return ed_pki__seterr(pki, rc,
                          "%s/index.json is corrupt: certificate "
                          "\"%s\" does not parse",
                          pki->dir, e->info.name);
  }
  (*out)->info = e->info;
  return 0;
}

/* pki — issuing: init (the CA), issue (leaves), the zero-config dev setup,
 * and the CRL writer testca uses. See pki.h for the write orders. */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/mem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal/base/base.h"
#include "internal/version/tool.h"
#include "pki/pki_internal.h"

/* ---- issue --------------------------------------------------------------- */

static int check_leaf(struct ed_pki *pki, const struct ed_pki__leaf *leaf) {
  int rc = ed_pki_check_name(leaf->name, pki->err, sizeof(pki->err));
  if (!rc) rc = ed_pki__check_sans(&leaf->sans, pki->err, sizeof(pki->err));
  if (rc) return rc;
  if (leaf->role != ED_PKI_SERVER && leaf->role != ED_PKI_CLIENT)
    return ed_pki__seterr(pki, ED_E_INVAL, "invalid role %d", (int)leaf->role);
  if (strcmp(ed_pki_key_type_name(leaf->key_type), "unknown") == 0)
    return ed_pki__seterr(pki, ED_E_INVAL, "invalid key type %d",
                          (int)leaf->key_type);
  rc = ed_pki__check_text("common name", leaf->cn ? leaf->cn : leaf->name, 1,
                          64, pki->err, sizeof(pki->err));
  if (rc) return rc;
  if (leaf->not_after <= leaf->not_before)
    return ed_pki__seterr(pki, ED_E_INVAL, "notAfter is not after notBefore");
  return 0;
}

static int serial_taken(const struct ed_pki__index *idx, X509 *x) {
  struct ed_pki_cert_info info;
  if (ed_pki__fill_info(&info, x) != 0) return 1;
  return ed_pki__find_serial(idx, info.serial) >= 0;
}

/* make_leaf generates the key and signs the certificate. */
static int make_leaf(struct ed_pki *pki, const struct ed_pki__leaf *leaf,
                     EVP_PKEY **out_key, X509 **out_x) {
  struct ed_pki_cert_info ca;
  char when[32], cmd[ED_PKI_PATH_MAX + 96];
  if (ed_pki__fill_info(&ca, pki->ca) != 0)
    return ed_pki__seterr(pki, ED_E_PARSE, "cannot read %s/ca.pem", pki->dir);
  if (ca.not_after <= (int64_t)time(NULL))
    return ed_pki__seterr(
        pki, ED_E_EXPIRED,
        "the CA certificate expired on %s; make a new CA "
        "with: %s",
        ed_pki_time_str(when, sizeof(when), ca.not_after),
        ed_pki__cmd(cmd, sizeof(cmd), pki->dir, "init --force"));
  EVP_PKEY *key = ed_pki__keygen(leaf->key_type);
  if (!key) return ed_pki__seterr(pki, ED_E_CRYPTO, "key generation failed");
  /* A certificate never outlives the CA that vouches for it. */
  struct ed_pki__cert_spec spec = {
      .cn = leaf->cn ? leaf->cn : leaf->name,
      .sans = leaf->sans,
      .not_before = leaf->not_before,
      .not_after =
          leaf->not_after < ca.not_after ? leaf->not_after : ca.not_after,
      .eku = leaf->eku,
  };
  X509 *x = NULL;
  for (int tries = 0; tries < 3 && !x; tries++) {
    x = ed_pki__make_cert(&spec, key, pki->ca, pki->key);
    if (x && serial_taken(&pki->idx, x)) { /* 2^-126; but be sure */
      X509_free(x);
      x = NULL;
    }
  }
  if (!x) {
    EVP_PKEY_free(key);
    return ed_pki__seterr(pki, ED_E_CRYPTO, "cannot sign the certificate");
  }
  *out_key = key;
  *out_x = x;
  return 0;
}

/* write_leaf_files writes NAME.key, NAME-chain.pem and, last, NAME.pem. */
static int write_leaf_files(struct ed_pki *pki, const char *name,
                            const char *cert_pem, size_t cert_len,
                            EVP_PKEY *key) {
  char file[ED_PKI_NAME_MAX + 16];
  size_t key_len = 0;
  char *key_pem = ed_pki__pem_key(key, &key_len);
  if (!key_pem) return ed_pki__seterr(pki, ED_E_CRYPTO, "cannot encode key");
  snprintf(file, sizeof(file), "%s.key", name);
  int rc = ed_pki__write(pki->dir, file, key_pem, key_len, 0600, pki->err,
                         sizeof(pki->err));
  OPENSSL_cleanse(key_pem, key_len);
  free(key_pem);
  size_t chain_len = cert_len + strlen(pki->ca_pem);
  char *chain = ed_malloc(chain_len + 1);
  memcpy(chain, cert_pem, cert_len);
  memcpy(chain + cert_len, pki->ca_pem, chain_len - cert_len + 1);
  snprintf(file, sizeof(file), "%s-chain.pem", name);
  if (!rc)
    rc = ed_pki__write(pki->dir, file, chain, chain_len, 0644, pki->err,
                       sizeof(pki->err));
  free(chain);
  snprintf(file, sizeof(file), "%s.pem", name);
  if (!rc)
    rc = ed_pki__write(pki->dir, file, cert_pem, cert_len, 0644, pki->err,
                       sizeof(pki->err));
  return rc;
}

/* commit_leaf records |x| in the index (revoking |old| as superseded if it
 * is >= 0), rewrites crl.pem if it revoked, then writes the files. */
static int commit_leaf(struct ed_pki *pki, struct ed_pki_cert_info *out_info,
                       const struct ed_pki__leaf *leaf, long old, X509 *x,
                       EVP_PKEY *key) {
  size_t cert_len = 0;
  char *cert_pem = ed_pki__pem_cert(x, &cert_len);
  if (!cert_pem) return ed_pki__seterr(pki, ED_E_CRYPTO, "cannot encode cert");
  if (old >= 0) {
    ed_pki__mark_revoked(&pki->idx.entries[old], ED_PKI_REASON_SUPERSEDED);
    pki->idx.crl_number++;
  }
  struct ed_pki__entry *e = ed_pki__index_append(&pki->idx);
  ed_pki__fill_info(&e->info, x);
  snprintf(e->info.name, sizeof(e->info.name), "%s", leaf->name);
  e->info.role = leaf->role;
  e->pem = ed_strdup(cert_pem);
  if (out_info) *out_info = e->info;
  int rc = ed_pki__write_index(pki);
  if (!rc && old >= 0) rc = ed_pki__write_crl(pki);
  if (!rc) rc = write_leaf_files(pki, leaf->name, cert_pem, cert_len, key);
  free(cert_pem);
  return rc;
}

/* entry_usable returns 1 if |e| is live, not expired, and its files are
 * complete: what a server can start with. */
static int entry_usable(struct ed_pki *pki, const struct ed_pki__entry *e) {
  char key[ED_PKI_NAME_MAX + 8];
  snprintf(key, sizeof(key), "%s.key", e->info.name);
  return !e->info.revoked && e->info.not_after > (int64_t)time(NULL) &&
         ed_pki__exists(pki->dir, key) && ed_pki__entry_complete(pki, e);
}

static int issue_locked(struct ed_pki *pki, struct ed_pki_cert_info *out_info,
                        const struct ed_pki__leaf *leaf) {
  long old = ed_pki__find_name(&pki->idx, leaf->name);
  if (old >= 0 && pki->idx.entries[old].info.revoked) old = -1;
  const struct ed_pki__entry *e = old >= 0 ? &pki->idx.entries[old] : NULL;
  if (e && leaf->if_missing) {
    if (out_info) *out_info = e->info;
    /* Another process issued it meanwhile: fine if usable; anything else
     * is left alone (dev setup replaces, re-issues and revokes nothing). */
    if (entry_usable(pki, e)) return ED_E_EXIST;
    return ed_pki__seterr(pki, ED_E_STATE,
                          "certificate \"%s\" appeared while issuing it and "
                          "is not usable; not touching it",
                          leaf->name);
  }
  if (e && !leaf->replace && ed_pki__entry_complete(pki, e)) {
    return ed_pki__seterr(pki, ED_E_EXIST,
                          "a certificate named \"%s\" already exists (serial "
                          "%s); revoke it first or use --replace",
                          leaf->name, e->info.serial);
  }
  EVP_PKEY *key = NULL;
  X509 *x = NULL;
  int rc = make_leaf(pki, leaf, &key, &x);
  if (!rc) rc = commit_leaf(pki, out_info, leaf, old, x, key);
  X509_free(x);
  EVP_PKEY_free(key);
  return rc;
}

int ed_pki__issue_leaf(struct ed_pki *pki, struct ed_pki_cert_info *out_info,
                       const struct ed_pki__leaf *leaf) {
  pki->err[0] = '\0';
  int rc = check_leaf(pki, leaf);
  if (rc) return rc;
  rc = ed_pki__begin_write(pki);
  if (rc) return rc;
  rc = issue_locked(pki, out_info, leaf);
  ed_pki__end_write(pki);
  return rc;
}

/* default_sans fills |s| with localhost, 127.0.0.1, ::1 and the host name
 * (if it is a valid DNS name). |host| and |dns| back the strings. */
static void default_sans(struct ed_pki__sans *s, char *host, size_t host_len,
                         const char **dns) {
  static const char *const ips[] = {"127.0.0.1", "::1"};
  dns[0] = "localhost";
  s->dns = dns;
  s->num_dns = 1;
  s->ips = ips;
  s->num_ips = 2;
  if (gethostname(host, host_len) != 0) return;
  host[host_len - 1] = '\0';
  struct ed_pki__sans one = {.dns = (const char *const *)&host, .num_dns = 1};
  if (strcmp(host, "localhost") != 0 && ed_pki__check_sans(&one, NULL, 0) == 0)
    dns[s->num_dns++] = host;
}

static int issue_opts(struct ed_pki *pki, struct ed_pki_cert_info *out_info,
                      const struct ed_pki_issue_opts *opts, int if_missing) {
  pki->err[0] = '\0';
  int days = opts->days                    ? opts->days
             : opts->role == ED_PKI_SERVER ? ED_PKI_SERVER_DAYS
                                           : ED_PKI_CLIENT_DAYS;
  if (days < 1 || days > ED_PKI_MAX_DAYS) {
    return ed_pki__seterr(pki, ED_E_INVAL,
                          "invalid validity %d days "
                          "(want 1-%d)",
                          opts->days, ED_PKI_MAX_DAYS);
  }
  int64_t now = (int64_t)time(NULL);
  struct ed_pki__leaf leaf = {
      .role = opts->role,
      .name = opts->name,
      .cn = opts->cn,
      .key_type = opts->key_type,
      .sans = {opts->dns, opts->num_dns, opts->ips, opts->num_ips, opts->uris,
               opts->num_uris, opts->emails, opts->num_emails},
      .not_before = now - ED_PKI__BACKDATE_S,
      .not_after = now + (int64_t)days * 86400,
      .eku =
          opts->role == ED_PKI_SERVER ? ED_PKI__EKU_SERVER : ED_PKI__EKU_CLIENT,
      .replace = opts->replace,
      .if_missing = if_missing,
  };
  char host[256];
  const char *dns[2];
  if (opts->role == ED_PKI_SERVER && opts->num_dns + opts->num_ips == 0)
    default_sans(&leaf.sans, host, sizeof(host), dns);
  return ed_pki__issue_leaf(pki, out_info, &leaf);
}

int ed_pki_issue(struct ed_pki *pki, struct ed_pki_cert_info *out_info,
                 const struct ed_pki_issue_opts *opts) {
  return issue_opts(pki, out_info, opts, 0);
}

/* ---- init ---------------------------------------------------------------- */

static int check_init_opts(struct ed_pki_init_opts *o, char *err,
                           size_t err_len) {
  if (!o->cn) o->cn = "echod dev CA";
  if (!o->days) o->days = ED_PKI_CA_DAYS;
  if (!o->crl_days) o->crl_days = ED_PKI_CRL_DAYS;
  int rc = ed_pki__check_text("CA common name", o->cn, 1, 64, err, err_len);
  if (rc) return rc;
  if (o->days < 1 || o->days > ED_PKI_MAX_DAYS || o->crl_days < 1 ||
      o->crl_days > ED_PKI_MAX_DAYS)
    return ed_pki__fmt_err(err, err_len, ED_E_INVAL,
                           "invalid validity (want 1-%d days)",
                           ED_PKI_MAX_DAYS);
  if (strcmp(ed_pki_key_type_name(o->key_type), "unknown") == 0)
    return ed_pki__fmt_err(err, err_len, ED_E_INVAL, "invalid key type %d",
                           (int)o->key_type);
  return 0;
}

static int refuse_existing(const char *dir, int force, char *err,
                           size_t err_len) {
  if (force) return 0;
  if (ed_pki__exists(dir, "index.json") || ed_pki__exists(dir, "ca.pem") ||
      ed_pki__exists(dir, "ca.key")) {
    return ed_pki__fmt_err(err, err_len, ED_E_EXIST,
                           "a CA already exists in %s (use --force to "
                           "replace it)",
                           dir);
  }
  return 0;
}

/* The files of a new CA, made in memory before anything touches disk. */
struct new_ca {
  char *key, *cert, *crl, *index;
  size_t key_len, cert_len, crl_len;
};

static void new_ca_cleanup(struct new_ca *ca) {
  if (ca->key) OPENSSL_cleanse(ca->key, ca->key_len);
  free(ca->key);
  free(ca->cert);
  free(ca->crl);
  free(ca->index);
}

static int make_ca(struct new_ca *out, const struct ed_pki_init_opts *o,
                   char *err, size_t err_len) {
  int64_t now = (int64_t)time(NULL);
  struct ed_pki__cert_spec spec = {
      .is_ca = 1,
      .cn = o->cn,
      .not_before = now - ED_PKI__BACKDATE_S,
      .not_after = now + (int64_t)o->days * 86400,
  };
  struct ed_pki__index idx = {.crl_number = 1, .crl_days = o->crl_days};
  EVP_PKEY *key = ed_pki__keygen(o->key_type);
  X509 *x = key ? ed_pki__make_cert(&spec, key, NULL, NULL) : NULL;
  if (x) {
    out->key = ed_pki__pem_key(key, &out->key_len);
    out->cert = ed_pki__pem_cert(x, &out->cert_len);
    out->crl = ed_pki__crl_pem(x, key, &idx, &out->crl_len);
    out->index = ed_pki__index_render(&idx);
  }
  X509_free(x);
  EVP_PKEY_free(key);
  if (!out->key || !out->cert || !out->crl || !out->index)
    return ed_pki__fmt_err(err, err_len, ED_E_CRYPTO, "cannot create the CA");
  return 0;
}

/* write_ca writes a new CA: index.json, the commit point, goes last (and,
 * when replacing, first goes away). */
static int write_ca(const char *dir, const struct new_ca *ca, int force,
                    char *err, size_t err_len) {
  int rc = ed_mkdir_p(dir, 0700);
  if (rc || chmod(dir, 0700) != 0) {
    return ed_pki__fmt_err(err, err_len, rc ? rc : ED_E_IO,
                           "cannot create directory %s: %s", dir,
                           rc ? ed_strerror(rc) : strerror(errno));
  }
  int fd = -1;
  rc = ed_pki__lock(dir, &fd, err, err_len);
  if (!rc) rc = refuse_existing(dir, force, err, err_len); /* raced? */
  char p[ED_PKI_PATH_MAX];
  if (!rc && force && ed_pki__path(p, dir, "index.json") == 0 &&
      unlink(p) != 0 && errno != ENOENT) {
    rc = ed_pki__fmt_err(err, err_len, ED_E_IO, "cannot remove %s: %s", p,
                         strerror(errno));
  }
  if (!rc)
    rc = ed_pki__write(dir, "ca.key", ca->key, ca->key_len, 0600, err, err_len);
  if (!rc)
    rc = ed_pki__write(dir, "ca.pem", ca->cert, ca->cert_len, 0644, err,
                       err_len);
  if (!rc)
    rc =
        ed_pki__write(dir, "crl.pem", ca->crl, ca->crl_len, 0644, err, err_len);
  if (!rc)
    rc = ed_pki__write(dir, "index.json", ca->index, strlen(ca->index), 0644,
                       err, err_len);
  if (fd >= 0) close(fd);
  return rc;
}

int ed_pki_init(struct ed_pki **out_pki, const char *dir,
                const struct ed_pki_init_opts *opts, char *err,
                size_t err_len) {
  struct ed_pki_init_opts o = {0};
  if (opts) o = *opts;
  char d[ED_PKI_PATH_MAX];
  int rc = check_init_opts(&o, err, err_len);
  if (!rc) rc = ed_pki__resolve_dir(d, dir, err, err_len);
  if (!rc) rc = refuse_existing(d, o.force, err, err_len);
  if (rc) return rc;
  struct new_ca ca = {0};
  rc = make_ca(&ca, &o, err, err_len);
  if (!rc) rc = write_ca(d, &ca, o.force, err, err_len);
  new_ca_cleanup(&ca);
  if (!rc && out_pki) rc = ed_pki_open(out_pki, d, err, err_len);
  return rc;
}

/* ---- zero-config dev setup ----------------------------------------------- */

static void dev_path(char *out, const char *dir, const char *name,
                     const char *suffix) {
  char file[ED_PKI_NAME_MAX + 16];
  snprintf(file, sizeof(file), "%s%s", name, suffix);
  ed_pki__path(out, dir, file); /* fits: ed_pki__resolve_dir left room */
}

static void dev_paths(struct ed_pki_dev_paths *p, const char *dir) {
  snprintf(p->dir, sizeof(p->dir), "%s", dir);
  dev_path(p->ca_cert, dir, "ca", ".pem");
  dev_path(p->crl, dir, "crl", ".pem");
  dev_path(p->server_cert, dir, ED_PKI_DEV_SERVER_NAME, ".pem");
  dev_path(p->server_key, dir, ED_PKI_DEV_SERVER_NAME, ".key");
  dev_path(p->server_chain, dir, ED_PKI_DEV_SERVER_NAME, "-chain.pem");
  dev_path(p->client_cert, dir, ED_PKI_DEV_CLIENT_NAME, ".pem");
  dev_path(p->client_key, dir, ED_PKI_DEV_CLIENT_NAME, ".key");
  dev_path(p->client_chain, dir, ED_PKI_DEV_CLIENT_NAME, "-chain.pem");
}

/* dev_fix writes the command that issues leaf |name| of the CA in |dir|
 * anew: "echo-pki [--dir DIR] issue server server [--replace]" (--replace
 * revokes a live one first). */
static void dev_fix(char *out, size_t out_len, const char *dir,
                    const char *name, enum ed_pki_role role, int replace) {
  char args[ED_PKI_NAME_MAX + 64];
  snprintf(args, sizeof(args), "issue %s %s%s", ed_pki_role_name(role), name,
           replace ? " --replace" : "");
  ed_pki__cmd(out, out_len, dir, args);
}

/* dev_check_files checks that NAME.pem holds |e|'s certificate and
 * NAME.key its key. Returns 0, or a refusal with one line in |err|. */
static int dev_check_files(struct ed_pki *pki, const struct ed_pki__entry *e,
                           const char *fix, char *err, size_t err_len) {
  const char *name = e->info.name, *dir = pki->dir;
  char file[ED_PKI_NAME_MAX + 8], *pem = NULL;
  size_t len = 0;
  struct ed_pki_cert_info got = {0};
  snprintf(file, sizeof(file), "%s.pem", name);
  X509 *x = ed_pki__read(&pem, &len, dir, file, NULL, 0) == 0
                ? ed_pki__parse_cert(pem, len)
                : NULL;
  free(pem);
  int rc = 0;
  if (!x || ed_pki__fill_info(&got, x) != 0) {
    rc = ed_pki__fmt_err(err, err_len, ED_E_STATE,
                         "%s/%s.pem is missing or not a certificate, but "
                         "index.json records \"%s\" (serial %s); dev mode "
                         "re-issues nothing: restore it, or run: %s",
                         dir, name, name, e->info.serial, fix);
  } else if (!ed_pki__serial_eq(got.serial, e->info.serial)) {
    rc = ed_pki__fmt_err(err, err_len, ED_E_MISMATCH,
                         "%s/%s.pem holds serial %s, but index.json records "
                         "serial %s for \"%s\"; dev mode replaces nothing: "
                         "put the recorded certificate back, rotate with: %s, "
                         "or serve yours with --cert/--key/--ca",
                         dir, name, got.serial, e->info.serial, name, fix);
  }
  char *kpem = NULL;
  snprintf(file, sizeof(file), "%s.key", name);
  EVP_PKEY *key = !rc && ed_pki__read(&kpem, &len, dir, file, NULL, 0) == 0
                      ? ed_pki__parse_key(kpem, len)
                      : NULL;
  if (kpem) OPENSSL_cleanse(kpem, len);
  free(kpem);
  if (!rc && (!key || !X509_check_private_key(x, key)))
    rc = ed_pki__fmt_err(err, err_len, ED_E_MISMATCH,
                         "%s/%s.key is %s %s/%s.pem (serial %s); dev mode "
                         "re-issues nothing: restore the key, or run: %s",
                         dir, name, key ? "not the key of" : "missing for", dir,
                         name, got.serial, fix);
  EVP_PKEY_free(key);
  X509_free(x);
  ERR_clear_error();
  return rc;
}

/* dev_check_leaf decides what dev setup may do about leaf |name|: 0 when
 * the index records a live, unexpired certificate that NAME.pem and
 * NAME.key hold; ED_E_NOTFOUND when neither a record nor a file exists
 * (issue it); ED_E_EXPIRED when the recorded certificate is revoked or
 * expired; otherwise (files and records differ) ED_E_STATE or
 * ED_E_MISMATCH. Every failure leaves one line in |err| saying what is
 * wrong and the command that fixes it. It changes nothing. */
static int dev_check_leaf(struct ed_pki *pki, const char *name,
                          enum ed_pki_role role, char *err, size_t err_len) {
  char fix[ED_PKI_PATH_MAX + 128], file[ED_PKI_NAME_MAX + 16], when[32];
  const char *dir = pki->dir;
  long i = ed_pki__find_name(&pki->idx, name);
  const struct ed_pki__entry *e = i >= 0 ? &pki->idx.entries[i] : NULL;
  dev_fix(fix, sizeof(fix), dir, name, role, e && !e->info.revoked);
  if (i < 0) {
    static const char *const suffixes[] = {".pem", ".key", "-chain.pem"};
    for (size_t k = 0; k < 3; k++) {
      snprintf(file, sizeof(file), "%s%s", name, suffixes[k]);
      if (ed_pki__exists(dir, file))
        return ed_pki__fmt_err(err, err_len, ED_E_STATE,
                               "%s/%s exists, but index.json records no "
                               "certificate \"%s\"; dev mode replaces "
                               "nothing: move it away, or serve it with "
                               "--cert/--key/--ca",
                               dir, file, name);
    }
    return ED_E_NOTFOUND;
  }
  if (e->info.role != role)
    return ed_pki__fmt_err(err, err_len, ED_E_STATE,
                           "index.json records \"%s\" (serial %s) as a %s "
                           "certificate; dev mode re-issues nothing: move "
                           "%s/%s.* away and run: %s",
                           name, e->info.serial, ed_pki_role_name(e->info.role),
                           dir, name, fix);
  if (e->info.revoked)
    return ed_pki__fmt_err(err, err_len, ED_E_EXPIRED,
                           "certificate \"%s\" (serial %s) is revoked; dev "
                           "mode re-issues nothing: a new one: %s",
                           name, e->info.serial, fix);
  if (e->info.not_after <= (int64_t)time(NULL))
    return ed_pki__fmt_err(
        err, err_len, ED_E_EXPIRED,
        "certificate \"%s\" (serial %s) expired on %s; dev mode re-issues "
        "nothing: a new one: %s",
        name, e->info.serial,
        ed_pki_time_str(when, sizeof(when), e->info.not_after), fix);
  return dev_check_files(pki, e, fix, err, err_len);
}

/* dev_issue issues leaf |name|, which dev_check_leaf found missing. */
static int dev_issue(struct ed_pki *pki, const char *name,
                     enum ed_pki_role role, int *created, char *err,
                     size_t err_len) {
  struct ed_pki_issue_opts o = {.role = role, .name = name};
  int rc = issue_opts(pki, NULL, &o, 1);
  if (rc == ED_E_EXIST) return 0; /* another process made it meanwhile */
  if (rc) return ed_pki__fmt_err(err, err_len, rc, "%s", pki->err);
  *created = 1;
  return 0;
}

static int dev_ca(const char *dir, unsigned *created, char *err,
                  size_t err_len) {
  if (ed_pki__exists(dir, "index.json")) return 0;
  int rc = ed_pki_init(NULL, dir, NULL, err, err_len);
  if (rc == ED_E_EXIST && ed_pki__exists(dir, "index.json")) return 0;
  if (rc == ED_E_EXIST) {
    return ed_pki__fmt_err(err, err_len, rc,
                           "%s holds ca.pem or ca.key but no index.json; not "
                           "touching someone else's CA",
                           dir);
  }
  if (!rc) *created |= ED_PKI_DEV_CREATED_CA;
  return rc;
}

int ed_pki_dev_setup(struct ed_pki_dev_paths *out_paths, const char *dir,
                     char *err, size_t err_len) {
  char d[ED_PKI_PATH_MAX], warning[ED_PKI_ERR_LEN] = "";
  unsigned created = 0;
  int made_server = 0, made_client = 0;
  struct ed_pki *pki = NULL;
  int rc = ed_pki__resolve_dir(d, dir, err, err_len);
  if (!rc) rc = dev_ca(d, &created, err, err_len);
  if (!rc) rc = ed_pki_open(&pki, d, err, err_len);
  /* Check both before issuing either: a refusal leaves the directory as
   * it was. The server needs its own certificate; a revoked or expired
   * dev-client is only reported (a revoked client is what some tests
   * want), never re-issued. */
  int srv = rc, cli = rc;
  if (!rc)
    srv = dev_check_leaf(pki, ED_PKI_DEV_SERVER_NAME, ED_PKI_SERVER, err,
                         err_len);
  if (!rc && (srv == 0 || srv == ED_E_NOTFOUND))
    cli = dev_check_leaf(pki, ED_PKI_DEV_CLIENT_NAME, ED_PKI_CLIENT, warning,
                         sizeof(warning));
  if (cli == ED_E_EXPIRED) {
    cli = 0;
  } else {
    if (cli && cli != ED_E_NOTFOUND) snprintf(err, err_len, "%s", warning);
    warning[0] = '\0';
  }
  if (!rc) rc = srv == ED_E_NOTFOUND ? 0 : srv;
  if (!rc) rc = cli == ED_E_NOTFOUND ? 0 : cli;
  if (!rc && srv == ED_E_NOTFOUND)
    rc = dev_issue(pki, ED_PKI_DEV_SERVER_NAME, ED_PKI_SERVER, &made_server,
                   err, err_len);
  if (!rc && cli == ED_E_NOTFOUND)
    rc = dev_issue(pki, ED_PKI_DEV_CLIENT_NAME, ED_PKI_CLIENT, &made_client,
                   err, err_len);
  if (!rc && ed_pki_crl_due(pki, (int64_t)time(NULL), NULL)) {
    rc = ed_pki_crl(pki, 0);
    if (rc) snprintf(err, err_len, "%s", ed_pki_last_error(pki));
    if (!rc) created |= ED_PKI_DEV_RENEWED_CRL;
  }
  ed_pki_free(pki);
  if (rc) return rc;
  if (made_server) created |= ED_PKI_DEV_CREATED_SERVER;
  if (made_client) created |= ED_PKI_DEV_CREATED_CLIENT;
  if (out_paths) {
    dev_paths(out_paths, d);
    out_paths->created = created;
    snprintf(out_paths->warning, sizeof(out_paths->warning), "%s", warning);
  }
  return 0;
}

/* ---- CRLs for tests ------------------------------------------------------ */

int ed_pki__write_crl_file(struct ed_pki *pki, const char *path,
                           const char *const *serials, size_t num,
                           int64_t this_update, int64_t next_update) {
  pki->err[0] = '\0';
  for (size_t i = 0; i < num; i++) {
    if (!ed_pki__serial_ok(serials[i]))
      return ed_pki__seterr(pki, ED_E_INVAL, "invalid serial \"%s\"",
                            serials[i] ? serials[i] : "");
  }
  int rc = ed_pki__begin_write(pki);
  if (rc) return rc;
  struct ed_pki__revoked *rev = ed_calloc(num + 1, sizeof(*rev));
  for (size_t i = 0; i < num; i++) {
    rev[i] = (struct ed_pki__revoked){serials[i], this_update,
                                      ED_PKI_REASON_KEY_COMPROMISE};
  }
  X509_CRL *crl =
      ed_pki__make_crl(pki->ca, pki->key, rev, num, pki->idx.crl_number + 1,
                       this_update, next_update);
  size_t len = 0;
  char *pem = crl ? ed_pki__pem_crl(crl, &len) : NULL;
  rc = pem ? ed_write_file_atomic(path, pem, len, 0644) : ED_E_CRYPTO;
  if (rc)
    ed_pki__seterr(pki, rc, "cannot write CRL %s: %s", path, ed_strerror(rc));
  free(pem);
  X509_CRL_free(crl);
  free(rev);
  ed_pki__end_write(pki);
  return rc;
}

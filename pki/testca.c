/* testca — see testca.h. Bad certificates come from the same issuing path
 * as good ones (ed_pki__issue_leaf) with the validity, EKU or signer
 * changed, so they differ from good ones only where they are meant to. */
#include "pki/testca.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal/base/base.h"
#include "pki/pki_internal.h"

#define DAY 86400

struct ed_testca {
  char dir[ED_PKI_PATH_MAX];
  struct ed_pki *pki;
  struct ed_pki *rogue; /* dir/rogue, made on first use */
  char err[ED_PKI_ERR_LEN];
};

static const char *const kind_names[] = {
    [ED_TESTCA_GOOD] = "good",
    [ED_TESTCA_EXPIRED] = "expired",
    [ED_TESTCA_NOT_YET_VALID] = "not-yet-valid",
    [ED_TESTCA_WRONG_EKU] = "wrong-eku",
    [ED_TESTCA_ROGUE_CA] = "rogue-ca",
};

int ed_testca_kind_parse(enum ed_testca_kind *out, const char *s) {
  for (size_t i = 0; s && i < sizeof(kind_names) / sizeof(char *); i++) {
    if (strcmp(s, kind_names[i]) == 0) {
      *out = (enum ed_testca_kind)i;
      return 0;
    }
  }
  return ED_E_INVAL;
}

/* open_or_init opens the CA in |dir| or creates one with |cn|. */
static int open_or_init(struct ed_pki **out, const char *dir, const char *cn,
                        enum ed_pki_key_type key_type, char *err,
                        size_t err_len) {
  if (ed_pki__exists(dir, "index.json"))
    return ed_pki_open(out, dir, err, err_len);
  struct ed_pki_init_opts o = {.cn = cn, .key_type = key_type};
  return ed_pki_init(out, dir, &o, err, err_len);
}

struct ed_testca *ed_testca_new_key_type(const char *dir,
                                         enum ed_pki_key_type key_type) {
  struct ed_testca *ca = ed_calloc(1, sizeof(*ca));
  int rc = ed_pki__resolve_dir(ca->dir, dir, ca->err, sizeof(ca->err));
  if (!rc) {
    rc = open_or_init(&ca->pki, ca->dir, "echod test CA", key_type, ca->err,
                      sizeof(ca->err));
  }
  if (rc) {
    fprintf(stderr, "testca: %s\n", ca->err);
    ed_testca_free(ca);
    return NULL;
  }
  return ca;
}

struct ed_testca *ed_testca_new(const char *dir) {
  return ed_testca_new_key_type(dir, ED_PKI_KEY_P256);
}

void ed_testca_free(struct ed_testca *ca) {
  if (!ca) return;
  ed_pki_free(ca->pki);
  ed_pki_free(ca->rogue);
  free(ca);
}

const char *ed_testca_dir(const struct ed_testca *ca) {
  return ca->dir;
}

struct ed_pki *ed_testca_pki(struct ed_testca *ca) {
  return ca->pki;
}

const char *ed_testca_last_error(const struct ed_testca *ca) {
  return ca->err;
}

static int seterr(struct ed_testca *ca, int rc, const char *msg) {
  snprintf(ca->err, sizeof(ca->err), "%s", msg && *msg ? msg : ed_strerror(rc));
  return rc;
}

static int rogue_ca(struct ed_testca *ca) {
  if (ca->rogue) return 0;
  char dir[ED_PKI_PATH_MAX];
  if (ed_pki__path(dir, ca->dir, "rogue") != 0)
    return seterr(ca, ED_E_TOOBIG, "directory too long");
  return open_or_init(&ca->rogue, dir, "echod rogue CA", ED_PKI_KEY_P256,
                      ca->err, sizeof(ca->err));
}

/* copy_out copies dir/rogue/NAME<suffix> to dir/NAME<suffix>. */
static int copy_out(struct ed_testca *ca, const char *name, const char *suffix,
                    unsigned mode) {
  char file[ED_PKI_NAME_MAX + 16], *data = NULL;
  size_t len = 0;
  snprintf(file, sizeof(file), "%s%s", name, suffix);
  int rc = ed_pki__read(&data, &len, ed_pki_dir(ca->rogue), file, ca->err,
                        sizeof(ca->err));
  if (!rc)
    rc =
        ed_pki__write(ca->dir, file, data, len, mode, ca->err, sizeof(ca->err));
  free(data);
  return rc;
}

/* make_leaf turns |kind| and |o| into the leaf to issue. */
static void make_leaf(struct ed_pki__leaf *leaf, const char *name,
                      enum ed_testca_kind kind,
                      const struct ed_testca_opts *o) {
  int64_t now = (int64_t)time(NULL);
  int server = o->role == ED_PKI_SERVER;
  *leaf = (struct ed_pki__leaf){
      .role = o->role,
      .name = name,
      .cn = o->cn,
      .key_type = o->key_type,
      .sans = {o->dns, o->num_dns, o->ips, o->num_ips, o->uris, o->num_uris,
               o->emails, o->num_emails},
      .not_before = now - ED_PKI__BACKDATE_S,
      .not_after = now + (int64_t)(o->days > 0 ? o->days : 30) * DAY,
      .eku = server ? ED_PKI__EKU_SERVER : ED_PKI__EKU_CLIENT,
  };
  if (kind == ED_TESTCA_EXPIRED) {
    leaf->not_before = now - 30 * DAY;
    leaf->not_after = now - DAY;
  } else if (kind == ED_TESTCA_NOT_YET_VALID) {
    leaf->not_before = now + DAY;
    leaf->not_after = now + 30 * DAY;
  } else if (kind == ED_TESTCA_WRONG_EKU) {
    leaf->eku = server ? ED_PKI__EKU_CLIENT : ED_PKI__EKU_SERVER;
  }
}

int ed_testca_issue(struct ed_testca *ca, struct ed_pki_cert_info *out_info,
                    const char *name, enum ed_testca_kind kind,
                    const struct ed_testca_opts *opts) {
  struct ed_testca_opts o = {0};
  if (opts) o = *opts;
  ca->err[0] = '\0';
  if ((unsigned)kind >= sizeof(kind_names) / sizeof(char *))
    return seterr(ca, ED_E_INVAL, "invalid kind");
  struct ed_pki__leaf leaf;
  make_leaf(&leaf, name, kind, &o);
  struct ed_pki *signer = ca->pki;
  if (kind == ED_TESTCA_ROGUE_CA) {
    /* Its files go into dir: never over those of a real certificate. */
    int rc = ed_pki__load_state(ca->pki);
    if (rc) return seterr(ca, rc, ed_pki_last_error(ca->pki));
    if (name && ed_pki__find_name(&ca->pki->idx, name) >= 0)
      return seterr(ca, ED_E_EXIST, "name already used by the real CA");
    if ((rc = rogue_ca(ca)) != 0) return rc;
    signer = ca->rogue;
  }
  int rc = ed_pki__issue_leaf(signer, out_info, &leaf);
  if (rc) return seterr(ca, rc, ed_pki_last_error(signer));
  if (kind == ED_TESTCA_ROGUE_CA) {
    rc = copy_out(ca, name, ".key", 0600);
    if (!rc) rc = copy_out(ca, name, "-chain.pem", 0644);
    if (!rc) rc = copy_out(ca, name, ".pem", 0644);
  }
  return rc;
}

int ed_testca_revoke(struct ed_testca *ca, const char *name_or_serial) {
  ca->err[0] = '\0';
  int rc = ed_pki_revoke(ca->pki, NULL, name_or_serial,
                         ED_PKI_REASON_KEY_COMPROMISE);
  return rc ? seterr(ca, rc, ed_pki_last_error(ca->pki)) : 0;
}

int ed_testca_write_crl(struct ed_testca *ca, const char *path,
                        const char *const *serials, size_t num_serials,
                        int days) {
  ca->err[0] = '\0';
  int64_t now = (int64_t)time(NULL);
  int64_t this_update = now - ED_PKI__BACKDATE_S;
  int64_t next_update = now + (int64_t)(days ? days : 7) * DAY;
  if (days < 0) this_update = next_update - 7 * DAY;
  int rc = ed_pki__write_crl_file(ca->pki, path, serials, num_serials,
                                  this_update, next_update);
  return rc ? seterr(ca, rc, ed_pki_last_error(ca->pki)) : 0;
}

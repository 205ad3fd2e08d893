/* pki — index.json and the JSON that list/show print, via cJSON.
 *
 * index.json:
 *   {"version": 1, "crl_number": 2, "crl_days": 7,
 *    "certs": [{"name": "alice", "role": "client", "serial": "5A...",
 *               "not_before": "2026-...Z", "not_after": "...",
 *               "key_type": "p256", "sha256": "ab...", "revoked": false,
 *               "revoked_at": "...", "reason": "keyCompromise",
 *               "cert": "-----BEGIN CERTIFICATE-----..."}]}
 * revoked_at and reason are present only when revoked is true. */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal/base/base.h"
#include "pki/pki_internal.h"

#define INDEX_VERSION 1

char *ed_pki_time_str(char *out, size_t out_len, int64_t t) {
  struct tm tm;
  time_t tt = (time_t)t;
  if (!gmtime_r(&tt, &tm)) {
    snprintf(out, out_len, "invalid");
    return out;
  }
  strftime(out, out_len, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return out;
}

int ed_pki__time_parse(int64_t *out, const char *s) {
  struct tm tm;
  memset(&tm, 0, sizeof(tm));
  int n = 0;
  if (!s || strlen(s) != 20 ||
      sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &tm.tm_year, &tm.tm_mon,
             &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 ||
      n != 20) {
    return ED_E_PARSE;
  }
  if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
      tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60) {
    return ED_E_PARSE;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  *out = (int64_t)timegm(&tm);
  return 0;
}

void ed_pki__index_cleanup(struct ed_pki__index *idx) {
  for (size_t i = 0; i < idx->num_entries; i++) free(idx->entries[i].pem);
  free(idx->entries);
  memset(idx, 0, sizeof(*idx));
}

struct ed_pki__entry *ed_pki__index_append(struct ed_pki__index *idx) {
  idx->entries =
      ed_realloc(idx->entries, (idx->num_entries + 1) * sizeof(*idx->entries));
  struct ed_pki__entry *e = &idx->entries[idx->num_entries++];
  memset(e, 0, sizeof(*e));
  return e;
}

/* ---- rendering ----------------------------------------------------------- */

static void add_time(cJSON *obj, const char *key, int64_t t) {
  char buf[32];
  cJSON_AddStringToObject(obj, key, ed_pki_time_str(buf, sizeof(buf), t));
}

/* info_json adds the fields of |in| that list prints to |obj|. */
static void info_json(cJSON *obj, const struct ed_pki_cert_info *in) {
  cJSON_AddStringToObject(obj, "name", in->name);
  cJSON_AddStringToObject(obj, "role", ed_pki_role_name(in->role));
  cJSON_AddStringToObject(obj, "serial", in->serial);
  add_time(obj, "not_before", in->not_before);
  add_time(obj, "not_after", in->not_after);
  cJSON_AddStringToObject(obj, "key_type", in->key_type);
  cJSON_AddStringToObject(obj, "sha256", in->sha256);
  cJSON_AddBoolToObject(obj, "revoked", in->revoked);
  if (in->revoked) {
    add_time(obj, "revoked_at", in->revoked_at);
    cJSON_AddStringToObject(obj, "reason", ed_pki_reason_name(in->reason));
  }
}

static char *print_free(cJSON *root) {
  char *s = cJSON_Print(root);
  cJSON_Delete(root);
  if (!s) return NULL;
  char *out = ed_strdup(s); /* the caller frees with free(), not cJSON_free */
  cJSON_free(s);
  return out;
}

char *ed_pki__index_render(const struct ed_pki__index *idx) {
  cJSON *root = cJSON_CreateObject();
  cJSON_AddNumberToObject(root, "version", INDEX_VERSION);
  cJSON_AddNumberToObject(root, "crl_number", (double)idx->crl_number);
  cJSON_AddNumberToObject(root, "crl_days", idx->crl_days);
  cJSON *certs = cJSON_AddArrayToObject(root, "certs");
  for (size_t i = 0; i < idx->num_entries; i++) {
    cJSON *obj = cJSON_CreateObject();
    info_json(obj, &idx->entries[i].info);
    cJSON_AddStringToObject(obj, "cert", idx->entries[i].pem);
    cJSON_AddItemToArray(certs, obj);
  }
  return print_free(root);
}

char *ed_pki_list_json(const struct ed_pki_cert_info *infos, size_t num) {
  cJSON *arr = cJSON_CreateArray();
  for (size_t i = 0; i < num; i++) {
    cJSON *obj = cJSON_CreateObject();
    info_json(obj, &infos[i]);
    cJSON_AddItemToArray(arr, obj);
  }
  return print_free(arr);
}

static void add_strings(cJSON *obj, const char *key, char **list, size_t n) {
  cJSON *arr = cJSON_AddArrayToObject(obj, key);
  for (size_t i = 0; i < n; i++) {
    cJSON_AddItemToArray(arr, cJSON_CreateString(list[i]));
  }
}

char *ed_pki_details_json(const struct ed_pki_cert_details *d) {
  cJSON *obj = cJSON_CreateObject();
  info_json(obj, &d->info);
  if (d->cn) cJSON_AddStringToObject(obj, "cn", d->cn);
  cJSON_AddStringToObject(obj, "subject", d->subject);
  cJSON_AddStringToObject(obj, "issuer", d->issuer);
  add_strings(obj, "sans", d->sans, d->num_sans);
  add_strings(obj, "ekus", d->ekus, d->num_ekus);
  cJSON_AddBoolToObject(obj, "is_ca", d->is_ca);
  return print_free(obj);
}

/* ---- parsing ------------------------------------------------------------- */

/* A parse failure: |where| says which entry, the message what is wrong. */
struct parse_ctx {
  char *err;
  size_t err_len;
  size_t i;
};

static int bad(struct parse_ctx *c, const char *field, const char *what) {
  return ed_pki__fmt_err(c->err, c->err_len, ED_E_PARSE,
                         "certs[%zu]: %s \"%s\"", c->i, what, field);
}

static const char *get_str(const cJSON *obj, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int get_copy(struct parse_ctx *c, const cJSON *obj, const char *key,
                    char *out, size_t out_len) {
  const char *s = get_str(obj, key);
  if (!s) return bad(c, key, "missing or non-string");
  if (strlen(s) >= out_len) return bad(c, key, "too long");
  memcpy(out, s, strlen(s) + 1);
  return 0;
}

static int get_time(struct parse_ctx *c, const cJSON *obj, const char *key,
                    int64_t *out) {
  if (ed_pki__time_parse(out, get_str(obj, key)) != 0)
    return bad(c, key, "missing or malformed time");
  return 0;
}

static int parse_role(struct parse_ctx *c, const cJSON *obj,
                      enum ed_pki_role *out) {
  const char *r = get_str(obj, "role");
  if (r && strcmp(r, "server") == 0) {
    *out = ED_PKI_SERVER;
  } else if (r && strcmp(r, "client") == 0) {
    *out = ED_PKI_CLIENT;
  } else {
    return bad(c, "role", "missing or unknown");
  }
  return 0;
}

static int parse_revocation(struct parse_ctx *c, const cJSON *obj,
                            struct ed_pki_cert_info *in) {
  const cJSON *rev = cJSON_GetObjectItemCaseSensitive(obj, "revoked");
  if (!cJSON_IsBool(rev)) return bad(c, "revoked", "missing or non-boolean");
  in->revoked = cJSON_IsTrue(rev);
  if (!in->revoked) return 0;
  int err = get_time(c, obj, "revoked_at", &in->revoked_at);
  if (err) return err;
  if (ed_pki_reason_parse(&in->reason, get_str(obj, "reason")) != 0)
    return bad(c, "reason", "missing or unknown");
  return 0;
}

static int parse_entry(struct parse_ctx *c, const cJSON *obj,
                       struct ed_pki__entry *e) {
  struct ed_pki_cert_info *in = &e->info;
  int err;
  if (!cJSON_IsObject(obj)) return bad(c, "", "not an object");
  if ((err = get_copy(c, obj, "name", in->name, sizeof(in->name))) ||
      (err = parse_role(c, obj, &in->role)) ||
      (err = get_copy(c, obj, "serial", in->serial, sizeof(in->serial))) ||
      (err = get_time(c, obj, "not_before", &in->not_before)) ||
      (err = get_time(c, obj, "not_after", &in->not_after)) ||
      (err =
           get_copy(c, obj, "key_type", in->key_type, sizeof(in->key_type))) ||
      (err = get_copy(c, obj, "sha256", in->sha256, sizeof(in->sha256))) ||
      (err = parse_revocation(c, obj, in))) {
    return err;
  }
  /* Names become paths: never trust them from the file. */
  if (ed_pki_check_name(in->name, NULL, 0) != 0)
    return bad(c, "name", "invalid");
  if (!ed_pki__serial_ok(in->serial)) return bad(c, "serial", "invalid");
  const char *pem = get_str(obj, "cert");
  if (!pem || !strstr(pem, "-----BEGIN CERTIFICATE-----"))
    return bad(c, "cert", "missing or not a PEM certificate");
  e->pem = ed_strdup(pem);
  return 0;
}

static int parse_header(const cJSON *root, struct ed_pki__index *out, char *err,
                        size_t err_len) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "version");
  const cJSON *n = cJSON_GetObjectItemCaseSensitive(root, "crl_number");
  const cJSON *d = cJSON_GetObjectItemCaseSensitive(root, "crl_days");
  if (!cJSON_IsNumber(v) || v->valueint != INDEX_VERSION)
    return ed_pki__fmt_err(err, err_len, ED_E_PARSE,
                           "missing or unsupported \"version\"");
  if (!cJSON_IsNumber(n) || n->valuedouble < 0 || n->valuedouble > 9e15)
    return ed_pki__fmt_err(err, err_len, ED_E_PARSE, "bad \"crl_number\"");
  if (!cJSON_IsNumber(d) || d->valueint < 1 || d->valueint > ED_PKI_MAX_DAYS)
    return ed_pki__fmt_err(err, err_len, ED_E_PARSE, "bad \"crl_days\"");
  out->crl_number = (int64_t)n->valuedouble;
  out->crl_days = d->valueint;
  return 0;
}

int ed_pki__index_parse(struct ed_pki__index *out, const char *json, char *err,
                        size_t err_len) {
  memset(out, 0, sizeof(*out));
  cJSON *root = cJSON_Parse(json);
  if (!cJSON_IsObject(root)) {
    cJSON_Delete(root);
    return ed_pki__fmt_err(err, err_len, ED_E_PARSE, "not a JSON object");
  }
  int rc = parse_header(root, out, err, err_len);
  const cJSON *certs = cJSON_GetObjectItemCaseSensitive(root, "certs");
  if (!rc && !cJSON_IsArray(certs))
    rc = ed_pki__fmt_err(err, err_len, ED_E_PARSE, "missing \"certs\" array");
  struct parse_ctx c = {err, err_len, 0};
  const cJSON *item;
  if (rc) certs = NULL;
  cJSON_ArrayForEach(item, certs) {
    rc = parse_entry(&c, item, ed_pki__index_append(out));
    if (rc) break;
    c.i++;
  }
  cJSON_Delete(root);
  if (rc) ed_pki__index_cleanup(out);
  return rc;
}

/* pki test helpers — see test_util.h. */
#include "pki/test_util.h"

#include <dirent.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal/base/base.h"

char *pkit_tmpdir(const char *tag) {
  const char *base = getenv("TEST_TMPDIR");
  char tmpl[1024];
  snprintf(tmpl, sizeof(tmpl), "%s/%s.XXXXXX", base && *base ? base : "/tmp",
           tag);
  if (!mkdtemp(tmpl)) {
    perror("mkdtemp");
    abort();
  }
  return ed_strdup(tmpl);
}

const char *pkit_path(const char *dir, const char *file) {
  static char ring[8][1024];
  static int next;
  char *p = ring[next++ % 8];
  snprintf(p, 1024, "%s/%s", dir, file);
  return p;
}

char *pkit_read(const char *path, size_t *out_len) {
  uint8_t *data = NULL;
  size_t len = 0;
  if (ed_read_file(&data, &len, path, 1 << 24) != 0) return NULL;
  if (out_len) *out_len = len;
  return (char *)data;
}

static void snap_dir(struct ed_buf *b, const char *dir, const char *prefix) {
  struct dirent **names = NULL;
  int n = scandir(dir, &names, NULL, alphasort);
  for (int i = 0; i < n; i++) {
    const char *name = names[i]->d_name;
    char path[2048], rel[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    snprintf(rel, sizeof(rel), "%s%s", prefix, name);
    struct stat st;
    if (strcmp(name, ".") && strcmp(name, "..") && lstat(path, &st) == 0) {
      ed_buf_printf(b, "%s %o %lld", rel, (unsigned)st.st_mode,
                    (long long)st.st_size);
      size_t len = 0;
      char *data = S_ISREG(st.st_mode) ? pkit_read(path, &len) : NULL;
      uint8_t md[SHA256_DIGEST_LENGTH];
      if (data) SHA256((const uint8_t *)data, len, md);
      for (int k = 0; data && k < SHA256_DIGEST_LENGTH; k++)
        ed_buf_printf(b, "%s%02x", k ? "" : " ", md[k]);
      ed_buf_printf(b, "\n");
      free(data);
      if (S_ISDIR(st.st_mode)) {
        char sub[1100];
        snprintf(sub, sizeof(sub), "%s/", rel);
        snap_dir(b, path, sub);
      }
    }
    free(names[i]);
  }
  free(names);
}

char *pkit_snapshot(const char *dir) {
  struct ed_buf b;
  ed_buf_init(&b, 1 << 20);
  snap_dir(&b, dir, "");
  char *s = ed_strdup(ed_buf_cstr(&b));
  ed_buf_cleanup(&b);
  return s;
}

X509 *pkit_load_cert(const char *path) {
  size_t len = 0;
  char *pem = pkit_read(path, &len);
  BIO *b = pem ? BIO_new_mem_buf(pem, (int)len) : NULL;
  X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
  BIO_free(b);
  free(pem);
  return x;
}

X509_CRL *pkit_load_crl(const char *path) {
  size_t len = 0;
  char *pem = pkit_read(path, &len);
  BIO *b = pem ? BIO_new_mem_buf(pem, (int)len) : NULL;
  X509_CRL *c = b ? PEM_read_bio_X509_CRL(b, NULL, NULL, NULL) : NULL;
  BIO_free(b);
  free(pem);
  return c;
}

int pkit_verify(const char *ca_path, const char *leaf_path,
                const char *crl_path, int purpose) {
  X509 *ca = pkit_load_cert(ca_path), *leaf = pkit_load_cert(leaf_path);
  X509_CRL *crl = crl_path ? pkit_load_crl(crl_path) : NULL;
  X509_STORE *st = X509_STORE_new();
  X509_STORE_CTX *ctx = X509_STORE_CTX_new();
  int rc = -1;
  if (ca && leaf && (!crl_path || crl) && st && ctx &&
      X509_STORE_add_cert(st, ca) &&
      (!crl || (X509_STORE_add_crl(st, crl) &&
                X509_STORE_set_flags(st, X509_V_FLAG_CRL_CHECK))) &&
      X509_STORE_CTX_init(ctx, st, leaf, NULL) &&
      (!purpose || X509_STORE_CTX_set_purpose(ctx, purpose))) {
    rc = X509_verify_cert(ctx) == 1 ? 0 : X509_STORE_CTX_get_error(ctx);
  }
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(st);
  X509_CRL_free(crl);
  X509_free(leaf);
  X509_free(ca);
  return rc;
}

int pkit_mode(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 ? (int)(st.st_mode & 07777) : -1;
}

int pkit_contains(const char *s, const char *sub) {
  return s && sub && strstr(s, sub) != NULL;
}

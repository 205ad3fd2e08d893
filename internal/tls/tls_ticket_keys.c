/* internal/tls — the ticket-keys file (--ticket-keys, see tls.h): parse
 * its lines, format one, load it into a ring. The format is deliberately
 * small - a version tag and hex - so that `echo "v1:$(openssl rand -hex
 * 32)"` writes a valid key and anything else is refused with the line it
 * is on. */
#include <openssl/mem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/tls/tls_internal.h"

#define TAG "v1:"
#define TAG_LEN 3

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r';
}

/* parse_key reads "v1:" + 64 hex digits, exactly |len| bytes. */
static int parse_key(uint8_t out[ED_TLS_TICKET_SECRET_LEN], const char *s,
                     size_t len) {
  if (len != ED_TLS_TICKET_LINE_LEN || memcmp(s, TAG, TAG_LEN) != 0) return -1;
  s += TAG_LEN;
  for (size_t i = 0; i < ED_TLS_TICKET_SECRET_LEN; i++) {
    int hi = hexval((unsigned char)s[2 * i]),
        lo = hexval((unsigned char)s[2 * i + 1]);
    if (hi < 0 || lo < 0) return -1;
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  return 0;
}

/* one_line handles the line |s| (|len| bytes, no newline), number |lineno|.
 * Returns 0 (a key added, or a comment or blank line) or ED_E_PARSE. */
static int one_line(uint8_t (*out)[ED_TLS_TICKET_SECRET_LEN], size_t *num,
                    const char *s, size_t len, size_t lineno, const char *path,
                    char *err, size_t err_len) {
  while (len && is_blank(*s)) s++, len--;
  while (len && is_blank(s[len - 1])) len--;
  if (len == 0 || s[0] == '#') return 0;
  uint8_t key[ED_TLS_TICKET_SECRET_LEN];
  const char *why = NULL;
  if (parse_key(key, s, len) != 0) {
    why = "expected v1: and 64 hex digits (echo-pki ticket-keys makes them)";
  } else if (*num == ED_TLS_TICKET_KEYS_MAX) {
    why = "more than 16 keys; drop the oldest (the last lines)";
  } else {
    for (size_t i = 0; i < *num && !why; i++)
      if (CRYPTO_memcmp(out[i], key, sizeof(key)) == 0)
        why = "this key is already on an earlier line";
  }
  if (!why) memcpy(out[(*num)++], key, sizeof(key));
  OPENSSL_cleanse(key, sizeof(key));
  if (!why) return 0;
  ed_tls_set_err(err, err_len, "ticket-keys file %s line %zu: %s", path, lineno,
                 why);
  return ED_E_PARSE;
}

int ed_tls_ticket_keys_parse(uint8_t (*out)[ED_TLS_TICKET_SECRET_LEN],
                             size_t *out_num, const char *text, size_t len,
                             const char *path, char *err, size_t err_len) {
  size_t lineno = 0, num = 0;
  *out_num = 0;
  for (size_t at = 0; at < len;) {
    const char *nl = memchr(text + at, '\n', len - at);
    size_t n = nl ? (size_t)(nl - (text + at)) : len - at;
    int rc = one_line(out, &num, text + at, n, ++lineno, path, err, err_len);
    if (rc) {
      OPENSSL_cleanse(out, num * ED_TLS_TICKET_SECRET_LEN);
      return rc;
    }
    at += n + 1;
  }
  if (num == 0) {
    ed_tls_set_err(err, err_len,
                   "ticket-keys file %s holds no key (make one: echo-pki "
                   "ticket-keys --out %s)",
                   path, path);
    return ED_E_PARSE;
  }
  *out_num = num;
  return 0;
}

void ed_tls_ticket_key_format(char *out,
                              const uint8_t secret[ED_TLS_TICKET_SECRET_LEN]) {
  memcpy(out, TAG, TAG_LEN);
  ed_tls_hex(out + TAG_LEN, secret, ED_TLS_TICKET_SECRET_LEN);
}

int ed_tls_keyring_load(struct ed_tls_keyring **out, const char *path,
                        int allow_group_read, char *err, size_t err_len) {
  *out = NULL;
  int rc = ed_tls_check_secret_mode(path, "ticket-keys file", allow_group_read,
                                    err, err_len);
  uint8_t *text = NULL;
  size_t len = 0;
  if (!rc) rc = ed_read_file(&text, &len, path, ED_TLS_TICKET_FILE_MAX);
  if (rc && !text && rc != ED_E_INSECURE)
    ed_tls_set_err(err, err_len, "cannot read ticket-keys file %s: %s", path,
                   rc == ED_E_TOOBIG ? "larger than 64 KiB" : ed_strerror(rc));
  if (rc) return rc;
  uint8_t secrets[ED_TLS_TICKET_KEYS_MAX][ED_TLS_TICKET_SECRET_LEN];
  size_t num = 0;
  rc = ed_tls_ticket_keys_parse(secrets, &num, (const char *)text, len, path,
                                err, err_len);
  OPENSSL_cleanse(text, len);
  free(text);
  if (!rc) *out = ed_tls_keyring_from_secrets(secrets, num);
  OPENSSL_cleanse(secrets, sizeof(secrets));
  return rc;
}

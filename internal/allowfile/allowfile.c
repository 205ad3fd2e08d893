/* internal/allowfile — see allowfile.h. */
#include "internal/allowfile/allowfile.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/base/base.h"

static void list_add(struct ed_allowfile_list *l, const char *v, size_t n,
                     unsigned line) {
  l->items = ed_realloc(l->items, (l->num + 1) * sizeof(*l->items));
  l->lines = ed_realloc(l->lines, (l->num + 1) * sizeof(*l->lines));
  char *s = ed_malloc(n + 1);
  memcpy(s, v, n);
  s[n] = '\0';
  l->items[l->num] = s;
  l->lines[l->num++] = line;
}

static void list_free(struct ed_allowfile_list *l) {
  for (size_t i = 0; i < l->num; i++) free(l->items[i]);
  free(l->items);
  free(l->lines);
  memset(l, 0, sizeof(*l));
}

void ed_allowfile_cleanup(struct ed_allowfile *a) {
  list_free(&a->cn);
  list_free(&a->san);
  list_free(&a->sha256);
}

/* control_byte returns the first byte of |s| that is a control character
 * (below 0x20, or DEL), or -1. Bytes of 0x80 and above (UTF-8) are fine:
 * values match byte for byte. */
static int control_byte(const uint8_t *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] < 0x20 || s[i] == 0x7f) return s[i];
  return -1;
}

/* pin normalizes a SHA-256 fingerprint (64 hex digits, colons allowed)
 * into |out| as 64 lowercase digits. Returns 0, or -1 if it is not one. */
static int pin(char out[65], const char *v, size_t n) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (v[i] == ':') continue;
    if (!isxdigit((unsigned char)v[i]) || k == 64) return -1;
    out[k++] = (char)tolower((unsigned char)v[i]);
  }
  out[k] = '\0';
  return k == 64 ? 0 : -1;
}

/* entry adds one non-blank, non-comment line. Returns NULL or why not. */
static const char *entry(struct ed_allowfile *out, const char *s, size_t n,
                         unsigned line) {
  const char *sp = memchr(s, ' ', n);
  size_t kw = sp ? (size_t)(sp - s) : n;
  const char *v = sp ? sp + 1 : s + n;
  size_t vn = (size_t)(s + n - v);
  struct ed_allowfile_list *l = NULL;
  if (kw == 8 && !memcmp(s, "allow-cn", 8))
    l = &out->cn;
  else if (kw == 9 && !memcmp(s, "allow-san", 9))
    l = &out->san;
  else if (kw == 12 && !memcmp(s, "allow-sha256", 12))
    l = &out->sha256;
  else
    return "unknown keyword (use allow-cn, allow-san or allow-sha256, then "
           "one space and the value)";
  if (vn == 0) return "no value after the keyword";
  char hex[65];
  if (l == &out->sha256) {
    if (pin(hex, v, vn))
      return "allow-sha256 is not a SHA-256 fingerprint (64 hex digits, "
             "colons allowed)";
    v = hex, vn = 64;
  }
  list_add(l, v, vn, line);
  return NULL;
}

int ed_allowfile_parse(struct ed_allowfile *out, const char *name,
                       const uint8_t *buf, size_t len, char *err,
                       size_t err_len) {
  unsigned line = 0;
  for (size_t off = 0; off < len;) {
    const uint8_t *nl = memchr(buf + off, '\n', len - off);
    size_t n = nl ? (size_t)(nl - (buf + off)) : len - off;
    const char *s = (const char *)buf + off;
    const char *why = NULL;
    char what[64];
    off += n + (nl != NULL);
    line++;
    int c = control_byte((const uint8_t *)s, n);
    if (c == '\r') {
      why = "carriage return (CRLF line ends are not allowed)";
    } else if (c >= 0) {
      snprintf(what, sizeof(what), "control byte 0x%02x", (unsigned)c);
      why = what;
    } else if (n > 0 && s[0] != '#') {
      why = entry(out, s, n, line);
    }
    if (why) {
      snprintf(err, err_len, "%s:%u: %s", name, line, why);
      ed_allowfile_cleanup(out);
      return ED_E_PARSE;
    }
  }
  return 0;
}

int ed_allowfile_load(struct ed_allowfile *out, const char *path, char *err,
                      size_t err_len) {
  uint8_t *buf = NULL;
  size_t len = 0;
  int rc = ed_read_file(&buf, &len, path, ED_ALLOWFILE_MAX);
  if (rc == ED_E_TOOBIG) {
    snprintf(err, err_len, "%s: allow file larger than %u bytes (1 MiB)", path,
             ED_ALLOWFILE_MAX);
    return rc;
  }
  if (rc) {
    snprintf(err, err_len, "%s: cannot read allow file: %s", path,
             ed_strerror(rc));
    return rc;
  }
  rc = ed_allowfile_parse(out, path, buf, len, err, err_len);
  free(buf);
  return rc;
}

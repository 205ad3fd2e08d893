/* internal/base — --log-format json: one logfmt line (as ed_vlog builds it)
 * turned into one JSON object. See ed_log_json_from_logfmt in base.h.
 *
 * Call sites keep writing logfmt ("k=%s", ed_logq for values that need
 * quotes), so json mode parses what they produced instead of asking them
 * for structured fields: no call site changes, and both formats always
 * carry the same keys and values. */
#include <stdint.h>
#include <string.h>

#include "internal/base/base.h"

/* Room kept for ',"truncated":"true"}' and the NUL, so a line that does
 * not fit still ends as valid JSON. */
#define JSON_TAIL 24

/* A bounded writer: |len| never passes |cap| - JSON_TAIL while pairs are
 * added; a pair that does not fit is rolled back whole. */
struct jw {
  char *out;
  size_t cap, len;
  int full;
};

static void put(struct jw *w, const char *s, size_t n) {
  if (w->full || w->len + n + JSON_TAIL > w->cap) {
    w->full = 1;
    return;
  }
  memcpy(w->out + w->len, s, n);
  w->len += n;
}

/* utf8_seq returns the length (2-4) of the valid, shortest-form UTF-8
 * sequence at |s| (|n| bytes left), or 0. Surrogates and code points past
 * U+10FFFF are invalid, as in RFC 3629. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  size_t len;
  uint32_t cp, min;
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2, cp = c & 0x1f, min = 0x80;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3, cp = c & 0x0f, min = 0x800;
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4, cp = c & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (n < len) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return len;
}

/* put_ascii writes one byte below 0x80 of a decoded value as JSON string
 * content. */
static void put_ascii(struct jw *w, unsigned char c) {
  static const char hex[] = "0123456789abcdef";
  char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
  switch (c) {
    case '"':
      put(w, "\\\"", 2);
      return;
    case '\\':
      put(w, "\\\\", 2);
      return;
    case '\n':
      put(w, "\\n", 2);
      return;
    case '\r':
      put(w, "\\r", 2);
      return;
    case '\t':
      put(w, "\\t", 2);
      return;
    default:
      break;
  }
  if (c < 0x20 || c == 0x7f) {
    put(w, e, 6);
  } else {
    put(w, (const char *)&c, 1);
  }
}

/* put_string writes |s| (|n| bytes, any bytes) as JSON string content:
 * valid UTF-8 as is (U+2028/U+2029 escaped, for JavaScript consumers),
 * each byte that does not start a valid sequence as U+FFFD. */
static void put_string(struct jw *w, const unsigned char *s, size_t n) {
  for (size_t i = 0; i < n;) {
    if (s[i] < 0x80) {
      put_ascii(w, s[i++]);
      continue;
    }
    size_t len = utf8_seq(s + i, n - i);
    if (len == 0) {
      put(w, "\xef\xbf\xbd", 3);
      i++;
    } else if (len == 3 && s[i] == 0xe2 && s[i + 1] == 0x80 &&
               (s[i + 2] == 0xa8 || s[i + 2] == 0xa9)) {
      put(w, s[i + 2] == 0xa8 ? "\\u2028" : "\\u2029", 6);
      i += 3;
    } else {
      put(w, (const char *)s + i, len);
      i += len;
    }
  }
}

static int hexval(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* unquote decodes the quoted value after the opening quote at |*p| into
 * |dst| (at least as large as the input), undoing ed_logq's escapes (\"
 * \\ \n \t \xNN; any other backslash is kept as is). Stops at the closing
 * quote or, for a line cut short, at |end|. Returns the decoded length and
 * advances |*p| past the closing quote. */
static size_t unquote(unsigned char *dst, const char **p, const char *end) {
  const char *s = *p;
  size_t n = 0;
  while (s < end && *s != '"') {
    char e = s + 1 < end ? s[1] : '\0';
    int hi = end - s >= 4 ? hexval((unsigned char)s[2]) : -1;
    int lo = end - s >= 4 ? hexval((unsigned char)s[3]) : -1;
    if (*s == '\\' && (e == '"' || e == '\\')) {
      dst[n++] = (unsigned char)e, s += 2;
    } else if (*s == '\\' && (e == 'n' || e == 't')) {
      dst[n++] = e == 'n' ? '\n' : '\t', s += 2;
    } else if (*s == '\\' && e == 'x' && hi >= 0 && lo >= 0) {
      dst[n++] = (unsigned char)(hi << 4 | lo), s += 4;
    } else {
      dst[n++] = (unsigned char)*s++;
    }
  }
  *p = s < end ? s + 1 : s;
  return n;
}

/* put_pair writes ,"key":"value" (|value| raw bytes), or rolls it back
 * whole when it does not fit. */
static void put_pair(struct jw *w, const char *key, size_t key_len,
                     const unsigned char *value, size_t value_len) {
  size_t mark = w->len;
  put(w, mark > 1 ? ",\"" : "\"", mark > 1 ? 2 : 1);
  put_string(w, (const unsigned char *)key, key_len);
  put(w, "\":\"", 3);
  put_string(w, value, value_len);
  put(w, "\"", 1);
  if (w->full) w->len = mark;
}

/* One parsed pair: the key, and the value decoded into a buffer. */
struct pair {
  const char *key;
  size_t key_len, val_len;
  int bare; /* unquoted value: following words may continue it */
};

/* next_pair parses the pair starting at |*p| (after spaces): key=value,
 * key="quoted value", or a word with no '=' (a key with an empty value).
 * Returns 0 at the end of the line, else 1. */
static int next_pair(struct pair *pr, unsigned char *val, const char **p,
                     const char *end) {
  const char *s = *p;
  while (s < end && *s == ' ') s++;
  if (s == end) return 0;
  *pr = (struct pair){s, 0, 0, 0};
  while (s < end && *s != '=' && *s != ' ') s++;
  pr->key_len = (size_t)(s - pr->key);
  if (s < end && *s == '=') {
    s++;
    if (s < end && *s == '"') {
      s++;
      pr->val_len = unquote(val, &s, end);
    } else {
      const char *v = s;
      while (s < end && *s != ' ') s++;
      pr->val_len = (size_t)(s - v);
      memcpy(val, v, pr->val_len);
      pr->bare = 1;
    }
  }
  *p = s;
  return 1;
}

/* continue_word appends the next word to a bare value, spaces included,
 * when that word has no '=': a call site printed "err=%s" with a value
 * that holds spaces, and this keeps the value whole. Returns 1 if it
 * did. */
static int continue_word(struct pair *pr, unsigned char *val, const char **p,
                         const char *end) {
  const char *s = *p;
  while (s < end && *s == ' ') s++;
  if (s == end) return 0;
  const char *t = s;
  while (t < end && *t != '=' && *t != ' ') t++;
  if (t < end && *t == '=') return 0;
  memcpy(val + pr->val_len, *p, (size_t)(t - *p));
  pr->val_len += (size_t)(t - *p);
  *p = t;
  return 1;
}

size_t ed_log_json_from_logfmt(char *out, size_t out_len, const char *line,
                               size_t len) {
  if (out_len < 32) {
    if (out_len) out[0] = '\0';
    return 0;
  }
  /* A decoded value is never longer than the text it came from. */
  unsigned char val[ED_LOG_LINE_MAX];
  if (len > sizeof(val)) len = sizeof(val);
  struct jw w = {out, out_len, 0, 0};
  const char *p = line, *end = line + len;
  struct pair pr;
  put(&w, "{", 1);
  while (next_pair(&pr, val, &p, end)) {
    while (pr.bare && continue_word(&pr, val, &p, end)) {
    }
    put_pair(&w, pr.key, pr.key_len, val, pr.val_len);
  }
  if (w.full) {
    w.full = 0;
    w.cap += JSON_TAIL; /* the reserved tail */
    put(&w, ",\"truncated\":\"true\"", 19);
  }
  out[w.len++] = '}';
  out[w.len] = '\0';
  return w.len;
}

/* internal/base — see base.h. */
#include "internal/base/base.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- errors ------------------------------------------------------------ */

struct err_entry {
  const char *name;
  const char *msg;
};

static const struct err_entry err_table[] = {
#define ED_ERR_ROW_(name, msg) {#name, msg},
    ED_ERRORS(ED_ERR_ROW_)
#undef ED_ERR_ROW_
};

static const struct err_entry *err_lookup(int err) {
  if (err <= ED_E_FIRST_ || err >= ED_E_LAST_) return NULL;
  return &err_table[err - ED_E_FIRST_ - 1];
}

const char *ed_errname(int err) {
  if (err == 0) return "OK";
  const struct err_entry *e = err_lookup(err);
  return e ? e->name : "UNKNOWN";
}

const char *ed_strerror(int err) {
  if (err == 0) return "success";
  const struct err_entry *e = err_lookup(err);
  if (e) return e->msg;
  if (err < 0 && err > ED_E_FIRST_) return strerror(-err);
  return "unknown error";
}

/* ---- allocation ---------------------------------------------------------- */

static void oom(size_t n) {
  char line[128];
  int k = snprintf(line, sizeof(line),
                   ed_log_get_format() == ED_LOG_JSON
                       ? "{\"level\":\"error\",\"msg\":\"out of memory\","
                         "\"bytes\":\"%zu\"}\n"
                       : "level=error msg=\"out of memory\" bytes=%zu\n",
                   n);
  if (k > 0) (void)!write(2, line, (size_t)k);
  abort();
}

void *ed_malloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) oom(n);
  return p;
}

void *ed_calloc(size_t count, size_t size) {
  void *p = calloc(count ? count : 1, size ? size : 1);
  if (!p) oom(count * size);
  return p;
}

void *ed_realloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) oom(n);
  return q;
}

char *ed_strdup(const char *s) {
  if (!s) return NULL;
  return ed_strndup(s, strlen(s));
}

char *ed_strndup(const char *s, size_t n) {
  if (!s) return NULL;
  size_t len = strnlen(s, n);
  char *p = ed_malloc(len + 1);
  memcpy(p, s, len);
  p[len] = '\0';
  return p;
}

/* ---- logging ------------------------------------------------------------- */

static _Atomic int log_level = ED_LOG_INFO;
static _Atomic int log_format = ED_LOG_LOGFMT;
static const char *const level_names[] = {"debug", "info", "warn", "error"};
static const char *const format_names[] = {"logfmt", "json"};

void ed_log_set_level(enum ed_log_level level) {
  atomic_store(&log_level, (int)level);
}

enum ed_log_level ed_log_get_level(void) {
  return (enum ed_log_level)atomic_load(&log_level);
}

int ed_log_level_parse(enum ed_log_level *out, const char *s) {
  for (int i = 0; s && i < 4; i++) {
    if (strcmp(s, level_names[i]) == 0) {
      *out = (enum ed_log_level)i;
      return 0;
    }
  }
  if (s && strcmp(s, "warning") == 0) {
    *out = ED_LOG_WARN;
    return 0;
  }
  return ED_E_INVAL;
}

const char *ed_log_level_name(enum ed_log_level level) {
  if ((int)level < 0 || (int)level > 3) return "unknown";
  return level_names[level];
}

void ed_log_set_format(enum ed_log_format format) {
  atomic_store(&log_format, (int)format);
}

enum ed_log_format ed_log_get_format(void) {
  return (enum ed_log_format)atomic_load(&log_format);
}

int ed_log_format_parse(enum ed_log_format *out, const char *s) {
  for (int i = 0; s && i < 2; i++) {
    if (strcmp(s, format_names[i]) == 0) {
      *out = (enum ed_log_format)i;
      return 0;
    }
  }
  return ED_E_INVAL;
}

const char *ed_log_format_name(enum ed_log_format format) {
  if ((int)format < 0 || (int)format > 1) return "unknown";
  return format_names[format];
}

static int needs_quotes(const char *s) {
  if (*s == '\0') return 1;
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c >= 0x7f) return 1;
  }
  return 0;
}

/* quote writes |len| bytes of |p| into |out| as a quoted logfmt value:
 * \" \\ \n \t, and \xNN for every other control byte and every byte
 * past ASCII (logs are read by machines and grep, and raw UTF-8 brings
 * line separators (U+2028), bidi overrides and invisible characters with
 * it; \xNN is unambiguous). Truncates to fit; |out_len| >= 3. */
static void quote(char *out, size_t out_len, const unsigned char *p,
                  size_t len) {
  size_t o = 0;
  out[o++] = '"';
  for (size_t i = 0; i < len && o + 6 < out_len; i++) {
    unsigned char c = p[i];
    if (c == '"' || c == '\\') {
      out[o++] = '\\';
      out[o++] = (char)c;
    } else if (c == '\n' || c == '\t') {
      out[o++] = '\\';
      out[o++] = c == '\n' ? 'n' : 't';
    } else if (c < ' ' || c >= 0x7f) {
      o += (size_t)snprintf(out + o, out_len - o, "\\x%02x", c);
    } else {
      out[o++] = (char)c;
    }
  }
  out[o++] = '"';
  out[o] = '\0';
}

char *ed_logq(char *out, size_t out_len, const char *s) {
  if (out_len == 0) return out;
  if (!s) s = "";
  if (!needs_quotes(s)) {
    snprintf(out, out_len, "%s", s);
  } else if (out_len < 3) {
    out[0] = '\0';
  } else {
    quote(out, out_len, (const unsigned char *)s, strlen(s));
  }
  return out;
}

char *ed_logq_bytes(char *out, size_t out_len, const void *s, size_t len) {
  if (out_len < 3) {
    if (out_len) out[0] = '\0';
    return out;
  }
  quote(out, out_len, s, len);
  return out;
}

/* emit writes |line| (|len| bytes; one byte of room after them) as one
 * record with one write(2): logfmt as it is, or converted to JSON in a
 * buffer sized for the worst case, so nothing is cut. */
static void emit(char *line, size_t len) {
  if (atomic_load(&log_format) != ED_LOG_JSON) {
    line[len++] = '\n';
    (void)!write(2, line, len);
    return;
  }
  char stack[ED_LOG_JSON_MAX];
  size_t cap = 6 * len + 64; /* ed_log_json_from_logfmt's worst case */
  char *json = cap <= sizeof(stack) ? stack : ed_malloc(cap);
  size_t n = ed_log_json_from_logfmt(json, cap - 1, line, len);
  json[n++] = '\n';
  (void)!write(2, json, n);
  if (json != stack) free(json);
}

/* A line is built in a stack buffer when it fits, else in one heap buffer
 * of its exact size: long CNs and many SANs never push later fields off
 * the line. */
void ed_vlog(enum ed_log_level level, const char *msg, const char *fmt,
             va_list ap) {
  if ((int)level < atomic_load(&log_level)) return;
  char head[96], qstack[256], stack[ED_LOG_LINE_MAX];
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  snprintf(head, sizeof(head),
           "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s msg=",
           tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
           tm.tm_sec, ts.tv_nsec / 1000000, ed_log_level_name(level));
  size_t qcap = 4 * (msg ? strlen(msg) : 0) + 3; /* ed_logq's worst case */
  char *qmsg = qcap <= sizeof(qstack) ? qstack : ed_malloc(qcap);
  ed_logq(qmsg, qcap, msg);
  va_list aq;
  va_copy(aq, ap);
  int body = fmt && *fmt ? vsnprintf(NULL, 0, fmt, aq) : 0;
  va_end(aq);
  if (body < 0) body = 0;
  size_t head_len = strlen(head), qlen = strlen(qmsg);
  size_t need = head_len + qlen + 1 + (size_t)body + 2; /* ' ', '\n', NUL */
  char *line = need <= sizeof(stack) ? stack : ed_malloc(need);
  memcpy(line, head, head_len);
  memcpy(line + head_len, qmsg, qlen);
  size_t len = head_len + qlen;
  if (body > 0) {
    line[len++] = ' ';
    vsnprintf(line + len, need - len, fmt, ap);
    len += (size_t)body;
  }
  emit(line, len);
  if (line != stack) free(line);
  if (qmsg != qstack) free(qmsg);
}

void ed_log(enum ed_log_level level, const char *msg, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  ed_vlog(level, msg, fmt, ap);
  va_end(ap);
}

/* ---- --log-format json ---------------------------------------------------
 * One logfmt line (as ed_vlog builds it) turned into one JSON object; see
 * ed_log_json_from_logfmt in base.h. Call sites keep writing logfmt
 * ("k=%s", ed_logq for values that need quotes), so json mode parses what
 * they produced instead of asking them for structured fields: no call site
 * changes, and both formats always carry the same keys and values. */

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
static size_t utf8_seq(const unsigned char *s, size_t n, uint32_t *out_cp) {
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
  *out_cp = cp;
  return len;
}

/* put_u writes \uXXXX for |cp| (a UTF-16 surrogate pair above U+FFFF). */
static void put_u(struct jw *w, uint32_t cp) {
  static const char hex[] = "0123456789abcdef";
  if (cp > 0xffff) {
    cp -= 0x10000;
    put_u(w, 0xd800 + (cp >> 10));
    put_u(w, 0xdc00 + (cp & 0x3ff));
    return;
  }
  char e[6] = {
      '\\',        'u', hex[cp >> 12], hex[(cp >> 8) & 15], hex[(cp >> 4) & 15],
      hex[cp & 15]};
  put(w, e, 6);
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

/* put_string writes |s| (|n| bytes, any bytes) as JSON string content in
 * ASCII only: every code point past it as a \u escape (as Python's
 * ensure_ascii), so no reader meets a raw U+2028, bidi override or
 * invisible character; each byte that does not start a valid UTF-8
 * sequence as U+FFFD. */
static void put_string(struct jw *w, const unsigned char *s, size_t n) {
  for (size_t i = 0; i < n;) {
    if (s[i] < 0x80) {
      put_ascii(w, s[i++]);
      continue;
    }
    uint32_t cp = 0xfffd;
    size_t len = utf8_seq(s + i, n - i, &cp);
    put_u(w, cp);
    i += len ? len : 1;
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
  unsigned char stack[ED_LOG_LINE_MAX];
  unsigned char *val = len <= sizeof(stack) ? stack : ed_malloc(len);
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
  if (val != stack) free(val);
  return w.len;
}

/* ---- JSON strings that hide a NUL ---------------------------------------- */

/* A member name as it stands in the text (escapes not decoded). */
struct json_key {
  const char *at;
  size_t len;
};

/* json_string scans the string whose opening quote is at text[*i]: leaves
 * *i on its closing quote (or at |len|) and says whether it holds a NUL.
 * Only the escape's next byte is skipped: \uXXXX's digits hold no quote
 * or backslash. */
static int json_string(const char *text, size_t len, size_t *i) {
  int nul = 0;
  size_t j = *i + 1;
  for (; j < len && text[j] != '"'; j++) {
    if (text[j] == '\0') nul = 1;
    if (text[j] != '\\' || j + 1 >= len) continue;
    if (text[j + 1] == 'u' && len - j >= 6 &&
        memcmp(text + j + 2, "0000", 4) == 0)
      nul = 1;
    j++;
  }
  *i = j;
  return nul;
}

static void json_key_copy(char *out, size_t out_len, struct json_key k) {
  size_t n = 0;
  for (size_t i = 0; i < k.len && n + 1 < out_len; i++) {
    unsigned char c = (unsigned char)k.at[i];
    out[n++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
  }
  if (out_len) out[n] = '\0';
}

int ed_json_find_nul(const char *text, size_t len, char *out_key,
                     size_t out_key_len) {
  enum { MAX_DEPTH = 64 };
  struct json_key scope[MAX_DEPTH + 1] = {{"", 0}};
  size_t depth = 0; /* scope[depth]: the name values here belong to */
  for (size_t i = 0; i < len; i++) {
    char c = text[i];
    size_t d = depth < MAX_DEPTH ? depth : MAX_DEPTH;
    if (c == '{' || c == '[') {
      depth++;
      if (depth <= MAX_DEPTH)
        scope[depth] = c == '[' ? scope[d] : (struct json_key){"", 0};
    } else if ((c == '}' || c == ']') && depth > 0) {
      depth--;
    } else if (c == '\0') { /* outside a string: no valid JSON has one */
      json_key_copy(out_key, out_key_len, scope[d]);
      return 1;
    } else if (c == '"') {
      size_t start = i + 1;
      int nul = json_string(text, len, &i);
      size_t k = i + 1;
      while (k < len && (text[k] == ' ' || text[k] == '\t' || text[k] == '\n' ||
                         text[k] == '\r'))
        k++;
      struct json_key name = {text + start, i - start};
      int is_name = k < len && text[k] == ':';
      if (is_name) scope[d] = name;
      if (nul) {
        json_key_copy(out_key, out_key_len, is_name ? name : scope[d]);
        return 1;
      }
    }
  }
  return 0;
}

/* ---- buffer -------------------------------------------------------------- */

void ed_buf_init(struct ed_buf *b, size_t cap) {
  b->data = NULL;
  b->len = 0;
  b->alloc = 0;
  b->cap = cap;
}

void ed_buf_cleanup(struct ed_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->alloc = 0;
}

/* buf_reserve makes room for |extra| more bytes plus a NUL. */
static int buf_reserve(struct ed_buf *b, size_t extra) {
  if (extra > b->cap - b->len) return ED_E_TOOBIG;
  size_t need = b->len + extra + 1;
  if (need <= b->alloc) return 0;
  size_t n = b->alloc ? b->alloc : 64;
  while (n < need) n *= 2;
  if (n > b->cap + 1) n = b->cap + 1;
  b->data = ed_realloc(b->data, n);
  b->alloc = n;
  return 0;
}

int ed_buf_append(struct ed_buf *b, const void *data, size_t len) {
  if (len == 0) return 0;
  int err = buf_reserve(b, len);
  if (err) return err;
  memcpy(b->data + b->len, data, len);
  b->len += len;
  b->data[b->len] = 0;
  return 0;
}

int ed_buf_printf(struct ed_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) return ED_E_INVAL;
  int err = buf_reserve(b, (size_t)n);
  if (err) return err;
  va_start(ap, fmt);
  vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
  return 0;
}

void ed_buf_consume(struct ed_buf *b, size_t n) {
  if (n >= b->len) {
    b->len = 0;
    return;
  }
  memmove(b->data, b->data + n, b->len - n);
  b->len -= n;
}

void ed_buf_reset(struct ed_buf *b) {
  b->len = 0;
}

size_t ed_buf_space(const struct ed_buf *b) {
  return b->cap - b->len;
}

int ed_buf_reserve(struct ed_buf *b, size_t total) {
  if (total > b->cap) return ED_E_TOOBIG;
  if (total + 1 <= b->alloc) return 0; /* + 1: the NUL buf_reserve keeps */
  b->data = ed_realloc(b->data, total + 1);
  b->alloc = total + 1;
  return 0;
}

const char *ed_buf_cstr(struct ed_buf *b) {
  if (!b->data) return "";
  b->data[b->len] = 0; /* buf_reserve always leaves room for it */
  return (const char *)b->data;
}

/* ---- helpers ------------------------------------------------------------- */

uint64_t ed_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t ed_wall_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int errno_to_ed(int e) {
  switch (e) {
    case ENOENT:
    case ENOTDIR:
      return ED_E_NOENT;
    case EACCES:
    case EPERM:
      return ED_E_PERM;
    case EEXIST:
      return ED_E_EXIST;
    default:
      return ED_E_IO;
  }
}

int ed_read_file(uint8_t **out, size_t *out_len, const char *path, size_t max) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_to_ed(errno);
  struct ed_buf b;
  ed_buf_init(&b, max);
  uint8_t chunk[8192];
  int err = 0;
  for (;;) {
    ssize_t n = read(fd, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      err = errno_to_ed(errno);
      break;
    }
    if (n == 0) break;
    if ((err = ed_buf_append(&b, chunk, (size_t)n)) != 0) break;
  }
  close(fd);
  if (err) {
    ed_buf_cleanup(&b);
    return err;
  }
  ed_buf_cstr(&b);
  if (!b.data) b.data = ed_calloc(1, 1);
  *out = b.data;
  *out_len = b.len;
  return 0;
}

int ed_write_file_atomic(const char *path, const void *data, size_t len,
                         unsigned mode) {
  size_t plen = strlen(path);
  char *tmp = ed_malloc(plen + 16);
  snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
  int fd = mkstemp(tmp);
  if (fd < 0) {
    int err = errno_to_ed(errno);
    free(tmp);
    return err;
  }
  int err = 0;
  if (fchmod(fd, (mode_t)mode) != 0) err = errno_to_ed(errno);
  const uint8_t *p = data;
  size_t left = len;
  while (!err && left > 0) {
    ssize_t n = write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      err = errno_to_ed(errno);
      break;
    }
    p += n;
    left -= (size_t)n;
  }
  if (!err && fsync(fd) != 0) err = errno_to_ed(errno);
  if (close(fd) != 0 && !err) err = errno_to_ed(errno);
  if (!err && rename(tmp, path) != 0) err = errno_to_ed(errno);
  if (err) unlink(tmp);
  free(tmp);
  return err;
}

/* base_dir_for picks what a relative path is relative to (see
 * ed_path_resolve): a new string, or NULL when unknown. */
static char *base_dir_for(const char *base_dir) {
  if (base_dir && *base_dir) return ed_path_resolve(NULL, base_dir);
  const char *w = getenv("BUILD_WORKING_DIRECTORY");
  if (w && w[0] == '/') return ed_strdup(w);
  char *cwd = getcwd(NULL, 0); /* glibc allocates */
  if (!cwd) return NULL;
  char *copy = ed_strdup(cwd);
  free(cwd);
  return copy;
}

char *ed_path_resolve(const char *base_dir, const char *path) {
  if (!path) return NULL;
  if (path[0] == '/') return ed_strdup(path);
  char *base = base_dir_for(base_dir);
  if (!base || base[0] != '/') {
    free(base);
    return ed_strdup(path);
  }
  while (path[0] == '.' && path[1] == '/') {
    path += 2;
    while (*path == '/') path++;
  }
  if (strcmp(path, ".") == 0) path = "";
  size_t blen = strlen(base);
  while (blen > 1 && base[blen - 1] == '/') blen--;
  base[blen] = '\0';
  const char *sep = *path && blen > 1 ? "/" : "";
  size_t n = blen + strlen(sep) + strlen(path) + 1;
  char *out = ed_malloc(n);
  snprintf(out, n, "%s%s%s", base, sep, path);
  free(base);
  return out;
}

/* state_dir is ed_state_dir's rule, with or without $ECHOD_STATE_DIR. */
static int state_dir(char *out, size_t out_len, int use_env) {
  const char *v;
  char *dir;
  if (use_env && (v = getenv("ECHOD_STATE_DIR")) && *v) {
    dir = ed_path_resolve(NULL, v);
  } else if ((v = getenv("XDG_STATE_HOME")) && *v) {
    char *xdg = ed_path_resolve(NULL, v);
    size_t n = strlen(xdg) + sizeof("/echod");
    dir = ed_malloc(n);
    snprintf(dir, n, "%s/echod", xdg);
    free(xdg);
  } else if ((v = getenv("HOME")) && *v) {
    size_t n = strlen(v) + sizeof("/.local/state/echod");
    dir = ed_malloc(n);
    snprintf(dir, n, "%s/.local/state/echod", v);
  } else {
    dir = ed_strdup("/var/lib/echod");
  }
  int n = snprintf(out, out_len, "%s", dir);
  free(dir);
  return (n < 0 || (size_t)n >= out_len) ? ED_E_TOOBIG : 0;
}

int ed_state_dir(char *out, size_t out_len) {
  return state_dir(out, out_len, 1);
}

int ed_state_dir_unset(char *out, size_t out_len) {
  return state_dir(out, out_len, 0);
}

static int has_ca(const char *state_dir) {
  char p[4200];
  int n = snprintf(p, sizeof(p), "%s/pki/ca.pem", state_dir);
  return n > 0 && (size_t)n < sizeof(p) && access(p, R_OK) == 0;
}

int ed_tool_state_dir(char *out, size_t out_len, const char *service_dir) {
  int rc = ed_state_dir(out, out_len);
  if (rc) return rc;
  const char *v = getenv("ECHOD_STATE_DIR");
  if ((v && *v) || has_ca(out) || !has_ca(service_dir)) return 0;
  int n = snprintf(out, out_len, "%s", service_dir);
  return (n < 0 || (size_t)n >= out_len) ? ED_E_TOOBIG : 1;
}

int ed_mkdir_p(const char *path, unsigned mode) {
  char *p = ed_strdup(path);
  int err = 0;
  for (char *s = p + 1;; s++) {
    if (*s != '/' && *s != '\0') continue;
    char c = *s;
    *s = '\0';
    if (mkdir(p, (mode_t)mode) != 0 && errno != EEXIST) {
      err = errno_to_ed(errno);
      break;
    }
    *s = c;
    if (c == '\0') break;
  }
  free(p);
  if (!err) {
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) err = ED_E_IO;
  }
  return err;
}

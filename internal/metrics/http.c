/* internal/metrics — see http.h. */
#include "internal/metrics/http.h"

#include <string.h>

#include "internal/base/base.h"

/* RFC 9110 tchar: the characters of a method or header name. */
static int is_tchar(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
      (c >= 'A' && c <= 'Z')) {
    return 1;
  }
  return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int lower(int c) {
  return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

static int ieq(const char *a, size_t a_len, const char *b) {
  size_t b_len = strlen(b);
  if (a_len != b_len) return 0;
  for (size_t i = 0; i < a_len; i++) {
    if (lower((unsigned char)a[i]) != b[i]) return 0;
  }
  return 1;
}

/* A line of the head, without its CR LF / LF. */
struct line {
  const char *p;
  size_t len;
};

/* next_line takes the line at |*pos| in |buf[0..end)|, moving |*pos| past
 * its LF. Returns 0, or ED_E_PARSE if the line holds a stray CR or has no
 * LF before |end|. */
static int next_line(struct line *out, const char *buf, size_t end,
                     size_t *pos) {
  const char *nl = memchr(buf + *pos, '\n', end - *pos);
  if (!nl) return ED_E_PARSE;
  out->p = buf + *pos;
  out->len = (size_t)(nl - out->p);
  *pos = (size_t)(nl - buf) + 1;
  if (out->len > 0 && out->p[out->len - 1] == '\r') out->len--;
  if (memchr(out->p, '\r', out->len)) return ED_E_PARSE;
  return 0;
}

/* Skips the empty lines a client may send before a request (RFC 9112
 * 2.2), then finds the empty line that ends the head. Sets |*out_start|
 * and |*out_end| (just past the empty line). Returns 0 or ED_E_AGAIN. */
static int find_head(const char *buf, size_t len, size_t *out_start,
                     size_t *out_end) {
  size_t i = 0;
  while (i < len && (buf[i] == '\r' || buf[i] == '\n')) i++;
  *out_start = i;
  for (; i < len; i++) {
    if (buf[i] != '\n') continue;
    if (i + 1 < len && buf[i + 1] == '\n') {
      *out_end = i + 2;
      return 0;
    }
    if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n') {
      *out_end = i + 3;
      return 0;
    }
  }
  return ED_E_AGAIN;
}

static int parse_method(struct ed_http_request *out, const char *p,
                        size_t len) {
  if (len == 0) return ED_E_PARSE;
  for (size_t i = 0; i < len; i++) {
    if (!is_tchar((unsigned char)p[i])) return ED_E_PARSE;
  }
  out->method_str = p;
  out->method_len = len;
  /* Methods are case-sensitive. */
  if (len == 3 && memcmp(p, "GET", 3) == 0) {
    out->method = ED_HTTP_GET;
  } else if (len == 4 && memcmp(p, "HEAD", 4) == 0) {
    out->method = ED_HTTP_HEAD;
  } else {
    out->method = ED_HTTP_OTHER;
  }
  return 0;
}

static int parse_target(struct ed_http_request *out, const char *p,
                        size_t len) {
  if (len == 0) return ED_E_PARSE;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)p[i];
    if (c <= 0x20 || c >= 0x7f) return ED_E_PARSE;
  }
  const char *q = memchr(p, '?', len);
  out->path = p;
  out->path_len = q ? (size_t)(q - p) : len;
  return 0;
}

/* "GET /metrics HTTP/1.1": exactly one space between the three parts. */
static int parse_request_line(struct ed_http_request *out,
                              const struct line *l) {
  const char *sp1 = memchr(l->p, ' ', l->len);
  if (!sp1) return ED_E_PARSE;
  size_t rest = l->len - (size_t)(sp1 + 1 - l->p);
  const char *sp2 = memchr(sp1 + 1, ' ', rest);
  if (!sp2) return ED_E_PARSE;
  const char *ver = sp2 + 1;
  size_t ver_len = l->len - (size_t)(ver - l->p);
  if (parse_method(out, l->p, (size_t)(sp1 - l->p)) != 0 ||
      parse_target(out, sp1 + 1, (size_t)(sp2 - sp1 - 1)) != 0) {
    return ED_E_PARSE;
  }
  if (ver_len != 8 || memcmp(ver, "HTTP/1.", 7) != 0) return ED_E_PARSE;
  if (ver[7] != '0' && ver[7] != '1') return ED_E_PARSE;
  out->minor_version = ver[7] - '0';
  out->keep_alive = out->minor_version == 1;
  return 0;
}

/* Walks the comma-separated tokens of a Connection header. "close"
 * anywhere, in any Connection header, wins over "keep-alive". */
static void parse_connection(struct ed_http_request *out, int *saw_close,
                             const char *v, size_t len) {
  size_t i = 0;
  while (i < len) {
    while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) i++;
    size_t s = i;
    while (i < len && v[i] != ',' && v[i] != ' ' && v[i] != '\t') i++;
    if (ieq(v + s, i - s, "close")) *saw_close = 1;
    if (ieq(v + s, i - s, "keep-alive") && out->minor_version == 0) {
      out->keep_alive = 1;
    }
  }
  if (*saw_close) out->keep_alive = 0;
}

/* Content-Length: digits only; a repeat must carry the same value. */
static int parse_content_length(struct ed_http_request *out, int *seen,
                                const char *v, size_t len) {
  uint64_t n = 0;
  if (len == 0 || len > 18) return ED_E_PARSE;
  for (size_t i = 0; i < len; i++) {
    if (v[i] < '0' || v[i] > '9') return ED_E_PARSE;
    n = n * 10 + (uint64_t)(v[i] - '0');
  }
  if (*seen && n != out->content_length) return ED_E_PARSE;
  *seen = 1;
  out->content_length = n;
  if (n > 0) out->has_body = 1;
  return 0;
}

struct hdr_state {
  int has_host;
  int has_length;
  int saw_close;
};

static int parse_header(struct ed_http_request *out, struct hdr_state *st,
                        const struct line *l) {
  const char *colon = memchr(l->p, ':', l->len);
  if (!colon || colon == l->p) return ED_E_PARSE;
  size_t name_len = (size_t)(colon - l->p);
  for (size_t i = 0; i < name_len; i++) {
    if (!is_tchar((unsigned char)l->p[i])) return ED_E_PARSE;
  }
  const char *v = colon + 1;
  size_t v_len = l->len - name_len - 1;
  for (size_t i = 0; i < v_len; i++) {
    unsigned char c = (unsigned char)v[i];
    if ((c < 0x20 && c != '\t') || c == 0x7f) return ED_E_PARSE;
  }
  while (v_len > 0 && (v[0] == ' ' || v[0] == '\t')) v++, v_len--;
  while (v_len > 0 && (v[v_len - 1] == ' ' || v[v_len - 1] == '\t')) v_len--;
  if (ieq(l->p, name_len, "host")) {
    if (st->has_host) return ED_E_PARSE;
    st->has_host = 1;
  } else if (ieq(l->p, name_len, "connection")) {
    parse_connection(out, &st->saw_close, v, v_len);
  } else if (ieq(l->p, name_len, "content-length")) {
    return parse_content_length(out, &st->has_length, v, v_len);
  } else if (ieq(l->p, name_len, "transfer-encoding")) {
    out->has_body = 1;
  }
  return 0;
}

int ed_http_parse_request(struct ed_http_request *out, size_t *out_consumed,
                          const char *buf, size_t len, size_t max_head) {
  size_t start, end, pos;
  struct line l;
  struct hdr_state st = {0, 0, 0};
  memset(out, 0, sizeof(*out));
  if (find_head(buf, len, &start, &end) != 0) {
    return len > max_head ? ED_E_TOOBIG : ED_E_AGAIN;
  }
  if (end > max_head) return ED_E_TOOBIG;
  pos = start;
  if (next_line(&l, buf, end, &pos) != 0 || l.len == 0 ||
      parse_request_line(out, &l) != 0) {
    return ED_E_PARSE;
  }
  for (;;) {
    if (next_line(&l, buf, end, &pos) != 0) return ED_E_PARSE;
    if (l.len == 0) break;
    /* Obsolete line folding (RFC 9112 5.2) is refused. */
    if (l.p[0] == ' ' || l.p[0] == '\t') return ED_E_PARSE;
    if (parse_header(out, &st, &l) != 0) return ED_E_PARSE;
  }
  if (out->minor_version == 1 && !st.has_host) return ED_E_PARSE;
  *out_consumed = end;
  return 0;
}

/* internal/metrics — the HTTP/1.x request-head parser of the metrics
 * endpoint. A pure function over a buffer, like picohttpparser: no I/O, no
 * allocation, no global state, so it is fuzzed (fuzz/) and unit-tested
 * alone. It needs only base.h's error codes (header only, nothing linked).
 *
 * It accepts what a scraper or curl sends: a request line
 * "METHOD SP target SP HTTP/1.0|HTTP/1.1", header lines "name: value",
 * CRLF or bare LF line ends, and an empty line. It refuses obsolete line
 * folding, control bytes, a missing Host in HTTP/1.1, and conflicting
 * Content-Length values. */
#ifndef ED_METRICS_HTTP_H
#define ED_METRICS_HTTP_H

#include <stddef.h>
#include <stdint.h>

/* The head size a request may reach before it is refused (431). */
#define ED_HTTP_MAX_HEAD 8192

enum ed_http_method {
  ED_HTTP_GET = 0,
  ED_HTTP_HEAD,
  ED_HTTP_OTHER, /* a valid token, but not one the endpoint serves */
};

/* One parsed request head. Pointers point into the caller's buffer and are
 * valid while it is unchanged; they are not NUL-terminated. */
struct ed_http_request {
  enum ed_http_method method;
  const char *method_str;
  size_t method_len;
  const char *path; /* target up to '?' */
  size_t path_len;
  int minor_version; /* 0 or 1 */
  int keep_alive;    /* 1.1 unless "Connection: close"; 1.0 only with
                        "Connection: keep-alive" */
  int has_body;      /* Content-Length > 0 or any Transfer-Encoding */
  uint64_t content_length;
};

/* ed_http_parse_request parses the request head at the start of |buf|
 * (|len| bytes). A head longer than |max_head| bytes is refused.
 *
 * Returns 0 when a whole head is there: |*out| is filled and
 * |*out_consumed| is the head's length (through its empty line); any body
 * is not consumed. Returns ED_E_AGAIN when more bytes are needed (|*out|
 * and |*out_consumed| unspecified), ED_E_PARSE for a malformed head (400),
 * and ED_E_TOOBIG when the head exceeds |max_head| (431). */
int ed_http_parse_request(struct ed_http_request *out, size_t *out_consumed,
                          const char *buf, size_t len, size_t max_head);

#endif /* ED_METRICS_HTTP_H */

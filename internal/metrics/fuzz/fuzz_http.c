/* libFuzzer target for the metrics endpoint's HTTP request parser. Built by
 * fuzz_test.sh with clang -fsanitize=fuzzer,address,undefined; aborts on
 * any broken invariant, and ASan catches any read outside the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal/base/base.h"
#include "internal/metrics/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int within(const char *p, size_t len, const char *buf, size_t size) {
  return p >= buf && p + len <= buf + size;
}

/* Checks one successful parse; returns bytes consumed. */
static size_t check_ok(const struct ed_http_request *r, size_t used,
                       const char *buf, size_t size, size_t max) {
  if (used == 0 || used > size || used > max) abort();
  if (!within(r->method_str, r->method_len, buf, used)) abort();
  if (!within(r->path, r->path_len, buf, used)) abort();
  if (r->minor_version != 0 && r->minor_version != 1) abort();
  if (r->keep_alive != 0 && r->keep_alive != 1) abort();
  if (r->method > ED_HTTP_OTHER) abort();
  if (r->content_length > 0 && !r->has_body) abort();
  /* The head alone parses the same way. */
  struct ed_http_request again;
  size_t used2 = 0;
  if (ed_http_parse_request(&again, &used2, buf, used, max) != 0) abort();
  if (used2 != used || again.path_len != r->path_len) abort();
  return used;
}

static void run(const char *buf, size_t size, size_t max) {
  size_t off = 0;
  /* Walk pipelined requests like the endpoint does. */
  for (int i = 0; i < 64 && off <= size; i++) {
    struct ed_http_request r;
    size_t used = 0;
    int rc = ed_http_parse_request(&r, &used, buf + off, size - off, max);
    if (rc == ED_E_AGAIN) {
      if (size - off > max) abort();
      return;
    }
    if (rc == ED_E_PARSE || rc == ED_E_TOOBIG) return;
    if (rc != 0) abort();
    off += check_ok(&r, used, buf + off, size - off, max);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* An exact-size copy: reading one byte past the input is an ASan error. */
  char *buf = malloc(size ? size : 1);
  if (size) memcpy(buf, data, size);
  run(buf, size, ED_HTTP_MAX_HEAD);
  run(buf, size, 64); /* small limit: exercises the 431 paths */
  free(buf);
  return 0;
}

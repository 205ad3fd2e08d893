/* libFuzzer target for the PROXY protocol v2 parser. Built by
 * tools/fuzz/run_fuzzer.sh with clang -fsanitize=fuzzer,address,undefined;
 * aborts on any broken invariant, and ASan catches any read outside the
 * input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal/base/base.h"
#include "internal/proxy/proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct ed_proxy_header h;
  const char *why = NULL;
  int rc = ed_proxy_parse(data, size, &h, &why);
  if (rc == ED_E_PARSE) {
    if (!why || !why[0]) abort();
    return 0;
  }
  if (rc < 0 || (size_t)rc > size || rc > ED_PROXY_MAX_HEADER) abort();
  if (rc == 0) {
    /* A prefix that needs more can never be longer than the cap. */
    if (size >= ED_PROXY_MAX_HEADER) abort();
    return 0;
  }
  /* A complete header parses the same from exactly its own bytes, and
   * every shorter prefix asks for more or is refused, never accepted. */
  struct ed_proxy_header again;
  if (ed_proxy_parse(data, (size_t)rc, &again, NULL) != rc) abort();
  if (memcmp(&h, &again, sizeof(h)) != 0) abort();
  if (ed_proxy_parse(data, (size_t)rc - 1, &again, NULL) > 0) abort();
  char s[64];
  int f = ed_proxy_format_src(&h, s, sizeof(s));
  if (h.has_addr != (f == 0)) abort();
  if (memchr(s, '\0', sizeof(s)) == NULL) abort();
  return 0;
}

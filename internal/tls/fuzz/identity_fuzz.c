/* libFuzzer target: identity extraction from one DER certificate
 * (ed_tls_peer_from_der), as the handshake does it for a client's leaf,
 * then everything done with an identity afterwards. Aborts when any
 * promise of tls.h breaks:
 * - a result is an identity, or a refusal with its reason, never both;
 * - every CN and SAN value has exactly its length (no NUL inside) and no
 *   control byte; DNS/URI/email values are printable ASCII;
 * - the log text splits back into exactly the SANs, value for value;
 * - the ticket encoding decodes to the same identity. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal/tls/fuzz/fuzz_identity.h"
#include "internal/tls/tls_internal.h"

static void check_text(const char *v, size_t len, int ascii) {
  need(v != NULL && strlen(v) == len);
  for (size_t i = 0; i < len; i++) {
    uint8_t c = (uint8_t)v[i];
    need(c >= 0x20 && c != 0x7f);
    if (ascii) need(c < 0x7f);
  }
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* check_log_text splits ed_tls_peer_sans_text on ',' and checks each
 * entry decodes to "TYPE:" + the SAN's exact value. */
static void check_log_text(const struct ed_tls_peer *p) {
  char *t = ed_tls_peer_sans_text(p), *q = t;
  size_t n = ed_tls_peer_num_sans(p);
  for (size_t i = 0; i < n; i++) {
    const char *v;
    size_t len;
    const char *type = ed_san_type_name(ed_tls_peer_san(p, i, &v, &len));
    size_t tl = strlen(type);
    need(strncmp(q, type, tl) == 0 && q[tl] == ':');
    q += tl + 1;
    for (size_t j = 0; j < len; j++) {
      uint8_t c = (uint8_t)*q++;
      need(c != ','); /* a raw ',' only ever separates entries */
      if (c == '%') {
        int hi = hexval(q[0]), lo = hi < 0 ? -1 : hexval(q[1]);
        need(hi >= 0 && lo >= 0);
        c = (uint8_t)(hi << 4 | lo);
        q += 2;
      }
      need(c == (uint8_t)v[j]);
    }
    need(*q == (i + 1 < n ? ',' : '\0'));
    if (*q) q++;
  }
  need(*q == '\0');
  free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct ed_tls_peer *p = NULL;
  const char *why = NULL;
  int rc = ed_tls_peer_from_der(&p, &why, data, size);
  need(rc == 0 || rc == ED_E_PARSE || rc == ED_E_INVAL);
  need((rc == 0) == (p != NULL));
  need(rc != ED_E_INVAL || why != NULL);
  if (!p) return 0;
  size_t len;
  const char *cn = ed_tls_peer_cn(p, &len);
  if (cn) check_text(cn, len, 0);
  for (size_t i = 0; i < ed_tls_peer_num_sans(p); i++) {
    const char *v;
    enum ed_san_type t = ed_tls_peer_san(p, i, &v, &len);
    need((unsigned)t < ED_SAN_TYPE_COUNT);
    check_text(v, len, 1);
  }
  need(ed_tls_peer_serial(p) && ed_tls_peer_serial(p)[0]);
  need(ed_tls_peer_cn_is(p, cn) == (cn != NULL));
  check_log_text(p);
  ed_tls_peer_unref(round_trip(p));
  ed_tls_peer_ref(p);
  ed_tls_peer_unref(p);
  ed_tls_peer_unref(p);
  return 0;
}

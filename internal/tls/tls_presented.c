/* internal/tls — what a client presented as its certificate, for the log
 * line of a refused handshake ("who was refused"). A refused certificate
 * is read without trusting anything in it: its CN may hold NULs, control
 * bytes or invalid UTF-8, its serial may be of any length, and it may not
 * even parse; and its size is the client's to choose. Only the first
 * ED_TLS_PRESENTED_MAX bytes of each are kept (the SHA-256 names the
 * certificate exactly), so a refusal costs the same memory and log line
 * whatever was sent. Nothing here decides anything; the caller escapes
 * what it writes (ed_logq_bytes). */
#include <openssl/err.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "internal/tls/tls_internal.h"

void ed_tls_seen_cleanup(struct ed_tls_seen *s) {
  free(s->cn);
  free(s->serial);
  memset(s, 0, sizeof(*s));
}

/* first_cn copies the subject's first CN (its first ED_TLS_PRESENTED_MAX
 * bytes): as UTF-8 when it converts, else its bytes as they are. */
static void first_cn(struct ed_tls_seen *s, X509 *x) {
  X509_NAME *name = X509_get_subject_name(x);
  int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (i < 0) return;
  const ASN1_STRING *a = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
  uint8_t *utf8 = NULL;
  int n = ASN1_STRING_to_UTF8(&utf8, a);
  const uint8_t *p = n >= 0 ? utf8 : ASN1_STRING_get0_data(a);
  size_t len = n >= 0 ? (size_t)n : (size_t)ASN1_STRING_length(a);
  if (len > ED_TLS_PRESENTED_MAX) {
    s->cn_full = len;
    len = ED_TLS_PRESENTED_MAX;
  }
  s->cn = ed_malloc(len + 1);
  if (len) memcpy(s->cn, p, len);
  s->cn[len] = '\0';
  s->cn_len = len;
  OPENSSL_free(utf8);
}

/* serial_hex keeps the serial's first ED_TLS_PRESENTED_MAX characters
 * ("-" and hex digits). */
static char *serial_hex(struct ed_tls_seen *s, X509 *x) {
  const ASN1_INTEGER *i = X509_get0_serialNumber(x);
  size_t cap = 2 * (size_t)ASN1_STRING_length(i) + 4; /* '-', "00" */
  char *out = ed_malloc(cap);
  ed_tls_serial_hex(out, cap, i);
  size_t len = strlen(out);
  if (len > ED_TLS_PRESENTED_MAX) {
    s->serial_full = len;
    out[ED_TLS_PRESENTED_MAX] = '\0';
  }
  return out;
}

void ed_tls_note_presented(struct ed_tls_conn *c, const CRYPTO_BUFFER *leaf) {
  struct ed_tls_seen *s = &c->seen;
  ed_tls_seen_cleanup(s);
  s->have = 1;
  SHA256(CRYPTO_BUFFER_data(leaf), CRYPTO_BUFFER_len(leaf), s->sha256);
  X509 *x = X509_parse_from_buffer((CRYPTO_BUFFER *)leaf);
  if (x) {
    first_cn(s, x);
    s->serial = serial_hex(s, x);
  } else {
    s->serial = ed_strdup("");
  }
  X509_free(x);
  ERR_clear_error();
}

int ed_tls_conn_presented(const struct ed_tls_conn *c,
                          struct ed_tls_presented *out) {
  memset(out, 0, sizeof(*out));
  if (!c || !c->snap) return 0;
  if (c->seen.have) {
    out->cn = c->seen.cn;
    out->cn_len = c->seen.cn_len;
    out->cn_full = c->seen.cn_full;
    out->serial = c->seen.serial;
    out->serial_full = c->seen.serial_full;
    ed_tls_hex(out->sha256, c->seen.sha256, 32);
    return 1;
  }
  if (!c->peer) return 0;
  out->cn = ed_tls_peer_cn(c->peer, &out->cn_len);
  out->serial = ed_tls_peer_serial(c->peer);
  ed_tls_hex(out->sha256, ed_tls_peer_sha256(c->peer), 32);
  return 1;
}

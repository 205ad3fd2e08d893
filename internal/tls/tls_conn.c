/* internal/tls — the per-connection engine. A tiny custom BIO reads
 * ciphertext straight from the caller's buffer (struct ed_tls_io) and
 * appends what BoringSSL writes to the caller's ed_buf: no memory BIOs
 * whose capacity would stay allocated per connection, and BoringSSL frees
 * its own record buffers whenever they are empty. */
#include <limits.h>
#include <openssl/err.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/tls/tls_internal.h"

static BIO_METHOD *io_method;
static pthread_once_t io_method_once = PTHREAD_ONCE_INIT;

static int io_read(BIO *b, char *out, int len) {
  struct ed_tls_conn *c = BIO_get_data(b);
  struct ed_tls_io *io = c->io;
  BIO_clear_retry_flags(b);
  if (!io || io->in_used >= io->in_len || len <= 0) {
    BIO_set_retry_read(b);
    return -1;
  }
  size_t n = io->in_len - io->in_used;
  if (n > (size_t)len) n = (size_t)len;
  memcpy(out, io->in + io->in_used, n);
  io->in_used += n;
  c->rd_prev = c->rd_last;
  c->rd_last = n;
  return (int)n;
}

static int io_write(BIO *b, const char *in, int len) {
  struct ed_tls_conn *c = BIO_get_data(b);
  BIO_clear_retry_flags(b);
  if (!c->io || !c->io->out || len < 0) return -1;
  if (ed_buf_append(c->io->out, in, (size_t)len) != 0) return -1;
  return len;
}

static long io_ctrl(BIO *b, int cmd, long num, void *ptr) {
  (void)b, (void)num, (void)ptr;
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int io_create(BIO *b) {
  BIO_set_init(b, 1);
  return 1;
}

static void make_io_method(void) {
  io_method = BIO_meth_new(0, "echod-io");
  if (!io_method || !BIO_meth_set_read(io_method, io_read) ||
      !BIO_meth_set_write(io_method, io_write) ||
      !BIO_meth_set_ctrl(io_method, io_ctrl) ||
      !BIO_meth_set_create(io_method, io_create)) {
    abort();
  }
}

static struct ed_tls_conn *conn_new(SSL_CTX *ctx) {
  pthread_once(&io_method_once, make_io_method);
  struct ed_tls_conn *c = ed_calloc(1, sizeof(*c));
  c->ssl = SSL_new(ctx);
  BIO *bio = BIO_new(io_method);
  if (!c->ssl || !bio) abort(); /* allocation failure */
  BIO_set_data(bio, c);
  SSL_set_bio(c->ssl, bio, bio);
  SSL_set_app_data(c->ssl, c);
  return c;
}

struct ed_tls_conn *ed_tls_conn_new_server(struct ed_tls_snapshot *snap) {
  struct ed_tls_conn *c = conn_new(snap->ctx);
  ed_tls_snapshot_ref(snap);
  c->snap = snap;
  ed_tls_snapshot_ref(snap);
  c->trust = snap;
  SSL_set_accept_state(c->ssl);
  SSL_set_shed_handshake_config(c->ssl, 1);
  return c;
}

struct ed_tls_conn *ed_tls_conn_new_client(SSL_CTX *ctx, const char *servername,
                                           SSL_SESSION *session) {
  struct ed_tls_conn *c = conn_new(ctx);
  SSL_set_connect_state(c->ssl);
  if (servername) SSL_set_tlsext_host_name(c->ssl, servername);
  if (session) SSL_set_session(c->ssl, session);
  return c;
}

void ed_tls_conn_retrust(struct ed_tls_conn *c, struct ed_tls_snapshot *snap) {
  ed_tls_snapshot_ref(snap);
  ed_tls_snapshot_unref(c->trust);
  c->trust = snap;
}

void ed_tls_conn_rebase(struct ed_tls_conn *c, struct ed_tls_snapshot *snap) {
  if (!c->snap) return;
  if (snap->id > c->snap->id) {
    ed_tls_snapshot_ref(snap);
    ed_tls_snapshot_unref(c->snap);
    c->snap = snap;
  }
  if (snap->id > c->trust->id) ed_tls_conn_retrust(c, snap);
}

void ed_tls_conn_free(struct ed_tls_conn *c) {
  if (!c) return;
  SSL_free(c->ssl);
  ed_tls_snapshot_unref(c->snap);
  ed_tls_snapshot_unref(c->trust);
  ed_tls_peer_unref(c->peer);
  ed_tls_seen_cleanup(&c->seen);
  free(c);
}

/* failing_error: the queued error that names what went wrong. BoringSSL
 * queues a failure's cause before its verdict: a record that does not
 * verify is the cipher's BAD_DECRYPT, then the record layer's
 * DECRYPTION_FAILED_OR_BAD_RECORD_MAC. The TLS library's own entry, the
 * last it queued, says what the peer did; without one, the first. */
static uint32_t failing_error(void) {
  uint32_t last = ERR_peek_last_error();
  return ERR_GET_LIB(last) == ERR_LIB_SSL ? last : ERR_peek_error();
}

/* An alert the peer sent is queued as SSL_AD_REASON_OFFSET + its code;
 * BoringSSL names the codes it knows ("TLSV1_ALERT_UNKNOWN_CA") and calls
 * the others "unknown error". Those are named "TLS_ALERT_<code>" here. */
static char alert_names[256][24];
static pthread_once_t alert_names_once = PTHREAD_ONCE_INIT;

static void make_alert_names(void) {
  for (int i = 0; i < 256; i++)
    snprintf(alert_names[i], sizeof(alert_names[i]), "TLS_ALERT_%d", i);
}

/* error_name returns |e|'s name (static). */
static const char *error_name(uint32_t e) {
  const char *s = ERR_reason_error_string(e);
  int r = ERR_GET_REASON(e);
  if (ERR_GET_LIB(e) == ERR_LIB_SSL && r >= SSL_AD_REASON_OFFSET &&
      r < SSL_AD_REASON_OFFSET + 256 && (!s || !strcmp(s, "unknown error"))) {
    pthread_once(&alert_names_once, make_alert_names);
    return alert_names[r - SSL_AD_REASON_OFFSET];
  }
  return s;
}

/* plaintext_alert: a TLS 1.3 client that refuses the server's flight may
 * send its alert unencrypted after the server has switched to handshake
 * keys (OpenSSL's client does, before it switches its own), and the
 * engine fails on it as a record that does not decrypt. No encrypted
 * record is 2 bytes long, so an alert record of length 2 that ends where
 * the engine stopped reading (it reads a record's header, then exactly
 * its body) is that alert. Returns its description, or -1. */
static int plaintext_alert(const struct ed_tls_conn *c,
                           const struct ed_tls_io *io) {
  if (io->in_used < SSL3_RT_HEADER_LENGTH + 2) return -1;
  /* The failing record is the last one read: its header (5 bytes) then
   * its body (2), not the tail of a longer record's body. */
  if (c->rd_prev != SSL3_RT_HEADER_LENGTH || c->rd_last != 2) return -1;
  const uint8_t *rec = io->in + io->in_used - (SSL3_RT_HEADER_LENGTH + 2);
  if (rec[0] != SSL3_RT_ALERT || rec[1] != 3 || rec[3] != 0 || rec[4] != 2)
    return -1;
  return rec[6];
}

/* name_plaintext_alert records a plaintext alert the engine failed on
 * as what it is: the detail BoringSSL gives the same alert encrypted
 * (TLSV1_ALERT_UNKNOWN_CA, ...). */
static void name_plaintext_alert(struct ed_tls_conn *c,
                                 const struct ed_tls_io *io) {
  uint32_t e = failing_error();
  if (c->have_reason || ERR_GET_LIB(e) != ERR_LIB_SSL ||
      ERR_GET_REASON(e) != SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC) {
    return;
  }
  int alert = plaintext_alert(c, io);
  if (alert < 0) return;
  c->reason = ED_HS_PROTOCOL;
  c->detail = error_name(ERR_PACK(ERR_LIB_SSL, SSL_AD_REASON_OFFSET + alert));
  c->have_reason = 1;
}

int ed_tls_conn_handshake(struct ed_tls_conn *c, struct ed_tls_io *io) {
  c->io = io;
  int r = SSL_do_handshake(c->ssl);
  c->io = NULL;
  if (r == 1) {
    /* Complete: no more signatures (the one use of c->snap's key). A
     * client decided on with a newer snapshot (ed_tls_conn_retrust, a
     * reload between steps) no longer keeps the one of its first step
     * alive: that reload's re-check round did not see it. */
    if (c->snap && c->trust != c->snap) ed_tls_conn_rebase(c, c->trust);
    return 1;
  }
  if (SSL_get_error(c->ssl, r) == SSL_ERROR_WANT_READ) return 0;
  name_plaintext_alert(c, io);
  return ED_E_TLS;
}

int ed_tls_conn_read(struct ed_tls_conn *c, struct ed_tls_io *io, size_t *out_n,
                     uint8_t *buf, size_t len) {
  *out_n = 0;
  c->io = io;
  int r = SSL_read(c->ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
  c->io = NULL;
  if (r > 0) {
    *out_n = (size_t)r;
    return 0;
  }
  switch (SSL_get_error(c->ssl, r)) {
    case SSL_ERROR_WANT_READ:
      return ED_E_AGAIN;
    case SSL_ERROR_ZERO_RETURN:
      return ED_E_CLOSED;
    default:
      return ED_E_TLS;
  }
}

int ed_tls_conn_write(struct ed_tls_conn *c, struct ed_tls_io *io,
                      const uint8_t *data, size_t len) {
  c->io = io;
  int ok = 1;
  while (ok && len > 0) {
    int chunk = len > (1u << 30) ? (1 << 30) : (int)len;
    int r = SSL_write(c->ssl, data, chunk);
    ok = r == chunk;
    data += chunk;
    len -= (size_t)chunk;
  }
  c->io = NULL;
  return ok ? 0 : ED_E_TLS;
}

int ed_tls_conn_shutdown(struct ed_tls_conn *c, struct ed_tls_io *io) {
  if (!SSL_is_init_finished(c->ssl)) return ED_E_TLS;
  c->io = io;
  int r = SSL_shutdown(c->ssl);
  c->io = NULL;
  if (r < 0) {
    ERR_clear_error();
    return ED_E_TLS;
  }
  return 0;
}

/* The states a resumption waits in once its Finished is sent (TLS 1.3:
 * the client's Finished; TLS 1.2 abbreviated: the client's CCS, then
 * Finished). BoringSSL names them only as strings; should a new version
 * rename them, nothing matches and every step simply stays in the pool
 * (tls_test pins the names). */
static const char *const resumption_tail_states[] = {
    "TLS 1.3 server read_client_finished",
    "TLS server read_change_cipher_spec",
    "TLS server process_change_cipher_spec",
    "TLS server read_client_finished",
};

int ed_tls_conn_resumption_tail(const struct ed_tls_conn *c) {
  if (!c->snap || !SSL_in_init(c->ssl) || !SSL_session_reused(c->ssl)) return 0;
  const char *state = SSL_state_string_long(c->ssl);
  for (size_t i = 0;
       i < sizeof(resumption_tail_states) / sizeof(resumption_tail_states[0]);
       i++) {
    if (!strcmp(state, resumption_tail_states[i])) return 1;
  }
  return 0;
}

static _Thread_local int on_io_thread;

void ed_tls_mark_io_thread(int on) {
  on_io_thread = on;
}

/* Writes, per refused check (a bug: check= is client_certificate,
 * identity_recheck or ticket):
 *   level=error msg="certificate check on an I/O loop refused"
 *       check=client_certificate */
int ed_tls_refuse_on_io_thread(struct ed_tls_conn *c, const char *what) {
  if (!on_io_thread) return 0;
  ED_ERROR("certificate check on an I/O loop refused", "check=%s", what);
  if (c) {
    c->reason = ED_HS_OTHER;
    c->have_reason = 1;
    c->detail = "internal error: certificate check on an I/O loop";
  }
  return 1;
}

static enum ed_hs_reason reason_from_err(uint32_t e) {
  if (ERR_GET_LIB(e) != ERR_LIB_SSL) return ED_HS_OTHER;
  switch (ERR_GET_REASON(e)) {
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
      return ED_HS_NO_CLIENT_CERT;
    /* The client certificate's keyUsage forbids signing, so it cannot
     * authenticate a client: refused by BoringSSL before verification,
     * but the certificate's fault as a missing clientAuth EKU is. */
    case SSL_R_KEY_USAGE_BIT_INCORRECT:
      return ED_HS_BAD_EKU;
    default:
      return ED_HS_PROTOCOL;
  }
}

enum ed_hs_reason ed_tls_conn_failure(struct ed_tls_conn *c,
                                      const char **out_detail) {
  uint32_t e = failing_error();
  enum ed_hs_reason r;
  const char *detail;
  if (c->have_reason) {
    r = c->reason;
    detail = c->detail;
  } else if (e) {
    r = reason_from_err(e);
    detail = error_name(e);
  } else {
    r = ED_HS_PROTOCOL;
    detail = "connection closed during the handshake";
  }
  ERR_clear_error();
  if (out_detail) *out_detail = detail ? detail : "unknown";
  return r;
}

const struct ed_tls_peer *ed_tls_conn_peer(const struct ed_tls_conn *c) {
  return c->peer;
}

int ed_tls_conn_resumed(const struct ed_tls_conn *c) {
  return SSL_session_reused(c->ssl);
}

enum ed_suite ed_tls_conn_suite(const struct ed_tls_conn *c) {
  const SSL_CIPHER *cipher = SSL_get_current_cipher(c->ssl);
  return cipher ? ed_suite_from_iana(SSL_CIPHER_get_protocol_id(cipher))
                : ED_SUITE_OTHER;
}

const char *ed_tls_conn_version(const struct ed_tls_conn *c) {
  switch (SSL_version(c->ssl)) {
    case TLS1_3_VERSION:
      return "TLSv1.3";
    case TLS1_2_VERSION:
      return "TLSv1.2";
    default:
      return "other";
  }
}

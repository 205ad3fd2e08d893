/* internal/tls — see testpair.h. */
#include "internal/tls/testpair.h"

#include <openssl/err.h>
#include <string.h>

#include <stdio.h>
#include <stdlib.h>

/* Setup failures abort: a CHECK here would count in this file, not in
 * the test's. */
static void need(int ok, const char *what) {
  if (!ok) {
    fprintf(stderr, "testpair: %s failed\n", what);
    abort();
  }
}

SSL_SESSION *tp_last_session;

static int new_session_cb(SSL *ssl, SSL_SESSION *s) {
  (void)ssl;
  SSL_SESSION_free(tp_last_session);
  tp_last_session = s;
  return 1;
}

SSL_CTX *tp_client_ctx(X509 *cert, EVP_PKEY *key, X509 *chain, X509 *trust,
                       uint16_t max_version) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_method());
  if (cert) {
    need(SSL_CTX_use_certificate(ctx, cert), "use_certificate");
    need(SSL_CTX_use_PrivateKey(ctx, key), "use_PrivateKey");
  }
  if (chain) need(SSL_CTX_add1_chain_cert(ctx, chain), "add1_chain_cert");
  X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), trust);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(ctx, max_version);
  SSL_CTX_set_session_cache_mode(
      ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
  SSL_CTX_sess_set_new_cb(ctx, new_session_cb);
  return ctx;
}

/* ---- driving two engines ---------------------------------------------- */

void tp_pair_init(struct tp_pair *p, SSL_CTX *cctx, struct ed_tls_snapshot *s,
                  SSL_SESSION *sess, size_t step) {
  memset(p, 0, sizeof(*p));
  p->cl = ed_tls_conn_new_client(cctx, "localhost", sess);
  p->sv = ed_tls_conn_new_server(s);
  ed_buf_init(&p->c2s, 1 << 24);
  ed_buf_init(&p->s2c, 1 << 24);
  p->step = step;
}

void tp_pair_free(struct tp_pair *p) {
  ed_tls_conn_free(p->cl);
  ed_tls_conn_free(p->sv);
  ed_buf_cleanup(&p->c2s);
  ed_buf_cleanup(&p->s2c);
}

/* step_one runs one handshake call on |c| reading from |in| (at most
 * p->step bytes) and writing to |out|. Returns 1 if anything moved. */
int tp_hs_step(struct tp_pair *p, struct ed_tls_conn *c, int *rc,
               struct ed_buf *in, struct ed_buf *out, int server) {
  if (*rc != 0) return 0;
  size_t before = out->len;
  struct ed_tls_io io = {in->data, in->len < p->step ? in->len : p->step, 0,
                         out};
  *rc = ed_tls_conn_handshake(c, &io);
  if (*rc < 0 && server) p->reason = ed_tls_conn_failure(c, &p->detail);
  if (*rc < 0 && !server) ERR_clear_error();
  ed_buf_consume(in, io.in_used);
  return io.in_used > 0 || out->len != before || *rc != 0;
}

void tp_handshake(struct tp_pair *p) {
  for (int i = 0; i < 1000000; i++) {
    int moved = tp_hs_step(p, p->cl, &p->cl_rc, &p->s2c, &p->c2s, 0);
    moved |= tp_hs_step(p, p->sv, &p->sv_rc, &p->c2s, &p->s2c, 1);
    if (p->cl_rc && p->sv_rc) break;
    if (!moved) break;
  }
}

/* read_some decrypts what |in| holds for |c| into |got|. Returns the last
 * ed_tls_conn_read result. */
int tp_read_some(struct tp_pair *p, struct ed_tls_conn *c, struct ed_buf *in,
                 struct ed_buf *out, struct ed_buf *got) {
  uint8_t buf[4096];
  int rc = ED_E_AGAIN;
  for (;;) {
    size_t n = 0;
    struct ed_tls_io io = {in->data, in->len < p->step ? in->len : p->step, 0,
                           out};
    rc = ed_tls_conn_read(c, &io, &n, buf, sizeof(buf));
    ed_buf_consume(in, io.in_used);
    if (n) ed_buf_append(got, buf, n);
    if (rc == ED_E_AGAIN && in->len > 0) continue;
    if (rc) return rc;
  }
}

/* echo sends |len| bytes client -> server, the server echoes what it
 * reads, the client reads it back. Returns 0 on an exact echo, else the
 * failing read's code (client side). */
int tp_echo(struct tp_pair *p, const uint8_t *data, size_t len) {
  struct ed_tls_io io = {NULL, 0, 0, &p->c2s};
  if (ed_tls_conn_write(p->cl, &io, data, len)) return ED_E_TLS;
  struct ed_buf at_server, at_client;
  ed_buf_init(&at_server, 1 << 24);
  ed_buf_init(&at_client, 1 << 24);
  int rc = 0;
  for (int i = 0; i < 1000000 && at_client.len < len; i++) {
    int src = tp_read_some(p, p->sv, &p->c2s, &p->s2c, &at_server);
    if (at_server.len) {
      struct ed_tls_io wio = {NULL, 0, 0, &p->s2c};
      if (ed_tls_conn_write(p->sv, &wio, at_server.data, at_server.len)) {
        rc = ED_E_TLS;
        break;
      }
      ed_buf_reset(&at_server);
    }
    rc = tp_read_some(p, p->cl, &p->s2c, &p->c2s, &at_client);
    if (rc != ED_E_AGAIN || (src != ED_E_AGAIN && src != 0)) break;
    rc = 0;
  }
  if (rc == ED_E_AGAIN) rc = 0;
  if (!rc && (at_client.len != len || memcmp(at_client.data, data, len)))
    rc = ED_E_MISMATCH;
  ed_buf_cleanup(&at_server);
  ed_buf_cleanup(&at_client);
  return rc;
}

/* client_alert returns the BoringSSL reason of the client's failure when
 * it reads after the server refused it. */
int tp_client_alert(struct tp_pair *p) {
  struct ed_buf got;
  ed_buf_init(&got, 1 << 16);
  int rc =
      p->cl_rc == 1 ? tp_read_some(p, p->cl, &p->s2c, &p->c2s, &got) : ED_E_TLS;
  uint32_t e = ERR_peek_error();
  ERR_clear_error();
  ed_buf_cleanup(&got);
  return rc == ED_E_TLS ? ERR_GET_REASON(e) : 0;
}

/* internal/tls — test-only: two engines (client and server) driven in
 * memory, one call at a time, with at most |step| bytes per read, so
 * every partial path runs; a client SSL_CTX with a chosen certificate.
 * CHECK failures count in the calling test. */
#ifndef ED_TLS_TESTPAIR_H
#define ED_TLS_TESTPAIR_H

#include <openssl/ssl.h>

#include "internal/base/base.h"
#include "internal/tls/tls.h"

struct tp_pair {
  struct ed_tls_conn *cl, *sv;
  struct ed_buf c2s, s2c;
  int cl_rc, sv_rc; /* handshake results: 1 done, 0 pending, <0 failed */
  enum ed_hs_reason reason;
  const char *detail; /* with |reason|; borrowed from |sv| */
  size_t step;
};

/* The last session a tp_client_ctx client was given (a ticket), or NULL;
 * owned here (the next one replaces it). */
extern SSL_SESSION *tp_last_session;

/* tp_client_ctx returns a client context presenting |cert| (with |key|,
 * and |chain| as an intermediate when not NULL; no certificate when
 * |cert| is NULL), trusting |trust|, up to |max_version|. */
SSL_CTX *tp_client_ctx(X509 *cert, EVP_PKEY *key, X509 *chain, X509 *trust,
                       uint16_t max_version);
void tp_pair_init(struct tp_pair *p, SSL_CTX *cctx, struct ed_tls_snapshot *s,
                  SSL_SESSION *sess, size_t step);
void tp_pair_free(struct tp_pair *p);
/* tp_hs_step runs one handshake call; returns 1 if anything moved. */
int tp_hs_step(struct tp_pair *p, struct ed_tls_conn *c, int *rc,
               struct ed_buf *in, struct ed_buf *out, int server);
/* tp_handshake runs both sides until both finished or nothing moves. */
void tp_handshake(struct tp_pair *p);
/* tp_read_some decrypts what |in| holds for |c| into |got|; returns the
 * last ed_tls_conn_read result. */
int tp_read_some(struct tp_pair *p, struct ed_tls_conn *c, struct ed_buf *in,
                 struct ed_buf *out, struct ed_buf *got);
/* tp_echo sends |len| bytes through the server and back; 0 on an exact
 * echo. */
int tp_echo(struct tp_pair *p, const uint8_t *data, size_t len);
/* tp_client_alert returns the BoringSSL reason the client reads after the
 * server refused it (0 if none). */
int tp_client_alert(struct tp_pair *p);

#endif

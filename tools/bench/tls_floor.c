/* tls_floor: what one server-side mutual-TLS 1.3 session costs in user
 * space with no I/O at all: a client and a server engine in one thread,
 * exchanging their bytes in memory, the server's calls timed alone.
 *
 * A session is what echo-bench's handshake scenario does: the handshake
 * (full, or resumed with the ticket of an earlier session), a 32-byte
 * echo, and close_notify both ways. Two servers:
 *
 *   boringssl  BoringSSL on its own, in its classic configuration
 *              (TLS_method, X509 objects, a client certificate required
 *              and verified against the CA by BoringSSL's own X.509 code:
 *              two ECDSA verifies; its own ticket keys), with echod's
 *              protocol choices (TLS 1.3, X25519, the server's
 *              certificate, one ticket carrying only the client
 *              certificate's hash): what the TLS library costs beyond
 *              its public-key work
 *   echod      echod's TLS engine (internal/tls: the credential snapshot,
 *              its client verification with the verified-chain cache,
 *              identity and allow-list checks, its ticket keys), driven
 *              through the same calls the handshake pool and the loop
 *              make: what echod's server costs when the kernel, the loop
 *              and the pool's hand-offs are taken away
 *
 * Against the floors of tools/bench/floor (public-key work) and the plain
 * server (kernel), this splits echod's handshake gap into the library's
 * share, the TLS policy's share and the share of echod's I/O and threads
 * (docs/BENCHMARKS.md, "Round 6").
 *
 * Time is the thread's CPU time around each server call (creating and
 * freeing the server's connection included), less the cost of reading the
 * clock (calibrated at start). Each figure is the median of --runs runs
 * of at least --ms milliseconds of server time; the four figures' runs
 * take turns, so a drift of the machine's speed touches them alike.
 * Certificates:
 * the files given (the ones echod serves in tools/bench/run), else minted
 * in memory (P-256, as `pki` makes them; removed once read). Exits 1
 * when a handshake, the
 * echo or a resumption fails: every figure is of a session that worked.
 *
 * --flights times nothing: it runs one full and one resumed session on
 * echod's engine and prints their message patterns (bytes each side
 * writes, step by step; internal/bench/shape.h), which plain_echo and
 * echo-bench --plain --shape replay over loopback with no TLS: the
 * kernel's share of the same sessions.
 *
 * --records times the echo of established sessions instead: per 64-byte
 * message and per 16 KiB record, today's path through echod's engine,
 * an own TLS 1.3 record layer opening and sealing in place on the
 * exported traffic secrets, and the bare AEAD (see "record layers"
 * below; docs/BENCHMARKS.md).
 *
 * Usage: tls_floor [--runs N] [--ms MS] [--json] [--flights | --records]
 *            [--ca F --cert F --key F --client-cert F --client-key F] */
#include <openssl/aead.h>
#include <openssl/bio.h>
#include <openssl/digest.h>
#include <openssl/err.h>
#include <openssl/hkdf.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal/base/base.h"
#include "internal/tls/testcerts.h"
#include "internal/tls/tls.h"

#define MAX_RUNS 51
#define MSG 32 /* echo-bench's handshake scenario echoes 32 bytes */

struct creds;
static void unmint(struct creds *c);
static struct creds *minted; /* files to remove, until they are read */

static void die(const char *what) {
  fprintf(stderr, "tls_floor: %s\n", what);
  ERR_print_errors_fp(stderr);
  if (minted) unmint(minted);
  exit(1);
}

static double cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* clock_ns: what timing one call adds to it (the part of each of the two
 * clock reads that falls inside: one read's cost). */
static double clock_ns;

static void calibrate(void) {
  double best = 1e9;
  for (int r = 0; r < 5; r++) {
    double t0 = cpu_ns();
    for (int i = 0; i < 10000; i++) (void)cpu_ns();
    double per = (cpu_ns() - t0) / 10000;
    if (per < best) best = per;
  }
  clock_ns = best;
}

/* The server's time so far in this session (ns). */
static double served;

#define TIMED(expr)                      \
  do {                                   \
    double t0_ = cpu_ns();               \
    expr;                                \
    served += cpu_ns() - t0_ - clock_ns; \
  } while (0)

/* ---- message patterns (--flights) ------------------------------------ */

/* Each client write opens a step; what the server writes until the next
 * one is that step's answer. A client write that ends the client's
 * handshake does not wait for its answer (the ticket): '+'. */
static struct {
  int on, n;
  size_t c[8], s[8];
  int nowait[8];
} fl;

static void flight_client(size_t bytes, int handshake_done) {
  if (!fl.on || bytes == 0) return;
  if (fl.n == 8) die("more than 8 client flights");
  fl.c[fl.n] = bytes;
  fl.s[fl.n] = 0;
  fl.nowait[fl.n++] = handshake_done;
}

static void flight_server(size_t bytes) {
  if (fl.on && fl.n && bytes) fl.s[fl.n - 1] += bytes;
}

/* ---- credentials ----------------------------------------------------- */

struct creds {
  const char *ca, *cert, *key, *client_cert, *client_key; /* files */
  X509 *ca_x, *cert_x, *client_x;
  EVP_PKEY *key_k, *client_k;
  char dir[64]; /* minted: a temporary directory to remove */
};

static X509 *read_cert(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) die(path);
  X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
  fclose(f);
  if (!x) die(path);
  return x;
}

static EVP_PKEY *read_key(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) die(path);
  EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
  fclose(f);
  if (!k) die(path);
  return k;
}

static void mint(struct creds *c) {
  static char paths[5][128];
  snprintf(c->dir, sizeof(c->dir), "/tmp/tls_floor.XXXXXX");
  if (!mkdtemp(c->dir)) die("mkdtemp");
  EVP_PKEY *ca_k = tc_key();
  struct tc_opts o = {.cn = "tls_floor CA"};
  X509 *ca = tc_cert(ca_k, &o);
  EVP_PKEY *sk = tc_key(), *ck = tc_key();
  o = (struct tc_opts){.cn = "server",
                       .issuer = ca,
                       .issuer_key = ca_k,
                       .eku = TC_EKU_SERVER,
                       .san = "DNS:localhost"};
  X509 *sx = tc_cert(sk, &o);
  o = (struct tc_opts){.cn = "dev-client",
                       .issuer = ca,
                       .issuer_key = ca_k,
                       .eku = TC_EKU_CLIENT};
  X509 *cx = tc_cert(ck, &o);
  const char *names[5] = {"ca.pem", "server.pem", "server.key", "client.pem",
                          "client.key"};
  for (int i = 0; i < 5; i++)
    snprintf(paths[i], sizeof(paths[i]), "%s/%s", c->dir, names[i]);
  tc_write_cert(paths[0], &ca, 1);
  tc_write_cert(paths[1], &sx, 1);
  tc_write_key(paths[2], sk, 0600);
  tc_write_cert(paths[3], &cx, 1);
  tc_write_key(paths[4], ck, 0600);
  c->ca = paths[0], c->cert = paths[1], c->key = paths[2];
  c->client_cert = paths[3], c->client_key = paths[4];
  minted = c;
  X509_free(ca), X509_free(sx), X509_free(cx);
  EVP_PKEY_free(ca_k), EVP_PKEY_free(sk), EVP_PKEY_free(ck);
}

static void load(struct creds *c) {
  c->ca_x = read_cert(c->ca);
  c->cert_x = read_cert(c->cert);
  c->client_x = read_cert(c->client_cert);
  c->key_k = read_key(c->key);
  c->client_k = read_key(c->client_key);
}

static void unmint(struct creds *c) {
  if (!c->dir[0]) return;
  unlink(c->ca), unlink(c->cert), unlink(c->key);
  unlink(c->client_cert), unlink(c->client_key);
  rmdir(c->dir);
  c->dir[0] = 0;
  minted = NULL;
}

/* ---- the client (never timed) ---------------------------------------- */

static SSL_SESSION *ticket; /* the latest one the client got */

static int new_session(SSL *ssl, SSL_SESSION *s) {
  (void)ssl;
  SSL_SESSION_free(ticket);
  ticket = s;
  return 1;
}

static SSL_CTX *client_ctx(const struct creds *c) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_method());
  if (!ctx || !SSL_CTX_use_certificate(ctx, c->client_x) ||
      !SSL_CTX_use_PrivateKey(ctx, c->client_k) ||
      !X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), c->ca_x) ||
      /* Offers what echo-bench's client offers (TLS 1.2 too), so the
       * server parses the same ClientHello and --flights matches the
       * wire. */
      !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
      !SSL_CTX_set1_curves_list(ctx, "X25519"))
    die("client context");
  /* The client's own verification of the server is its cost, not the
   * server's: off, as in echo-bench's flood storm. */
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
  SSL_CTX_set_session_cache_mode(
      ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
  SSL_CTX_sess_set_new_cb(ctx, new_session);
  return ctx;
}

/* ---- BoringSSL on its own -------------------------------------------- */

static SSL_CTX *plain_server_ctx(const struct creds *c) {
  static const uint8_t sid_ctx[] = "tls_floor";
  SSL_CTX *ctx = SSL_CTX_new(TLS_method());
  if (!ctx || !SSL_CTX_use_certificate(ctx, c->cert_x) ||
      !SSL_CTX_use_PrivateKey(ctx, c->key_k) ||
      !X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), c->ca_x) ||
      !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
      !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) ||
      !SSL_CTX_set1_curves_list(ctx, "X25519") ||
      !SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1))
    die("server context");
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                     NULL);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(ctx, 1);
  SSL_CTX_set_retain_only_sha256_of_client_certs(ctx, 1);
  return ctx;
}

/* plain_session runs one session against a BoringSSL server; returns
 * whether it resumed. */
static int plain_session(SSL_CTX *sctx, SSL_CTX *cctx, SSL_SESSION *resume) {
  SSL *cl = SSL_new(cctx), *sv;
  BIO *cb, *sb;
  TIMED(sv = SSL_new(sctx));
  /* The pair's buffers hold a flight; freeing them (in the server's timed
   * SSL_free) then costs about what echod's own transport costs. */
  if (!cl || !sv || !BIO_new_bio_pair(&cb, 8192, &sb, 8192)) die("session");
  SSL_set_bio(cl, cb, cb);
  SSL_set_bio(sv, sb, sb);
  SSL_set_connect_state(cl);
  SSL_set_tlsext_host_name(cl, "localhost");
  if (resume) SSL_set_session(cl, resume);
  TIMED(SSL_set_accept_state(sv));
  int cdone = 0, sdone = 0;
  for (int i = 0; i < 20 && !(cdone && sdone); i++) {
    if (!cdone) {
      int rc = SSL_do_handshake(cl);
      if (rc == 1)
        cdone = 1;
      else if (SSL_get_error(cl, rc) != SSL_ERROR_WANT_READ)
        die("client handshake");
    }
    if (!sdone) {
      int rc;
      TIMED(rc = SSL_do_handshake(sv));
      if (rc == 1)
        sdone = 1;
      else if (SSL_get_error(sv, rc) != SSL_ERROR_WANT_READ)
        die("server handshake");
    }
  }
  if (!cdone || !sdone) die("handshake stalled");
  uint8_t msg[MSG], got[MSG];
  memset(msg, 'x', sizeof(msg));
  int n;
  if (SSL_write(cl, msg, MSG) != MSG) die("client write");
  TIMED(n = SSL_read(sv, got, sizeof(got)));
  if (n != MSG) die("server read");
  TIMED(n = SSL_write(sv, got, MSG));
  if (n != MSG) die("server write");
  if (SSL_read(cl, got, sizeof(got)) != MSG || memcmp(got, msg, MSG))
    die("client read");
  if (SSL_shutdown(cl) < 0) die("client close_notify");
  TIMED(n = SSL_read(sv, got, sizeof(got)));
  if (n != 0 || SSL_get_error(sv, n) != SSL_ERROR_ZERO_RETURN)
    die("server close_notify");
  TIMED(n = SSL_shutdown(sv));
  if (n < 0) die("server shutdown");
  int resumed = SSL_session_reused(sv);
  SSL_free(cl);
  TIMED(SSL_free(sv));
  return resumed;
}

/* ---- echod's engine -------------------------------------------------- */

static struct ed_tls_snapshot *echod_snapshot(const struct creds *c) {
  struct ed_tls_params p = {.cert = c->cert,
                            .key = c->key,
                            .ca = c->ca,
                            .keyring = ed_tls_keyring_new(3600)};
  struct ed_tls_snapshot *s = NULL;
  char err[256];
  if (ed_tls_snapshot_new(&s, &p, err, sizeof(err)) != 0) die(err);
  ed_tls_keyring_unref(p.keyring);
  return s;
}

/* echod_session runs one session against echod's engine: the handshake
 * steps as the pool runs them, the echo and close as the loop does. */
static int echod_session(struct ed_tls_snapshot *snap, SSL_CTX *cctx,
                         SSL_SESSION *resume) {
  struct ed_tls_conn *cl = ed_tls_conn_new_client(cctx, "localhost", resume);
  struct ed_tls_conn *sv;
  TIMED(sv = ed_tls_conn_new_server(snap));
  struct ed_buf c2s, s2c;
  ed_buf_init(&c2s, 1 << 20);
  ed_buf_init(&s2c, 1 << 20);
  int crc = 0, src = 0;
  for (int i = 0; i < 20 && !(crc && src); i++) {
    if (!crc) {
      struct ed_tls_io io = {s2c.data, s2c.len, 0, &c2s};
      size_t before = c2s.len;
      crc = ed_tls_conn_handshake(cl, &io);
      ed_buf_consume(&s2c, io.in_used);
      if (crc < 0) die("client handshake");
      flight_client(c2s.len - before, crc == 1);
    }
    if (!src && c2s.len) {
      struct ed_tls_io io = {c2s.data, c2s.len, 0, &s2c};
      size_t before = s2c.len;
      TIMED(src = ed_tls_conn_handshake(sv, &io));
      ed_buf_consume(&c2s, io.in_used);
      if (src < 0) die("server handshake");
      flight_server(s2c.len - before);
    }
  }
  if (crc != 1 || src != 1) die("handshake stalled");
  uint8_t msg[MSG], got[64];
  memset(msg, 'x', sizeof(msg));
  size_t n = 0;
  int rc;
  struct ed_tls_io cw = {NULL, 0, 0, &c2s};
  size_t before = c2s.len;
  if (ed_tls_conn_write(cl, &cw, msg, MSG)) die("client write");
  flight_client(c2s.len - before, 0);
  struct ed_tls_io sr = {c2s.data, c2s.len, 0, &s2c};
  before = s2c.len;
  TIMED(rc = ed_tls_conn_read(sv, &sr, &n, got, sizeof(got)));
  ed_buf_consume(&c2s, sr.in_used);
  if (rc != 0 || n != MSG) die("server read");
  struct ed_tls_io sw = {NULL, 0, 0, &s2c};
  TIMED(rc = ed_tls_conn_write(sv, &sw, got, n));
  if (rc) die("server write");
  flight_server(s2c.len - before);
  /* The client reads the ticket and the echo. */
  size_t back = 0;
  for (int i = 0; i < 4 && back < MSG; i++) {
    struct ed_tls_io cr = {s2c.data, s2c.len, 0, &c2s};
    rc = ed_tls_conn_read(cl, &cr, &n, got, sizeof(got));
    ed_buf_consume(&s2c, cr.in_used);
    if (rc == 0)
      back += n;
    else if (rc != ED_E_AGAIN)
      die("client read");
  }
  if (back != MSG || memcmp(got, msg, MSG)) die("client read");
  struct ed_tls_io cs = {NULL, 0, 0, &c2s};
  before = c2s.len;
  if (ed_tls_conn_shutdown(cl, &cs)) die("client close_notify");
  flight_client(c2s.len - before, 0);
  struct ed_tls_io sc = {c2s.data, c2s.len, 0, &s2c};
  before = s2c.len;
  TIMED(rc = ed_tls_conn_read(sv, &sc, &n, got, sizeof(got)));
  if (rc != ED_E_CLOSED) die("server close_notify");
  struct ed_tls_io ss = {NULL, 0, 0, &s2c};
  TIMED(rc = ed_tls_conn_shutdown(sv, &ss));
  if (rc) die("server shutdown");
  flight_server(s2c.len - before);
  int resumed = ed_tls_conn_resumed(sv);
  ed_tls_conn_free(cl);
  TIMED(ed_tls_conn_free(sv));
  ed_buf_cleanup(&c2s);
  ed_buf_cleanup(&s2c);
  return resumed;
}

/* ---- timing ---------------------------------------------------------- */

struct target {
  SSL_CTX *sctx;                /* boringssl, or */
  struct ed_tls_snapshot *snap; /* echod */
  SSL_CTX *cctx;
};

static int session(const struct target *t, SSL_SESSION *resume) {
  return t->snap ? echod_session(t->snap, t->cctx, resume)
                 : plain_session(t->sctx, t->cctx, resume);
}

/* fresh_ticket runs a full session against |t| for a ticket; returns a
 * reference to it (caller frees). */
static SSL_SESSION *fresh_ticket(const struct target *t) {
  (void)session(t, NULL);
  if (!ticket) die("no ticket");
  SSL_SESSION_up_ref(ticket);
  return ticket;
}

/* flights prints the message pattern of one session (full, or resumed
 * with a fresh ticket) as a shape ("C:S[+],..."). */
static void flights(const struct target *echod, int resumed, char *out,
                    size_t len) {
  SSL_SESSION *resume = resumed ? fresh_ticket(echod) : NULL;
  memset(&fl, 0, sizeof(fl));
  fl.on = 1;
  if (session(echod, resume) != resumed) die("flights: wrong session kind");
  fl.on = 0;
  SSL_SESSION_free(resume);
  size_t at = 0;
  out[0] = '\0';
  for (int i = 0; i < fl.n && at < len; i++)
    at += (size_t)snprintf(out + at, len - at, "%s%zu:%zu%s", i ? "," : "",
                           fl.c[i], fl.s[i], fl.nowait[i] ? "+" : "");
}

/* one_run: mean server time per session (µs) over at least |ms| ms of it. */
static double one_run(const struct target *t, int resumed, int ms) {
  SSL_SESSION *resume = resumed ? fresh_ticket(t) : NULL;
  served = 0;
  double total = 0;
  long count = 0;
  while (total < ms * 1e6 || count < 10) {
    served = 0;
    if (session(t, resume) != resumed)
      die(resumed ? "a resumption did not resume" : "a full handshake resumed");
    total += served;
    count++;
  }
  SSL_SESSION_free(resume);
  return total / (double)count / 1e3;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* measure fills |out| with the median of |runs| runs of each of the
 * four figures (BoringSSL full, resumed; echod full, resumed), their runs
 * taking turns. */
static void measure(const struct target *bssl, const struct target *echod,
                    int runs, int ms, double out[4]) {
  static double v[4][MAX_RUNS];
  for (int i = 0; i < runs; i++) {
    for (int k = 0; k < 4; k++)
      v[k][i] = one_run(k < 2 ? bssl : echod, k % 2, ms);
  }
  for (int k = 0; k < 4; k++) {
    qsort(v[k], (size_t)runs, sizeof(double), cmp_double);
    out[k] = v[k][runs / 2];
  }
}

/* ---- record layers (--records) --------------------------------------- */

/* What the server's echo of an established session costs per record,
 * three ways, each on sessions of its own (a handshake with echod's
 * engine, then one 64-byte echo through it, which also sends the
 * deferred ticket):
 *
 *   engine  today's path, as ed_conn_echo runs it (internal/loop/conn.c):
 *           ed_tls_conn_read into a 64 KiB plaintext buffer until the
 *           batch is done, one ed_tls_conn_write of it into the batch's
 *           output buffer (BoringSSL behind echod's BIO: the ciphertext
 *           copied in, the plaintext out, the sealed records out)
 *   own     an own TLS 1.3 record layer on the session's traffic secrets
 *           (bssl::SSL_get_traffic_secrets, keys and IVs by
 *           HKDF-Expand-Label, BoringSSL's sequence numbers): each record
 *           of the read buffer parsed, opened in place, its inner content
 *           type checked, and sealed again in place with the server's key
 *           (the same length: any padding is echoed), the buffer then
 *           being what is written. A record cut by the end of a read is
 *           copied aside and back in front of the next read (the loop's
 *           read buffer is shared by its connections). KeyUpdate, alerts
 *           and close_notify are not handled (such a record fails).
 *   aead    the bare AES-128-GCM open + seal of each record in place, its
 *           nonce from the sequence number: the floor under both.
 *
 * Shapes: "64 B", one 64-byte message per read (blocks of SMALL_BLOCK
 * messages timed together); "16 KiB", reads of four whole 16 KiB records
 * (65,624 bytes); "16 KiB stream", reads of 64 KiB cutting records where
 * they fall (the loop's read buffer), engine and own only. The client's
 * records are made before each timed read, and what the server writes is
 * not read during the runs: only the server's calls are timed (thread CPU
 * time). Before the runs, every session's output is read by its client
 * and checked byte for byte, and an own layer's open is checked against
 * the plaintext sent and refused under the wrong sequence number and
 * with a flipped bit. */

#define PBUF (64 * 1024) /* ED_LOOP_PBUF: the echo's plaintext batch */
#define RBUF (64 * 1024) /* ED_LOOP_RBUF: one read */
#define REC_DATA 16384
#define REC_HDR 5
#define REC_OVER (REC_HDR + 1 + 16) /* header, content type, tag */
#define BULK_RECS 4
#define SMALL 64
#define SMALL_BLOCK 256
#define SECRET_MAX 48

/* One direction's record protection. */
struct half {
  EVP_AEAD_CTX aead;
  uint8_t iv[12];
  uint64_t seq;
};

struct own {
  struct half rd, wr;
};

/* expand_label is TLS 1.3's HKDF-Expand-Label(secret, label, "", len)
 * with SHA-256 (TLS_AES_128_GCM_SHA256). */
static void expand_label(uint8_t *out, size_t len, const uint8_t *secret,
                         size_t secret_len, const char *label) {
  uint8_t info[2 + 1 + 255 + 1];
  size_t l = strlen(label), n = 0;
  info[n++] = (uint8_t)(len >> 8);
  info[n++] = (uint8_t)len;
  info[n++] = (uint8_t)(6 + l);
  memcpy(info + n, "tls13 ", 6);
  memcpy(info + n + 6, label, l);
  n += 6 + l;
  info[n++] = 0; /* empty context */
  if (!HKDF_expand(out, len, EVP_sha256(), secret, secret_len, info, n))
    die("HKDF-Expand-Label");
}

/* half_init: the plain GCM AEAD, the nonce built per record. Not
 * EVP_aead_aes_128_gcm_tls13: its seal takes the first nonce it sees for
 * sequence number 0 and requires the rest to increase from there, so on
 * a session taken over at write sequence 1 or more (after the ticket) its
 * third seal already fails. */
static void half_init(struct half *h, const uint8_t *secret, size_t len,
                      uint64_t seq) {
  uint8_t key[16];
  expand_label(key, sizeof(key), secret, len, "key");
  expand_label(h->iv, sizeof(h->iv), secret, len, "iv");
  if (!EVP_AEAD_CTX_init(&h->aead, EVP_aead_aes_128_gcm(), key, sizeof(key),
                         EVP_AEAD_DEFAULT_TAG_LENGTH, NULL))
    die("AEAD");
  h->seq = seq;
}

static inline void make_nonce(const struct half *h, uint64_t seq,
                              uint8_t out[12]) {
  memcpy(out, h->iv, 12);
  for (int i = 0; i < 8; i++) out[11 - i] ^= (uint8_t)(seq >> (8 * i));
}

/* own_echo opens each whole record of buf[0, len) in place and seals it
 * again in place. Returns the bytes of whole records done (to be
 * written); what follows them is the start of a record cut by the read.
 * -1: a record that is not application data or does not open. */
static long own_echo(struct own *o, uint8_t *buf, size_t len) {
  size_t at = 0;
  uint8_t nonce[12];
  while (len - at >= REC_HDR) {
    uint8_t *h = buf + at, *body = h + REC_HDR;
    size_t n = (size_t)h[3] << 8 | h[4], plain, sealed;
    if (h[0] != 23 || h[1] != 3 || h[2] != 3 || n > REC_DATA + 256 || n < 17)
      return -1;
    if (len - at - REC_HDR < n) break; /* cut by the read */
    make_nonce(&o->rd, o->rd.seq, nonce);
    if (!EVP_AEAD_CTX_open(&o->rd.aead, body, &plain, n, nonce, 12, body, n, h,
                           REC_HDR))
      return -1;
    o->rd.seq++;
    size_t t = plain; /* the inner content type: the last non-zero byte */
    while (t && !body[t - 1]) t--;
    if (!t || body[t - 1] != 23 || plain > REC_DATA + 1) return -1;
    make_nonce(&o->wr, o->wr.seq, nonce);
    if (!EVP_AEAD_CTX_seal(&o->wr.aead, body, &sealed, n, nonce, 12, body,
                           plain, h, REC_HDR))
      return -1;
    o->wr.seq++;
    at += REC_HDR + n;
  }
  return (long)at;
}

/* bare_echo: the AEAD alone on |num| records of |rec| bytes each. */
static void bare_echo(struct own *o, uint8_t *buf, size_t rec, size_t num) {
  uint8_t nonce[12];
  size_t n = rec - REC_HDR, plain, sealed;
  for (size_t i = 0; i < num; i++, buf += rec) {
    make_nonce(&o->rd, o->rd.seq++, nonce);
    if (!EVP_AEAD_CTX_open(&o->rd.aead, buf + REC_HDR, &plain, n, nonce, 12,
                           buf + REC_HDR, n, buf, REC_HDR))
      die("bare open");
    make_nonce(&o->wr, o->wr.seq++, nonce);
    if (!EVP_AEAD_CTX_seal(&o->wr.aead, buf + REC_HDR, &sealed, n, nonce, 12,
                           buf + REC_HDR, plain, buf, REC_HDR))
      die("bare seal");
  }
}

/* engine_echo is ed_conn_echo's TLS part: returns 0 once the batch is
 * taken (ED_E_AGAIN), else the error. */
static int engine_echo(struct ed_tls_conn *sv, const uint8_t *data, size_t len,
                       uint8_t *pbuf, struct ed_buf *scratch) {
  struct ed_tls_io io = {data, len, 0, scratch};
  size_t plain = 0;
  int rc;
  ed_buf_reset(scratch);
  for (;;) {
    size_t got = 0, room = PBUF - plain;
    rc = ed_tls_conn_read(sv, &io, &got, pbuf + plain, room);
    plain += got;
    if (rc == 0 && io.in_used == io.in_len && got < room) rc = ED_E_AGAIN;
    if (rc == 0 && plain < PBUF) continue;
    if (plain && ed_tls_conn_write(sv, &io, pbuf, plain) != 0) return ED_E_TLS;
    plain = 0;
    if (rc != 0) break;
  }
  return rc == ED_E_AGAIN ? 0 : rc;
}

/* The server's SSL and its application traffic secrets as the key log
 * shows them (cross-checked with SSL_get_traffic_secrets). */
static const SSL *keylog_ssl;
static char keylog_client[2 * SECRET_MAX + 1],
    keylog_server[2 * SECRET_MAX + 1];

static void keylog(const SSL *ssl, const char *line) {
  char *dst = NULL;
  if (!strncmp(line, "CLIENT_TRAFFIC_SECRET_0 ", 24)) dst = keylog_client;
  if (!strncmp(line, "SERVER_TRAFFIC_SECRET_0 ", 24)) dst = keylog_server;
  if (!dst) return;
  keylog_ssl = ssl;
  const char *sp = strrchr(line, ' ');
  snprintf(dst, 2 * SECRET_MAX + 1, "%s", sp + 1);
}

int tls_floor_traffic_secrets(const SSL *ssl, uint8_t *read, size_t *read_len,
                              uint8_t *write, size_t *write_len, size_t cap);

enum rmode { R_ENGINE, R_OWN, R_AEAD };
enum rshape { S_SMALL, S_BULK, S_STREAM };

struct rsession {
  enum rmode mode;
  enum rshape shape;
  struct ed_tls_conn *cl, *sv;
  struct own own;
  struct ed_buf wire;    /* the client's records, not yet read */
  struct ed_buf scratch; /* engine: a batch's output */
  uint8_t *pbuf, *rbuf;  /* engine: plaintext batch; the read buffer */
  size_t stash_len;      /* own, stream: a cut record's bytes so far */
  uint8_t *stash;
  uint64_t made, checked; /* plaintext bytes the client sent, got back */
};

static uint8_t pattern[PBUF + 4096]; /* the plaintext the client sends */

static size_t rec_data(const struct rsession *s) {
  return s->shape == S_SMALL ? SMALL : REC_DATA;
}

/* Plaintext byte |i| of the session's stream. */
static const uint8_t *expected(const struct rsession *s, uint64_t i) {
  uint64_t rec = i / rec_data(s);
  return pattern + (rec * 977) % 4096 + i % rec_data(s);
}

/* client_make appends |num| records of the client's to the wire. */
static void client_make(struct rsession *s, size_t num) {
  size_t d = rec_data(s);
  for (size_t i = 0; i < num; i++) {
    struct ed_tls_io io = {NULL, 0, 0, &s->wire};
    if (ed_tls_conn_write(s->cl, &io, expected(s, s->made), d))
      die("client write");
    s->made += d;
  }
}

/* client_check reads what the server wrote and checks every byte. */
static void client_check(struct rsession *s, const uint8_t *out, size_t len) {
  static uint8_t got[PBUF];
  struct ed_tls_io io = {out, len, 0, NULL};
  struct ed_buf junk;
  ed_buf_init(&junk, 1 << 20);
  io.out = &junk;
  for (;;) {
    size_t n = 0;
    int rc = ed_tls_conn_read(s->cl, &io, &n, got, sizeof(got));
    for (size_t i = 0; i < n; i++)
      if (got[i] != *expected(s, s->checked + i)) die("echo differs");
    s->checked += n;
    if (rc == ED_E_AGAIN) break;
    if (rc) die("client read of the echo");
  }
  ed_buf_cleanup(&junk);
}

static void rsession_open(struct rsession *s, struct ed_tls_snapshot *snap,
                          SSL_CTX *cctx, enum rmode mode, enum rshape shape) {
  memset(s, 0, sizeof(*s));
  s->mode = mode, s->shape = shape;
  keylog_ssl = NULL;
  s->cl = ed_tls_conn_new_client(cctx, "localhost", NULL);
  s->sv = ed_tls_conn_new_server(snap);
  struct ed_buf c2s, s2c;
  ed_buf_init(&c2s, 1 << 20);
  ed_buf_init(&s2c, 1 << 20);
  int crc = 0, src = 0;
  for (int i = 0; i < 20 && !(crc && src); i++) {
    if (!crc) {
      struct ed_tls_io io = {s2c.data, s2c.len, 0, &c2s};
      crc = ed_tls_conn_handshake(s->cl, &io);
      ed_buf_consume(&s2c, io.in_used);
      if (crc < 0) die("client handshake");
    }
    if (!src && c2s.len) {
      struct ed_tls_io io = {c2s.data, c2s.len, 0, &s2c};
      src = ed_tls_conn_handshake(s->sv, &io);
      ed_buf_consume(&c2s, io.in_used);
      if (src < 0) die("server handshake");
    }
  }
  if (crc != 1 || src != 1 || !keylog_ssl) die("handshake stalled");
  if (ed_tls_conn_suite(s->sv) != ED_SUITE_AES_128_GCM_SHA256)
    die("not TLS_AES_128_GCM_SHA256");
  const SSL *ssl = keylog_ssl;
  uint64_t wseq0 = SSL_get_write_sequence(ssl);
  /* One 64-byte echo through the engine: it sends the ticket too. */
  ed_buf_init(&s->wire, 8u << 20);
  ed_buf_init(&s->scratch, 4u << 20);
  s->pbuf = malloc(PBUF);
  s->rbuf = malloc(RBUF + REC_DATA + REC_OVER);
  s->stash = malloc(REC_DATA + REC_OVER);
  struct ed_tls_io io = {NULL, 0, 0, &c2s};
  if (ed_tls_conn_write(s->cl, &io, pattern, SMALL)) die("client write");
  if (engine_echo(s->sv, c2s.data, c2s.len, s->pbuf, &s2c)) die("first echo");
  size_t back = 0;
  uint8_t got[SMALL];
  for (int i = 0; i < 4 && back < SMALL; i++) {
    struct ed_tls_io cr = {s2c.data, s2c.len, 0, &c2s};
    size_t n = 0;
    int rc = ed_tls_conn_read(s->cl, &cr, &n, got + back, SMALL - back);
    ed_buf_consume(&s2c, cr.in_used);
    if (rc == 0)
      back += n;
    else if (rc != ED_E_AGAIN)
      die("client read");
  }
  if (back != SMALL || memcmp(got, pattern, SMALL)) die("first echo differs");
  if (!ticket) die("no ticket before the take-over");
  if (getenv("TLS_FLOOR_DEBUG"))
    fprintf(stderr, "write sequence after the handshake %llu, now %llu\n",
            (unsigned long long)wseq0,
            (unsigned long long)SSL_get_write_sequence(ssl));
  if (mode != R_ENGINE) {
    uint8_t rd[SECRET_MAX], wr[SECRET_MAX];
    size_t rl, wl;
    if (!tls_floor_traffic_secrets(ssl, rd, &rl, wr, &wl, SECRET_MAX))
      die("SSL_get_traffic_secrets");
    char hex[2 * SECRET_MAX + 1];
    ed_tls_hex(hex, rd, rl);
    if (strcmp(hex, keylog_client)) die("read secret differs from key log");
    ed_tls_hex(hex, wr, wl);
    if (strcmp(hex, keylog_server)) die("write secret differs from key log");
    half_init(&s->own.rd, rd, rl, SSL_get_read_sequence(ssl));
    half_init(&s->own.wr, wr, wl, SSL_get_write_sequence(ssl));
    /* From here on the engine's server is never used again. */
  }
  ed_buf_cleanup(&c2s);
  ed_buf_cleanup(&s2c);
}

static void rsession_close(struct rsession *s) {
  if (s->mode != R_ENGINE) {
    EVP_AEAD_CTX_cleanup(&s->own.rd.aead);
    EVP_AEAD_CTX_cleanup(&s->own.wr.aead);
  }
  ed_tls_conn_free(s->cl);
  ed_tls_conn_free(s->sv);
  ed_buf_cleanup(&s->wire);
  ed_buf_cleanup(&s->scratch);
  free(s->pbuf), free(s->rbuf), free(s->stash);
}

/* The bytes of one read for the shape. */
static size_t read_len(const struct rsession *s) {
  switch (s->shape) {
    case S_SMALL:
      return SMALL + REC_OVER;
    case S_BULK:
      return BULK_RECS * (REC_DATA + REC_OVER);
    default:
      return RBUF;
  }
}

/* The reads of one timed call: |count| reads of |one| bytes each (64 B),
 * or one read whose cut record is copied aside (stream). */
static int engine_reads(struct rsession *s, uint8_t *buf, size_t one,
                        int count) {
  int bad = 0;
  for (int i = 0; i < count; i++)
    bad |= engine_echo(s->sv, buf + one * (size_t)i, one, s->pbuf, &s->scratch);
  return bad;
}

static int own_reads(struct rsession *s, uint8_t *buf, size_t one, int count) {
  int bad = 0;
  for (int i = 0; i < count; i++)
    bad |= own_echo(&s->own, buf + one * (size_t)i, one) != (long)one;
  return bad;
}

static long own_read(struct rsession *s, uint8_t *buf, size_t len) {
  long done = own_echo(&s->own, buf, len);
  if (done >= 0) {
    s->stash_len = len - (size_t)done;
    memcpy(s->stash, buf + done, s->stash_len);
  }
  return done;
}

/* serve takes |count| reads off the wire (one unless 64 B) into the read
 * buffer, as the kernel would (not timed), and serves each as a read of
 * its own, timed together into |served|. Returns the records echoed; the
 * last read's output is at |*out|, |*out_len| bytes. */
static size_t serve(struct rsession *s, int count, const uint8_t **out,
                    size_t *out_len) {
  size_t one = read_len(s), len = one * (size_t)count;
  size_t per = rec_data(s) + REC_OVER;
  while (s->wire.len < len) client_make(s, s->shape == S_SMALL ? 64 : 8);
  uint8_t *buf = s->rbuf;
  if (s->stash_len) TIMED(memcpy(buf, s->stash, s->stash_len));
  memcpy(buf + s->stash_len, s->wire.data, len); /* the kernel's copy */
  ed_buf_consume(&s->wire, len);
  size_t recs = 0;
  switch (s->mode) {
    case R_ENGINE: {
      int bad;
      TIMED(bad = engine_reads(s, buf, one, count));
      if (bad) die("engine echo");
      *out = s->scratch.data, *out_len = s->scratch.len;
      recs = count > 1 ? (size_t)count : s->scratch.len / per;
      break;
    }
    case R_OWN: {
      long done = (long)one;
      if (count > 1) {
        int bad;
        TIMED(bad = own_reads(s, buf, one, count));
        if (bad) die("own echo");
        *out = buf + len - one;
      } else {
        len += s->stash_len;
        TIMED(done = own_read(s, buf, len));
        if (done < 0) die("own echo");
        *out = buf;
      }
      *out_len = (size_t)done;
      recs = count > 1 ? (size_t)count : (size_t)done / per;
      break;
    }
    case R_AEAD:
      TIMED(bare_echo(&s->own, buf, per, len / per));
      *out = buf + len - one, *out_len = one;
      recs = len / per;
      break;
  }
  return recs;
}

/* check_open: the own layer's first record on the wire opens to what was
 * sent, and neither under the next sequence number nor with a bit flipped
 * (the session's state untouched). */
static void check_open(struct rsession *s) {
  client_make(s, 1);
  size_t n = s->wire.len - REC_HDR, plain;
  uint8_t *rec = malloc(s->wire.len), nonce[12];
  for (int k = 0; k < 3; k++) {
    memcpy(rec, s->wire.data, s->wire.len);
    if (k == 2) rec[REC_HDR + 7] ^= 1;
    make_nonce(&s->own.rd, s->own.rd.seq + (k == 1), nonce);
    int ok = EVP_AEAD_CTX_open(&s->own.rd.aead, rec + REC_HDR, &plain, n, nonce,
                               12, rec + REC_HDR, n, rec, REC_HDR);
    ERR_clear_error();
    if (k == 0 && (!ok || plain != rec_data(s) + 1 ||
                   memcmp(rec + REC_HDR, expected(s, s->made - rec_data(s)),
                          rec_data(s)) ||
                   rec[REC_HDR + rec_data(s)] != 23))
      die("own open: not the plaintext sent");
    if (k && ok) die("own open: opened under a wrong sequence number or bit");
  }
  free(rec);
}

/* rsession_check serves a few reads and has the client read and check
 * every byte of what the server wrote (stream: across cut records). */
static void rsession_check(struct rsession *s) {
  if (s->mode == R_OWN) check_open(s);
  double keep = served;
  for (int i = 0; i < 3; i++) {
    const uint8_t *out;
    size_t len;
    (void)serve(s, 1, &out, &len);
    client_check(s, out, len);
  }
  served = keep;
  if (s->checked < 3 * rec_data(s)) die("the client got too little back");
}

/* rec_run: server time per record (ns) over at least |ms| ms of it. */
static double rec_run(struct rsession *s, int ms) {
  served = 0;
  uint64_t recs = 0;
  while (served < ms * 1e6) {
    const uint8_t *out;
    size_t len;
    recs += serve(s, s->shape == S_SMALL ? SMALL_BLOCK : 1, &out, &len);
  }
  return served / (double)recs;
}

#define NREC 8

/* records runs --records: the eight figures' runs take turns; prints the
 * medians (µs per record or message). */
static void records(struct ed_tls_snapshot *snap, SSL_CTX *cctx, int runs,
                    int ms, int json) {
  static const struct {
    enum rmode mode;
    enum rshape shape;
    const char *name;
  } fig[NREC] = {
      {R_ENGINE, S_SMALL, "small_engine"},   {R_OWN, S_SMALL, "small_own"},
      {R_AEAD, S_SMALL, "small_aead"},       {R_ENGINE, S_BULK, "bulk_engine"},
      {R_OWN, S_BULK, "bulk_own"},           {R_AEAD, S_BULK, "bulk_aead"},
      {R_ENGINE, S_STREAM, "stream_engine"}, {R_OWN, S_STREAM, "stream_own"},
  };
  static struct rsession s[NREC];
  static double v[NREC][MAX_RUNS];
  double med[NREC];
  RAND_bytes(pattern, sizeof(pattern));
  SSL_CTX_set_keylog_callback(ed_tls_snapshot_ctx(snap), keylog);
  for (int k = 0; k < NREC; k++) {
    rsession_open(&s[k], snap, cctx, fig[k].mode, fig[k].shape);
    rsession_check(&s[k]);
  }
  SSL_CTX_set_keylog_callback(ed_tls_snapshot_ctx(snap), NULL);
  for (int i = 0; i < runs; i++)
    for (int k = 0; k < NREC; k++) v[k][i] = rec_run(&s[k], ms) / 1e3;
  for (int k = 0; k < NREC; k++) {
    qsort(v[k], (size_t)runs, sizeof(double), cmp_double);
    med[k] = v[k][runs / 2];
    rsession_close(&s[k]);
  }
  if (json) {
    printf("{\"runs\":%d,\"ms\":%d,\"clock_ns\":%.1f", runs, ms, clock_ns);
    for (int k = 0; k < NREC; k++)
      printf(",\"%s_us\":%.4f", fig[k].name, med[k]);
    printf("}\n");
    return;
  }
  printf(
      "The server's echo of an established TLS 1.3 session (AES-128-GCM) "
      "in memory, one core, median of %d runs of %d ms, us:\n",
      runs, ms);
  printf(
      "                                  engine      own     aead  "
      "engine-own\n");
  printf("  64 B message, one per read    %8.3f %8.3f %8.3f %8.3f\n", med[0],
         med[1], med[2], med[0] - med[1]);
  printf("  16 KiB record, 4 per read     %8.3f %8.3f %8.3f %8.3f\n", med[3],
         med[4], med[5], med[3] - med[4]);
  printf("  16 KiB record, 64 KiB reads   %8.3f %8.3f        - %8.3f\n", med[6],
         med[7], med[6] - med[7]);
}

int main(int argc, char **argv) {
  int runs = 3, ms = 200, json = 0, want_flights = 0, want_records = 0;
  struct creds c = {0};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--json")) {
      json = 1;
      continue;
    }
    if (!strcmp(a, "--flights")) {
      want_flights = 1;
      continue;
    }
    if (!strcmp(a, "--records")) {
      want_records = 1;
      continue;
    }
    if (!v) goto usage;
    i++;
    if (!strcmp(a, "--runs"))
      runs = atoi(v);
    else if (!strcmp(a, "--ms"))
      ms = atoi(v);
    else if (!strcmp(a, "--ca"))
      c.ca = v;
    else if (!strcmp(a, "--cert"))
      c.cert = v;
    else if (!strcmp(a, "--key"))
      c.key = v;
    else if (!strcmp(a, "--client-cert"))
      c.client_cert = v;
    else if (!strcmp(a, "--client-key"))
      c.client_key = v;
    else
      goto usage;
  }
  if (runs < 1 || runs > MAX_RUNS || ms < 1) goto usage;
  int given = !!c.ca + !!c.cert + !!c.key + !!c.client_cert + !!c.client_key;
  if (given != 0 && given != 5) {
    fprintf(stderr, "tls_floor: give all five files, or none (minted)\n");
    return 2;
  }
  if (!given) mint(&c);
  load(&c);
  calibrate();
  SSL_CTX *cctx = client_ctx(&c);
  struct target bssl = {plain_server_ctx(&c), NULL, cctx};
  struct target echod = {NULL, echod_snapshot(&c), cctx};
  unmint(&c); /* everything is read */
  double f[4] = {0};
  char shape[2][200];
  if (want_records) {
    records(echod.snap, cctx, runs, ms, json);
  } else if (want_flights) {
    flights(&echod, 0, shape[0], sizeof(shape[0]));
    flights(&echod, 1, shape[1], sizeof(shape[1]));
  } else {
    measure(&bssl, &echod, runs, ms, f);
  }
  SSL_CTX_free(bssl.sctx);
  ed_tls_snapshot_unref(echod.snap);
  SSL_CTX_free(cctx);
  SSL_SESSION_free(ticket);
  X509_free(c.ca_x), X509_free(c.cert_x), X509_free(c.client_x);
  EVP_PKEY_free(c.key_k), EVP_PKEY_free(c.client_k);
  if (want_records) {
  } else if (want_flights) {
    printf(json ? "{\"shape_full\":\"%s\",\"shape_resumed\":\"%s\"}\n"
                : "Message patterns of echod's sessions (client bytes:server "
                  "answer, per step):\n  full     %s\n  resumed  %s\n",
           shape[0], shape[1]);
  } else if (json) {
    printf(
        "{\"runs\":%d,\"ms\":%d,\"clock_ns\":%.1f,"
        "\"tls_full_boringssl_us\":%.2f,\"tls_resumed_boringssl_us\":%.2f,"
        "\"tls_full_echod_us\":%.2f,\"tls_resumed_echod_us\":%.2f}\n",
        runs, ms, clock_ns, f[0], f[1], f[2], f[3]);
  } else {
    printf(
        "One server-side TLS 1.3 session in memory (handshake, 32-byte "
        "echo, close_notify), one core, median of %d runs of %d ms:\n",
        runs, ms);
    printf("  BoringSSL alone   full %8.1f us   resumed %8.1f us\n", f[0],
           f[1]);
    printf("  echod's engine    full %8.1f us   resumed %8.1f us\n", f[2],
           f[3]);
  }
  return 0;
usage:
  fprintf(stderr,
          "usage: tls_floor [--runs N] [--ms MS] [--json] [--flights | "
          "--records] "
          "[--ca F --cert F "
          "--key F --client-cert F --client-key F]\n");
  return 2;
}

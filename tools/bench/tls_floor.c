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
 * Usage: tls_floor [--runs N] [--ms MS] [--json] [--flights]
 *            [--ca F --cert F --key F --client-cert F --client-key F] */
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
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

int main(int argc, char **argv) {
  int runs = 3, ms = 200, json = 0, want_flights = 0;
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
  if (want_flights) {
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
  if (want_flights) {
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
          "usage: tls_floor [--runs N] [--ms MS] [--json] [--flights] "
          "[--ca F --cert F "
          "--key F --client-cert F --client-key F]\n");
  return 2;
}

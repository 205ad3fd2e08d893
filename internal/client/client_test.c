/* Unit tests for internal/client: flag parsing, alert names, the sentence
 * a newcomer sees when the dev certificates are missing, and sessions
 * against an in-process BoringSSL echo server (pipe mode byte-exact, with
 * and without the server's close_notify; the wrong-servername sentence).
 * The rest of the TLS paths are covered end to end by tests/core. */
#include "internal/client/client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/ec_key.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/nid.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal/testing/testing.h"

static char last_err[512];

static int parse(struct ed_client_opts *o, const char *first, ...) {
  char *argv[32];
  int argc = 0;
  argv[argc++] = "client";
  va_list ap;
  va_start(ap, first);
  for (const char *a = first; a && argc < 31; a = va_arg(ap, const char *))
    argv[argc++] = (char *)a;
  va_end(ap);
  argv[argc] = NULL;
  last_err[0] = '\0';
  return ed_client_opts_parse(o, argc, argv, last_err, sizeof(last_err));
}

static void test_defaults(void) {
  struct ed_client_opts o;
  CHECK_EQ(parse(&o, NULL), 0);
  CHECK_STR(o.connect, "127.0.0.1:7443");
  CHECK(o.ca == NULL && o.cert == NULL && o.key == NULL);
  CHECK(o.servername == NULL);
  CHECK_EQ(o.tls_min, 0x0304);
  CHECK_EQ(o.quiet, 0);
  CHECK_EQ(o.help, 0);
  CHECK_EQ(o.mode, ED_CLIENT_MODE_AUTO);
  CHECK_EQ(o.timeout_ms, 10000);
  ed_client_opts_cleanup(&o);
}

static void test_flags(void) {
  struct ed_client_opts o;
  setenv("BUILD_WORKING_DIRECTORY", "/w", 1); /* as `bazel run` sets it */
  CHECK_EQ(parse(&o, "--connect", "[::1]:9", "--ca=ca.pem", "--cert", "c.pem",
                 "--key=k.pem", "--servername", "localhost", "--tls-min=1.2",
                 "--quiet", "--sess-out", "s.out", "--sess-in=s.in",
                 "--timeout", "3", "--pipe", NULL),
           0);
  unsetenv("BUILD_WORKING_DIRECTORY");
  CHECK_STR(o.connect, "[::1]:9");
  CHECK_STR(o.ca, "/w/ca.pem");
  CHECK_STR(o.cert, "/w/c.pem");
  CHECK_STR(o.key, "/w/k.pem");
  CHECK_STR(o.servername, "localhost");
  CHECK_EQ(o.tls_min, 0x0303);
  CHECK_EQ(o.quiet, 1);
  CHECK_STR(o.sess_out, "/w/s.out");
  CHECK_STR(o.sess_in, "/w/s.in");
  CHECK_EQ(o.timeout_ms, 3000);
  CHECK_EQ(o.mode, ED_CLIENT_MODE_PIPE);
  ed_client_opts_cleanup(&o);
  CHECK_EQ(parse(&o, "--help", NULL), 0);
  CHECK_EQ(o.help, 1);
  ed_client_opts_cleanup(&o);
  CHECK_EQ(parse(&o, "--version", NULL), 0);
  CHECK_EQ(o.version, 1);
  ed_client_opts_cleanup(&o);
  CHECK(strstr(ed_client_usage(), "--servername") != NULL);
  CHECK(strncmp(ed_client_usage(), "usage: echo-client ", 19) == 0);
}

static void expect_usage(const char *want, const char *a1, const char *a2) {
  struct ed_client_opts o;
  int rc = parse(&o, a1, a2, NULL);
  CHECK_EQ(rc, ED_E_USAGE);
  CHECK(strstr(last_err, want) != NULL);
  if (!strstr(last_err, want))
    fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", last_err, want);
  CHECK(strchr(last_err, '\n') == NULL);
  ed_client_opts_cleanup(&o);
}

static void test_errors(void) {
  expect_usage("unknown flag --bogus", "--bogus", NULL);
  expect_usage("unexpected argument", "host:1", NULL);
  expect_usage("--connect needs a value", "--connect", NULL);
  expect_usage("not host:port", "--connect", "localhost");
  expect_usage("not host:port", "--connect", "127.0.0.1:0");
  expect_usage("not host:port", "--connect", "127.0.0.1:99999");
  expect_usage("unknown TLS version", "--tls-min", "1.1");
  expect_usage("--timeout", "--timeout", "0");
  expect_usage("empty value", "--ca=", NULL);
  expect_usage("unknown flag --quiet=1", "--quiet=1", NULL);
}

static void test_alert_names(void) {
  CHECK_STR(ed_client_alert_name(44), "certificate_revoked");
  CHECK_STR(ed_client_alert_name(48), "unknown_ca");
  CHECK_STR(ed_client_alert_name(116), "certificate_required");
  CHECK_STR(ed_client_alert_name(70), "protocol_version");
  CHECK_STR(ed_client_alert_name(0), "close_notify");
  CHECK_STR(ed_client_alert_name(250), "unknown");
}

/* run_capture runs the client on |o| with no stdin/stdout and returns its
 * code; its messages land in |out|. */
static int run_capture(const struct ed_client_opts *o, char *out,
                       size_t out_len) {
  FILE *msgs = tmpfile();
  out[0] = '\0';
  if (!msgs) return -1;
  int rc = ed_client_run(o, -1, -1, msgs);
  rewind(msgs);
  size_t n = fread(out, 1, out_len - 1, msgs);
  out[n] = '\0';
  fclose(msgs);
  return rc;
}

/* test_missing_dev_certs: with an empty state dir the client names the
 * missing file and says how to create it, and fails before connecting. */
static void test_missing_dev_certs(void) {
  char dir[512], out[4096] = "";
  const char *t = getenv("TEST_TMPDIR");
  snprintf(dir, sizeof(dir), "%s/client_test.XXXXXX", t ? t : "/tmp");
  CHECK(mkdtemp(dir) != NULL);
  setenv("ECHOD_STATE_DIR", dir, 1);
  struct ed_client_opts o;
  CHECK_EQ(parse(&o, "--connect", "127.0.0.1:1", NULL), 0);
  FILE *msgs = tmpfile();
  CHECK(msgs != NULL);
  if (!msgs) return;
  int rc = ed_client_run(&o, -1, -1, msgs);
  CHECK_EQ(rc, ED_E_NOENT);
  rewind(msgs);
  size_t n = fread(out, 1, sizeof(out) - 1, msgs);
  out[n] = '\0';
  fclose(msgs);
  CHECK(strstr(out, "/pki/ca.pem does not exist") != NULL);
  /* Not started by `bazel run`: the installed names. */
  CHECK(strstr(out, "dev certificates (echod)") != NULL);
  CHECK(strstr(out, "echo-pki issue client NAME") != NULL);
  CHECK(strstr(out, "bazel run") == NULL);
  CHECK_EQ(strchr(out, '\n') - out, (long)n - 1); /* one line */
  /* Started by `bazel run`: the bazel run forms. */
  setenv("BUILD_WORKSPACE_DIRECTORY", dir, 1);
  CHECK_EQ(run_capture(&o, out, sizeof(out)), ED_E_NOENT);
  CHECK(strstr(out, "dev certificates (bazel run //cmd:server)") != NULL);
  CHECK(strstr(out, "bazel run //cmd:pki -- issue client NAME") != NULL);
  unsetenv("BUILD_WORKSPACE_DIRECTORY");
  ed_client_opts_cleanup(&o);

  /* A missing --ca asks for the CA, not for a client certificate. */
  CHECK_EQ(parse(&o, "--ca", "/nonexistent/ca.pem", "--cert", "/dev/null",
                 "--key", "/dev/null", NULL),
           0);
  CHECK_EQ(run_capture(&o, out, sizeof(out)), ED_E_NOENT);
  CHECK(strstr(out,
               "CA certificate /nonexistent/ca.pem (--ca) does not "
               "exist; pass the CA certificate that signed the server's "
               "certificate with --ca FILE") != NULL);
  CHECK(strstr(out, "client certificate") == NULL);
  if (!strstr(out, "--ca FILE")) fprintf(stderr, "  said: %s\n", out);
  ed_client_opts_cleanup(&o);

  CHECK_EQ(parse(&o, "--ca", "/dev/null", "--cert", "/nonexistent/me.pem",
                 "--key", "/dev/null", NULL),
           0);
  msgs = tmpfile();
  if (!msgs) return;
  CHECK_EQ(ed_client_run(&o, -1, -1, msgs), ED_E_NOENT);
  rewind(msgs);
  n = fread(out, 1, sizeof(out) - 1, msgs);
  out[n] = '\0';
  fclose(msgs);
  CHECK(strstr(out,
               "client certificate /nonexistent/me.pem (--cert) does not "
               "exist; create a client certificate with: echo-pki issue "
               "client NAME") != NULL);
  ed_client_opts_cleanup(&o);
}

/* ---- against a real TLS server ------------------------------------------- */

/* A self-signed P-256 certificate for "localhost" and 127.0.0.1 that both
 * sides use (the server trusts it as the client CA too). Its SAN also
 * carries an 8-byte iPAddress (a name-constraint style value): the
 * client's error message must not read past it. */
static int make_cert(const char *cert_path, const char *key_path, int ed25519) {
  EVP_PKEY *pkey = NULL;
  if (ed25519) {
    EVP_PKEY_CTX *kc = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
    if (!kc || !EVP_PKEY_keygen_init(kc) || !EVP_PKEY_keygen(kc, &pkey))
      pkey = NULL;
    EVP_PKEY_CTX_free(kc);
  } else {
    EC_KEY *ec = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
    pkey = EVP_PKEY_new();
    if (!ec || !EC_KEY_generate_key(ec) || !EVP_PKEY_assign_EC_KEY(pkey, ec)) {
      EC_KEY_free(ec);
      EVP_PKEY_free(pkey);
      pkey = NULL;
    }
  }
  if (!pkey) return -1;
  X509 *x = X509_new();
  GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
  static const uint8_t ip4[4] = {127, 0, 0, 1}, odd[8] = {10, 0, 0, 0, 255};
  const struct {
    int type;
    const void *data;
    int len;
  } sans[] = {
      {GEN_DNS, "localhost", 9}, {GEN_IPADD, ip4, 4}, {GEN_IPADD, odd, 8}};
  for (size_t i = 0; i < 3; i++) {
    GENERAL_NAME *g = GENERAL_NAME_new();
    ASN1_STRING *v = sans[i].type == GEN_DNS ? ASN1_IA5STRING_new()
                                             : ASN1_OCTET_STRING_new();
    ASN1_STRING_set(v, sans[i].data, sans[i].len);
    GENERAL_NAME_set0_value(g, sans[i].type, v);
    sk_GENERAL_NAME_push(gens, g);
  }
  int ok =
      X509_set_version(x, 2) && ASN1_INTEGER_set(X509_get_serialNumber(x), 1) &&
      X509_gmtime_adj(X509_getm_notBefore(x), -3600) &&
      X509_gmtime_adj(X509_getm_notAfter(x), 86400) &&
      X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                                 (const uint8_t *)"echo-test", -1, -1, 0) &&
      X509_set_issuer_name(x, X509_get_subject_name(x)) &&
      X509_set_pubkey(x, pkey) &&
      X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, 0) &&
      X509_sign(x, pkey, ed25519 ? NULL : EVP_sha256());
  GENERAL_NAMES_free(gens);
  FILE *cf = ok ? fopen(cert_path, "w") : NULL;
  FILE *kf = ok ? fopen(key_path, "w") : NULL;
  ok = cf && kf && PEM_write_X509(cf, x) &&
       PEM_write_PrivateKey(kf, pkey, NULL, NULL, 0, NULL, NULL);
  if (cf) fclose(cf);
  if (kf) fclose(kf);
  X509_free(x);
  EVP_PKEY_free(pkey);
  return ok ? 0 : -1;
}

/* What the in-process server does with its one connection. */
enum srv_mode {
  SRV_ECHO = 0, /* echo until the client's close_notify */
  SRV_CLOSE,    /* close TCP at once, before a byte (a full server) */
  SRV_RESET,    /* reset TCP at once (SO_LINGER 0) */
  SRV_END,      /* handshake, then close_notify first (a drain) */
};

struct srv {
  int lfd;
  uint16_t port;
  SSL_CTX *ctx;
  int close_notify; /* answer the client's close_notify with ours */
  enum srv_mode mode;
  pthread_t th;
};

/* serve handles one connection as |s->mode| says. */
static void *serve(void *arg) {
  struct srv *s = arg;
  int fd = accept(s->lfd, NULL, NULL);
  if (fd >= 0 && (s->mode == SRV_CLOSE || s->mode == SRV_RESET)) {
    struct linger lg = {1, 0};
    if (s->mode == SRV_RESET)
      setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
    return NULL;
  }
  SSL *ssl = fd >= 0 ? SSL_new(s->ctx) : NULL;
  if (ssl && SSL_set_fd(ssl, fd) && SSL_accept(ssl) == 1 &&
      s->mode == SRV_END) {
    char buf[256];
    SSL_shutdown(ssl);
    while (SSL_read(ssl, buf, sizeof(buf)) > 0) {
    }
  } else if (ssl && SSL_is_init_finished(ssl)) {
    char buf[16384];
    int n;
    while ((n = SSL_read(ssl, buf, sizeof(buf))) > 0) {
      for (int off = 0, w; off < n; off += w) {
        if ((w = SSL_write(ssl, buf + off, n - off)) <= 0) break;
      }
    }
    if (s->close_notify) SSL_shutdown(ssl);
  }
  SSL_free(ssl);
  if (fd >= 0) close(fd);
  ERR_clear_error();
  return NULL;
}

static int srv_start(struct srv *s, const char *cert, const char *key,
                     int close_notify, enum srv_mode mode) {
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof(a);
  memset(s, 0, sizeof(*s));
  s->close_notify = close_notify;
  s->mode = mode;
  s->ctx = SSL_CTX_new(TLS_method());
  s->lfd = socket(AF_INET, SOCK_STREAM, 0);
  /* Like echod, accept Ed25519 client certificates too. */
  static const uint16_t prefs[] = {SSL_SIGN_ED25519,
                                   SSL_SIGN_ECDSA_SECP256R1_SHA256};
  if (s->ctx) SSL_CTX_set_verify_algorithm_prefs(s->ctx, prefs, 2);
  if (!s->ctx || s->lfd < 0 ||
      !SSL_CTX_use_certificate_chain_file(s->ctx, cert) ||
      !SSL_CTX_use_PrivateKey_file(s->ctx, key, SSL_FILETYPE_PEM) ||
      !SSL_CTX_load_verify_locations(s->ctx, cert, NULL) ||
      bind(s->lfd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
      listen(s->lfd, 4) != 0 ||
      getsockname(s->lfd, (struct sockaddr *)&a, &len) != 0)
    return -1;
  SSL_CTX_set_verify(s->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                     NULL);
  s->port = ntohs(a.sin_port);
  return pthread_create(&s->th, NULL, serve, s) == 0 ? 0 : -1;
}

static void srv_stop(struct srv *s) {
  shutdown(s->lfd, SHUT_RDWR); /* wakes an accept that never got a peer */
  pthread_join(s->th, NULL);
  close(s->lfd);
  SSL_CTX_free(s->ctx);
}

static char tls_dir[512], cert_pem[600], key_pem[600];

/* run_pipe runs the client in pipe mode over |len| bytes of |data| against
 * a server that does (or does not) send its close_notify; extra flags in
 * |extra| (NULL-terminated). Returns ed_client_run's code; the echo lands
 * in |*out| (caller frees), messages in |msgs|. */
static int run_pipe(const uint8_t *data, size_t len, int close_notify,
                    const char *const *extra, uint8_t **out, size_t *out_len,
                    char *msgs, size_t msgs_len) {
  struct srv s;
  char in_path[700], out_path[700], connect[32];
  snprintf(in_path, sizeof(in_path), "%s/in", tls_dir);
  snprintf(out_path, sizeof(out_path), "%s/out", tls_dir);
  CHECK_EQ(ed_write_file_atomic(in_path, data, len, 0600), 0);
  CHECK_EQ(srv_start(&s, cert_pem, key_pem, close_notify, SRV_ECHO), 0);
  snprintf(connect, sizeof(connect), "127.0.0.1:%u", s.port);
  const char *argv[16] = {"client", "--connect", connect,     "--ca",
                          cert_pem, "--cert",    cert_pem,    "--key",
                          key_pem,  "--pipe",    "--timeout", "10"};
  int argc = 12;
  for (; extra && *extra && argc < 15; extra++) argv[argc++] = *extra;
  struct ed_client_opts o;
  CHECK_EQ(
      ed_client_opts_parse(&o, argc, (char **)argv, last_err, sizeof(last_err)),
      0);
  int in_fd = open(in_path, O_RDONLY);
  int out_fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  FILE *m = tmpfile();
  int rc = ed_client_run(&o, in_fd, out_fd, m);
  close(in_fd);
  close(out_fd);
  srv_stop(&s);
  ed_client_opts_cleanup(&o);
  rewind(m);
  size_t n = fread(msgs, 1, msgs_len - 1, m);
  msgs[n] = '\0';
  fclose(m);
  CHECK_EQ(ed_read_file(out, out_len, out_path, 64u << 20), 0);
  return rc;
}

/* Pipe mode is byte-exact on 3 MiB of binary data, and a server that hangs
 * up after our close_notify without sending its own loses nothing. */
static void test_pipe_mode_byte_exact(void) {
  size_t len = 3u << 20;
  uint8_t *data = ed_malloc(len), *out = NULL;
  char msgs[4096];
  size_t out_len = 0;
  for (size_t i = 0; i < len; i++) data[i] = (uint8_t)(i * 131 + (i >> 12));
  for (int close_notify = 1; close_notify >= 0; close_notify--) {
    int rc = run_pipe(data, len, close_notify, NULL, &out, &out_len, msgs,
                      sizeof(msgs));
    CHECK_EQ(rc, 0);
    if (rc) fprintf(stderr, "  client said: %s\n", msgs);
    CHECK_EQ(out_len, len);
    CHECK(out && out_len == len && memcmp(out, data, len) == 0);
    CHECK(strstr(msgs, close_notify ? "server_close_notify=yes"
                                    : "server_close_notify=no") != NULL);
    free(out);
    out = NULL;
  }
  free(data);
}

/* A wrong --servername gets the sentence that lists the names the server's
 * certificate carries (and reading them stays inside the certificate). */
static void test_wrong_servername_sentence(void) {
  static const char *const extra[] = {"--servername", "wrong.example", NULL};
  uint8_t *out = NULL;
  size_t out_len = 0;
  char msgs[4096];
  int rc = run_pipe((const uint8_t *)"x", 1, 1, extra, &out, &out_len, msgs,
                    sizeof(msgs));
  CHECK_EQ(rc, ED_E_VERIFY);
  CHECK(strstr(msgs,
               "not valid for \"wrong.example\" (it names: localhost, "
               "127.0.0.1); connect with --servername") != NULL);
  if (rc != ED_E_VERIFY || !strstr(msgs, "it names: localhost, 127.0.0.1)"))
    fprintf(stderr, "  client said: %s\n", msgs);
  CHECK_EQ(out_len, 0);
  free(out);
}

/* run_mode runs the client in pipe mode with |cert|/|key| (and |cert| as
 * CA) against a server in |mode|. Stdin is a pipe holding |input| that
 * stays open, as a user's would. Returns the code; messages in |msgs|. */
static int run_mode(enum srv_mode mode, const char *cert, const char *key,
                    const char *input, char *msgs, size_t msgs_len) {
  struct srv s;
  char connect[32];
  int in[2];
  CHECK_EQ(pipe(in), 0);
  CHECK_EQ(write(in[1], input, strlen(input)), (long)strlen(input));
  CHECK_EQ(srv_start(&s, cert, key, 1, mode), 0);
  snprintf(connect, sizeof(connect), "127.0.0.1:%u", s.port);
  const char *argv[] = {"client",    "--connect", connect, "--ca", cert,
                        "--cert",    cert,        "--key", key,    "--pipe",
                        "--timeout", "10",        NULL};
  struct ed_client_opts o;
  CHECK_EQ(
      ed_client_opts_parse(&o, 12, (char **)argv, last_err, sizeof(last_err)),
      0);
  int out_fd = open("/dev/null", O_WRONLY);
  FILE *m = tmpfile();
  int rc = ed_client_run(&o, in[0], out_fd, m);
  close(in[1]);
  close(in[0]);
  close(out_fd);
  srv_stop(&s);
  ed_client_opts_cleanup(&o);
  rewind(m);
  size_t n = fread(msgs, 1, msgs_len - 1, m);
  msgs[n] = '\0';
  fclose(m);
  return rc;
}

/* A server that closes or resets TCP before sending a byte (as echod does
 * at --max-connections) is said to have done so; before, the client
 * explained a verification that never ran ("Invalid certificate
 * verification context"). */
static void test_silent_close_sentence(void) {
  char msgs[4096];
  int rc = run_mode(SRV_CLOSE, cert_pem, key_pem, "x", msgs, sizeof(msgs));
  CHECK_EQ(rc, ED_E_CLOSED);
  CHECK(strstr(msgs, "the connection before sending anything") != NULL);
  CHECK(strstr(msgs, "--max-connections") != NULL);
  CHECK(strstr(msgs, "verification") == NULL);
  if (!strstr(msgs, "before sending anything"))
    fprintf(stderr, "  client said: %s\n", msgs);
  rc = run_mode(SRV_RESET, cert_pem, key_pem, "x", msgs, sizeof(msgs));
  CHECK_EQ(rc, ED_E_CLOSED);
  CHECK(strstr(msgs, "reset the connection before sending anything") != NULL);
  if (!strstr(msgs, "reset the connection"))
    fprintf(stderr, "  client said: %s\n", msgs);
}

/* A server that ends the session first (a drain) while stdin is still
 * open: the client says so, not "echoing 0 of 0 bytes". */
static void test_server_ends_first_sentence(void) {
  char msgs[4096];
  int rc = run_mode(SRV_END, cert_pem, key_pem, "", msgs, sizeof(msgs));
  CHECK_EQ(rc, ED_E_CLOSED);
  CHECK(strstr(msgs, "the server is shutting down") != NULL);
  CHECK(strstr(msgs, "nothing had been sent") != NULL);
  CHECK(strstr(msgs, "0 of 0") == NULL);
  if (!strstr(msgs, "shutting down")) fprintf(stderr, "  said: %s\n", msgs);
}

/* An Ed25519 server certificate (echo-pki --key-type ed25519): the client
 * offers Ed25519 among its signature algorithms, so the handshake works
 * (it failed with NO_COMMON_SIGNATURE_ALGORITHMS). */
static void test_ed25519_server(void) {
  char cert[700], key[700], msgs[4096];
  snprintf(cert, sizeof(cert), "%s/ed.pem", tls_dir);
  snprintf(key, sizeof(key), "%s/ed.key", tls_dir);
  CHECK_EQ(make_cert(cert, key, 1), 0);
  int rc = run_mode(SRV_END, cert, key, "", msgs, sizeof(msgs));
  CHECK(strstr(msgs, "handshake ok") != NULL);
  CHECK_EQ(rc, ED_E_CLOSED); /* then the server ends it, as asked */
  if (!strstr(msgs, "handshake ok")) fprintf(stderr, "  said: %s\n", msgs);
}

static void test_tls_sessions(void) {
  const char *t = getenv("TEST_TMPDIR");
  snprintf(tls_dir, sizeof(tls_dir), "%s/client_tls.XXXXXX", t ? t : "/tmp");
  CHECK(mkdtemp(tls_dir) != NULL);
  snprintf(cert_pem, sizeof(cert_pem), "%s/cert.pem", tls_dir);
  snprintf(key_pem, sizeof(key_pem), "%s/key.pem", tls_dir);
  CHECK_EQ(make_cert(cert_pem, key_pem, 0), 0);
  test_pipe_mode_byte_exact();
  test_wrong_servername_sentence();
  test_silent_close_sentence();
  test_server_ends_first_sentence();
  test_ed25519_server();
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  RUN(test_defaults);
  RUN(test_flags);
  RUN(test_errors);
  RUN(test_alert_names);
  RUN(test_missing_dev_certs);
  RUN(test_tls_sessions);
  return TEST_RESULT();
}

/* internal/loop — see conn_harness.h. */
#include "internal/loop/conn_harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal/listen/listen.h"
#include "internal/testing/testing.h"
#include "internal/tls/testcerts.h"

#define SOCK_BUF (32 * 1024)

/* A failed check in the harness ends the test at once (h_abort), with the
 * server's log: what follows would run on a broken harness. (It also
 * counts in the test's TEST_RESULT: testing.h keeps one count per test
 * binary.) */
static void h_abort(void);
#define H_FATAL(check)                \
  do {                                \
    check;                            \
    if (ed_test_failures_) h_abort(); \
  } while (0)

/* The harness whose log stderr goes to now (log_to_file to h_finish). */
static struct harness *logging;

/* ---- credentials (made once per process) ------------------------------- */

static SSL_CTX *ctx_alice, *ctx_nocert, *ctx_retry;
static struct ed_tls_keyring *keyring;
static SSL_SESSION *last_ticket;

static int on_ticket(SSL *ssl, SSL_SESSION *s) {
  (void)ssl;
  SSL_SESSION_free(last_ticket);
  last_ticket = s;
  return 1; /* we keep the reference */
}

SSL_SESSION *cli_ticket(void) {
  if (last_ticket) SSL_SESSION_up_ref(last_ticket);
  return last_ticket;
}

static SSL_CTX *client_ctx(X509 *ca, X509 *cert, EVP_PKEY *key) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_method());
  if (cert) {
    SSL_CTX_use_certificate(ctx, cert);
    SSL_CTX_use_PrivateKey(ctx, key);
  }
  X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_session_cache_mode(
      ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
  SSL_CTX_sess_set_new_cb(ctx, on_ticket);
  return ctx;
}

static void setup_once(void) {
  if (keyring) return;
  EVP_PKEY *ca_key = tc_key(), *srv_key = tc_key(), *cli_key = tc_key();
  struct tc_opts o = {.cn = "conn test CA"};
  X509 *ca = tc_cert(ca_key, &o);
  struct tc_opts so = {.cn = "server",
                       .issuer = ca,
                       .issuer_key = ca_key,
                       .eku = TC_EKU_SERVER,
                       .san = "DNS:localhost"};
  X509 *srv = tc_cert(srv_key, &so);
  struct tc_opts co = {
      .cn = "alice", .issuer = ca, .issuer_key = ca_key, .eku = TC_EKU_CLIENT};
  X509 *alice = tc_cert(cli_key, &co);
  tc_write_cert(tc_path("conn-ca.pem"), &ca, 1);
  tc_write_cert(tc_path("conn-server.pem"), &srv, 1);
  tc_write_key(tc_path("conn-server.key"), srv_key, 0600);
  ctx_alice = client_ctx(ca, alice, cli_key);
  ctx_nocert = client_ctx(ca, NULL, NULL);
  /* Its one key share is for a group the server does not take. */
  ctx_retry = client_ctx(ca, alice, cli_key);
  if (!SSL_CTX_set1_curves_list(ctx_retry, "P-521:P-256")) abort();
  keyring = ed_tls_keyring_new(3600);
  X509_free(ca);
  X509_free(srv);
  X509_free(alice);
  EVP_PKEY_free(ca_key);
  EVP_PKEY_free(srv_key);
  EVP_PKEY_free(cli_key);
}

static struct ed_tls_snapshot *get_snap(void *arg) {
  struct harness *h = arg;
  ed_tls_snapshot_ref(h->snap);
  return h->snap;
}

/* ---- the fake pool ------------------------------------------------------ */

static int fake_submit(void *pool, struct ed_hs_job *job, int is_new) {
  struct fake_pool *p = pool;
  if (is_new && p->refuse) {
    p->refuse = 0;
    return ED_E_AGAIN;
  }
  job->next = NULL;
  if (p->tail) {
    p->tail->next = job;
  } else {
    p->head = job;
  }
  p->tail = job;
  p->queued++;
  p->submitted++;
  return 0;
}

static int fake_full(void *pool) {
  return ((struct fake_pool *)pool)->full;
}

static size_t fake_busy(void *pool) {
  return ((struct fake_pool *)pool)->queued;
}

static const struct ed_loop_pool_ops fake_ops = {fake_submit, fake_full,
                                                 fake_busy};

struct ed_hs_job *h_pool_take(struct harness *h) {
  struct ed_hs_job *job = h->pool.head;
  if (!job) return NULL;
  h->pool.head = job->next;
  if (!h->pool.head) h->pool.tail = NULL;
  h->pool.queued--;
  job->next = NULL;
  return job;
}

size_t h_pool_run(struct harness *h, size_t n) {
  size_t ran = 0;
  struct ed_hs_job *job;
  while (ran < n && (job = h_pool_take(h)) != NULL) {
    job->run(job); /* what a pool thread does */
    job->complete(job);
    ran++;
    h_pump(h);
  }
  return ran;
}

/* ---- the loop ----------------------------------------------------------- */

void h_init(struct harness *h) {
  memset(h, 0, sizeof(*h));
  h->cfg.tls_min = 0x0304;
  h->cfg.max_connections = 100000;
  h->cfg.max_pending_handshakes = 4096;
  h->cfg.max_handshaking = 4096;
  h->cfg.max_buffer = 65536;
  h->cfg.handshake_timeout_ms = 10000;
  h->cfg.idle_timeout_ms = 300000;
  h->cfg.drain_timeout_ms = 30000;
  h->cfg.log_level = ED_LOG_INFO;
  h->saved_stderr = -1;
}

static void log_to_file(struct harness *h) {
  static int n;
  snprintf(h->log_path, sizeof(h->log_path), "%s", tc_path("conn-log"));
  size_t len = strlen(h->log_path);
  snprintf(h->log_path + len, sizeof(h->log_path) - len, ".%d", n++);
  int fd = open(h->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) abort();
  fflush(stderr);
  h->saved_stderr = dup(2);
  dup2(fd, 2);
  close(fd);
  logging = h;
}

/* h_logs_back puts stderr back and copies the server's log to it, so a
 * failing test shows it. */
static void h_logs_back(struct harness *h) {
  fflush(stderr);
  dup2(h->saved_stderr, 2);
  close(h->saved_stderr);
  h->saved_stderr = -1;
  logging = NULL;
  uint8_t *text = NULL;
  size_t len = 0;
  if (ed_read_file(&text, &len, h->log_path, 1 << 24) == 0)
    (void)!write(2, text, len);
  free(text);
}

static void h_abort(void) {
  if (logging) h_logs_back(logging);
  fprintf(stderr, "conn_harness: a check failed (above); test stopped\n");
  abort();
}

struct ed_tls_snapshot *h_snapshot(const char *allow_cn) {
  char err[256];
  struct ed_tls_snapshot *s = NULL;
  setup_once();
  struct ed_tls_params p = {.cert = tc_path("conn-server.pem"),
                            .key = tc_path("conn-server.key"),
                            .ca = tc_path("conn-ca.pem"),
                            .keyring = keyring};
  if (allow_cn) p.allow_cn = &allow_cn, p.num_allow_cn = 1;
  if (ed_tls_snapshot_new(&s, &p, err, sizeof(err)) != 0) {
    fprintf(stderr, "snapshot: %s\n", err);
    abort();
  }
  return s;
}

void h_publish(struct harness *h, struct ed_tls_snapshot *s) {
  ed_tls_snapshot_unref(h->snap);
  h->snap = s;
  atomic_fetch_add(&h->sh.snap_gen, 1);
}

void h_start(struct harness *h) {
  char err[256];
  h->snap = h_snapshot(NULL);
  h->sh.cfg = &h->cfg;
  h->sh.max_conns = h->cfg.max_connections; /* as the server sizes them */
  h->sh.max_handshaking = h->cfg.max_handshaking;
  h->sh.pool = &h->pool;
  h->sh.pool_ops = &fake_ops;
  h->sh.snapshot_get = get_snap;
  h->sh.snapshot_arg = h;
  atomic_init(&h->sh.next_id, 1);
  ed_log_set_level(ED_LOG_INFO);
  log_to_file(h);
  h->l = ed_loop_new(0, &h->sh);
  struct ed_listener ls;
  struct sockaddr_in sa;
  socklen_t sa_len = sizeof(sa);
  int small = SOCK_BUF; /* accepted sockets inherit it */
  int defer = h->defer_accept ? ED_LISTEN_DEFER_S : 0;
  if (!h->l || ed_listen_bind(&ls, "127.0.0.1:0", err, sizeof(err)) ||
      setsockopt(ls.fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer, sizeof(defer)) !=
          0 ||
      setsockopt(ls.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)) != 0 ||
      setsockopt(ls.fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)) != 0 ||
      ed_listen_start(&ls, err, sizeof(err)) != 0 ||
      getsockname(ls.fd, (struct sockaddr *)&sa, &sa_len) != 0 ||
      ed_loop_add_listener(h->l, ls.fd) != 0) {
    abort();
  }
  h->port = ntohs(sa.sin_port);
}

void h_pump(struct harness *h) {
  /* Loopback delivers within send(): a few non-blocking turns run every
   * callback that follows (reads, writes, wake-ups, close callbacks). */
  for (int i = 0; i < 8; i++) uv_run(&h->l->uv, UV_RUN_NOWAIT);
}

void h_expire(struct harness *h, uint64_t after_ms) {
  ed_loop_expire(h->l, uv_now(&h->l->uv) + after_ms);
  h_pump(h);
}

int64_t h_num_conns(struct harness *h) {
  return ed_loop_num_conns(h->l);
}

void h_stats(struct harness *h, struct ed_stats_snapshot *out) {
  ed_stats_snapshot_init(out);
  ed_loop_stats(h->l, out);
}

void h_finish(struct harness *h) {
  ed_loop_post_stop(h->l);
  h_pump(h);
  for (int i = 0; i < 100 && (h->pool.head || h_num_conns(h) > 0); i++) {
    h_pool_run(h, 64);
    h_pump(h);
  }
  H_FATAL(CHECK_EQ(h_num_conns(h), 0));
  ed_loop_free(h->l);
  ed_tls_snapshot_unref(h->snap);
  free(h->log);
  h_logs_back(h);
}

/* ---- public views ------------------------------------------------------- */

struct find {
  char want[32];
  struct ed_session_info *out;
  int found;
};

static int find_one(void *arg, const struct ed_session_info *s) {
  struct find *f = arg;
  if (strcmp(s->peer, f->want) != 0 && strcmp(s->via, f->want) != 0) return 0;
  *f->out = *s;
  f->found = 1;
  return 1;
}

int h_session(struct harness *h, uint16_t port, struct ed_session_info *out) {
  struct find f = {.out = out};
  snprintf(f.want, sizeof(f.want), "127.0.0.1:%u", port);
  ed_loop_sessions(h->l, find_one, &f);
  return f.found ? 0 : -1;
}

void h_one_outcome(struct harness *h, struct cli *c, const char *msg,
                   const char *reason, const char *detail) {
  char v[256];
  const char *other = strcmp(msg, HS_FAILED) == 0 ? CLOSED : HS_FAILED;
  H_FATAL(CHECK_EQ(h_log_count(h, msg, c->port), 1));
  H_FATAL(CHECK_EQ(h_log_count(h, other, c->port), 0));
  H_FATAL(
      CHECK_STR(h_log_field(h, msg, c->port, "reason", v, sizeof(v)), reason));
  if (detail)
    H_FATAL(CHECK_STR(h_log_field(h, msg, c->port, "detail", v, sizeof(v)),
                      detail));
}

uint64_t h_session_id(struct harness *h, struct cli *c) {
  struct ed_session_info s;
  return h_session(h, c->port, &s) == 0 ? s.id : 0;
}

struct ed_conn *h_conn(struct harness *h, uint16_t port) {
  char want[32];
  snprintf(want, sizeof(want), "127.0.0.1:%u", port);
  for (struct ed_link *e = h->l->conns.next; e != &h->l->conns; e = e->next) {
    struct ed_conn *c = CONN_OF(e, reg);
    if (strcmp(c->peer_addr, want) == 0) return c;
  }
  return NULL;
}

int h_state(struct harness *h, uint16_t port) {
  struct ed_session_info s;
  return h_session(h, port, &s) == 0 ? (int)s.state : -1;
}

static const char *log_text(struct harness *h) {
  free(h->log);
  h->log = NULL;
  size_t len = 0;
  if (ed_read_file((uint8_t **)&h->log, &len, h->log_path, 1 << 24) != 0)
    return "";
  h->log = realloc(h->log, len + 1);
  h->log[len] = '\0';
  return h->log;
}

/* next_line finds the next line at or after |p| with msg |msg| and the
 * client's address as peer or via. */
static const char *next_line(const char *p, const char *msg, uint16_t port) {
  char m[128], q[96], addr[64];
  snprintf(m, sizeof(m), "msg=%s ", ed_logq(q, sizeof(q), msg));
  snprintf(addr, sizeof(addr), "=127.0.0.1:%u ", port);
  for (; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
    const char *end = strchr(p, '\n');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    char line[2048];
    snprintf(line, sizeof(line), "%.*s ", (int)n, p);
    if (strstr(line, m) && strstr(line, addr)) return p;
  }
  return NULL;
}

int h_log_count(struct harness *h, const char *msg, uint16_t port) {
  int count = 0;
  for (const char *p = next_line(log_text(h), msg, port); p;
       p = next_line(strchr(p, '\n'), msg, port)) {
    count++;
  }
  return count;
}

const char *h_log_field(struct harness *h, const char *msg, uint16_t port,
                        const char *key, char *out, size_t out_len) {
  char k[64];
  out[0] = '\0';
  const char *line = next_line(log_text(h), msg, port);
  if (!line) return out;
  snprintf(k, sizeof(k), " %s=", key);
  const char *end = strchr(line, '\n');
  const char *v = strstr(line, k);
  if (!v || (end && v > end)) return out;
  v += strlen(k);
  size_t n = 0;
  int quoted = *v == '"';
  for (v += quoted; *v && *v != '\n' && n + 1 < out_len; v++) {
    if (quoted ? *v == '"' : *v == ' ') break;
    out[n++] = *v;
  }
  out[n] = '\0';
  return out;
}

/* ---- clients ------------------------------------------------------------ */

SSL_CTX *cli_ctx(enum cli_cert cert) {
  setup_once();
  switch (cert) {
    case CLI_ALICE:
      return ctx_alice;
    case CLI_RETRY:
      return ctx_retry;
    default:
      return ctx_nocert;
  }
}

/* cli_connect connects |c| to the harness's listener. */
static void cli_connect(struct harness *h, struct cli *c, enum cli_cert cert) {
  memset(c, 0, sizeof(*c));
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons(h->port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t alen = sizeof(a);
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  /* No Nagle: every send is on the wire when send returns. Small buffers
   * (the listener's too, see h_start): a few hundred KiB fill them, so a
   * test sees where the server stops reading. */
  int one = 1, small = SOCK_BUF;
  if (c->fd < 0 ||
      setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0 ||
      setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)) != 0 ||
      setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)) != 0 ||
      connect(c->fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
      getsockname(c->fd, (struct sockaddr *)&a, &alen) != 0) {
    abort();
  }
  c->port = ntohs(a.sin_port);
  fcntl(c->fd, F_SETFL, O_NONBLOCK);
  c->tls = ed_tls_conn_new_client(cli_ctx(cert), "localhost", NULL);
  ed_buf_init(&c->in, 1u << 26);
  ed_buf_init(&c->plain, 1u << 26);
}

/* wait_accepted pumps until the loop's accepted count passes |before|. */
static void wait_accepted(struct harness *h, uint64_t before) {
  struct ed_stats_snapshot st;
  h_stats(h, &st);
  for (int i = 0; i < 1000 && st.accepted == before; i++) {
    h_pump(h);
    h_stats(h, &st);
  }
  H_FATAL(CHECK(st.accepted > before));
}

void cli_open(struct harness *h, struct cli *c, enum cli_cert cert) {
  struct ed_stats_snapshot st;
  h_stats(h, &st);
  cli_connect(h, c, cert);
  wait_accepted(h, st.accepted);
}

void cli_open_hello(struct harness *h, struct cli *c, enum cli_cert cert) {
  struct ed_stats_snapshot st;
  h_stats(h, &st);
  cli_connect(h, c, cert);
  struct ed_buf out;
  ed_buf_init(&out, 1u << 20);
  H_FATAL(CHECK_EQ(cli_hs_bytes(c, &out), 0));
  H_FATAL(
      CHECK(send(c->fd, out.data, out.len, MSG_NOSIGNAL) == (ssize_t)out.len));
  ed_buf_cleanup(&out);
  wait_accepted(h, st.accepted);
}

void cli_free(struct cli *c) {
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
  ed_tls_conn_free(c->tls);
  c->tls = NULL;
  ed_buf_cleanup(&c->in);
  ed_buf_cleanup(&c->plain);
}

void cli_recv(struct cli *c) {
  uint8_t buf[65536];
  while (c->fd >= 0) {
    ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
    if (n > 0) {
      if (ed_buf_append(&c->in, buf, (size_t)n) != 0) abort();
    } else if (n == 0) {
      c->eof = 1;
      return;
    } else if (errno == EINTR) {
      continue;
    } else {
      if (errno != EAGAIN && errno != EWOULDBLOCK) c->reset = 1;
      return;
    }
  }
}

void cli_send(struct harness *h, struct cli *c, const void *data, size_t len) {
  const uint8_t *p = data;
  for (int spins = 0; len > 0 && spins < 100000;) {
    ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
    if (n > 0) {
      p += n, len -= (size_t)n;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      h_pump(h); /* the server reads; our reads keep its writes going */
      cli_recv(c);
      spins++;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      return; /* the server is gone: what the test checks next */
    }
  }
  H_FATAL(CHECK_EQ(len, 0));
}

int cli_hs_bytes(struct cli *c, struct ed_buf *out) {
  cli_recv(c);
  struct ed_tls_io io = {c->in.data, c->in.len, 0, out};
  c->hs_rc = ed_tls_conn_handshake(c->tls, &io);
  ed_buf_consume(&c->in, io.in_used);
  if (c->hs_rc < 0) {
    c->tls_failed = 1;
    ed_tls_conn_failure(c->tls, NULL);
  }
  return c->hs_rc;
}

int cli_hs(struct harness *h, struct cli *c) {
  struct ed_buf out;
  ed_buf_init(&out, 1u << 20);
  int rc = cli_hs_bytes(c, &out);
  cli_send(h, c, out.data, out.len);
  ed_buf_cleanup(&out);
  return rc;
}

void cli_seal(struct cli *c, struct ed_buf *out, const void *data, size_t len) {
  struct ed_tls_io io = {NULL, 0, 0, out};
  if (ed_tls_conn_write(c->tls, &io, data, len) != 0) abort();
}

void cli_write(struct harness *h, struct cli *c, const void *data, size_t len) {
  struct ed_buf out;
  ed_buf_init(&out, 1u << 26);
  cli_seal(c, &out, data, len);
  cli_send(h, c, out.data, out.len);
  ed_buf_cleanup(&out);
}

void cli_read(struct cli *c) {
  uint8_t buf[16384];
  struct ed_buf scratch;
  ed_buf_init(&scratch, 1u << 20);
  cli_recv(c);
  struct ed_tls_io io = {c->in.data, c->in.len, 0, &scratch};
  while (!c->notified && !c->tls_failed) {
    size_t got = 0;
    int rc = ed_tls_conn_read(c->tls, &io, &got, buf, sizeof(buf));
    if (got && ed_buf_append(&c->plain, buf, got) != 0) abort();
    if (rc == ED_E_CLOSED) c->notified = 1;
    if (rc == ED_E_TLS) {
      c->tls_failed = 1;
      ed_tls_conn_failure(c->tls, NULL);
    }
    if (rc != 0) break;
  }
  ed_buf_consume(&c->in, io.in_used);
  ed_buf_cleanup(&scratch);
}

void cli_fin(struct cli *c) {
  shutdown(c->fd, SHUT_WR);
}

void cli_rst(struct cli *c) {
  struct linger lg = {1, 0};
  setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  close(c->fd);
  c->fd = -1;
}

void establish(struct harness *h, struct cli *c) {
  cli_open(h, c, CLI_ALICE);
  H_FATAL(first_step(h, c)); /* ClientHello */
  /* The server's flight in, our last one out. */
  H_FATAL(last_step(h, c));
  H_FATAL(CHECK_EQ(h_state(h, c->port), ED_SESSION_ESTABLISHED));
  cli_read(c); /* tickets */
}

/* ---- steps and queries the tests share ---------------------------------- */

void send_hello(struct harness *h, struct cli *c) {
  CHECK_EQ(cli_hs(h, c), 0);
  h_pump(h);
}

void first_step(struct harness *h, struct cli *c) {
  send_hello(h, c);
  CHECK_EQ(h_pool_run(h, 1), 1);
}

void last_flight(struct harness *h, struct cli *c, const char *extra) {
  struct ed_buf out;
  ed_buf_init(&out, 1 << 20);
  CHECK_EQ(cli_hs_bytes(c, &out), 1);
  if (extra) cli_seal(c, &out, extra, strlen(extra));
  cli_send(h, c, out.data, out.len);
  ed_buf_cleanup(&out);
  h_pump(h);
}

void last_step(struct harness *h, struct cli *c) {
  last_flight(h, c, NULL);
  CHECK_EQ(h_pool_run(h, 1), 1);
}

void cli_open_resuming(struct harness *h, struct cli *c) {
  SSL_SESSION *sess = cli_ticket();
  CHECK(sess != NULL);
  cli_open(h, c, CLI_ALICE);
  ed_tls_conn_free(c->tls);
  c->tls = ed_tls_conn_new_client(cli_ctx(CLI_ALICE), "localhost", sess);
  SSL_SESSION_free(sess); /* the client's engine holds it */
}

void cli_close(struct cli *c) {
  close(c->fd);
  c->fd = -1;
}

int echoes(struct harness *h, struct cli *c, const char *text) {
  size_t len = strlen(text);
  cli_write(h, c, text, len);
  h_pump(h);
  cli_read(c);
  return c->plain.len == len && memcmp(c->plain.data, text, len) == 0;
}

void cli_read_until(struct harness *h, struct cli *c, size_t len) {
  for (int i = 0; i < 2000 && c->plain.len < len; i++) {
    h_pump(h);
    cli_read(c);
  }
}

void h_pump_until_freed(struct harness *h) {
  for (int i = 0; i < 100 && h_num_conns(h) > 0; i++) h_pump(h);
  CHECK_EQ(h_num_conns(h), 0);
}

uint64_t h_hs_errors(struct harness *h, enum ed_hs_reason r) {
  struct ed_stats_snapshot st;
  h_stats(h, &st);
  return st.hs_errors[r];
}

const char *h_field(struct harness *h, const char *msg, struct cli *c,
                    const char *key) {
  static char v[256];
  return h_log_field(h, msg, c->port, key, v, sizeof(v));
}

size_t proxy_v2(uint8_t *out) {
  static const uint8_t sig[] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
  size_t n = 0;
  memcpy(out, sig, sizeof(sig));
  n += sizeof(sig);
  out[n++] = 0x21; /* v2, PROXY */
  out[n++] = 0x11; /* TCP over IPv4 */
  out[n++] = 0;
  out[n++] = 12;
  const uint8_t addrs[12] = {
      203, 0, 113,  7,    10,   0,
      0,   1, 0x10, 0x92, 0x1C, 0xBB}; /* 203.0.113.7:4242 -> 10.0.0.1:7355 */
  memcpy(out + n, addrs, sizeof(addrs));
  return n + sizeof(addrs);
}

void proxy_open(struct harness *h, struct cli *c) {
  h_init(h);
  h->cfg.proxy_protocol = 1;
  h_start(h);
  cli_open(h, c, CLI_ALICE);
}

size_t proxy_hello(struct cli *c, struct ed_buf *out) {
  uint8_t hdr[64];
  size_t len = proxy_v2(hdr);
  ed_buf_init(out, 1 << 16);
  ed_buf_append(out, hdr, len);
  CHECK_EQ(cli_hs_bytes(c, out), 0);
  return len;
}

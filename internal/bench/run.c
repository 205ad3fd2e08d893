/* internal/bench — one run: TLS context, address, threads, and the phases
 * of each scenario, measured from the orchestrating thread. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "internal/base/base.h"
#include "internal/bench/bench_internal.h"
#include "internal/net/addr.h"

typedef struct ed_bench__worker worker;

#define HELLO_CHUNK 65536 /* the engine reads at most this much at once */

/* ---- setup --------------------------------------------------------------- */

int ed_bench__split_hostport(char *host, size_t host_len, char *port,
                             size_t port_len, const char *s) {
  uint16_t p;
  if (ed_net_split_hostport(host, host_len, &p, s, NULL) != 0)
    return ED_E_INVAL;
  int n = snprintf(port, port_len, "%u", p);
  return n > 0 && (size_t)n < port_len ? 0 : ED_E_INVAL;
}

static int is_ip_literal(const char *host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host, buf) == 1 ||
         inet_pton(AF_INET6, host, buf) == 1;
}

static int resolve(struct ed_bench__run *r, const char *host,
                   const char *port) {
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof(hints));
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  int rv = getaddrinfo(host, port, &hints, &res);
  if (rv != 0 || !res) {
    fprintf(stderr, "echo-bench: cannot resolve %s: %s\n", host,
            gai_strerror(rv));
    return ED_E_INVAL;
  }
  memcpy(&r->addr, res->ai_addr, res->ai_addrlen);
  r->addr_len = res->ai_addrlen;
  freeaddrinfo(res);
  return 0;
}

static int tls_fail(const char *what, const char *path) {
  if (path && access(path, R_OK) != 0) {
    fprintf(stderr,
            "echo-bench: %s %s: %s (start the server once to create the "
            "dev PKI, or pass --ca, --cert and --key)\n",
            what, path, strerror(errno));
    ERR_clear_error();
    return ED_E_TLS;
  }
  unsigned long e = ERR_peek_last_error();
  fprintf(stderr, "echo-bench: %s%s%s: %s\n", what, path ? " " : "",
          path ? path : "", e ? ERR_reason_error_string(e) : "failed");
  ERR_clear_error();
  return ED_E_TLS;
}

/* client_ctx makes a context with the client certificate, TLS 1.2-1.3,
 * X25519 only, trusting |ca| when not NULL. Returns 0 or ED_E_TLS (message
 * on stderr); *out is set either way (NULL-safe to free). */
static int client_ctx(SSL_CTX **out, const struct ed_bench_opts *o,
                      const char *ca) {
  SSL_CTX *ctx = *out = SSL_CTX_new(TLS_method());
  if (!ctx) return tls_fail("cannot create SSL_CTX", NULL);
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
  if (!SSL_CTX_set1_curves_list(ctx, "X25519"))
    return tls_fail("cannot set groups", NULL);
  if (ca && !SSL_CTX_load_verify_locations(ctx, ca, NULL))
    return tls_fail("cannot load CA", ca);
  if (!SSL_CTX_use_certificate_chain_file(ctx, o->cert))
    return tls_fail("cannot load client certificate", o->cert);
  if (!SSL_CTX_use_PrivateKey_file(ctx, o->key, SSL_FILETYPE_PEM))
    return tls_fail("cannot load client key", o->key);
  if (!SSL_CTX_check_private_key(ctx))
    return tls_fail("key does not match certificate", o->cert);
  return 0;
}

static enum ssl_verify_result_t accept_any_server(SSL *ssl,
                                                  uint8_t *out_alert) {
  (void)ssl;
  (void)out_alert;
  return ssl_verify_ok;
}

/* make_storm_ctx: flood's storm workers present the client certificate
 * and do full handshakes but do not check the server's certificate chain,
 * which leaves more of the client core to the storm. An accept-all custom
 * verify, because with SSL_VERIFY_NONE alone BoringSSL still runs the
 * chain check (and ignores the result). BoringSSL always checks the
 * server's CertificateVerify signature; no API skips that one. */
static int make_storm_ctx(struct ed_bench__run *r) {
  int err = client_ctx(&r->storm_ctx, r->o, NULL);
  if (err) return err;
  SSL_CTX_set_custom_verify(r->storm_ctx, SSL_VERIFY_PEER, accept_any_server);
  SSL_CTX_set_session_cache_mode(r->storm_ctx, SSL_SESS_CACHE_OFF);
  return 0;
}

static int make_ctx(struct ed_bench__run *r, const char *host) {
  const struct ed_bench_opts *o = r->o;
  int err = client_ctx(&r->ctx, o, o->ca);
  if (err) return err;
  SSL_CTX *ctx = r->ctx;
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
  X509_VERIFY_PARAM *param = SSL_CTX_get0_param(ctx);
  const char *name = o->servername ? o->servername : host;
  int ok = (!o->servername && is_ip_literal(host))
               ? X509_VERIFY_PARAM_set1_ip_asc(param, host)
               : X509_VERIFY_PARAM_set1_host(param, name, strlen(name));
  if (!ok) return tls_fail("cannot check server name", NULL);
  if (o->servername || !is_ip_literal(host)) r->sni = ed_strdup(name);
  if (o->resume) {
    SSL_CTX_set_session_cache_mode(
        ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
    SSL_CTX_sess_set_new_cb(ctx, ed_bench__on_new_session);
  } else {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  }
  return 0;
}

static void make_pattern(struct ed_bench__run *r) {
  r->period = 65521; /* prime, so streams at different offsets differ */
  r->chunk = r->o->size > HELLO_CHUNK ? r->o->size : HELLO_CHUNK;
  r->pattern = ed_malloc(r->period + r->chunk);
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (size_t i = 0; i < r->period; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    r->pattern[i] = (uint8_t)(x >> 24);
  }
  for (size_t i = 0; i < r->chunk; i++)
    r->pattern[r->period + i] = r->pattern[i % r->period];
}

static int is_ipv4_loopback(const struct sockaddr *sa) {
  if (sa->sa_family != AF_INET) return 0;
  const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
  return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
}

int ed_bench_plan_sources(uint32_t *out_n, const struct sockaddr *dst,
                          uint32_t asked, char *err, size_t err_len) {
  *out_n = 0;
  if (asked > ED_BENCH_MAX_SOURCES) {
    snprintf(err, err_len, "--sources: at most %d", ED_BENCH_MAX_SOURCES);
    return ED_E_INVAL;
  }
  if (asked == 1) return 0;
  if (!is_ipv4_loopback(dst)) {
    if (asked == 0) return 0;
    snprintf(err, err_len,
             "--sources %u: only an IPv4 loopback server (127.x.x.x) can "
             "be reached from 127.0.0.1 .. 127.0.0.N",
             asked);
    return ED_E_INVAL;
  }
  *out_n = asked ? asked : 8;
  return 0;
}

/* Descriptors a client loop opens besides its connections: libuv's
 * epoll set, its signal pipe (two) and the async wakeup's eventfd. */
#define FDS_PER_LOOP 4
/* Process-wide: libuv's global signal lock pipe, flood's timerfds and
 * metrics scrapes, and slack. */
#define FDS_RESERVE 8

uint64_t ed_bench_max_sessions(uint64_t limit, uint64_t open_now,
                               uint32_t threads) {
  uint64_t own = open_now + (uint64_t)threads * FDS_PER_LOOP + FDS_RESERVE;
  return limit > own ? limit - own : 0;
}

/* plan_sources fills r->src with 127.0.0.1 .. 127.0.0.N (see
 * ed_bench_plan_sources). */
static int plan_sources(struct ed_bench__run *r,
                        const struct ed_bench_opts *o) {
  char err[160];
  if (ed_bench_plan_sources(&r->nsrc, (const struct sockaddr *)&r->addr,
                            o->sources, err, sizeof(err))) {
    fprintf(stderr, "echo-bench: %s\n", err);
    return ED_E_INVAL;
  }
  for (uint32_t i = 0; i < r->nsrc; i++) {
    struct sockaddr_in *sa = &r->src[i];
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_addr.s_addr = htonl(0x7f000001u + i);
  }
  return 0;
}

/* check_fds takes the hard descriptor limit and, for the scenarios that
 * hold one descriptor per session, refuses a C that cannot fit, saying
 * how many would. */
static int check_fds(struct ed_bench__run *r, const struct ed_bench_opts *o) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  uint64_t open_now = 0;
  ed_bench_proc_fds(&open_now, (int)getpid());
  r->fd_limit = (uint64_t)rl.rlim_cur;
  r->max_sessions = ed_bench_max_sessions(r->fd_limit, open_now, o->threads);
  int held = o->scenario == ED_BENCH_IDLE || o->scenario == ED_BENCH_SCALE;
  if (held && o->conns > r->max_sessions) {
    fprintf(stderr,
            "echo-bench: %u sessions do not fit: this process may open %llu "
            "descriptors (RLIMIT_NOFILE, hard limit %llu) and needs one per "
            "session plus its own; at most %llu sessions fit\n",
            o->conns, (unsigned long long)rl.rlim_cur,
            (unsigned long long)rl.rlim_max,
            (unsigned long long)r->max_sessions);
    return ED_E_INVAL;
  }
  return 0;
}

static int run_setup(struct ed_bench__run *r, const struct ed_bench_opts *o) {
  memset(r, 0, sizeof(*r));
  r->o = o;
  r->plain = o->plain;
  r->scale = o->scenario == ED_BENCH_SCALE;
  pthread_mutex_init(&r->mu, NULL);
  char why[160];
  if (o->shape && ed_shape_parse(&r->shape, o->shape, why, sizeof(why)) != 0)
    return ED_E_INVAL; /* checked by ed_bench_opts_parse */
  char host[256], port[32];
  if (ed_bench__split_hostport(host, sizeof(host), port, sizeof(port),
                               o->connect)) {
    fprintf(stderr, "echo-bench: --connect wants HOST:PORT, not %s\n",
            o->connect);
    return ED_E_INVAL;
  }
  int err = resolve(r, host, port);
  if (!err) err = plan_sources(r, o);
  if (!err && !o->plain) err = make_ctx(r, host);
  if (!err && o->scenario == ED_BENCH_FLOOD) err = make_storm_ctx(r);
  if (!err) err = check_fds(r, o);
  if (err) return err;
  make_pattern(r);
  if (o->scenario == ED_BENCH_PARTIAL) ed_bench__partial_setup(r);
  const char *pause = getenv("ECHO_BENCH_TEST_CHECK_PAUSE_US");
  if (pause) r->test_check_pause_us = (uint32_t)strtoul(pause, NULL, 10);
  r->bounded = o->count > 0;
  atomic_store(&r->budget, (int64_t)o->count);
  return 0;
}

static void run_cleanup(struct ed_bench__run *r) {
  SSL_CTX_free(r->ctx);
  SSL_CTX_free(r->storm_ctx);
  free(r->sni);
  free(r->pattern);
  free(r->partial);
  pthread_mutex_destroy(&r->mu);
}

/* ---- scenarios ----------------------------------------------------------- */

static int run_simple(struct ed_bench__run *r, struct ed_bench_result *out,
                      struct ed_bench__progress *pg) {
  const struct ed_bench_opts *o = r->o;
  enum ed_bench__kind kind = o->scenario == ED_BENCH_HANDSHAKE ? K_HANDSHAKE
                             : o->scenario == ED_BENCH_BULK    ? K_BULK
                                                               : K_ECHO;
  struct ed_bench__pool p = {0};
  struct ed_bench__snap a, b;
  atomic_store(&r->phase, kind == K_HANDSHAKE ? PH_MEASURE : PH_SETUP);
  ed_bench__snap_take(&a, &p, o->server_pid);
  int err = ed_bench__pool_start(&p, r, kind, o->threads, o->conns, o->size, 0);
  if (!err && kind != K_HANDSHAKE) {
    ed_bench__wait_for(pg, &p, r,
                       ed_bench__deadline_after(ed_now_ns(), o->timeout_s + 20),
                       ed_bench__setup_finished);
    ed_bench__snap_take(&a, &p, o->server_pid);
    atomic_store(&r->phase, PH_MEASURE);
    ed_bench__pool_wake(&p);
  }
  pg->t0 = a.t_ns;
  if (!err)
    ed_bench__wait_for(pg, &p, r,
                       ed_bench__deadline_after(a.t_ns, o->duration_s),
                       ed_bench__window_finished);
  ed_bench__snap_take(&b, &p, o->server_pid);
  ed_bench__pool_stop(&p, r);
  ed_bench__fill_window(out, &a, &b);
  ed_bench__fill_failures(out, &p);
  ed_bench__merge_lat(&out->lat, &p, offsetof(worker, lat));
  out->established = ed_bench__pool_sum(&p, CTR(established));
  ed_bench__pool_free(&p);
  return err;
}

static int run_idle(struct ed_bench__run *r, struct ed_bench_result *out,
                    struct ed_bench__progress *pg) {
  const struct ed_bench_opts *o = r->o;
  struct ed_bench__pool p = {0};
  struct ed_bench__snap a, b;
  int pid = o->server_pid;
  uint64_t rss0 = 0, rss1 = 0;
  int rss_ok = pid > 0 && ed_bench_proc_rss_kib(&rss0, pid) == 0;
  atomic_store(&r->phase, PH_SETUP);
  ed_bench__snap_take(&a, &p, pid);
  int err =
      ed_bench__pool_start(&p, r, K_IDLE, o->threads, o->conns, o->size, 0);
  if (!err)
    ed_bench__wait_for(pg, &p, r,
                       ed_bench__deadline_after(
                           ed_now_ns(), o->timeout_s + 60 + o->conns / 100.0),
                       ed_bench__setup_finished);
  ed_bench__snap_take(&b, &p, pid);
  ed_bench__fill_window(out, &a, &b); /* server CPU per session opened */
  out->established = ed_bench__pool_sum(&p, CTR(established));
  out->ops = out->established;
  out->ops_per_s = out->elapsed_s > 0 ? (double)out->ops / out->elapsed_s : 0;
  out->server_cpu_us_per_op =
      out->ops ? out->server_cpu_us / (double)out->ops : 0;
  atomic_store(&r->phase, PH_HOLD);
  uint64_t t0 = ed_now_ns();
  pg->t0 = t0;
  ed_bench__wait_for(pg, &p, r, ed_bench__deadline_after(t0, o->duration_s),
                     NULL);
  out->elapsed_s = (double)(ed_now_ns() - t0) / 1e9;
  rss_ok = rss_ok && ed_bench_proc_rss_kib(&rss1, pid) == 0;
  atomic_store(&r->phase, PH_CHECK);
  ed_bench__pool_wake(&p);
  ed_bench__wait_for(pg, &p, r,
                     ed_bench__deadline_after(ed_now_ns(), o->timeout_s + 5),
                     ed_bench__checks_finished);
  out->held = ed_bench__pool_sum(&p, CTR(held));
  ed_bench__pool_stop(&p, r);
  ed_bench__fill_failures(out, &p);
  if (rss_ok) {
    out->server_rss_before_kib = rss0;
    out->server_rss_after_kib = rss1;
    if (out->established)
      out->server_kib_per_session =
          ((double)rss1 - (double)rss0) / (double)out->established;
  }
  ed_bench__pool_free(&p);
  return err;
}

int ed_bench_run(const struct ed_bench_opts *o, struct ed_bench_result *out) {
  memset(out, 0, sizeof(*out));
  out->scenario = o->scenario;
  out->conns = o->scenario == ED_BENCH_FLOOD ? o->echo_conns : o->conns;
  out->plain = o->plain;
  if (o->shape) snprintf(out->shape, sizeof(out->shape), "%s", o->shape);
  out->rate = o->scenario == ED_BENCH_FLOOD ||
                      o->scenario == ED_BENCH_PARTIAL ||
                      o->scenario == ED_BENCH_ECHO
                  ? o->rate
                  : 0;
  out->size = o->size;
  out->threads = o->threads;
  out->storm = o->scenario == ED_BENCH_FLOOD ? o->storm : 0;
  out->resume = o->resume;
  out->server_pid = o->server_pid;
  cpu_set_t set;
  out->client_cpus = sched_getaffinity(0, sizeof(set), &set) == 0
                         ? (uint32_t)CPU_COUNT(&set)
                         : (uint32_t)sysconf(_SC_NPROCESSORS_ONLN);
  struct ed_bench__run *r = ed_calloc(1, sizeof(*r));
  int err = run_setup(r, o);
  if (err) {
    run_cleanup(r);
    free(r);
    return err;
  }
  struct ed_bench__progress pg = {0};
  pg.show = o->progress < 0 ? isatty(2) : o->progress;
  pg.label = ed_bench_scenario_name(o->scenario);
  pg.last_ns = pg.t0 = ed_now_ns();
  out->sources = r->nsrc;
  out->scale.client_fd_limit = r->fd_limit;
  out->scale.client_max_sessions = r->max_sessions;
  if (o->scenario == ED_BENCH_IDLE) {
    err = run_idle(r, out, &pg);
  } else if (o->scenario == ED_BENCH_SCALE) {
    err = ed_bench__run_scale(r, out, &pg);
  } else if (o->scenario == ED_BENCH_FLOOD) {
    err = ed_bench__run_flood(r, out, &pg);
  } else if (o->scenario == ED_BENCH_PARTIAL) {
    err = ed_bench__run_partial(r, out, &pg);
  } else {
    err = run_simple(r, out, &pg);
  }
  ed_bench__progress_end(&pg);
  if (err) fprintf(stderr, "echo-bench: cannot start: %s\n", uv_strerror(err));
  snprintf(out->first_error, sizeof(out->first_error), "%s", r->first_error);
  snprintf(out->scale.first_refusal, sizeof(out->scale.first_refusal), "%s",
           r->first_refusal);
  snprintf(out->version, sizeof(out->version), "%s", r->version);
  snprintf(out->cipher, sizeof(out->cipher), "%s", r->cipher);
  snprintf(out->group, sizeof(out->group), "%s", r->group);
  run_cleanup(r);
  free(r);
  return err ? ED_E_SYS : 0;
}

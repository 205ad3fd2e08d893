/* internal/bench — one run: TLS context, address, threads, and the phases
 * of each scenario, measured from the orchestrating thread. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
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

typedef struct ed_bench__worker worker;

#define HELLO_CHUNK 65536 /* the engine reads at most this much at once */
#define FLOOD_ECHO_CONNS 8

/* ---- setup --------------------------------------------------------------- */

int ed_bench__split_hostport(char *host, size_t host_len, char *port,
                             size_t port_len, const char *s) {
  const char *colon = strrchr(s, ':');
  if (!colon || colon == s || !colon[1]) return ED_E_INVAL;
  const char *h = s;
  size_t hl = (size_t)(colon - s);
  if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
    h++;
    hl -= 2;
  }
  if (hl >= host_len || strlen(colon + 1) >= port_len) return ED_E_INVAL;
  memcpy(host, h, hl);
  host[hl] = '\0';
  snprintf(port, port_len, "%s", colon + 1);
  return 0;
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

static int run_setup(struct ed_bench__run *r, const struct ed_bench_opts *o) {
  memset(r, 0, sizeof(*r));
  r->o = o;
  pthread_mutex_init(&r->mu, NULL);
  char host[256], port[32];
  if (ed_bench__split_hostport(host, sizeof(host), port, sizeof(port),
                               o->connect)) {
    fprintf(stderr, "echo-bench: --connect wants HOST:PORT, not %s\n",
            o->connect);
    return ED_E_INVAL;
  }
  int err = resolve(r, host, port);
  if (!err) err = make_ctx(r, host);
  if (!err && o->scenario == ED_BENCH_FLOOD) err = make_storm_ctx(r);
  if (err) return err;
  make_pattern(r);
  const char *pause = getenv("ECHO_BENCH_TEST_CHECK_PAUSE_US");
  if (pause) r->test_check_pause_us = (uint32_t)strtoul(pause, NULL, 10);
  r->bounded = o->count > 0;
  atomic_store(&r->budget, (int64_t)o->count);
  /* 10,000 sessions need 10,000 descriptors: take the hard limit. */
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  return 0;
}

static void run_cleanup(struct ed_bench__run *r) {
  SSL_CTX_free(r->ctx);
  SSL_CTX_free(r->storm_ctx);
  free(r->sni);
  free(r->pattern);
  pthread_mutex_destroy(&r->mu);
}

/* ---- threads ------------------------------------------------------------- */

struct pool {
  worker *w;
  uint32_t n;
};

/* pool_start starts |threads| loops of |kind| sharing |total| connections.
 * Returns 0 or a negative libuv error. */
static int pool_start(struct pool *p, struct ed_bench__run *r,
                      enum ed_bench__kind kind, uint32_t threads,
                      uint32_t total, uint32_t size, uint32_t first_id) {
  if (threads > total) threads = total;
  if (threads == 0) threads = 1;
  p->n = threads;
  p->w = ed_calloc(threads, sizeof(worker));
  uint32_t id = first_id;
  for (uint32_t i = 0; i < threads; i++) {
    worker *w = &p->w[i];
    w->r = r;
    w->kind = kind;
    w->size = size;
    w->nconns = total / threads + (i < total % threads ? 1 : 0);
    w->first_id = id;
    w->ctx = r->ctx;
    if (kind == K_HANDSHAKE && r->o->scenario == ED_BENCH_FLOOD)
      w->ctx = r->storm_ctx;
    if (kind == K_ECHO && r->o->scenario == ED_BENCH_FLOOD) {
      w->flood_echo = 1;
      if (r->o->rate) w->interval_ns = 1000000000u / r->o->rate;
    }
    id += w->nconns;
    int err = ed_bench__worker_start(w);
    if (err) {
      p->n = i;
      return err;
    }
  }
  return 0;
}

static void pool_wake(struct pool *p) {
  for (uint32_t i = 0; i < p->n; i++) ed_bench__worker_wake(&p->w[i]);
}

static void pool_join(struct pool *p) {
  for (uint32_t i = 0; i < p->n; i++) ed_bench__worker_join(&p->w[i]);
}

static void pool_free(struct pool *p) {
  free(p->w);
  p->w = NULL;
  p->n = 0;
}

#define CTR(field) offsetof(struct ed_bench__counters, field)

static uint64_t pool_sum(const struct pool *p, size_t off) {
  uint64_t s = 0;
  for (uint32_t i = 0; i < p->n; i++) {
    const char *base = (const char *)&p->w[i].c;
    s += atomic_load((_Atomic uint64_t *)(base + off));
  }
  return s;
}

static uint64_t pool_failures(const struct pool *p) {
  return pool_sum(p, CTR(refused)) + pool_sum(p, CTR(connect_failed)) +
         pool_sum(p, CTR(mismatch)) + pool_sum(p, CTR(dropped)) +
         pool_sum(p, CTR(timeouts));
}

static int pool_all(const struct pool *p, size_t flag_off) {
  for (uint32_t i = 0; i < p->n; i++) {
    const char *base = (const char *)&p->w[i];
    if (!atomic_load((_Atomic int *)(base + flag_off))) return 0;
  }
  return 1;
}

/* ---- measuring ----------------------------------------------------------- */

struct snap {
  uint64_t t_ns, ops, bytes, resumed;
  uint64_t srv_cpu_us;
  int srv_ok;
  uint64_t self_cpu_us;
};

static void snap_take(struct snap *s, const struct pool *p, int pid) {
  s->t_ns = ed_now_ns();
  s->ops = pool_sum(p, CTR(ops));
  s->bytes = pool_sum(p, CTR(bytes));
  s->resumed = pool_sum(p, CTR(resumed));
  s->srv_ok = pid > 0 && ed_bench_proc_cpu_us(&s->srv_cpu_us, pid) == 0;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  s->self_cpu_us =
      (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
      (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

struct progress {
  int show;
  const char *label;
  uint64_t t0, last_ns, last_ops;
};

static void progress_tick(struct progress *pg, const struct pool *p) {
  if (!pg->show) return;
  uint64_t now = ed_now_ns();
  if (now - pg->last_ns < 1000000000u) return;
  uint64_t ops = pool_sum(p, CTR(ops));
  double rate =
      (double)(ops - pg->last_ops) / ((double)(now - pg->last_ns) / 1e9);
  fprintf(stderr, "\r%-10s %6.1f s  ops %-12llu %12.0f/s  errors %llu\033[K",
          pg->label, (double)(now - pg->t0) / 1e9, (unsigned long long)ops,
          rate, (unsigned long long)pool_failures(p));
  pg->last_ns = now;
  pg->last_ops = ops;
}

static void progress_end(struct progress *pg) {
  if (pg->show) fprintf(stderr, "\r\033[K");
}

typedef int (*done_fn)(const struct pool *p, const struct ed_bench__run *r);

/* wait_for sleeps in 10 ms steps until |deadline_ns| or until |done|. */
static void wait_for(struct progress *pg, const struct pool *p,
                     const struct ed_bench__run *r, uint64_t deadline_ns,
                     done_fn done) {
  struct timespec ts = {0, 10 * 1000 * 1000};
  while (ed_now_ns() < deadline_ns) {
    if (done && done(p, r)) return;
    nanosleep(&ts, NULL);
    progress_tick(pg, p);
  }
}

static int setup_finished(const struct pool *p, const struct ed_bench__run *r) {
  (void)r;
  return pool_all(p, offsetof(worker, setup_done));
}

static int checks_finished(const struct pool *p,
                           const struct ed_bench__run *r) {
  (void)r;
  return pool_all(p, offsetof(worker, check_done));
}

/* window_finished: the operation budget is spent, or no connection is
 * left to do anything. */
static int window_finished(const struct pool *p,
                           const struct ed_bench__run *r) {
  uint64_t ops = pool_sum(p, CTR(ops));
  if (r->bounded && ops + pool_failures(p) >= r->o->count) return 1;
  uint64_t total = 0;
  for (uint32_t i = 0; i < p->n; i++) total += p->w[i].nconns;
  return pool_sum(p, CTR(dead)) >= total;
}

static uint64_t deadline_after(uint64_t t0, double seconds) {
  if (seconds <= 0) return t0 + 3600ull * 1000000000u;
  return t0 + (uint64_t)(seconds * 1e9);
}

static void pool_stop(struct pool *p, struct ed_bench__run *r) {
  atomic_store(&r->phase, PH_STOP);
  pool_wake(p);
  pool_join(p);
}

/* ---- results ------------------------------------------------------------- */

static void fill_failures(struct ed_bench_result *out, const struct pool *p) {
  out->refused += pool_sum(p, CTR(refused));
  out->connect_failed += pool_sum(p, CTR(connect_failed));
  out->mismatch += pool_sum(p, CTR(mismatch));
  out->dropped += pool_sum(p, CTR(dropped));
  out->timeouts += pool_sum(p, CTR(timeouts));
}

/* fill_window sets the throughput, client and server figures of the
 * window between |a| and |b|. */
static void fill_window(struct ed_bench_result *out, const struct snap *a,
                        const struct snap *b) {
  out->elapsed_s = (double)(b->t_ns - a->t_ns) / 1e9;
  double secs = out->elapsed_s > 0 ? out->elapsed_s : 1e-9;
  out->ops = b->ops - a->ops;
  out->bytes = b->bytes - a->bytes;
  out->resumed = b->resumed - a->resumed;
  out->ops_per_s = (double)out->ops / secs;
  out->mb_per_s = (double)out->bytes / secs / 1e6;
  out->client_cores = (double)(b->self_cpu_us - a->self_cpu_us) / 1e6 / secs;
  out->server_ok = a->srv_ok && b->srv_ok;
  if (!out->server_ok) return;
  out->server_cpu_us = (double)(b->srv_cpu_us - a->srv_cpu_us);
  if (out->ops)
    out->server_cpu_us_per_op = out->server_cpu_us / (double)out->ops;
  if (out->server_cpu_us > 0)
    out->server_gb_per_cpu_s =
        (double)out->bytes / (out->server_cpu_us / 1e6) / 1e9;
}

static void merge_lat(struct ed_bench_lat *out, const struct pool *p,
                      size_t hist_off) {
  struct ed_bench_hist *h = ed_malloc(sizeof(*h));
  ed_bench_hist_init(h);
  for (uint32_t i = 0; i < p->n; i++) {
    const char *base = (const char *)&p->w[i];
    ed_bench_hist_merge(h, (const struct ed_bench_hist *)(base + hist_off));
  }
  ed_bench_hist_summary(out, h);
  free(h);
}

/* ---- scenarios ----------------------------------------------------------- */

static int run_simple(struct ed_bench__run *r, struct ed_bench_result *out,
                      struct progress *pg) {
  const struct ed_bench_opts *o = r->o;
  enum ed_bench__kind kind = o->scenario == ED_BENCH_HANDSHAKE ? K_HANDSHAKE
                             : o->scenario == ED_BENCH_BULK    ? K_BULK
                                                               : K_ECHO;
  struct pool p = {0};
  struct snap a, b;
  atomic_store(&r->phase, kind == K_HANDSHAKE ? PH_MEASURE : PH_SETUP);
  snap_take(&a, &p, o->server_pid);
  int err = pool_start(&p, r, kind, o->threads, o->conns, o->size, 0);
  if (!err && kind != K_HANDSHAKE) {
    wait_for(pg, &p, r, deadline_after(ed_now_ns(), o->timeout_s + 20),
             setup_finished);
    snap_take(&a, &p, o->server_pid);
    atomic_store(&r->phase, PH_MEASURE);
    pool_wake(&p);
  }
  pg->t0 = a.t_ns;
  if (!err)
    wait_for(pg, &p, r, deadline_after(a.t_ns, o->duration_s), window_finished);
  snap_take(&b, &p, o->server_pid);
  pool_stop(&p, r);
  fill_window(out, &a, &b);
  fill_failures(out, &p);
  merge_lat(&out->lat, &p, offsetof(worker, lat));
  out->established = pool_sum(&p, CTR(established));
  pool_free(&p);
  return err;
}

static int run_idle(struct ed_bench__run *r, struct ed_bench_result *out,
                    struct progress *pg) {
  const struct ed_bench_opts *o = r->o;
  struct pool p = {0};
  struct snap a, b;
  int pid = o->server_pid;
  uint64_t rss0 = 0, rss1 = 0;
  int rss_ok = pid > 0 && ed_bench_proc_rss_kib(&rss0, pid) == 0;
  atomic_store(&r->phase, PH_SETUP);
  snap_take(&a, &p, pid);
  int err = pool_start(&p, r, K_IDLE, o->threads, o->conns, o->size, 0);
  if (!err)
    wait_for(pg, &p, r,
             deadline_after(ed_now_ns(), o->timeout_s + 60 + o->conns / 100.0),
             setup_finished);
  snap_take(&b, &p, pid);
  fill_window(out, &a, &b); /* server CPU per session opened */
  out->established = pool_sum(&p, CTR(established));
  out->ops = out->established;
  out->ops_per_s = out->elapsed_s > 0 ? (double)out->ops / out->elapsed_s : 0;
  out->server_cpu_us_per_op =
      out->ops ? out->server_cpu_us / (double)out->ops : 0;
  atomic_store(&r->phase, PH_HOLD);
  uint64_t t0 = ed_now_ns();
  pg->t0 = t0;
  wait_for(pg, &p, r, deadline_after(t0, o->duration_s), NULL);
  out->elapsed_s = (double)(ed_now_ns() - t0) / 1e9;
  rss_ok = rss_ok && ed_bench_proc_rss_kib(&rss1, pid) == 0;
  atomic_store(&r->phase, PH_CHECK);
  pool_wake(&p);
  wait_for(pg, &p, r, deadline_after(ed_now_ns(), o->timeout_s + 5),
           checks_finished);
  out->held = pool_sum(&p, CTR(held));
  pool_stop(&p, r);
  fill_failures(out, &p);
  if (rss_ok) {
    out->server_rss_before_kib = rss0;
    out->server_rss_after_kib = rss1;
    if (out->established)
      out->server_kib_per_session =
          ((double)rss1 - (double)rss0) / (double)out->established;
  }
  pool_free(&p);
  return err;
}

/* ---- flood ----------------------------------------------------------------
 */

#define QUEUE_GAUGE "echod_handshake_queue_depth"
#define SAMPLE_EVERY_NS 100000000u /* 100 ms */
#define MAX_SAMPLES 4096

/* The server's pool queue depth, scraped every 100 ms during the storm. */
struct sampler {
  const char *hostport; /* NULL: not asked for */
  double v[MAX_SAMPLES];
  uint32_t n, errors;
  uint64_t next_ns;
  char first_error[120];
};

static void sampler_tick(struct sampler *s) {
  uint64_t now = ed_now_ns();
  if (!s->hostport || now < s->next_ns || s->n == MAX_SAMPLES) return;
  s->next_ns = now + SAMPLE_EVERY_NS;
  double v;
  char err[120];
  if (ed_bench_scrape_gauge(&v, s->hostport, QUEUE_GAUGE, 1000, err,
                            sizeof(err)) == 0) {
    s->v[s->n++] = v;
  } else if (s->errors++ == 0) {
    snprintf(s->first_error, sizeof(s->first_error), "%s", err);
  }
}

/* wait_sampling is wait_for with the sampler running and no early end. */
static void wait_sampling(struct progress *pg, const struct pool *p,
                          uint64_t deadline_ns, struct sampler *s) {
  struct timespec ts = {0, 10 * 1000 * 1000};
  for (;;) {
    sampler_tick(s);
    if (ed_now_ns() >= deadline_ns) return;
    nanosleep(&ts, NULL);
    progress_tick(pg, p);
  }
}

/* flood_verdict fills the flood's rates and the saturation evidence. */
static void flood_verdict(struct ed_bench_result *out, struct sampler *s,
                          const struct pool *echo) {
  if (out->quiet_s > 0)
    out->quiet_rate = (double)out->quiet.n / out->quiet_s / FLOOD_ECHO_CONNS;
  if (out->elapsed_s > 0)
    out->storm_rate =
        (double)out->storm_lat.n / out->elapsed_s / FLOOD_ECHO_CONNS;
  out->quiet_late = pool_sum(echo, CTR(late_quiet));
  out->storm_late = pool_sum(echo, CTR(late_storm));
  if (out->server_ok && out->elapsed_s > 0)
    out->server_cores = out->server_cpu_us / 1e6 / out->elapsed_s;
  out->metrics_asked = s->hostport != NULL;
  out->queue_samples = s->n;
  out->queue_errors = s->errors;
  snprintf(out->queue_error, sizeof(out->queue_error), "%s", s->first_error);
  if (s->n) {
    out->queue_min = s->v[0];
    for (uint32_t i = 1; i < s->n; i++)
      if (s->v[i] < out->queue_min) out->queue_min = s->v[i];
    out->queue_median = ed_bench_median(s->v, s->n);
  }
  out->saturated =
      ed_bench_saturation(&out->saturation_basis, s->n, out->queue_median,
                          out->server_ok, out->server_cores);
}

/* run_flood: the echo connections come up, run quiet for half the
 * duration, then a storm starts; after a 0.5 s ramp the second half is
 * measured under it (server CPU and queue samples over that half). */
static int run_flood(struct ed_bench__run *r, struct ed_bench_result *out,
                     struct progress *pg) {
  const struct ed_bench_opts *o = r->o;
  struct pool echo = {0}, storm = {0};
  struct snap a, b;
  struct sampler *smp = ed_calloc(1, sizeof(*smp));
  smp->hostport = o->server_metrics;
  double half = (o->duration_s > 0 ? o->duration_s : 10) / 2;
  atomic_store(&r->phase, PH_SETUP);
  int err = pool_start(&echo, r, K_ECHO, 1, FLOOD_ECHO_CONNS, o->size, 0);
  wait_for(pg, &echo, r, deadline_after(ed_now_ns(), o->timeout_s + 20),
           setup_finished);
  atomic_store(&r->phase, PH_MEASURE);
  pool_wake(&echo);
  pg->t0 = ed_now_ns();
  wait_for(pg, &echo, r, deadline_after(pg->t0, half), NULL);
  atomic_store(&r->phase, PH_RAMP);
  out->quiet_s = (double)(ed_now_ns() - pg->t0) / 1e9;
  if (!err)
    err = pool_start(&storm, r, K_HANDSHAKE, o->threads, o->storm, o->size,
                     FLOOD_ECHO_CONNS);
  wait_for(pg, &storm, r, deadline_after(ed_now_ns(), 0.5), NULL);
  snap_take(&a, &storm, o->server_pid);
  atomic_store(&r->phase, PH_STORM);
  wait_sampling(pg, &storm, deadline_after(a.t_ns, half), smp);
  snap_take(&b, &storm, o->server_pid);
  atomic_store(&r->phase, PH_STOP);
  pool_wake(&storm);
  pool_stop(&echo, r);
  pool_join(&storm);
  fill_window(out, &a, &b);
  out->storm_handshakes = out->ops;
  out->storm_hs_per_s = out->ops_per_s;
  fill_failures(out, &echo);
  fill_failures(out, &storm);
  merge_lat(&out->quiet, &echo, offsetof(worker, quiet));
  merge_lat(&out->storm_lat, &echo, offsetof(worker, storm));
  merge_lat(&out->lat, &storm, offsetof(worker, lat));
  out->established = pool_sum(&echo, CTR(established));
  flood_verdict(out, smp, &echo);
  free(smp);
  pool_free(&echo);
  pool_free(&storm);
  return err;
}

int ed_bench_run(const struct ed_bench_opts *o, struct ed_bench_result *out) {
  memset(out, 0, sizeof(*out));
  out->scenario = o->scenario;
  out->conns = o->scenario == ED_BENCH_FLOOD ? FLOOD_ECHO_CONNS : o->conns;
  out->rate = o->scenario == ED_BENCH_FLOOD ? o->rate : 0;
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
  struct progress pg = {0};
  pg.show = o->progress < 0 ? isatty(2) : o->progress;
  pg.label = ed_bench_scenario_name(o->scenario);
  pg.last_ns = pg.t0 = ed_now_ns();
  if (o->scenario == ED_BENCH_IDLE) {
    err = run_idle(r, out, &pg);
  } else if (o->scenario == ED_BENCH_FLOOD) {
    err = run_flood(r, out, &pg);
  } else {
    err = run_simple(r, out, &pg);
  }
  progress_end(&pg);
  if (err) fprintf(stderr, "echo-bench: cannot start: %s\n", uv_strerror(err));
  snprintf(out->first_error, sizeof(out->first_error), "%s", r->first_error);
  snprintf(out->version, sizeof(out->version), "%s", r->version);
  snprintf(out->cipher, sizeof(out->cipher), "%s", r->cipher);
  snprintf(out->group, sizeof(out->group), "%s", r->group);
  run_cleanup(r);
  free(r);
  return err ? ED_E_SYS : 0;
}

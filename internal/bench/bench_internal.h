/* internal/bench — types shared by the files of the bench module (engine.c
 * runs connections on one loop per thread, run.c orchestrates the phases,
 * report.c prints). Not for use outside internal/bench. */
#ifndef ED_BENCH_INTERNAL_H
#define ED_BENCH_INTERNAL_H

#include <netinet/in.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/socket.h>
#include <uv.h>

#include "internal/bench/bench.h"
#include "internal/bench/counters.h"
#include "internal/bench/shape.h"

/* Phases, set by the orchestrating thread and read by every loop. */
enum ed_bench__phase {
  PH_SETUP = 0, /* connecting; nothing is measured yet */
  PH_MEASURE,   /* the measured window (flood: quiet half) */
  PH_PAUSE,     /* closed-loop flood: echo parked, storm starting */
  PH_SOLO,      /* closed-loop flood: the storm measured alone */
  PH_RAMP,      /* flood: echo and storm both running, not measured yet */
  PH_STORM,     /* flood: measured under the storm */
  PH_GAP,       /* flood --cycles: echo on, not measured, storm parked */
  PH_HOLD,      /* idle, scale: sessions held */
  PH_CHECK,     /* idle, scale: echo once more on every session */
  PH_CLOSE,     /* scale: close every session cleanly */
  PH_STOP,
};

/* What the connections of one loop do. */
enum ed_bench__kind {
  K_HANDSHAKE = 0, /* connect, handshake, 32-byte echo, close, again */
  K_ECHO,          /* persistent, one message in flight */
  K_BULK,          /* persistent, streaming */
  K_IDLE,          /* open, echo once, hold, echo at PH_CHECK; scale
                      also closes at PH_CLOSE */
  K_PARTIAL,       /* plain TCP: open, send the run's partial record,
                      hold until the server closes or the run stops */
};

#define ED_BENCH_MAX_SOURCES ED_BENCH_MAX_SOURCES_PUBLIC

/* State one run shares between its threads; immutable while loops run
 * except for the atomics and the mutex-guarded first-error fields. */
struct ed_bench__run {
  const struct ed_bench_opts *o;
  SSL_CTX *ctx;       /* verifies the server's chain; NULL with --plain */
  SSL_CTX *storm_ctx; /* flood's storm: does not (see bench.h) */
  struct sockaddr_storage addr;
  socklen_t addr_len;
  char *sni;             /* server name sent in the ClientHello, or NULL */
  int plain;             /* plain TCP: no TLS at all (the kernel floor) */
  struct ed_shape shape; /* --shape (plain handshake); n == 0: the echo */
  int scale; /* scale: refusals at the limit are counted, not failures */

  /* Connection i binds source address src[i % nsrc] before it connects
   * (nsrc 0: the kernel picks, no bind). */
  uint32_t nsrc;
  struct sockaddr_in src[ED_BENCH_MAX_SOURCES];

  uint64_t fd_limit;     /* RLIMIT_NOFILE (soft, raised to the hard) */
  uint64_t max_sessions; /* sessions that fit under it */

  /* Byte i of every stream is pattern[i % period]; the buffer holds
   * period + chunk bytes so any chunk at an offset < period is
   * contiguous. */
  uint8_t *pattern;
  size_t period;
  size_t chunk;

  _Atomic int phase;
  _Atomic int storm_sched_refused; /* flood --storm-idle: the system said no */
  int bounded;            /* count given: ops are claimed from budget */
  _Atomic int64_t budget; /* ops left to start */

  /* partial: what each connection sends (the start of a TLS record) */
  uint8_t *partial;
  size_t partial_len;

  /* $ECHO_BENCH_TEST_CHECK_PAUSE_US: idle's final echo pauses this long
   * between its write and its first read (tests only). */
  uint32_t test_check_pause_us;

  pthread_mutex_t mu; /* guards the fields below */
  char first_error[200];
  char first_refusal[120]; /* scale: how the first refusal at the limit
                              looked */
  _Atomic int have_tls_info;
  char version[16], cipher[64], group[32];
};

struct ed_bench__conn;

struct ed_bench__worker {
  struct ed_bench__run *r;
  enum ed_bench__kind kind;
  uint32_t size;   /* message / write size */
  uint32_t nconns; /* connections owned by this loop */
  uint32_t first_id;
  int flood_echo;       /* K_ECHO that records into quiet/storm by phase */
  SSL_CTX *ctx;         /* borrowed from the run */
  uint64_t interval_ns; /* flood echo: send one message per interval on
                           each connection; 0 = closed loop */
  struct ed_bench__conn *conns;

  uv_loop_t loop;
  uv_async_t wake;
  uv_timer_t tick;
  int pace_fd;         /* timerfd for paced sends, or -1 */
  uv_poll_t pace;      /* watches pace_fd */
  uint64_t pace_armed; /* when pace_fd fires next; 0 = disarmed */
  uv_thread_t thread;
  int seen_phase;
  int stopping;
  uint32_t next_open;     /* idle, partial: next connection to open */
  uint32_t opening;       /* idle: handshakes in flight; partial: sends */
  uint32_t fd_budget;     /* partial: most connections open at once (0: any) */
  _Atomic uint32_t alive; /* partial: sent, and not closed by the server */
  uint32_t checking;      /* idle: final echoes in flight */
  uint32_t closing;       /* scale: closes in flight */
  uint32_t settled;       /* connections established or dead */
  uint8_t *rbuf;

  struct ed_bench__counters c;
  _Atomic int setup_done; /* every connection established or dead */
  _Atomic int check_done; /* idle: every final echo finished */
  _Atomic int close_done; /* scale: every close finished */

  struct ed_bench_hist lat;   /* handshake latency or echo RTT */
  struct ed_bench_hist quiet; /* flood: echo before the storm; storm
                                 workers: handshakes of the solo storm */
  struct ed_bench_hist storm; /* flood */
};

/* ed_bench__worker_start initialises |w| (fields above the loop must be
 * set) and starts its thread. Returns 0 or a negative libuv error. */
int ed_bench__worker_start(struct ed_bench__worker *w);

/* ed_bench__worker_wake makes |w|'s loop look at the phase now. */
void ed_bench__worker_wake(struct ed_bench__worker *w);

/* ed_bench__worker_join waits for the thread (after PH_STOP) and frees
 * the loop's resources; the counters and histograms stay readable. */
void ed_bench__worker_join(struct ed_bench__worker *w);

/* ed_bench__on_new_session is the SSL_CTX's new-session callback: it
 * keeps the newest ticket of a connection so its slot can resume with it.
 * Takes ownership of |sess|. */
int ed_bench__on_new_session(SSL *ssl, SSL_SESSION *sess);

/* ed_bench__split_hostport splits "host:port" or "[v6]:port" (the
 * project's one parser, ed_net_split_hostport) into a host and the port as
 * text, for getaddrinfo. Returns 0 or ED_E_INVAL. */
int ed_bench__split_hostport(char *host, size_t host_len, char *port,
                             size_t port_len, const char *s);

/* ed_bench__note_error records |msg| as the run's first error;
 * ed_bench__note_refusal as its first refusal at the limit (scale). */
void ed_bench__note_error(struct ed_bench__run *r, const char *msg);
void ed_bench__note_refusal(struct ed_bench__run *r, const char *msg);

/* ---- pools, windows and results (pool.c) --------------------------------- */

/* A pool: |n| loops, each in its own thread, sharing some connections. */
struct ed_bench__pool {
  struct ed_bench__worker *w;
  uint32_t n;
};

/* The offset of a counter, for ed_bench__pool_sum. */
#define CTR(field) offsetof(struct ed_bench__counters, field)

/* ed_bench__pool_start starts |threads| loops of |kind| sharing |total|
 * connections numbered from |first_id|. Returns 0 or a negative libuv
 * error (the loops started so far are in |p|). */
int ed_bench__pool_start(struct ed_bench__pool *p, struct ed_bench__run *r,
                         enum ed_bench__kind kind, uint32_t threads,
                         uint32_t total, uint32_t size, uint32_t first_id);
void ed_bench__pool_wake(struct ed_bench__pool *p);
void ed_bench__pool_join(struct ed_bench__pool *p);
/* ed_bench__pool_stop sets PH_STOP, wakes |p|'s loops and joins them. */
void ed_bench__pool_stop(struct ed_bench__pool *p, struct ed_bench__run *r);
void ed_bench__pool_free(struct ed_bench__pool *p);
/* ed_bench__pool_sum adds up the counter at |off| (CTR(x)) of every loop. */
uint64_t ed_bench__pool_sum(const struct ed_bench__pool *p, size_t off);
uint64_t ed_bench__pool_failures(const struct ed_bench__pool *p);
/* ed_bench__pool_all: the _Atomic int at |flag_off| in every worker is 1. */
int ed_bench__pool_all(const struct ed_bench__pool *p, size_t flag_off);

/* A point in time: counters, the server's and our own CPU. */
struct ed_bench__snap {
  uint64_t t_ns, ops, bytes, resumed;
  uint64_t srv_cpu_us;
  int srv_ok;
  uint64_t self_cpu_us;
};

void ed_bench__snap_take(struct ed_bench__snap *s,
                         const struct ed_bench__pool *p, int pid);

struct ed_bench__progress {
  int show;
  const char *label;
  uint64_t t0, last_ns, last_ops;
};

void ed_bench__progress_tick(struct ed_bench__progress *pg,
                             const struct ed_bench__pool *p);
void ed_bench__progress_end(struct ed_bench__progress *pg);

typedef int (*ed_bench__done_fn)(const struct ed_bench__pool *p,
                                 const struct ed_bench__run *r);

/* ed_bench__wait_for sleeps in 10 ms steps until |deadline_ns| or until
 * |done| (may be NULL) says so. */
void ed_bench__wait_for(struct ed_bench__progress *pg,
                        const struct ed_bench__pool *p,
                        const struct ed_bench__run *r, uint64_t deadline_ns,
                        ed_bench__done_fn done);
int ed_bench__setup_finished(const struct ed_bench__pool *p,
                             const struct ed_bench__run *r);
int ed_bench__checks_finished(const struct ed_bench__pool *p,
                              const struct ed_bench__run *r);
int ed_bench__closes_finished(const struct ed_bench__pool *p,
                              const struct ed_bench__run *r);
int ed_bench__window_finished(const struct ed_bench__pool *p,
                              const struct ed_bench__run *r);
/* ed_bench__deadline_after: |t0| + |seconds| (<= 0: an hour). */
uint64_t ed_bench__deadline_after(uint64_t t0, double seconds);

/* ed_bench__fill_failures adds |p|'s failure counters to |out|. */
void ed_bench__fill_failures(struct ed_bench_result *out,
                             const struct ed_bench__pool *p);
/* ed_bench__fill_window sets the throughput, client and server figures of
 * the window between |a| and |b|. */
void ed_bench__fill_window(struct ed_bench_result *out,
                           const struct ed_bench__snap *a,
                           const struct ed_bench__snap *b);
/* ed_bench__merge_lat summarises the histogram at |hist_off| of every
 * worker of |p|. */
void ed_bench__merge_lat(struct ed_bench_lat *out,
                         const struct ed_bench__pool *p, size_t hist_off);

/* ---- scenarios (run.c, flood.c, scale.c) ----------------------------------
 */

int ed_bench__run_flood(struct ed_bench__run *r, struct ed_bench_result *out,
                        struct ed_bench__progress *pg);
int ed_bench__run_scale(struct ed_bench__run *r, struct ed_bench_result *out,
                        struct ed_bench__progress *pg);
int ed_bench__run_partial(struct ed_bench__run *r, struct ed_bench_result *out,
                          struct ed_bench__progress *pg);
/* partial.c: its record (ed_bench_run's setup) and its part of the report
 * (report.c). */
void ed_bench__partial_setup(struct ed_bench__run *r);
struct cJSON;
void ed_bench__partial_json(struct cJSON *root,
                            const struct ed_bench_result *r);
void ed_bench__partial_print(FILE *f, const struct ed_bench_result *r);

#endif /* ED_BENCH_INTERNAL_H */

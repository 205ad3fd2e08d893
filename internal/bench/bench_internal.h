/* internal/bench — types shared by the files of the bench module (engine.c
 * runs connections on one loop per thread, run.c orchestrates the phases,
 * report.c prints). Not for use outside internal/bench. */
#ifndef ED_BENCH_INTERNAL_H
#define ED_BENCH_INTERNAL_H

#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <uv.h>

#include "internal/bench/bench.h"

/* Phases, set by the orchestrating thread and read by every loop. */
enum ed_bench__phase {
  PH_SETUP = 0, /* connecting; nothing is measured yet */
  PH_MEASURE,   /* the measured window (flood: quiet half) */
  PH_RAMP,      /* flood: storm started, not measured yet */
  PH_STORM,     /* flood: measured under the storm */
  PH_HOLD,      /* idle: sessions held */
  PH_CHECK,     /* idle: echo once more on every session */
  PH_STOP,
};

/* What the connections of one loop do. */
enum ed_bench__kind {
  K_HANDSHAKE = 0, /* connect, handshake, 32-byte echo, close, again */
  K_ECHO,          /* persistent, one message in flight */
  K_BULK,          /* persistent, streaming */
  K_IDLE,          /* open, echo once, hold, echo at PH_CHECK */
};

/* State one run shares between its threads; immutable while loops run
 * except for the atomics and the mutex-guarded first-error fields. */
struct ed_bench__run {
  const struct ed_bench_opts *o;
  SSL_CTX *ctx;       /* verifies the server's chain */
  SSL_CTX *storm_ctx; /* flood's storm: does not (see bench.h) */
  struct sockaddr_storage addr;
  socklen_t addr_len;
  char *sni; /* server name sent in the ClientHello, or NULL */

  /* Byte i of every stream is pattern[i % period]; the buffer holds
   * period + chunk bytes so any chunk at an offset < period is
   * contiguous. */
  uint8_t *pattern;
  size_t period;
  size_t chunk;

  _Atomic int phase;
  int bounded;            /* count given: ops are claimed from budget */
  _Atomic int64_t budget; /* ops left to start */

  /* $ECHO_BENCH_TEST_CHECK_PAUSE_US: idle's final echo pauses this long
   * between its write and its first read (tests only). */
  uint32_t test_check_pause_us;

  pthread_mutex_t mu; /* guards the fields below */
  char first_error[200];
  _Atomic int have_tls_info;
  char version[16], cipher[64], group[32];
};

/* Counters a loop bumps and the orchestrator reads while it runs. */
struct ed_bench__counters {
  _Atomic uint64_t ops, bytes, resumed;
  _Atomic uint64_t established, held, dead;
  _Atomic uint64_t refused, connect_failed, mismatch, dropped, timeouts;
  _Atomic uint64_t late_quiet, late_storm; /* flood: paced sends delayed */
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
  uint32_t next_open; /* idle: next connection to open */
  uint32_t opening;   /* idle: handshakes in flight */
  uint32_t checking;  /* idle: final echoes in flight */
  uint32_t settled;   /* connections established or dead */
  uint8_t *rbuf;

  struct ed_bench__counters c;
  _Atomic int setup_done; /* every connection established or dead */
  _Atomic int check_done; /* idle: every final echo finished */

  struct ed_bench_hist lat;   /* handshake latency or echo RTT */
  struct ed_bench_hist quiet; /* flood */
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

/* ed_bench__split_hostport splits "host:port" or "[v6]:port". Returns 0 or
 * ED_E_INVAL. */
int ed_bench__split_hostport(char *host, size_t host_len, char *port,
                             size_t port_len, const char *s);

/* ed_bench__note_error records |msg| as the run's first error. */
void ed_bench__note_error(struct ed_bench__run *r, const char *msg);

#endif /* ED_BENCH_INTERNAL_H */

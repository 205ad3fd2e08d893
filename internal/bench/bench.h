/* internal/bench — echo-bench, the load generator, as a library.
 *
 * A run opens mutual-TLS connections to an echo server (libuv loops with
 * non-blocking sockets driven through BoringSSL), runs one scenario for a
 * bounded time or operation count, checks every echoed byte, and fills an
 * ed_bench_result. With a server pid it also samples the server's CPU time
 * (utime+stime from /proc/PID/stat) and RSS over the measured window, which
 * is the figure that does not depend on the client's own speed.
 *
 * Scenarios:
 *   handshake  C workers: connect, full handshake, 32-byte echo, close.
 *              With resume, each worker offers its last session ticket.
 *   echo       C persistent connections, one S-byte message in flight each;
 *              with --rate, each paced at that many messages/s (the same
 *              load on servers of different speed: tools/bench/run's
 *              echo-paced).
 *   bulk       C connections streaming S-byte writes with concurrent reads.
 *   idle       open C sessions, hold them for the duration, echo 32 bytes
 *              once on each at the end to prove it was held.
 *   scale      idle at the scale of the descriptor limit: ramp to C
 *              sessions (full handshakes, --parallel in flight), hold
 *              them --hold seconds, echo 32 bytes on every one, close every
 *              one cleanly; ramp rate, server RSS and descriptors before,
 *              held and after the close. Connections the server turns
 *              away before any TLS (reset, closed, refused: a server at
 *              its limit) are counted as refused at the limit, apart from
 *              the errors.
 *   flood      --echo-conns connections (default 8) echoing S bytes, each
 *              paced at --rate messages/s (one in flight), quiet for half
 *              the duration, then under a handshake storm of --storm
 *              workers. With --rate 0 (closed loop: saturate the server)
 *              the storm first runs alone for half the duration with the
 *              echo connections parked, so its rate under load can be
 *              compared with the same storm on an otherwise idle server.
 *              Storm workers skip the server's chain check to leave the
 *              client core to the storm; with --server-metrics the
 *              server's handshake pool queue is sampled to say whether the
 *              storm saturated it.
 *   partial    the cost of a connection before its handshake (issue 12):
 *              --echo-conns established sessions echo at --rate, quiet
 *              for a second, then C plain TCP connections (--parallel at
 *              a time) each send the first S bytes of a 16 KiB TLS
 *              handshake record (a ClientHello's header, then zeros:
 *              default 16,388, all but its last byte) and wait; held
 *              --hold seconds after the last is sent. Reports how many
 *              the server held and closed (refused at accept, or gave up
 *              on), the most held at once, server RSS per held connection
 *              (and its peak), and the echo before and during.
 *
 * --plain drives a plain-TCP echo server (no TLS at all: the kernel
 * floor, tools/bench:plain_echo) through the same engine: handshake is
 * then connect, 32-byte echo, FIN, wait for the server's FIN, close.
 * With --shape it is a TLS session's message pattern instead (shape.h;
 * against plain_echo --shape): what TLS's extra segments, reads and
 * writes cost the kernel, with no TLS work at all.
 *
 * Connections to an IPv4 loopback address are spread over source
 * addresses 127.0.0.1 .. 127.0.0.N (--sources, default 8; bound before
 * connect with IP_BIND_ADDRESS_NO_PORT), so the ephemeral port range
 * never limits a run.
 *
 * Tests only: $ECHO_BENCH_TEST_CHECK_PAUSE_US makes idle's final echo
 * pause between its write and its first read, so the server's answer is
 * always there already (the race behind issue 6's "held" < "established"). */
#ifndef ED_BENCH_H
#define ED_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

/* The bytes handshake, idle and scale echo on every connection (and every
 * connection's first echo). */
#define ED_BENCH_HELLO_LEN 32

/* partial: the record length its header announces (its bytes: -s). */
#define ED_BENCH_PARTIAL_RECORD 16384

enum ed_bench_scenario {
  ED_BENCH_HANDSHAKE = 0,
  ED_BENCH_ECHO,
  ED_BENCH_BULK,
  ED_BENCH_IDLE,
  ED_BENCH_FLOOD,
  ED_BENCH_SCALE,
  ED_BENCH_PARTIAL,
};

/* ed_bench_scenario_name returns "handshake", "echo", ... (static). */
const char *ed_bench_scenario_name(enum ed_bench_scenario s);

struct ed_bench_opts {
  enum ed_bench_scenario scenario;
  char *connect;        /* "host:port"; owned */
  char *ca;             /* CA bundle that signs the server cert; owned */
  char *cert;           /* client certificate chain; owned */
  char *key;            /* client private key; owned */
  char *servername;     /* SNI + name checked; NULL: check the connect host */
  uint32_t conns;       /* C (idle, scale: sessions to open) */
  uint32_t size;        /* S bytes per message / write (handshake, idle
                           and scale always echo 32) */
  uint32_t threads;     /* client loops, each in its own thread */
  uint32_t storm;       /* flood: handshake workers in the storm */
  uint32_t echo_conns;  /* flood: established echo connections */
  uint32_t cycles;      /* closed-loop flood: quiet and storm windows
                           taking turns this many times (0: one each) */
  int storm_idle;       /* flood: the storm's threads SCHED_IDLE (else
                           nice 10) */
  uint32_t sources;     /* source addresses; 0 = auto (8 for IPv4
                           loopback, else none) */
  uint32_t parallel;    /* idle: handshakes in flight while opening */
  uint32_t window;      /* bulk: max unechoed bytes per connection */
  uint32_t rate;        /* echo, flood, partial: messages/s per echo
                           connection; 0 = closed loop (the next message as
                           soon as the echo is in; echo's default) */
  char *server_metrics; /* flood: "host:port" of the server's Prometheus
                           endpoint, or NULL; owned */
  char *shape;          /* handshake --plain: a TLS session's message
                           pattern instead of the echo (shape.h), or NULL;
                           owned */
  double duration_s;    /* measured window (idle: hold time) */
  double hold_s;        /* scale: how long the sessions are held */
  double timeout_s;     /* one operation that takes longer counts as failed */
  uint64_t count;       /* stop after this many operations; 0 = no bound */
  int resume;           /* handshake: offer session tickets */
  int plain;            /* plain TCP, no TLS (handshake, echo, bulk, idle,
                           scale) */
  int server_pid;       /* sample /proc/PID; 0 = none */
  int json;             /* print one JSON object instead of the summary */
  int progress;         /* progress line on stderr: -1 auto (isatty), 0, 1 */
};

/* ed_bench_opts_init sets the defaults: handshake, 127.0.0.1:7443, the dev
 * client certificate and CA from <state dir>/pki, 1 thread, 5 s, storm 64,
 * 8 flood echo connections, parallel 128, window 256 KiB, timeout 10 s,
 * hold 5 s; C and S are set by ed_bench_opts_parse per scenario. */
void ed_bench_opts_init(struct ed_bench_opts *o);
void ed_bench_opts_cleanup(struct ed_bench_opts *o);

/* ed_bench_opts_parse reads "SCENARIO [flags]" from |argv| (argv[0] is the
 * program name) into |o|, which must have been initialised. Returns 0, 1
 * when --help was asked for (caller prints ed_bench_usage() and exits 0),
 * or ED_E_USAGE with a one-line message in |err|. */
int ed_bench_opts_parse(struct ed_bench_opts *o, int argc, char **argv,
                        char *err, size_t err_len);

/* ed_bench_usage returns the --help text (static). */
const char *ed_bench_usage(void);

/* Latency summary in microseconds. */
struct ed_bench_lat {
  uint64_t n;
  double p50_us;
  double p99_us;
  double p999_us;
  double max_us;
  double mean_us;
};

/* What scale reports beyond idle's fields (ops = established). */
struct ed_bench_scale {
  uint64_t attempted;       /* sessions tried: C */
  uint64_t refused;         /* turned away before any TLS (the limit) */
  uint64_t closed;          /* closed cleanly at the end */
  uint64_t close_unclean;   /* the server did not answer our close */
  double ramp_s;            /* first connect to the last settled */
  double ramp_hs_per_s;     /* established / ramp_s */
  double hold_s;            /* how long they were held */
  double check_s;           /* the echo on every session */
  double close_s;           /* closing every session */
  double cpu_us_per_hs;     /* server CPU in the ramp per established */
  double cpu_us_per_echo;   /* server CPU in the check per session held */
  double cpu_us_per_close;  /* server CPU in the close per session closed */
  double hold_server_cores; /* server CPU while the sessions were idle */
  uint64_t rss_after_close_kib;
  uint64_t fds_before, fds_held, fds_after; /* server's open descriptors */
  int64_t slab_kib, sock_mem_kib; /* kernel: Slab and TCP socket memory
                                     growth over the ramp (machine-wide,
                                     both ends of every connection) */
  uint64_t client_fd_limit;       /* RLIMIT_NOFILE of echo-bench */
  uint64_t client_max_sessions;   /* the most sessions that fit under it */
  char first_refusal[120];        /* what the first refusal looked like */
};

/* What partial reports. */
struct ed_bench_partial {
  uint64_t attempted;    /* connections tried: C */
  uint64_t sent;         /* sent their bytes */
  uint64_t held;         /* of those, open at the end of the hold */
  uint64_t peak_held;    /* most open at once (sampled every 50 ms) */
  uint64_t closed;       /* closed by the server: refused or given up on */
  uint64_t unattempted;  /* not tried: out of client descriptors or time */
  uint32_t bytes;        /* sent on each (record header included) */
  double ramp_s;         /* first connect to the last sent or closed */
  double hold_s;         /* held after that */
  uint64_t rss_peak_kib; /* server RSS, highest sample */
  double kib_per_held;   /* server RSS growth / held */
  uint64_t fds_before, fds_held;  /* server's open descriptors */
  int64_t slab_kib, sock_mem_kib; /* kernel growth (machine-wide) */
  char first_close[120];          /* how the first close looked */
};

struct ed_bench_result {
  enum ed_bench_scenario scenario;
  uint32_t conns, size, threads, storm;
  int resume;
  double elapsed_s; /* measured window */

  /* ops: handshakes, messages, S-byte chunks echoed (bulk), sessions
   * held (idle). bytes: payload bytes echoed back and verified. */
  uint64_t ops;
  uint64_t bytes;
  double ops_per_s;
  double mb_per_s;         /* bytes echoed per second / 1e6 */
  struct ed_bench_lat lat; /* handshake: connect to echo; echo: RTT */
  uint64_t resumed;        /* handshake: how many of |ops| resumed */

  uint64_t established; /* idle: sessions that completed the first echo */
  uint64_t held;        /* idle: sessions that echoed again at the end */
  int plain;            /* plain TCP (no TLS) */
  char shape[160];      /* handshake --plain --shape: the pattern, or "" */
  uint32_t sources;     /* source addresses connections were spread over
                           (0: one, chosen by the kernel) */

  struct ed_bench_lat quiet;          /* flood: RTT before the storm */
  struct ed_bench_lat storm_lat;      /* flood: RTT during the storm */
  uint64_t storm_handshakes_in_quiet; /* flood: should be none */
  uint64_t storm_handshakes;
  double storm_hs_per_s;           /* |lat| holds the storm's handshakes */
  uint32_t rate;                   /* echo, flood, partial: msgs/s per conn */
  double quiet_s;                  /* flood: length of the quiet window */
  double quiet_rate, storm_rate;   /* achieved msgs/s per echo connection */
  uint64_t quiet_late, storm_late; /* sends delayed by a late echo */
  double server_cores;             /* flood: server CPU during the storm */
  double quiet_server_cores;       /* flood: server CPU before the storm */
  int solo;                        /* flood: the storm also ran alone */
  uint32_t cycles; /* flood: quiet and storm windows took turns (--cycles) */
  const char *storm_sched;      /* flood: "nice 10" or "idle", as the storm's
                                   threads read it back; "... refused" if not */
  uint64_t solo_handshakes;     /* flood: handshakes of the solo storm */
  double solo_hs_per_s;         /* flood: the storm alone, per second */
  double solo_server_cores;     /* flood: server CPU of the solo storm */
  struct ed_bench_lat solo_lat; /* flood: solo storm handshake latency */
  int metrics_asked;            /* --server-metrics was given */
  uint32_t queue_samples;       /* pool queue depth samples taken */
  uint32_t queue_errors;        /* scrapes that failed */
  double queue_min, queue_median;

  char queue_error[120];        /* the first failed scrape's reason */
  int saturated;                /* ed_bench_saturation's verdict */
  const char *saturation_basis; /* static: "queue_depth", "server_cpu",
                                   "none" */

  /* Failures. Any of them makes ed_bench_result_failed() true. */
  uint64_t refused;        /* handshake failed or connection dropped before
                              the first echo (server alert, reset, EOF) */
  uint64_t connect_failed; /* TCP connect failed */
  uint64_t mismatch;       /* echoed bytes differ from what was sent */
  uint64_t dropped;        /* established connection closed by the server */
  uint64_t timeouts;       /* an operation exceeded timeout_s */
  char first_error[200];

  char version[16]; /* negotiated, from the first connection */
  char cipher[64];
  char group[32];

  /* scale. */
  struct ed_bench_scale scale;
  /* partial (its echo: quiet, storm_lat, quiet_rate, storm_rate). */
  struct ed_bench_partial partial;

  /* Client CPU over the window, in cores (1.0 = one core busy). */
  double client_cores;
  uint32_t client_cpus; /* CPUs the client may run on */

  /* Server figures; valid when server_pid != 0 and sampling worked. */
  int server_pid;
  int server_ok;
  double server_cpu_us;
  double server_cpu_us_per_op;
  double server_gb_per_cpu_s; /* bulk: echoed GB per server CPU second */
  uint64_t server_rss_before_kib, server_rss_after_kib;
  double server_kib_per_session; /* idle */
};

/* ed_bench_run runs |o|'s scenario and fills |out|. Progress goes to
 * stderr when enabled. Returns 0 when the run took place (check
 * ed_bench_result_failed for what it found), or a negative ED_E_* code
 * with a message on stderr when it could not start (unreadable
 * certificate, bad address). */
int ed_bench_run(const struct ed_bench_opts *o, struct ed_bench_result *out);

/* ed_bench_result_failed returns 1 when the run counted refusals,
 * mismatches, drops, timeouts or connect failures, or did no operation
 * (idle: when fewer sessions echoed after the hold than were established;
 * scale: also when not every held session closed cleanly; refusals at the
 * limit do not fail a scale run unless no session was established). */
int ed_bench_result_failed(const struct ed_bench_result *r);

/* ed_bench_result_json returns one JSON object (no newline) describing
 * |r|; the caller frees it with free(). */
char *ed_bench_result_json(const struct ed_bench_result *r);

/* ed_bench_result_print writes the human summary to |f|. */
void ed_bench_result_print(FILE *f, const struct ed_bench_result *r);

/* ---- /proc sampling (exposed for tests) ---------------------------------- */

/* ed_bench_parse_stat reads utime+stime (clock ticks) from the text of a
 * /proc/PID/stat file. Returns 0 or ED_E_PARSE. */
int ed_bench_parse_stat(uint64_t *out_ticks, const char *text);

/* ed_bench_parse_status reads VmRSS (KiB) from a /proc/PID/status text.
 * Returns 0 or ED_E_PARSE. */
int ed_bench_parse_status(uint64_t *out_kib, const char *text);

/* ed_bench_proc_cpu_us sets |*out_us| to the process's utime+stime in
 * microseconds (all threads, live and exited). Returns 0 or a negative
 * ED_E_* code. ed_bench_proc_rss_kib likewise reads VmRSS. */
int ed_bench_proc_cpu_us(uint64_t *out_us, int pid);
int ed_bench_proc_rss_kib(uint64_t *out_kib, int pid);

/* ed_bench_proc_fds sets |*out| to the number of open descriptors of
 * |pid| (entries of /proc/PID/fd). Returns 0 or a negative ED_E_* code. */
int ed_bench_proc_fds(uint64_t *out, int pid);

/* ed_bench_parse_meminfo reads Slab (KiB) from a /proc/meminfo text;
 * ed_bench_parse_sockstat reads the TCP line's "mem" (pages) from a
 * /proc/net/sockstat text. Both return 0 or ED_E_PARSE. */
int ed_bench_parse_meminfo(uint64_t *out_slab_kib, const char *text);
int ed_bench_parse_sockstat(uint64_t *out_pages, const char *text);

/* ed_bench_kernel_mem reads both from /proc (sock_mem in KiB). Returns 0
 * or a negative ED_E_* code. */
int ed_bench_kernel_mem(uint64_t *out_slab_kib, uint64_t *out_sock_kib);

/* ---- sources and descriptors (exposed for tests) --------------------------
 */

/* ed_bench_plan_sources decides over how many source addresses to spread
 * connections to |dst|: |asked| (--sources) when > 1, 0 (no bind: the
 * kernel picks 127.0.0.1) for 1; for 0 (auto), 8 when |dst| is IPv4
 * loopback (127.0.0.0/8), else 0. Sources are 127.0.0.1 .. 127.0.0.N.
 * Returns 0, or ED_E_INVAL (message in |err|) when more than one source
 * is asked for a destination that is not IPv4 loopback, or more than
 * ED_BENCH_MAX_SOURCES_PUBLIC. */
#define ED_BENCH_MAX_SOURCES_PUBLIC 250
int ed_bench_plan_sources(uint32_t *out_n, const struct sockaddr *dst,
                          uint32_t asked, char *err, size_t err_len);

/* ed_bench_max_sessions returns how many sessions fit in a process whose
 * descriptor limit is |limit| with |open_now| descriptors open and
 * |threads| client loops still to start (each needs its epoll and wakeup
 * descriptors), keeping a small reserve; 0 when none do. */
uint64_t ed_bench_max_sessions(uint64_t limit, uint64_t open_now,
                               uint32_t threads);

/* ---- flood: pacing and saturation (exposed for tests) -------------------- */

/* ed_bench_pace_next returns when a paced connection sends its next
 * message: one |interval_ns| after |due_ns| (when the last one was due),
 * or |now_ns| (at once) if the echo came back after that. Late sends do
 * not catch up in a burst: the schedule restarts from |now_ns|, so the
 * achieved rate falls short, which the report shows. Sets *out_late to 1
 * when the send is late, else 0. */
uint64_t ed_bench_pace_next(int *out_late, uint64_t due_ns,
                            uint64_t interval_ns, uint64_t now_ns);

/* ed_bench_parse_gauge finds the unlabelled sample |name| in a
 * Prometheus text exposition (a line "NAME VALUE"; comments and other
 * names, including NAME_suffix, are skipped). Returns 0 or ED_E_PARSE. */
int ed_bench_parse_gauge(double *out, const char *text, const char *name);

/* ed_bench_median returns the median of |n| values (sorts |v| in place);
 * 0 when n == 0. */
double ed_bench_median(double *v, size_t n);

/* ed_bench_saturation returns 1 when the evidence says the storm
 * saturated the server's handshake pool: with queue samples, their median
 * is >= 1 (a saturated pool never drains); without, the server used >=
 * 0.95 cores. *out_basis says which (static: "queue_depth", "server_cpu",
 * or "none" when there is no evidence, which is a "no"). */
int ed_bench_saturation(const char **out_basis, uint32_t queue_samples,
                        double queue_median, int server_ok,
                        double server_cores);

/* ed_bench_scrape_gauge fetches http://|hostport|/metrics (HTTP/1.1, one
 * connection, at most |timeout_ms| in all) and reads the gauge |name|.
 * Returns 0, or a negative ED_E_* code with a reason in |err|. */
int ed_bench_scrape_gauge(double *out, const char *hostport, const char *name,
                          int timeout_ms, char *err, size_t err_len);

/* ---- latency histogram (exposed for tests) ------------------------------- */

/* A log-linear histogram of nanosecond values: 32 sub-buckets per power of
 * two, so a percentile is within ~3% of the true value. Fixed size, no
 * allocation; embeddable. Not thread-safe: one writer, merged after. */
#define ED_BENCH_HIST_BUCKETS (42 * 32)
struct ed_bench_hist {
  uint64_t n;
  uint64_t sum_ns;
  uint64_t max_ns;
  uint64_t b[ED_BENCH_HIST_BUCKETS];
};

void ed_bench_hist_init(struct ed_bench_hist *h);
void ed_bench_hist_add(struct ed_bench_hist *h, uint64_t ns);
void ed_bench_hist_merge(struct ed_bench_hist *into,
                         const struct ed_bench_hist *from);
/* ed_bench_hist_quantile returns the value (ns) at quantile |q| in [0,1],
 * or 0 when empty. */
uint64_t ed_bench_hist_quantile(const struct ed_bench_hist *h, double q);
/* ed_bench_hist_summary fills |out| in microseconds. */
void ed_bench_hist_summary(struct ed_bench_lat *out,
                           const struct ed_bench_hist *h);

#endif /* ED_BENCH_H */

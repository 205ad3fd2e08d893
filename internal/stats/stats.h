/* internal/stats — the counters, gauges and histograms echod keeps, and
 * the names they are reported under (admin socket and /metrics).
 *
 * Concurrency rule: every struct ed_stats has exactly ONE writer thread (an
 * I/O loop, the handshake pool's own instance, or the control loop). The
 * writer updates fields with ed_stat_add()/ed_hist_observe(): relaxed atomic
 * load + store, which is a plain add on x86, so the hot path has no shared
 * atomics and no locks. Readers on other threads call ed_stats_accumulate()
 * to add a consistent-enough snapshot of each instance into a plain
 * struct ed_stats_snapshot, without stopping the writers. */
#ifndef ED_STATS_H
#define ED_STATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Why a handshake failed (README.md, Trust). Label values for
 * echod_tls_handshake_errors_total{reason} and the admin "refusals". */
#define ED_HS_REASONS(X)                      \
  X(NO_CLIENT_CERT, "no_client_cert")         \
  X(UNKNOWN_CA, "unknown_ca")                 \
  X(CERT_EXPIRED, "cert_expired")             \
  X(CERT_NOT_YET_VALID, "cert_not_yet_valid") \
  X(CERT_REVOKED, "cert_revoked")             \
  X(BAD_EKU, "bad_eku")                       \
  X(ACL_DENIED, "acl_denied")                 \
  X(PROTOCOL, "protocol")                     \
  X(TIMEOUT, "timeout")                       \
  X(OTHER, "other")

enum ed_hs_reason {
#define ED_HS_ENUM_(id, name) ED_HS_##id,
  ED_HS_REASONS(ED_HS_ENUM_)
#undef ED_HS_ENUM_
      ED_HS_REASON_COUNT
};

/* Why a new connection was closed before its handshake started.
 * Label values for echod_connections_rejected_total{reason}. */
#define ED_REJECT_REASONS(X)                  \
  X(MAX_CONNECTIONS, "max_connections")       \
  X(PENDING_HANDSHAKES, "pending_handshakes") \
  X(DRAINING, "draining")

enum ed_reject_reason {
#define ED_REJ_ENUM_(id, name) ED_REJECT_##id,
  ED_REJECT_REASONS(ED_REJ_ENUM_)
#undef ED_REJ_ENUM_
      ED_REJECT_REASON_COUNT
};

/* The cipher suites echod can negotiate (TLS 1.3, and TLS 1.2 ECDHE+AEAD).
 * X(id, IANA value, protocol version name, suite name). Labels for
 * echod_tls_sessions_total{version,cipher}. */
#define ED_SUITES(X)                                                 \
  X(AES_128_GCM_SHA256, 0x1301, "TLSv1.3", "TLS_AES_128_GCM_SHA256") \
  X(AES_256_GCM_SHA384, 0x1302, "TLSv1.3", "TLS_AES_256_GCM_SHA384") \
  X(CHACHA20_POLY1305_SHA256, 0x1303, "TLSv1.3",                     \
    "TLS_CHACHA20_POLY1305_SHA256")                                  \
  X(ECDHE_ECDSA_AES128_GCM, 0xC02B, "TLSv1.2",                       \
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256")                       \
  X(ECDHE_ECDSA_AES256_GCM, 0xC02C, "TLSv1.2",                       \
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384")                       \
  X(ECDHE_RSA_AES128_GCM, 0xC02F, "TLSv1.2",                         \
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")                         \
  X(ECDHE_RSA_AES256_GCM, 0xC030, "TLSv1.2",                         \
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384")                         \
  X(ECDHE_ECDSA_CHACHA20, 0xCCA9, "TLSv1.2",                         \
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256")                 \
  X(ECDHE_RSA_CHACHA20, 0xCCA8, "TLSv1.2",                           \
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256")                   \
  X(OTHER, 0x0000, "other", "other")

enum ed_suite {
#define ED_SUITE_ENUM_(id, iana, ver, name) ED_SUITE_##id,
  ED_SUITES(ED_SUITE_ENUM_)
#undef ED_SUITE_ENUM_
      ED_SUITE_COUNT
};

/* What started a reload; label values for echod_reloads_total{trigger}. */
#define ED_RELOAD_TRIGGERS(X) \
  X(STARTUP, "startup")       \
  X(ADMIN, "admin")           \
  X(SIGNAL, "signal")         \
  X(WATCH, "watch")

enum ed_reload_trigger {
#define ED_TRIG_ENUM_(id, name) ED_RELOAD_##id,
  ED_RELOAD_TRIGGERS(ED_TRIG_ENUM_)
#undef ED_TRIG_ENUM_
      ED_RELOAD_TRIGGER_COUNT
};

const char *ed_hs_reason_name(enum ed_hs_reason r);
const char *ed_reject_reason_name(enum ed_reject_reason r);
const char *ed_reload_trigger_name(enum ed_reload_trigger t);
const char *ed_suite_name(enum ed_suite s);
const char *ed_suite_version(enum ed_suite s);
/* ed_suite_from_iana maps a cipher's IANA value (SSL_CIPHER_get_protocol_id)
 * to its ed_suite, ED_SUITE_OTHER if unknown. */
enum ed_suite ed_suite_from_iana(uint16_t iana);

/* ---- histograms ---------------------------------------------------------- */

#define ED_HIST_MAX_BUCKETS 16

/* Fixed bucket upper bounds, in seconds, ascending; +Inf is implicit. */
struct ed_hist_bounds {
  size_t num;
  double le[ED_HIST_MAX_BUCKETS];
};

/* 0.0005 ... 5 s: handshake duration and handshake queue wait. */
extern const struct ed_hist_bounds ed_hist_handshake_bounds;
/* 0.01 ... 3600 s: connection duration. */
extern const struct ed_hist_bounds ed_hist_connection_bounds;

struct ed_hist {
  const struct ed_hist_bounds *bounds;
  _Atomic uint64_t bucket[ED_HIST_MAX_BUCKETS + 1]; /* non-cumulative; last
                                                       is +Inf */
  _Atomic uint64_t count;
  _Atomic uint64_t sum_ns;
};

/* ---- one writer's counters ----------------------------------------------- */

struct ed_stats {
  _Atomic uint64_t accepted;
  _Atomic uint64_t rejected[ED_REJECT_REASON_COUNT];
  _Atomic uint64_t handshakes[2]; /* [0] full, [1] resumed */
  _Atomic uint64_t hs_errors[ED_HS_REASON_COUNT];
  _Atomic uint64_t sessions_by_suite[ED_SUITE_COUNT];
  _Atomic uint64_t bytes_in;  /* plaintext received from clients */
  _Atomic uint64_t bytes_out; /* plaintext echoed back */
  _Atomic uint64_t closed;    /* connections fully closed */
  /* Gauges: current values owned by this writer (may be negative in one
   * instance if a connection moves between writers; the sum is right). */
  _Atomic int64_t active_handshaking;
  _Atomic int64_t active_established;
  _Atomic int64_t queue_depth; /* handshake jobs waiting for the pool */
  struct ed_hist hs_duration;  /* accept -> established */
  struct ed_hist queue_wait;   /* queued -> picked by a pool thread */
  struct ed_hist conn_duration;
};

/* ed_stats_init zeroes |s| and sets the histogram bounds. */
void ed_stats_init(struct ed_stats *s);

/* Writer side: single writer per instance (see top of file). */
static inline void ed_stat_add(_Atomic uint64_t *c, uint64_t n) {
  atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                        memory_order_relaxed);
}
static inline void ed_gauge_add(_Atomic int64_t *g, int64_t n) {
  atomic_store_explicit(g, atomic_load_explicit(g, memory_order_relaxed) + n,
                        memory_order_relaxed);
}
void ed_hist_observe(struct ed_hist *h, uint64_t ns);

/* ---- reader side --------------------------------------------------------- */

struct ed_hist_snapshot {
  const struct ed_hist_bounds *bounds;
  uint64_t bucket[ED_HIST_MAX_BUCKETS + 1]; /* non-cumulative */
  uint64_t count;
  uint64_t sum_ns;
};

struct ed_stats_snapshot {
  uint64_t accepted;
  uint64_t rejected[ED_REJECT_REASON_COUNT];
  uint64_t handshakes[2];
  uint64_t hs_errors[ED_HS_REASON_COUNT];
  uint64_t sessions_by_suite[ED_SUITE_COUNT];
  uint64_t bytes_in, bytes_out, closed;
  int64_t active_handshaking, active_established, queue_depth;
  struct ed_hist_snapshot hs_duration, queue_wait, conn_duration;
};

/* ed_stats_snapshot_init zeroes |out| and sets histogram bounds. */
void ed_stats_snapshot_init(struct ed_stats_snapshot *out);

/* ed_stats_accumulate adds the current values of |s| into |out|. Safe
 * while the writer runs. */
void ed_stats_accumulate(struct ed_stats_snapshot *out,
                         const struct ed_stats *s);

/* ---- the control plane's counters ---------------------------------------- */

/* Admin socket commands; label values for
 * echod_admin_requests_total{cmd,result}. UNKNOWN counts requests whose
 * command could not be read. */
#define ED_ADMIN_CMDS(X)    \
  X(STATUS, "status")       \
  X(SESSIONS, "sessions")   \
  X(SESSION, "session")     \
  X(KILL, "kill")           \
  X(CERTS, "certs")         \
  X(RELOAD, "reload")       \
  X(DRAIN, "drain")         \
  X(LOG_LEVEL, "log-level") \
  X(VERSION, "version")     \
  X(METRICS, "metrics")     \
  X(UNKNOWN, "unknown")

enum ed_admin_cmd {
#define ED_ADMIN_ENUM_(id, name) ED_ADMIN_##id,
  ED_ADMIN_CMDS(ED_ADMIN_ENUM_)
#undef ED_ADMIN_ENUM_
      ED_ADMIN_CMD_COUNT
};

const char *ed_admin_cmd_name(enum ed_admin_cmd c);

/* The reload bookkeeping. Its one writer is the server
 * (internal/server: ed_server_reload records every reload, whatever its
 * trigger; the startup load counts as trigger "startup", ok); admin
 * `status` and the metrics read a copy (ed_server_reload_status). */
struct ed_reload_status {
  uint64_t count[ED_RELOAD_TRIGGER_COUNT][2]; /* [trigger][0 fail, 1 ok] */
  int last_ok;                         /* result of the last reload (1 ok) */
  enum ed_reload_trigger last_trigger; /* what started the last one */
  uint64_t last_wall_ns;               /* when (ns since the epoch) */
  char last_error[256];                /* "" when last_ok */
};

/* Counters of the control loop (main thread): admin requests.
 * Everything that writes or reads them (admin socket, metrics endpoint) runs on
 * the control loop, so these are plain integers. One instance per server
 * process, owned by whoever composes the server (cmd/server.c) and lent to each
 * module. */
struct ed_control_stats {
  uint64_t admin_requests[ED_ADMIN_CMD_COUNT][2]; /* [cmd][0 error,1 ok] */
  uint64_t admin_refused_peers;                   /* SO_PEERCRED uid refused */
};

#endif /* ED_STATS_H */

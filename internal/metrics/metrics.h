/* internal/metrics — the Prometheus text renderer (exposition format 0.0.4).
 *
 * ed_metrics_render is a pure function from plain input structs to text: it
 * knows nothing of the server, libuv or sockets, so it is unit-tested alone
 * and shared by the HTTP endpoint (endpoint.h) and the admin socket's
 * {"cmd":"metrics"}. Every family has HELP and TYPE, names carry the
 * prefix echod_ and base units (seconds, bytes), and every known label value
 * is emitted even when 0 so that series exist from the first scrape.
 *
 * build_info's boringssl label is "api-N", N = BORINGSSL_API_VERSION of the
 * headers echod was compiled against (see ed_metrics_boringssl_version). */
#ifndef ED_METRICS_H
#define ED_METRICS_H

#include <stdint.h>

#include "internal/admin/admin_types.h"
#include "internal/base/base.h"
#include "internal/reload/reload_types.h"
#include "internal/stats/stats.h"

/* Content-Type of the rendered text. */
#define ED_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Lifecycle of the server as the metrics endpoint reports it. */
enum ed_metrics_state {
  ED_METRICS_STARTING = 0,
  ED_METRICS_RUNNING,
  ED_METRICS_DRAINING,
};

/* Validity window of one certificate, in seconds since the epoch. */
struct ed_metrics_cert {
  int present; /* 0: no such certificate; its series are omitted */
  int64_t not_before_s;
  int64_t not_after_s;
};

/* The standard process_* metrics (see ed_metrics_process_read). */
struct ed_metrics_process {
  double cpu_seconds;        /* user + system */
  double resident_bytes;     /* VmRSS */
  double open_fds;           /* entries in /proc/self/fd */
  double max_fds;            /* RLIMIT_NOFILE soft limit */
  double start_time_seconds; /* since the epoch */
};

/* Why the metrics port turned a connection away (its own limits,
 * endpoint.h): every slot taken; the address holds its share and no probe
 * slot was free; a silent connection lost its probe slot to a newcomer; a
 * request other than /healthz or /readyz in a probe slot (503). The
 * reason labels of echod_metrics_connections_refused_total. */
#define ED_METRICS_REFUSALS(X) \
  X(FULL, "full")              \
  X(PER_CLIENT, "per_client")  \
  X(TAKEN_OVER, "taken_over")  \
  X(PROBE_ONLY, "probe_only")

enum ed_metrics_refusal {
#define ED_METRICS_REFUSAL_ENUM_(id, name) ED_METRICS_REFUSE_##id,
  ED_METRICS_REFUSALS(ED_METRICS_REFUSAL_ENUM_)
#undef ED_METRICS_REFUSAL_ENUM_
      ED_METRICS_REFUSE_COUNT
};

/* Everything one rendering needs. All pointers are borrowed for the call;
 * |control|, |reload| and |process| may be NULL (their families are then
 * omitted). */
struct ed_metrics_input {
  const struct ed_stats_snapshot *stats;  /* summed over every writer */
  const struct ed_control_stats *control; /* admin requests */
  const struct ed_reload_status *reload;  /* NULL: reload series omitted */
  uint64_t credential_snapshots; /* with |reload|: ed_tls_snapshots_live */
  const struct ed_metrics_process *process; /* NULL: no process_* */
  struct ed_metrics_cert server_cert;       /* role="server" */
  struct ed_metrics_cert ca_cert;           /* role="ca" */
  int has_crl;                              /* 0: CRL series omitted */
  /* Session-ticket keys (ed_tls_ticket_info): 0: series omitted. */
  int has_ticket_keys;
  int ticket_keys_from_file;   /* source="file", else "memory" */
  uint64_t ticket_keys;        /* keys that open tickets */
  char ticket_key_id[40];      /* the sealing key's id (hex prefix) */
  int64_t crl_next_update_s;   /* seconds since the epoch */
  enum ed_metrics_state state; /* draining gauge */
  int has_endpoint;            /* 0: refusal series omitted */
  uint64_t endpoint_refused[ED_METRICS_REFUSE_COUNT];
  const char *version; /* echod version; NULL: "dev" */
};

/* ed_metrics_render appends the exposition text for |in| to |out|.
 * Returns 0, or ED_E_TOOBIG if |out|'s cap is reached (|out| then holds a
 * truncated text the caller must discard). Thread-safe; no I/O. */
int ed_metrics_render(struct ed_buf *out, const struct ed_metrics_input *in);

/* ed_metrics_process_read fills |out| from /proc/self (stat, status, fd,
 * /proc/stat's btime) and getrlimit. Fields it cannot read are 0. Returns
 * 0, or ED_E_IO if /proc/self/stat cannot be read. */
int ed_metrics_process_read(struct ed_metrics_process *out);

/* ed_metrics_ready says whether the server is ready for traffic at wall
 * time |now_s|: running (not starting, not draining) with a server
 * certificate that is present and within its validity. Returns 1 if ready;
 * else 0 and |*out_reason| points to a static one-line reason. */
int ed_metrics_ready(const struct ed_metrics_input *in, int64_t now_s,
                     const char **out_reason);

/* ed_metrics_boringssl_version returns the build_info boringssl label
 * value ("api-17"). Static string. */
const char *ed_metrics_boringssl_version(void);

#endif /* ED_METRICS_H */

/* internal/config — the server's configuration: flags, ECHOD_* environment
 * and an optional JSON file (cJSON), merged into one immutable struct.
 * Precedence: flag > environment > file > default.
 *
 * Every flag --some-name has the environment variable ECHOD_SOME_NAME and
 * the JSON key "some_name". List-valued options (listen, allow_*) take a
 * JSON array, a comma-separated environment value, or a repeated flag.
 *
 * Paths (config, state_dir, cert, key, ca, crl, admin_socket) are stored
 * absolute (ed_path_resolve): a flag or ECHOD_* value relative to the
 * directory the command ran in ($BUILD_WORKING_DIRECTORY under `bazel
 * run`), a value in the config file relative to that file's directory, so
 * a config file and the certificates beside it move together. Durations
 * print as "1h", "5m", "30s" or "250ms", which every layer reads back. */
#ifndef ED_CONFIG_H
#define ED_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "internal/base/base.h"

enum ed_config_action {
  ED_CONFIG_RUN = 0,
  ED_CONFIG_HELP,    /* --help: print ed_config_usage() and exit 0 */
  ED_CONFIG_PRINT,   /* --print-config: print ed_config_to_json(), exit 0 */
  ED_CONFIG_VERSION, /* --version */
};

struct ed_strlist {
  char **items; /* owned */
  size_t num;
};

struct ed_config {
  enum ed_config_action action;
  char *config_file; /* --config; NULL if none */
  char *state_dir;   /* --state-dir; default ed_state_dir() */

  /* Listeners: "host:port", "[v6]:port"; default {"127.0.0.1:7443"}. */
  struct ed_strlist listen;

  /* Credentials. All NULL = zero-config: dev PKI in <state_dir>/pki. Cert,
   * key and CA must be given together; crl is optional. */
  char *cert;
  char *key;
  char *ca;
  struct ed_strlist crl;    /* CRL files, each may hold several CRLs */
  char *crl_expired;        /* "warn" (default) or "refuse" */
  uint32_t max_chain_depth; /* intermediates allowed; default 100 */
  /* The key may be group-readable when root owns it (0640/0440): how a
   * Kubernetes Secret volume with fsGroup hands a key to a non-root
   * server. Off by default: any group/world access is refused. */
  int allow_group_readable_key;

  /* Trust. tls_min is 0x0304 (default, "1.3") or 0x0303 ("1.2"). */
  uint16_t tls_min;
  struct ed_strlist allow_cn;     /* exact CN match */
  struct ed_strlist allow_san;    /* exact DNS/URI/email SAN match */
  struct ed_strlist allow_sha256; /* hex SHA-256 of the client cert DER,
                                   * normalized: 64 lowercase hex digits,
                                   * colons removed */
  /* --allow-file: more allow-list entries, in a file re-read with the
   * credentials on every reload (internal/allowfile); NULL: none. */
  char *allow_file;
  uint32_t ticket_rotate_s; /* --ticket-rotate, default 3600 */
  /* --ticket-keys: session-ticket keys shared by replicas (a file, read
   * with every reload); NULL: in-memory keys rotating every
   * ticket_rotate_s. */
  char *ticket_keys;
  /* Every connection must begin with a PROXY protocol v2 header (from an
   * L4 balancer); logs and the admin socket then show the client address
   * it carries. Off by default: a header would be a TLS protocol error. */
  int proxy_protocol;

  /* Threads. 0 = number of CPUs. */
  uint32_t workers;
  uint32_t handshake_threads;
  /* --handshake-share PERCENT (0-90, default 30): while handshake steps
   * wait, each I/O loop leaves at least this share of its core's time to
   * them, napping when it is saturated (internal/loop/loop.c budget). */
  uint32_t handshake_share;

  /* Limits and timeouts. */
  /* 0 (the default): as many as the descriptor limit allows; the server
   * sizes it at start (internal/server, ed_server_start). */
  uint32_t max_connections;
  uint32_t max_pending_handshakes; /* default 4096 */
  /* Connections before ESTABLISHED, all loops together; default 4096
   * (never more than max_connections). */
  uint32_t max_handshaking;
  uint32_t max_buffer;           /* unsent bytes per conn, default 65536 */
  uint32_t handshake_timeout_ms; /* default 10000 */
  uint32_t idle_timeout_ms;      /* default 300000 */
  uint32_t drain_timeout_ms;     /* default 30000 */
  /* A drain keeps accepting this long after /readyz turns 503, so a
   * balancer's health check takes the instance out first; default 0. */
  uint32_t drain_delay_ms;
  /* "close" (default): close_notify to every session when the drain stops
   * accepting; "finish": sessions run until they end, close_notify to
   * those left at drain_timeout_ms. */
  char *drain_sessions;

  /* Control plane. */
  char *admin_socket; /* default <state_dir>/admin.sock; NULL if no_admin */
  int no_admin;
  /* An admin connection with no complete request line for this long is
   * closed; default 10000. */
  uint32_t admin_timeout_ms;
  char *metrics_listen; /* default "127.0.0.1:9870"; NULL if no_metrics */
  int no_metrics;
  int watch; /* watch cert/key/CA/CRL files for reload; default 1 */
  /* After a reload, leave established sessions alone: no re-check of
   * their certificates against the new credentials (the default closes
   * those that no longer pass). */
  int keep_sessions_on_reload;
  /* How often a CRL past its next update is logged again between reloads
   * (--crl-warn-interval, default 1h). */
  uint32_t crl_warn_interval_ms;

  enum ed_log_level log_level; /* default info */

  /* Changes to the watched files within this many ms of each other are
   * one reload (--reload-debounce, default 250ms). */
  uint32_t reload_debounce_ms;
  /* Tests only: every handshake step sleeps this long on its pool thread
   * first (--test-handshake-delay, default 0), so a test can make "data
   * arrives while the step is in the pool" certain. */
  uint32_t test_hs_delay_ms;
  /* Tests only: a loop closing its listeners (a drain) sleeps this long
   * midway (--test-quiesce-delay, default 0), so a test can see what a
   * client meets while the loops are still closing them. */
  uint32_t test_quiesce_delay_ms;
  /* --log-format: logfmt (default) or json lines. */
  enum ed_log_format log_format;
  /* Least privilege (internal/sandbox). */
  char *user;     /* --user: run as this user once bound; NULL: stay */
  char *group;    /* --group: default the user's primary group */
  int no_sandbox; /* --no-sandbox: no Landlock, no seccomp filter */
};

/* ed_config_load builds the configuration from |argc|/|argv| (argv[0] is
 * the program name), the process environment and the JSON file named by
 * --config / ECHOD_CONFIG. On success sets |*out| (free with
 * ed_config_free) and returns 0. On a bad flag, value or file it writes a
 * one-line message (no trailing newline) to |err| and returns ED_E_USAGE;
 * the caller prints it and exits 2. */
int ed_config_load(struct ed_config **out, int argc, char **argv, char *err,
                   size_t err_len);

void ed_config_free(struct ed_config *cfg);

/* ed_config_usage returns the --help text (static). */
const char *ed_config_usage(void);

/* ed_config_to_json returns the effective configuration as pretty JSON
 * (caller frees), in the same shape --config accepts. */
char *ed_config_to_json(const struct ed_config *cfg);

/* ed_parse_hostport splits "host:port", "[v6]:port" into |host| (brackets
 * removed) and |*out_port|. Returns 0 or ED_E_INVAL. It is
 * ed_net_split_hostport (internal/net/addr.h), which new code calls. */
int ed_parse_hostport(char *host, size_t host_len, uint16_t *out_port,
                      const char *s);

#endif /* ED_CONFIG_H */

/* internal/admin — the words other modules share with the admin socket
 * without linking it: its commands, and the control loop's counters of
 * admin requests that the metrics render. Types and names only
 * (admin_types.c). */
#ifndef ED_ADMIN_TYPES_H
#define ED_ADMIN_TYPES_H

#include <stdint.h>

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
  X(UPGRADE, "upgrade")     \
  X(HANDOVER, "handover")   \
  X(UNKNOWN, "unknown")

enum ed_admin_cmd {
#define ED_ADMIN_ENUM_(id, name) ED_ADMIN_##id,
  ED_ADMIN_CMDS(ED_ADMIN_ENUM_)
#undef ED_ADMIN_ENUM_
      ED_ADMIN_CMD_COUNT
};

/* ed_admin_cmd_name returns the wire name ("log-level"); static.
 * ed_admin_cmd_parse maps a wire name back, ED_ADMIN_UNKNOWN for anything
 * else (or NULL). */
const char *ed_admin_cmd_name(enum ed_admin_cmd c);
enum ed_admin_cmd ed_admin_cmd_parse(const char *name);

/* Counters of the control loop (main thread): admin requests.
 * Everything that writes or reads them (admin socket, metrics endpoint)
 * runs on the control loop, so these are plain integers. One instance per
 * server process, owned by whoever composes the server (cmd/server.c) and
 * lent to each module. */
struct ed_control_stats {
  uint64_t admin_requests[ED_ADMIN_CMD_COUNT][2]; /* [cmd][0 error,1 ok] */
  uint64_t admin_refused_peers;                   /* SO_PEERCRED uid refused */
};

#endif /* ED_ADMIN_TYPES_H */

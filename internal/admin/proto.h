/* internal/admin/proto.h — the admin socket's wire protocol: a pure parser
 * (one request line in, one request struct out) and the reply envelope.
 * No I/O, no globals: this is what the fuzzer drives.
 *
 * A request is one JSON object on one line (docs/admin-protocol.md):
 *   {"cmd":"sessions","cn":"alice","limit":10,"id":7}
 * A reply is one JSON object on one line:
 *   {"id":7,"ok":true,"result":{...}}
 *   {"id":7,"ok":false,"error":{"code":"bad_request","message":"..."}} */
#ifndef ED_ADMIN_PROTO_H
#define ED_ADMIN_PROTO_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "internal/admin/admin_types.h"
#include "internal/loop/loop_types.h"

/* The longest request line accepted, newline excluded. */
#define ED_ADMIN_MAX_LINE (64 * 1024)

/* Error codes carried in {"error":{"code":...}}. */
#define ED_ADMIN_ERRS(X)                \
  X(BAD_REQUEST, "bad_request")         \
  X(UNKNOWN_COMMAND, "unknown_command") \
  X(NOT_FOUND, "not_found")             \
  X(TOO_LARGE, "too_large")             \
  X(FORBIDDEN, "forbidden")             \
  X(TIMEOUT, "timeout")                 \
  X(BUSY, "busy")                       \
  X(RELOAD_FAILED, "reload_failed")     \
  X(UNAVAILABLE, "unavailable")         \
  X(UPGRADE_FAILED, "upgrade_failed")   \
  X(INTERNAL, "internal")

enum ed_admin_err {
  ED_ADMIN_OK = 0,
#define ED_ADMIN_ERR_ENUM_(id, name) ED_ADMIN_ERR_##id,
  ED_ADMIN_ERRS(ED_ADMIN_ERR_ENUM_)
#undef ED_ADMIN_ERR_ENUM_
      ED_ADMIN_ERR_COUNT
};

/* ed_admin_err_name returns the wire name ("bad_request"); static. */
const char *ed_admin_err_name(enum ed_admin_err e);

/* Defaults and bounds of numeric fields. */
#define ED_ADMIN_SESSIONS_DEFAULT_LIMIT 1000
#define ED_ADMIN_SESSIONS_MAX_LIMIT 100000
#define ED_ADMIN_MAX_SECONDS (30.0 * 86400.0) /* older_than, drain timeout */

/* A parsed request. Embeddable value type: ed_admin_request_cleanup frees
 * what ed_admin_parse allocated (id, strings). */
struct ed_admin_request {
  enum ed_admin_cmd cmd; /* ED_ADMIN_UNKNOWN if unreadable */
  cJSON *id;             /* owned copy of "id" (a scalar), or NULL */
  union {
    struct {
      char *cn;                    /* NULL = any */
      int has_state;               /* 0: any state */
      enum ed_session_state state; /* when has_state */
      uint64_t older_than_ms;      /* 0 = no filter */
      uint32_t limit;              /* 1..MAX, default DEFAULT_LIMIT */
    } sessions;
    struct {
      uint64_t id;
    } session;
    struct {
      uint64_t id; /* 0 when killing by cn */
      char *cn;    /* NULL when killing by id */
    } kill;
    struct {
      int check; /* 1: validate only, publish nothing */
    } reload;
    struct {
      int has_timeout;
      uint64_t timeout_ms;
      int has_delay; /* keep accepting this long after /readyz says 503 */
      uint64_t delay_ms;
      int sessions; /* 0: the server's --drain-sessions; 1 close; 2 finish */
    } drain;
    struct {
      char token[65]; /* 64 hex digits: the upgrade's one-time token */
    } handover;
    struct {
      int has_level; /* 0: query the current level */
      int level;     /* enum ed_log_level */
    } log_level;
  } u;
};

/* ed_admin_parse parses one request line of |len| bytes (no newline; it
 * may hold any bytes, need not be NUL-terminated) into |out|, which it
 * initialises first. Returns ED_ADMIN_OK, or an error code with a one-line
 * reason written to |err| (NUL-terminated, truncated to |err_len|). Even on
 * error, |out->id| and |out->cmd| are set when they could be read, so the
 * error reply can echo the id and be counted under its command. The caller
 * always calls ed_admin_request_cleanup(out). Lines longer than
 * ED_ADMIN_MAX_LINE give ED_ADMIN_ERR_TOO_LARGE. */
enum ed_admin_err ed_admin_parse(struct ed_admin_request *out, const char *line,
                                 size_t len, char *err, size_t err_len);

void ed_admin_request_cleanup(struct ed_admin_request *req);

/* ed_admin_reply_ok renders {"id":..,"ok":true,"result":..}\n. Takes
 * ownership of |result| (NULL gives {}); |id| is borrowed and may be NULL.
 * Returns a new string the caller frees with free(). */
char *ed_admin_reply_ok(const cJSON *id, cJSON *result);

/* ed_admin_reply_error renders {"id":..,"ok":false,"error":{"code":..,
 * "message":..}}\n. Returns a new string the caller frees with free(). */
char *ed_admin_reply_error(const cJSON *id, enum ed_admin_err code,
                           const char *message);

#endif /* ED_ADMIN_PROTO_H */

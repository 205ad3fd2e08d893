/* internal/admin/proto.c — parse one admin request line, render replies.
 * Pure: no I/O, no globals of our own. */
#include "internal/admin/proto.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/base/base.h"

/* More members than any command needs; bounds the duplicate-key scan. */
#define MAX_FIELDS 16
/* Integers JSON numbers (doubles) carry exactly. */
#define MAX_JSON_INT 9007199254740992.0 /* 2^53 */

static const char *const err_names[] = {"ok",
#define ED_ADMIN_ERR_NAME_(id, name) name,
                                        ED_ADMIN_ERRS(ED_ADMIN_ERR_NAME_)
#undef ED_ADMIN_ERR_NAME_
};

const char *ed_admin_err_name(enum ed_admin_err e) {
  if ((int)e < 0 || e >= ED_ADMIN_ERR_COUNT) return "internal";
  return err_names[e];
}

/* Fields each command accepts besides "cmd" and "id"; NULL-terminated. */
static const char *const *allowed_fields(enum ed_admin_cmd cmd) {
  static const char *const none[] = {NULL};
  static const char *const sessions[] = {"cn", "state", "older_than", "limit",
                                         NULL};
  static const char *const session[] = {"session", NULL};
  static const char *const kill[] = {"session", "cn", NULL};
  static const char *const reload[] = {"check", NULL};
  static const char *const drain[] = {"timeout", "delay", "sessions", NULL};
  static const char *const handover[] = {"token", NULL};
  static const char *const log_level[] = {"level", NULL};
  switch (cmd) {
    case ED_ADMIN_SESSIONS:
      return sessions;
    case ED_ADMIN_SESSION:
      return session;
    case ED_ADMIN_KILL:
      return kill;
    case ED_ADMIN_RELOAD:
      return reload;
    case ED_ADMIN_DRAIN:
      return drain;
    case ED_ADMIN_LOG_LEVEL:
      return log_level;
    case ED_ADMIN_HANDOVER:
      return handover;
    default:
      return none;
  }
}

/* A parse context: the request object and where to write the reason. */
struct pctx {
  const cJSON *obj;
  char *err;
  size_t err_len;
};

static enum ed_admin_err fail(struct pctx *p, enum ed_admin_err code,
                              const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum ed_admin_err fail(struct pctx *p, enum ed_admin_err code,
                              const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (p->err_len > 0) vsnprintf(p->err, p->err_len, fmt, ap);
  va_end(ap);
  return code;
}

static const cJSON *field(struct pctx *p, const char *name) {
  return cJSON_GetObjectItemCaseSensitive(p->obj, name);
}

static int is_allowed(const char *name, const char *const *allowed) {
  if (strcmp(name, "cmd") == 0 || strcmp(name, "id") == 0) return 1;
  for (; *allowed; allowed++)
    if (strcmp(name, *allowed) == 0) return 1;
  return 0;
}

/* Rejects unknown and duplicated members: a typo in a filter must not
 * silently widen what "kill" or "sessions" acts on. */
static enum ed_admin_err check_members(struct pctx *p, enum ed_admin_cmd cmd) {
  const char *const *allowed = allowed_fields(cmd);
  int n = 0;
  for (const cJSON *c = p->obj->child; c; c = c->next) {
    if (++n > MAX_FIELDS)
      return fail(p, ED_ADMIN_ERR_BAD_REQUEST, "too many fields");
    if (!is_allowed(c->string, allowed))
      return fail(p, ED_ADMIN_ERR_BAD_REQUEST,
                  "unknown field \"%.64s\" for command \"%s\"", c->string,
                  ed_admin_cmd_name(cmd));
    for (const cJSON *d = p->obj->child; d != c; d = d->next)
      if (strcmp(c->string, d->string) == 0)
        return fail(p, ED_ADMIN_ERR_BAD_REQUEST, "duplicate field \"%.64s\"",
                    c->string);
  }
  return ED_ADMIN_OK;
}

/* Optional string field; empty strings are refused. */
static enum ed_admin_err get_string(struct pctx *p, const char *name,
                                    char **out) {
  const cJSON *f = field(p, name);
  if (!f) return ED_ADMIN_OK;
  if (!cJSON_IsString(f) || !f->valuestring)
    return fail(p, ED_ADMIN_ERR_BAD_REQUEST, "field \"%s\" must be a string",
                name);
  if (f->valuestring[0] == '\0')
    return fail(p, ED_ADMIN_ERR_BAD_REQUEST, "field \"%s\" must not be empty",
                name);
  *out = ed_strdup(f->valuestring);
  return ED_ADMIN_OK;
}

/* Optional duration in seconds (JSON number, fractions allowed). */
static enum ed_admin_err get_seconds(struct pctx *p, const char *name,
                                     int *out_has, uint64_t *out_ms) {
  const cJSON *f = field(p, name);
  if (!f) return ED_ADMIN_OK;
  if (!cJSON_IsNumber(f))
    return fail(p, ED_ADMIN_ERR_BAD_REQUEST,
                "field \"%s\" must be a number of seconds", name);
  double v = f->valuedouble;
  if (!isfinite(v) || v < 0 || v > ED_ADMIN_MAX_SECONDS)
    return fail(p, ED_ADMIN_ERR_BAD_REQUEST,
                "field \"%s\" must be between 0 and %.0f seconds", name,
                ED_ADMIN_MAX_SECONDS);
  *out_has = 1;
  *out_ms = (uint64_t)(v * 1000.0 + 0.5);
  return ED_ADMIN_OK;
}

/* Optional integer in [min, max]. */
static enum ed_admin_err get_uint(struct pctx *p, const char *name, double min,
                                  double max, int *out_has, uint64_t *out) {
  const cJSON *f = field(p, name);
  if (!f) return ED_ADMIN_OK;
  double v = cJSON_IsNumber(f) ? f->valuedouble : NAN;
  if (!isfinite(v) || v != floor(v) || v < min || v > max)
    return fail(p, ED_ADMIN_ERR_BAD_REQUEST,
                "field \"%s\" must be an integer from %.0f to %.0f", name, min,
                max);
  *out_has = 1;
  *out = (uint64_t)v;
  return ED_ADMIN_OK;
}

/* A session id: a positive JSON integer or a string of decimal digits (ids
 * past 2^53 do not survive a double). */
static enum ed_admin_err get_session_id(struct pctx *p, uint64_t *out) {
  const cJSON *f = field(p, "session");
  if (cJSON_IsString(f) && f->valuestring) {
    const char *s = f->valuestring;
    size_t n = strspn(s, "0123456789");
    if (n > 0 && n <= 20 && s[n] == '\0') {
      errno = 0;
      unsigned long long v = strtoull(s, NULL, 10);
      if (errno == 0 && v > 0) {
        *out = v;
        return ED_ADMIN_OK;
      }
    }
    return fail(p, ED_ADMIN_ERR_BAD_REQUEST,
                "field \"session\" must be a positive integer");
  }
  if (!f) return fail(p, ED_ADMIN_ERR_BAD_REQUEST, "missing field \"session\"");
  double v = cJSON_IsNumber(f) ? f->valuedouble : NAN;
  if (!isfinite(v) || v != floor(v) || v < 1 || v > MAX_JSON_INT)
    return fail(p, ED_ADMIN_ERR_BAD_REQUEST,
                "field \"session\" must be a positive integer");
  *out = (uint64_t)v;
  return ED_ADMIN_OK;
}

static enum ed_admin_err parse_state(struct pctx *p, int *out_has,
                                     enum ed_session_state *out) {
  const cJSON *f = field(p, "state");
  if (!f) return ED_ADMIN_OK;
  if (cJSON_IsString(f) && ed_session_state_parse(out, f->valuestring) == 0) {
    *out_has = 1;
    return ED_ADMIN_OK;
  }
  return fail(p, ED_ADMIN_ERR_BAD_REQUEST,
              "field \"state\" must be \"accepted\", \"handshaking\", "
              "\"established\" or \"closing\"");
}

static enum ed_admin_err parse_sessions(struct pctx *p,
                                        struct ed_admin_request *r) {
  enum ed_admin_err e;
  int has = 0;
  uint64_t v = 0;
  r->u.sessions.limit = ED_ADMIN_SESSIONS_DEFAULT_LIMIT;
  if ((e = get_string(p, "cn", &r->u.sessions.cn))) return e;
  if ((e = parse_state(p, &r->u.sessions.has_state, &r->u.sessions.state)))
    return e;
  if ((e = get_seconds(p, "older_than", &has, &r->u.sessions.older_than_ms)))
    return e;
  has = 0;
  if ((e = get_uint(p, "limit", 1, ED_ADMIN_SESSIONS_MAX_LIMIT, &has, &v)))
    return e;
  if (has) r->u.sessions.limit = (uint32_t)v;
  return ED_ADMIN_OK;
}

static enum ed_admin_err parse_kill(struct pctx *p,
                                    struct ed_admin_request *r) {
  enum ed_admin_err e;
  int by_id = field(p, "session") != NULL;
  int by_cn = field(p, "cn") != NULL;
  if (by_id == by_cn)
    return fail(p, ED_ADMIN_ERR_BAD_REQUEST,
                "kill needs exactly one of \"session\" or \"cn\"");
  if (by_id) return get_session_id(p, &r->u.kill.id);
  if ((e = get_string(p, "cn", &r->u.kill.cn))) return e;
  return ED_ADMIN_OK;
}

static enum ed_admin_err parse_reload(struct pctx *p,
                                      struct ed_admin_request *r) {
  const cJSON *f = field(p, "check");
  if (!f) return ED_ADMIN_OK;
  if (!cJSON_IsBool(f))
    return fail(p, ED_ADMIN_ERR_BAD_REQUEST,
                "field \"check\" must be true or false");
  r->u.reload.check = cJSON_IsTrue(f);
  return ED_ADMIN_OK;
}

static enum ed_admin_err parse_log_level(struct pctx *p,
                                         struct ed_admin_request *r) {
  const cJSON *f = field(p, "level");
  enum ed_log_level lvl;
  if (!f) return ED_ADMIN_OK;
  if (!cJSON_IsString(f) || !f->valuestring ||
      ed_log_level_parse(&lvl, f->valuestring) != 0)
    return fail(p, ED_ADMIN_ERR_BAD_REQUEST,
                "field \"level\" must be \"debug\", \"info\", \"warn\" or "
                "\"error\"");
  r->u.log_level.has_level = 1;
  r->u.log_level.level = (int)lvl;
  return ED_ADMIN_OK;
}

static enum ed_admin_err parse_drain(struct pctx *p,
                                     struct ed_admin_request *r) {
  enum ed_admin_err e = get_seconds(p, "timeout", &r->u.drain.has_timeout,
                                    &r->u.drain.timeout_ms);
  if (!e)
    e = get_seconds(p, "delay", &r->u.drain.has_delay, &r->u.drain.delay_ms);
  const cJSON *f = field(p, "sessions");
  if (e || !f) return e;
  if (cJSON_IsString(f) && f->valuestring && !strcmp(f->valuestring, "close")) {
    r->u.drain.sessions = 1;
  } else if (cJSON_IsString(f) && f->valuestring &&
             !strcmp(f->valuestring, "finish")) {
    r->u.drain.sessions = 2;
  } else {
    return fail(p, ED_ADMIN_ERR_BAD_REQUEST,
                "field \"sessions\" must be \"close\" or \"finish\"");
  }
  return ED_ADMIN_OK;
}

static enum ed_admin_err parse_handover(struct pctx *p,
                                        struct ed_admin_request *r) {
  const cJSON *f = field(p, "token");
  size_t n = cJSON_IsString(f) && f->valuestring ? strlen(f->valuestring) : 0;
  if (n != 64 || strspn(f->valuestring, "0123456789abcdef") != 64)
    return fail(p, ED_ADMIN_ERR_BAD_REQUEST,
                "field \"token\" must be 64 lowercase hex digits");
  memcpy(r->u.handover.token, f->valuestring, 65);
  return ED_ADMIN_OK;
}

static enum ed_admin_err parse_fields(struct pctx *p,
                                      struct ed_admin_request *r) {
  switch (r->cmd) {
    case ED_ADMIN_SESSIONS:
      return parse_sessions(p, r);
    case ED_ADMIN_SESSION:
      return get_session_id(p, &r->u.session.id);
    case ED_ADMIN_KILL:
      return parse_kill(p, r);
    case ED_ADMIN_RELOAD:
      return parse_reload(p, r);
    case ED_ADMIN_DRAIN:
      return parse_drain(p, r);
    case ED_ADMIN_HANDOVER:
      return parse_handover(p, r);
    case ED_ADMIN_LOG_LEVEL:
      return parse_log_level(p, r);
    default:
      return ED_ADMIN_OK;
  }
}

/* Reads "id" (any scalar) and "cmd", then the command's own fields. */
static enum ed_admin_err parse_object(struct pctx *p,
                                      struct ed_admin_request *r) {
  const cJSON *id = field(p, "id");
  if (id) {
    if (cJSON_IsObject(id) || cJSON_IsArray(id))
      return fail(p, ED_ADMIN_ERR_BAD_REQUEST,
                  "field \"id\" must be a string, number, boolean or null");
    r->id = cJSON_Duplicate(id, 0);
  }
  const cJSON *cmd = field(p, "cmd");
  if (!cmd) return fail(p, ED_ADMIN_ERR_BAD_REQUEST, "missing field \"cmd\"");
  if (!cJSON_IsString(cmd) || !cmd->valuestring)
    return fail(p, ED_ADMIN_ERR_BAD_REQUEST, "field \"cmd\" must be a string");
  r->cmd = ed_admin_cmd_parse(cmd->valuestring);
  if (r->cmd == ED_ADMIN_UNKNOWN) {
    char q[80];
    return fail(p, ED_ADMIN_ERR_UNKNOWN_COMMAND, "unknown command %s",
                ed_logq(q, sizeof(q), cmd->valuestring));
  }
  enum ed_admin_err e = check_members(p, r->cmd);
  return e ? e : parse_fields(p, r);
}

static int only_space(const char *s, const char *end) {
  for (; s < end; s++)
    if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n') return 0;
  return 1;
}

enum ed_admin_err ed_admin_parse(struct ed_admin_request *out, const char *line,
                                 size_t len, char *err, size_t err_len) {
  struct pctx p = {NULL, err, err_len};
  memset(out, 0, sizeof(*out));
  out->cmd = ED_ADMIN_UNKNOWN;
  if (err_len > 0) err[0] = '\0';
  if (len > ED_ADMIN_MAX_LINE)
    return fail(&p, ED_ADMIN_ERR_TOO_LARGE, "request line longer than %d bytes",
                ED_ADMIN_MAX_LINE);
  if (memchr(line, '\0', len))
    return fail(&p, ED_ADMIN_ERR_BAD_REQUEST, "request contains a NUL byte");
  if (only_space(line, line + len))
    return fail(&p, ED_ADMIN_ERR_BAD_REQUEST, "empty request");
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(line, len, &end, 0);
  if (!root) {
    size_t at = end && end >= line ? (size_t)(end - line) : 0;
    return fail(&p, ED_ADMIN_ERR_BAD_REQUEST,
                "not valid JSON (error near byte %zu)", at);
  }
  enum ed_admin_err e;
  char key[64];
  if (!only_space(end, line + len)) {
    e = fail(&p, ED_ADMIN_ERR_BAD_REQUEST,
             "trailing data after the JSON object (one request per line)");
  } else if (ed_json_find_nul(line, len, key, sizeof(key))) {
    /* cJSON's strings end at a NUL: "dev-client\u0000zzz" would read as
     * "dev-client", and kill would act on dev-client. */
    e = fail(&p, ED_ADMIN_ERR_BAD_REQUEST,
             "field \"%s\" holds a NUL (\\u0000), which no value may", key);
  } else if (!cJSON_IsObject(root)) {
    e = fail(&p, ED_ADMIN_ERR_BAD_REQUEST, "request must be a JSON object");
  } else {
    p.obj = root;
    e = parse_object(&p, out);
  }
  cJSON_Delete(root);
  return e;
}

void ed_admin_request_cleanup(struct ed_admin_request *req) {
  if (!req) return;
  cJSON_Delete(req->id);
  req->id = NULL;
  if (req->cmd == ED_ADMIN_SESSIONS) free(req->u.sessions.cn);
  if (req->cmd == ED_ADMIN_KILL) free(req->u.kill.cn);
  memset(&req->u, 0, sizeof(req->u));
}

/* Renders |obj| (consumed) as one line ending in '\n'. */
static char *finish(cJSON *obj) {
  char *s = cJSON_PrintUnformatted(obj);
  cJSON_Delete(obj);
  if (!s) {
    /* Only allocation failure gets here; keep the protocol intact. */
    return ed_strdup(
        "{\"ok\":false,\"error\":{\"code\":\"internal\",\"message\":\"out of "
        "memory\"}}\n");
  }
  size_t n = strlen(s);
  char *line = ed_malloc(n + 2);
  memcpy(line, s, n);
  line[n] = '\n';
  line[n + 1] = '\0';
  cJSON_free(s);
  return line;
}

static cJSON *envelope(const cJSON *id, int ok) {
  cJSON *o = cJSON_CreateObject();
  if (id) cJSON_AddItemToObject(o, "id", cJSON_Duplicate(id, 1));
  cJSON_AddItemToObject(o, "ok", cJSON_CreateBool(ok));
  return o;
}

char *ed_admin_reply_ok(const cJSON *id, cJSON *result) {
  cJSON *o = envelope(id, 1);
  cJSON_AddItemToObject(o, "result", result ? result : cJSON_CreateObject());
  return finish(o);
}

char *ed_admin_reply_error(const cJSON *id, enum ed_admin_err code,
                           const char *message) {
  cJSON *o = envelope(id, 0);
  cJSON *e = cJSON_CreateObject();
  cJSON_AddStringToObject(e, "code", ed_admin_err_name(code));
  cJSON_AddStringToObject(e, "message", message ? message : "");
  cJSON_AddItemToObject(o, "error", e);
  return finish(o);
}

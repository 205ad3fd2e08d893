/* internal/admin/service.c — admin command handlers over the server API
 * (see service.h; reply shapes in docs/admin-protocol.md). */
#include "internal/admin/service.h"

#include <math.h>
#include <openssl/base.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define STR2_(x) #x
#define STR_(x) STR2_(x)
/* Protocol revision, bumped on incompatible reply changes. */
#define PROTOCOL_VERSION 1
/* Cap on a "metrics" reply's text. */
#define METRICS_CAP (8 * 1024 * 1024)

struct ed_admin_service {
  struct ed_server *srv;
  struct ed_admin *admin;
  struct ed_control_stats *stats;
  ed_admin_metrics_fn metrics;
  void *metrics_arg;
  const char *version;
};

/* ---- JSON helpers -------------------------------------------------------- */

/* RFC 3339 UTC with milliseconds, from ns since the epoch. */
static void iso_time(char *out, size_t out_len, uint64_t wall_ns) {
  time_t s = (time_t)(wall_ns / 1000000000ull);
  struct tm tm;
  gmtime_r(&s, &tm);
  char base[32];
  strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out, out_len, "%s.%03uZ", base,
           (unsigned)((wall_ns / 1000000ull) % 1000));
}

static void add_time(cJSON *o, const char *name, uint64_t wall_ns) {
  char iso[48], key[64];
  iso_time(iso, sizeof(iso), wall_ns);
  cJSON_AddStringToObject(o, name, iso);
  snprintf(key, sizeof(key), "%s_unix", name);
  cJSON_AddNumberToObject(o, key, (double)(wall_ns / 1000000000ull));
}

static void add_u64(cJSON *o, const char *name, uint64_t v) {
  cJSON_AddNumberToObject(o, name, (double)v);
}

/* An identity's SANs, one object each, in certificate order:
 * [{"type":"DNS","value":"a"},{"type":"URI","value":"spiffe://b"}]. Types
 * are "DNS", "IP", "URI", "email"; values are exact (cJSON escapes them).
 * [] for none or no identity. */
static cJSON *san_array(const struct ed_tls_peer *id) {
  cJSON *a = cJSON_CreateArray();
  for (size_t i = 0; id && i < ed_tls_peer_num_sans(id); i++) {
    const char *v;
    size_t len;
    enum ed_san_type t = ed_tls_peer_san(id, i, &v, &len);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", ed_san_type_name(t));
    cJSON_AddStringToObject(o, "value", v); /* no NUL inside (tls.h) */
    cJSON_AddItemToArray(a, o);
  }
  return a;
}

static cJSON *cert_json(const struct ed_tls_cert_info *c,
                        const struct ed_tls_peer *id, int64_t now_s) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "subject", c->subject);
  cJSON_AddStringToObject(o, "issuer", c->issuer);
  cJSON_AddStringToObject(o, "serial", c->serial);
  cJSON_AddItemToObject(o, "sans", san_array(id));
  add_time(o, "not_before", (uint64_t)c->not_before * 1000000000ull);
  add_time(o, "not_after", (uint64_t)c->not_after * 1000000000ull);
  cJSON_AddNumberToObject(o, "seconds_to_expiry",
                          (double)(c->not_after - now_s));
  cJSON_AddStringToObject(o, "sha256", c->sha256);
  return o;
}

static cJSON *crl_json(const struct ed_tls_summary *s, int64_t now_s) {
  if (!s->has_crl) return cJSON_CreateNull();
  cJSON *o = cJSON_CreateObject();
  add_time(o, "last_update", (uint64_t)s->crl_last_update * 1000000000ull);
  add_time(o, "next_update", (uint64_t)s->crl_next_update * 1000000000ull);
  cJSON_AddNumberToObject(o, "seconds_to_next_update",
                          (double)(s->crl_next_update - now_s));
  add_u64(o, "entries", s->crl_entries);
  add_u64(o, "count", s->num_crl);
  return o;
}

static int64_t now_s(void) {
  return (int64_t)(ed_wall_ns() / 1000000000ull);
}

/* The current snapshot's summary; returns 0 if there is none. */
static int summary(struct ed_admin_service *s, struct ed_tls_summary *out) {
  struct ed_tls_snapshot *snap = ed_server_snapshot(s->srv);
  if (!snap) return 0;
  ed_tls_snapshot_summary(snap, out);
  ed_tls_snapshot_unref(snap);
  return 1;
}

/* ---- status -------------------------------------------------------------- */

static cJSON *counters_json(const struct ed_stats_snapshot *st) {
  cJSON *o = cJSON_CreateObject();
  cJSON *conns = cJSON_AddObjectToObject(o, "connections");
  add_u64(conns, "accepted", st->accepted);
  add_u64(conns, "closed", st->closed);
  cJSON_AddNumberToObject(conns, "handshaking", (double)st->active_handshaking);
  cJSON_AddNumberToObject(conns, "established", (double)st->active_established);
  cJSON *rej = cJSON_AddObjectToObject(conns, "rejected");
  for (int i = 0; i < ED_REJECT_REASON_COUNT; i++)
    add_u64(rej, ed_reject_reason_name((enum ed_reject_reason)i),
            st->rejected[i]);
  cJSON *hs = cJSON_AddObjectToObject(o, "handshakes");
  add_u64(hs, "full", st->handshakes[0]);
  add_u64(hs, "resumed", st->handshakes[1]);
  uint64_t failed = 0;
  cJSON *errs = cJSON_CreateObject();
  for (int i = 0; i < ED_HS_REASON_COUNT; i++) {
    failed += st->hs_errors[i];
    add_u64(errs, ed_hs_reason_name((enum ed_hs_reason)i), st->hs_errors[i]);
  }
  add_u64(hs, "failed", failed);
  cJSON_AddItemToObject(hs, "refusals", errs);
  cJSON *bytes = cJSON_AddObjectToObject(o, "bytes");
  add_u64(bytes, "in", st->bytes_in);
  add_u64(bytes, "out", st->bytes_out);
  return o;
}

/* The last reload, from the server's record: the only one, whatever
 * started the reload (admin, SIGHUP, file watch, the startup load). */
static cJSON *last_reload_json(struct ed_admin_service *s) {
  struct ed_reload_status rs;
  ed_server_reload_status(s->srv, &rs);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddBoolToObject(o, "ok", rs.last_ok);
  if (rs.last_wall_ns) add_time(o, "time", rs.last_wall_ns);
  cJSON_AddStringToObject(o, "trigger",
                          ed_reload_trigger_name(rs.last_trigger));
  cJSON_AddStringToObject(o, "error", rs.last_error);
  uint64_t ok = 0, failed = 0;
  for (int t = 0; t < ED_RELOAD_TRIGGER_COUNT; t++) {
    ok += rs.count[t][1];
    failed += rs.count[t][0];
  }
  add_u64(o, "count_ok", ok);
  add_u64(o, "count_failed", failed);
  return o;
}

static cJSON *cert_brief(const struct ed_tls_cert_info *c, int64_t now) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "subject", c->subject);
  cJSON_AddStringToObject(o, "serial", c->serial);
  add_time(o, "not_after", (uint64_t)c->not_after * 1000000000ull);
  cJSON_AddNumberToObject(o, "seconds_to_expiry", (double)(c->not_after - now));
  return o;
}

static cJSON *status_certs_json(struct ed_admin_service *s) {
  struct ed_tls_summary sum;
  if (!summary(s, &sum)) return cJSON_CreateNull();
  int64_t now = now_s();
  cJSON *o = cJSON_CreateObject();
  cJSON_AddItemToObject(o, "server", cert_brief(&sum.server, now));
  cJSON_AddItemToObject(o, "ca", cert_brief(&sum.ca, now));
  cJSON_AddItemToObject(o, "crl", crl_json(&sum, now));
  return o;
}

/* Which ticket keys seal and open tickets: where they come from, how many,
 * the sealing key's id (public: every ticket carries it). Never a key. */
static cJSON *ticket_keys_json(struct ed_admin_service *s) {
  struct ed_tls_snapshot *snap = ed_server_snapshot(s->srv);
  if (!snap) return cJSON_CreateNull();
  struct ed_tls_ticket_info ti;
  ed_tls_snapshot_ticket_info(snap, &ti);
  ed_tls_snapshot_unref(snap);
  const char *file = ed_server_config(s->srv)->ticket_keys;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "source", ti.from_file ? "file" : "memory");
  if (ti.from_file && file)
    cJSON_AddStringToObject(o, "file", file);
  else
    cJSON_AddNullToObject(o, "file");
  add_u64(o, "keys", ti.num_keys);
  cJSON_AddStringToObject(o, "issuing_id", ti.issuing_id);
  add_u64(o, "rotate_seconds", ti.rotate_s);
  return o;
}

static void cmd_status(struct ed_admin_service *s, struct ed_admin_call *call) {
  struct ed_stats_snapshot st;
  ed_stats_snapshot_init(&st);
  ed_server_stats(s->srv, &st);
  cJSON *r = counters_json(&st);
  uint64_t start = ed_server_start_time(s->srv);
  cJSON_AddStringToObject(r, "version", s->version);
  cJSON_AddStringToObject(r, "state",
                          ed_server_state_name(ed_server_get_state(s->srv)));
  cJSON_AddNumberToObject(r, "pid", (double)getpid());
  add_time(r, "start_time", start);
  cJSON_AddNumberToObject(r, "uptime_seconds",
                          (double)(ed_wall_ns() - start) / 1e9);
  size_t num = 0;
  const char *const *addrs = ed_server_listen_addrs(s->srv, &num);
  cJSON *listen = cJSON_AddArrayToObject(r, "listen");
  for (size_t i = 0; i < num; i++)
    cJSON_AddItemToArray(listen, cJSON_CreateString(addrs[i]));
  add_u64(r, "workers", ed_server_num_workers(s->srv));
  cJSON *pool = cJSON_AddObjectToObject(r, "handshake_pool");
  add_u64(pool, "threads", ed_server_num_handshake_threads(s->srv));
  cJSON_AddNumberToObject(pool, "queue_depth", (double)st.queue_depth);
  cJSON_AddItemToObject(r, "last_reload", last_reload_json(s));
  cJSON_AddItemToObject(r, "certs", status_certs_json(s));
  cJSON_AddItemToObject(r, "ticket_keys", ticket_keys_json(s));
  cJSON *adm = cJSON_AddObjectToObject(r, "admin");
  add_u64(adm, "refused_peers", s->stats->admin_refused_peers);
  ed_admin_call_ok(call, r);
}

/* ---- sessions ------------------------------------------------------------ */

static cJSON *session_json(const struct ed_session_info *si, uint64_t now) {
  cJSON *o = cJSON_CreateObject();
  add_u64(o, "id", si->id);
  cJSON_AddStringToObject(o, "state", ed_session_state_name(si->state));
  cJSON_AddStringToObject(o, "peer", si->peer);
  if (si->via[0]) cJSON_AddStringToObject(o, "via", si->via);
  const char *cn = si->identity ? ed_tls_peer_cn(si->identity, NULL) : NULL;
  cJSON_AddStringToObject(o, "cn", cn ? cn : "");
  cJSON_AddItemToObject(o, "sans", san_array(si->identity));
  cJSON_AddStringToObject(o, "serial",
                          si->identity ? ed_tls_peer_serial(si->identity) : "");
  cJSON_AddStringToObject(o, "version",
                          si->identity ? ed_suite_version(si->suite) : "");
  cJSON_AddStringToObject(o, "cipher",
                          si->identity ? ed_suite_name(si->suite) : "");
  cJSON_AddBoolToObject(o, "resumed", si->resumed);
  add_time(o, "start_time", si->start_ns);
  double age = now > si->start_ns ? (double)(now - si->start_ns) / 1e9 : 0;
  cJSON_AddNumberToObject(o, "age_seconds", floor(age * 1000) / 1000);
  add_u64(o, "bytes_in", si->bytes_in);
  add_u64(o, "bytes_out", si->bytes_out);
  add_u64(o, "worker", si->worker);
  return o;
}

static void cmd_sessions(struct ed_admin_service *s, struct ed_admin_call *call,
                         const struct ed_admin_request *req) {
  struct ed_session_filter f = {0};
  f.cn = req->u.sessions.cn;
  if (req->u.sessions.has_state) f.state = (int)req->u.sessions.state + 1;
  /* The server filters in whole seconds; the exact cut is made here. With
   * a fractional cut the server's list may hold sessions dropped below, so
   * it cannot be limited there without hiding later matches. */
  uint64_t older_ms = req->u.sessions.older_than_ms;
  f.older_than_s = older_ms / 1000;
  f.limit = older_ms % 1000 ? 0 : (size_t)req->u.sessions.limit + 1;
  struct ed_session_info *list = NULL;
  size_t num = 0;
  if (ed_server_sessions(s->srv, &list, &num, &f) != 0) {
    ed_admin_call_fail(call, ED_ADMIN_ERR_INTERNAL, "cannot list sessions");
    return;
  }
  uint64_t now = ed_wall_ns();
  uint64_t min_age_ns = older_ms * 1000000ull;
  cJSON *r = cJSON_CreateObject();
  cJSON *arr = cJSON_AddArrayToObject(r, "sessions");
  size_t shown = 0, matched = 0;
  for (size_t i = 0; i < num && matched <= req->u.sessions.limit; i++) {
    uint64_t age = now > list[i].start_ns ? now - list[i].start_ns : 0;
    if (min_age_ns && age <= min_age_ns) continue;
    if (++matched > req->u.sessions.limit) break;
    cJSON_AddItemToArray(arr, session_json(&list[i], now));
    shown++;
  }
  add_u64(r, "count", shown);
  cJSON_AddBoolToObject(r, "truncated", matched > req->u.sessions.limit);
  ed_server_sessions_free(list, num);
  ed_admin_call_ok(call, r);
}

static void cmd_session(struct ed_admin_service *s, struct ed_admin_call *call,
                        uint64_t id) {
  struct ed_session_info si;
  if (ed_server_session(s->srv, &si, id) != 0) {
    ed_admin_call_fail(call, ED_ADMIN_ERR_NOT_FOUND, "no session with id %llu",
                       (unsigned long long)id);
    return;
  }
  cJSON *r = cJSON_CreateObject();
  cJSON_AddItemToObject(r, "session", session_json(&si, ed_wall_ns()));
  ed_session_info_cleanup(&si);
  ed_admin_call_ok(call, r);
}

/* cmd_kill writes, per kill command (cn= or session=, as asked):
 *   level=info msg="admin kill" cn=client-7 killed=2
 *   level=info msg="admin kill" session=1042 killed=1 */
static void cmd_kill(struct ed_admin_service *s, struct ed_admin_call *call,
                     const struct ed_admin_request *req) {
  size_t n;
  char q[160];
  if (req->u.kill.cn) {
    n = ed_server_kill_cn(s->srv, req->u.kill.cn);
    ED_INFO("admin kill", "cn=%s killed=%zu",
            ed_logq(q, sizeof(q), req->u.kill.cn), n);
  } else {
    n = ed_server_kill(s->srv, req->u.kill.id);
    ED_INFO("admin kill", "session=%llu killed=%zu",
            (unsigned long long)req->u.kill.id, n);
    if (n == 0) {
      ed_admin_call_fail(call, ED_ADMIN_ERR_NOT_FOUND,
                         "no session with id %llu",
                         (unsigned long long)req->u.kill.id);
      return;
    }
  }
  cJSON *r = cJSON_CreateObject();
  add_u64(r, "killed", n);
  ed_admin_call_ok(call, r);
}

/* ---- certs and reload ---------------------------------------------------- */

static cJSON *files_json(struct ed_admin_service *s) {
  struct ed_server_paths p;
  ed_server_cred_paths(s->srv, &p);
  cJSON *files = cJSON_CreateObject();
  cJSON_AddStringToObject(files, "cert", p.cert ? p.cert : "");
  cJSON_AddStringToObject(files, "key", p.key ? p.key : "");
  cJSON_AddStringToObject(files, "ca", p.ca ? p.ca : "");
  if (p.crl)
    cJSON_AddStringToObject(files, "crl", p.crl);
  else
    cJSON_AddNullToObject(files, "crl");
  cJSON *crls = cJSON_AddArrayToObject(files, "crls");
  for (size_t i = 0; i < p.num_crls; i++)
    cJSON_AddItemToArray(crls, cJSON_CreateString(p.crls[i]));
  if (p.ticket_keys)
    cJSON_AddStringToObject(files, "ticket_keys", p.ticket_keys);
  else
    cJSON_AddNullToObject(files, "ticket_keys");
  if (p.allow_file)
    cJSON_AddStringToObject(files, "allow_file", p.allow_file);
  else
    cJSON_AddNullToObject(files, "allow_file");
  return files;
}

static void cmd_certs(struct ed_admin_service *s, struct ed_admin_call *call) {
  struct ed_tls_snapshot *snap = ed_server_snapshot(s->srv);
  if (!snap) {
    ed_admin_call_fail(call, ED_ADMIN_ERR_UNAVAILABLE, "no credentials loaded");
    return;
  }
  struct ed_tls_summary sum;
  ed_tls_snapshot_summary(snap, &sum);
  int64_t now = now_s();
  cJSON *r = cJSON_CreateObject();
  cJSON_AddItemToObject(
      r, "server",
      cert_json(&sum.server, ed_tls_snapshot_server_peer(snap), now));
  cJSON_AddItemToObject(r, "ca",
                        cert_json(&sum.ca, ed_tls_snapshot_ca_peer(snap), now));
  ed_tls_snapshot_unref(snap);
  add_u64(r, "num_ca", sum.num_ca);
  cJSON_AddItemToObject(r, "crl", crl_json(&sum, now));
  add_u64(r, "snapshot_id", sum.snapshot_id);
  add_time(r, "loaded", sum.loaded_wall_ns);
  cJSON_AddItemToObject(r, "files", files_json(s));
  ed_admin_call_ok(call, r);
}

/* A reload reply waiting for the re-check of established sessions. It
 * holds what the reply needs and nothing of the service, which may be
 * gone (the server stopping) by the time the re-check is done. */
struct reload_reply {
  struct ed_admin_call *call;
  struct ed_tls_summary sum;
};

/* The reply describes the snapshot the reload built: the one published,
 * or with |check| the one only checked (never the one in use), and what
 * the re-check of established sessions against a published one did
 * (sessions_checked, sessions_closed, recheck). */
static void reload_ok(struct ed_admin_call *call,
                      const struct ed_tls_summary *sum, int check,
                      const struct ed_recheck_result *rc) {
  cJSON *r = cJSON_CreateObject();
  cJSON_AddBoolToObject(r, "checked", 1);
  cJSON_AddBoolToObject(r, "published", !check);
  add_u64(r, "snapshot_id", sum->snapshot_id);
  cJSON_AddItemToObject(r, "server", cert_brief(&sum->server, now_s()));
  if (rc) {
    cJSON_AddStringToObject(r, "recheck", ed_recheck_status_name(rc->status));
    add_u64(r, "sessions_checked", rc->checked);
    add_u64(r, "sessions_closed", rc->closed);
  }
  ed_admin_call_ok(call, r);
}

static void on_rechecked(void *arg, const struct ed_recheck_result *rc) {
  struct reload_reply *w = arg;
  reload_ok(w->call, &w->sum, 0, rc);
  free(w);
}

static void cmd_reload(struct ed_admin_service *s, struct ed_admin_call *call,
                       int check) {
  char err[256] = "";
  struct ed_tls_summary sum;
  int rc =
      ed_server_reload(s->srv, check, ED_RELOAD_ADMIN, &sum, err, sizeof(err));
  if (rc != 0) {
    ed_admin_call_fail(call, ED_ADMIN_ERR_RELOAD_FAILED, "%s",
                       err[0] ? err : ed_strerror(rc));
    return;
  }
  if (check) {
    reload_ok(call, &sum, 1, NULL);
    return;
  }
  /* Finished later (admin.h allows it): once the sessions are re-checked,
   * the reply says how many were closed. */
  struct reload_reply *w = ed_calloc(1, sizeof(*w));
  w->call = call;
  w->sum = sum;
  ed_server_reload_wait(s->srv, on_rechecked, w);
}

/* ---- drain, log-level, version, metrics ---------------------------------- */

static uint32_t clamp_ms(uint64_t ms) {
  return ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
}

/* cmd_drain writes, per drain command:
 *   level=info msg="admin drain" timeout_ms=30000 delay_ms=5000
 *       sessions=close */
static void cmd_drain(struct ed_admin_service *s, struct ed_admin_call *call,
                      const struct ed_admin_request *req) {
  const struct ed_config *cfg = ed_server_config(s->srv);
  struct ed_server_drain_opts o = {
      .timeout_ms = req->u.drain.has_timeout ? clamp_ms(req->u.drain.timeout_ms)
                                             : cfg->drain_timeout_ms,
      .delay_ms = req->u.drain.has_delay ? clamp_ms(req->u.drain.delay_ms)
                                         : cfg->drain_delay_ms,
      .finish =
          req->u.drain.sessions
              ? req->u.drain.sessions == 2
              : cfg->drain_sessions && !strcmp(cfg->drain_sessions, "finish"),
  };
  struct ed_stats_snapshot st;
  ed_stats_snapshot_init(&st);
  ed_server_stats(s->srv, &st);
  ED_INFO("admin drain", "timeout_ms=%u delay_ms=%u sessions=%s", o.timeout_ms,
          o.delay_ms, o.finish ? "finish" : "close");
  ed_server_drain_with(s->srv, &o);
  cJSON *r = cJSON_CreateObject();
  cJSON_AddBoolToObject(r, "draining", 1);
  cJSON_AddNumberToObject(r, "timeout_seconds", o.timeout_ms / 1000.0);
  cJSON_AddNumberToObject(r, "delay_seconds", o.delay_ms / 1000.0);
  cJSON_AddStringToObject(r, "sessions_mode", o.finish ? "finish" : "close");
  cJSON_AddNumberToObject(
      r, "sessions", (double)(st.active_established + st.active_handshaking));
  ed_admin_call_ok(call, r);
}

/* cmd_log_level writes, when the command sets a level (at warn, so the
 * change shows whatever the new level):
 *   level=warn msg="log level changed" from=info to=debug */
static void cmd_log_level(struct ed_admin_call *call,
                          const struct ed_admin_request *req) {
  enum ed_log_level before = ed_log_get_level();
  cJSON *r = cJSON_CreateObject();
  if (req->u.log_level.has_level) {
    ed_log_set_level((enum ed_log_level)req->u.log_level.level);
    ED_WARN("log level changed", "from=%s to=%s", ed_log_level_name(before),
            ed_log_level_name(ed_log_get_level()));
    cJSON_AddStringToObject(r, "previous", ed_log_level_name(before));
  }
  cJSON_AddStringToObject(r, "level", ed_log_level_name(ed_log_get_level()));
  ed_admin_call_ok(call, r);
}

static void cmd_version(struct ed_admin_service *s,
                        struct ed_admin_call *call) {
  cJSON *r = cJSON_CreateObject();
  cJSON_AddStringToObject(r, "version", s->version);
  cJSON_AddStringToObject(r, "boringssl", "api-" STR_(BORINGSSL_API_VERSION));
  cJSON_AddStringToObject(r, "libuv", uv_version_string());
  cJSON_AddStringToObject(r, "cjson", cJSON_Version());
  cJSON_AddNumberToObject(r, "protocol", PROTOCOL_VERSION);
  ed_admin_call_ok(call, r);
}

static void cmd_metrics(struct ed_admin_service *s,
                        struct ed_admin_call *call) {
  if (!s->metrics) {
    ed_admin_call_fail(call, ED_ADMIN_ERR_UNAVAILABLE,
                       "metrics are not available in this server");
    return;
  }
  struct ed_buf b;
  ed_buf_init(&b, METRICS_CAP);
  int rc = s->metrics(s->metrics_arg, &b);
  if (rc != 0) {
    ed_admin_call_fail(call, ED_ADMIN_ERR_INTERNAL, "metrics: %s",
                       ed_strerror(rc));
  } else {
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "content_type",
                            "text/plain; version=0.0.4; charset=utf-8");
    cJSON_AddStringToObject(r, "text", ed_buf_cstr(&b));
    ed_admin_call_ok(call, r);
  }
  ed_buf_cleanup(&b);
}

/* ---- upgrade and hand-over ----------------------------------------------- */

/* An upgrade reply waiting for the new process; holds nothing of the
 * service, which may be gone by then. */
struct upgrade_reply {
  struct ed_admin_call *call;
};

static void on_upgraded(void *arg, int ok, int new_pid, const char *why) {
  struct upgrade_reply *w = arg;
  if (!ok) {
    ed_admin_call_fail(w->call, ED_ADMIN_ERR_UPGRADE_FAILED,
                       "the new process failed; this one keeps serving: %s",
                       why);
  } else {
    cJSON *r = cJSON_CreateObject();
    cJSON_AddNumberToObject(r, "old_pid", (double)getpid());
    cJSON_AddNumberToObject(r, "new_pid", new_pid);
    cJSON_AddBoolToObject(r, "draining", 1);
    ed_admin_call_ok(w->call, r);
  }
  free(w);
}

/* cmd_upgrade writes, per upgrade command, before the new process starts:
 *   level=info msg="admin upgrade" pid=4200 */
static void cmd_upgrade(struct ed_admin_service *s,
                        struct ed_admin_call *call) {
  char err[256];
  struct upgrade_reply *w = ed_calloc(1, sizeof(*w));
  w->call = call;
  ED_INFO("admin upgrade", "pid=%d", (int)getpid());
  if (ed_server_upgrade(s->srv, on_upgraded, w, err, sizeof(err)) != 0) {
    free(w);
    ed_admin_call_fail(call, ED_ADMIN_ERR_UPGRADE_FAILED, "%s", err);
  }
}

/* The new process takes our sockets: one reply line, the descriptors
 * with it (SCM_RIGHTS). A refused hand-over writes:
 *   level=warn msg="hand-over refused" peer_pid=4242
 *       reason="wrong hand-over token" */
static void cmd_handover(struct ed_admin_service *s, struct ed_admin_call *call,
                         const struct ed_admin_request *req) {
  char err[256];
  struct ed_server_handover h;
  if (ed_server_handover(s->srv, req->u.handover.token,
                         ed_admin_call_peer_pid(call), &h, err,
                         sizeof(err)) != 0) {
    char q[4 * sizeof(err) + 3];
    ED_WARN("hand-over refused", "peer_pid=%d reason=%s",
            ed_admin_call_peer_pid(call), ed_logq(q, sizeof(q), err));
    ed_admin_call_fail(call, ED_ADMIN_ERR_FORBIDDEN, "%s", err);
    return;
  }
  cJSON *r = cJSON_CreateObject();
  cJSON_AddNumberToObject(r, "pid", (double)getpid());
  cJSON *list = cJSON_AddArrayToObject(r, "sockets");
  for (size_t i = 0; i < h.num; i++) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "kind", h.kinds[i]);
    if (!strcmp(h.kinds[i], "listen"))
      cJSON_AddStringToObject(o, "addr", h.addrs[i]);
    cJSON_AddItemToArray(list, o);
  }
  ed_admin_call_ok_fds(call, r, h.fds, h.num);
}

static int admin_fd(void *arg) {
  struct ed_admin_service *s = arg;
  return s->admin ? ed_admin_listen_fd(s->admin) : -1;
}

static void admin_release(void *arg) {
  struct ed_admin_service *s = arg;
  if (s->admin) ed_admin_handed_over(s->admin);
}

/* ---- dispatch and lifecycle ---------------------------------------------- */

static void handle(void *arg, struct ed_admin_call *call,
                   const struct ed_admin_request *req) {
  struct ed_admin_service *s = arg;
  switch (req->cmd) {
    case ED_ADMIN_STATUS:
      cmd_status(s, call);
      return;
    case ED_ADMIN_SESSIONS:
      cmd_sessions(s, call, req);
      return;
    case ED_ADMIN_SESSION:
      cmd_session(s, call, req->u.session.id);
      return;
    case ED_ADMIN_KILL:
      cmd_kill(s, call, req);
      return;
    case ED_ADMIN_CERTS:
      cmd_certs(s, call);
      return;
    case ED_ADMIN_RELOAD:
      cmd_reload(s, call, req->u.reload.check);
      return;
    case ED_ADMIN_DRAIN:
      cmd_drain(s, call, req);
      return;
    case ED_ADMIN_LOG_LEVEL:
      cmd_log_level(call, req);
      return;
    case ED_ADMIN_VERSION:
      cmd_version(s, call);
      return;
    case ED_ADMIN_METRICS:
      cmd_metrics(s, call);
      return;
    case ED_ADMIN_UPGRADE:
      cmd_upgrade(s, call);
      return;
    case ED_ADMIN_HANDOVER:
      cmd_handover(s, call, req);
      return;
    default:
      ed_admin_call_fail(call, ED_ADMIN_ERR_UNKNOWN_COMMAND, "unknown command");
  }
}

static void on_stop(void *arg) {
  struct ed_admin_service *s = arg;
  /* Every handler answers before returning, but reload, whose reply
   * (struct reload_reply) needs nothing of |s|: none still needs it. */
  ed_admin_free(s->admin);
  free(s);
}

int ed_admin_start(struct ed_admin_service **out, struct ed_server *srv,
                   const struct ed_admin_service_options *opts, char *err,
                   size_t err_len) {
  *out = NULL;
  const struct ed_config *cfg = ed_server_config(srv);
  if (cfg->no_admin || !cfg->admin_socket) return 0;
  if (!opts->stats) return ED_E_INVAL;
  struct ed_admin_service *s = ed_calloc(1, sizeof(*s));
  s->srv = srv;
  s->stats = opts->stats;
  s->metrics = opts->metrics;
  s->metrics_arg = opts->metrics_arg;
  s->version = opts->version ? opts->version : "dev";
  struct ed_admin_options ao = {.path = cfg->admin_socket,
                                .stats = opts->stats,
                                .handler = handle,
                                .handler_arg = s,
                                .idle_timeout_ms = cfg->admin_timeout_ms,
                                .listen_fd = opts->listen_fd};
  int rc =
      ed_admin_new(&s->admin, ed_server_control_loop(srv), &ao, err, err_len);
  if (rc != 0) {
    free(s);
    return rc;
  }
  ed_server_add_stop_hook(srv, on_stop, s);
  struct ed_server_handover_sock hs = {"admin", admin_fd, admin_release, s};
  ed_server_add_handover(srv, &hs);
  *out = s;
  return 0;
}

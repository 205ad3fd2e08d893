/* internal/config — see config.h.
 *
 * One table describes every option: its flag name (from which the
 * environment variable and JSON key are derived), its kind and where it
 * lives in struct ed_config. Layers are applied lowest first — defaults,
 * file, environment, flags — so a later layer simply overwrites. A list
 * option set by a layer replaces what lower layers gave it; repeating the
 * flag appends within the flag layer. */
#include "internal/config/config.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal/net/addr.h"

#define MAX_CONFIG_FILE (1u << 20)

enum opt_kind {
  K_STR,      /* char * */
  K_LIST,     /* struct ed_strlist */
  K_TLS,      /* uint16_t tls version */
  K_U32,      /* uint32_t plain number */
  K_SIZE,     /* uint32_t bytes, k/KiB/m suffixes */
  K_DUR_MS,   /* uint32_t milliseconds from a duration */
  K_DUR_S,    /* uint32_t seconds from a duration */
  K_BOOL,     /* int 0/1 */
  K_NOBOOL,   /* int, stored inverted (--no-watch -> watch = 0) */
  K_LOGLEVEL, /* enum ed_log_level */
  K_LOGFMT,   /* enum ed_log_format */
};

/* Extra per-value checks. */
enum opt_check {
  C_NONE,
  C_HOSTPORT, /* "host:port" */
  C_IPPORT,   /* "ip:port", "[v6]:port", "localhost:port" or "*:port": what
               * the metrics endpoint binds without a resolver */
  C_SHA256,   /* 64 hex digits, colons allowed; stored lowercase, bare */
  C_PATH,     /* a file or directory: stored absolute (ed_path_resolve),
               * relative to the config file's directory in the file layer
               * and to where the command ran otherwise */
  C_POLICY,   /* "warn" or "refuse" (--crl-expired) */
  C_DRAIN,    /* "close" or "finish" (--drain-sessions) */
};

struct opt {
  const char *name; /* flag without "--" */
  enum opt_kind kind;
  size_t off;
  enum opt_check check;
  uint32_t min, max; /* numeric range (for durations: in stored unit) */
  int split_flag;    /* a flag value is split on commas too */
};

#define OFF(f) offsetof(struct ed_config, f)

static const struct opt opts[] = {
    {"state-dir", K_STR, OFF(state_dir), C_PATH, 0, 0, 0},
    {"listen", K_LIST, OFF(listen), C_HOSTPORT, 0, 0, 1},
    {"cert", K_STR, OFF(cert), C_PATH, 0, 0, 0},
    {"key", K_STR, OFF(key), C_PATH, 0, 0, 0},
    {"ca", K_STR, OFF(ca), C_PATH, 0, 0, 0},
    {"crl", K_LIST, OFF(crl), C_PATH, 0, 0, 0},
    {"crl-expired", K_STR, OFF(crl_expired), C_POLICY, 0, 0, 0},
    {"max-chain-depth", K_U32, OFF(max_chain_depth), C_NONE, 0, 100, 0},
    {"allow-group-readable-key", K_BOOL, OFF(allow_group_readable_key), C_NONE,
     0, 0, 0},
    {"tls-min", K_TLS, OFF(tls_min), C_NONE, 0, 0, 0},
    {"proxy-protocol", K_BOOL, OFF(proxy_protocol), C_NONE, 0, 0, 0},
    {"allow-cn", K_LIST, OFF(allow_cn), C_NONE, 0, 0, 0},
    {"allow-san", K_LIST, OFF(allow_san), C_NONE, 0, 0, 0},
    {"allow-sha256", K_LIST, OFF(allow_sha256), C_SHA256, 0, 0, 1},
    {"allow-file", K_STR, OFF(allow_file), C_PATH, 0, 0, 0},
    {"ticket-rotate", K_DUR_S, OFF(ticket_rotate_s), C_NONE, 1, 365 * 86400, 0},
    {"ticket-keys", K_STR, OFF(ticket_keys), C_PATH, 0, 0, 0},
    {"workers", K_U32, OFF(workers), C_NONE, 0, 1024, 0},
    {"handshake-threads", K_U32, OFF(handshake_threads), C_NONE, 0, 1024, 0},
    {"handshake-share", K_U32, OFF(handshake_share), C_NONE, 0, 90, 0},
    {"max-connections", K_U32, OFF(max_connections), C_NONE, 0, 10000000, 0},
    {"max-pending-handshakes", K_U32, OFF(max_pending_handshakes), C_NONE, 1,
     10000000, 0},
    {"max-buffer", K_SIZE, OFF(max_buffer), C_NONE, 1024, 1u << 30, 0},
    {"max-handshaking", K_U32, OFF(max_handshaking), C_NONE, 1, 10000000, 0},
    {"handshake-timeout", K_DUR_MS, OFF(handshake_timeout_ms), C_NONE, 1,
     86400000, 0},
    {"idle-timeout", K_DUR_MS, OFF(idle_timeout_ms), C_NONE, 0, 4000000000u, 0},
    {"drain-timeout", K_DUR_MS, OFF(drain_timeout_ms), C_NONE, 0, 86400000, 0},
    {"drain-delay", K_DUR_MS, OFF(drain_delay_ms), C_NONE, 0, 3600000, 0},
    {"drain-sessions", K_STR, OFF(drain_sessions), C_DRAIN, 0, 0, 0},
    {"admin-socket", K_STR, OFF(admin_socket), C_PATH, 0, 0, 0},
    {"no-admin", K_BOOL, OFF(no_admin), C_NONE, 0, 0, 0},
    {"admin-timeout", K_DUR_MS, OFF(admin_timeout_ms), C_NONE, 1, 3600000, 0},
    {"metrics-listen", K_STR, OFF(metrics_listen), C_IPPORT, 0, 0, 0},
    {"no-metrics", K_BOOL, OFF(no_metrics), C_NONE, 0, 0, 0},
    {"no-watch", K_NOBOOL, OFF(watch), C_NONE, 0, 0, 0},
    {"keep-sessions-on-reload", K_BOOL, OFF(keep_sessions_on_reload), C_NONE, 0,
     0, 0},
    {"crl-warn-interval", K_DUR_MS, OFF(crl_warn_interval_ms), C_NONE, 10,
     86400000, 0},
    {"log-level", K_LOGLEVEL, OFF(log_level), C_NONE, 0, 0, 0},
    {"reload-debounce", K_DUR_MS, OFF(reload_debounce_ms), C_NONE, 0, 60000, 0},
    {"test-handshake-delay", K_DUR_MS, OFF(test_hs_delay_ms), C_NONE, 0, 10000,
     0},
    {"test-quiesce-delay", K_DUR_MS, OFF(test_quiesce_delay_ms), C_NONE, 0,
     10000, 0},
    {"log-format", K_LOGFMT, OFF(log_format), C_NONE, 0, 0, 0},
    {"user", K_STR, OFF(user), C_NONE, 0, 0, 0},
    {"group", K_STR, OFF(group), C_NONE, 0, 0, 0},
    {"no-sandbox", K_BOOL, OFF(no_sandbox), C_NONE, 0, 0, 0},
};

#define NUM_OPTS (sizeof(opts) / sizeof(opts[0]))

enum layer { L_DEFAULT = 0, L_FILE, L_ENV, L_FLAG };

/* Load-time state: which layer last set each list (to replace, not mix). */
struct loader {
  struct ed_config *cfg;
  enum layer list_layer[NUM_OPTS];
  char *file_dir; /* the config file's directory (absolute), or NULL */
  char *err;
  size_t err_len;
};

static void *field(struct ed_config *cfg, const struct opt *o) {
  return (char *)cfg + o->off;
}

static int fail(struct loader *ld, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int fail(struct loader *ld, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (ld->err && ld->err_len) vsnprintf(ld->err, ld->err_len, fmt, ap);
  va_end(ap);
  return ED_E_USAGE;
}

/* ---- string lists -------------------------------------------------------- */

static void strlist_clear(struct ed_strlist *l) {
  for (size_t i = 0; i < l->num; i++) free(l->items[i]);
  free(l->items);
  l->items = NULL;
  l->num = 0;
}

static void strlist_add(struct ed_strlist *l, const char *s) {
  l->items = ed_realloc(l->items, (l->num + 1) * sizeof(char *));
  l->items[l->num++] = ed_strdup(s);
}

/* ---- value parsers (pure; return a problem string or NULL) --------------- */

/* ed_parse_hostport is internal/net's ed_net_split_hostport under its old
 * name, kept for the callers that have not switched yet. */
int ed_parse_hostport(char *host, size_t host_len, uint16_t *out_port,
                      const char *s) {
  return ed_net_split_hostport(host, host_len, out_port, s, NULL);
}

/* parse_decimal reads "12" or "1.5" at *s into milli-units (x1000),
 * advancing *s. Returns a problem or NULL. */
static const char *parse_decimal(uint64_t *out_milli, const char **s) {
  const char *p = *s;
  uint64_t whole = 0, frac = 0, scale = 1000;
  if (*p == '-') return "must not be negative";
  if (*p == '+') p++;
  if (!isdigit((unsigned char)*p)) return "is not a number";
  for (; isdigit((unsigned char)*p); p++) {
    whole = whole * 10 + (uint64_t)(*p - '0');
    if (whole > (1ull << 40)) return "is too large";
  }
  if (*p == '.') {
    p++;
    if (!isdigit((unsigned char)*p)) return "is not a number";
    for (; isdigit((unsigned char)*p); p++) {
      if (scale > 1) {
        scale /= 10;
        frac += (uint64_t)(*p - '0') * scale;
      }
    }
  }
  *out_milli = whole * 1000 + frac;
  *s = p;
  return NULL;
}

/* A number suffix and what one of it is worth (in ms or bytes). */
struct unit {
  const char *suffix;
  uint64_t mul;
};

static const struct unit duration_units[] = {
    {"", 1000},   {"s", 1000},    {"ms", 1},
    {"m", 60000}, {"min", 60000}, {"h", 3600000},
};

static const struct unit size_units[] = {
    {"", 1},         {"b", 1},         {"k", 1024},       {"kb", 1024},
    {"kib", 1024},   {"m", 1u << 20},  {"mb", 1u << 20},  {"mib", 1u << 20},
    {"g", 1u << 30}, {"gb", 1u << 30}, {"gib", 1u << 30},
};

/* parse_scaled reads "12" or "1.5" followed by one of |units|' suffixes
 * (compared with |cmp|) into |*out| = number x unit. Returns a problem
 * (|bad_unit| for an unknown suffix) or NULL. */
static const char *parse_scaled(uint64_t *out, const char *s,
                                const struct unit *units, size_t num_units,
                                int (*cmp)(const char *, const char *),
                                const char *bad_unit) {
  const char *p = s;
  uint64_t milli;
  const char *why = parse_decimal(&milli, &p);
  if (why) return why;
  for (size_t i = 0; i < num_units; i++) {
    if (cmp(p, units[i].suffix) != 0) continue;
    /* milli reaches 2^50 and a unit 2^22 (1h in ms) or 2^30 (1 GiB):
     * refuse what would overflow rather than wrap into range. */
    if (milli > UINT64_MAX / units[i].mul) return "is too large";
    *out = milli * units[i].mul / 1000;
    return NULL;
  }
  return bad_unit;
}

/* parse_duration_ms: "10s", "500ms", "5m", "1h", "1.5s", "30" (seconds). */
static const char *parse_duration_ms(uint64_t *out_ms, const char *s) {
  return parse_scaled(out_ms, s, duration_units,
                      sizeof(duration_units) / sizeof(duration_units[0]),
                      strcmp,
                      "is not a duration (use e.g. 500ms, 10s, 5m, 1h)");
}

/* parse_size: "65536", "64k", "64KiB", "1m", "1MiB" (k = 1024). */
static const char *parse_size(uint64_t *out, const char *s) {
  return parse_scaled(out, s, size_units,
                      sizeof(size_units) / sizeof(size_units[0]), strcasecmp,
                      "is not a size (use e.g. 65536, 64k, 64KiB, 1m)");
}

static const char *parse_u64(uint64_t *out, const char *s) {
  const char *p = s;
  uint64_t v = 0;
  if (*p == '-') return "must not be negative";
  if (*p == '+') p++;
  if (!isdigit((unsigned char)*p)) return "is not a number";
  for (; isdigit((unsigned char)*p); p++) {
    v = v * 10 + (uint64_t)(*p - '0');
    if (v > (1ull << 40)) return "is too large";
  }
  if (*p) return "is not a number";
  *out = v;
  return NULL;
}

static const char *parse_bool(int *out, const char *s) {
  static const char *yes[] = {"1", "true", "yes", "on"};
  static const char *no[] = {"0", "false", "no", "off"};
  for (size_t i = 0; i < 4; i++) {
    if (strcasecmp(s, yes[i]) == 0) return *out = 1, NULL;
    if (strcasecmp(s, no[i]) == 0) return *out = 0, NULL;
  }
  return "is not a boolean (use true or false)";
}

static const char *parse_tls(uint16_t *out, const char *s) {
  if (strcmp(s, "1.3") == 0 || strcasecmp(s, "tls1.3") == 0 ||
      strcasecmp(s, "tlsv1.3") == 0) {
    *out = 0x0304;
  } else if (strcmp(s, "1.2") == 0 || strcasecmp(s, "tls1.2") == 0 ||
             strcasecmp(s, "tlsv1.2") == 0) {
    *out = 0x0303;
  } else {
    return "unknown TLS version (use 1.2 or 1.3)";
  }
  return NULL;
}

/* normalize_sha256 writes 64 lowercase hex digits of |s| (colons dropped)
 * into |out| (65 bytes). */
static const char *normalize_sha256(char out[65], const char *s) {
  size_t n = 0;
  for (const char *p = s; *p; p++) {
    if (*p == ':') continue;
    if (!isxdigit((unsigned char)*p))
      return "is not a SHA-256 fingerprint (64 hex digits, colons allowed)";
    if (n == 64) return "is longer than a SHA-256 fingerprint (64 hex digits)";
    out[n++] = (char)tolower((unsigned char)*p);
  }
  if (n != 64) return "is shorter than a SHA-256 fingerprint (64 hex digits)";
  out[64] = '\0';
  return NULL;
}

/* ---- setting one option from a string ------------------------------------ */

/* value_problem checks a C_HOSTPORT or C_IPPORT value with internal/net's
 * parsers, the ones that later read it. Returns a problem or NULL. */
static const char *value_problem(const struct opt *o, const char *v) {
  char host[256];
  struct sockaddr_storage ss;
  const char *why = NULL;
  if (o->check == C_HOSTPORT)
    ed_net_split_hostport(host, sizeof(host), NULL, v, &why);
  else if (o->check == C_IPPORT)
    ed_net_parse_bind_addr(&ss, v, &why);
  else if (o->check == C_POLICY && strcmp(v, "warn") && strcmp(v, "refuse"))
    why = "is not a CRL policy (use warn or refuse)";
  else if (o->check == C_DRAIN && strcmp(v, "close") && strcmp(v, "finish"))
    why = "is not a drain mode (use close or finish)";
  return why;
}

/* add_list_item validates and appends one list element. */
static int add_list_item(struct loader *ld, const struct opt *o,
                         enum layer layer, const char *src, const char *v) {
  struct ed_strlist *l = field(ld->cfg, o);
  char hex[65];
  const char *why = value_problem(o, v);
  if (*v == '\0') return fail(ld, "%s: empty value", src);
  if (o->check == C_SHA256) why = normalize_sha256(hex, v);
  if (why) return fail(ld, "%s: \"%s\" %s", src, v, why);
  if (o->check == C_PATH) {
    char *abs = ed_path_resolve(layer == L_FILE ? ld->file_dir : NULL, v);
    strlist_add(l, abs);
    free(abs);
  } else {
    strlist_add(l, o->check == C_SHA256 ? hex : v);
  }
  return 0;
}

/* set_list applies one value of a list option from |layer|; |split| splits
 * it on commas. */
static int set_list(struct loader *ld, const struct opt *o, enum layer layer,
                    const char *src, const char *v, int split) {
  size_t idx = (size_t)(o - opts);
  if (ld->list_layer[idx] != layer) {
    strlist_clear(field(ld->cfg, o));
    ld->list_layer[idx] = layer;
  }
  if (!split) return add_list_item(ld, o, layer, src, v);
  char *copy = ed_strdup(v), *save = NULL;
  int err = 0, any = 0;
  for (char *t = strtok_r(copy, ",", &save); t && !err;
       t = strtok_r(NULL, ",", &save)) {
    while (*t == ' ') t++;
    size_t n = strlen(t);
    while (n && t[n - 1] == ' ') t[--n] = '\0';
    err = add_list_item(ld, o, layer, src, t);
    any = 1;
  }
  free(copy);
  if (!err && !any) err = fail(ld, "%s: empty value", src);
  return err;
}

static int set_number(struct loader *ld, const struct opt *o, const char *src,
                      const char *v) {
  uint64_t n = 0;
  const char *why;
  if (o->kind == K_SIZE) {
    why = parse_size(&n, v);
  } else if (o->kind == K_U32) {
    why = parse_u64(&n, v);
  } else {
    why = parse_duration_ms(&n, v);
    if (!why && o->kind == K_DUR_S) {
      if (n % 1000) why = "must be a whole number of seconds";
      n /= 1000;
    }
  }
  if (why) return fail(ld, "%s: \"%s\" %s", src, v, why);
  if (n < o->min || n > o->max) {
    const char *unit = o->kind == K_SIZE     ? " bytes"
                       : o->kind == K_DUR_MS ? " ms"
                       : o->kind == K_DUR_S  ? " s"
                                             : "";
    return fail(ld, "%s: \"%s\" out of range (%u-%u%s)", src, v, o->min, o->max,
                unit);
  }
  *(uint32_t *)field(ld->cfg, o) = (uint32_t)n;
  return 0;
}

/* set_opt applies |v| (never NULL) to |o| from |layer|; |src| names the
 * flag, variable or key for the error message. */
static int set_opt(struct loader *ld, const struct opt *o, enum layer layer,
                   const char *src, const char *v, int split) {
  void *f = field(ld->cfg, o);
  const char *why = NULL;
  int b;
  switch (o->kind) {
    case K_STR:
      if (*v == '\0') return fail(ld, "%s: empty value", src);
      if ((why = value_problem(o, v)) != NULL)
        return fail(ld, "%s: \"%s\" %s", src, v, why);
      free(*(char **)f);
      *(char **)f =
          o->check == C_PATH
              ? ed_path_resolve(layer == L_FILE ? ld->file_dir : NULL, v)
              : ed_strdup(v);
      return 0;
    case K_LIST:
      return set_list(ld, o, layer, src, v, split);
    case K_TLS:
      why = parse_tls((uint16_t *)f, v);
      break;
    case K_U32:
    case K_SIZE:
    case K_DUR_MS:
    case K_DUR_S:
      return set_number(ld, o, src, v);
    case K_BOOL:
    case K_NOBOOL:
      why = parse_bool(&b, v);
      if (!why) *(int *)f = o->kind == K_BOOL ? b : !b;
      break;
    case K_LOGLEVEL:
      if (ed_log_level_parse((enum ed_log_level *)f, v) != 0)
        why = "unknown log level (use debug, info, warn or error)";
      break;
    case K_LOGFMT:
      if (ed_log_format_parse((enum ed_log_format *)f, v) != 0)
        why = "unknown log format (use logfmt or json)";
      break;
  }
  if (why) return fail(ld, "%s: \"%s\" %s", src, v, why);
  return 0;
}

static const struct opt *find_opt(const char *name, size_t len) {
  for (size_t i = 0; i < NUM_OPTS; i++) {
    if (strlen(opts[i].name) == len && memcmp(opts[i].name, name, len) == 0)
      return &opts[i];
  }
  return NULL;
}

/* ---- names: flag -> ENV / json_key --------------------------------------- */

static void env_name(char *out, size_t out_len, const char *flag) {
  size_t n = (size_t)snprintf(out, out_len, "ECHOD_");
  for (const char *p = flag; *p && n + 1 < out_len; p++)
    out[n++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
  out[n] = '\0';
}

static void json_key(char *out, size_t out_len, const char *flag) {
  size_t n = 0;
  for (const char *p = flag; *p && n + 1 < out_len; p++)
    out[n++] = *p == '-' ? '_' : *p;
  out[n] = '\0';
}

/* ---- layers -------------------------------------------------------------- */

static void set_defaults(struct ed_config *cfg) {
  cfg->tls_min = 0x0304;
  cfg->crl_expired = ed_strdup("warn");
  cfg->max_chain_depth = 100;
  cfg->ticket_rotate_s = 3600;
  cfg->max_connections = 0; /* sized to the descriptor limit */
  cfg->max_pending_handshakes = 4096;
  cfg->handshake_share = 30;
  cfg->max_handshaking = 4096;
  cfg->max_buffer = 65536;
  cfg->handshake_timeout_ms = 10000;
  cfg->idle_timeout_ms = 300000;
  cfg->drain_timeout_ms = 30000;
  cfg->drain_sessions = ed_strdup("close");
  cfg->admin_timeout_ms = 10000;
  cfg->watch = 1;
  cfg->log_level = ED_LOG_INFO;
  cfg->reload_debounce_ms = 250;
  cfg->crl_warn_interval_ms = 3600000;
}

static int apply_env(struct loader *ld) {
  char name[64];
  for (size_t i = 0; i < NUM_OPTS; i++) {
    env_name(name, sizeof(name), opts[i].name);
    const char *v = getenv(name);
    if (!v || !*v) continue;
    int err = set_opt(ld, &opts[i], L_ENV, name, v, 1);
    if (err) return err;
  }
  return 0;
}

/* json_value_to_str renders a scalar JSON item as the string a flag would
 * carry. Returns 0, ED_E_TOOBIG for a string that does not fit |out|, or
 * ED_E_INVAL for objects/arrays. */
static int json_value_to_str(char *out, size_t out_len, const cJSON *item) {
  if (cJSON_IsString(item)) {
    if (strlen(item->valuestring) >= out_len) return ED_E_TOOBIG;
    snprintf(out, out_len, "%s", item->valuestring);
  } else if (cJSON_IsBool(item)) {
    snprintf(out, out_len, "%s", cJSON_IsTrue(item) ? "true" : "false");
  } else if (cJSON_IsNumber(item)) {
    double d = item->valuedouble;
    /* Range first: converting an out-of-range double is undefined. */
    if (d > -9e15 && d < 9e15 && d == (double)(long long)d) {
      snprintf(out, out_len, "%lld", (long long)d);
    } else {
      snprintf(out, out_len, "%.6f", d);
    }
  } else {
    return ED_E_INVAL;
  }
  return 0;
}

static int apply_json_item(struct loader *ld, const char *file,
                           const cJSON *item) {
  char flag[64], src[512], val[4096];
  size_t n = 0;
  for (const char *p = item->string; *p && n + 1 < sizeof(flag); p++)
    flag[n++] = *p == '_' ? '-' : *p;
  flag[n] = '\0';
  const struct opt *o = strchr(item->string, '-') ? NULL : find_opt(flag, n);
  if (!o)
    return fail(ld, "config file %s: unknown key \"%s\"", file, item->string);
  snprintf(src, sizeof(src), "config file %s: key \"%s\"", file, item->string);
  if (cJSON_IsNull(item)) return 0; /* null = not set here */
  if (cJSON_IsArray(item)) {
    if (o->kind != K_LIST) return fail(ld, "%s: expected a single value", src);
    const cJSON *el;
    strlist_clear(field(ld->cfg, o)); /* an empty array clears too */
    ld->list_layer[o - opts] = L_FILE;
    cJSON_ArrayForEach(el, item) {
      if (!cJSON_IsString(el))
        return fail(ld, "%s: array elements must be strings", src);
      int err = set_opt(ld, o, L_FILE, src, el->valuestring, 0);
      if (err) return err;
    }
    return 0;
  }
  int rc = json_value_to_str(val, sizeof(val), item);
  if (rc == ED_E_TOOBIG)
    return fail(ld, "%s: value longer than %zu bytes", src, sizeof(val) - 1);
  if (rc != 0) return fail(ld, "%s: expected a string, number or boolean", src);
  if ((o->kind == K_BOOL || o->kind == K_NOBOOL) && !cJSON_IsBool(item))
    return fail(ld, "%s: expected true or false", src);
  return set_opt(ld, o, L_FILE, src, val, o->split_flag);
}

/* file_dir returns the directory of the absolute path |path| (new). */
static char *file_dir(const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash) return NULL;
  return ed_strndup(path, slash == path ? 1 : (size_t)(slash - path));
}

static int apply_file(struct loader *ld, const char *path) {
  uint8_t *data = NULL;
  size_t len = 0;
  free(ld->file_dir);
  ld->file_dir = file_dir(path);
  int err = ed_read_file(&data, &len, path, MAX_CONFIG_FILE);
  if (err)
    return fail(ld, "config file %s: cannot read: %s", path, ed_strerror(err));
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts((const char *)data, len, &end, 0);
  if (!root) {
    size_t off = end ? (size_t)(end - (const char *)data) : 0, line = 1;
    for (size_t i = 0; i < off && i < len; i++) line += data[i] == '\n';
    free(data);
    return fail(ld, "config file %s: invalid JSON near line %zu", path, line);
  }
  char key[64];
  /* cJSON's strings end at a NUL: ["alice\u0000evil"] would read as
   * ["alice"], an allow-list wider than the one written. */
  int nul = ed_json_find_nul((const char *)data, len, key, sizeof(key));
  free(data);
  if (nul) {
    cJSON_Delete(root);
    return fail(ld,
                "config file %s: key \"%s\": a string holds a NUL "
                "(\\u0000), which no value may",
                path, key);
  }
  if (!cJSON_IsObject(root)) {
    cJSON_Delete(root);
    return fail(ld, "config file %s: expected a JSON object", path);
  }
  const cJSON *item;
  cJSON_ArrayForEach(item, root) {
    if ((err = apply_json_item(ld, path, item)) != 0) break;
  }
  cJSON_Delete(root);
  return err;
}

/* ---- flags --------------------------------------------------------------- */

/* split_flag parses argv[*i] into name and value. |*out_value| is NULL when
 * the flag has no "=value" part. Returns 0 or ED_E_USAGE. */
static int split_flag(struct loader *ld, const char *arg, const char **name,
                      size_t *name_len, const char **out_value) {
  if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
    if (strcmp(arg, "-h") == 0) return *name = "help", *name_len = 4, 0;
    return fail(ld, "unexpected argument \"%s\" (see --help)", arg);
  }
  *name = arg + 2;
  const char *eq = strchr(*name, '=');
  *name_len = eq ? (size_t)(eq - *name) : strlen(*name);
  *out_value = eq ? eq + 1 : NULL;
  return 0;
}

static int is_action_flag(const char *name, size_t len, const char *want) {
  return strlen(want) == len && memcmp(name, want, len) == 0;
}

/* scan_flags runs over argv once. With |apply| 0 it only validates names,
 * finds --config, --help and --version; with 1 it sets the options. */
static int scan_flags(struct loader *ld, int argc, char **argv, int apply) {
  for (int i = 1; i < argc; i++) {
    const char *name = NULL, *v = NULL;
    size_t len = 0;
    char src[80];
    int err = split_flag(ld, argv[i], &name, &len, &v);
    if (err) return err;
    snprintf(src, sizeof(src), "--%.*s", (int)len, name);
    const struct opt *o = find_opt(name, len);
    int boolean = o ? (o->kind == K_BOOL || o->kind == K_NOBOOL) : 1;
    if (!o && !is_action_flag(name, len, "help") &&
        !is_action_flag(name, len, "version") &&
        !is_action_flag(name, len, "print-config") &&
        !is_action_flag(name, len, "config"))
      return fail(ld, "unknown flag %s (see --help)", src);
    if (is_action_flag(name, len, "config")) boolean = 0;
    if (!v && !boolean) {
      if (i + 1 >= argc) return fail(ld, "%s needs a value", src);
      v = argv[++i];
    }
    if (!o) {
      if (v && is_action_flag(name, len, "config") && !apply) {
        free(ld->cfg->config_file);
        ld->cfg->config_file = ed_path_resolve(NULL, v);
      } else if (v && !is_action_flag(name, len, "config")) {
        return fail(ld, "%s takes no value", src);
      } else if (!apply && is_action_flag(name, len, "help")) {
        ld->cfg->action = ED_CONFIG_HELP;
      } else if (!apply && is_action_flag(name, len, "version") &&
                 ld->cfg->action != ED_CONFIG_HELP) {
        ld->cfg->action = ED_CONFIG_VERSION;
      } else if (!apply && is_action_flag(name, len, "print-config") &&
                 ld->cfg->action == ED_CONFIG_RUN) {
        ld->cfg->action = ED_CONFIG_PRINT;
      }
      continue;
    }
    if (apply &&
        (err = set_opt(ld, o, L_FLAG, src, v ? v : "true", o->split_flag)) != 0)
      return err;
  }
  return 0;
}

/* ---- finishing ----------------------------------------------------------- */

static int finish(struct loader *ld) {
  struct ed_config *cfg = ld->cfg;
  char buf[4096];
  if (!cfg->state_dir) {
    if (ed_state_dir(buf, sizeof(buf)) != 0)
      return fail(ld, "state directory path too long");
    cfg->state_dir = ed_strdup(buf);
  }
  if (cfg->listen.num == 0) strlist_add(&cfg->listen, "127.0.0.1:7443");
  if (cfg->no_admin) {
    free(cfg->admin_socket);
    cfg->admin_socket = NULL;
  } else if (!cfg->admin_socket) {
    int n = snprintf(buf, sizeof(buf), "%s/admin.sock", cfg->state_dir);
    if (n < 0 || (size_t)n >= sizeof(buf))
      return fail(ld, "state directory path too long");
    cfg->admin_socket = ed_strdup(buf);
  }
  if (cfg->no_metrics) {
    free(cfg->metrics_listen);
    cfg->metrics_listen = NULL;
  } else if (!cfg->metrics_listen) {
    cfg->metrics_listen = ed_strdup("127.0.0.1:9870");
  }
  if (cfg->group && !cfg->user)
    return fail(ld, "--group %s needs --user", cfg->group);
  int have = !!cfg->cert + !!cfg->key + !!cfg->ca;
  if (have != 0 && have != 3) {
    return fail(
        ld, "--cert, --key and --ca must be given together (missing %s%s%s)",
        cfg->cert ? "" : "--cert ", cfg->key ? "" : "--key ",
        cfg->ca ? "" : "--ca");
  }
  return 0;
}

int ed_config_load(struct ed_config **out, int argc, char **argv, char *err,
                   size_t err_len) {
  struct loader ld = {.cfg = ed_calloc(1, sizeof(struct ed_config)),
                      .err = err,
                      .err_len = err_len};
  int rc;
  *out = NULL;
  if (err && err_len) err[0] = '\0';
  set_defaults(ld.cfg);
  if ((rc = scan_flags(&ld, argc, argv, 0)) != 0) goto fail;
  if (ld.cfg->action == ED_CONFIG_HELP || ld.cfg->action == ED_CONFIG_VERSION)
    goto done;
  if (!ld.cfg->config_file) {
    const char *v = getenv("ECHOD_CONFIG");
    if (v && *v) ld.cfg->config_file = ed_path_resolve(NULL, v);
  }
  if (ld.cfg->config_file && (rc = apply_file(&ld, ld.cfg->config_file)) != 0)
    goto fail;
  if ((rc = apply_env(&ld)) != 0) goto fail;
  if ((rc = scan_flags(&ld, argc, argv, 1)) != 0) goto fail;
  if ((rc = finish(&ld)) != 0) goto fail;
done:
  free(ld.file_dir);
  *out = ld.cfg;
  return 0;
fail:
  free(ld.file_dir);
  ed_config_free(ld.cfg);
  return rc;
}

void ed_config_free(struct ed_config *cfg) {
  if (!cfg) return;
  for (size_t i = 0; i < NUM_OPTS; i++) {
    if (opts[i].kind == K_STR) free(*(char **)field(cfg, &opts[i]));
    if (opts[i].kind == K_LIST) strlist_clear(field(cfg, &opts[i]));
  }
  free(cfg->config_file);
  free(cfg);
}

/* ---- output -------------------------------------------------------------- */

/* duration_str writes |ms| in the largest unit that holds it exactly
 * ("1h", "5m", "30s", "250ms", "0s"): what --help shows and what
 * parse_duration_ms reads back, for every duration option alike. */
static void duration_str(char *out, size_t out_len, uint64_t ms) {
  static const struct unit units[] = {
      {"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1}};
  for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
    if (ms == 0 || ms % units[i].mul == 0) {
      snprintf(out, out_len, "%llu%s", (unsigned long long)(ms / units[i].mul),
               ms == 0 ? "s" : units[i].suffix);
      return;
    }
  }
}

static cJSON *opt_to_json(const struct ed_config *cfg, const struct opt *o) {
  const void *f = (const char *)cfg + o->off;
  char buf[32];
  switch (o->kind) {
    case K_STR:
      return *(char *const *)f ? cJSON_CreateString(*(char *const *)f)
                               : cJSON_CreateNull();
    case K_LIST: {
      const struct ed_strlist *l = f;
      cJSON *arr = cJSON_CreateArray();
      for (size_t i = 0; i < l->num; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateString(l->items[i]));
      return arr;
    }
    case K_TLS:
      return cJSON_CreateString(*(const uint16_t *)f == 0x0303 ? "1.2" : "1.3");
    case K_U32:
    case K_SIZE:
      return cJSON_CreateNumber(*(const uint32_t *)f);
    case K_DUR_MS:
    case K_DUR_S:
      duration_str(
          buf, sizeof(buf),
          (uint64_t) * (const uint32_t *)f * (o->kind == K_DUR_S ? 1000 : 1));
      return cJSON_CreateString(buf);
    case K_BOOL:
      return cJSON_CreateBool(*(const int *)f);
    case K_NOBOOL:
      return cJSON_CreateBool(!*(const int *)f);
    case K_LOGLEVEL:
      return cJSON_CreateString(
          ed_log_level_name(*(const enum ed_log_level *)f));
    case K_LOGFMT:
      return cJSON_CreateString(
          ed_log_format_name(*(const enum ed_log_format *)f));
  }
  return cJSON_CreateNull();
}

char *ed_config_to_json(const struct ed_config *cfg) {
  cJSON *root = cJSON_CreateObject();
  char key[64];
  for (size_t i = 0; i < NUM_OPTS; i++) {
    json_key(key, sizeof(key), opts[i].name);
    cJSON_AddItemToObject(root, key, opt_to_json(cfg, &opts[i]));
  }
  char *s = cJSON_Print(root);
  cJSON_Delete(root);
  if (!s) return NULL;
  char *copy = ed_strdup(s); /* callers free() with libc, not cJSON_free */
  cJSON_free(s);
  return copy;
}

const char *ed_config_usage(void) {
  return "usage: echod [flags]\n"
         "\n"
         "A mutual-TLS echo server. With no flags it creates a dev CA, a "
         "server\n"
         "certificate and a client certificate (dev-client) in the state\n"
         "directory and serves on 127.0.0.1:7443.\n"
         "\n"
         "Every flag --some-name can also be set with the environment "
         "variable\n"
         "ECHOD_SOME_NAME or the key \"some_name\" in the --config JSON file.\n"
         "Precedence: flag > environment > file > default. Relative paths\n"
         "are relative to the directory the command runs in (the one `bazel\n"
         "run` was typed in), and inside FILE to FILE's directory.\n"
         "\n"
         "  --config FILE              JSON configuration file\n"
         "  --state-dir DIR            state directory (default: "
         "$ECHOD_STATE_DIR,\n"
         "                             $XDG_STATE_HOME/echod, "
         "~/.local/state/echod)\n"
         "  --listen HOST:PORT         address to serve on; repeat or "
         "comma-separate\n"
         "                             ([v6]:port for IPv6; default "
         "127.0.0.1:7443)\n"
         "  --cert FILE --key FILE --ca FILE\n"
         "                             server certificate, its key and the "
         "client CA\n"
         "                             (together; default: the dev PKI)\n"
         "  --crl FILE                 certificate revocation lists (PEM; "
         "repeatable,\n"
         "                             several per file): one per CA of --ca\n"
         "  --crl-expired warn|refuse  a CRL past its next update: log a "
         "warning\n"
         "                             (default) or refuse clients that need "
         "it\n"
         "  --max-chain-depth N        intermediate CAs allowed between a "
         "client\n"
         "                             and its root (default 100; 0: "
         "directly\n"
         "                             under a root)\n"
         "  --allow-group-readable-key accept a root-owned key file that its\n"
         "                             group may read (Kubernetes Secrets)\n"
         "  --tls-min 1.2|1.3          lowest TLS version (default 1.3)\n"
         "  --proxy-protocol           every connection starts with a PROXY\n"
         "                             protocol v2 header (behind a balancer)\n"
         "  --allow-cn NAME            accept only these client CNs "
         "(repeatable)\n"
         "  --allow-san [TYPE:]VALUE   ... or these SANs, TYPE DNS, URI, "
         "email, IP\n"
         "                             (repeatable; exact, see README)\n"
         "  --allow-sha256 HEX         ... or these certificate SHA-256 pins\n"
         "  --allow-file FILE          ... or the entries of FILE (allow-cn "
         "NAME, one\n"
         "                             a line; reloaded with the certs)\n"
         "  --ticket-rotate DURATION   session ticket key rotation (default "
         "1h)\n"
         "  --ticket-keys FILE         session ticket keys shared by "
         "replicas (from\n"
         "                             echo-pki ticket-keys; reloaded with "
         "the certs)\n"
         "  --workers N                I/O loops (default 0 = number of CPUs)\n"
         "  --handshake-threads N      handshake pool threads (0 = CPUs)\n"
         "  --handshake-share PERCENT  while handshakes wait, each I/O loop "
         "leaves\n"
         "                             them at least this share of its core "
         "(0-90,\n"
         "                             default 30): a storm resolves under "
         "load,\n"
         "                             echo slows by up to as much meanwhile\n"
         "  --max-connections N        default 0: as many as RLIMIT_NOFILE "
         "allows\n"
         "                             (a larger N is refused at start)\n"
         "  --max-pending-handshakes N default 4096\n"
         "  --max-handshaking N        connections still in their handshake;"
         "\n"
         "                             more are refused at accept (4096)\n"
         "  --max-buffer SIZE          unsent bytes per connection (default "
         "64KiB)\n"
         "  --handshake-timeout DUR    default 10s (durations: 500ms, 10s, 5m, "
         "1h;\n"
         "                             a plain number is seconds)\n"
         "  --idle-timeout DUR         default 5m (0 = never)\n"
         "  --drain-timeout DUR        wait for sessions on shutdown (default "
         "30s)\n"
         "  --drain-delay DUR          keep accepting this long after "
         "/readyz turns\n"
         "                             503 when a drain starts (default 0)\n"
         "  --drain-sessions MODE      close: close_notify to every session "
         "at once\n"
         "                             (default); finish: let them end, "
         "close_notify\n"
         "                             to those left at the drain timeout\n"
         "  --admin-socket PATH        default <state-dir>/admin.sock\n"
         "  --no-admin                 no admin socket\n"
         "  --admin-timeout DUR        close an admin connection with no "
         "request (10s)\n"
         "  --metrics-listen HOST:PORT Prometheus endpoint (default "
         "127.0.0.1:9870)\n"
         "  --no-metrics               no metrics endpoint\n"
         "  --no-watch                 do not reload when certificate files "
         "change\n"
         "  --keep-sessions-on-reload  do not re-check open sessions after a "
         "reload\n"
         "                             (default: close those whose "
         "certificate no\n"
         "                             longer passes: revoked, off the "
         "allow-list, ...)\n"
         "  --crl-warn-interval DUR    log a CRL past its next update again "
         "this often\n"
         "                             (default 1h; also at each reload)\n"
         "  --log-level LEVEL          debug, info, warn or error (default "
         "info)\n"
         "  --reload-debounce DUR      changes to the watched files within "
         "DUR\n"
         "                             are one reload (default 250ms)\n"
         "  --test-handshake-delay DUR tests only: each handshake step waits "
         "DUR\n"
         "                             on its pool thread first (default 0)\n"
         "  --test-quiesce-delay DUR   tests only: a loop closing its "
         "listeners\n"
         "                             waits DUR midway (default 0)\n"
         "  --log-format FORMAT        logfmt (default) or json: one JSON "
         "object\n"
         "                             per line, same fields\n"
         "  --user NAME                run as this user once the listen "
         "addresses\n"
         "                             are bound (no supplementary groups)\n"
         "  --group NAME               with --user (default: the user's "
         "group)\n"
         "  --no-sandbox               no Landlock and no seccomp filter "
         "(for\n"
         "                             sanitizer builds)\n"
         "  --print-config             print the effective configuration as "
         "JSON\n"
         "  --help                     this text\n"
         "  --version                  print the version\n";
}

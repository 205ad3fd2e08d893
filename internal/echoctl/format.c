/* internal/echoctl/format.c — human output for each command's reply. Only
 * reads the reply; fields that are missing print as "-". */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/base/base.h"
#include "internal/echoctl/echoctl.h"

char *ed_echoctl_human_duration(char *out, size_t out_len, double s) {
  const char *sign = s < 0 ? "-" : "";
  double a = fabs(s);
  if (!(a < 1e15)) a = 1e15; /* NaN or absurd: keep the cast defined */
  unsigned long long t = (unsigned long long)a;
  if (a < 1 && a > 0)
    snprintf(out, out_len, "%s%.0fms", sign, a * 1000);
  else if (t < 60)
    snprintf(out, out_len, "%s%llus", sign, t);
  else if (t < 3600)
    snprintf(out, out_len, "%s%llum %llus", sign, t / 60, t % 60);
  else if (t < 86400)
    snprintf(out, out_len, "%s%lluh %llum", sign, t / 3600, t % 3600 / 60);
  else
    snprintf(out, out_len, "%s%llud %lluh", sign, t / 86400, t % 86400 / 3600);
  return out;
}

char *ed_echoctl_human_bytes(char *out, size_t out_len, double b) {
  static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  if (!(b >= 1024)) { /* also NaN */
    snprintf(out, out_len, "%.0f B", b);
    return out;
  }
  int u = -1;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    u++;
  }
  snprintf(out, out_len, "%.1f %s", b, units[u]);
  return out;
}

/* ---- escaping: nothing from the server reaches the terminal raw --------- */

/* utf8_len returns the length of the well-formed UTF-8 sequence at |p|
 * (at most |n| bytes) and its code point, or 0 if it is not one
 * (overlong, surrogate, past U+10FFFF, cut short). */
static size_t utf8_len(const unsigned char *p, size_t n, uint32_t *out_cp) {
  size_t len = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc0 ? 2 : 0;
  if (len == 0 || p[0] > 0xf4 || len > n) return 0;
  uint32_t cp = p[0] & (0x7f >> len);
  for (size_t i = 1; i < len; i++) {
    if ((p[i] & 0xc0) != 0x80) return 0;
    cp = cp << 6 | (p[i] & 0x3f);
  }
  static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  *out_cp = cp;
  return len;
}

/* What a terminal would act on, or show as nothing, rather than show: a
 * name holding one looks like another name, or reorders the line. One
 * table, sorted: C1 controls; every format character (Unicode category
 * Cf: soft hyphen, zero-width space and joiners, LRM/RLM, bidirectional
 * embeddings, overrides and isolates, word joiner and invisible
 * operators, BOM, interlinear annotations, tags); the line and paragraph
 * separators; the other default-ignorable characters (combining grapheme
 * joiner, Hangul fillers, Khmer inherent vowels, Mongolian and other
 * variation selectors). Homoglyphs (Cyrillic a, fullwidth letters) are
 * visible letters and stay: README, echoctl section. */
static const struct {
  uint32_t lo, hi;
} hidden[] = {
    {0x0080, 0x009f},   {0x00ad, 0x00ad},   {0x034f, 0x034f},
    {0x0600, 0x0605},   {0x061c, 0x061c},   {0x06dd, 0x06dd},
    {0x070f, 0x070f},   {0x0890, 0x0891},   {0x08e2, 0x08e2},
    {0x115f, 0x1160},   {0x17b4, 0x17b5},   {0x180b, 0x180f},
    {0x200b, 0x200f},   {0x2028, 0x202e},   {0x2060, 0x206f},
    {0x3164, 0x3164},   {0xfe00, 0xfe0f},   {0xfeff, 0xfeff},
    {0xffa0, 0xffa0},   {0xfff9, 0xfffb},   {0x110bd, 0x110bd},
    {0x110cd, 0x110cd}, {0x13430, 0x1343f}, {0x1bca0, 0x1bca3},
    {0x1d173, 0x1d17a}, {0xe0000, 0xe0fff},
};

static int is_hidden(uint32_t cp) {
  size_t lo = 0, hi = sizeof(hidden) / sizeof(hidden[0]);
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (cp < hidden[mid].lo)
      hi = mid;
    else if (cp > hidden[mid].hi)
      lo = mid + 1;
    else
      return 1;
  }
  return 0;
}

char *ed_echoctl_escape(const char *s, int keep_newlines) {
  const unsigned char *p = (const unsigned char *)(s ? s : "");
  size_t n = strlen((const char *)p), o = 0;
  char *out = ed_malloc(4 * n + 1); /* \xNN: four bytes per byte at most */
  for (size_t i = 0; i < n;) {
    uint32_t cp = 0;
    size_t len = p[i] < 0x80 ? 1 : utf8_len(p + i, n - i, &cp);
    int plain = p[i] < 0x80 ? (p[i] >= 0x20 && p[i] != 0x7f && p[i] != '\\') ||
                                  (keep_newlines && p[i] == '\n')
                            : len > 0 && !is_hidden(cp);
    if (len == 0) len = 1; /* not UTF-8: escape this byte alone */
    if (p[i] == '\\') {
      out[o++] = '\\';
      out[o++] = '\\';
    } else if (plain) {
      memcpy(out + o, p + i, len);
      o += len;
    } else {
      for (size_t k = 0; k < len; k++)
        o += (size_t)snprintf(out + o, 5, "\\x%02x", p[i + k]);
    }
    i += len;
  }
  out[o] = '\0';
  return out;
}

/* escaped_copy returns a deep copy of |in| in which every string value and
 * every member name went through ed_echoctl_escape: the one place human
 * output is made safe, whatever a command prints of it (CNs, SANs in
 * whatever shape, errors, peers). */
static cJSON *escaped_copy(const cJSON *in) {
  if (cJSON_IsString(in)) {
    char *e = ed_echoctl_escape(in->valuestring, 0);
    cJSON *c = cJSON_CreateString(e);
    free(e);
    return c;
  }
  if (!cJSON_IsArray(in) && !cJSON_IsObject(in)) return cJSON_Duplicate(in, 0);
  cJSON *c = cJSON_IsArray(in) ? cJSON_CreateArray() : cJSON_CreateObject();
  const cJSON *it;
  cJSON_ArrayForEach(it, in) {
    cJSON *v = escaped_copy(it);
    if (cJSON_IsArray(in)) {
      cJSON_AddItemToArray(c, v);
    } else {
      char *k = ed_echoctl_escape(it->string, 0);
      cJSON_AddItemToObject(c, k, v);
      free(k);
    }
  }
  return c;
}

/* ---- reading the reply --------------------------------------------------- */

static const cJSON *get(const cJSON *o, const char *path) {
  char key[64];
  while (o && *path) {
    const char *dot = strchr(path, '.');
    size_t n = dot ? (size_t)(dot - path) : strlen(path);
    if (n >= sizeof(key)) return NULL;
    memcpy(key, path, n);
    key[n] = '\0';
    o = cJSON_GetObjectItemCaseSensitive(o, key);
    path += n + (dot ? 1 : 0);
  }
  return o;
}

static const char *str(const cJSON *o, const char *path) {
  const cJSON *v = get(o, path);
  return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : "-";
}

static double num(const cJSON *o, const char *path) {
  const cJSON *v = get(o, path);
  return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static int flag(const cJSON *o, const char *path) {
  return cJSON_IsTrue(get(o, path));
}

/* "a, b" from a JSON array of strings. */
static void join(char *out, size_t out_len, const cJSON *arr) {
  size_t n = 0;
  out[0] = '\0';
  const cJSON *it;
  cJSON_ArrayForEach(it, arr) {
    if (!cJSON_IsString(it)) continue;
    int w =
        snprintf(out + n, out_len - n, "%s%s", n ? ", " : "", it->valuestring);
    if (w < 0 || (size_t)w >= out_len - n) break;
    n += (size_t)w;
  }
  if (!out[0]) snprintf(out, out_len, "-");
}

static void row(FILE *f, const char *label, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void row(FILE *f, const char *label, const char *fmt, ...) {
  va_list ap;
  fprintf(f, "%-14s", label);
  va_start(ap, fmt);
  vfprintf(f, fmt, ap);
  va_end(ap);
  fputc('\n', f);
}

/* print_sans writes a SAN array ([{"type":"DNS","value":"a"}, ...]) one
 * "TYPE:value" per row, the first beside |label|, so a value holding a
 * comma or "URI:..." cannot pass for a second SAN. "-" for none. */
static void print_sans(FILE *f, const char *label, const cJSON *arr) {
  const cJSON *it;
  int n = 0;
  cJSON_ArrayForEach(it, arr) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(it, "type");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(it, "value");
    if (!cJSON_IsString(t) || !cJSON_IsString(v)) continue;
    row(f, n++ ? "" : label, "%s:%s", t->valuestring, v->valuestring);
  }
  if (!n) row(f, label, "-");
}

/* ---- status -------------------------------------------------------------- */

/* "cert_revoked 2, unknown_ca 1" for the non-zero members of |o|. */
static void nonzero(char *out, size_t out_len, const cJSON *o) {
  size_t n = 0;
  out[0] = '\0';
  const cJSON *it;
  cJSON_ArrayForEach(it, o) {
    if (!cJSON_IsNumber(it) || it->valuedouble == 0) continue;
    int w = snprintf(out + n, out_len - n, "%s%s %.0f", n ? ", " : "",
                     it->string, it->valuedouble);
    if (w < 0 || (size_t)w >= out_len - n) break;
    n += (size_t)w;
  }
}

static void print_cert_line(FILE *f, const char *label, const cJSON *c) {
  char d[32];
  if (!cJSON_IsObject(c)) {
    row(f, label, "-");
    return;
  }
  double left = num(c, "seconds_to_expiry");
  row(f, label, "%s, serial %s, %s %s (%s)", str(c, "subject"),
      str(c, "serial"), left < 0 ? "EXPIRED" : "expires in",
      ed_echoctl_human_duration(d, sizeof(d), left), str(c, "not_after"));
}

static void print_crl_line(FILE *f, const cJSON *crl) {
  char d[32];
  if (!cJSON_IsObject(crl)) {
    row(f, "CRL", "none");
    return;
  }
  row(f, "CRL", "%.0f revoked, next update in %s (%s)", num(crl, "entries"),
      ed_echoctl_human_duration(d, sizeof(d),
                                num(crl, "seconds_to_next_update")),
      str(crl, "next_update"));
}

static void print_reload_line(FILE *f, const cJSON *lr) {
  if (flag(lr, "ok"))
    row(f, "last reload", "ok at %s (%s); %.0f ok, %.0f failed",
        str(lr, "time"), str(lr, "trigger"), num(lr, "count_ok"),
        num(lr, "count_failed"));
  else
    row(f, "last reload", "FAILED at %s (%s): %s; %.0f ok, %.0f failed",
        str(lr, "time"), str(lr, "trigger"), str(lr, "error"),
        num(lr, "count_ok"), num(lr, "count_failed"));
}

/* "file /etc/echod/ticket-keys (3 keys), issuing 3f2a9c1d5e6b7a80" or
 * "in memory, rotating every 1h, issuing ...": never a key. */
static void print_ticket_line(FILE *f, const cJSON *t) {
  char d[32];
  if (!cJSON_IsObject(t)) return;
  double n = num(t, "keys");
  if (strcmp(str(t, "source"), "file") == 0)
    row(f, "ticket keys", "file %s (%.0f key%s), issuing %s", str(t, "file"), n,
        n == 1 ? "" : "s", str(t, "issuing_id"));
  else
    row(f, "ticket keys", "in memory, rotating every %s, issuing %s",
        ed_echoctl_human_duration(d, sizeof(d), num(t, "rotate_seconds")),
        str(t, "issuing_id"));
}

static void print_status(FILE *f, const cJSON *r) {
  char a[32], b[32], why[512], listen[512];
  fprintf(f, "echod %s — %s, up %s (pid %.0f)\n", str(r, "version"),
          str(r, "state"),
          ed_echoctl_human_duration(a, sizeof(a), num(r, "uptime_seconds")),
          num(r, "pid"));
  join(listen, sizeof(listen), get(r, "listen"));
  row(f, "listening", "%s", listen);
  row(f, "threads", "%.0f I/O loops, %.0f handshake threads (queue %.0f)",
      num(r, "workers"), num(r, "handshake_pool.threads"),
      num(r, "handshake_pool.queue_depth"));
  row(f, "sessions", "%.0f established, %.0f handshaking",
      num(r, "connections.established"), num(r, "connections.handshaking"));
  row(f, "connections", "%.0f accepted, %.0f closed",
      num(r, "connections.accepted"), num(r, "connections.closed"));
  nonzero(why, sizeof(why), get(r, "connections.rejected"));
  if (why[0]) row(f, "rejected", "%s", why);
  nonzero(why, sizeof(why), get(r, "handshakes.refusals"));
  row(f, "handshakes", "%.0f full, %.0f resumed, %.0f refused%s%s%s",
      num(r, "handshakes.full"), num(r, "handshakes.resumed"),
      num(r, "handshakes.failed"), why[0] ? " (" : "", why, why[0] ? ")" : "");
  row(f, "traffic", "%s in, %s out",
      ed_echoctl_human_bytes(a, sizeof(a), num(r, "bytes.in")),
      ed_echoctl_human_bytes(b, sizeof(b), num(r, "bytes.out")));
  print_reload_line(f, get(r, "last_reload"));
  print_cert_line(f, "server cert", get(r, "certs.server"));
  print_cert_line(f, "CA", get(r, "certs.ca"));
  print_crl_line(f, get(r, "certs.crl"));
  print_ticket_line(f, get(r, "ticket_keys"));
  if (num(r, "admin.refused_peers") > 0)
    row(f, "admin", "%.0f connections refused (wrong uid)",
        num(r, "admin.refused_peers"));
}

/* ---- sessions ------------------------------------------------------------ */

#define NCOLS 10

static void session_cells(char cells[NCOLS][96], const cJSON *s) {
  char tmp[32];
  snprintf(cells[0], 96, "%.0f", num(s, "id"));
  snprintf(cells[1], 96, "%s", str(s, "state"));
  /* Behind a balancer (PROXY protocol): the client, then the balancer. */
  if (get(s, "via"))
    snprintf(cells[2], 96, "%s via %s", str(s, "peer"), str(s, "via"));
  else
    snprintf(cells[2], 96, "%s", str(s, "peer"));
  snprintf(cells[3], 96, "%s", str(s, "cn"));
  snprintf(cells[4], 96, "%s", str(s, "version"));
  snprintf(cells[5], 96, "%s", str(s, "cipher"));
  snprintf(cells[6], 96, "%s", flag(s, "resumed") ? "yes" : "no");
  snprintf(cells[7], 96, "%s",
           ed_echoctl_human_duration(tmp, sizeof(tmp), num(s, "age_seconds")));
  snprintf(cells[8], 96, "%s",
           ed_echoctl_human_bytes(tmp, sizeof(tmp), num(s, "bytes_in")));
  snprintf(cells[9], 96, "%s",
           ed_echoctl_human_bytes(tmp, sizeof(tmp), num(s, "bytes_out")));
}

static void print_sessions(FILE *f, const cJSON *r) {
  static const char *const head[NCOLS] = {"ID",  "STATE",  "PEER",    "CN",
                                          "TLS", "CIPHER", "RESUMED", "AGE",
                                          "IN",  "OUT"};
  const cJSON *arr = get(r, "sessions");
  int n = cJSON_GetArraySize(arr);
  if (n == 0) {
    fprintf(f, "no sessions\n");
    return;
  }
  size_t width[NCOLS];
  for (int c = 0; c < NCOLS; c++) width[c] = strlen(head[c]);
  char(*cells)[NCOLS][96] = calloc((size_t)n, sizeof(*cells));
  if (!cells) return;
  for (int i = 0; i < n; i++) {
    session_cells(cells[i], cJSON_GetArrayItem(arr, i));
    for (int c = 0; c < NCOLS; c++)
      if (strlen(cells[i][c]) > width[c]) width[c] = strlen(cells[i][c]);
  }
  for (int c = 0; c < NCOLS; c++)
    fprintf(f, "%-*s%s", (int)width[c], head[c], c + 1 < NCOLS ? "  " : "\n");
  for (int i = 0; i < n; i++)
    for (int c = 0; c < NCOLS; c++)
      fprintf(f, "%-*s%s", (int)width[c], cells[i][c],
              c + 1 < NCOLS ? "  " : "\n");
  free(cells);
  if (flag(r, "truncated"))
    fprintf(f, "(more sessions not shown; raise --limit)\n");
}

static void print_session(FILE *f, const cJSON *r) {
  const cJSON *s = get(r, "session");
  char a[32], b[32];
  row(f, "session", "%.0f (%s, worker %.0f)", num(s, "id"), str(s, "state"),
      num(s, "worker"));
  row(f, "peer", "%s", str(s, "peer"));
  if (get(s, "via")) row(f, "via", "%s (PROXY protocol)", str(s, "via"));
  row(f, "client CN", "%s", str(s, "cn"));
  print_sans(f, "SANs", get(s, "sans"));
  row(f, "serial", "%s", str(s, "serial"));
  row(f, "TLS", "%s %s%s", str(s, "version"), str(s, "cipher"),
      flag(s, "resumed") ? " (resumed)" : "");
  row(f, "started", "%s (%s ago)", str(s, "start_time"),
      ed_echoctl_human_duration(a, sizeof(a), num(s, "age_seconds")));
  row(f, "traffic", "%s in, %s out",
      ed_echoctl_human_bytes(a, sizeof(a), num(s, "bytes_in")),
      ed_echoctl_human_bytes(b, sizeof(b), num(s, "bytes_out")));
}

/* ---- certs and the small ones -------------------------------------------- */

static void print_cert_block(FILE *f, const char *title, const cJSON *c) {
  char d[32];
  double left = num(c, "seconds_to_expiry");
  fprintf(f, "%s\n", title);
  row(f, "  subject", "%s", str(c, "subject"));
  row(f, "  issuer", "%s", str(c, "issuer"));
  row(f, "  serial", "%s", str(c, "serial"));
  print_sans(f, "  SANs", get(c, "sans"));
  row(f, "  valid", "%s .. %s", str(c, "not_before"), str(c, "not_after"));
  row(f, "  expires", "%s%s", left < 0 ? "EXPIRED " : "in ",
      ed_echoctl_human_duration(d, sizeof(d), left));
  row(f, "  sha256", "%s", str(c, "sha256"));
}

static void print_certs(FILE *f, const cJSON *r) {
  char d[32];
  print_cert_block(f, "server certificate", get(r, "server"));
  print_cert_block(f, "CA", get(r, "ca"));
  const cJSON *crl = get(r, "crl");
  fprintf(f, "CRL\n");
  if (cJSON_IsObject(crl)) {
    row(f, "  revoked", "%.0f", num(crl, "entries"));
    row(f, "  updated", "%s", str(crl, "last_update"));
    row(f, "  next update", "%s (in %s)", str(crl, "next_update"),
        ed_echoctl_human_duration(d, sizeof(d),
                                  num(crl, "seconds_to_next_update")));
  } else {
    row(f, "  ", "none configured");
  }
  row(f, "loaded", "%s (snapshot %.0f)", str(r, "loaded"),
      num(r, "snapshot_id"));
  row(f, "files", "cert %s, key %s, ca %s, crl %s", str(r, "files.cert"),
      str(r, "files.key"), str(r, "files.ca"), str(r, "files.crl"));
  if (cJSON_IsString(get(r, "files.allow_file")))
    row(f, "allow file", "%s", str(r, "files.allow_file"));
}

/* print_recheck: what the re-check of open sessions after the reload did
 * (absent from a --check reply, and from older servers). */
static void print_recheck(FILE *f, const cJSON *r) {
  const char *st = str(r, "recheck");
  double n = num(r, "sessions_checked"), closed = num(r, "sessions_closed");
  if (!strcmp(st, "-")) return;
  if (!strcmp(st, "off")) {
    fprintf(f,
            "open sessions kept without a re-check "
            "(--keep-sessions-on-reload)\n");
  } else {
    fprintf(f, "open sessions: %.0f re-checked, %.0f closed%s\n", n, closed,
            !strcmp(st, "timeout") ? " so far (the re-check is still running)"
                                   : "");
  }
}

static void print_reload(FILE *f, const cJSON *r) {
  char d[32];
  const cJSON *s = get(r, "server");
  fprintf(f, "%s: serving %s, serial %s, expires in %s\n",
          flag(r, "published") ? "reloaded" : "check passed (nothing changed)",
          str(s, "subject"), str(s, "serial"),
          ed_echoctl_human_duration(d, sizeof(d), num(s, "seconds_to_expiry")));
  print_recheck(f, r);
}

static void print_escaped(FILE *f, const char *cmd, const cJSON *r) {
  char d[32];
  if (strcmp(cmd, "status") == 0) {
    print_status(f, r);
  } else if (strcmp(cmd, "sessions") == 0) {
    print_sessions(f, r);
  } else if (strcmp(cmd, "session") == 0) {
    print_session(f, r);
  } else if (strcmp(cmd, "certs") == 0) {
    print_certs(f, r);
  } else if (strcmp(cmd, "reload") == 0) {
    print_reload(f, r);
  } else if (strcmp(cmd, "kill") == 0) {
    double n = num(r, "killed");
    fprintf(f, "killed %.0f session%s\n", n, n == 1 ? "" : "s");
  } else if (strcmp(cmd, "drain") == 0) {
    fprintf(f, "draining: %.0f sessions open, closing within %s\n",
            num(r, "sessions"),
            ed_echoctl_human_duration(d, sizeof(d), num(r, "timeout_seconds")));
  } else if (strcmp(cmd, "upgrade") == 0) {
    fprintf(f, "upgraded: pid %.0f serves now; pid %.0f drains its sessions\n",
            num(r, "new_pid"), num(r, "old_pid"));
  } else if (strcmp(cmd, "log-level") == 0) {
    if (get(r, "previous"))
      fprintf(f, "log level: %s (was %s)\n", str(r, "level"),
              str(r, "previous"));
    else
      fprintf(f, "log level: %s\n", str(r, "level"));
  } else if (strcmp(cmd, "version") == 0) {
    fprintf(f,
            "echod %s (BoringSSL %s, libuv %s, cJSON %s; admin protocol "
            "%.0f)\n",
            str(r, "version"), str(r, "boringssl"), str(r, "libuv"),
            str(r, "cjson"), num(r, "protocol"));
  }
}

void ed_echoctl_print(FILE *f, const char *cmd, const cJSON *raw) {
  if (strcmp(cmd, "metrics") == 0) {
    const cJSON *t = get(raw, "text");
    char *text = ed_echoctl_escape(cJSON_IsString(t) ? t->valuestring : "", 1);
    fputs(text, f);
    free(text);
    return;
  }
  cJSON *safe = escaped_copy(raw);
  print_escaped(f, cmd, safe);
  cJSON_Delete(safe);
}

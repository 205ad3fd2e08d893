/* internal/bench — echo-bench's command line. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/base/base.h"
#include "internal/bench/bench.h"
#include "internal/bench/shape.h"

static const char *const scenario_names[] = {
    "handshake", "echo", "bulk", "idle", "flood", "scale", "partial"};

#define HELLO_LEN ED_BENCH_HELLO_LEN

const char *ed_bench_scenario_name(enum ed_bench_scenario s) {
  if ((int)s < 0 || (int)s > ED_BENCH_PARTIAL) return "unknown";
  return scenario_names[s];
}

const char *ed_bench_usage(void) {
  return "usage: echo-bench SCENARIO [flags]\n"
         "\n"
         "Load generator for echod (or any mutual-TLS echo server; with\n"
         "--plain, any plain-TCP echo server).\n"
         "Scenarios:\n"
         "  handshake  C workers: connect, full handshake, 32-byte echo, "
         "close\n"
         "  echo       C connections, one S-byte message in flight each;\n"
         "             with --rate, each paced at that many messages/s\n"
         "  bulk       C connections streaming S-byte writes, every byte "
         "checked\n"
         "  idle       open C sessions, hold them --duration, echo 32 bytes\n"
         "             once more on each\n"
         "  scale      ramp to C sessions (full handshakes), hold them\n"
         "             --hold, echo 32 bytes on every one, close every one\n"
         "             cleanly; connections the server turns away before\n"
         "             any TLS (its limit) are counted as refused, apart\n"
         "             from errors. C + a few descriptors must fit under\n"
         "             this process's RLIMIT_NOFILE (it says how many do)\n"
         "  flood      --echo-conns connections echoing S bytes, each paced\n"
         "             at --rate; quiet, then under a storm of --storm\n"
         "             handshake workers (full mutual-TLS handshakes that do\n"
         "             NOT verify the server's chain, to spare the client\n"
         "             core). --rate 0: closed loop (saturates the server),\n"
         "             and the storm also runs alone in between, echo\n"
         "             parked, for its rate without the echo load\n"
         "  partial    --echo-conns sessions echo at --rate; then C plain TCP\n"
         "             connections (--parallel at a time) each send the first\n"
         "             S bytes of a 16 KiB TLS record (default 16388: all but\n"
         "             one) and wait, --hold s after the last: the server's\n"
         "             RSS per connection held, how many it held and closed\n"
         "\n"
         "Flags:\n"
         "  --connect HOST:PORT   server (default 127.0.0.1:7443)\n"
         "  --plain               plain TCP, no TLS (handshake, echo, bulk,\n"
         "                        idle, scale): the kernel floor, against\n"
         "                        tools/bench:plain_echo\n"
         "  --shape SPEC          handshake --plain: instead of the echo,\n"
         "                        a TLS session's message pattern, e.g.\n"
         "                        244:792,575:0+,54:392,24:24 (client\n"
         "                        bytes:server answer per step; '+': go on\n"
         "                        without the answer), against plain_echo\n"
         "                        --shape SPEC (tools/bench:tls_floor\n"
         "                        --flights prints echod's)\n"
         "  --ca FILE             CA for the server's certificate\n"
         "  --cert FILE --key FILE  client certificate and key\n"
         "                        (default: <state dir>/pki/ca.pem,\n"
         "                        dev-client.pem, dev-client.key)\n"
         "  --servername NAME     SNI and name to check (default: the host)\n"
         "  -c, --conns N         connections/workers (handshake 32, echo "
         "64,\n"
         "                        bulk 8, idle 1000, scale 1000)\n"
         "  -s, --size BYTES      message/write size for echo, bulk and\n"
         "                        flood (64; bulk 16384); k/m ok. handshake,\n"
         "                        idle and scale always echo 32 bytes\n"
         "  -d, --duration SECS   measured time (default 5; idle: hold time;\n"
         "                        flood: each window is half of it;\n"
         "                        0 with --count: until the count)\n"
         "  -n, --count N         stop after N operations\n"
         "  --resume              handshake: resume with session tickets\n"
         "  -t, --threads N       client loops/threads (default 1)\n"
         "  --sources N           spread connections over source addresses\n"
         "                        127.0.0.1 .. 127.0.0.N (default 8 when\n"
         "                        connecting to 127.x.x.x; 1: no bind)\n"
         "  --storm N             flood: handshake workers (default 64)\n"
         "  --echo-conns N        flood: echo connections (default 8)\n"
         "  --storm-idle          flood: the storm's client threads run\n"
         "                        SCHED_IDLE (default nice 10): on a shared\n"
         "                        client core they then never delay the\n"
         "                        echo's measurement, but get only its idle\n"
         "                        time, so the storm may be client-bound\n"
         "  --cycles N            closed-loop flood: after the storm alone,\n"
         "                        N quiet and N storm windows taking turns\n"
         "                        (each half/N long, the storm parked in the\n"
         "                        quiet ones), so both see the same machine\n"
         "                        (default 0: one quiet window first, one\n"
         "                        storm window last)\n"
         "  --rate N              echo, flood, partial: messages/s per\n"
         "                        connection, one in flight (echo: default\n"
         "                        0, a closed loop; flood, partial: 1000;\n"
         "                        0: closed loop)\n"
         "  --server-metrics HOST:PORT  flood: sample the server's handshake\n"
         "                        pool queue (echod's /metrics) every 100 ms\n"
         "                        during the storm to tell whether it was\n"
         "                        saturated (else: server CPU >= 0.95 cores)\n"
         "  --parallel N          idle, scale: handshakes in flight (128)\n"
         "  --hold SECS           scale: how long to hold the sessions (5)\n"
         "  --window BYTES        bulk: unechoed bytes per connection (256k)\n"
         "  --timeout SECS        an operation stuck this long fails (10)\n"
         "  --server-pid PID      report the server's CPU per operation and\n"
         "                        RSS (scale: and descriptors) from\n"
         "                        /proc/PID\n"
         "  --json                one JSON object instead of the summary\n"
         "  --progress, --no-progress  progress line (default: on a tty)\n"
         "\n"
         "Exit status: 0 ok; 1 refusals, checksum mismatches, drops,\n"
         "timeouts or no operation at all; 2 usage.\n";
}

void ed_bench_opts_init(struct ed_bench_opts *o) {
  memset(o, 0, sizeof(*o));
  o->scenario = ED_BENCH_HANDSHAKE;
  o->connect = ed_strdup("127.0.0.1:7443");
  char dir[4096], path[4200];
  if (ed_tool_state_dir(dir, sizeof(dir), ED_SERVICE_STATE_DIR) < 0)
    snprintf(dir, sizeof(dir), ".");
  snprintf(path, sizeof(path), "%s/pki/ca.pem", dir);
  o->ca = ed_strdup(path);
  snprintf(path, sizeof(path), "%s/pki/dev-client.pem", dir);
  o->cert = ed_strdup(path);
  snprintf(path, sizeof(path), "%s/pki/dev-client.key", dir);
  o->key = ed_strdup(path);
  o->threads = 1;
  o->storm = 64;
  o->echo_conns = 8;
  o->hold_s = 5;
  o->rate = 1000;
  o->parallel = 128;
  o->window = 256 * 1024;
  o->duration_s = 5;
  o->timeout_s = 10;
  o->progress = -1;
}

void ed_bench_opts_cleanup(struct ed_bench_opts *o) {
  free(o->connect);
  free(o->ca);
  free(o->cert);
  free(o->key);
  free(o->servername);
  free(o->server_metrics);
  free(o->shape);
  memset(o, 0, sizeof(*o));
}

static int usage_err(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int usage_err(char *err, size_t err_len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, err_len, fmt, ap);
  va_end(ap);
  return ED_E_USAGE;
}

/* parse_u64 reads a count with an optional k/m/g suffix (powers of 1024
 * when |binary|, else of 1000). */
static int parse_u64(uint64_t *out, const char *s, int binary) {
  errno = 0;
  char *end;
  if (!s || *s == '-' || *s == '\0') return ED_E_INVAL;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s) return ED_E_INVAL;
  uint64_t mul = 1, k = binary ? 1024 : 1000;
  if (*end == 'k' || *end == 'K')
    mul = k, end++;
  else if (*end == 'm' || *end == 'M')
    mul = k * k, end++;
  else if (*end == 'g' || *end == 'G')
    mul = k * k * k, end++;
  if (*end != '\0') return ED_E_INVAL;
  *out = (uint64_t)v * mul;
  return 0;
}

static int parse_double(double *out, const char *s) {
  if (!s || !*s) return ED_E_INVAL;
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || *end != '\0' || v < 0) return ED_E_INVAL;
  *out = v;
  return 0;
}

enum ftype { F_STR, F_U32, F_BYTES, F_U64, F_SECS, F_TRUE, F_FALSE };

struct flag {
  const char *name;
  char short_name;
  enum ftype type;
  size_t off;
};

#define OFF(f) offsetof(struct ed_bench_opts, f)
static const struct flag flags[] = {
    {"connect", 0, F_STR, OFF(connect)},
    {"ca", 0, F_STR, OFF(ca)},
    {"cert", 0, F_STR, OFF(cert)},
    {"key", 0, F_STR, OFF(key)},
    {"servername", 0, F_STR, OFF(servername)},
    {"conns", 'c', F_U32, OFF(conns)},
    {"size", 's', F_BYTES, OFF(size)},
    {"threads", 't', F_U32, OFF(threads)},
    {"storm", 0, F_U32, OFF(storm)},
    {"echo-conns", 0, F_U32, OFF(echo_conns)},
    {"cycles", 0, F_U32, OFF(cycles)},
    {"sources", 0, F_U32, OFF(sources)},
    {"hold", 0, F_SECS, OFF(hold_s)},
    {"plain", 0, F_TRUE, OFF(plain)},
    {"storm-idle", 0, F_TRUE, OFF(storm_idle)},
    {"rate", 0, F_U32, OFF(rate)},
    {"server-metrics", 0, F_STR, OFF(server_metrics)},
    {"shape", 0, F_STR, OFF(shape)},
    {"parallel", 0, F_U32, OFF(parallel)},
    {"window", 0, F_BYTES, OFF(window)},
    {"duration", 'd', F_SECS, OFF(duration_s)},
    {"timeout", 0, F_SECS, OFF(timeout_s)},
    {"count", 'n', F_U64, OFF(count)},
    {"server-pid", 0, F_U32, OFF(server_pid)},
    {"resume", 0, F_TRUE, OFF(resume)},
    {"json", 0, F_TRUE, OFF(json)},
    {"progress", 0, F_TRUE, OFF(progress)},
    {"no-progress", 0, F_FALSE, OFF(progress)},
};
#define NUM_FLAGS (sizeof(flags) / sizeof(flags[0]))

static const struct flag *find_flag(const char *arg, const char **out_value) {
  *out_value = NULL;
  if (arg[0] == '-' && arg[1] != '-' && arg[1] && !arg[2]) {
    for (size_t i = 0; i < NUM_FLAGS; i++)
      if (flags[i].short_name == arg[1]) return &flags[i];
    return NULL;
  }
  if (strncmp(arg, "--", 2) != 0) return NULL;
  const char *name = arg + 2, *eq = strchr(name, '=');
  size_t len = eq ? (size_t)(eq - name) : strlen(name);
  for (size_t i = 0; i < NUM_FLAGS; i++) {
    if (strlen(flags[i].name) == len &&
        strncmp(flags[i].name, name, len) == 0) {
      if (eq) *out_value = eq + 1;
      return &flags[i];
    }
  }
  return NULL;
}

/* set_flag stores |value| into the field |f| names. */
static int set_flag(struct ed_bench_opts *o, const struct flag *f,
                    const char *value) {
  char *field = (char *)o + f->off;
  uint64_t v = 0;
  switch (f->type) {
    case F_STR:
      free(*(char **)field);
      *(char **)field = ed_strdup(value);
      return 0;
    case F_TRUE:
    case F_FALSE:
      *(int *)field = f->type == F_TRUE;
      return 0;
    case F_SECS:
      return parse_double((double *)field, value);
    case F_U64:
      if (parse_u64(&v, value, 0)) return ED_E_INVAL;
      *(uint64_t *)field = v;
      return 0;
    default:
      if (parse_u64(&v, value, f->type == F_BYTES) || v > UINT32_MAX)
        return ED_E_INVAL;
      *(uint32_t *)field = (uint32_t)v;
      return 0;
  }
}

static int parse_scenario(struct ed_bench_opts *o, const char *s) {
  for (int i = 0; i <= ED_BENCH_PARTIAL; i++) {
    if (strcmp(s, scenario_names[i]) == 0) {
      o->scenario = (enum ed_bench_scenario)i;
      return 0;
    }
  }
  return ED_E_INVAL;
}

/* echoes_hello: the scenarios whose only echo is the fixed 32 bytes. */
static int echoes_hello(enum ed_bench_scenario s) {
  return s == ED_BENCH_HANDSHAKE || s == ED_BENCH_IDLE || s == ED_BENCH_SCALE;
}

/* check_scenario_flags refuses flags that the scenario would ignore. */
static int check_scenario_flags(const struct ed_bench_opts *o, int have_size,
                                char *err, size_t err_len) {
  const char *name = scenario_names[o->scenario];
  if (have_size && echoes_hello(o->scenario))
    return usage_err(err, err_len,
                     "--size does not apply to %s (it echoes %d bytes)", name,
                     HELLO_LEN);
  if (o->count &&
      (o->scenario == ED_BENCH_IDLE || o->scenario == ED_BENCH_FLOOD ||
       o->scenario == ED_BENCH_SCALE || o->scenario == ED_BENCH_PARTIAL))
    return usage_err(err, err_len, "--count does not apply to %s", name);
  if (o->plain && (o->scenario == ED_BENCH_FLOOD ||
                   o->scenario == ED_BENCH_PARTIAL || o->resume))
    return usage_err(err, err_len, "--plain does not apply to %s",
                     o->resume ? "--resume" : name);
  if (o->plain && o->server_metrics)
    return usage_err(err, err_len, "--plain has no --server-metrics");
  if (o->shape && (o->scenario != ED_BENCH_HANDSHAKE || !o->plain))
    return usage_err(err, err_len, "--shape needs handshake --plain");
  struct ed_shape sh;
  char why[160];
  if (o->shape && ed_shape_parse(&sh, o->shape, why, sizeof(why)) != 0)
    return usage_err(err, err_len, "--%s", why);
  return 0;
}

/* apply_defaults fills what depends on the scenario and checks ranges. */
static int apply_defaults(struct ed_bench_opts *o, int have_count_only,
                          int have_size, char *err, size_t err_len) {
  static const uint32_t def_conns[] = {32, 64, 8, 1000, 8, 1000, 2000};
  int rv = check_scenario_flags(o, have_size, err, err_len);
  if (rv) return rv;
  if (o->conns == 0) o->conns = def_conns[o->scenario];
  if (o->size == 0) o->size = o->scenario == ED_BENCH_BULK ? 16384 : 64;
  if (o->scenario == ED_BENCH_PARTIAL && !have_size)
    o->size = ED_BENCH_PARTIAL_RECORD + 4; /* header, all but one byte */
  if (o->scenario == ED_BENCH_PARTIAL &&
      (o->size < 1 || o->size > ED_BENCH_PARTIAL_RECORD + 4))
    return usage_err(err, err_len,
                     "partial: --size 1 to %d (bytes of a %d "
                     "byte record and its 5-byte header)",
                     ED_BENCH_PARTIAL_RECORD + 4, ED_BENCH_PARTIAL_RECORD);
  if (echoes_hello(o->scenario)) o->size = HELLO_LEN;
  if (have_count_only) o->duration_s = 0;
  if (o->size > (1u << 20))
    return usage_err(err, err_len, "--size: at most 1m bytes");
  if (o->threads == 0 || o->threads > 256)
    return usage_err(err, err_len, "--threads: 1 to 256");
  if (o->storm == 0 || o->parallel == 0 ||
      (o->echo_conns == 0 && o->scenario != ED_BENCH_PARTIAL))
    return usage_err(err, err_len,
                     "--storm, --echo-conns and --parallel must be > 0");
  if (o->window < o->size)
    return usage_err(err, err_len, "--window must be at least --size");
  if (o->duration_s == 0 && o->count == 0)
    return usage_err(err, err_len, "--duration 0 needs --count");
  if (o->rate > 1000000)
    return usage_err(err, err_len, "--rate: at most 1000000 (1 us apart)");
  if (o->cycles && (o->scenario != ED_BENCH_FLOOD || o->rate != 0))
    return usage_err(err, err_len,
                     "--cycles: closed-loop flood only "
                     "(flood --rate 0)");
  if (o->storm_idle && o->scenario != ED_BENCH_FLOOD)
    return usage_err(err, err_len, "--storm-idle: flood only");
  if (o->cycles > 1000)
    return usage_err(err, err_len, "--cycles: at most 1000");
  if (o->timeout_s <= 0)
    return usage_err(err, err_len, "--timeout must be > 0");
  if (o->sources > ED_BENCH_MAX_SOURCES_PUBLIC)
    return usage_err(err, err_len, "--sources: at most %d",
                     ED_BENCH_MAX_SOURCES_PUBLIC);
  return 0;
}

int ed_bench_opts_parse(struct ed_bench_opts *o, int argc, char **argv,
                        char *err, size_t err_len) {
  int have_scenario = 0, have_duration = 0, have_size = 0, have_rate = 0;
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i], *value;
    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) return 1;
    if (arg[0] != '-') {
      if (have_scenario || parse_scenario(o, arg))
        return usage_err(err, err_len, "unknown scenario: %s", arg);
      have_scenario = 1;
      continue;
    }
    const struct flag *f = find_flag(arg, &value);
    if (!f) return usage_err(err, err_len, "unknown flag: %s", arg);
    if (f->type == F_TRUE || f->type == F_FALSE) {
      if (value) return usage_err(err, err_len, "%s takes no value", arg);
    } else if (!value) {
      if (i + 1 >= argc)
        return usage_err(err, err_len, "%s needs a value", arg);
      value = argv[++i];
    }
    if (set_flag(o, f, value))
      return usage_err(err, err_len, "bad value for --%s: %s", f->name, value);
    if (f->off == OFF(duration_s)) have_duration = 1;
    if (f->off == OFF(size)) have_size = 1;
    if (f->off == OFF(rate)) have_rate = 1;
  }
  if (!have_scenario)
    return usage_err(
        err, err_len,
        "which scenario? handshake, echo, bulk, idle, flood, scale or "
        "partial");
  if (have_rate && o->scenario != ED_BENCH_ECHO &&
      o->scenario != ED_BENCH_FLOOD && o->scenario != ED_BENCH_PARTIAL)
    return usage_err(err, err_len, "--rate does not apply to %s",
                     scenario_names[o->scenario]);
  /* echo is a closed loop unless paced. */
  if (o->scenario == ED_BENCH_ECHO && !have_rate) o->rate = 0;
  return apply_defaults(o, o->count > 0 && !have_duration, have_size, err,
                        err_len);
}

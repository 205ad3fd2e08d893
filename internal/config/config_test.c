/* Unit tests for internal/config: flags, environment, JSON file, precedence,
 * validation messages and the --print-config round trip. */
#include "internal/config/config.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal/testing/testing.h"

extern char **environ;

static char tmpdir[512];
static char last_err[512];

/* clear_env unsets every ECHOD_* variable so tests do not see each other's
 * (or the caller's) settings. */
static void clear_env(void) {
  for (;;) {
    char name[128] = "";
    for (char **e = environ; *e; e++) {
      if (strncmp(*e, "ECHOD_", 6) == 0) {
        const char *eq = strchr(*e, '=');
        size_t n = eq ? (size_t)(eq - *e) : strlen(*e);
        if (n >= sizeof(name)) n = sizeof(name) - 1;
        memcpy(name, *e, n);
        name[n] = '\0';
        break;
      }
    }
    if (!name[0]) return;
    unsetenv(name);
  }
}

/* load runs ed_config_load on "echod" plus the NULL-terminated arguments.
 * Returns the config (NULL on error, message in last_err). */
static struct ed_config *load(const char *first, ...) {
  char *argv[64];
  int argc = 0;
  argv[argc++] = "echod";
  va_list ap;
  va_start(ap, first);
  for (const char *a = first; a && argc < 63; a = va_arg(ap, const char *))
    argv[argc++] = (char *)a;
  va_end(ap);
  argv[argc] = NULL;
  struct ed_config *cfg = (struct ed_config *)1;
  last_err[0] = 'X';
  int rc = ed_config_load(&cfg, argc, argv, last_err, sizeof(last_err));
  if (rc != 0) {
    CHECK_EQ(rc, ED_E_USAGE);
    CHECK(cfg == NULL);
    CHECK(strchr(last_err, '\n') == NULL); /* one line */
    CHECK(last_err[0] != '\0');
    return NULL;
  }
  CHECK(cfg != NULL);
  return cfg;
}

/* load_err expects a usage error whose message contains every |want|. */
static void expect_err(const char *want1, const char *want2, const char *arg1,
                       const char *arg2, const char *arg3) {
  struct ed_config *cfg = load(arg1, arg2, arg3, NULL);
  CHECK(cfg == NULL);
  if (cfg) {
    fprintf(stderr, "  unexpectedly accepted: %s %s %s\n", arg1,
            arg2 ? arg2 : "", arg3 ? arg3 : "");
    ed_config_free(cfg);
    return;
  }
  int ok = strstr(last_err, want1) && (!want2 || strstr(last_err, want2));
  CHECK(ok);
  if (!ok)
    fprintf(stderr, "  message \"%s\" lacks \"%s\"/\"%s\"\n", last_err, want1,
            want2 ? want2 : "");
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  if (!f) return;
  fputs(text, f);
  fclose(f);
}

static void test_defaults(void) {
  clear_env();
  setenv("ECHOD_STATE_DIR", "/tmp/echod-state-test", 1);
  struct ed_config *cfg = load(NULL);
  if (!cfg) return;
  CHECK_EQ(cfg->action, ED_CONFIG_RUN);
  CHECK(cfg->config_file == NULL);
  CHECK_STR(cfg->state_dir, "/tmp/echod-state-test");
  CHECK_EQ(cfg->listen.num, 1);
  CHECK_STR(cfg->listen.items[0], "127.0.0.1:7443");
  CHECK(cfg->cert == NULL && cfg->key == NULL && cfg->ca == NULL);
  CHECK_EQ(cfg->crl.num, 0);
  CHECK_STR(cfg->crl_expired, "warn");
  CHECK_EQ(cfg->max_chain_depth, 100);
  CHECK_EQ(cfg->tls_min, 0x0304);
  CHECK_EQ(cfg->allow_cn.num + cfg->allow_san.num + cfg->allow_sha256.num, 0);
  CHECK_EQ(cfg->ticket_rotate_s, 3600);
  CHECK_EQ(cfg->workers, 0);
  CHECK_EQ(cfg->handshake_threads, 0);
  CHECK_EQ(cfg->max_connections, 0); /* sized to the descriptor limit */
  CHECK_EQ(cfg->max_pending_handshakes, 4096);
  CHECK_EQ(cfg->max_handshaking, 4096);
  CHECK_EQ(cfg->max_buffer, 65536);
  CHECK_EQ(cfg->handshake_timeout_ms, 10000);
  CHECK_EQ(cfg->idle_timeout_ms, 300000);
  CHECK_EQ(cfg->drain_timeout_ms, 30000);
  CHECK_EQ(cfg->admin_timeout_ms, 10000);
  CHECK_STR(cfg->admin_socket, "/tmp/echod-state-test/admin.sock");
  CHECK_EQ(cfg->no_admin, 0);
  CHECK_STR(cfg->metrics_listen, "127.0.0.1:9870");
  CHECK_EQ(cfg->no_metrics, 0);
  CHECK_EQ(cfg->allow_group_readable_key, 0);
  CHECK_EQ(cfg->watch, 1);
  CHECK_EQ(cfg->log_level, ED_LOG_INFO);
  ed_config_free(cfg);
}

static void test_flags(void) {
  clear_env();
  setenv("BUILD_WORKING_DIRECTORY", "/w", 1); /* as `bazel run` sets it */
  struct ed_config *cfg = load(
      "--listen", "127.0.0.1:1", "--listen=[::1]:2,127.0.0.2:3",
      "--state-dir=/s", "--cert", "c.pem", "--key", "k.pem", "--ca=ca.pem",
      "--crl", "crl.pem", "--tls-min", "1.2", "--allow-cn", "alice",
      "--allow-cn=bob, jr", "--allow-san", "spiffe://x/y", "--allow-sha256",
      "AB:CD:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:"
      "ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89",
      "--ticket-rotate", "600", "--workers=3", "--handshake-threads", "5",
      "--max-connections", "10", "--max-pending-handshakes=7",
      "--max-handshaking", "6", "--max-buffer", "16KiB", "--handshake-timeout",
      "2s", "--idle-timeout=500ms", "--drain-timeout", "5m", "--admin-socket",
      "/a.sock", "--metrics-listen", "[::1]:9999", "--no-watch", "--log-level",
      "debug", NULL);
  unsetenv("BUILD_WORKING_DIRECTORY");
  if (!cfg) {
    fprintf(stderr, "  error: %s\n", last_err);
    return;
  }
  CHECK_EQ(cfg->listen.num, 3);
  CHECK_STR(cfg->listen.items[0], "127.0.0.1:1");
  CHECK_STR(cfg->listen.items[1], "[::1]:2");
  CHECK_STR(cfg->listen.items[2], "127.0.0.2:3");
  CHECK_STR(cfg->state_dir, "/s");
  CHECK_STR(cfg->cert, "/w/c.pem");
  CHECK_STR(cfg->key, "/w/k.pem");
  CHECK_STR(cfg->ca, "/w/ca.pem");
  CHECK_EQ(cfg->crl.num, 1);
  CHECK_STR(cfg->crl.items[0], "/w/crl.pem");
  CHECK_EQ(cfg->tls_min, 0x0303);
  CHECK_EQ(cfg->allow_cn.num, 2);
  CHECK_STR(cfg->allow_cn.items[1], "bob, jr"); /* CNs are not split */
  CHECK_STR(cfg->allow_san.items[0], "spiffe://x/y");
  CHECK_EQ(cfg->allow_sha256.num, 1);
  CHECK_STR(cfg->allow_sha256.items[0],
            "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789");
  CHECK_EQ(cfg->ticket_rotate_s, 600);
  CHECK_EQ(cfg->workers, 3);
  CHECK_EQ(cfg->handshake_threads, 5);
  CHECK_EQ(cfg->max_connections, 10);
  CHECK_EQ(cfg->max_pending_handshakes, 7);
  CHECK_EQ(cfg->max_handshaking, 6);
  CHECK_EQ(cfg->max_buffer, 16384);
  CHECK_EQ(cfg->handshake_timeout_ms, 2000);
  CHECK_EQ(cfg->idle_timeout_ms, 500);
  CHECK_EQ(cfg->drain_timeout_ms, 300000);
  CHECK_STR(cfg->admin_socket, "/a.sock");
  CHECK_STR(cfg->metrics_listen, "[::1]:9999");
  CHECK_EQ(cfg->watch, 0);
  CHECK_EQ(cfg->log_level, ED_LOG_DEBUG);
  ed_config_free(cfg);
}

static void test_units(void) {
  clear_env();
  struct ed_config *cfg =
      load("--max-buffer=1m", "--handshake-timeout=1.5s", "--idle-timeout=0",
           "--drain-timeout=2", "--ticket-rotate=1h", NULL);
  if (!cfg) return;
  CHECK_EQ(cfg->max_buffer, 1 << 20);
  CHECK_EQ(cfg->handshake_timeout_ms, 1500);
  CHECK_EQ(cfg->idle_timeout_ms, 0);
  CHECK_EQ(cfg->drain_timeout_ms, 2000);
  CHECK_EQ(cfg->ticket_rotate_s, 3600);
  ed_config_free(cfg);
  cfg = load("--max-buffer", "64k", "--handshake-timeout", "100ms", NULL);
  if (!cfg) return;
  CHECK_EQ(cfg->max_buffer, 65536);
  CHECK_EQ(cfg->handshake_timeout_ms, 100);
  ed_config_free(cfg);
  /* The admin socket's deadline is an option like any other, so the admin
   * module reads no environment of its own. */
  setenv("ECHOD_ADMIN_TIMEOUT", "1500ms", 1);
  cfg = load(NULL);
  unsetenv("ECHOD_ADMIN_TIMEOUT");
  if (!cfg) return;
  CHECK_EQ(cfg->admin_timeout_ms, 1500);
  ed_config_free(cfg);
  expect_err("--admin-timeout", "", "--admin-timeout", "0", NULL);
}

static void test_switches(void) {
  clear_env();
  struct ed_config *cfg = load("--no-admin", "--no-metrics", NULL);
  if (!cfg) return;
  CHECK(cfg->admin_socket == NULL);
  CHECK(cfg->metrics_listen == NULL);
  CHECK_EQ(cfg->no_admin, 1);
  CHECK_EQ(cfg->no_metrics, 1);
  ed_config_free(cfg);
  cfg = load("--allow-group-readable-key", NULL);
  CHECK(cfg && cfg->allow_group_readable_key == 1);
  ed_config_free(cfg);
  setenv("ECHOD_ALLOW_GROUP_READABLE_KEY", "true", 1);
  cfg = load(NULL);
  CHECK(cfg && cfg->allow_group_readable_key == 1);
  ed_config_free(cfg);
  unsetenv("ECHOD_ALLOW_GROUP_READABLE_KEY");
  cfg = load(NULL);
  CHECK(cfg && cfg->proxy_protocol == 0);
  ed_config_free(cfg);
  cfg = load("--proxy-protocol", NULL);
  CHECK(cfg && cfg->proxy_protocol == 1);
  ed_config_free(cfg);
  cfg = load("--help", "--bogus", NULL); /* --bogus still an unknown flag */
  CHECK(cfg == NULL);
  cfg = load("--help", "--workers=nope", NULL); /* values unchecked */
  CHECK(cfg && cfg->action == ED_CONFIG_HELP);
  ed_config_free(cfg);
  cfg = load("-h", NULL);
  CHECK(cfg && cfg->action == ED_CONFIG_HELP);
  ed_config_free(cfg);
  cfg = load("--version", NULL);
  CHECK(cfg && cfg->action == ED_CONFIG_VERSION);
  ed_config_free(cfg);
  cfg = load("--print-config", "--workers", "2", NULL);
  CHECK(cfg && cfg->action == ED_CONFIG_PRINT && cfg->workers == 2);
  ed_config_free(cfg);
  CHECK(load("--print-config", "--workers", "x", NULL) == NULL);
  cfg = load(NULL);
  CHECK(cfg && !cfg->user && !cfg->group && cfg->no_sandbox == 0);
  ed_config_free(cfg);
  cfg = load("--user", "echod", "--group=ssl", "--no-sandbox", NULL);
  CHECK(cfg && cfg->no_sandbox == 1);
  CHECK(cfg && cfg->user && strcmp(cfg->user, "echod") == 0);
  CHECK(cfg && cfg->group && strcmp(cfg->group, "ssl") == 0);
  ed_config_free(cfg);
  setenv("ECHOD_NO_SANDBOX", "1", 1);
  cfg = load(NULL);
  CHECK(cfg && cfg->no_sandbox == 1);
  ed_config_free(cfg);
  unsetenv("ECHOD_NO_SANDBOX");
  CHECK(strstr(ed_config_usage(), "--no-sandbox") != NULL);
  CHECK(strstr(ed_config_usage(), "--listen") != NULL);
  CHECK(strstr(ed_config_usage(), "--allow-sha256") != NULL);
}

static void test_errors(void) {
  clear_env();
  expect_err("unknown flag --bogus", NULL, "--bogus", NULL, NULL);
  expect_err("unknown flag --bogus", NULL, "--bogus=1", NULL, NULL);
  expect_err("unexpected argument \"stray\"", NULL, "stray", NULL, NULL);
  expect_err("--workers needs a value", NULL, "--workers", NULL, NULL);
  expect_err("--workers", "not a number", "--workers", "abc", NULL);
  expect_err("--workers", "not a number", "--workers", "3x", NULL);
  expect_err("--workers", "negative", "--workers=-1", NULL, NULL);
  expect_err("--max-connections", "out of range", "--max-connections=10000001",
             NULL, NULL);
  expect_err("--max-handshaking", "out of range", "--max-handshaking=0", NULL,
             NULL);
  expect_err("--listen", "port out of range", "--listen", "127.0.0.1:70000",
             NULL);
  expect_err("--listen", "missing port", "--listen", "127.0.0.1", NULL);
  expect_err("--listen", "missing port", "--listen", "[::1]", NULL);
  expect_err("--listen", "brackets", "--listen", "::1:80", NULL);
  expect_err("--listen", "not a number", "--listen", "h:8o", NULL);
  expect_err("--listen", "empty", "--listen=", NULL, NULL);
  expect_err("--metrics-listen", "missing port", "--metrics-listen=x", NULL,
             NULL);
  expect_err("--tls-min", "unknown TLS version", "--tls-min", "1.1", NULL);
  expect_err("--tls-min", "unknown TLS version", "--tls-min=1.4", NULL, NULL);
  expect_err("--allow-sha256", "SHA-256", "--allow-sha256", "abcd", NULL);
  expect_err("--allow-sha256", "SHA-256", "--allow-sha256",
             "zz00000000000000000000000000000000000000000000000000000000000000",
             NULL);
  expect_err(
      "--allow-sha256", "longer", "--allow-sha256",
      "000000000000000000000000000000000000000000000000000000000000000000",
      NULL);
  expect_err("--handshake-timeout", "duration", "--handshake-timeout=10x", NULL,
             NULL);
  expect_err("--handshake-timeout", "negative", "--handshake-timeout=-5s", NULL,
             NULL);
  expect_err("--handshake-timeout", "out of range", "--handshake-timeout=0",
             NULL, NULL);
  expect_err("--max-buffer", "size", "--max-buffer=12q", NULL, NULL);
  expect_err("--max-buffer", "out of range", "--max-buffer=10", NULL, NULL);
  expect_err("--log-level", "unknown log level", "--log-level=loud", NULL,
             NULL);
  expect_err("--no-admin", "boolean", "--no-admin=maybe", NULL, NULL);
  expect_err("--help takes no value", NULL, "--help=yes", NULL, NULL);
  expect_err("must be given together", "--key", "--cert", "c.pem", NULL);
  expect_err("must be given together", "--cert", "--ca=ca.pem", "--key=k.pem",
             NULL);
  expect_err("--config needs a value", NULL, "--config", NULL, NULL);
  expect_err("--crl-expired", "warn or refuse", "--crl-expired=maybe", NULL,
             NULL);
  expect_err("--max-chain-depth", "out of range", "--max-chain-depth=101", NULL,
             NULL);
  expect_err("--group ssl needs --user", NULL, "--group", "ssl", NULL);
  expect_err("--user", "empty", "--user=", NULL, NULL);
}

/* --crl repeats (paths are never split on commas, a CRL file may be
 * named "a,b.pem"); --crl-expired and --max-chain-depth. */
static void test_revocation_options(void) {
  clear_env();
  struct ed_config *cfg =
      load("--crl", "/p/a.pem", "--crl=/p/b,c.pem", "--crl-expired", "refuse",
           "--max-chain-depth", "0", NULL);
  if (!cfg) return;
  CHECK_EQ(cfg->crl.num, 2);
  CHECK_STR(cfg->crl.items[0], "/p/a.pem");
  CHECK_STR(cfg->crl.items[1], "/p/b,c.pem");
  CHECK_STR(cfg->crl_expired, "refuse");
  CHECK_EQ(cfg->max_chain_depth, 0);
  ed_config_free(cfg);
  setenv("ECHOD_CRL", "/p/x.pem,/p/y.pem", 1); /* a list variable splits */
  cfg = load(NULL);
  if (cfg) {
    CHECK_EQ(cfg->crl.num, 2);
    CHECK_STR(cfg->crl.items[1], "/p/y.pem");
    ed_config_free(cfg);
  }
  clear_env();
}

static void test_overflow_and_addresses(void) {
  clear_env();
  /* Values whose unit conversion overflows 64 bits are refused, not
   * wrapped into range (these once came out as 18331 ms and 1 GiB). */
  expect_err("--handshake-timeout", "too large",
             "--handshake-timeout=1009446828478h", NULL, NULL);
  expect_err("--max-buffer", "too large", "--max-buffer=17179869185g", NULL,
             NULL);
  expect_err("--idle-timeout", "too large", "--idle-timeout=1099511627776h",
             NULL, NULL);
  /* The metrics endpoint binds without a resolver: a host name is a usage
   * error here, not a failure after the echo listeners are up. */
  expect_err("--metrics-listen", "numeric IP", "--metrics-listen",
             "metrics.example:9870", NULL);
  expect_err("--metrics-listen", "numeric IP", "--metrics-listen",
             "[not-v6]:9870", NULL);
  expect_err("--metrics-listen", "brackets", "--metrics-listen", "::1:9870",
             NULL);
}

static void test_metrics_listen_forms(void) {
  static const char *const ok[] = {"0.0.0.0:9870", "[::]:0", "localhost:1",
                                   "*:9870", "[fe80::1%lo]:9870"};
  clear_env();
  for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
    struct ed_config *cfg = load("--metrics-listen", ok[i], NULL);
    CHECK(cfg != NULL);
    if (!cfg) {
      fprintf(stderr, "  %s refused: %s\n", ok[i], last_err);
      continue;
    }
    CHECK_STR(cfg->metrics_listen, ok[i]);
    ed_config_free(cfg);
  }
}

static void test_env(void) {
  clear_env();
  setenv("ECHOD_LISTEN", "127.0.0.1:11, [::1]:12", 1);
  setenv("ECHOD_WORKERS", "4", 1);
  setenv("ECHOD_TLS_MIN", "1.2", 1);
  setenv("ECHOD_NO_METRICS", "1", 1);
  setenv("ECHOD_NO_WATCH", "true", 1);
  setenv("ECHOD_ALLOW_CN", "a,b", 1);
  setenv("ECHOD_IDLE_TIMEOUT", "1m", 1);
  setenv("ECHOD_LOG_LEVEL", "warn", 1);
  struct ed_config *cfg = load(NULL);
  if (cfg) {
    CHECK_EQ(cfg->listen.num, 2);
    CHECK_STR(cfg->listen.items[1], "[::1]:12");
    CHECK_EQ(cfg->workers, 4);
    CHECK_EQ(cfg->tls_min, 0x0303);
    CHECK(cfg->metrics_listen == NULL);
    CHECK_EQ(cfg->watch, 0);
    CHECK_EQ(cfg->allow_cn.num, 2);
    CHECK_EQ(cfg->idle_timeout_ms, 60000);
    CHECK_EQ(cfg->log_level, ED_LOG_WARN);
    ed_config_free(cfg);
  }
  /* A flag list replaces the environment's list; it does not add to it. */
  cfg = load("--listen", "127.0.0.1:13", "--workers", "6", NULL);
  if (cfg) {
    CHECK_EQ(cfg->listen.num, 1);
    CHECK_STR(cfg->listen.items[0], "127.0.0.1:13");
    CHECK_EQ(cfg->workers, 6);
    ed_config_free(cfg);
  }
  setenv("ECHOD_WORKERS", "many", 1);
  expect_err("ECHOD_WORKERS", "not a number", NULL, NULL, NULL);
  clear_env();
}

/* The knobs libraries used to read from the environment themselves are
 * options like every other: durations, through the table. */
static void test_knobs(void) {
  clear_env();
  struct ed_config *cfg = load(NULL);
  if (cfg) {
    CHECK_EQ(cfg->reload_debounce_ms, 250);
    CHECK_EQ(cfg->test_hs_delay_ms, 0);
    ed_config_free(cfg);
  }
  setenv("ECHOD_RELOAD_DEBOUNCE", "2s", 1);
  setenv("ECHOD_TEST_HANDSHAKE_DELAY", "150ms", 1);
  cfg = load(NULL);
  if (cfg) {
    CHECK_EQ(cfg->reload_debounce_ms, 2000);
    CHECK_EQ(cfg->test_hs_delay_ms, 150);
    ed_config_free(cfg);
  }
  setenv("ECHOD_RELOAD_DEBOUNCE", "61s", 1);
  expect_err("ECHOD_RELOAD_DEBOUNCE", "out of range", NULL, NULL, NULL);
  clear_env();
}

static void path_in_tmp(char *out, size_t out_len, const char *name) {
  snprintf(out, out_len, "%s/%s", tmpdir, name);
}

static void test_file(void) {
  char path[600], bad[600];
  clear_env();
  path_in_tmp(path, sizeof(path), "cfg.json");
  write_file(path,
             "{\"listen\": [\"127.0.0.1:21\", \"127.0.0.1:22\"],\n"
             " \"workers\": 2, \"handshake_threads\": 3,\n"
             " \"max_buffer\": \"32k\", \"handshake_timeout\": 0.25,\n"
             " \"idle_timeout\": \"1m\", \"no_admin\": true,\n"
             " \"allow_cn\": [\"x, y\"], \"crl\": null,\n"
             " \"tls_min\": \"1.2\", \"log_level\": \"error\"}\n");
  struct ed_config *cfg = load("--config", path, NULL);
  if (cfg) {
    CHECK_STR(cfg->config_file, path);
    CHECK_EQ(cfg->listen.num, 2);
    CHECK_EQ(cfg->workers, 2);
    CHECK_EQ(cfg->handshake_threads, 3);
    CHECK_EQ(cfg->max_buffer, 32768);
    CHECK_EQ(cfg->handshake_timeout_ms, 250);
    CHECK_EQ(cfg->idle_timeout_ms, 60000);
    CHECK(cfg->admin_socket == NULL);
    CHECK_EQ(cfg->allow_cn.num, 1);
    CHECK_STR(cfg->allow_cn.items[0], "x, y");
    CHECK_EQ(cfg->crl.num, 0);
    CHECK_EQ(cfg->tls_min, 0x0303);
    CHECK_EQ(cfg->log_level, ED_LOG_ERROR);
    ed_config_free(cfg);
  }
  /* Precedence: flag > env > file > default. */
  setenv("ECHOD_WORKERS", "8", 1);
  setenv("ECHOD_HANDSHAKE_THREADS", "9", 1);
  setenv("ECHOD_CONFIG", path, 1);
  cfg = load("--workers=1", NULL);
  if (cfg) {
    CHECK_EQ(cfg->workers, 1);           /* flag */
    CHECK_EQ(cfg->handshake_threads, 9); /* env over file */
    CHECK_EQ(cfg->max_buffer, 32768);    /* file over default */
    CHECK_EQ(cfg->max_connections, 0);   /* default */
    ed_config_free(cfg);
  }
  clear_env();

  expect_err("config file", "cannot read", "--config", "/nonexistent/x.json",
             NULL);
  path_in_tmp(bad, sizeof(bad), "bad.json");
  write_file(bad, "{\n\"workers\": 2,\n oops }");
  expect_err("invalid JSON near line 3", NULL, "--config", bad, NULL);
  write_file(bad, "{\"wrkers\": 2}");
  expect_err("unknown key \"wrkers\"", NULL, "--config", bad, NULL);
  write_file(bad, "{\"max-buffer\": 2}");
  expect_err("unknown key \"max-buffer\"", NULL, "--config", bad, NULL);
  write_file(bad, "{\"workers\": -2}");
  expect_err("key \"workers\"", "negative", "--config", bad, NULL);
  write_file(bad, "{\"workers\": 1.5}");
  expect_err("key \"workers\"", "not a number", "--config", bad, NULL);
  write_file(bad, "{\"workers\": [1]}");
  expect_err("key \"workers\"", "single value", "--config", bad, NULL);
  write_file(bad, "{\"no_admin\": \"yes\"}");
  expect_err("key \"no_admin\"", "true or false", "--config", bad, NULL);
  write_file(bad, "{\"listen\": [\"127.0.0.1:99999\"]}");
  expect_err("key \"listen\"", "port out of range", "--config", bad, NULL);
  write_file(bad, "[1, 2]");
  expect_err("expected a JSON object", NULL, "--config", bad, NULL);
  /* A NUL in a string: cJSON would end the string there, and the
   * allow-list would become ["alice"], wider than written. Before:
   * accepted as alice. */
  write_file(bad, "{\"allow_cn\": [\"alice\\u0000evil\"]}");
  expect_err("key \"allow_cn\"", "holds a NUL", "--config", bad, NULL);
  write_file(bad, "{\"state_dir\": \"/x\\u0000y\"}");
  expect_err("key \"state_dir\"", "holds a NUL", "--config", bad, NULL);
  write_file(bad, "{\"allow_cn\\u0000x\": []}");
  expect_err("holds a NUL", NULL, "--config", bad, NULL);
  write_file(bad, "{\"allow_cn\": [\"a\\\\u0000\"]}"); /* "a\\u0000": text */
  cfg = load("--config", bad, NULL);
  CHECK(cfg && cfg->allow_cn.num == 1 &&
        strcmp(cfg->allow_cn.items[0], "a\\u0000") == 0);
  ed_config_free(cfg);
}

static void test_file_limits(void) {
  char bad[600];
  clear_env();
  path_in_tmp(bad, sizeof(bad), "limits.json");
  /* Numbers beyond any integer type: refused, never converted with UB. */
  write_file(bad, "{\"workers\": 1e300}");
  expect_err("key \"workers\"", "too large", "--config", bad, NULL);
  write_file(bad, "{\"max_connections\": 18446744073709551616}");
  expect_err("key \"max_connections\"", "too large", "--config", bad, NULL);
  /* A string too long to pass on is refused, not silently cut. */
  size_t n = 5000;
  char *text = ed_malloc(n + 32);
  int k = snprintf(text, n + 32, "{\"state_dir\": \"/");
  memset(text + k, 'd', n);
  strcpy(text + k + n, "\"}");
  write_file(bad, text);
  free(text);
  expect_err("key \"state_dir\"", "longer than", "--config", bad, NULL);
}

/* test_roundtrip: --print-config output fed back as --config gives the
 * same configuration. */
static void test_roundtrip(void) {
  char path[600];
  clear_env();
  setenv("ECHOD_STATE_DIR", "/tmp/rt-state", 1);
  struct ed_config *a = load(
      "--listen", "127.0.0.1:1,[::1]:2", "--cert=c", "--key=k", "--ca=a",
      "--tls-min=1.2", "--allow-cn=al, ice", "--allow-san=s", "--allow-sha256",
      "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
      "--max-buffer=1m", "--handshake-timeout=1500ms", "--idle-timeout=0",
      "--crl=r1", "--crl=r2", "--crl-expired=refuse", "--max-chain-depth=2",
      "--no-metrics", "--no-watch", "--log-level=debug", NULL);
  if (!a) return;
  char *ja = ed_config_to_json(a);
  CHECK(ja != NULL);
  clear_env();
  path_in_tmp(path, sizeof(path), "rt.json");
  write_file(path, ja);
  struct ed_config *b = load("--config", path, NULL);
  CHECK(b != NULL);
  if (b) {
    char *jb = ed_config_to_json(b);
    CHECK_STR(ja, jb);
    CHECK_STR(b->state_dir, "/tmp/rt-state");
    CHECK_STR(b->allow_cn.items[0], "al, ice");
    CHECK_EQ(b->handshake_timeout_ms, 1500);
    CHECK(b->metrics_listen == NULL);
    free(jb);
    ed_config_free(b);
  }
  free(ja);
  ed_config_free(a);
}

/* json_str returns the string member |key| of JSON |text| (static copy),
 * or "(not a string)". */
static const char *json_str(const char *text, const char *key) {
  static char out[256];
  cJSON *root = cJSON_Parse(text);
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
  snprintf(out, sizeof(out), "%s",
           cJSON_IsString(v) ? v->valuestring : "(not a string)");
  cJSON_Delete(root);
  return out;
}

/* test_durations_printed: every duration prints the same way, as a string
 * with a unit that --config reads back (ticket_rotate was a bare 3600). */
static void test_durations_printed(void) {
  char path[600];
  clear_env();
  struct ed_config *a = load("--drain-timeout=1.5s", NULL);
  if (!a) return;
  char *ja = ed_config_to_json(a);
  CHECK_STR(json_str(ja, "ticket_rotate"), "1h");
  CHECK_STR(json_str(ja, "handshake_timeout"), "10s");
  CHECK_STR(json_str(ja, "idle_timeout"), "5m");
  CHECK_STR(json_str(ja, "drain_timeout"), "1500ms");
  free(ja);
  ed_config_free(a);
  a = load("--ticket-rotate=90m", "--idle-timeout=0", "--handshake-timeout=2h",
           NULL);
  if (!a) return;
  ja = ed_config_to_json(a);
  CHECK_STR(json_str(ja, "ticket_rotate"), "90m");
  CHECK_STR(json_str(ja, "idle_timeout"), "0s");
  CHECK_STR(json_str(ja, "handshake_timeout"), "2h");
  path_in_tmp(path, sizeof(path), "durations.json");
  write_file(path, ja);
  struct ed_config *b = load("--config", path, NULL);
  CHECK(b != NULL);
  if (b) {
    CHECK_EQ(b->ticket_rotate_s, 5400);
    CHECK_EQ(b->idle_timeout_ms, 0);
    CHECK_EQ(b->handshake_timeout_ms, 7200000);
    ed_config_free(b);
  }
  free(ja);
  ed_config_free(a);
}

/* test_relative_paths: flags and ECHOD_* paths are relative to where the
 * command ran (BUILD_WORKING_DIRECTORY under `bazel run`), paths in the
 * config file to the file's directory; all are stored absolute. */
static void test_relative_paths(void) {
  char sub[600], path[700], want[800];
  clear_env();
  setenv("BUILD_WORKING_DIRECTORY", "/home/u/src", 1);
  setenv("ECHOD_CRL", "tls/crl.pem", 1);
  struct ed_config *cfg = load("--cert", "tls/s.pem", "--key=./s.key", "--ca",
                               "/etc/ca.pem", "--state-dir", "st", NULL);
  if (cfg) {
    CHECK_STR(cfg->cert, "/home/u/src/tls/s.pem");
    CHECK_STR(cfg->key, "/home/u/src/s.key");
    CHECK_STR(cfg->ca, "/etc/ca.pem");
    CHECK_EQ(cfg->crl.num, 1);
    if (cfg->crl.num) CHECK_STR(cfg->crl.items[0], "/home/u/src/tls/crl.pem");
    CHECK_STR(cfg->state_dir, "/home/u/src/st");
    CHECK_STR(cfg->admin_socket, "/home/u/src/st/admin.sock");
    ed_config_free(cfg);
  }
  clear_env();
  /* A config file named relative to BUILD_WORKING_DIRECTORY; its paths
   * relative to its own directory; a flag still relative to the user's. */
  snprintf(sub, sizeof(sub), "%s/conf", tmpdir);
  mkdir(sub, 0700);
  snprintf(path, sizeof(path), "%s/echod.json", sub);
  write_file(path,
             "{\"cert\": \"tls/s.pem\", \"key\": \"../k.key\", "
             "\"ca\": \"/etc/ca.pem\", \"admin_socket\": \"a.sock\"}");
  setenv("BUILD_WORKING_DIRECTORY", tmpdir, 1);
  cfg = load("--config", "conf/echod.json", "--crl", "crl.pem", NULL);
  if (cfg) {
    CHECK_STR(cfg->config_file, path);
    snprintf(want, sizeof(want), "%s/tls/s.pem", sub);
    CHECK_STR(cfg->cert, want);
    snprintf(want, sizeof(want), "%s/../k.key", sub);
    CHECK_STR(cfg->key, want);
    CHECK_STR(cfg->ca, "/etc/ca.pem");
    snprintf(want, sizeof(want), "%s/a.sock", sub);
    CHECK_STR(cfg->admin_socket, want);
    snprintf(want, sizeof(want), "%s/crl.pem", tmpdir);
    CHECK_EQ(cfg->crl.num, 1);
    if (cfg->crl.num) CHECK_STR(cfg->crl.items[0], want);
    ed_config_free(cfg);
  }
  unsetenv("BUILD_WORKING_DIRECTORY");
}

static void test_hostport(void) {
  char host[64];
  uint16_t port = 1;
  CHECK_EQ(ed_parse_hostport(host, sizeof(host), &port, "127.0.0.1:7443"), 0);
  CHECK_STR(host, "127.0.0.1");
  CHECK_EQ(port, 7443);
  CHECK_EQ(ed_parse_hostport(host, sizeof(host), &port, "[::1]:0"), 0);
  CHECK_STR(host, "::1");
  CHECK_EQ(port, 0);
  CHECK_EQ(ed_parse_hostport(host, sizeof(host), &port, "localhost:65535"), 0);
  CHECK_STR(host, "localhost");
  CHECK_EQ(port, 65535);
  CHECK_EQ(ed_parse_hostport(host, sizeof(host), &port, "[fe80::1%eth0]:9"), 0);
  CHECK_STR(host, "fe80::1%eth0");
  CHECK_EQ(ed_parse_hostport(host, sizeof(host), &port, "h:65536"), ED_E_INVAL);
  CHECK_EQ(ed_parse_hostport(host, sizeof(host), &port, "h"), ED_E_INVAL);
  CHECK_EQ(ed_parse_hostport(host, sizeof(host), &port, "h:"), ED_E_INVAL);
  CHECK_EQ(ed_parse_hostport(host, sizeof(host), &port, ":80"), ED_E_INVAL);
  CHECK_EQ(ed_parse_hostport(host, sizeof(host), &port, "[::1]"), ED_E_INVAL);
  CHECK_EQ(ed_parse_hostport(host, sizeof(host), &port, "[::1:80"), ED_E_INVAL);
  CHECK_EQ(ed_parse_hostport(host, sizeof(host), &port, "::1:80"), ED_E_INVAL);
  CHECK_EQ(ed_parse_hostport(host, sizeof(host), &port, "h:-1"), ED_E_INVAL);
  CHECK_EQ(ed_parse_hostport(host, 4, &port, "longhost:1"), ED_E_INVAL);
}

/* test_log_format: --log-format from every layer, its default, a bad
 * value, and --print-config. */
static void test_log_format(void) {
  char path[600];
  clear_env();
  struct ed_config *cfg = load(NULL);
  if (cfg) CHECK_EQ(cfg->log_format, ED_LOG_LOGFMT);
  ed_config_free(cfg);
  cfg = load("--log-format", "json", NULL);
  if (cfg) {
    CHECK_EQ(cfg->log_format, ED_LOG_JSON);
    char *j = ed_config_to_json(cfg);
    CHECK(j && strstr(j, "\"log_format\":\t\"json\"") != NULL);
    free(j);
  }
  ed_config_free(cfg);
  setenv("ECHOD_LOG_FORMAT", "json", 1);
  cfg = load("--log-format=logfmt", NULL);
  if (cfg) CHECK_EQ(cfg->log_format, ED_LOG_LOGFMT); /* flag > env */
  ed_config_free(cfg);
  clear_env();
  path_in_tmp(path, sizeof(path), "logfmt.json");
  write_file(path, "{\"log_format\": \"json\"}");
  cfg = load("--config", path, NULL);
  if (cfg) CHECK_EQ(cfg->log_format, ED_LOG_JSON);
  ed_config_free(cfg);
  expect_err("--log-format", "logfmt or json", "--log-format=xml", NULL, NULL);
  expect_err("--log-format needs a value", NULL, "--log-format", NULL, NULL);
}

int main(void) {
  const char *t = getenv("TEST_TMPDIR");
  snprintf(tmpdir, sizeof(tmpdir), "%s/config_test.XXXXXX", t ? t : "/tmp");
  if (!mkdtemp(tmpdir)) return 2;
  RUN(test_defaults);
  RUN(test_flags);
  RUN(test_units);
  RUN(test_switches);
  RUN(test_errors);
  RUN(test_revocation_options);
  RUN(test_overflow_and_addresses);
  RUN(test_env);
  RUN(test_knobs);
  RUN(test_file);
  RUN(test_file_limits);
  RUN(test_roundtrip);
  RUN(test_durations_printed);
  RUN(test_relative_paths);
  RUN(test_hostport);
  RUN(test_metrics_listen_forms);
  RUN(test_log_format);
  return TEST_RESULT();
}

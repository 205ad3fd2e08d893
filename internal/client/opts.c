/* internal/client — flags and --help (see client.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/client/client.h"
#include "internal/config/config.h"

const char *ed_client_usage(void) {
  return "usage: echo-client [flags]\n"
         "\n"
         "Connects to an echod server over mutual TLS. On a terminal it "
         "prompts\n"
         "for lines and prints their echo (quit or Ctrl-D ends); otherwise "
         "it\n"
         "streams stdin to the server and the echo to stdout, byte for "
         "byte.\n"
         "With no flags it uses the dev certificates the server created in\n"
         "<state dir>/pki (ca.pem, dev-client.pem, dev-client.key), or in\n"
         "the packaged service's, " ED_SERVICE_STATE_DIR
         "/pki, when the state dir\n"
         "holds no CA and $ECHOD_STATE_DIR is unset. Relative\n"
         "paths are relative to the directory the command runs in (under\n"
         "`bazel run`, the one it was typed in).\n"
         "\n"
         "  --connect HOST:PORT   server address (default 127.0.0.1:7443)\n"
         "  --ca FILE             CA that signed the server's certificate\n"
         "  --cert FILE           this client's certificate\n"
         "  --key FILE            its private key\n"
         "  --servername NAME     name (or IP) the server certificate must "
         "carry\n"
         "                        (default: the host of --connect)\n"
         "  --tls-min 1.2|1.3     lowest TLS version offered (default 1.3)\n"
         "  --quiet               no banner, prompt or handshake line\n"
         "  --sess-out FILE       save the TLS session the server issues\n"
         "  --sess-in FILE        resume the TLS session saved in FILE\n"
         "  --timeout SECONDS     connect/handshake and stall limit "
         "(default 10)\n"
         "  --interactive, --pipe force a mode (default: by stdin)\n"
         "  --help                this text\n"
         "  --version             print the version\n"
         "\n"
         "Exit status: 0 every byte echoed and the session closed cleanly, 1\n"
         "a failure (one sentence on stderr says what to do), 2 usage.\n";
}

void ed_client_opts_cleanup(struct ed_client_opts *o) {
  free(o->connect);
  free(o->ca);
  free(o->cert);
  free(o->key);
  free(o->servername);
  free(o->sess_in);
  free(o->sess_out);
  memset(o, 0, sizeof(*o));
}

static char **str_field(struct ed_client_opts *o, const char *name) {
  if (strcmp(name, "connect") == 0) return &o->connect;
  if (strcmp(name, "ca") == 0) return &o->ca;
  if (strcmp(name, "cert") == 0) return &o->cert;
  if (strcmp(name, "key") == 0) return &o->key;
  if (strcmp(name, "servername") == 0) return &o->servername;
  if (strcmp(name, "sess-in") == 0) return &o->sess_in;
  if (strcmp(name, "sess-out") == 0) return &o->sess_out;
  return NULL;
}

static int usage_err(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int usage_err(char *err, size_t err_len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (err && err_len) vsnprintf(err, err_len, fmt, ap);
  va_end(ap);
  return ED_E_USAGE;
}

/* is_path_flag: the flag names a file, resolved like every tool's paths
 * (ed_path_resolve: $BUILD_WORKING_DIRECTORY under `bazel run`). */
static int is_path_flag(const char *name) {
  return strcmp(name, "ca") == 0 || strcmp(name, "cert") == 0 ||
         strcmp(name, "key") == 0 || strcmp(name, "sess-in") == 0 ||
         strcmp(name, "sess-out") == 0;
}

/* set_value applies flag |name| (without "--") = |v|. */
static int set_value(struct ed_client_opts *o, const char *name, const char *v,
                     char *err, size_t err_len) {
  char host[256];
  uint16_t port;
  char **f = str_field(o, name);
  if (*v == '\0') return usage_err(err, err_len, "--%s: empty value", name);
  if (f) {
    if (strcmp(name, "connect") == 0 &&
        (ed_parse_hostport(host, sizeof(host), &port, v) != 0 || port == 0))
      return usage_err(err, err_len,
                       "--connect: \"%s\" is not host:port or [v6]:port", v);
    free(*f);
    *f = is_path_flag(name) ? ed_path_resolve(NULL, v) : ed_strdup(v);
  } else if (strcmp(name, "tls-min") == 0) {
    if (strcmp(v, "1.2") == 0) {
      o->tls_min = 0x0303;
    } else if (strcmp(v, "1.3") == 0) {
      o->tls_min = 0x0304;
    } else {
      return usage_err(err, err_len,
                       "--tls-min: \"%s\" unknown TLS version (use 1.2 or 1.3)",
                       v);
    }
  } else {
    char *end;
    long s = strtol(v, &end, 10);
    if (*end || s <= 0 || s > 3600)
      return usage_err(err, err_len, "--timeout: \"%s\" is not 1-3600 seconds",
                       v);
    o->timeout_ms = (uint32_t)s * 1000;
  }
  return 0;
}

static int set_switch(struct ed_client_opts *o, const char *name) {
  if (strcmp(name, "help") == 0) {
    o->help = 1;
  } else if (strcmp(name, "version") == 0) {
    o->version = 1;
  } else if (strcmp(name, "quiet") == 0) {
    o->quiet = 1;
  } else if (strcmp(name, "interactive") == 0) {
    o->mode = ED_CLIENT_MODE_INTERACTIVE;
  } else if (strcmp(name, "pipe") == 0) {
    o->mode = ED_CLIENT_MODE_PIPE;
  } else {
    return -1;
  }
  return 0;
}

int ed_client_opts_parse(struct ed_client_opts *out, int argc, char **argv,
                         char *err, size_t err_len) {
  memset(out, 0, sizeof(*out));
  out->tls_min = 0x0304;
  out->timeout_ms = 10000;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    char name[32];
    if (strcmp(a, "-h") == 0) a = "--help";
    if (strncmp(a, "--", 2) != 0)
      return usage_err(err, err_len, "unexpected argument \"%s\" (see --help)",
                       a);
    const char *eq = strchr(a + 2, '=');
    size_t n = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
    snprintf(name, sizeof(name), "%.*s", (int)n, a + 2);
    int takes_value = str_field(out, name) || strcmp(name, "tls-min") == 0 ||
                      strcmp(name, "timeout") == 0;
    if (!takes_value) {
      if (eq || set_switch(out, name) != 0)
        return usage_err(err, err_len, "unknown flag %s (see --help)", a);
      continue;
    }
    const char *v = eq ? eq + 1 : NULL;
    if (!v) {
      if (i + 1 >= argc)
        return usage_err(err, err_len, "--%s needs a value", name);
      v = argv[++i];
    }
    int rc = set_value(out, name, v, err, err_len);
    if (rc) return rc;
  }
  if (!out->connect) out->connect = ed_strdup(ED_CLIENT_DEFAULT_CONNECT);
  return 0;
}

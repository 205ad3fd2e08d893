/* echo-pki (//cmd:pki) — echod's certificate authority on the command
 * line. Parses flags, calls //pki, prints. Exit status: 0 success, 1
 * failure, 2 usage error (a bad command line, including malformed names,
 * IPs, days or reasons). Every error is one line on stderr. */
#include <ctype.h>
#include <openssl/mem.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal/base/base.h"
#include "internal/tls/tls.h"
#include "internal/version/version.h"
#include "pki/pki.h"

enum { EXIT_FAIL = 1, EXIT_USAGE = 2 };

/* Options; a command accepts those in its mask. */
enum {
  O_DIR = 1 << 0,
  O_HELP = 1 << 1,
  O_KEY_TYPE = 1 << 2,
  O_CN = 1 << 3,
  O_DAYS = 1 << 4,
  O_CRL_DAYS = 1 << 5,
  O_FORCE = 1 << 6,
  O_DNS = 1 << 7,
  O_IP = 1 << 8,
  O_URI = 1 << 9,
  O_EMAIL = 1 << 10,
  O_REPLACE = 1 << 11,
  O_REASON = 1 << 12,
  O_JSON = 1 << 13,
  O_VERSION = 1 << 14,
  O_OUT = 1 << 15,
  O_ROTATE = 1 << 16,
  O_KEEP = 1 << 17,
  O_IF_DUE = 1 << 18,
};

static const struct {
  const char *name;
  unsigned bit;
  int has_arg;
} opts_table[] = {
    {"dir", O_DIR, 1},       {"help", O_HELP, 0},   {"key-type", O_KEY_TYPE, 1},
    {"cn", O_CN, 1},         {"days", O_DAYS, 1},   {"crl-days", O_CRL_DAYS, 1},
    {"force", O_FORCE, 0},   {"dns", O_DNS, 1},     {"ip", O_IP, 1},
    {"uri", O_URI, 1},       {"email", O_EMAIL, 1}, {"replace", O_REPLACE, 0},
    {"reason", O_REASON, 1}, {"json", O_JSON, 0},   {"out", O_OUT, 1},
    {"rotate", O_ROTATE, 0}, {"keep", O_KEEP, 1},   {"if-due", O_IF_DUE, 0},
};

struct list {
  const char **v;
  size_t n;
};

struct args {
  const char *cmd;
  unsigned seen;
  const char *dir, *key_type, *cn, *days, *crl_days, *reason, *out, *keep;
  struct list dns, ips, uris, emails, pos;
};

struct command {
  const char *name;
  unsigned opts;
  int (*run)(struct args *a);
  const char *usage;
};

static int usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("echo-pki: error: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputs(" (see echo-pki --help)\n", stderr);
  va_end(ap);
  return EXIT_USAGE;
}

/* fail prints a library error; ED_E_INVAL means the input was bad. */
static int fail(int rc, const char *msg) {
  fprintf(stderr, "echo-pki: error: %s\n", msg && *msg ? msg : ed_strerror(rc));
  return rc == ED_E_INVAL || rc == ED_E_USAGE ? EXIT_USAGE : EXIT_FAIL;
}

static void store(struct args *a, unsigned bit, const char *v) {
  switch (bit) {
    case O_DIR:
      a->dir = v;
      break;
    case O_KEY_TYPE:
      a->key_type = v;
      break;
    case O_CN:
      a->cn = v;
      break;
    case O_DAYS:
      a->days = v;
      break;
    case O_CRL_DAYS:
      a->crl_days = v;
      break;
    case O_REASON:
      a->reason = v;
      break;
    case O_OUT:
      a->out = v;
      break;
    case O_KEEP:
      a->keep = v;
      break;
    case O_DNS:
      a->dns.v[a->dns.n++] = v;
      break;
    case O_IP:
      a->ips.v[a->ips.n++] = v;
      break;
    case O_URI:
      a->uris.v[a->uris.n++] = v;
      break;
    case O_EMAIL:
      a->emails.v[a->emails.n++] = v;
      break;
    default:
      break;
  }
}

/* parse_opt handles argv[*i], an option; advances *i past its value. */
static int parse_opt(struct args *a, unsigned allowed, int argc, char **argv,
                     int *i) {
  const char *arg = argv[*i] + 2, *eq = strchr(arg, '=');
  size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
  for (size_t k = 0; k < sizeof(opts_table) / sizeof(opts_table[0]); k++) {
    if (strlen(opts_table[k].name) != len ||
        strncmp(opts_table[k].name, arg, len) != 0)
      continue;
    unsigned bit = opts_table[k].bit;
    if (!(allowed & bit)) break;
    const char *v = eq ? eq + 1 : NULL;
    if (opts_table[k].has_arg && !v) {
      if (*i + 1 >= argc)
        return usage_error("option --%s needs a value", opts_table[k].name);
      v = argv[++*i];
    } else if (!opts_table[k].has_arg && v) {
      return usage_error("option --%s takes no value", opts_table[k].name);
    }
    a->seen |= bit;
    store(a, bit, v);
    return 0;
  }
  return usage_error("unknown option \"%s\"%s%s", argv[*i],
                     a->cmd ? " for " : "", a->cmd ? a->cmd : "");
}

static int parse_args(struct args *a, unsigned allowed, int argc, char **argv,
                      int start) {
  for (int i = start; i < argc; i++) {
    const char *s = argv[i];
    int rc = 0;
    if (strcmp(s, "--") == 0) {
      while (++i < argc) a->pos.v[a->pos.n++] = argv[i];
    } else if (strcmp(s, "-h") == 0) {
      a->seen |= O_HELP;
    } else if (strncmp(s, "--", 2) == 0) {
      rc = parse_opt(a, allowed, argc, argv, &i);
    } else if (s[0] == '-' && s[1] != '\0') {
      rc = usage_error("unknown option \"%s\"", s);
    } else {
      a->pos.v[a->pos.n++] = s;
    }
    if (rc) return rc;
  }
  return 0;
}

/* parse_days reads a --days style value; 0 when not given. */
static int parse_days(int *out, const char *flag, const char *s) {
  *out = 0;
  if (!s) return 0;
  char *end = NULL;
  long v = strtol(s, &end, 10);
  if (!*s || *end || v < 1 || v > ED_PKI_MAX_DAYS)
    return usage_error("invalid %s \"%s\" (want 1-%d)", flag, s,
                       ED_PKI_MAX_DAYS);
  *out = (int)v;
  return 0;
}

static int parse_key_type(enum ed_pki_key_type *out, const char *s) {
  *out = ED_PKI_KEY_P256;
  if (s && ed_pki_key_type_parse(out, s) != 0)
    return usage_error(
        "invalid --key-type \"%s\" (want p256, p384, rsa2048, "
        "rsa3072, rsa4096 or ed25519)",
        s);
  return 0;
}

/* want_pos checks the number of positional arguments. */
static int want_pos(const struct args *a, size_t n, const char *what) {
  if (a->pos.n < n) return usage_error("%s: missing %s", a->cmd, what);
  if (a->pos.n > n)
    return usage_error("%s: unexpected argument \"%s\"", a->cmd, a->pos.v[n]);
  return 0;
}

/* open_ca opens --dir's CA; without --dir, the state directory's, or the
 * packaged service's when the user's own holds none (ed_tool_state_dir:
 * root on a packaged host issues from the CA the service trusts, not from
 * a second one; said on stderr). init always makes its CA in --dir or the
 * user's own state directory. */
static int open_ca(struct ed_pki **out, const struct args *a) {
  char err[ED_PKI_ERR_LEN], state[ED_PKI_PATH_MAX - 8], dir[ED_PKI_PATH_MAX];
  const char *d = a->dir;
  if (!d &&
      ed_tool_state_dir(state, sizeof(state), ED_SERVICE_STATE_DIR) == 1) {
    snprintf(dir, sizeof(dir), "%s/pki", state);
    fprintf(stderr,
            "echo-pki: no CA in your state directory; using the "
            "service's, %s (--dir to choose)\n",
            dir);
    d = dir;
  }
  int rc = ed_pki_open(out, d, err, sizeof(err));
  return rc ? fail(rc, err) : 0;
}

/* ---- commands ------------------------------------------------------------ */

static int cmd_init(struct args *a) {
  struct ed_pki_init_opts o = {.cn = a->cn, .force = !!(a->seen & O_FORCE)};
  int rc = want_pos(a, 0, "");
  if (!rc) rc = parse_key_type(&o.key_type, a->key_type);
  if (!rc) rc = parse_days(&o.days, "--days", a->days);
  if (!rc) rc = parse_days(&o.crl_days, "--crl-days", a->crl_days);
  if (rc) return rc;
  char err[ED_PKI_ERR_LEN], until[32];
  struct ed_pki *pki = NULL;
  struct ed_pki_cert_details *d = NULL;
  rc = ed_pki_init(&pki, a->dir, &o, err, sizeof(err));
  if (rc) return fail(rc, err);
  rc = ed_pki_show(pki, &d, "ca");
  if (rc) {
    rc = fail(rc, ed_pki_last_error(pki));
  } else {
    printf("created CA \"%s\" (%s, serial %s, valid until %s) in %s\n",
           d->subject, d->info.key_type, d->info.serial,
           ed_pki_time_str(until, sizeof(until), d->info.not_after),
           ed_pki_dir(pki));
  }
  ed_pki_cert_details_free(d);
  ed_pki_free(pki);
  return rc;
}

static int issue_opts_from(struct ed_pki_issue_opts *o, const struct args *a) {
  const char *role = a->pos.v[0];
  if (strcmp(role, "server") == 0) {
    o->role = ED_PKI_SERVER;
  } else if (strcmp(role, "client") == 0) {
    o->role = ED_PKI_CLIENT;
  } else {
    return usage_error("issue: want \"server\" or \"client\", not \"%s\"",
                       role);
  }
  char err[ED_PKI_ERR_LEN];
  o->name = a->pos.v[1];
  o->cn = a->cn;
  if (ed_pki_check_name(o->name, err, sizeof(err)) != 0)
    return fail(ED_E_INVAL, err);
  o->dns = a->dns.v, o->num_dns = a->dns.n;
  o->ips = a->ips.v, o->num_ips = a->ips.n;
  o->uris = a->uris.v, o->num_uris = a->uris.n;
  o->emails = a->emails.v, o->num_emails = a->emails.n;
  o->replace = !!(a->seen & O_REPLACE);
  int rc = parse_key_type(&o->key_type, a->key_type);
  if (!rc) rc = parse_days(&o->days, "--days", a->days);
  return rc;
}

static int cmd_issue(struct args *a) {
  if (a->pos.n < 1)
    return usage_error("issue: missing \"server\" or \"client\"");
  int rc = want_pos(a, 2, "NAME");
  struct ed_pki_issue_opts o = {0};
  if (!rc) rc = issue_opts_from(&o, a);
  struct ed_pki *pki = NULL;
  if (!rc) rc = open_ca(&pki, a);
  if (rc) return rc;
  struct ed_pki_cert_info info;
  rc = ed_pki_issue(pki, &info, &o);
  if (rc) {
    rc = fail(rc, ed_pki_last_error(pki));
  } else {
    char until[32];
    const char *dir = ed_pki_dir(pki);
    printf("issued %s certificate \"%s\" (%s, serial %s, valid until %s)\n",
           ed_pki_role_name(info.role), info.name, info.key_type, info.serial,
           ed_pki_time_str(until, sizeof(until), info.not_after));
    printf("  %s/%s.pem\n  %s/%s.key\n  %s/%s-chain.pem\n", dir, info.name, dir,
           info.name, dir, info.name);
  }
  ed_pki_free(pki);
  return rc;
}

static int cmd_revoke(struct args *a) {
  enum ed_pki_reason reason = ED_PKI_REASON_UNSPECIFIED;
  int rc = want_pos(a, 1, "NAME or SERIAL");
  if (rc) return rc;
  if (a->reason && ed_pki_reason_parse(&reason, a->reason) != 0)
    return usage_error(
        "invalid --reason \"%s\" (want unspecified, "
        "keyCompromise, cACompromise, affiliationChanged, "
        "superseded, cessationOfOperation or "
        "privilegeWithdrawn)",
        a->reason);
  struct ed_pki *pki = NULL;
  if ((rc = open_ca(&pki, a)) != 0) return rc;
  struct ed_pki_cert_info info;
  rc = ed_pki_revoke(pki, &info, a->pos.v[0], reason);
  if (rc) {
    rc = fail(rc, ed_pki_last_error(pki));
  } else {
    printf("revoked \"%s\" (serial %s, %s); wrote %s/crl.pem\n", info.name,
           info.serial, ed_pki_reason_name(info.reason), ed_pki_dir(pki));
  }
  ed_pki_free(pki);
  return rc;
}

static int cmd_crl(struct args *a) {
  int days = 0;
  int rc = want_pos(a, 0, "");
  if (!rc) rc = parse_days(&days, "--days", a->days);
  struct ed_pki *pki = NULL;
  if (!rc) rc = open_ca(&pki, a);
  if (rc) return rc;
  int64_t next = 0;
  if ((a->seen & O_IF_DUE) &&
      !ed_pki_crl_due(pki, (int64_t)time(NULL), &next)) {
    char until[32];
    printf(
        "%s/crl.pem is valid until %s: not due (over half its validity "
        "and 2 days left), not re-signed\n",
        ed_pki_dir(pki), ed_pki_time_str(until, sizeof(until), next));
    ed_pki_free(pki);
    return 0;
  }
  rc = ed_pki_crl(pki, days);
  if (rc) {
    rc = fail(rc, ed_pki_last_error(pki));
  } else {
    printf("wrote %s/crl.pem\n", ed_pki_dir(pki));
  }
  ed_pki_free(pki);
  return rc;
}

static void print_table(const struct ed_pki_cert_info *in, size_t n) {
  printf("%-24s %-6s %-32s %-20s %s\n", "NAME", "ROLE", "SERIAL", "NOT AFTER",
         "REVOKED");
  for (size_t i = 0; i < n; i++) {
    char until[32], when[32];
    printf("%-24s %-6s %-32s %-20s %s%s%s\n", in[i].name,
           ed_pki_role_name(in[i].role), in[i].serial,
           ed_pki_time_str(until, sizeof(until), in[i].not_after),
           in[i].revoked ? ed_pki_time_str(when, sizeof(when), in[i].revoked_at)
                         : "no",
           in[i].revoked ? " " : "",
           in[i].revoked ? ed_pki_reason_name(in[i].reason) : "");
  }
}

static int cmd_list(struct args *a) {
  int rc = want_pos(a, 0, "");
  struct ed_pki *pki = NULL;
  if (!rc) rc = open_ca(&pki, a);
  if (rc) return rc;
  struct ed_pki_cert_info *infos = NULL;
  size_t n = 0;
  rc = ed_pki_list(pki, &infos, &n);
  if (rc) {
    rc = fail(rc, ed_pki_last_error(pki));
  } else if (a->seen & O_JSON) {
    char *json = ed_pki_list_json(infos, n);
    printf("%s\n", json ? json : "[]");
    free(json);
  } else {
    print_table(infos, n);
  }
  free(infos);
  ed_pki_free(pki);
  return rc;
}

static void print_fingerprint(const char *hex) {
  for (size_t i = 0; hex[i] && hex[i + 1]; i += 2) {
    printf("%s%c%c", i ? ":" : "", toupper((unsigned char)hex[i]),
           toupper((unsigned char)hex[i + 1]));
  }
  printf("\n");
}

static void print_details(const struct ed_pki_cert_details *d) {
  const struct ed_pki_cert_info *in = &d->info;
  char t1[32], t2[32];
  printf("name:        %s\nrole:        %s\n", in->name,
         ed_pki_role_name(in->role));
  printf("cn:          %s\n", d->cn ? d->cn : "(none)");
  printf("subject:     %s\nissuer:      %s\n", d->subject, d->issuer);
  printf("serial:      %s\n", in->serial);
  printf("not before:  %s\nnot after:   %s\n",
         ed_pki_time_str(t1, sizeof(t1), in->not_before),
         ed_pki_time_str(t2, sizeof(t2), in->not_after));
  printf("key type:    %s\nSANs:        ", in->key_type);
  for (size_t i = 0; i < d->num_sans; i++)
    printf("%s%s", i ? ", " : "", d->sans[i]);
  printf("%s\nEKU:         ", d->num_sans ? "" : "(none)");
  for (size_t i = 0; i < d->num_ekus; i++)
    printf("%s%s", i ? ", " : "", d->ekus[i]);
  printf("%s\nsha256:      ", d->num_ekus ? "" : "(none)");
  print_fingerprint(in->sha256);
  if (in->revoked) {
    printf("revoked:     %s (%s)\n",
           ed_pki_time_str(t1, sizeof(t1), in->revoked_at),
           ed_pki_reason_name(in->reason));
  } else {
    printf("revoked:     no\n");
  }
}

static int cmd_show(struct args *a) {
  int rc = want_pos(a, 1, "NAME or SERIAL");
  struct ed_pki *pki = NULL;
  if (!rc) rc = open_ca(&pki, a);
  if (rc) return rc;
  struct ed_pki_cert_details *d = NULL;
  rc = ed_pki_show(pki, &d, a->pos.v[0]);
  if (rc) {
    rc = fail(rc, ed_pki_last_error(pki));
  } else if (a->seen & O_JSON) {
    char *json = ed_pki_details_json(d);
    printf("%s\n", json ? json : "{}");
    free(json);
  } else {
    print_details(d);
  }
  ed_pki_cert_details_free(d);
  ed_pki_free(pki);
  return rc;
}

/* ---- session-ticket keys --------------------------------------------------
 */

#define TK_HEADER                                                          \
  "# echod session-ticket keys (echo-pki ticket-keys; --ticket-keys).\n"   \
  "# The first key seals new tickets, every key opens them. Rotate with\n" \
  "# echo-pki ticket-keys --rotate; keep this file secret (mode 0600).\n"

/* read_keys loads the keys of an existing file (the server's own parser,
 * so what echo-pki accepts echod accepts). */
static int read_keys(uint8_t (*keys)[ED_TLS_TICKET_SECRET_LEN], size_t *num,
                     const char *path) {
  uint8_t *text = NULL;
  size_t len = 0;
  char err[512];
  int rc = ed_read_file(&text, &len, path, ED_TLS_TICKET_FILE_MAX);
  if (rc) {
    snprintf(err, sizeof(err), "cannot read ticket-keys file %s: %s", path,
             ed_strerror(rc));
    return fail(ED_E_IO, err);
  }
  rc = ed_tls_ticket_keys_parse(keys, num, (const char *)text, len, path, err,
                                sizeof(err));
  OPENSSL_cleanse(text, len);
  free(text);
  return rc ? fail(ED_E_IO, err) : 0;
}

/* write_keys writes |num| keys to |path| atomically, mode 0600. */
static int write_keys(const char *path,
                      uint8_t (*keys)[ED_TLS_TICKET_SECRET_LEN], size_t num) {
  char text[sizeof(TK_HEADER) +
            ED_TLS_TICKET_KEYS_MAX * (ED_TLS_TICKET_LINE_LEN + 1)];
  size_t n = (size_t)snprintf(text, sizeof(text), "%s", TK_HEADER);
  for (size_t i = 0; i < num; i++) {
    ed_tls_ticket_key_format(text + n, keys[i]);
    n += ED_TLS_TICKET_LINE_LEN;
    text[n++] = '\n';
  }
  int rc = ed_write_file_atomic(path, text, n, 0600);
  OPENSSL_cleanse(text, sizeof(text));
  if (rc) {
    char err[512];
    snprintf(err, sizeof(err), "cannot write %s: %s", path, ed_strerror(rc));
    return fail(rc, err);
  }
  return 0;
}

static int cmd_ticket_keys(struct args *a) {
  int rc = want_pos(a, 0, ""), keep = 3;
  if (rc) return rc;
  if (!a->out || !*a->out) return usage_error("ticket-keys: --out FILE needed");
  char *end = NULL;
  if (a->keep) keep = (int)strtol(a->keep, &end, 10);
  if (a->keep &&
      (!*a->keep || *end || keep < 2 || keep > ED_TLS_TICKET_KEYS_MAX))
    return usage_error("invalid --keep \"%s\" (want 2-%d)", a->keep,
                       ED_TLS_TICKET_KEYS_MAX);
  char *path = ed_path_resolve(NULL, a->out);
  uint8_t keys[ED_TLS_TICKET_KEYS_MAX + 1][ED_TLS_TICKET_SECRET_LEN];
  size_t num = 0;
  int exists = access(path, F_OK) == 0;
  if (a->seen & O_ROTATE) {
    rc = read_keys(keys + 1, &num, path);
  } else if (exists && !(a->seen & O_FORCE)) {
    char msg[600];
    snprintf(msg, sizeof(msg),
             "%s exists: --rotate adds a key to it, --force replaces it "
             "(every ticket issued so far stops resuming)",
             path);
    rc = fail(ED_E_EXIST, msg);
  }
  if (!rc) {
    RAND_bytes(keys[0], sizeof(keys[0]));
    num =
        num + 1 > (size_t)keep && (a->seen & O_ROTATE) ? (size_t)keep : num + 1;
    rc = write_keys(path, keys, num);
  }
  if (!rc)
    printf("wrote %s: %zu ticket key%s, the new one first\n", path, num,
           num == 1 ? "" : "s");
  OPENSSL_cleanse(keys, sizeof(keys));
  free(path);
  return rc;
}

/* ---- usage --------------------------------------------------------------- */

static const struct command commands[] = {
    {"init", O_DIR | O_HELP | O_KEY_TYPE | O_CN | O_DAYS | O_CRL_DAYS | O_FORCE,
     cmd_init,
     "usage: echo-pki init [--dir DIR] [--key-type TYPE] [--cn NAME]\n"
     "                     [--days N] [--crl-days N] [--force]\n"
     "Create a CA in DIR: ca.pem, ca.key (0600), an empty crl.pem and\n"
     "index.json; the directory is made 0700.\n"
     "  --key-type TYPE  p256 (default), p384, rsa2048, rsa3072, rsa4096,\n"
     "                   ed25519\n"
     "  --cn NAME        the CA's common name (default \"echod dev CA\"):\n"
     "                   1-64 printable or UTF-8 characters\n"
     "  --days N         validity (default 3650)\n"
     "  --crl-days N     CRL nextUpdate after thisUpdate (default 7)\n"
     "  --force          replace an existing CA (its certificates no longer\n"
     "                   verify)\n"},
    {"issue",
     O_DIR | O_HELP | O_KEY_TYPE | O_CN | O_DAYS | O_DNS | O_IP | O_URI |
         O_EMAIL | O_REPLACE,
     cmd_issue,
     "usage: echo-pki issue server|client NAME [--dir DIR] [--cn CN]\n"
     "                 [--dns NAME]... [--ip ADDR]... [--uri URI]...\n"
     "                 [--email ADDR]... [--key-type TYPE] [--days N]\n"
     "                 [--replace]\n"
     "Issue a certificate with CN=NAME and EKU serverAuth (server) or\n"
     "clientAuth (client); write NAME.pem, NAME.key (0600) and\n"
     "NAME-chain.pem (NAME.pem + ca.pem) in DIR. NAME: letters, digits,\n"
     "'.', '_', '-'; not starting with '.'.\n"
     "  --cn CN          another CN than NAME: 1-64 printable or UTF-8\n"
     "                   characters (commas, quotes, spaces are kept)\n"
     "  --dns, --ip, --uri, --email   subject alternative names (repeat);\n"
     "                   a server with no --dns and no --ip gets localhost,\n"
     "                   127.0.0.1, ::1 and this host's name. URIs and\n"
     "                   emails are printable ASCII, kept byte for byte.\n"
     "                   No name, CN or SAN may hold a control character.\n"
     "  --key-type TYPE  p256 (default), p384, rsa2048, rsa3072, rsa4096,\n"
     "                   ed25519\n"
     "  --days N         validity (default 825 server, 365 client)\n"
     "  --replace        revoke (superseded) a live certificate NAME first\n"},
    {"revoke", O_DIR | O_HELP | O_REASON, cmd_revoke,
     "usage: echo-pki revoke NAME|SERIAL [--dir DIR] [--reason REASON]\n"
     "Revoke a certificate and rewrite crl.pem.\n"
     "  --reason REASON  unspecified (default), keyCompromise, cACompromise,\n"
     "                   affiliationChanged, superseded,\n"
     "                   cessationOfOperation, privilegeWithdrawn\n"},
    {"crl", O_DIR | O_HELP | O_DAYS | O_IF_DUE, cmd_crl,
     "usage: echo-pki crl [--dir DIR] [--days N] [--if-due]\n"
     "Re-sign crl.pem with the next CRL number.\n"
     "  --days N         nextUpdate N days from now (default: as last time,\n"
     "                   7 at first)\n"
     "  --if-due         only when less than half its validity, or less\n"
     "                   than 2 days, is left (or crl.pem is unreadable);\n"
     "                   for a timer\n"},
    {"list", O_DIR | O_HELP | O_JSON, cmd_list,
     "usage: echo-pki list [--dir DIR] [--json]\n"
     "List issued certificates: name, role, serial, not-after, revoked.\n"},
    {"ticket-keys", O_HELP | O_OUT | O_ROTATE | O_KEEP | O_FORCE,
     cmd_ticket_keys,
     "usage: echo-pki ticket-keys --out FILE [--rotate [--keep N]] [--force]\n"
     "Write session-ticket keys for echod --ticket-keys, shared by every\n"
     "replica behind one balancer so a client resumes on any of them. One\n"
     "key per line, \"v1:\" and 64 hex digits; the first seals tickets,\n"
     "every one opens them. FILE is written atomically, mode 0600; a\n"
     "relative FILE is relative to the directory the command runs in.\n"
     "  --rotate         put a new key first in the existing FILE and keep\n"
     "                   the N newest (default 3)\n"
     "  --keep N         with --rotate: keys kept, 2-16\n"
     "  --force          replace an existing FILE with one new key (tickets\n"
     "                   issued so far stop resuming)\n"},
    {"show", O_DIR | O_HELP | O_JSON, cmd_show,
     "usage: echo-pki show NAME|SERIAL|ca [--dir DIR] [--json]\n"
     "Show a certificate: CN (exactly), subject, issuer, SANs, EKU,\n"
     "validity, serial, SHA-256 fingerprint, revocation.\n"},
};

static void print_usage(FILE *f) {
  char dir[ED_PKI_PATH_MAX];
  if (ed_pki_default_dir(dir, sizeof(dir)) != 0) snprintf(dir, 4, "?");
  fprintf(f,
          "usage: echo-pki [--dir DIR] COMMAND [ARGS]\n"
          "       echo-pki --help | --version\n"
          "echod's certificate authority. It lives in DIR (default %s,\n"
          "from $ECHOD_STATE_DIR, $XDG_STATE_HOME or $HOME; when that holds\n"
          "no CA and $ECHOD_STATE_DIR is unset, every command but init uses\n"
          "the packaged service's, " ED_SERVICE_STATE_DIR
          "/pki, if readable);\n"
          "a relative DIR is relative to the directory the command runs in\n"
          "(the one `bazel run` was typed in).\n\n"
          "commands:\n"
          "  init                      create a CA\n"
          "  issue server|client NAME  issue a certificate\n"
          "  revoke NAME|SERIAL        revoke one and rewrite crl.pem\n"
          "  crl                       re-sign crl.pem\n"
          "  list                      list issued certificates\n"
          "  show NAME|SERIAL|ca       show one certificate\n"
          "  ticket-keys --out FILE    session-ticket keys for replicas\n\n"
          "`echo-pki COMMAND --help` shows a command's options. Exit status:\n"
          "0 ok, 1 failure, 2 usage error.\n",
          dir);
}

int main(int argc, char **argv) {
  struct args a = {0};
  struct list *lists[] = {&a.dns, &a.ips, &a.uris, &a.emails, &a.pos};
  for (size_t i = 0; i < 5; i++)
    lists[i]->v = ed_calloc((size_t)argc + 1, sizeof(char *));
  int i = 1, rc = 0;
  /* Global options before the command. */
  for (; i < argc && argv[i][0] == '-' && !rc; i++) {
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      a.seen |= O_HELP;
    } else if (strcmp(argv[i], "--version") == 0) {
      a.seen |= O_VERSION;
    } else if (strncmp(argv[i], "--dir", 5) == 0 &&
               (argv[i][5] == '\0' || argv[i][5] == '=')) {
      rc = parse_opt(&a, O_DIR, argc, argv, &i);
    } else {
      rc = usage_error("unknown option \"%s\"", argv[i]);
    }
  }
  const struct command *c = NULL;
  if (!rc && i < argc) {
    for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++) {
      if (strcmp(argv[i], commands[k].name) == 0) c = &commands[k];
    }
    if (!c) rc = usage_error("unknown command \"%s\"", argv[i]);
  }
  if (!rc && !c && (a.seen & O_HELP)) {
    print_usage(stdout);
  } else if (!rc && (a.seen & O_VERSION)) {
    char line[256];
    printf("%s\n", ed_version_line(line, sizeof(line), ED_TOOL_PKI));
  } else if (!rc && !c) {
    rc = usage_error("missing command");
  } else if (!rc) {
    a.cmd = c->name;
    rc = parse_args(&a, c->opts, argc, argv, i + 1);
    if (!rc && a.dir && !*a.dir) rc = usage_error("empty --dir");
    if (!rc && (a.seen & O_HELP)) {
      fputs(c->usage, stdout);
    } else if (!rc) {
      rc = c->run(&a);
    }
  }
  for (size_t k = 0; k < 5; k++) free(lists[k]->v);
  return rc;
}

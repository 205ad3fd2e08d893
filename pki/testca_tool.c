/* testca_tool — testca.h from the command line, for end-to-end tests in
 * shell or Python. Usage in testca.h. Test-only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/base/base.h"
#include "pki/testca.h"

#define USAGE                                                                  \
  "usage: testca_tool --dir D init [--key-type T]\n"                           \
  "       testca_tool --dir D issue NAME [--kind good|expired|"                \
  "not-yet-valid|wrong-eku|rogue-ca]\n"                                        \
  "              [--server] [--cn CN] [--dns N]... [--ip A]... [--uri U]...\n" \
  "              [--email E]... [--key-type T] [--days N]\n"                   \
  "       testca_tool --dir D revoke NAME\n"                                   \
  "       testca_tool --dir D crl --out PATH [--serial HEX]... [--days N]\n"

struct tool_args {
  const char *dir, *cmd, *name, *kind, *cn, *key_type, *out, *days;
  int server;
  const char **dns, **ips, **uris, **emails, **serials;
  size_t num_dns, num_ips, num_uris, num_emails, num_serials;
};

static int usage(const char *why, const char *arg) {
  fprintf(stderr, "testca_tool: error: %s%s%s\n%s", why, arg ? " " : "",
          arg ? arg : "", USAGE);
  return 2;
}

/* take_value returns the value of option argv[*i] and advances *i. */
static const char *take_value(int argc, char **argv, int *i) {
  return *i + 1 < argc ? argv[++*i] : NULL;
}

static int parse_one(struct tool_args *a, int argc, char **argv, int *i) {
  const char *s = argv[*i];
  const char **str = NULL;
  const char ***list = NULL;
  size_t *num = NULL;
  if (strcmp(s, "--server") == 0) return a->server = 1, 0;
  if (strcmp(s, "--dir") == 0) str = &a->dir;
  if (strcmp(s, "--kind") == 0) str = &a->kind;
  if (strcmp(s, "--cn") == 0) str = &a->cn;
  if (strcmp(s, "--key-type") == 0) str = &a->key_type;
  if (strcmp(s, "--out") == 0) str = &a->out;
  if (strcmp(s, "--days") == 0) str = &a->days;
  if (strcmp(s, "--dns") == 0) list = &a->dns, num = &a->num_dns;
  if (strcmp(s, "--ip") == 0) list = &a->ips, num = &a->num_ips;
  if (strcmp(s, "--uri") == 0) list = &a->uris, num = &a->num_uris;
  if (strcmp(s, "--email") == 0) list = &a->emails, num = &a->num_emails;
  if (strcmp(s, "--serial") == 0) list = &a->serials, num = &a->num_serials;
  if (!str && !list) return usage("unknown option", s);
  const char *v = take_value(argc, argv, i);
  if (!v) return usage("missing value for", s);
  if (str) *str = v;
  if (list) (*list)[(*num)++] = v;
  return 0;
}

static int parse(struct tool_args *a, int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (strncmp(argv[i], "--", 2) == 0) {
      int rc = parse_one(a, argc, argv, &i);
      if (rc) return rc;
    } else if (!a->cmd) {
      a->cmd = argv[i];
    } else if (!a->name) {
      a->name = argv[i];
    } else {
      return usage("unexpected argument", argv[i]);
    }
  }
  if (!a->dir) return usage("missing --dir", NULL);
  if (!a->cmd) return usage("missing command", NULL);
  return 0;
}

static int run_issue(struct ed_testca *ca, const struct tool_args *a) {
  struct ed_testca_opts o = {
      .role = a->server ? ED_PKI_SERVER : ED_PKI_CLIENT,
      .cn = a->cn,
      .days = a->days ? atoi(a->days) : 0,
      .dns = a->dns,
      .num_dns = a->num_dns,
      .ips = a->ips,
      .num_ips = a->num_ips,
      .uris = a->uris,
      .num_uris = a->num_uris,
      .emails = a->emails,
      .num_emails = a->num_emails,
  };
  enum ed_testca_kind kind = ED_TESTCA_GOOD;
  if (!a->name) return usage("missing NAME", NULL);
  if (a->kind && ed_testca_kind_parse(&kind, a->kind) != 0)
    return usage("invalid --kind", a->kind);
  if (a->key_type && ed_pki_key_type_parse(&o.key_type, a->key_type) != 0)
    return usage("invalid --key-type", a->key_type);
  struct ed_pki_cert_info info;
  if (ed_testca_issue(ca, &info, a->name, kind, &o) != 0) return 1;
  printf("%s\n", info.serial);
  return 0;
}

static int run(struct ed_testca *ca, const struct tool_args *a) {
  if (strcmp(a->cmd, "init") == 0) return 0; /* ed_testca_new did it */
  if (strcmp(a->cmd, "issue") == 0) return run_issue(ca, a);
  if (strcmp(a->cmd, "revoke") == 0) {
    if (!a->name) return usage("missing NAME", NULL);
    return ed_testca_revoke(ca, a->name) ? 1 : 0;
  }
  if (strcmp(a->cmd, "crl") == 0) {
    if (!a->out) return usage("missing --out", NULL);
    int days = a->days ? atoi(a->days) : 0;
    return ed_testca_write_crl(ca, a->out, a->serials, a->num_serials, days)
               ? 1
               : 0;
  }
  return usage("unknown command", a->cmd);
}

int main(int argc, char **argv) {
  struct tool_args a = {0};
  const char ***lists[] = {&a.dns, &a.ips, &a.uris, &a.emails, &a.serials};
  for (size_t i = 0; i < 5; i++)
    *lists[i] = ed_calloc((size_t)argc, sizeof(char *));
  int rc = parse(&a, argc, argv);
  enum ed_pki_key_type kt = ED_PKI_KEY_P256;
  if (!rc && strcmp(a.cmd, "init") == 0 && a.key_type &&
      ed_pki_key_type_parse(&kt, a.key_type) != 0)
    rc = usage("invalid --key-type", a.key_type);
  struct ed_testca *ca = rc ? NULL : ed_testca_new_key_type(a.dir, kt);
  if (!rc && !ca) rc = 1;
  if (!rc) {
    rc = run(ca, &a);
    if (rc == 1)
      fprintf(stderr, "testca_tool: error: %s\n", ed_testca_last_error(ca));
  }
  ed_testca_free(ca);
  for (size_t i = 0; i < 5; i++) free(*lists[i]);
  return rc;
}

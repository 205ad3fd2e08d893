/* internal/version — who each echod tool is and how to start it.
 *
 * tool.h (library //internal/version:tool) names the five tools and writes
 * the command that starts one of them the way the current process was
 * started, for hints such as "start it with: echod". version.h (library
 * //internal/version, stamped at build time) adds `--version`. The split
 * keeps the stamp out of every library that only needs a tool's name. */
#ifndef ED_VERSION_TOOL_H
#define ED_VERSION_TOOL_H

#include <stddef.h>

/* The release, shared by the five tools (`<tool> --version` prints it as
 * the second word of its first line) and the admin "version" command. */
#define ED_VERSION "0.1.0"

enum ed_tool {
  ED_TOOL_SERVER = 0, /* echod,       bazel run //cmd:server */
  ED_TOOL_CLIENT,     /* echo-client, bazel run //cmd:client */
  ED_TOOL_ECHOCTL,    /* echoctl,     bazel run //cmd:echoctl */
  ED_TOOL_PKI,        /* echo-pki,    bazel run //cmd:pki */
  ED_TOOL_BENCH,      /* echo-bench,  bazel run //cmd:bench */
};

/* ed_tool_name returns the installed name of |t| ("echo-client"), which
 * usage lines and messages use. The string is static. */
const char *ed_tool_name(enum ed_tool t);

/* ed_tool_under_bazel returns 1 when this process was started by `bazel
 * run` ($BUILD_WORKSPACE_DIRECTORY is set), 0 otherwise. */
int ed_tool_under_bazel(void);

/* ed_tool_cmd writes into |out| (|out_len| bytes, always NUL-terminated)
 * the command that starts |t| the way this process was started: under
 * `bazel run` "bazel run //cmd:client", followed by " --" when
 * |with_args| (arguments follow); otherwise the installed name
 * ("echo-client"). Returns |out|. */
char *ed_tool_cmd(char *out, size_t out_len, enum ed_tool t, int with_args);

/* The address echo-client dials when --connect is not given. */
#define ED_TOOL_DEFAULT_CONNECT "127.0.0.1:7443"

/* ed_tool_connect_addr writes the address a client on this host dials to
 * reach a listener bound to |listen| ("host:port" or "[v6]:port"): a
 * wildcard host becomes loopback ("0.0.0.0:7443" -> "127.0.0.1:7443",
 * "[::]:7443" -> "[::1]:7443"), which the dev server certificate names;
 * anything else is copied. Returns |out| (always NUL-terminated). */
char *ed_tool_connect_addr(char *out, size_t out_len, const char *listen);

/* ed_tool_client_hint writes the command that connects echo-client (as
 * ed_tool_cmd starts it) to a server listening on |listen|.
 * With |flags| NULL it is the shortest one that works: " --connect ADDR"
 * only when ADDR is not ED_TOOL_DEFAULT_CONNECT, and an
 * "ECHOD_STATE_DIR=DIR " prefix only when |state_dir| is not the state
 * directory the client finds by itself (ed_state_dir). With |flags| it is
 * "<client> --connect ADDR <flags>" (explicit credentials need no state
 * directory). Returns |out| (always NUL-terminated). */
char *ed_tool_client_hint(char *out, size_t out_len, const char *listen,
                          const char *state_dir, const char *flags);

#endif /* ED_VERSION_TOOL_H */

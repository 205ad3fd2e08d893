/* internal/version — tool names and how to start them (see tool.h). */
#include "internal/version/tool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal/base/base.h"

static const struct {
  const char *installed;
  const char *target;
} tools[] = {
    [ED_TOOL_SERVER] = {"echod", "server"},
    [ED_TOOL_CLIENT] = {"echo-client", "client"},
    [ED_TOOL_ECHOCTL] = {"echoctl", "echoctl"},
    [ED_TOOL_PKI] = {"echo-pki", "pki"},
    [ED_TOOL_BENCH] = {"echo-bench", "bench"},
};

#define NUM_TOOLS (sizeof(tools) / sizeof(tools[0]))

const char *ed_tool_name(enum ed_tool t) {
  return (size_t)t < NUM_TOOLS ? tools[t].installed : "echod";
}

int ed_tool_under_bazel(void) {
  const char *w = getenv("BUILD_WORKSPACE_DIRECTORY");
  return w && *w;
}

char *ed_tool_cmd(char *out, size_t out_len, enum ed_tool t, int with_args) {
  if (out_len == 0) return out;
  if ((size_t)t >= NUM_TOOLS) t = ED_TOOL_SERVER;
  if (ed_tool_under_bazel()) {
    snprintf(out, out_len, "bazel run //cmd:%s%s", tools[t].target,
             with_args ? " --" : "");
  } else {
    snprintf(out, out_len, "%s", tools[t].installed);
  }
  return out;
}

char *ed_tool_connect_addr(char *out, size_t out_len, const char *listen) {
  if (out_len == 0) return out;
  const char *colon = listen ? strrchr(listen, ':') : NULL;
  if (!colon) {
    snprintf(out, out_len, "%s", listen ? listen : "");
  } else if (strncmp(listen, "0.0.0.0:", 8) == 0 ||
             strncmp(listen, "*:", 2) == 0) {
    snprintf(out, out_len, "127.0.0.1%s", colon);
  } else if (strncmp(listen, "[::]:", 5) == 0) {
    snprintf(out, out_len, "[::1]%s", colon);
  } else {
    snprintf(out, out_len, "%s", listen);
  }
  return out;
}

/* shell_safe returns 1 if |s| needs no quoting in a shell command. */
static int shell_safe(const char *s) {
  return *s && strspn(s,
                      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                      "0123456789/._-+:@%,=") == strlen(s);
}

/* state_prefix writes "ECHOD_STATE_DIR=DIR " when a client started from
 * another shell would not find |state_dir| by itself (the server's own
 * $ECHOD_STATE_DIR is not that shell's), else "": the user's default, or
 * the packaged service's (ed_tool_state_dir), which the image's or the
 * unit's environment names already. */
static void state_prefix(char *out, size_t out_len, const char *state_dir) {
  char own[4096];
  out[0] = '\0';
  if (!state_dir || strcmp(state_dir, ED_SERVICE_STATE_DIR) == 0 ||
      (ed_state_dir_unset(own, sizeof(own)) == 0 &&
       strcmp(own, state_dir) == 0))
    return;
  const char *q = shell_safe(state_dir) ? "" : "'";
  if (!*q || !strchr(state_dir, '\''))
    snprintf(out, out_len, "ECHOD_STATE_DIR=%s%s%s ", q, state_dir, q);
}

char *ed_tool_client_hint(char *out, size_t out_len, const char *listen,
                          const char *state_dir, const char *flags) {
  char addr[300], tool[64], env[4200];
  if (out_len == 0) return out;
  ed_tool_connect_addr(addr, sizeof(addr), listen);
  int dflt = !flags && strcmp(addr, ED_TOOL_DEFAULT_CONNECT) == 0;
  ed_tool_cmd(tool, sizeof(tool), ED_TOOL_CLIENT, !dflt);
  if (flags) {
    snprintf(out, out_len, "%s --connect %s %s", tool, addr, flags);
    return out;
  }
  state_prefix(env, sizeof(env), state_dir);
  snprintf(out, out_len, "%s%s%s%s", env, tool, dflt ? "" : " --connect ",
           dflt ? "" : addr);
  return out;
}

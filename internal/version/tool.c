/* internal/version — tool names and how to start them (see tool.h). */
#include "internal/version/tool.h"

#include <stdio.h>
#include <stdlib.h>

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

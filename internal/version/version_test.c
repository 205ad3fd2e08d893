/* Unit tests for internal/version: installed names, the hint commands
 * under `bazel run` and installed, and the --version line's shape. */
#include "internal/version/version.h"

#include <stdlib.h>
#include <string.h>

#include "internal/testing/testing.h"
#include "internal/version/tool.h"

static void test_names(void) {
  CHECK_STR(ed_tool_name(ED_TOOL_SERVER), "echod");
  CHECK_STR(ed_tool_name(ED_TOOL_CLIENT), "echo-client");
  CHECK_STR(ed_tool_name(ED_TOOL_ECHOCTL), "echoctl");
  CHECK_STR(ed_tool_name(ED_TOOL_PKI), "echo-pki");
  CHECK_STR(ed_tool_name(ED_TOOL_BENCH), "echo-bench");
}

static void test_cmd(void) {
  char b[64];
  unsetenv("BUILD_WORKSPACE_DIRECTORY");
  CHECK_EQ(ed_tool_under_bazel(), 0);
  CHECK_STR(ed_tool_cmd(b, sizeof(b), ED_TOOL_CLIENT, 1), "echo-client");
  CHECK_STR(ed_tool_cmd(b, sizeof(b), ED_TOOL_SERVER, 0), "echod");
  setenv("BUILD_WORKSPACE_DIRECTORY", "", 1); /* empty: not bazel run */
  CHECK_STR(ed_tool_cmd(b, sizeof(b), ED_TOOL_PKI, 1), "echo-pki");
  setenv("BUILD_WORKSPACE_DIRECTORY", "/src/echod", 1);
  CHECK_EQ(ed_tool_under_bazel(), 1);
  CHECK_STR(ed_tool_cmd(b, sizeof(b), ED_TOOL_CLIENT, 1),
            "bazel run //cmd:client --");
  CHECK_STR(ed_tool_cmd(b, sizeof(b), ED_TOOL_SERVER, 0),
            "bazel run //cmd:server");
  CHECK_STR(ed_tool_cmd(b, sizeof(b), ED_TOOL_BENCH, 0),
            "bazel run //cmd:bench");
  CHECK_STR(ed_tool_cmd(b, 10, ED_TOOL_ECHOCTL, 1), "bazel run"); /* cut */
  unsetenv("BUILD_WORKSPACE_DIRECTORY");
}

static void test_client_hint(void) {
  char b[512];
  unsetenv("BUILD_WORKSPACE_DIRECTORY");
  setenv("ECHOD_STATE_DIR", "/var/lib/echod", 1);
  CHECK_STR(ed_tool_connect_addr(b, sizeof(b), "0.0.0.0:7443"),
            "127.0.0.1:7443");
  CHECK_STR(ed_tool_connect_addr(b, sizeof(b), "[::]:9"), "[::1]:9");
  CHECK_STR(ed_tool_connect_addr(b, sizeof(b), "10.0.0.5:7443"),
            "10.0.0.5:7443");
  /* The defaults: no flags needed. */
  CHECK_STR(ed_tool_client_hint(b, sizeof(b), "127.0.0.1:7443",
                                "/var/lib/echod", NULL),
            "echo-client");
  CHECK_STR(ed_tool_client_hint(b, sizeof(b), "0.0.0.0:7443", NULL, NULL),
            "echo-client");
  /* Another port, another state directory. */
  CHECK_STR(ed_tool_client_hint(b, sizeof(b), "127.0.0.1:8443",
                                "/var/lib/echod", NULL),
            "echo-client --connect 127.0.0.1:8443");
  CHECK_STR(
      ed_tool_client_hint(b, sizeof(b), "[::1]:7443", "/srv/my state", NULL),
      "ECHOD_STATE_DIR='/srv/my state' echo-client --connect [::1]:7443");
  CHECK_STR(ed_tool_client_hint(b, sizeof(b), "[::]:7443", "/var/lib/echod",
                                "--ca c --cert d --key e"),
            "echo-client --connect [::1]:7443 --ca c --cert d --key e");
  /* A state directory the server found in its own environment: another
   * shell does not have it. */
  setenv("ECHOD_STATE_DIR", "/tmp/mine", 1);
  CHECK_STR(
      ed_tool_client_hint(b, sizeof(b), "127.0.0.1:7443", "/tmp/mine", NULL),
      "ECHOD_STATE_DIR=/tmp/mine echo-client");
  setenv("ECHOD_STATE_DIR", "/var/lib/echod", 1);
  setenv("BUILD_WORKSPACE_DIRECTORY", "/src", 1);
  CHECK_STR(ed_tool_client_hint(b, sizeof(b), "127.0.0.1:7443",
                                "/var/lib/echod", NULL),
            "bazel run //cmd:client");
  CHECK_STR(ed_tool_client_hint(b, sizeof(b), "127.0.0.1:9443",
                                "/var/lib/echod", NULL),
            "bazel run //cmd:client -- --connect 127.0.0.1:9443");
  unsetenv("BUILD_WORKSPACE_DIRECTORY");
  unsetenv("ECHOD_STATE_DIR");
}

static void test_version_line(void) {
  char b[128];
  const char *commit = ed_version_commit();
  CHECK(strcmp(commit, "unknown") == 0 ||
        (strlen(commit) >= 4 &&
         strspn(commit, "0123456789abcdef") == strlen(commit)));
  ed_version_line(b, sizeof(b), ED_TOOL_ECHOCTL);
  const char *want = "echoctl " ED_VERSION " (commit ";
  CHECK(strncmp(b, want, strlen(want)) == 0);
  CHECK(strstr(b, commit) != NULL);
  CHECK(strstr(b, ", BoringSSL API ") != NULL);
  CHECK(b[strlen(b) - 1] == ')');
  ed_version_line(b, sizeof(b), ED_TOOL_PKI);
  want = "echo-pki " ED_VERSION " (";
  CHECK(strncmp(b, want, strlen(want)) == 0);
}

int main(void) {
  RUN(test_names);
  RUN(test_cmd);
  RUN(test_client_hint);
  RUN(test_version_line);
  return TEST_RESULT();
}

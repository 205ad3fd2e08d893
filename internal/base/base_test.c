/* Unit tests for internal/base. */
#include "internal/base/base.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal/testing/testing.h"

static void test_errors(void) {
  CHECK_STR(ed_errname(0), "OK");
  CHECK_STR(ed_errname(ED_E_NOMEM), "NOMEM");
  CHECK_STR(ed_strerror(ED_E_TOOBIG), "too large");
  CHECK_STR(ed_errname(ED_E_SYS), "SYS");
  CHECK_STR(ed_errname(12345), "UNKNOWN");
  CHECK_STR(ed_strerror(-2), "No such file or directory"); /* -ENOENT */
  CHECK(ED_E_NOMEM < 0 && ED_E_SYS < 0);
}

static void test_buf_cap(void) {
  struct ed_buf b;
  ed_buf_init(&b, 10);
  CHECK_EQ(ed_buf_append(&b, "hello", 5), 0);
  CHECK_EQ(ed_buf_append(&b, "world", 5), 0);
  CHECK_EQ(b.len, 10);
  CHECK_EQ(ed_buf_append(&b, "!", 1), ED_E_TOOBIG);
  CHECK_EQ(b.len, 10); /* unchanged */
  CHECK_STR(ed_buf_cstr(&b), "helloworld");
  ed_buf_consume(&b, 5);
  CHECK_STR(ed_buf_cstr(&b), "world");
  CHECK_EQ(ed_buf_space(&b), 5);
  CHECK_EQ(ed_buf_printf(&b, "%d", 12345), 0);
  CHECK_STR(ed_buf_cstr(&b), "world12345");
  CHECK_EQ(ed_buf_printf(&b, "x"), ED_E_TOOBIG);
  ed_buf_reset(&b);
  CHECK_EQ(b.len, 0);
  CHECK_STR(ed_buf_cstr(&b), "");
  ed_buf_cleanup(&b);

  struct ed_buf big;
  ed_buf_init(&big, 1 << 20);
  char chunk[1000];
  memset(chunk, 'x', sizeof(chunk));
  int err = 0;
  size_t total = 0;
  while ((err = ed_buf_append(&big, chunk, sizeof(chunk))) == 0) total += 1000;
  CHECK_EQ(err, ED_E_TOOBIG);
  CHECK_EQ(total, 1048000);
  CHECK(big.alloc <= (1u << 20) + 1);
  ed_buf_cleanup(&big);
}

/* ed_buf_reserve allocates exactly what is asked (no doubling past a size
 * known in advance), keeps the data, and refuses past the cap. */
static void test_buf_reserve(void) {
  struct ed_buf b;
  ed_buf_init(&b, 20000);
  CHECK_EQ(ed_buf_append(&b, "hdr", 3), 0);
  CHECK_EQ(ed_buf_reserve(&b, 16389), 0);
  CHECK_EQ(b.alloc, 16390); /* and its NUL */
  char chunk[16386];
  memset(chunk, 'y', sizeof(chunk));
  CHECK_EQ(ed_buf_append(&b, chunk, sizeof(chunk)), 0);
  CHECK_EQ(b.alloc, 16390); /* filled without growing */
  CHECK(memcmp(b.data, "hdry", 4) == 0);
  CHECK_EQ(ed_buf_reserve(&b, 100), 0); /* room already: nothing */
  CHECK_EQ(b.alloc, 16390);
  CHECK_EQ(ed_buf_reserve(&b, 20001), ED_E_TOOBIG);
  CHECK_EQ(b.len, 16389);
  ed_buf_cleanup(&b);
}

static void test_logq_bytes(void) {
  char out[64];
  CHECK_STR(ed_logq_bytes(out, sizeof(out), "alice\0evil", 10),
            "\"alice\\x00evil\"");
  CHECK_STR(ed_logq_bytes(out, sizeof(out), "a\"\x1b[31m\xc2\x9b", 9),
            "\"a\\\"\\x1b[31m\\xc2\\x9b\"");
  CHECK_STR(ed_logq_bytes(out, sizeof(out), "", 0), "\"\"");
  char small[8];
  ed_logq_bytes(small, sizeof(small), "\x01\x02\x03", 3);
  CHECK_EQ(strlen(small), 6); /* one escape and the quotes, cut whole */
}

static void test_logq(void) {
  char out[64];
  CHECK_STR(ed_logq(out, sizeof(out), "plain"), "plain");
  CHECK_STR(ed_logq(out, sizeof(out), "two words"), "\"two words\"");
  CHECK_STR(ed_logq(out, sizeof(out), "a\"b"), "\"a\\\"b\"");
  CHECK_STR(ed_logq(out, sizeof(out), "x\ny"), "\"x\\ny\"");
  CHECK_STR(ed_logq(out, sizeof(out), ""), "\"\"");
  CHECK_STR(ed_logq(out, sizeof(out), NULL), "\"\"");
  CHECK_STR(ed_logq(out, sizeof(out), "k=v"), "\"k=v\"");
  /* Every byte past ASCII is \xNN: a line separator (U+2028) cannot
   * start a forged record for a reader that splits on it, a bidi override
   * (U+202E) or zero-width space (U+200B) cannot hide in a value. Before:
   * written raw. */
  CHECK_STR(ed_logq(out, sizeof(out), "caf\xc3\xa9"), "\"caf\\xc3\\xa9\"");
  CHECK_STR(ed_logq(out, sizeof(out), "bob\xe2\x80\xa8ts=1 level=error"),
            "\"bob\\xe2\\x80\\xa8ts=1 level=error\"");
  CHECK_STR(ed_logq(out, sizeof(out), "x\xe2\x80\xaegnp\xe2\x80\x8b"),
            "\"x\\xe2\\x80\\xaegnp\\xe2\\x80\\x8b\"");
  CHECK_STR(ed_logq(out, sizeof(out), "\xff\x80\x7f"), "\"\\xff\\x80\\x7f\"");
  char small[8];
  ed_logq(small, sizeof(small), "a very long value with spaces");
  CHECK(strlen(small) < sizeof(small));
}

/* nul_key returns the name ed_json_find_nul reports for |json|, or NULL
 * when it finds no NUL. */
static const char *nul_key(const char *json, size_t len) {
  static char key[16];
  return ed_json_find_nul(json, len ? len : strlen(json), key, sizeof(key))
             ? key
             : NULL;
}

static void test_json_find_nul(void) {
  CHECK(nul_key("{\"cmd\":\"kill\",\"cn\":\"dev-client\"}", 0) == NULL);
  CHECK_STR(nul_key("{\"cmd\":\"kill\",\"cn\":\"dev-client\\u0000zzz\"}", 0),
            "cn");
  /* An escaped backslash before u0000 is text, not a NUL. */
  CHECK(nul_key("{\"cn\":\"a\\\\u0000\"}", 0) == NULL);
  CHECK_STR(nul_key("{\"cn\":\"a\\\\\\u0000\"}", 0), "cn");
  CHECK(nul_key("{\"cn\":\"\\u00001\\u1000\"}", 0) != NULL);
  CHECK(nul_key("{\"cn\":\"\\u0001\\u1000\\\"\"}", 0) == NULL);
  /* In an array: the member it belongs to, also after a nested object. */
  CHECK_STR(nul_key("{\"allow_cn\":[\"bob\",\"alice\\u0000evil\"]}", 0),
            "allow_cn");
  CHECK_STR(nul_key("{\"a\":[{\"b\":1},\"x\\u0000\"],\"c\":2}", 0), "a");
  CHECK_STR(nul_key("{\"a\":{\"b\" : \"x\\u0000\"}}", 0), "b");
  /* In a name; at the top level; a raw NUL byte. */
  CHECK_STR(nul_key("{\"allow_cn\\u0000x\":[]}", 0), "allow_cn\\u0000x");
  CHECK_STR(nul_key("\"\\u0000\"", 0), "");
  CHECK_STR(nul_key("{\"cn\":\"a\0b\"}", 12), "cn");
  /* Names are shown printable and cut to fit. */
  CHECK_STR(nul_key("{\"\x1b[2Jaaaaaaaaaaaaaaaaaa\":\"\\u0000\"}", 0),
            "?[2Jaaaaaaaaaaa");
}

static void test_log_level(void) {
  enum ed_log_level l;
  CHECK_EQ(ed_log_level_parse(&l, "debug"), 0);
  CHECK_EQ(l, ED_LOG_DEBUG);
  CHECK_EQ(ed_log_level_parse(&l, "error"), 0);
  CHECK_EQ(l, ED_LOG_ERROR);
  CHECK_EQ(ed_log_level_parse(&l, "loud"), ED_E_INVAL);
  ed_log_set_level(ED_LOG_WARN);
  CHECK_EQ(ed_log_get_level(), ED_LOG_WARN);
  ED_INFO("not shown", "k=%d", 1);
  ed_log_set_level(ED_LOG_INFO);
}

static void test_files(void) {
  char dir[] = "/tmp/ed_base_test.XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char path[256];
  snprintf(path, sizeof(path), "%s/f", dir);
  CHECK_EQ(ed_write_file_atomic(path, "abc", 3, 0600), 0);
  struct stat st;
  CHECK_EQ(stat(path, &st), 0);
  CHECK_EQ(st.st_mode & 0777, 0600);
  uint8_t *data = NULL;
  size_t len = 0;
  CHECK_EQ(ed_read_file(&data, &len, path, 100), 0);
  CHECK_EQ(len, 3);
  CHECK_STR((char *)data, "abc");
  free(data);
  CHECK_EQ(ed_read_file(&data, &len, path, 2), ED_E_TOOBIG);
  char missing[256];
  snprintf(missing, sizeof(missing), "%s/nope", dir);
  CHECK_EQ(ed_read_file(&data, &len, missing, 100), ED_E_NOENT);
  unlink(path);
  char deep[256];
  snprintf(deep, sizeof(deep), "%s/a/b/c", dir);
  CHECK_EQ(ed_mkdir_p(deep, 0700), 0);
  CHECK_EQ(ed_mkdir_p(deep, 0700), 0);
  CHECK_EQ(stat(deep, &st), 0);
  CHECK_EQ(st.st_mode & 0777, 0700);
  rmdir(deep);
  snprintf(deep, sizeof(deep), "%s/a/b", dir);
  rmdir(deep);
  snprintf(deep, sizeof(deep), "%s/a", dir);
  rmdir(deep);
  rmdir(dir);
}

static void test_state_dir(void) {
  char out[256];
  setenv("ECHOD_STATE_DIR", "/x/y", 1);
  CHECK_EQ(ed_state_dir(out, sizeof(out)), 0);
  CHECK_STR(out, "/x/y");
  unsetenv("ECHOD_STATE_DIR");
  setenv("XDG_STATE_HOME", "/s", 1);
  CHECK_EQ(ed_state_dir(out, sizeof(out)), 0);
  CHECK_STR(out, "/s/echod");
  unsetenv("XDG_STATE_HOME");
  setenv("HOME", "/home/u", 1);
  CHECK_EQ(ed_state_dir(out, sizeof(out)), 0);
  CHECK_STR(out, "/home/u/.local/state/echod");
  CHECK_EQ(ed_state_dir(out, 4), ED_E_TOOBIG);
  /* A relative ECHOD_STATE_DIR under `bazel run` is the user's, not the
   * runfiles tree's. */
  setenv("BUILD_WORKING_DIRECTORY", "/home/u/src", 1);
  setenv("ECHOD_STATE_DIR", "./state", 1);
  CHECK_EQ(ed_state_dir(out, sizeof(out)), 0);
  CHECK_STR(out, "/home/u/src/state");
  unsetenv("ECHOD_STATE_DIR");
  unsetenv("BUILD_WORKING_DIRECTORY");
}

/* put_ca writes an empty |state|/pki/ca.pem. */
static void put_ca(const char *state) {
  char p[512];
  snprintf(p, sizeof(p), "%s/pki", state);
  CHECK_EQ(ed_mkdir_p(p, 0700), 0);
  snprintf(p, sizeof(p), "%s/pki/ca.pem", state);
  CHECK_EQ(ed_write_file_atomic(p, "", 0, 0600), 0);
}

/* The tools' fallback to the packaged service's CA: only with no
 * $ECHOD_STATE_DIR, only when the user's own state directory holds no CA
 * and the service's does. */
static void test_tool_state_dir(void) {
  char dir[] = "/tmp/ed_base_test.XXXXXX", home[256], own[512], svc[256];
  char out[512];
  CHECK(mkdtemp(dir) != NULL);
  snprintf(home, sizeof(home), "%s/home", dir);
  snprintf(own, sizeof(own), "%s/.local/state/echod", home);
  snprintf(svc, sizeof(svc), "%s/svc", dir);
  unsetenv("ECHOD_STATE_DIR");
  unsetenv("XDG_STATE_HOME");
  setenv("HOME", home, 1);
  CHECK_EQ(ed_tool_state_dir(out, sizeof(out), svc), 0); /* no CA at all */
  CHECK_STR(out, own);
  put_ca(svc);
  CHECK_EQ(ed_tool_state_dir(out, sizeof(out), svc), 1); /* the service's */
  CHECK_STR(out, svc);
  CHECK_EQ(ed_tool_state_dir(out, 8, svc), ED_E_TOOBIG);
  setenv("ECHOD_STATE_DIR", own, 1); /* chosen: never another */
  CHECK_EQ(ed_tool_state_dir(out, sizeof(out), svc), 0);
  CHECK_STR(out, own);
  unsetenv("ECHOD_STATE_DIR");
  put_ca(own); /* the user's own comes first */
  CHECK_EQ(ed_tool_state_dir(out, sizeof(out), svc), 0);
  CHECK_STR(out, own);
  char rm[600];
  snprintf(rm, sizeof(rm), "rm -rf '%s'", dir);
  CHECK_EQ(system(rm), 0);
}

/* check_resolve compares ed_path_resolve(base, path) with |want|. */
static void check_resolve(const char *base, const char *path,
                          const char *want) {
  char *got = ed_path_resolve(base, path);
  CHECK_STR(got, want);
  if (!got || strcmp(got, want) != 0)
    fprintf(stderr, "  resolve(%s, %s) = %s\n", base ? base : "NULL", path,
            got ? got : "NULL");
  free(got);
}

static void test_path_resolve(void) {
  char cwd[4096], want[4200];
  CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
  unsetenv("BUILD_WORKING_DIRECTORY");
  CHECK(ed_path_resolve(NULL, NULL) == NULL);
  check_resolve(NULL, "/etc/echod/server.pem", "/etc/echod/server.pem");
  snprintf(want, sizeof(want), "%s/server.pem", cwd);
  check_resolve(NULL, "server.pem", want);
  check_resolve(NULL, "./server.pem", want);
  check_resolve(NULL, ".//./server.pem", want);
  check_resolve(NULL, ".", cwd);
  /* bazel run: relative to where the user typed the command. */
  setenv("BUILD_WORKING_DIRECTORY", "/home/u/src/", 1);
  check_resolve(NULL, "server.pem", "/home/u/src/server.pem");
  check_resolve(NULL, "../certs/ca.pem", "/home/u/src/../certs/ca.pem");
  check_resolve(NULL, "/abs/ca.pem", "/abs/ca.pem");
  check_resolve(NULL, "./", "/home/u/src");
  /* A config file's directory wins; a relative one is itself resolved. */
  check_resolve("/etc/echod", "tls/key.pem", "/etc/echod/tls/key.pem");
  check_resolve("conf", "tls/key.pem", "/home/u/src/conf/tls/key.pem");
  check_resolve("/", "key.pem", "/key.pem");
  check_resolve("", "key.pem", "/home/u/src/key.pem");
  /* Only an absolute BUILD_WORKING_DIRECTORY is trusted. */
  setenv("BUILD_WORKING_DIRECTORY", "relative", 1);
  snprintf(want, sizeof(want), "%s/key.pem", cwd);
  check_resolve(NULL, "key.pem", want);
  unsetenv("BUILD_WORKING_DIRECTORY");
}

int main(void) {
  RUN(test_errors);
  RUN(test_buf_cap);
  RUN(test_buf_reserve);
  RUN(test_logq);
  RUN(test_logq_bytes);
  RUN(test_json_find_nul);
  RUN(test_log_level);
  RUN(test_files);
  RUN(test_state_dir);
  RUN(test_tool_state_dir);
  RUN(test_path_resolve);
  return TEST_RESULT();
}

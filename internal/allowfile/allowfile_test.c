/* Unit tests for internal/allowfile: good files, every error with its
 * line number, and the size cap of ed_allowfile_load. */
#include "internal/allowfile/allowfile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal/base/base.h"
#include "internal/testing/testing.h"

static char err[512];

static int parse_n(struct ed_allowfile *a, const char *s, size_t n) {
  memset(a, 0, sizeof(*a));
  err[0] = '\0';
  return ed_allowfile_parse(a, "allow.txt", (const uint8_t *)s, n, err,
                            sizeof(err));
}

static int parse(struct ed_allowfile *a, const char *s) {
  return parse_n(a, s, strlen(s));
}

static void test_good_lines(void) {
  struct ed_allowfile a;
  const char *f =
      "# who may connect\n"
      "\n"
      "allow-cn alice\n"
      "allow-cn Bob Smith \n" /* inner and trailing spaces are the value */
      "allow-san URI:spiffe://echod/bob\n"
      "#allow-cn carol\n"
      "allow-san \xc3\xa9ve.example\n" /* UTF-8 bytes as they are */
      "allow-sha256 "
      "AB:CD:EF:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:"
      "ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89\n"
      "allow-cn  lead"; /* no final newline; a leading space kept */
  CHECK_EQ(parse(&a, f), 0);
  CHECK_EQ(a.cn.num, 3);
  CHECK_STR(a.cn.items[0], "alice");
  CHECK_EQ(a.cn.lines[0], 3);
  CHECK_STR(a.cn.items[1], "Bob Smith ");
  CHECK_STR(a.cn.items[2], " lead");
  CHECK_EQ(a.cn.lines[2], 9);
  CHECK_EQ(a.san.num, 2);
  CHECK_STR(a.san.items[0], "URI:spiffe://echod/bob");
  CHECK_EQ(a.san.lines[0], 5);
  CHECK_STR(a.san.items[1], "\xc3\xa9ve.example");
  CHECK_EQ(a.san.lines[1], 7);
  CHECK_EQ(a.sha256.num, 1);
  CHECK_STR(a.sha256.items[0],
            "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789");
  CHECK_EQ(a.sha256.lines[0], 8);
  ed_allowfile_cleanup(&a);
  CHECK_EQ(a.cn.num + a.san.num + a.sha256.num, 0);
}

static void test_empty_files(void) {
  struct ed_allowfile a;
  CHECK_EQ(parse(&a, ""), 0);
  CHECK_EQ(a.cn.num + a.san.num + a.sha256.num, 0);
  CHECK_EQ(parse(&a, "# nobody\n\n# at all\n"), 0);
  CHECK_EQ(a.cn.num + a.san.num + a.sha256.num, 0);
  ed_allowfile_cleanup(&a);
}

/* bad parses |f|, expects ED_E_PARSE with |msg| and nothing kept. */
static void bad(const char *f, size_t n, const char *msg) {
  struct ed_allowfile a;
  CHECK_EQ(parse_n(&a, f, n), ED_E_PARSE);
  CHECK_STR(err, msg);
  CHECK_EQ(a.cn.num + a.san.num + a.sha256.num, 0);
  CHECK(a.cn.items == NULL && a.san.items == NULL);
}

#define BAD(lit, msg) bad(lit, sizeof(lit) - 1, msg)

static void test_errors_name_the_line(void) {
  BAD("allow-cn a\r\nallow-cn b\r\n",
      "allow.txt:1: carriage return (CRLF line ends are not allowed)");
  BAD("allow-cn a\nallow-cn b\0evil\n", "allow.txt:2: control byte 0x00");
  BAD("allow-cn a\n\nallow-cn\tb\n", "allow.txt:3: control byte 0x09");
  BAD("# tab\there\n", "allow.txt:1: control byte 0x09");
  BAD("allow-cn a\x7f\n", "allow.txt:1: control byte 0x7f");
  BAD("allow-cn a\nallow-dns b\n",
      "allow.txt:2: unknown keyword (use allow-cn, allow-san or "
      "allow-sha256, then one space and the value)");
  BAD(" allow-cn a\n",
      "allow.txt:1: unknown keyword (use allow-cn, allow-san or "
      "allow-sha256, then one space and the value)");
  BAD("--allow-cn a\n",
      "allow.txt:1: unknown keyword (use allow-cn, allow-san or "
      "allow-sha256, then one space and the value)");
  BAD("allow-cn\n", "allow.txt:1: no value after the keyword");
  BAD("allow-cn a\nallow-san \n", "allow.txt:2: no value after the keyword");
  BAD("allow-sha256 abc\n",
      "allow.txt:1: allow-sha256 is not a SHA-256 fingerprint (64 hex "
      "digits, colons allowed)");
  BAD("allow-sha256 "
      "abcdef0123456789abcdef0123456789abcdef0123456789abcdef01234567890\n",
      "allow.txt:1: allow-sha256 is not a SHA-256 fingerprint (64 hex "
      "digits, colons allowed)");
}

static void test_load_and_cap(void) {
  char dir[] = "/tmp/allowfile-XXXXXX", path[64];
  CHECK(mkdtemp(dir) != NULL);
  snprintf(path, sizeof(path), "%s/allow", dir);
  struct ed_allowfile a;
  memset(&a, 0, sizeof(a));
  CHECK_EQ(ed_allowfile_load(&a, path, err, sizeof(err)), ED_E_NOENT);
  CHECK(strstr(err, path) != NULL);
  FILE *f = fopen(path, "w");
  fputs("allow-cn alice\n", f);
  fclose(f);
  CHECK_EQ(ed_allowfile_load(&a, path, err, sizeof(err)), 0);
  CHECK_EQ(a.cn.num, 1);
  ed_allowfile_cleanup(&a);
  f = fopen(path, "w");
  for (size_t i = 0; i <= ED_ALLOWFILE_MAX / 16; i++)
    fputs("allow-cn abcdef\n", f); /* 16 bytes a line: just over 1 MiB */
  fclose(f);
  CHECK_EQ(ed_allowfile_load(&a, path, err, sizeof(err)), ED_E_TOOBIG);
  CHECK(strstr(err, "larger than") != NULL && strstr(err, path) != NULL);
  CHECK_EQ(a.cn.num, 0);
  unlink(path);
  rmdir(dir);
}

int main(void) {
  RUN(test_good_lines);
  RUN(test_empty_files);
  RUN(test_errors_name_the_line);
  RUN(test_load_and_cap);
  return TEST_RESULT();
}

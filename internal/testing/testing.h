/* internal/testing — the few macros echod's C unit tests use.
 *
 *   static void test_thing(void) { CHECK(x == 1); CHECK_EQ(a, b); }
 *   int main(void) { RUN(test_thing); return TEST_RESULT(); }
 *
 * A failed CHECK prints file:line and the expression and counts a failure;
 * the test goes on so one run shows every broken check. TEST_RESULT prints
 * "N checks, N failed" and returns the exit code: 1 when a check failed,
 * and 1 when no check ran at all (a test that checks nothing proves
 * nothing: a RUN line left out, or a main that returns early). */
#ifndef ED_TESTING_H
#define ED_TESTING_H

#include <stdio.h>
#include <string.h>

/* One count per test binary (testing.c), so a failed CHECK in a helper's
 * file (a harness, a test pair) fails the test as one in its own does. */
extern int ed_test_checks_;
extern int ed_test_failures_;

#define CHECK(cond)                                                            \
  do {                                                                         \
    ed_test_checks_++;                                                         \
    if (!(cond)) {                                                             \
      ed_test_failures_++;                                                     \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                          \
  } while (0)

#define CHECK_EQ(a, b)                                                     \
  do {                                                                     \
    long long ed_a_ = (long long)(a), ed_b_ = (long long)(b);              \
    ed_test_checks_++;                                                     \
    if (ed_a_ != ed_b_) {                                                  \
      ed_test_failures_++;                                                 \
      fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %s (%lld vs %lld)\n", \
              __FILE__, __LINE__, #a, #b, ed_a_, ed_b_);                   \
    }                                                                      \
  } while (0)

#define CHECK_STR(a, b)                                                 \
  do {                                                                  \
    const char *ed_sa_ = (a), *ed_sb_ = (b);                            \
    ed_test_checks_++;                                                  \
    if (!ed_sa_ || !ed_sb_ || strcmp(ed_sa_, ed_sb_) != 0) {            \
      ed_test_failures_++;                                              \
      fprintf(stderr,                                                   \
              "%s:%d: CHECK_STR failed: %s == %s (\"%s\" vs \"%s\")\n", \
              __FILE__, __LINE__, #a, #b, ed_sa_ ? ed_sa_ : "(null)",   \
              ed_sb_ ? ed_sb_ : "(null)");                              \
    }                                                                   \
  } while (0)

#define RUN(fn)                      \
  do {                               \
    fprintf(stderr, "== %s\n", #fn); \
    fn();                            \
  } while (0)

#define TEST_RESULT()                                                    \
  (fprintf(stderr, "%d checks, %d failed%s\n", ed_test_checks_,          \
           ed_test_failures_, ed_test_checks_ ? "" : " (no check ran)"), \
   ed_test_failures_ || !ed_test_checks_ ? 1 : 0)

#endif /* ED_TESTING_H */

/* internal/testing tests: the result of a run. */
#include "internal/testing/testing.h"

void ed_testing_other_check(int ok);

int main(void) {
  /* Nothing checked yet: a run that checks nothing fails. */
  int empty = TEST_RESULT();
  CHECK_EQ(empty, 1);
  /* A check that fails in another file (a harness's) counts here, so it
   * fails the test. Before, each file had its own counters. */
  int before = ed_test_failures_;
  ed_testing_other_check(0);
  int counted = ed_test_failures_ - before;
  ed_test_failures_ = before; /* that failure was the point */
  CHECK_EQ(counted, 1);
  /* The checks above passed: the run passes. */
  return TEST_RESULT();
}

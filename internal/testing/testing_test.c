/* internal/testing tests: the result of a run. */
#include "internal/testing/testing.h"

int main(void) {
  /* Nothing checked yet: a run that checks nothing fails. */
  int empty = TEST_RESULT();
  CHECK_EQ(empty, 1);
  /* One passing check (the one above): the run passes. */
  return TEST_RESULT();
}

/* internal/testing tests: a check in a file other than the test's own (as
 * a harness's are). */
#include "internal/testing/testing.h"

void ed_testing_other_check(int ok);

void ed_testing_other_check(int ok) {
  CHECK(ok);
}

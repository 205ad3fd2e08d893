/* internal/testing — the one pair of counters of a test binary (testing.h). */
#include "internal/testing/testing.h"

int ed_test_checks_;
int ed_test_failures_;

/* Unit test for internal/bench/counters: a reader never sees an
 * operation's bytes without the operation, however the two threads
 * interleave. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "internal/bench/counters.h"
#include "internal/testing/testing.h"

#define WRITES 2000000u
#define SIZE 100u

struct shared {
  struct ed_bench__counters c;
  _Atomic int done;
};

static void *writer(void *arg) {
  struct shared *s = arg;
  for (uint32_t i = 0; i < WRITES; i++)
    ed_bench__account(&s->c, 1, SIZE, i % 2);
  atomic_store(&s->done, 1);
  return NULL;
}

/* The engine accounts an echo of SIZE bytes at once (one op, its bytes,
 * every other one resumed); each read must hold whole echoes only. */
static void test_read_is_one_moment(void) {
  static struct shared s;
  pthread_t th;
  CHECK(pthread_create(&th, NULL, writer, &s) == 0);
  uint64_t reads = 0, torn = 0, last_ops = 0, backwards = 0;
  while (!atomic_load(&s.done)) {
    struct ed_bench__tally t = ed_bench__counters_read(&s.c);
    reads++;
    if (t.bytes != t.ops * SIZE || t.resumed != t.ops / 2) torn++;
    if (t.ops < last_ops) backwards++;
    last_ops = t.ops;
  }
  pthread_join(th, NULL);
  struct ed_bench__tally t = ed_bench__counters_read(&s.c);
  fprintf(stderr, "%llu reads while writing, %llu torn\n",
          (unsigned long long)reads, (unsigned long long)torn);
  CHECK(reads > 0);
  CHECK_EQ(torn, 0);
  CHECK_EQ(backwards, 0);
  CHECK_EQ(t.ops, WRITES);
  CHECK_EQ(t.bytes, (uint64_t)WRITES * SIZE);
  CHECK_EQ(t.resumed, WRITES / 2);
}

int main(void) {
  RUN(test_read_is_one_moment);
  return TEST_RESULT();
}

/* Unit test for internal/bench/counters: a reader never sees an
 * operation's bytes without the operation, however the two threads
 * interleave. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "internal/bench/counters.h"
#include "internal/testing/testing.h"

#define WRITES 2000000u
#define READS 1000u
#define SIZE 100u

struct shared {
  struct ed_bench__counters c;
  _Atomic uint64_t reads; /* good reads so far */
  uint64_t writes;        /* once done */
  _Atomic int done;
};

/* The writer goes on until the reader has read while it wrote, however
 * the two threads are scheduled. */
static void *writer(void *arg) {
  struct shared *s = arg;
  uint64_t i = 0;
  for (; i < WRITES || atomic_load(&s->reads) < READS; i++)
    ed_bench__account(&s->c, 1, SIZE, i % 2);
  s->writes = i;
  atomic_store(&s->done, 1);
  return NULL;
}

/* The engine accounts an echo of SIZE bytes at once (one op, its bytes,
 * every other one resumed); each read must hold whole echoes only. */
static void test_read_is_one_moment(void) {
  static struct shared s;
  pthread_t th;
  CHECK(pthread_create(&th, NULL, writer, &s) == 0);
  uint64_t torn = 0, last_ops = 0, backwards = 0;
  while (!atomic_load(&s.done)) {
    struct ed_bench__tally t = ed_bench__counters_read(&s.c);
    atomic_fetch_add(&s.reads, 1);
    if (t.bytes != t.ops * SIZE || t.resumed != t.ops / 2) torn++;
    if (t.ops < last_ops) backwards++;
    last_ops = t.ops;
  }
  pthread_join(th, NULL);
  struct ed_bench__tally t = ed_bench__counters_read(&s.c);
  fprintf(stderr, "%llu reads while %llu writes, %llu torn\n",
          (unsigned long long)atomic_load(&s.reads),
          (unsigned long long)s.writes, (unsigned long long)torn);
  CHECK(atomic_load(&s.reads) >= READS);
  CHECK_EQ(torn, 0);
  CHECK_EQ(backwards, 0);
  CHECK_EQ(t.ops, s.writes);
  CHECK_EQ(t.bytes, s.writes * SIZE);
  CHECK_EQ(t.resumed, s.writes / 2);
}

int main(void) {
  RUN(test_read_is_one_moment);
  return TEST_RESULT();
}

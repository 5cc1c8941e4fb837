/*
 * The stack depot (shim/depot.h): one copy per distinct stack, whatever the order or the threads
 * interning it; the frames past n never matter; entries never change once handed out.
 */
#include "depot.h"
#include "unit.h"

#include <pthread.h>
#include <string.h>

static struct mg_stack mk(unsigned n, unsigned seed, int pc_first)
{
	struct mg_stack st;
	memset(&st, 0xa5, sizeof st);   /* frames past n hold garbage */
	st.n = (uint16_t)n;
	st.pc_first = (uint16_t)pc_first;
	for (unsigned i = 0; i < n && i < MG_STACK_MAX; i++)
		st.ip[i] = 0x400000u + seed * 64u + i;
	return st;
}

static bool equal(const struct mg_stack *e, const struct mg_stack *st)
{
	unsigned n = st->n < MG_STACK_MAX ? st->n : MG_STACK_MAX;
	return e->n == n && e->pc_first == st->pc_first && memcmp(e->ip, st->ip, n * sizeof st->ip[0]) == 0;
}

static void test_one_copy(void)
{
	struct mg_stack a = mk(5, 1, 0), b = mk(5, 1, 0), c = mk(5, 2, 0), d = mk(4, 1, 0), e = mk(5, 1, 1);
	memset(&b.ip[5], 0x3c, sizeof b.ip - 5 * sizeof b.ip[0]);      /* other garbage past n */
	const struct mg_stack *pa = mg_depot_intern(&a);
	CHECK(pa != &mg_stack_none && pa != &mg_stack_lost && pa != &a);
	CHECK(equal(pa, &a), "the depot's copy has the frames");
	CHECK(mg_depot_intern(&b) == pa, "same frames, same entry");
	CHECK(mg_depot_intern(&c) != pa, "other frames");
	CHECK(mg_depot_intern(&d) != pa, "a prefix is another stack");
	CHECK(mg_depot_intern(&e) != pa, "frame 0 an instruction, not a return address: another stack");
	struct mg_stack z = mk(0, 3, 0);
	CHECK(mg_depot_intern(&z) == &mg_stack_none && mg_stack_none.n == 0, "no frames: the empty stack");
	struct mg_stack big = mk(MG_STACK_MAX, 4, 0);
	big.n = MG_STACK_MAX + 5;       /* more than a stack holds: the first MG_STACK_MAX */
	const struct mg_stack *pb = mg_depot_intern(&big);
	CHECK(pb->n == MG_STACK_MAX && equal(pb, &big));
	/* the caller's copy changing later changes nothing */
	a.ip[0] = 0;
	CHECK(pa->ip[0] == 0x400000u + 64u && mg_depot_intern(&a) != pa);
	CHECK_U64(mg_depot_lost(), 0);
}

static void test_many(void)
{
	enum { N = 20000 };
	static const struct mg_stack *got[N];
	unsigned long before = mg_depot_count();
	for (unsigned i = 0; i < N; i++) {
		struct mg_stack st = mk(1 + i % MG_STACK_MAX, 1000 + i, 0);
		got[i] = mg_depot_intern(&st);
		CHECK(equal(got[i], &st), "stack %u", i);
	}
	for (unsigned i = N; i-- > 0;) {
		struct mg_stack st = mk(1 + i % MG_STACK_MAX, 1000 + i, 0);
		CHECK(mg_depot_intern(&st) == got[i], "stack %u found again", i);
	}
	CHECK_U64(mg_depot_count() - before, N);
	CHECK_U64(mg_depot_lost(), 0);
}

/* Threads interning the same new stacks at once: every thread gets the one entry of each. */
enum { THREADS = 4, SHARED = 3000 };
static const struct mg_stack *seen[THREADS][SHARED];
static pthread_barrier_t barrier;

static void *interner(void *arg)
{
	unsigned t = (unsigned)(uintptr_t)arg;
	pthread_barrier_wait(&barrier);
	for (unsigned k = 0; k < SHARED; k++) {
		unsigned i = (k * 7919u + t * 1237u) % SHARED;  /* each thread its own order */
		struct mg_stack st = mk(3 + i % 7, 500000 + i, 0);
		seen[t][i] = mg_depot_intern(&st);
	}
	return NULL;
}

static void test_threads(void)
{
	pthread_t th[THREADS];
	CHECK(pthread_barrier_init(&barrier, NULL, THREADS) == 0);
	for (unsigned t = 0; t < THREADS; t++)
		CHECK(pthread_create(&th[t], NULL, interner, (void *)(uintptr_t)t) == 0);
	for (unsigned t = 0; t < THREADS; t++)
		CHECK(pthread_join(th[t], NULL) == 0);
	pthread_barrier_destroy(&barrier);
	for (unsigned i = 0; i < SHARED; i++) {
		struct mg_stack st = mk(3 + i % 7, 500000 + i, 0);
		CHECK(equal(seen[0][i], &st), "stack %u", i);
		for (unsigned t = 1; t < THREADS; t++)
			CHECK(seen[t][i] == seen[0][i], "thread %u got another entry for stack %u", t, i);
	}
	CHECK_U64(mg_depot_lost(), 0);
}

int main(void)
{
	printf("unit_depot (sanitizers: %s)\n", mg_unit_sanitizers());
	RUN(test_one_copy);
	RUN(test_many);
	RUN(test_threads);
	printf("unit_depot: all passed\n");
	return 0;
}

/*
 * The registry under concurrency: several threads each own a range of addresses and keep a private
 * model of it; under the lock they insert, remove, mremap and query (their own windows and the
 * per-file lists shared with every other thread), and outside it they read the lock-free counters.
 * Built plain, with ASan+UBSan and with TSan (data races on the registry's state are reported).
 *
 * Reader threads also run the SIGBUS-handler lookup (mg_reg_find_signal_safe, a seqlock read
 * racing with the writers by design, through relaxed atomic accesses: TSan checks it too): an
 * answer it calls exact must be a window that really was in the registry (checked through an
 * invariant every window keeps: file offset == address - base of its thread's range, device ==
 * owning thread).
 */
#define _GNU_SOURCE
#include "reg_util.h"

#include <pthread.h>
#include <stdatomic.h>

#define NT 4            /* writer threads */
#define NPT 64          /* pages per thread */
#define SHARED_DEV 99   /* one file every thread maps */

static uint64_t iterations = 100000;
static atomic_int writers_done;

/* Thread t owns pages [t * 2 * NPT, t * 2 * NPT + NPT): gaps between the ranges. */
static uint64_t tbase(int t) { return (uint64_t)t * 2 * NPT; }

struct tmodel {
	int t;
	uint64_t seed;
	/* per page: 0 none, 1 own file (dev 10+t), 2 the shared file; offset == page index in range */
	unsigned char kind[NPT];
};

static struct mg_window twin(int t, uint64_t at, uint64_t n, int kind)
{
	/* offset = page index inside the thread's range: stays true through trims and splits */
	struct mg_window w = mkwin(tbase(t) + at, n, kind == 1 ? (dev_t)(10 + t) : SHARED_DEV,
				   kind == 1 ? 1 : 1, at);
	w.tid = t;
	return w;
}

static void check_own(struct tmodel *m)
{
	int t = m->t;
	/* every own page against the registry */
	for (uint64_t i = 0; i < NPT; i++) {
		struct mg_window w;
		bool hit = mg_reg_find_locked(pg(tbase(t) + i), &w);
		CHECK(hit == (m->kind[i] != 0), "thread %d page %" PRIu64 ": registry %d model %d", t, i, hit, m->kind[i]);
		if (hit) {
			CHECK(w.dev == (m->kind[i] == 1 ? (dev_t)(10 + t) : SHARED_DEV), "thread %d page %" PRIu64, t, i);
			CHECK(w.offset + (pg(tbase(t) + i) - w.start) == i * P, "offset, thread %d page %" PRIu64, t, i);
			CHECK(w.start >= pg(tbase(t)) && w.end <= pg(tbase(t) + NPT), "window leaves thread %d's range", t);
		}
	}
	/* own file: safe size and the endangered windows of a cut to page k */
	uint64_t last = 0;
	bool any = false;
	for (uint64_t i = 0; i < NPT; i++)
		if (m->kind[i] == 1) {
			last = i;
			any = true;
		}
	CHECK_U64(mg_reg_safe_size_locked(10 + t, 1), any ? last * P + 1 : 0);
	uint64_t k = mg_rng_below(NPT + 1);
	struct mg_window out[NPT];
	size_t n = mg_reg_endangered_locked(10 + t, 1, 0, NPT * P, k * P, out, NPT);
	bool cut = false;
	for (uint64_t i = k; i < NPT; i++)
		cut |= m->kind[i] == 1;
	CHECK(cut == (n > 0), "thread %d: cut to page %" PRIu64 " endangers %zu windows", t, k, n);
	for (size_t j = 0; j < n; j++)
		CHECK(out[j].end > pg(tbase(t) + k) && out[j].dev == (dev_t)(10 + t));
	/* the shared file: this thread's windows among everyone's */
	n = mg_reg_windows_locked(SHARED_DEV, 1, out, 0);
	struct mg_window *all = malloc((n + 1) * sizeof *all);
	CHECK(all != NULL);
	size_t n2 = mg_reg_windows_locked(SHARED_DEV, 1, all, n + 1);
	CHECK_U64(n2, n);
	uint64_t mine = 0;
	for (size_t j = 0; j < n; j++) {
		CHECK(j == 0 || all[j - 1].end <= all[j].start, "shared file windows unordered");
		if (all[j].start >= pg(tbase(t)) && all[j].start < pg(tbase(t) + NPT))
			mine += (all[j].end - all[j].start) / P;
	}
	uint64_t want = 0;
	for (uint64_t i = 0; i < NPT; i++)
		want += m->kind[i] == 2;
	CHECK_U64(mine, want, "thread %d: pages of the shared file", t);
	free(all);
}

static void *writer(void *arg)
{
	struct tmodel *m = arg;
	int t = m->t;
	/* mg_rng_state is shared: it is only used under the registry lock, loaded from this thread's
	 * own state each time */
	uint64_t rng = m->seed;
	for (uint64_t it = 0; it < iterations; it++) {
		mg_reg_lock();
		mg_rng_state = rng;
		uint64_t r = mg_rng_below(100);
		uint64_t at = mg_rng_below(NPT), n = 1 + mg_rng_below(NPT - at < 8 ? NPT - at : 8);
		if (r < 45) {
			int kind = 1 + (int)mg_rng_below(2);
			struct mg_window w = twin(t, at, n, kind);
			CHECK(mg_reg_insert_locked(&w) == 0);
			for (uint64_t i = 0; i < n; i++)
				m->kind[at + i] = (unsigned char)kind;
		} else if (r < 80) {
			CHECK(mg_reg_remove_locked(pg(tbase(t) + at), pg(tbase(t) + at + n)) == 0);
			for (uint64_t i = 0; i < n; i++)
				m->kind[at + i] = 0;
		} else if (r < 90) {
			/* shrink in place (offsets stay equal to page indices) */
			uint64_t keep = mg_rng_below(n);
			CHECK(mg_reg_mremap_locked(pg(tbase(t) + at), n * P, pg(tbase(t) + at), keep * P, false) == 0);
			for (uint64_t i = keep; i < n; i++)
				m->kind[at + i] = 0;
		} else {
			check_own(m);
		}
		rng = mg_rng_state;
		mg_reg_unlock();
		/* lock-free hints: any value, but they must be readable without a race */
		(void)mg_reg_nmaps();
		(void)mg_reg_nfiles();
	}
	mg_reg_lock();
	mg_rng_state = rng;
	check_own(m);
	/* leave every other page mapped: the final check counts them */
	for (uint64_t i = 0; i < NPT; i++) {
		if (i % 2) {
			mg_reg_remove_locked(pg(tbase(t) + i), pg(tbase(t) + i + 1));
			m->kind[i] = 0;
		}
	}
	check_own(m);
	mg_reg_unlock();
	atomic_fetch_add(&writers_done, 1);
	return NULL;
}

static atomic_ulong exact_hits, uncertain_hits;

static void *signal_reader(void *arg)
{
	uint64_t s = (uint64_t)(uintptr_t)arg;
	while (atomic_load(&writers_done) < NT) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		int t = (int)(s % NT);
		uint64_t i = (s >> 8) % NPT;
		uintptr_t addr = pg(tbase(t) + i) + (s >> 20) % P;
		struct mg_window w;
		int r = mg_reg_find_signal_safe(addr, &w);
		if (r == MG_FIND_EXACT) {
			CHECK(w.start <= addr && addr < w.end, "exact answer does not contain the address");
			CHECK(w.start >= pg(tbase(t)) && w.end <= pg(tbase(t) + NPT), "exact answer from another range");
			CHECK(w.tid == t && w.offset == w.start - pg(tbase(t)), "exact answer is not a consistent window");
			CHECK(w.dev == (dev_t)(10 + t) || w.dev == SHARED_DEV);
			atomic_fetch_add(&exact_hits, 1);
		} else if (r == MG_FIND_UNCERTAIN) {
			atomic_fetch_add(&uncertain_hits, 1);
		} else {
			CHECK(r == MG_FIND_NONE, "unknown answer %d", r);
		}
	}
	return NULL;
}

int main(void)
{
	P = mg_page_size();
	const char *it = getenv("MG_UNIT_ITERATIONS");
	if (it && *it)
		iterations = strtoull(it, NULL, 0);
	uint64_t seed = mg_unit_seed(0x7468726561);
	printf("unit_registry_threads (sanitizers: %s): %d writers x %" PRIu64 " operations, seed 0x%" PRIx64 "\n",
	       mg_unit_sanitizers(), NT, iterations, seed);
	fflush(stdout);
	static struct tmodel models[NT];
	pthread_t th[NT];
	for (int t = 0; t < NT; t++) {
		models[t].t = t;
		models[t].seed = seed * (t + 1) + 1;
		CHECK(pthread_create(&th[t], NULL, writer, &models[t]) == 0);
	}
	enum { NR = 2 };
	pthread_t rd[NR];
	for (int r = 0; r < NR; r++)
		CHECK(pthread_create(&rd[r], NULL, signal_reader, (void *)(uintptr_t)(seed + 77 * (r + 1))) == 0);
	for (int t = 0; t < NT; t++)
		CHECK(pthread_join(th[t], NULL) == 0);
	for (int r = 0; r < NR; r++)
		CHECK(pthread_join(rd[r], NULL) == 0);
	printf("signal-safe lookups: %lu exact, %lu uncertain\n", (unsigned long)atomic_load(&exact_hits),
	       (unsigned long)atomic_load(&uncertain_hits));
	/* the final state: every thread's even pages, exactly */
	mg_reg_lock();
	check_invariants();
	size_t pages = 0, files = 0;
	for (int t = 0; t < NT; t++) {
		check_own(&models[t]);
		bool own = false;
		for (int i = 0; i < NPT; i++) {
			pages += models[t].kind[i] != 0;
			own |= models[t].kind[i] == 1;
		}
		files += own;
	}
	bool shared = false;
	for (int t = 0; t < NT; t++)
		for (int i = 0; i < NPT; i++)
			shared |= models[t].kind[i] == 2;
	files += shared;
	CHECK_U64(mg_reg_nfiles(), files);
	struct snap s = snapshot();
	size_t spages = 0;
	for (size_t k = 0; k < s.n; k++)
		spages += (s.w[k].end - s.w[k].start) / P;
	CHECK_U64(spages, pages, "pages tracked at the end");
	free(s.w);
	mg_reg_clear_locked();
	CHECK_U64(mg_reg_nmaps(), 0);
	CHECK_U64(mg_reg_nfiles(), 0);
	mg_reg_unlock();
	printf("unit_registry_threads: all passed\n");
	return 0;
}

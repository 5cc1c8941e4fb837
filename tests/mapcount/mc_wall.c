/*
 * mc_wall: the test program of tests/mapcount/. It drives the process to the real
 * vm.max_map_count wall the way the third seed document does and prints, as JSON lines on stdout,
 * everything it sees itself: every failed call with its address, length and errno, and a final
 * line of totals. The tests compare that with the guard's records.
 *
 *   mc_wall count                 {"vmas":N}: the VMA count at start (/proc/self/maps lines)
 *   mc_wall munmap [extras]       seed (a): mmap 2 x max_map_count one-page anonymous mappings,
 *                                 munmap every second one from unmap_every_second(); the last
 *                                 ones fail with ENOMEM. The last TAIL pages hold a pattern
 *                                 before their munmap; a munmap that returns 0 but leaves the page
 *                                 mapped (MMAPGUARD_MUNMAP_ENOMEM=release) is printed as
 *                                 "released" with whether the page now reads as zeros.
 *                                 "extras": then, at the wall, mprotect() the middle page of a
 *                                 three-page PROT_READ mapping (protect_middle) and mmap() new
 *                                 PROT_READ pages until one fails (map_at_wall).
 *   mc_wall free                  seed (b): max_map_count one-page mmaps, munmap every second one,
 *                                 max_map_count malloc(128 KiB), free() every second one from
 *                                 free_every_second(); a block still mapped after free() (mincore)
 *                                 is printed as a "leak".
 *   mc_wall warn N                VMA count up by N (first_crossing), held there for a while,
 *                                 dropped back, mapping calls made below for a while, up by N
 *                                 again (second_crossing), dropped. Run with
 *                                 MMAPGUARD_MAP_WARN=<start count + less than N>.
 *   mc_wall quiet                 mapping work far from the limit (mmap/munmap/mprotect/mremap,
 *                                 malloc/free of 128 KiB blocks): the guard has nothing to say.
 *   mc_wall pairs N [file]        N anonymous one-page mmap+munmap pairs (the cost of counting);
 *                                 with "file", N mmap+munmap pairs of a one-page file. Always at
 *                                 the same address hint, 16 TiB, away from the other mappings.
 *   mc_wall windows N R           N one-page windows of a 64-page file mapped, then unmapped one
 *                                 by one, R times over (a program that maps files in a loop).
 *   mc_wall smallstack N          N anonymous one-page mmap+munmap pairs in a thread whose stack is
 *                                 PTHREAD_STACK_MIN: whatever the guard does inside these calls
 *                                 (re-counting the VMAs among it) fits on that stack.
 *   mc_wall fixedsplit            one large PROT_READ mapping, then mmap(MAP_FIXED) of PROT_NONE
 *                                 pages into its middle (split_with_fixed: each call turns one VMA
 *                                 into three) until a call fails: the count grows two per call.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096UL
#define MALLOC_SIZE (128 * 1024)
#define TAIL 4096               /* pages of seed (a) that carry a pattern (the failures are last) */
#define NOINLINE __attribute__((noinline))

static long read_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;
	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static long vma_lines(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	if (!f)
		return -1;
	long n = 0;
	int c;
	while ((c = getc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static long max_map_count(void)
{
	long v = read_long("/proc/sys/vm/max_map_count");
	if (v <= 0) {
		fprintf(stderr, "mc_wall: cannot read /proc/sys/vm/max_map_count\n");
		exit(2);
	}
	return v;
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);
	if (!p) {
		fprintf(stderr, "mc_wall: calloc failed\n");
		exit(2);
	}
	return p;
}

static int is_mapped(uintptr_t addr)
{
	unsigned char v;
	return mincore((void *)(addr & ~(PAGE - 1)), PAGE, &v) == 0;
}

static void *map_anon(size_t len, int prot)
{
	return mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

static int map_pages(void **vma, long n)
{
	for (long i = 0; i < n; i++) {
		vma[i] = map_anon(PAGE, PROT_READ | PROT_WRITE);
		if (vma[i] == MAP_FAILED) {
			printf("{\"error\":\"mmap failed at %ld: %s\"}\n", i, strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* ---- seed (a) ------------------------------------------------------------------------------- */

struct unmap_result { long calls, failures, released, released_nonzero, other_errors; };

static NOINLINE void unmap_every_second(void **vma, long n, struct unmap_result *r)
{
	for (long i = 0; i < n; i += 2) {
		unsigned char *p = vma[i];
		int tail = i >= n - TAIL;
		if (tail)
			memset(p, 0xa5, PAGE);
		r->calls++;
		int rc = munmap(p, PAGE);
		int e = errno;
		if (rc != 0) {
			if (e == ENOMEM)
				r->failures++;
			else
				r->other_errors++;
			printf("{\"fail\":\"munmap\",\"addr\":\"%#lx\",\"length\":%lu,\"errno\":%d}\n",
			       (unsigned long)p, PAGE, e);
		} else if (tail && is_mapped((uintptr_t)p)) {
			/* munmap said yes, the page is still there: the guard released it. */
			int zeros = 1;
			for (unsigned long k = 0; k < PAGE; k++)
				zeros &= p[k] == 0;
			r->released++;
			r->released_nonzero += !zeros;
			printf("{\"released\":\"%#lx\",\"length\":%lu,\"zeros\":%s}\n", (unsigned long)p, PAGE,
			       zeros ? "true" : "false");
		}
	}
}

static NOINLINE int protect_middle(unsigned char *three)
{
	int rc = mprotect(three + PAGE, PAGE, PROT_READ | PROT_WRITE);
	printf("{\"fail\":\"mprotect\",\"rc\":%d,\"addr\":\"%#lx\",\"length\":%lu,\"prot\":%d,\"errno\":%d}\n",
	       rc, (unsigned long)(three + PAGE), PAGE, PROT_READ | PROT_WRITE, rc ? errno : 0);
	return rc;
}

static NOINLINE int map_at_wall(void)
{
	for (int k = 0; k < 16; k++) {
		void *p = map_anon(PAGE, k % 2 ? PROT_READ : PROT_NONE);
		if (p == MAP_FAILED) {
			printf("{\"fail\":\"mmap\",\"rc\":-1,\"length\":%lu,\"prot\":%d,\"flags\":%d,\"errno\":%d,"
			       "\"after\":%d}\n", PAGE, k % 2 ? PROT_READ : PROT_NONE,
			       MAP_PRIVATE | MAP_ANONYMOUS, errno, k);
			return -1;
		}
	}
	printf("{\"error\":\"16 mmap calls at the wall all succeeded\"}\n");
	return 0;
}

static int seed_munmap(int extras)
{
	long limit = max_map_count();
	long n = 2 * limit;
	void **vma = xcalloc((size_t)n, sizeof *vma);
	unsigned char *three = map_anon(3 * PAGE, PROT_READ);
	if (three == MAP_FAILED)
		return 2;
	long before = vma_lines();
	if (map_pages(vma, n) < 0)
		return 1;
	struct unmap_result r = { 0 };
	unmap_every_second(vma, n, &r);
	long at_wall = vma_lines();
	int mprotect_rc = 0, mmap_rc = 0;
	if (extras) {
		mprotect_rc = protect_middle(three);
		mmap_rc = map_at_wall();
	}
	printf("{\"limit\":%ld,\"vmas_before\":%ld,\"vmas_at_wall\":%ld,\"pages\":%ld,\"calls\":%ld,"
	       "\"munmap_failures\":%ld,\"other_errors\":%ld,\"released\":%ld,\"released_nonzero\":%ld,"
	       "\"mprotect_rc\":%d,\"mmap_rc\":%d}\n",
	       limit, before, at_wall, n, r.calls, r.failures, r.other_errors, r.released,
	       r.released_nonzero, mprotect_rc, mmap_rc);
	return 0;
}

/* ---- seed (b) ------------------------------------------------------------------------------- */

static NOINLINE long free_every_second(void **blocks, long n, size_t *chunk)
{
	long leaks = 0;
	for (long i = 0; i < n; i += 2) {
		uintptr_t p;
		memcpy(&p, &blocks[i], sizeof p);       /* an address to look at later, not a pointer */
		/* glibc's chunk header: the size word, low bits are flags (2 = mmapped). */
		size_t head = ((size_t *)blocks[i])[-1];
		/* A block malloc took from the heap (its mmap failed at the wall) stays mapped by
		 * design: only an mmapped chunk still mapped after free() has leaked. */
		int mmapped = (head & 2) != 0;
		free(blocks[i]);
		if (mmapped && is_mapped(p)) {
			leaks++;
			*chunk = head & ~(size_t)7;
			printf("{\"leak\":\"%#lx\",\"ptr\":\"%#lx\",\"chunk\":%zu,\"mmapped\":%s}\n",
			       (unsigned long)(p & ~(PAGE - 1)), (unsigned long)p, head & ~(size_t)7,
			       head & 2 ? "true" : "false");
		}
	}
	return leaks;
}

static int seed_free(void)
{
	long limit = max_map_count();
	void **mmap_vma = xcalloc((size_t)limit, sizeof(void *));
	void **malloc_vma = xcalloc((size_t)limit, sizeof(void *));
	long before = vma_lines();
	if (map_pages(mmap_vma, limit) < 0)
		return 1;
	for (long i = 0; i < limit; i += 2)
		if (munmap(mmap_vma[i], PAGE) != 0) {
			printf("{\"error\":\"munmap failed at %ld: %s\"}\n", i, strerror(errno));
			return 1;
		}
	for (long i = 0; i < limit; i++) {
		malloc_vma[i] = malloc(MALLOC_SIZE);
		if (!malloc_vma[i]) {
			printf("{\"error\":\"malloc failed at %ld\"}\n", i);
			return 1;
		}
	}
	size_t chunk = 0;
	long leaks = free_every_second(malloc_vma, limit, &chunk);
	printf("{\"limit\":%ld,\"vmas_before\":%ld,\"vmas_after\":%ld,\"frees\":%ld,\"leaks\":%ld,"
	       "\"chunk\":%zu}\n", limit, before, vma_lines(), (limit + 1) / 2, leaks, chunk);
	return 0;
}

/* ---- threshold crossings -------------------------------------------------------------------- */

/* N more VMAs: 2N pages in one mapping, every second page unmapped (each hole splits). */
static NOINLINE unsigned char *rise(long n)
{
	unsigned char *region = map_anon((size_t)(2 * n + 1) * PAGE, PROT_READ | PROT_WRITE);
	if (region == MAP_FAILED)
		return NULL;
	for (long i = 1; i < 2 * n; i += 2)
		if (munmap(region + i * PAGE, PAGE) != 0)
			return NULL;
	return region;
}

static NOINLINE void drop(unsigned char *region, long n)
{
	munmap(region, (size_t)(2 * n + 1) * PAGE);
}

/* Mapping calls that leave the count where it is. */
static NOINLINE void churn(long pairs)
{
	for (long i = 0; i < pairs; i++) {
		void *p = map_anon(PAGE, PROT_READ);
		if (p != MAP_FAILED)
			munmap(p, PAGE);
	}
}

static NOINLINE unsigned char *first_crossing(long n) { return rise(n); }
static NOINLINE unsigned char *second_crossing(long n) { return rise(n); }

static int warn(long n)
{
	long limit = max_map_count();
	long start = vma_lines();
	unsigned char *r = first_crossing(n);
	if (!r)
		return 1;
	long up1 = vma_lines();
	printf("{\"phase\":\"up1\",\"vmas\":%ld}\n", up1);
	/* Stay above through several of the guard's re-counts. */
	churn(limit / 4);
	drop(r, n);
	long down = vma_lines();
	printf("{\"phase\":\"down\",\"vmas\":%ld}\n", down);
	/* The guard looks for the drop every max_map_count/16 mapping calls: make enough of them. */
	churn(limit / 8 + 2048);
	r = second_crossing(n);
	if (!r)
		return 1;
	long up2 = vma_lines();
	printf("{\"phase\":\"up2\",\"vmas\":%ld}\n", up2);
	churn(limit / 4);
	drop(r, n);
	printf("{\"limit\":%ld,\"start\":%ld,\"up1\":%ld,\"down\":%ld,\"up2\":%ld,\"end\":%ld}\n",
	       limit, start, up1, down, up2, vma_lines());
	return 0;
}

/* ---- far from the limit --------------------------------------------------------------------- */

static int quiet(void)
{
	long ok = 0;
	void *pages[2000];
	for (int i = 0; i < 2000; i++)
		ok += (pages[i] = map_anon(PAGE, PROT_READ | PROT_WRITE)) != MAP_FAILED;
	for (int i = 0; i < 2000; i += 2)
		ok += munmap(pages[i], PAGE) == 0;
	unsigned char *big = map_anon(64 * PAGE, PROT_READ | PROT_WRITE);
	for (int i = 0; i < 64; i += 2)
		ok += mprotect(big + i * PAGE, PAGE, PROT_READ) == 0;
	unsigned char *grow = map_anon(64 * PAGE, PROT_READ);
	grow = mremap(grow, 64 * PAGE, 128 * PAGE, MREMAP_MAYMOVE);
	ok += grow != MAP_FAILED;
	ok += grow != MAP_FAILED && munmap(grow + 8 * PAGE, PAGE) == 0;
	void *blocks[500];
	for (int i = 0; i < 500; i++)
		ok += (blocks[i] = malloc(MALLOC_SIZE)) != NULL;
	for (int i = 0; i < 500; i++)
		free(blocks[i]);
	printf("{\"ok\":%ld,\"expected\":%d,\"vmas\":%ld,\"limit\":%ld}\n", ok, 2000 + 1000 + 32 + 2 + 500,
	       vma_lines(), max_map_count());
	return 0;
}

static int pairs(long n, int file)
{
	int fd = -1;
	if (file) {
		char path[] = "/tmp/mc_wall.XXXXXX";
		fd = mkstemp(path);
		if (fd < 0 || ftruncate(fd, PAGE) != 0)
			return 2;
		unlink(path);
	}
	long fails = 0;
	void *hint = (void *)(16UL << 40);
	for (long i = 0; i < n; i++) {
		/* At a hint far from every other mapping: no merge with a neighbour, whose presence
		 * would depend on the address-space layout (and so on what else is loaded). */
		void *p = file ? mmap(hint, PAGE, PROT_READ, MAP_SHARED, fd, 0)
			       : mmap(hint, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED || munmap(p, PAGE) != 0)
			fails++;
	}
	printf("{\"pairs\":%ld,\"fails\":%ld}\n", n, fails);
	return fails != 0;
}

/* N one-page windows of a 64-page file, each at the next offset (mod 64) and wherever the kernel
 * puts it, then unmapped one by one; R times. */
static int windows(long n, long rounds)
{
	char path[] = "/tmp/mc_wall.XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0 || ftruncate(fd, 64 * PAGE) != 0)
		return 2;
	unlink(path);
	void **w = calloc((size_t)n, sizeof *w);
	long fails = 0;
	for (long r = 0; r < rounds && w; r++) {
		for (long i = 0; i < n; i++)
			if ((w[i] = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, (i % 64) * PAGE)) == MAP_FAILED)
				fails++;
		for (long i = 0; i < n; i++)
			if (w[i] != MAP_FAILED && munmap(w[i], PAGE) != 0)
				fails++;
	}
	printf("{\"windows\":%ld,\"rounds\":%ld,\"fails\":%ld}\n", n, rounds, fails);
	free(w);
	return fails != 0;
}

/* ---- small thread stack --------------------------------------------------------------------- */

struct small { long n, fails; };

static void *small_thread(void *arg)
{
	struct small *s = arg;
	for (long i = 0; i < s->n; i++) {
		void *p = map_anon(PAGE, PROT_READ);
		if (p == MAP_FAILED || munmap(p, PAGE) != 0)
			s->fails++;
	}
	return NULL;
}

static int smallstack(long n)
{
	pthread_attr_t a;
	pthread_t t;
	struct small s = { n, 0 };
	pthread_attr_init(&a);
	if (pthread_attr_setstacksize(&a, PTHREAD_STACK_MIN) != 0 ||
	    pthread_create(&t, &a, small_thread, &s) != 0) {
		printf("{\"error\":\"pthread_create with a %ld-byte stack failed\"}\n", (long)PTHREAD_STACK_MIN);
		return 1;
	}
	pthread_join(t, NULL);
	printf("{\"pairs\":%ld,\"fails\":%ld,\"stack\":%ld}\n", n, s.fails, (long)PTHREAD_STACK_MIN);
	return s.fails != 0;
}

/* ---- MAP_FIXED splits -------------------------------------------------------------------------- */

static NOINLINE long split_with_fixed(unsigned char *region, long pages, int *err)
{
	long calls = 0;
	for (long i = 1; i < pages - 1; i += 2) {
		void *p = mmap(region + i * PAGE, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
			       -1, 0);
		if (p == MAP_FAILED) {
			*err = errno;
			printf("{\"fail\":\"mmap\",\"addr\":\"%#lx\",\"length\":%lu,\"errno\":%d}\n",
			       (unsigned long)(region + i * PAGE), PAGE, errno);
			return calls;
		}
		calls++;
	}
	return calls;
}

static int fixedsplit(void)
{
	long limit = max_map_count();
	long pages = 2 * limit + 16;
	unsigned char *region = mmap(NULL, (size_t)pages * PAGE, PROT_READ,
				     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (region == MAP_FAILED)
		return 2;
	long before = vma_lines();
	int err = 0;
	long calls = split_with_fixed(region, pages, &err);
	printf("{\"limit\":%ld,\"vmas_before\":%ld,\"vmas_at_wall\":%ld,\"calls\":%ld,\"errno\":%d}\n",
	       limit, before, vma_lines(), calls, err);
	munmap(region, (size_t)pages * PAGE);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	const char *cmd = argc > 1 ? argv[1] : "";
	if (strcmp(cmd, "count") == 0) {
		printf("{\"vmas\":%ld}\n", vma_lines());
		return 0;
	}
	if (strcmp(cmd, "munmap") == 0)
		return seed_munmap(argc > 2 && strcmp(argv[2], "extras") == 0);
	if (strcmp(cmd, "free") == 0)
		return seed_free();
	if (strcmp(cmd, "warn") == 0 && argc > 2)
		return warn(atol(argv[2]));
	if (strcmp(cmd, "quiet") == 0)
		return quiet();
	if (strcmp(cmd, "pairs") == 0 && argc > 2)
		return pairs(atol(argv[2]), argc > 3 && strcmp(argv[3], "file") == 0);
	if (strcmp(cmd, "windows") == 0 && argc > 3)
		return windows(atol(argv[2]), atol(argv[3]));
	if (strcmp(cmd, "smallstack") == 0 && argc > 2)
		return smallstack(atol(argv[2]));
	if (strcmp(cmd, "fixedsplit") == 0)
		return fixedsplit();
	fprintf(stderr, "usage: mc_wall count | munmap [extras] | free | warn N | quiet | pairs N [file] | "
		"windows N R | smallstack N | fixedsplit\n");
	return 2;
}

/*
 * hard_alloc DIR NTHREADS ITERS: allocator stress with file mappings and violations.
 *
 * Each thread mallocs, reallocs and frees large blocks (hundreds of KiB to MiB: the allocator maps
 * and unmaps them itself, through the guard's mmap/munmap/mremap), and on every iteration maps a
 * fresh 3-page file and ftruncates it to 100 bytes (a violation, announced with EXPECT). Meant to
 * run with jemalloc or tcmalloc preloaded next to the guard, in log mode.
 */
#include "hard_common.h"

#include <pthread.h>
#include <stdint.h>

static const char *dir;
static int iters;

static uint32_t rnd(uint32_t *s)
{
	uint32_t x = *s;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *s = x;
}

static void *worker(void *arg)
{
	int id = (int)(intptr_t)arg;
	uint32_t seed = 0x1234567u + (uint32_t)id * 7919u;
	size_t page = hard_page();
	enum { SLOTS = 8 };
	char *blocks[SLOTS] = { 0 };
	size_t sizes[SLOTS] = { 0 };
	for (int it = 0; it < iters; it++) {
		for (int k = 0; k < 6; k++) {
			int s = (int)(rnd(&seed) % SLOTS);
			size_t sz = (256u << 10) + rnd(&seed) % (6u << 20);
			switch (rnd(&seed) % 3) {
			case 0:
				free(blocks[s]);
				blocks[s] = NULL;
				sizes[s] = 0;
				break;
			case 1: {
				char *n = realloc(blocks[s], sz);
				HARD_CHECK(n != NULL, "realloc %zu", sz);
				blocks[s] = n;
				sizes[s] = sz;
				break;
			}
			default:
				free(blocks[s]);
				blocks[s] = malloc(sz);
				HARD_CHECK(blocks[s] != NULL, "malloc %zu", sz);
				sizes[s] = sz;
			}
			if (blocks[s]) {
				blocks[s][0] = (char)it;
				blocks[s][sizes[s] - 1] = (char)k;
			}
		}
		/* small allocations too: the allocator's metadata paths */
		void *small[32];
		for (int k = 0; k < 32; k++)
			small[k] = malloc(16 + rnd(&seed) % 2000);
		for (int k = 0; k < 32; k++)
			free(small[k]);

		char path[4096];
		snprintf(path, sizeof path, "%s/alloc_t%d_i%d", dir, id, it);
		int fd = hard_make_file(path, (off_t)(3 * page));
		char *p = hard_map(fd, 3 * page);
		p[2 * page] = 2;
		hard_violate(fd, path, (off_t)(3 * page), 100, 0);
		HARD_CHECK(munmap(p, 3 * page) == 0, "munmap");
		HARD_CHECK(close(fd) == 0, "close");
	}
	for (int s = 0; s < SLOTS; s++)
		free(blocks[s]);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s DIR NTHREADS ITERS\n", argv[0]);
		return 2;
	}
	dir = argv[1];
	int n = atoi(argv[2]);
	iters = atoi(argv[3]);
	pthread_t t[64];
	if (n < 1 || n > 64)
		return 2;
	for (int i = 0; i < n; i++)
		HARD_CHECK(pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i) == 0, "pthread_create");
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	hard_line("DONE");
	return 0;
}

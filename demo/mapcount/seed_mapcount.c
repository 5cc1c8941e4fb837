/*
 * seed_mapcount: the vm.max_map_count wall, as the third seed document shows it.
 *
 *   seed_mapcount munmap [PAGES]   (a) mmap twice vm.max_map_count one-page anonymous mappings
 *                                  (or PAGES), then munmap every second one. The kernel merges the
 *                                  adjacent pages into one VMA; every munmap in its middle splits
 *                                  it, and once the process holds vm.max_map_count VMAs the last
 *                                  munmaps fail with ENOMEM (as many as the process had mappings
 *                                  before, plus one).
 *   seed_mapcount free             (b) vm.max_map_count one-page mmaps, munmap every second one,
 *                                  then vm.max_map_count malloc(128 KiB) (glibc serves each with
 *                                  its own mmap) and free every second one. glibc's free() ignores
 *                                  its internal munmap's ENOMEM: the blocks silently stay mapped.
 *   seed_mapcount both             (a) then (b), each in a child process (default).
 *
 * vm.max_map_count is read from /proc/sys/vm/max_map_count and the mappings the process already
 * has from /proc/self/maps, instead of the seed's hard-coded 65530 and 15. What the program sees
 * is printed: munmap failures from munmap's own return value and errno; free() leaks (which
 * nothing reports) by asking mincore() whether the freed block is still mapped.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define VMA_SIZE 4096
#define MALLOC_SIZE (128 * 1024)        /* glibc's default mmap threshold */

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

static long vma_count(void)
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
		fprintf(stderr, "seed_mapcount: cannot read /proc/sys/vm/max_map_count\n");
		exit(2);
	}
	return v;
}

/* Separate allocations for the pointer arrays, made before the count (they are VMAs too). */
static void **pointer_array(long n)
{
	void **a = calloc((size_t)n, sizeof *a);
	if (!a) {
		fprintf(stderr, "seed_mapcount: calloc(%ld) failed\n", n);
		exit(2);
	}
	return a;
}

static int map_pages(void **vma, long n)
{
	for (long i = 0; i < n; i++) {
		vma[i] = mmap(NULL, VMA_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (vma[i] == MAP_FAILED) {
			printf("mmap() failed at %ld: %s\n", i, strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* (a) */
static int seed_munmap(long n)
{
	long limit = max_map_count();
	if (n <= 0)
		n = 2 * limit;
	void **vma = pointer_array(n);
	long premapped = vma_count();
	printf("[munmap] vm.max_map_count=%ld, %ld mappings before the test: mapping %ld pages, "
	       "then unmapping every second one\n", limit, premapped, n);
	fflush(stdout);
	if (map_pages(vma, n) < 0)
		return 1;
	long failures = 0, first = -1;
	for (long i = 0; i < n; i += 2) {
		if (munmap(vma[i], VMA_SIZE) != 0) {
			int e = errno;
			if (failures < 3)
				printf("[munmap] munmap() failed at %ld (%p): %s\n", i, vma[i], strerror(e));
			if (first < 0)
				first = i;
			failures++;
		}
	}
	if (failures > 3)
		printf("[munmap] ... and %ld more\n", failures - 3);
	printf("[munmap] %ld of %ld munmap() calls failed with ENOMEM (the first at index %ld); "
	       "the process now has %ld mappings\n", failures, n / 2, first, vma_count());
	return 0;
}

/* Still mapped? mincore() fails with ENOMEM on an unmapped page. */
static int is_mapped(unsigned long addr)
{
	unsigned char v;
	void *page = (void *)(addr & ~(unsigned long)(VMA_SIZE - 1));
	return mincore(page, VMA_SIZE, &v) == 0;
}

/* (b) */
static int seed_free(void)
{
	long limit = max_map_count();
	void **mmap_vma = pointer_array(limit);
	void **malloc_vma = pointer_array(limit);
	printf("[free] vm.max_map_count=%ld: %ld one-page mmaps, munmap every second one, then %ld "
	       "malloc(%d) and free every second one\n", limit, limit, limit, MALLOC_SIZE);
	fflush(stdout);
	if (map_pages(mmap_vma, limit) < 0)
		return 1;
	for (long i = 0; i < limit; i += 2) {
		if (munmap(mmap_vma[i], VMA_SIZE) != 0) {
			printf("[free] munmap() failed at %ld (%p): %s\n", i, mmap_vma[i], strerror(errno));
			return 1;
		}
	}
	for (long i = 0; i < limit; i++) {
		malloc_vma[i] = malloc(MALLOC_SIZE);
		if (!malloc_vma[i]) {
			printf("[free] malloc() failed at %ld\n", i);
			return 1;
		}
	}
	long leaks = 0;
	for (long i = 0; i < limit; i += 2) {
		unsigned long addr = (unsigned long)malloc_vma[i];
		free(malloc_vma[i]);
		if (is_mapped(addr)) {
			if (leaks < 3)
				printf("[free] free(%#lx) returned, but the block is still mapped\n", addr);
			leaks++;
		}
	}
	if (leaks > 3)
		printf("[free] ... and %ld more\n", leaks - 3);
	printf("[free] %ld of %ld free() calls left their block mapped (no error reported to the "
	       "program); the process now has %ld mappings\n", leaks, (limit + 1) / 2, vma_count());
	return 0;
}

int main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "both";
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(what, "munmap") == 0)
		return seed_munmap(argc > 2 ? atol(argv[2]) : 0);
	if (strcmp(what, "free") == 0)
		return seed_free();
	if (strcmp(what, "both") == 0) {
		/* Each in a fresh process: (a) leaves the address space at the wall. exit(), not
		 * _exit(): a preloaded guard writes its summary from a destructor. */
		int rc = 0;
		for (int part = 0; part < 2; part++) {
			pid_t pid = fork();
			if (pid == 0)
				exit(part == 0 ? seed_munmap(0) : seed_free());
			int st;
			if (pid < 0 || waitpid(pid, &st, 0) < 0)
				return 1;
			if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
				rc = 1;
		}
		return rc;
	}
	fprintf(stderr, "usage: seed_mapcount munmap [EXTRA] | free | both\n");
	return 2;
}

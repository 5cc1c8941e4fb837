/*
 * supp_prog DIR STEP...: maps DIR/a.dat (8 KiB, MAP_SHARED) and, for each STEP, cuts it to 4 KiB
 * from one of two call sites and grows it back:
 *   A  cut_a(): ftruncate from one function
 *   B  cut_b(): ftruncate from another
 * Each step prints "A 0", or "A -1 ETXTBSY" when the guard refused the cut.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int fd;

static void report(const char *step, int r, int e)
{
	if (r == 0)
		printf("%s 0\n", step);
	else
		printf("%s -1 %s\n", step, e == ETXTBSY ? "ETXTBSY" : strerror(e));
	if (ftruncate(fd, 8192) != 0)           /* growing back: never reported */
		perror("ftruncate back");
}

__attribute__((noinline)) static int cut_a(void)
{
	int r = ftruncate(fd, 4096);
	__asm__ volatile("" ::: "memory");     /* keep the call out of tail position */
	return r;
}

__attribute__((noinline)) static int cut_b(void)
{
	int r = ftruncate(fd, 4096);
	__asm__ volatile("" ::: "memory");
	return r;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: supp_prog DIR STEP...\n");
		return 2;
	}
	char path[4096];
	snprintf(path, sizeof path, "%s/a.dat", argv[1]);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || ftruncate(fd, 8192) != 0) {
		perror(path);
		return 1;
	}
	void *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	for (int i = 2; i < argc; i++) {
		int r = -1;
		if (strcmp(argv[i], "A") == 0)
			r = cut_a();
		else if (strcmp(argv[i], "B") == 0)
			r = cut_b();
		else {
			fprintf(stderr, "unknown step %s\n", argv[i]);
			return 2;
		}
		report(argv[i], r, errno);
	}
	munmap(m, 8192);
	close(fd);
	return 0;
}

/*
 * mg_stress: many threads mapping, remapping, unmapping, growing and truncating files at once,
 * a thread forking children that do the same, and anonymous mmap/munmap churn. Every truncation
 * is either of an unmapped file or to a size that still covers every live window, so the guard
 * must report nothing. With "violate", one more thread cuts a mapped file at known points and
 * prints one line per cut ("V call path size_before size_after dev ino"), so the test can match
 * the guard's records against them.
 *
 *   mg_stress DIR NTHREADS ITERS CHILDREN [violate=K] [expect=block|log]
 *
 * Prints summary lines ("workers N", "children N ok M", "anon N", "violations K refused R
 * succeeded S") and "errors E"; exits 0 iff every check held.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static long page;
static const char *dir;
static int iters, nchildren;
static int errors;                     /* atomic */
static int expect_block = 1;

static void fail(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int e = errno;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	fprintf(stderr, "mg_stress: FAILED: %s (errno %d %s)\n", buf, e, strerror(e));
	__atomic_add_fetch(&errors, 1, __ATOMIC_RELAXED);
}

#define CHECK(cond, ...) do { if (!(cond)) fail(__VA_ARGS__); } while (0)

static off_t fsize(int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -1;
	return st.st_size;
}

static void *map(size_t len, int prot, int flags, int fd, off_t off, const char *what)
{
	void *p = mmap(NULL, len, prot, flags, fd, off);
	CHECK(p != MAP_FAILED, "mmap %s len %zu off %lld", what, len, (long long)off);
	return p == MAP_FAILED ? NULL : p;
}

static void unmap(void *p, size_t len, const char *what)
{
	if (p)
		CHECK(munmap(p, len) == 0, "munmap %s %p+%zu", what, p, len);
}

static int fill_check(const unsigned char *p, size_t len, unsigned char c)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != c)
			return 0;
	return 1;
}

/* One file life: grown, mapped shared and private, split, remapped, shrunk safely, unmapped, cut. */
static void file_cycle(const char *path, unsigned *seed, unsigned char tag)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0, "open %s", path);
	if (fd < 0)
		return;
	long n1 = 4 + (long)(rand_r(seed) % 5);                 /* 4..8 pages */
	CHECK(ftruncate(fd, n1 * page) == 0, "grow %s to %ld pages", path, n1);
	unsigned char *a = map((size_t)(n1 * page), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0, "A");
	unsigned char *b = map((size_t)((n1 - 1) * page), PROT_READ | PROT_WRITE, MAP_PRIVATE, fd,
			       page, "B");
	if (!a || !b) {
		unmap(a, (size_t)(n1 * page), "A");
		unmap(b, (size_t)((n1 - 1) * page), "B");
		close(fd);
		return;
	}
	memset(a, tag, (size_t)(n1 * page));
	CHECK(fill_check(b, (size_t)((n1 - 1) * page), tag), "private view of %s", path);
	memset(b, tag ^ 0xff, (size_t)page);                    /* copy-on-write: not in the file */
	unsigned char c = 0;
	CHECK(pread(fd, &c, 1, page) == 1 && c == tag, "private write reached the file %s", path);

	/* A: [0,1) [2,n1-1) after trimming its tail page and punching page 1. */
	unmap(a + (n1 - 1) * page, (size_t)page, "A tail");
	unmap(a + page, (size_t)page, "A hole");
	unsigned char *a_head = a, *a_mid = a + 2 * page;
	size_t mid_len = (size_t)((n1 - 3) * page);

	/* Grow the file, then the middle piece with it (it may move). */
	long n2 = n1 + 1 + (long)(rand_r(seed) % 4);
	CHECK(ftruncate(fd, n2 * page) == 0, "grow %s to %ld pages", path, n2);
	size_t mid_new = (size_t)((n2 - 2) * page);
	unsigned char *m = mremap(a_mid, mid_len, mid_new, MREMAP_MAYMOVE);
	CHECK(m != MAP_FAILED, "mremap %s %zu -> %zu", path, mid_len, mid_new);
	if (m == MAP_FAILED) {
		m = a_mid;
		mid_new = mid_len;
	} else {
		m[mid_new - 1] = (unsigned char)(tag + 1);
		c = 0;
		CHECK(pread(fd, &c, 1, n2 * page - 1) == 1 && c == (unsigned char)(tag + 1),
		      "write through the remapped window of %s", path);
	}

	/* Shrink to sizes that keep every window backed: the last page stays partly covered. */
	off_t end = 2 * page + (off_t)mid_new;                  /* the highest window end */
	off_t safe = end - 1 - (off_t)(rand_r(seed) % (unsigned)(page - 2));
	CHECK(ftruncate(fd, safe) == 0, "safe ftruncate %s to %lld", path, (long long)safe);
	CHECK(truncate(path, safe - 1) == 0, "safe truncate %s to %lld", path, (long long)safe - 1);
	CHECK(fsize(fd) == safe - 1, "size of %s after safe shrink", path);

	/* Without the remapped piece only A's head and B (up to n1 pages) are live. */
	unmap(m, mid_new, "mid");
	off_t safe2 = n1 * page - 1;
	CHECK(ftruncate(fd, safe2) == 0, "safe ftruncate %s to %lld", path, (long long)safe2);
	CHECK(fill_check(a_head, (size_t)page, tag), "head of %s changed", path);
	CHECK(b[page] == tag, "private window of %s changed", path);
	unmap(a_head, (size_t)page, "A head");
	/* Only B [page, n1 pages) now: cut below its start would endanger it; cut inside its last page is fine. */
	CHECK(ftruncate(fd, (n1 - 1) * page + 1) == 0, "safe ftruncate %s", path);
	unmap(b, (size_t)((n1 - 1) * page), "B");

	/* Unmapped: every cut is fine. */
	CHECK(ftruncate(fd, 0) == 0, "ftruncate unmapped %s to 0", path);
	CHECK(pwrite(fd, "xyz", 3, 100) == 3, "pwrite %s", path);
	CHECK(truncate(path, 1) == 0, "truncate unmapped %s", path);
	int fd2 = open(path, O_WRONLY | O_TRUNC);
	CHECK(fd2 >= 0, "open O_TRUNC unmapped %s", path);
	if (fd2 >= 0)
		close(fd2);
	FILE *f = fopen(path, "w");
	CHECK(f != NULL, "fopen w unmapped %s", path);
	if (f) {
		fputs("done\n", f);
		CHECK(fclose(f) == 0, "fclose %s", path);
	}
	CHECK(fsize(fd) == 5, "final size of %s", path);
	CHECK(close(fd) == 0, "close %s", path);
	if (tag & 1)
		CHECK(unlink(path) == 0, "unlink %s", path);
}

static void *worker(void *arg)
{
	int t = (int)(intptr_t)arg;
	char name[16], path[4096];
	snprintf(name, sizeof name, "mg-worker-%d", t);
	prctl(PR_SET_NAME, name);
	unsigned seed = 1234u + (unsigned)t;
	for (int i = 0; i < iters; i++) {
		snprintf(path, sizeof path, "%s/w%d_%d", dir, t, i % 3);
		file_cycle(path, &seed, (unsigned char)(t * 16 + i));
	}
	return NULL;
}

/* Anonymous churn, and MAP_FIXED file windows laid over and replaced by anonymous memory. */
static void *anon_churn(void *arg)
{
	(void)arg;
	prctl(PR_SET_NAME, "mg-anon");
	char path[4096];
	snprintf(path, sizeof path, "%s/anonfile", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0, "open %s", path);
	CHECK(ftruncate(fd, 4 * page) == 0, "grow %s", path);
	for (int i = 0; i < iters * 4; i++) {
		size_t len = (size_t)((1 + i % 7) * page);
		unsigned char *p = mmap(NULL, len + 3 * page, PROT_READ | PROT_WRITE,
					MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		CHECK(p != MAP_FAILED, "anon mmap");
		if (p == MAP_FAILED)
			continue;
		memset(p, 0x5a, len + 3 * page);
		/* a file window over the first two pages, then anonymous memory over it again */
		void *q = mmap(p, 2 * page, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0);
		CHECK(q == p, "MAP_FIXED file over anon");
		q = mmap(p, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		CHECK(q == p, "MAP_FIXED anon over file");
		/* the file has no window left: any cut is fine */
		CHECK(ftruncate(fd, 0) == 0 && ftruncate(fd, 4 * page) == 0, "cut %s after MAP_FIXED", path);
		unmap(p + page, (size_t)page, "anon hole");
		unsigned char *r = mremap(p + 2 * page, len + page, len + 4 * page, MREMAP_MAYMOVE);
		CHECK(r != MAP_FAILED, "anon mremap");
		unmap(p, (size_t)page, "anon head");
		if (r != MAP_FAILED) {
			CHECK(r[0] == 0x5a, "anon content after mremap");
			unmap(r, len + 4 * page, "anon remapped");
		}
	}
	close(fd);
	unlink(path);
	return NULL;
}

/* A child's own cycle: a new file, mapped, shrunk safely, unmapped, cut. Returns the exit status. */
static int child_cycle(int k)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/child%d", dir, k);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, 3 * page) != 0)
		return 10;
	unsigned char *p = mmap(NULL, 3 * page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return 11;
	memset(p, 'c', 3 * page);
	if (msync(p, 3 * page, MS_SYNC) != 0 || munmap(p + 2 * page, page) != 0)
		return 12;
	if (ftruncate(fd, 2 * page) != 0)              /* the window is 2 pages now */
		return 13;
	if (p[2 * page - 1] != 'c')
		return 14;
	if (munmap(p, 2 * page) != 0 || ftruncate(fd, 0) != 0)
		return 15;
	FILE *f = fopen(path, "w");
	if (!f || fputs("child\n", f) < 0 || fclose(f) != 0)
		return 16;
	if (close(fd) != 0 || unlink(path) != 0)
		return 17;
	return 0;
}

static int children_ok;

static void *forker(void *arg)
{
	(void)arg;
	prctl(PR_SET_NAME, "mg-forker");
	for (int k = 0; k < nchildren; k++) {
		pid_t pid = fork();
		CHECK(pid >= 0, "fork");
		if (pid < 0)
			continue;
		if (pid == 0)
			_exit(child_cycle(k));
		int st;
		pid_t w;
		while ((w = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
			;
		CHECK(w == pid, "waitpid %d", (int)pid);
		if (w == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0)
			children_ok++;
		else
			fail("child %d: status 0x%x", k, st);
	}
	return NULL;
}

static int nviolate, refused, succeeded;

/* Cuts a mapped file at known points; one "V ..." line per cut. */
static void *violator(void *arg)
{
	(void)arg;
	prctl(PR_SET_NAME, "mg-violator");
	static const char *const how[] = { "ftruncate", "truncate", "open" };
	for (int k = 0; k < nviolate; k++) {
		char path[4096];
		snprintf(path, sizeof path, "%s/v%d", dir, k);
		int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
		CHECK(fd >= 0, "open %s", path);
		if (fd < 0)
			continue;
		CHECK(ftruncate(fd, 4 * page) == 0, "grow %s", path);
		int flags = (k & 1) ? MAP_PRIVATE : MAP_SHARED;
		unsigned char *p = map((size_t)(4 * page), PROT_READ | PROT_WRITE, flags, fd, 0, "victim");
		if (!p) {
			close(fd);
			continue;
		}
		memset(p, 'v', (size_t)(4 * page));
		if (flags == MAP_SHARED)
			CHECK(msync(p, 4 * page, MS_SYNC) == 0, "msync");
		struct stat st;
		CHECK(fstat(fd, &st) == 0, "fstat %s", path);
		int m = k % 3, r;
		off_t to = m == 0 ? page : m == 1 ? page + 100 : 0;
		if (m == 0) {
			r = ftruncate(fd, to);
		} else if (m == 1) {
			r = truncate(path, to);
		} else {
			r = open(path, O_WRONLY | O_TRUNC);
			if (r >= 0) {
				close(r);
				r = 0;
			}
		}
		int e = errno;
		printf("V %s %s %lld %lld %llu %llu\n", how[m], path, (long long)st.st_size,
		       (long long)to, (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
		if (r == -1 && e == ETXTBSY) {
			refused++;
			CHECK(expect_block, "%s of %s refused in log mode", how[m], path);
			CHECK(fsize(fd) == 4 * page, "size of %s after a refused cut", path);
			/* nothing was cut: the whole window is still readable */
			CHECK(fill_check(p, (size_t)(4 * page), 'v'), "content of %s", path);
		} else if (r == 0) {
			succeeded++;
			CHECK(!expect_block, "%s of %s not refused in block mode", how[m], path);
			CHECK(fsize(fd) == to, "size of %s after the cut", path);
		} else {
			errno = e;
			fail("%s of %s: unexpected result %d", how[m], path, r);
		}
		unmap(p, (size_t)(4 * page), "victim");
		close(fd);
		unlink(path);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: mg_stress DIR NTHREADS ITERS CHILDREN [violate=K] [expect=block|log]\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	page = sysconf(_SC_PAGESIZE);
	dir = argv[1];
	int nthreads = atoi(argv[2]);
	iters = atoi(argv[3]);
	nchildren = atoi(argv[4]);
	for (int i = 5; i < argc; i++) {
		if (!strncmp(argv[i], "violate=", 8))
			nviolate = atoi(argv[i] + 8);
		else if (!strcmp(argv[i], "expect=log"))
			expect_block = 0;
		else if (!strcmp(argv[i], "expect=block"))
			expect_block = 1;
		else {
			fprintf(stderr, "mg_stress: bad argument %s\n", argv[i]);
			return 2;
		}
	}
	pthread_t th[64], an, fk, vi;
	if (nthreads > 64)
		nthreads = 64;
	for (int t = 0; t < nthreads; t++)
		if (pthread_create(&th[t], NULL, worker, (void *)(intptr_t)t) != 0)
			fail("pthread_create");
	pthread_create(&an, NULL, anon_churn, NULL);
	pthread_create(&fk, NULL, forker, NULL);
	if (nviolate)
		pthread_create(&vi, NULL, violator, NULL);
	for (int t = 0; t < nthreads; t++)
		pthread_join(th[t], NULL);
	pthread_join(an, NULL);
	pthread_join(fk, NULL);
	if (nviolate)
		pthread_join(vi, NULL);
	printf("workers %d\n", nthreads);
	printf("children %d ok %d\n", nchildren, children_ok);
	printf("violations %d refused %d succeeded %d\n", nviolate, refused, succeeded);
	printf("errors %d\n", errors);
	return errors ? 1 : 0;
}

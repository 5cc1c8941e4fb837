/*
 * hard_soak DIR NTHREADS ITERS: a long run of legitimate work in block mode. Nothing here cuts a
 * live mapping, so every call must succeed exactly as without the guard (a refused call is a
 * false report: "FALSE ..." and a non-zero exit). Threads map, unmap in pieces, remap, grow,
 * shrink to sizes that still cover every window, truncate files they no longer map, overlay
 * MAP_FIXED, allocate, and fork children that do the same. At the end one real violation must
 * still be refused (the guard is alive).
 */
#include "hard_common.h"

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>

static const char *dir;
static int iters;
static size_t page;
static unsigned long falses;

#define OK(call, what)                                                                        \
	do {                                                                                  \
		if ((call) != 0) {                                                            \
			__atomic_add_fetch(&falses, 1, __ATOMIC_RELAXED);                     \
			hard_line("FALSE %s: %s errno=%d", what, #call, errno);               \
		}                                                                             \
	} while (0)

static int size_is(int fd, off_t want)
{
	struct stat st;
	return fstat(fd, &st) == 0 && st.st_size == want ? 0 : -1;
}

/* One cycle on the file `path`: every call here is legitimate. */
static void cycle(const char *path, unsigned seed)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		hard_line("FALSE open %s errno=%d", path, errno);
		__atomic_add_fetch(&falses, 1, __ATOMIC_RELAXED);
		return;
	}
	/* nothing maps it now: any size change is fine */
	OK(ftruncate(fd, 0), "truncate unmapped file to 0");
	OK(ftruncate(fd, (off_t)(4 * page)), "grow");
	char *a = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	char *b = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, (off_t)page);
	if (a == MAP_FAILED || b == MAP_FAILED) {
		hard_line("FAIL mmap errno=%d", errno);
		_exit(99);
	}
	a[0] = 1;
	b[0] = 2;
	/* windows: [0,4p) and [p,3p): sizes >= 3p+1 keep every page backed */
	OK(ftruncate(fd, (off_t)(4 * page)), "same size");
	OK(ftruncate(fd, (off_t)(6 * page)), "grow while mapped");
	OK(ftruncate(fd, (off_t)(3 * page + 1 + seed % (page - 1))), "shrink inside the last page");
	OK(ftruncate(fd, (off_t)(4 * page)), "grow back");
	/* grow the first window past EOF, then grow the file into it */
	char *a2 = mremap(a, 4 * page, 8 * page, MREMAP_MAYMOVE);
	if (a2 == MAP_FAILED) {
		hard_line("FAIL mremap errno=%d", errno);
		_exit(99);
	}
	OK(ftruncate(fd, (off_t)(6 * page)), "grow into the remapped window");
	/* punch the window: unmap its middle, overlay its tail with anonymous memory */
	OK(munmap(a2 + 2 * page, page), "munmap middle");
	void *fx = mmap(a2 + 3 * page, 5 * page, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (fx == MAP_FAILED) {
		hard_line("FAIL MAP_FIXED errno=%d", errno);
		_exit(99);
	}
	/* left: [0,2p) of a2 and [p,3p) of b: 3p keeps every page of them backed */
	OK(ftruncate(fd, (off_t)(3 * page)), "shrink to the end of the remaining windows");
	OK(munmap(b, 2 * page), "munmap b");
	/* now only [0,2p): 2p is safe */
	OK(ftruncate(fd, (off_t)(2 * page)), "shrink to the remaining window");
	OK(munmap(a2, 8 * page), "munmap all of a2 (incl. hole and overlay)");
	/* nothing mapped any more: truncation by path and by O_TRUNC are fine */
	OK(truncate(path, 0), "truncate unmapped by path");
	int t = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (t < 0) {
		hard_line("FALSE open O_TRUNC of an unmapped file errno=%d", errno);
		__atomic_add_fetch(&falses, 1, __ATOMIC_RELAXED);
	} else {
		close(t);
	}
	OK(size_is(fd, 0), "size 0 at the end");
	/* a mapping made larger than the file, then the file shrinks within the unbacked tail */
	OK(ftruncate(fd, (off_t)page), "one page");
	char *c = mmap(NULL, 4 * page, PROT_READ, MAP_SHARED, fd, 0);
	if (c != MAP_FAILED) {
		OK(ftruncate(fd, (off_t)(page / 2)), "shrink inside the page holding EOF");
		munmap(c, 4 * page);
	}
	close(fd);
}

static void *worker(void *arg)
{
	int id = (int)(intptr_t)arg;
	char path[4096];
	for (int it = 0; it < iters; it++) {
		snprintf(path, sizeof path, "%s/soak_t%d_%d", dir, id, it % 4);
		cycle(path, (unsigned)(it * 7 + id));
		void *m = malloc((size_t)(1 + it % 5) << 18);
		free(m);
		if (it % 50 == 25) {
			pid_t pid = fork();
			if (pid == 0) {
				alarm(60);
				char cp[4096];
				snprintf(cp, sizeof cp, "%s/soak_child_%d", dir, (int)getpid());
				for (int k = 0; k < 5; k++)
					cycle(cp, (unsigned)k);
				unlink(cp);
				_exit(__atomic_load_n(&falses, __ATOMIC_RELAXED) ? 1 : 0);
			}
			int st;
			if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st)) {
				hard_line("FALSE fork child %d failed (status %#x)", (int)pid, pid > 0 ? st : -1);
				__atomic_add_fetch(&falses, 1, __ATOMIC_RELAXED);
			}
		}
	}
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
	page = hard_page();
	if (n < 1 || n > 64)
		return 2;
	pthread_t t[64];
	for (int i = 0; i < n; i++)
		HARD_CHECK(pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i) == 0, "create");
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);

	/* the guard still works: one real violation, refused in block mode */
	char path[4096];
	snprintf(path, sizeof path, "%s/soak_final", dir);
	int fd = hard_make_file(path, (off_t)(2 * page));
	char *p = hard_map(fd, 2 * page);
	hard_violate(fd, path, (off_t)(2 * page), 0, 1);
	munmap(p, 2 * page);
	close(fd);
	hard_line("SUMMARY falses=%lu", falses);
	return falses ? 1 : 0;
}

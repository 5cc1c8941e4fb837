/*
 * hard_limits DIR nofile|nofile-late|as log|block: violations when the guard itself runs short.
 *
 *   nofile       the log is opened by a first violation, then every descriptor is used up
 *                (open until EMFILE) and the program violates through ftruncate, truncate,
 *                open(O_TRUNC) and fopen("w"), maps and unmaps
 *   nofile-late  the same, but the first violation comes only after the exhaustion: the guard cannot
 *                open its log then; after a few descriptors are freed it must manage
 *   as           RLIMIT_AS lowered to what the process already uses, so that every new mapping
 *                (the program's and the guard's own) fails with ENOMEM; then a little room
 *
 * Each call's result is checked against what libc gives without the guard (log mode: the call
 * proceeds; block mode: a violation is refused with ETXTBSY); a mismatch is "FAIL ..." and exit 99.
 * "COUNTS written=W dropped=D" comes from the guard's API (-1 -1 without the guard).
 */
#include "hard_common.h"

#include <dlfcn.h>
#include <sys/resource.h>

static size_t page;
static int block;

static unsigned long api_count(const char *name)
{
	unsigned long (*fn)(void) = (unsigned long (*)(void))dlsym(RTLD_DEFAULT, name);
	return fn ? fn() : (unsigned long)-1;
}

static void counts(const char *tag)
{
	hard_line("COUNTS %s written=%ld dropped=%ld", tag, (long)api_count("mmapguard_reports_written"),
		  (long)api_count("mmapguard_reports_dropped"));
}

static off_t size_of(const char *path)
{
	struct stat st;
	HARD_CHECK(stat(path, &st) == 0, "stat %s", path);
	return st.st_size;
}

/* truncate(path): the path variant */
static void violate_path(const char *path, off_t before, off_t after)
{
	hard_expect(HARD_TRUNCATE, path, (long long)before, (long long)after);
	int r = truncate(path, after);
	int e = errno;
	if (block) {
		HARD_CHECK(r == -1 && e == ETXTBSY, "blocked truncate returned %d errno %d", r, e);
		HARD_CHECK(size_of(path) == before, "blocked truncate changed the size");
	} else {
		HARD_CHECK(r == 0, "truncate returned %d errno %d", r, e);
		HARD_CHECK(size_of(path) == after, "truncate left size %lld", (long long)size_of(path));
	}
}

static void regrow(int fd, off_t size)
{
	HARD_CHECK(ftruncate(fd, size) == 0, "regrow");
}

static int exhaust(int *fds, int max)
{
	int n = 0;
	for (;;) {
		int fd = open("/dev/null", O_RDONLY);
		if (fd < 0) {
			HARD_CHECK(errno == EMFILE, "open /dev/null failed with errno %d, not EMFILE", errno);
			break;
		}
		HARD_CHECK(n < max, "more than %d descriptors", max);
		fds[n++] = fd;
	}
	return n;
}

static void run_nofile(const char *dir, int late)
{
	char path[4096], other[4096];
	snprintf(path, sizeof path, "%s/victim", dir);
	snprintf(other, sizeof other, "%s/other", dir);
	off_t big = (off_t)(3 * page);
	int fd = hard_make_file(path, big);
	char *m = hard_map(fd, 3 * page);
	int ofd = hard_make_file(other, big);
	hard_line("SECTION setup");
	if (!late) {
		hard_violate(fd, path, big, 0, block);
		regrow(fd, big);
	}
	struct rlimit rl = { 256, 256 };
	HARD_CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0, "setrlimit");
	static int fds[300];
	int n = exhaust(fds, 300);
	hard_line("EXHAUSTED %d", n);
	hard_line("SECTION exhausted");

	/* ftruncate and truncate need no new descriptor */
	hard_violate(fd, path, big, 0, block);
	regrow(fd, big);
	violate_path(path, big, 1);
	regrow(fd, big);

	/* open(O_TRUNC): without the guard this fails with EMFILE and truncates nothing */
	/* the guard checks (and reports) before the real call, which then fails with EMFILE */
	hard_expect("open", path, (long long)big, 0);
	errno = 0;
	int r = open(path, O_WRONLY | O_TRUNC);
	int e = errno;
	if (block)
		HARD_CHECK(r == -1 && (e == ETXTBSY || e == EMFILE), "open O_TRUNC: %d errno %d", r, e);
	else
		HARD_CHECK(r == -1 && e == EMFILE, "open O_TRUNC: %d errno %d (libc: EMFILE)", r, e);
	HARD_CHECK(size_of(path) == big, "open O_TRUNC changed the size to %lld", (long long)size_of(path));
	hard_line("OPEN_TRUNC r=%d errno=%d", r, e);
	hard_expect("fopen", path, (long long)big, 0);
	FILE *f = fopen(path, "w");
	e = errno;
	HARD_CHECK(f == NULL, "fopen succeeded without descriptors");
	HARD_CHECK(block ? (e == ETXTBSY || e == EMFILE) : e == EMFILE, "fopen errno %d", e);
	hard_line("FOPEN errno=%d", e);

	/* mapping without a new descriptor works as usual */
	char *q = mmap(NULL, 2 * page, PROT_READ, MAP_SHARED, ofd, 0);
	HARD_CHECK(q != MAP_FAILED, "mmap with no descriptor left");
	HARD_CHECK(munmap(q, page) == 0, "partial munmap");
	hard_violate(ofd, other, big, 0, block);   /* the second page is still mapped */
	if (!block)
		regrow(ofd, big);
	HARD_CHECK(munmap(q + page, page) == 0, "munmap rest");
	counts("exhausted");

	/* a few descriptors back: everything works again */
	for (int i = 0; i < 8; i++)
		close(fds[--n]);
	hard_line("SECTION after");
	hard_violate(fd, path, big, 0, block);
	regrow(fd, big);
	counts("after");
	while (n > 0)
		close(fds[--n]);
	munmap(m, 3 * page);
}

static long vm_size_bytes(void)
{
	int fd = open("/proc/self/status", O_RDONLY);
	HARD_CHECK(fd >= 0, "open status");
	char buf[8192];
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	HARD_CHECK(n > 0, "read status");
	buf[n] = 0;
	char *p = strstr(buf, "VmSize:");
	HARD_CHECK(p != NULL, "VmSize");
	return atol(p + 7) * 1024;
}

static void set_as(rlim_t v)
{
	struct rlimit rl = { v, RLIM_INFINITY };
	HARD_CHECK(setrlimit(RLIMIT_AS, &rl) == 0, "setrlimit AS");
}

static void run_as(const char *dir)
{
	char path[4096], other[4096];
	snprintf(path, sizeof path, "%s/victim", dir);
	snprintf(other, sizeof other, "%s/other", dir);
	off_t big = (off_t)(3 * page);
	int fd = hard_make_file(path, big);
	char *m = hard_map(fd, 3 * page);
	int ofd = hard_make_file(other, big);
	/* one violation first: the guard's lazily made things exist (log, symbol cache, arena) */
	hard_line("SECTION setup");
	hard_violate(fd, path, big, 0, block);
	regrow(fd, big);

	set_as((rlim_t)vm_size_bytes());
	hard_line("SECTION no-room");
	/* no new mapping fits: the program's calls fail with ENOMEM, as they would without us */
	void *a = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	HARD_CHECK(a == MAP_FAILED && errno == ENOMEM, "anonymous mmap under the limit: %p", a);
	void *b = mmap(NULL, page, PROT_READ, MAP_SHARED, ofd, 0);
	HARD_CHECK(b == MAP_FAILED && errno == ENOMEM, "file mmap under the limit: %p", b);
	void *c = mremap(m, 3 * page, 6 * page, MREMAP_MAYMOVE);
	HARD_CHECK(c == MAP_FAILED && errno == ENOMEM, "mremap growth under the limit: %p", c);
	/* the guard cannot allocate its event: the record is dropped, the verdict still holds */
	hard_line("NOTE the next violation's record may be dropped");
	hard_violate(fd, path, big, 0, block);
	regrow(fd, big);
	counts("no-room");

	/* a little room: enough for the program's page, not for the guard's report buffers */
	set_as((rlim_t)vm_size_bytes() + 16 * page);
	hard_line("SECTION little-room");
	b = mmap(NULL, page, PROT_READ, MAP_SHARED, ofd, 0);
	HARD_CHECK(b != MAP_FAILED, "file mmap with room for it");
	hard_line("NOTE other may be untracked now");
	hard_expect(HARD_FTRUNCATE, other, (long long)big, 0);
	errno = 0;
	int r = ftruncate(ofd, 0);
	int e = errno;
	hard_line("OTHER_CUT r=%d errno=%d", r, e);
	/* the guard either refused it (block) or let it through; never anything else */
	HARD_CHECK(r == 0 || (block && r == -1 && e == ETXTBSY), "ftruncate of other: %d errno %d", r, e);
	HARD_CHECK(munmap(b, page) == 0, "munmap other");
	counts("little-room");

	set_as(RLIM_INFINITY);
	hard_line("SECTION restored");
	hard_violate(fd, path, big, 0, block);
	regrow(fd, big);
	counts("restored");
	munmap(m, 3 * page);
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s DIR nofile|nofile-late|as log|block\n", argv[0]);
		return 2;
	}
	page = hard_page();
	block = strcmp(argv[3], "block") == 0;
	if (strcmp(argv[2], "nofile") == 0)
		run_nofile(argv[1], 0);
	else if (strcmp(argv[2], "nofile-late") == 0)
		run_nofile(argv[1], 1);
	else if (strcmp(argv[2], "as") == 0)
		run_as(argv[1]);
	else
		return 2;
	hard_line("DONE");
	return 0;
}

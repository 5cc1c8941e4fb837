/*
 * edge_log CASE DIR: where the guard's reports go when the log is unusual.
 *
 *   cut            maps DIR/mapped (3 pages) and cuts it twice (two reports); "CUT rc=R" each
 *   chdir-cut      chdir(DIR/elsewhere) first, then as cut
 *   reuse-fd N     closes descriptor N, opens DIR/data (which gets N) and writes "DATA\n" to it,
 *                  then as cut; prints "DATA size=S" (5 when nothing else was written into it)
 *   reuse-fault N  the same, then touches the cut mapping: dies of SIGBUS (the guard's SIGBUS
 *                  record must not land in the data file either)
 *   redirect-fd N  dup2()s DIR/redirected onto descriptor N, then as cut
 *   nofile         maps and cuts (the guard's descriptors now exist), then opens /dev/null until
 *                  EMFILE: "FDS n=N list=a,b,c" (the numbers the program got, in order)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHECK(cond, what)                                                     \
	do {                                                                  \
		if (!(cond)) {                                                \
			printf("FAIL %s (errno %d)\n", what, errno);          \
			exit(99);                                             \
		}                                                             \
	} while (0)

static int out = 1;      /* where this program's own lines go */

static volatile char *mapped;

static void cut(const char *dir, int times)
{
	char path[4096];
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	snprintf(path, sizeof path, "%s/mapped", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0, "create");
	CHECK(ftruncate(fd, (off_t)(3 * page)) == 0, "size");
	void *m = mmap(NULL, 3 * page, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(m != MAP_FAILED, "mmap");
	mapped = m;
	for (int i = 0; i < times; i++) {
		CHECK(ftruncate(fd, (off_t)(3 * page)) == 0, "regrow");
		int r = ftruncate(fd, 0);
		dprintf(out, "CUT rc=%d\n", r);
	}
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: edge_log CASE DIR [N]\n");
		return 2;
	}
	const char *c = argv[1], *dir = argv[2];
	char path[4096];
	if (strcmp(c, "cut") == 0) {
		cut(dir, 2);
	} else if (strcmp(c, "chdir-cut") == 0) {
		snprintf(path, sizeof path, "%s/elsewhere", dir);
		CHECK(mkdir(path, 0755) == 0 && chdir(path) == 0, "chdir");
		cut(dir, 2);
	} else if (strcmp(c, "redirect-fd") == 0 && argc > 3) {
		snprintf(path, sizeof path, "%s/redirected", dir);
		int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
		CHECK(fd >= 0 && dup2(fd, atoi(argv[3])) >= 0, "dup2");
		close(fd);
		cut(dir, 2);
	} else if ((strcmp(c, "reuse-fd") == 0 || strcmp(c, "reuse-fault") == 0) && argc > 3) {
		int n = atoi(argv[3]);
		out = n == 1 ? 2 : 1;
		snprintf(path, sizeof path, "%s/data", dir);
		CHECK(close(n) == 0, "close");
		int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
		CHECK(fd == n, "the data file did not get the closed number");
		CHECK(write(fd, "DATA\n", 5) == 5, "write data");
		cut(dir, 2);
		if (strcmp(c, "reuse-fault") == 0)
			dprintf(out, "TOUCH %d\n", mapped[0]);    /* SIGBUS */
		struct stat st;
		CHECK(stat(path, &st) == 0, "stat data");
		dprintf(out, "DATA size=%lld\nDONE\n", (long long)st.st_size);
		return 0;
	} else if (strcmp(c, "nofile") == 0) {
		cut(dir, 1);
		static char list[1 << 16];
		size_t len = 0;
		int n = 0, fd;
		while ((fd = open("/dev/null", O_RDONLY)) >= 0) {
			len += (size_t)snprintf(list + len, sizeof list - len, "%s%d", n ? "," : "", fd);
			n++;
			if (len > sizeof list - 16)
				break;
		}
		CHECK(errno == EMFILE || len > sizeof list - 16, "open /dev/null");
		printf("FDS n=%d list=%s\n", n, list);
	} else {
		fprintf(stderr, "unknown case %s\n", c);
		return 2;
	}
	printf("DONE\n");
	return 0;
}

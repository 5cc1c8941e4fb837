/*
 * hard_fortify DIR FLAGS [block]: built with -O2 -D_FORTIFY_SOURCE=2 -D_FILE_OFFSET_BITS=64, so
 * that open() with flags the compiler cannot see becomes __open64_2 and ftruncate() ftruncate64.
 * FLAGS is the open flags as a number (O_WRONLY|O_TRUNC from the test): not a constant here.
 * With "block" the program expects both violations to be refused with ETXTBSY.
 */
#include "hard_common.h"

int main(int argc, char **argv)
{
	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: %s DIR FLAGS [block]\n", argv[0]);
		return 2;
	}
	int block = argc == 4 && strcmp(argv[3], "block") == 0;
	size_t page = hard_page();
	int flags = (int)strtol(argv[2], NULL, 0);
	char path[4096];
	snprintf(path, sizeof path, "%s/fortified", argv[1]);
	int fd = hard_make_file(path, (off_t)(3 * page));
	char *p = hard_map(fd, 3 * page);

	hard_violate(fd, path, (off_t)(3 * page), 5, block);    /* ftruncate64 */
	HARD_CHECK(ftruncate(fd, (off_t)(3 * page)) == 0, "regrow");

	hard_expect("__open64_2", path, (long long)(3 * page), 0);
	errno = 0;
	int t = open(path, flags);                               /* __open64_2 */
	int e = errno;
	struct stat st;
	HARD_CHECK(fstat(fd, &st) == 0, "fstat");
	if (block) {
		HARD_CHECK(t == -1 && e == ETXTBSY, "blocked open returned %d errno %d", t, e);
		HARD_CHECK(st.st_size == (off_t)(3 * page), "blocked open changed the size");
	} else {
		HARD_CHECK(t >= 0, "open");
		HARD_CHECK(st.st_size == 0, "open with flags %#x did not truncate", flags);
		close(t);
	}
	munmap(p, 3 * page);
	close(fd);
	hard_line("DONE");
	return 0;
}

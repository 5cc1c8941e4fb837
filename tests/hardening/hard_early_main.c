/*
 * hard_early_main DIR: the program run with libhard_early.so (preloaded, or linked as a dependency
 * in the hard_early_needed build). main() lets the library finish (hard_early_finish through
 * dlsym) and violates once itself: the guard works normally after the early calls.
 */
#include "hard_common.h"

#include <dlfcn.h>

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	size_t page = hard_page();
	void (*finish)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "hard_early_finish");
	hard_line("MAIN early_library=%d", finish != NULL);
	if (finish)
		finish();
	char path[4096];
	snprintf(path, sizeof path, "%s/main_cut", argv[1]);
	int fd = hard_make_file(path, (off_t)(2 * page));
	char *p = hard_map(fd, 2 * page);
	hard_violate(fd, path, (off_t)(2 * page), 0, 0);
	munmap(p, 2 * page);
	close(fd);
	hard_line("DONE");
	return 0;
}

/*
 * hard_dlopen DIR PLUGIN N: a C program that dlopens a C++ plugin which throws and catches
 * exceptions (hard_plugin.cpp), under the guard, with violations before and after so that the
 * guard's stack capture (libunwind) runs in between.
 */
#include "hard_common.h"

#include <dlfcn.h>

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s DIR PLUGIN N\n", argv[0]);
		return 2;
	}
	size_t page = hard_page();
	int n = atoi(argv[3]);
	char path[4096];
	snprintf(path, sizeof path, "%s/before_plugin", argv[1]);
	int fd = hard_make_file(path, (off_t)(2 * page));
	char *p = hard_map(fd, 2 * page);
	hard_violate(fd, path, (off_t)(2 * page), 0, 0);
	munmap(p, 2 * page);
	close(fd);

	void *h = dlopen(argv[2], RTLD_NOW | RTLD_LOCAL);
	HARD_CHECK(h != NULL, "dlopen: %s", dlerror());
	int (*run)(int) = (int (*)(int))dlsym(h, "plugin_run");
	int (*destroyed)(void) = (int (*)(void))dlsym(h, "plugin_destroyed");
	void *(*pmap)(int, size_t) = (void *(*)(int, size_t))dlsym(h, "plugin_map");
	HARD_CHECK(run && destroyed && pmap, "plugin symbols");
	int caught = run(n);
	hard_line("PLUGIN caught=%d destroyed=%d", caught, destroyed());

	/* a mapping made inside the plugin's catch handler, cut here */
	snprintf(path, sizeof path, "%s/plugin_map", argv[1]);
	fd = hard_make_file(path, (off_t)(3 * page));
	p = pmap(fd, 3 * page);
	HARD_CHECK(p != MAP_FAILED, "plugin_map");
	hard_violate(fd, path, (off_t)(3 * page), 0, 0);
	caught = run(n);
	hard_line("PLUGIN caught=%d destroyed=%d", caught, destroyed());
	munmap(p, 3 * page);
	close(fd);
	dlclose(h);
	hard_line("DONE");
	return 0;
}

/*
 * A library that loads another one by name: the name is searched along this library's own
 * DT_RUNPATH ($ORIGIN/dlm_rp2), which only a dlopen that knows its real caller uses.
 */
#include <dlfcn.h>

__attribute__((noinline)) void *dlm_loader_open(const char *name)
{
	return dlopen(name, RTLD_NOW);
}

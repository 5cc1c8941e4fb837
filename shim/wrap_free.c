/*
 * free: glibc's free() unmaps a large (mmapped) block with an internal munmap that no wrapper can
 * see, and ignores its failure at vm.max_map_count: the block silently leaks. After such a free,
 * one mincore() says whether the block is still mapped. Only glibc's own free is examined (the
 * chunk header layout is glibc's); any other allocator's free passes straight through.
 */
#define _GNU_SOURCE
#include "mapcount.h"
#include "real.h"
#include "registry.h"

#include <dlfcn.h>
#include <string.h>
#include <sys/syscall.h>

#define CHUNK_IS_MMAPPED 0x2

static int glibc_free;  /* 1 when the real free is glibc's, decided at load */

bool mg_free_init(void)
{
	/* libc's own free, looked up in libc alone (cheaper than dladdr's symbol search) */
	void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
	mg_free_fn real = MG_REAL(free);
	if (libc && real && dlsym(libc, "free") == (void *)real)
		__atomic_store_n(&glibc_free, 1, __ATOMIC_RELEASE);
	if (libc)
		dlclose(libc);
	return __atomic_load_n(&glibc_free, __ATOMIC_RELAXED) != 0;
}

MG_EXPORT void free(void *p)
{
	mg_free_fn real = MG_REAL(free);
	if (mg_unlikely(!real))
		return;         /* only while dlsym resolves free itself: the block is kept */
	if (!p || mg_inside() || !__atomic_load_n(&glibc_free, __ATOMIC_RELAXED)) {
		real(p);
		return;
	}
	size_t size = ((size_t *)p)[-1];
	if (mg_likely(!(size & CHUNK_IS_MMAPPED))) {
		real(p);
		return;
	}
	size_t prev = ((size_t *)p)[-2];
	uintptr_t block = (uintptr_t)p - 2 * sizeof(size_t) - prev;
	size_t total = prev + (size & ~(size_t)7);
	real(p);
	unsigned char vec;
	if (MG_SYS3(SYS_mincore, block, mg_page_size(), &vec) == 0)
		mg_mapcount_free_leak(block, total);
	else
		mg_mapcount_note(1);    /* malloc's own mmap of it was invisible; the unmap may split */
}

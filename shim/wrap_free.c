/*
 * free: glibc's free() unmaps a large (mmapped) block with an internal munmap that no wrapper can
 * see, and ignores its failure at vm.max_map_count: the block silently leaks. After such a free,
 * one mincore() says whether the block is still mapped. Only glibc's own free is examined (the
 * chunk header layout is glibc's); any other allocator's free passes straight through.
 */
#define _GNU_SOURCE
#include "wrap_free.h"
#include "mapcount.h"
#include "page.h"
#include "real.h"

#include <dlfcn.h>
#include <link.h>
#include <string.h>
#include <sys/syscall.h>

#define CHUNK_IS_MMAPPED 0x2

static int glibc_free;  /* 1 when the real free is glibc's, decided at load */

/* 1 if the object whose segments hold the address is libc.so.6, -1 if another one holds it. */
static int holder_is_libc(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	uintptr_t addr = (uintptr_t)arg;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		if (ph->p_type != PT_LOAD || addr < lo || addr - lo >= ph->p_memsz)
			continue;
		const char *name = info->dlpi_name ? info->dlpi_name : "";
		const char *base = strrchr(name, '/');
		base = base ? base + 1 : name;
		return strncmp(base, "libc.so.", 8) == 0 ? 1 : -1;
	}
	return 0;
}

bool mg_free_init(void)
{
	/* Which object defines the free the program calls. No dlopen: it would start malloc. */
	mg_free_fn real = MG_REAL(free);
	if (real && dl_iterate_phdr(holder_is_libc, (void *)(uintptr_t)real) == 1)
		__atomic_store_n(&glibc_free, 1, __ATOMIC_RELEASE);
	/* RTLD_NEXT skips the executable: a malloc defined there is found in the global scope. */
	void *m = dlsym(RTLD_DEFAULT, "malloc");
	bool glibc_malloc = m && dl_iterate_phdr(holder_is_libc, m) == 1;
	return glibc_malloc && __atomic_load_n(&glibc_free, __ATOMIC_RELAXED) != 0;
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

#define _GNU_SOURCE
#include "arena.h"
#include "real.h"

#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#define MG_MIN_CLASS 6            /* 64 bytes */
#define MG_MAX_CLASS 16           /* 64 KiB; larger requests get their own pages */
#define MG_CHUNK (256u << 10)

struct free_node { struct free_node *next; };

static struct free_node *free_lists[MG_MAX_CLASS + 1];
static char *chunk_cur, *chunk_end;

#ifndef __SANITIZE_THREAD__
void *mg_pages_alloc(size_t size)
{
	long r = MG_SYS6(SYS_mmap, 0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return (r < 0 && r > -4096) ? NULL : (void *)r;
}

void mg_pages_free(void *p, size_t size)
{
	if (p)
		MG_SYS2(SYS_munmap, p, size);
}
#else
#include <dlfcn.h>
/*
 * ThreadSanitizer learns of pages only through its mmap/munmap interceptors: pages the kernel hands
 * out again after a raw munmap would look like one object with two unsynchronised owners. Its
 * runtime is loaded first, so the first mmap/munmap in the lookup order are its interceptors
 * (which pass the calls on to the guard's wrappers, and those straight on: the guard is inside).
 */
typedef void *(*mmap_fn)(void *, size_t, int, int, int, off_t);
typedef int (*munmap_fn)(void *, size_t);

void *mg_pages_alloc(size_t size)
{
	static mmap_fn first_mmap;      /* racing threads store the same value */
	mmap_fn f = __atomic_load_n(&first_mmap, __ATOMIC_RELAXED);
	if (!f) {
		f = (mmap_fn)dlsym(RTLD_DEFAULT, "mmap");
		__atomic_store_n(&first_mmap, f, __ATOMIC_RELAXED);
	}
	void *p = f(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

void mg_pages_free(void *p, size_t size)
{
	static munmap_fn first_munmap;
	munmap_fn f = __atomic_load_n(&first_munmap, __ATOMIC_RELAXED);
	if (!f) {
		f = (munmap_fn)dlsym(RTLD_DEFAULT, "munmap");
		__atomic_store_n(&first_munmap, f, __ATOMIC_RELAXED);
	}
	if (p)
		f(p, size);
}
#endif

static int size_class(size_t size)
{
	if (size <= ((size_t)1 << MG_MIN_CLASS))
		return MG_MIN_CLASS;
	return 64 - __builtin_clzl(size - 1);   /* smallest c with 2^c >= size */
}

void *mg_arena_alloc(size_t size)
{
	void *p = mg_arena_alloc_raw(size);
	if (p && size <= ((size_t)1 << MG_MAX_CLASS))
		memset(p, 0, size);     /* larger blocks are fresh pages */
	return p;
}

void *mg_arena_alloc_raw(size_t size)
{
	int c = size_class(size);
	if (c > MG_MAX_CLASS) {
		size_t n = (size + 4095) & ~(size_t)4095;
		return mg_pages_alloc(n);       /* fresh anonymous pages are zero */
	}
	size_t n = (size_t)1 << c;
	struct free_node *f = free_lists[c];
	if (f) {
		free_lists[c] = f->next;
		return f;
	}
	if ((size_t)(chunk_end - chunk_cur) < n) {
		char *chunk = mg_pages_alloc(MG_CHUNK);
		if (!chunk)
			return NULL;
		/* The rest of the old chunk is abandoned; at most 64 KiB per 256 KiB, rarely. */
		chunk_cur = chunk;
		chunk_end = chunk + MG_CHUNK;
	}
	void *p = chunk_cur;
	chunk_cur += n;
	return p;
}

void mg_arena_free(void *p, size_t size)
{
	if (!p)
		return;
	int c = size_class(size);
	if (c > MG_MAX_CLASS) {
		mg_pages_free(p, (size + 4095) & ~(size_t)4095);
		return;
	}
	struct free_node *f = p;
	f->next = free_lists[c];
	free_lists[c] = f;
}

void mg_arena_forget(void)
{
	memset(free_lists, 0, sizeof free_lists);
	chunk_cur = chunk_end = NULL;
}

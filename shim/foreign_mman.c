/*
 * Another library loaded ahead of the guard can define mmap/munmap/mremap itself and make the
 * system call directly (gperftools' tcmalloc does): then the guard's wrappers never run. tcmalloc
 * announces every mapping call to hooks; the guard registers there. Any other such library is
 * named on stderr, because the guard cannot see through it.
 */
#define _GNU_SOURCE
#include "foreign_mman.h"
#include "backtrace.h"
#include "fmt.h"
#include "mapcount.h"
#include "real.h"
#include "registry.h"
#include "rule.h"
#include "window.h"

#include <dlfcn.h>
#include <limits.h>
#include <string.h>
#include <sys/mman.h>

typedef void (*mmap_hook)(const void *result, const void *start, size_t size, int prot, int flags,
			  int fd, off_t offset);
typedef void (*munmap_hook)(const void *ptr, size_t size);
typedef void (*mremap_hook)(const void *result, const void *old, size_t old_size, size_t new_size,
			    int flags, const void *new_addr);
typedef int (*add_fn)(void *hook);

extern __typeof(mmap) mg_own_mmap;

static void on_mmap(const void *result, const void *start, size_t size, int prot, int flags,
		    int fd, off_t offset)
{
	(void)start;
	if (result == MAP_FAILED || mg_inside())
		return;
	mg_mapcount_note(1);
	uintptr_t a = (uintptr_t)result, b = a + mg_round_up(size, mg_page_size());
	struct mg_window w;
	bool file = !(flags & MAP_ANONYMOUS) && fd >= 0 && mg_window_describe(fd, prot, flags, offset, &w);
	if (!file) {
		if ((flags & MAP_FIXED) && mg_reg_nmaps()) {
			mg_reg_lock();
			mg_reg_remove_locked(a, b);
			mg_reg_unlock();
		}
		return;
	}
	w.start = a;
	w.end = b;
	mg_enter();
	w.stack = mg_bt_capture_ref();
	mg_leave();
	mg_reg_lock();
	mg_reg_insert_locked(&w);
	mg_reg_unlock();
}

/* Called before the unmap: forgetting a range that then stays mapped only loses a report. */
static void on_munmap(const void *ptr, size_t size)
{
	if (mg_inside() || !mg_reg_nmaps())
		return;
	uintptr_t a = (uintptr_t)ptr;
	mg_reg_lock();
	mg_reg_remove_locked(a, a + mg_round_up(size, mg_page_size()));
	mg_reg_unlock();
}

static void on_mremap(const void *result, const void *old, size_t old_size, size_t new_size,
		      int flags, const void *new_addr)
{
	(void)new_addr;
	if (result == MAP_FAILED || mg_inside() || !mg_reg_nmaps())
		return;
	mg_reg_lock();
	mg_reg_mremap_locked((uintptr_t)old, old_size, (uintptr_t)result, new_size,
			     (flags & MREMAP_DONTUNMAP) != 0);
	mg_reg_unlock();
}

void *mg_mmap_ahead(void)
{
	void *def = dlsym(RTLD_DEFAULT, "mmap");
	return def == (void *)mg_own_mmap ? NULL : def;
}

bool mg_foreign_mman_init(void *def)
{
	if (!def)
		return false;
	add_fn add_mmap = (add_fn)dlsym(RTLD_DEFAULT, "MallocHook_AddMmapHook");
	add_fn add_munmap = (add_fn)dlsym(RTLD_DEFAULT, "MallocHook_AddMunmapHook");
	add_fn add_mremap = (add_fn)dlsym(RTLD_DEFAULT, "MallocHook_AddMremapHook");
	if (add_mmap && add_munmap && add_mremap && add_mmap((void *)on_mmap) &&
	    add_munmap((void *)on_munmap) && add_mremap((void *)on_mremap))
		return true;
	Dl_info di;
	bool known = dladdr(def, &di) != 0;
	const char *who = known && di.dli_fname ? di.dli_fname : "another library";
	/* The sanitizers' runtimes (ASan must come first) forward their mmap to the next definition,
	 * the guard's: nothing is missed. */
	void *san = dlsym(RTLD_DEFAULT, "__sanitizer_set_report_path");
	Dl_info si;
	if (known && san && dladdr(san, &si) && si.dli_fbase == di.dli_fbase)
		return false;
	char msg[PATH_MAX + 256];
	struct mg_buf b;
	mg_buf_init(&b, msg, sizeof msg);
	mg_buf_puts(&b, "mmapguard: mmap is defined by ");
	mg_buf_text(&b, who);
	mg_buf_puts(&b, ", loaded ahead of the guard: mappings made through it are not tracked; "
			"list libmmapguard.so first in LD_PRELOAD\n");
	mg_write_all(2, b.p, b.len);
	return false;
}

/*
 * Another copy of the guard ahead of this one (two library paths in LD_PRELOAD, or a program
 * linked with the library and run under another copy): that copy sees every call first, reports
 * it and calls this one as "the real function". This copy must then stay out of the way, or every
 * violation would be reported, and refused, twice.
 */
bool mg_other_guard_ahead(void *def)
{
	void *api = def ? dlsym(RTLD_DEFAULT, "mmapguard_get_mode") : NULL;
	if (!api)
		return false;
	Dl_info a, b;
	return dladdr(def, &a) && dladdr(api, &b) && a.dli_fbase == b.dli_fbase;
}

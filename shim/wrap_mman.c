/* mmap, mmap64, munmap, mremap: keep the registry equal to what is really mapped. */
#define _GNU_SOURCE
#include "backtrace.h"
#include "check.h"
#include "config.h"
#include "real.h"
#include "registry.h"
#include "rule.h"
#include "sigbus.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

static void *sys_ret_ptr(long r)
{
	if (r < 0 && r > -4096) {
		errno = (int)-r;
		return MAP_FAILED;
	}
	return (void *)r;
}

static void *real_mmap(void *a, size_t l, int p, int f, int fd, off_t o)
{
	mg_mmap_fn fn = MG_REAL(mmap);
	return fn ? fn(a, l, p, f, fd, o) : sys_ret_ptr(MG_SYS6(SYS_mmap, a, l, p, f, fd, o));
}

static int real_munmap(void *a, size_t l)
{
	mg_munmap_fn fn = MG_REAL(munmap);
	if (fn)
		return fn(a, l);
	long r = MG_SYS2(SYS_munmap, a, l);
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return 0;
}

static void *real_mremap(void *old, size_t oldlen, size_t newlen, int flags, void *neu)
{
	mg_mremap_fn fn = MG_REAL(mremap);
	if (fn)
		return fn(old, oldlen, newlen, flags, neu);
	return sys_ret_ptr(MG_SYS6(SYS_mremap, old, oldlen, newlen, flags, neu, 0));
}

/* A mapping of a regular file: describe it before the call (stack of the caller, not of ours). */
static bool describe_file_mapping(int fd, int prot, int flags, off_t off, struct mg_window *w)
{
	struct stat st;
	if (mg_fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return false;
	memset(w, 0, sizeof *w);
	w->offset = (uint64_t)off;
	w->dev = st.st_dev;
	w->ino = st.st_ino;
	w->prot = prot;
	w->shared = (flags & MAP_TYPE) == MAP_SHARED || (flags & MAP_TYPE) == MAP_SHARED_VALIDATE;
	w->tid = (pid_t)MG_SYS0(SYS_gettid);
	MG_SYS2(SYS_prctl, PR_GET_NAME, w->thread_name);
	clock_gettime(CLOCK_REALTIME, &w->created);
	mg_enter();
	if (mg_cfg.creation_stacks)
		mg_bt_capture(&w->stack);
	mg_sigbus_thread_setup();
	mg_leave();
	return true;
}

static void *guarded_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	if (mg_inside() || mg_mode() == MG_MODE_OFF)
		return real_mmap(addr, len, prot, flags, fd, off);
	/* MAP_FIXED_NOREPLACE fails rather than replacing: only plain MAP_FIXED overlays. */
	bool fixed = (flags & MAP_FIXED) != 0;
	bool anon = (flags & MAP_ANONYMOUS) || fd < 0;
	if (anon && !fixed)
		return real_mmap(addr, len, prot, flags, fd, off);   /* allocators: no lock, no work */

	int saved = errno;
	struct mg_window w;
	bool file = !anon && describe_file_mapping(fd, prot, flags, off, &w);
	errno = saved;
	uintptr_t a = (uintptr_t)addr, b = a + mg_round_up(len, mg_page_size());

	if (fixed && mg_reg_nmaps()) {
		/* Replacing part of a tracked window: the lock covers syscall + bookkeeping. */
		mg_reg_lock();
		if (mg_reg_overlaps_locked(a, b)) {
			void *r = real_mmap(addr, len, prot, flags, fd, off);
			if (r != MAP_FAILED) {
				saved = errno;
				mg_reg_remove_locked(a, b);
				if (file) {
					w.start = a;
					w.end = b;
					mg_reg_insert_locked(&w);
				}
				errno = saved;
			}
			mg_reg_unlock();
			return r;
		}
		mg_reg_unlock();
	}
	void *r = real_mmap(addr, len, prot, flags, fd, off);
	if (r != MAP_FAILED && file) {
		saved = errno;
		w.start = (uintptr_t)r;
		w.end = w.start + mg_round_up(len, mg_page_size());
		mg_reg_lock();
		mg_reg_insert_locked(&w);
		mg_reg_unlock();
		errno = saved;
	}
	return r;
}

MG_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return guarded_mmap(addr, len, prot, flags, fd, off);
}

MG_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return guarded_mmap(addr, len, prot, flags, fd, off);
}

MG_EXPORT int munmap(void *addr, size_t len)
{
	if (mg_inside() || mg_mode() == MG_MODE_OFF || mg_reg_nmaps() == 0)
		return real_munmap(addr, len);
	uintptr_t a = (uintptr_t)addr, b = a + mg_round_up(len, mg_page_size());
	mg_reg_lock();
	if (!mg_reg_overlaps_locked(a, b)) {
		mg_reg_unlock();
		return real_munmap(addr, len);
	}
	int r = real_munmap(addr, len);
	if (r == 0)
		mg_reg_remove_locked(a, b);
	mg_reg_unlock();
	return r;
}

MG_EXPORT void *mremap(void *old, size_t oldlen, size_t newlen, int flags, ...)
{
	void *neu = NULL;
	if (flags & MREMAP_FIXED) {
		va_list ap;
		va_start(ap, flags);
		neu = va_arg(ap, void *);
		va_end(ap);
	}
	if (mg_inside() || mg_mode() == MG_MODE_OFF || mg_reg_nmaps() == 0)
		return real_mremap(old, oldlen, newlen, flags, neu);
	size_t page = mg_page_size();
	uintptr_t a = (uintptr_t)old, b = a + (oldlen ? mg_round_up(oldlen, page) : page);
	uintptr_t na = (uintptr_t)neu, nb = na + mg_round_up(newlen, page);
	mg_reg_lock();
	if (!mg_reg_overlaps_locked(a, b) && !((flags & MREMAP_FIXED) && mg_reg_overlaps_locked(na, nb))) {
		mg_reg_unlock();
		return real_mremap(old, oldlen, newlen, flags, neu);
	}
	void *r = real_mremap(old, oldlen, newlen, flags, neu);
	if (r != MAP_FAILED) {
		int saved = errno;
		mg_reg_mremap_locked(a, oldlen, (uintptr_t)r, newlen, (flags & MREMAP_DONTUNMAP) != 0);
		errno = saved;
	}
	mg_reg_unlock();
	return r;
}

/* mmap, mmap64, munmap, mremap: keep the registry equal to what is really mapped. */
#define _GNU_SOURCE
#include "backtrace.h"
#include "claim.h"
#include "config.h"
#include "dlmaps.h"
#include "lease.h"
#include "mapcount.h"
#include "page.h"
#include "real.h"
#include "registry.h"
#include "rule.h"
#include "thread.h"
#include "window.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

/* Before libc's mmap is resolved (dlsym itself may map): the system call. */
static __attribute__((noinline)) void *real_mmap_slow(void *a, size_t l, int p, int f, int fd,
						       off_t o)
{
	return MG_CALL_REAL(mmap, (a, l, p, f, fd, o), MG_SYS6(SYS_mmap, a, l, p, f, fd, o));
}

static inline void *real_mmap(void *a, size_t l, int p, int f, int fd, off_t o)
{
	mg_mmap_fn fn = __atomic_load_n(&mg_real_mmap, __ATOMIC_RELAXED);
	return mg_likely(fn != NULL) ? fn(a, l, p, f, fd, o) : real_mmap_slow(a, l, p, f, fd, o);
}

static __attribute__((noinline)) int real_munmap_slow(void *a, size_t l)
{
	return MG_CALL_REAL(munmap, (a, l), MG_SYS2(SYS_munmap, a, l));
}

static inline int real_munmap(void *a, size_t l)
{
	mg_munmap_fn fn = __atomic_load_n(&mg_real_munmap, __ATOMIC_RELAXED);
	return mg_likely(fn != NULL) ? fn(a, l) : real_munmap_slow(a, l);
}

static void *real_mremap(void *old, size_t oldlen, size_t newlen, int flags, void *neu)
{
	return MG_CALL_REAL(mremap, (old, oldlen, newlen, flags, neu),
			    MG_SYS6(SYS_mremap, old, oldlen, newlen, flags, neu, 0));
}

/* Every mapping call ends here: the VMA estimate, and the ENOMEM wall. */
/* Inlined, here and in after_unmap: the estimate's own update is inline (mapcount.h). */
static inline __attribute__((always_inline)) void *after_mmap(void *r, void *addr, size_t len,
							       int prot, int flags)
{
	if (r != MAP_FAILED)
		mg_mapcount_note((flags & MAP_FIXED) ? 2 : 1);  /* into a mapping's middle: one becomes three */
	else if (errno == ENOMEM)
		mg_mapcount_enomem("mmap", (uintptr_t)addr, len, prot, flags);
	return r;
}

static inline __attribute__((always_inline)) int after_unmap(int r, void *addr, size_t len)
{
	if (r == 0)
		mg_mapcount_note(1);    /* a hole splits one VMA in two */
	else if (errno == ENOMEM)
		r = mg_mapcount_enomem("munmap", (uintptr_t)addr, len, 0, 0);
	return r;
}

/*
 * A munmap, mremap or MAP_FIXED that changes tracked windows runs its system call without the
 * registry lock: the call can wait in the kernel for a thread of the program (a userfaultfd
 * server resolving MAP_POPULATE's or a locked mremap's faults, or reading the unmap event; a FUSE
 * server) that itself maps or unmaps. Under the lock the call claims the ranges it names (another
 * call naming them waits: the registry sees the calls in the kernel's order) and detaches the
 * windows it unmaps or replaces (copy: copied, they stay); after the call they are released, or
 * restored if it failed. The lock is still held after call_begin: the caller lets it go before
 * the call. false: nothing changed, and the lock stays held across the call: the process has
 * started no thread (none can be what the call waits for, or want the lock meanwhile: the claim's
 * atomic instructions would buy nothing), or no claim slot or no memory is left.
 */
struct unlocked_call {
	int slot;
	bool copy;
	struct mg_pieces *gone, *gone_dst;
};

static bool call_begin_seen(struct unlocked_call *c, uintptr_t a, uintptr_t b, bool copy, uintptr_t na,
			    uintptr_t nb, const struct mg_reg_seen *seen)
{
	if (!mg_threads_started())
		return false;
	c->copy = copy;
	c->gone = c->gone_dst = NULL;
	c->slot = mg_claim_locked(a, b, na, nb);
	if (c->slot < 0)
		return false;
	if (mg_reg_detach_seen_locked(a, b, copy, seen, &c->gone) == 0) {
		if (na >= nb || mg_reg_detach_locked(na, nb, false, &c->gone_dst) == 0)
			return true;
		if (copy)
			mg_reg_release_locked(c->gone);
		else
			mg_reg_restore_locked(c->gone);
	}
	mg_claim_end(c->slot);
	return false;
}

static bool call_begin(struct unlocked_call *c, uintptr_t a, uintptr_t b, bool copy, uintptr_t na,
		       uintptr_t nb)
{
	return call_begin_seen(c, a, b, copy, na, nb, NULL);
}

/* After the call: the lock again; what was detached goes back if the call failed. */
static void call_relock(struct unlocked_call *c, bool ok)
{
	mg_reg_lock();
	if (ok) {
		mg_reg_release_locked(c->gone_dst);
		return;
	}
	if (c->copy)
		mg_reg_release_locked(c->gone);
	else
		mg_reg_restore_locked(c->gone);
	mg_reg_restore_locked(c->gone_dst);
}

static void call_end(struct unlocked_call *c)
{
	mg_claim_end(c->slot);
	mg_reg_unlock();
}

/* The file's lease (MMAPGUARD_LEASES), and after the first one the loaded libraries'. */
static inline void lease_track(int fd, dev_t dev, ino_t ino)
{
	if (mg_likely(mg_cfg.leases == MG_LEASES_OFF))
		return;
	mg_lease_track(fd, dev, ino);
	mg_dl_lease_loaded();
}

/* A mapping of a regular file: describe it before the call (stack of the caller, not of ours). */
static bool describe_file_mapping(int fd, int prot, int flags, off_t off, struct mg_window *w)
{
	if (!mg_window_describe(fd, prot, flags, off, w))
		return false;
	mg_enter();
	mg_bt_load();   /* on the first file mapping: the SIGBUS handler and reports unwind too */
	if (mg_cfg.creation_stacks)
		w->stack = mg_bt_capture_ref();
	mg_leave();
	return true;
}

/* Under the registry lock (the fallback that holds it across the call): map, then forget what the
 * mapping replaced. */
static void *mmap_forget_locked(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	void *r = real_mmap(addr, len, prot, flags, fd, off);
	if (r != MAP_FAILED) {
		int saved = errno;
		uintptr_t a = (uintptr_t)addr;
		mg_reg_remove_locked(a, a + mg_round_up(len, mg_page_size()));
		errno = saved;
	}
	return r;
}

/*
 * Calls made from inside the guard (the violation callback, a signal handler that interrupted it)
 * are not checked or reported, but what they unmap or replace leaves the registry all the same:
 * a window that is gone would make block mode refuse a safe cut. A handler that interrupted this
 * thread's own registry update cannot take the lock: the range is queued (mg_reg_remove_deferred)
 * and forgotten by the next holder.
 * No map-count bookkeeping here (it may take the report lock this thread holds).
 */
static __attribute__((noinline)) void *mmap_fixed_inside(void *addr, size_t len, int prot, int flags,
							  int fd, off_t off)
{
	uintptr_t a = (uintptr_t)addr, b = a + mg_round_up(len, mg_page_size());
	if (mg_reg_lock_mine()) {
		void *r = real_mmap(addr, len, prot, flags, fd, off);
		if (r != MAP_FAILED)
			mg_reg_remove_deferred(a, b);
		return r;
	}
	mg_reg_lock();
	void *r = mmap_forget_locked(addr, len, prot, flags, fd, off);
	mg_reg_unlock();
	return r;
}

static __attribute__((noinline)) int munmap_inside(void *addr, size_t len)
{
	uintptr_t a = (uintptr_t)addr, b = a + mg_round_up(len, mg_page_size());
	if (!mg_reg_maybe_overlaps(a, b))
		return real_munmap(addr, len);
	if (mg_reg_lock_mine()) {
		int r = real_munmap(addr, len);
		if (r == 0)
			mg_reg_remove_deferred(a, b);
		return r;
	}
	mg_reg_lock();
	int r = real_munmap(addr, len);
	if (r == 0) {
		int saved = errno;
		mg_reg_remove_locked(a, b);
		errno = saved;
	}
	mg_reg_unlock();
	return r;
}

static void *real_mremap(void *old, size_t oldlen, size_t newlen, int flags, void *neu);

static __attribute__((noinline)) void *mremap_inside(void *old, size_t oldlen, size_t newlen,
						      int flags, void *neu)
{
	size_t page = mg_page_size();
	uintptr_t a = (uintptr_t)old;
	bool mine = mg_reg_lock_mine();
	if (!mine)
		mg_reg_lock();
	void *r = real_mremap(old, oldlen, newlen, flags, neu);
	if (r != MAP_FAILED) {
		int saved = errno;
		if (mine) {
			if (!(flags & MREMAP_DONTUNMAP) && oldlen)
				mg_reg_remove_deferred(a, a + mg_round_up(oldlen, page));
			mg_reg_remove_deferred((uintptr_t)r, (uintptr_t)r + mg_round_up(newlen, page));
		} else {
			mg_reg_mremap_locked(a, oldlen, (uintptr_t)r, newlen,
					     (flags & MREMAP_DONTUNMAP) != 0);
		}
		errno = saved;
	}
	if (!mine)
		mg_reg_unlock();
	return r;
}

/*
 * MAP_FIXED of something not tracked (anonymous memory: a SIGBUS handler mapping a page over the
 * fault, with little stack to spare) over what may be a tracked window.
 */
static __attribute__((noinline)) void *mmap_fixed_untracked(void *addr, size_t len, int prot,
							     int flags, int fd, off_t off)
{
	uintptr_t a = (uintptr_t)addr, b = a + mg_round_up(len, mg_page_size());
	mg_reg_lock();
	if (!mg_reg_overlaps_locked(a, b)) {
		mg_reg_unlock();
		return after_mmap(real_mmap(addr, len, prot, flags, fd, off), addr, len, prot, flags);
	}
	struct unlocked_call c;
	if (call_begin(&c, a, b, false, 0, 0)) {
		mg_reg_unlock();
		void *r = real_mmap(addr, len, prot, flags, fd, off);
		int saved = errno;
		call_relock(&c, r != MAP_FAILED);
		mg_reg_release_locked(r != MAP_FAILED ? c.gone : NULL);
		call_end(&c);
		errno = saved;
		return after_mmap(r, addr, len, prot, flags);
	}
	void *r = mmap_forget_locked(addr, len, prot, flags, fd, off);
	mg_reg_unlock();
	return after_mmap(r, addr, len, prot, flags);
}

/*
 * With MMAPGUARD_MODE=off (possibly set at run time through the API) new mappings are not tracked,
 * but windows already tracked are still removed when unmapped or replaced: the registry must
 * never keep a window that is gone, or a later switch back to block mode would refuse wrongly.
 */
static __attribute__((noinline)) void *mmap_tracked(void *addr, size_t len, int prot, int flags,
						     int fd, off_t off)
{
	bool off_mode = mg_mode() == MG_MODE_OFF;
	/* MAP_FIXED_NOREPLACE fails rather than replacing: only plain MAP_FIXED overlays. */
	bool fixed = (flags & MAP_FIXED) != 0;
	bool anon = (flags & MAP_ANONYMOUS) || fd < 0;
	if (anon || off_mode) {
		if (!(fixed && mg_reg_nmaps()))         /* allocators: no lock, no work */
			return after_mmap(real_mmap(addr, len, prot, flags, fd, off), addr, len, prot, flags);
		return mmap_fixed_untracked(addr, len, prot, flags, fd, off);
	}

	int saved = errno;
	struct mg_window w;
	bool file = !anon && !off_mode && describe_file_mapping(fd, prot, flags, off, &w);
	errno = saved;
	uintptr_t a = (uintptr_t)addr, b = a + mg_round_up(len, mg_page_size());

	if (fixed && (file || mg_reg_nmaps())) {
		/* Replacing tracked windows, or a new window at an address another call may be
		 * unmapping: a claim orders the two. */
		mg_reg_lock();
		if (file || mg_reg_overlaps_locked(a, b)) {
			struct unlocked_call c;
			/* A new window waits for calls that may still unmap its range. */
			bool unlocked = file ? call_begin(&c, 0, 0, false, a, b) : call_begin(&c, a, b, false, 0, 0);
			if (unlocked)
				mg_reg_unlock();
			void *r = real_mmap(addr, len, prot, flags, fd, off);
			saved = errno;
			if (unlocked)
				call_relock(&c, r != MAP_FAILED);
			if (r != MAP_FAILED) {
				if (unlocked)
					mg_reg_release_locked(c.gone);
				else
					mg_reg_remove_locked(a, b);
				if (file) {
					w.start = a;
					w.end = b;
					mg_reg_insert_locked(&w);
				}
			}
			if (unlocked)
				call_end(&c);
			else
				mg_reg_unlock();
			if (r != MAP_FAILED && file)
				lease_track(fd, w.dev, w.ino);
			errno = saved;
			return after_mmap(r, addr, len, prot, flags);
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
		lease_track(fd, w.dev, w.ino);
		errno = saved;
	}
	return after_mmap(r, addr, len, prot, flags);
}

/*
 * Allocators' calls (anonymous, not over a tracked range) take the short path: no frame for the
 * file path's locals, no lock.
 */
MG_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	bool anon = (flags & MAP_ANONYMOUS) || fd < 0;
	if (mg_inside()) {
		if ((flags & MAP_FIXED) && mg_reg_nmaps())
			return mmap_fixed_inside(addr, len, prot, flags, fd, off);
		return real_mmap(addr, len, prot, flags, fd, off);
	}
	if (mg_likely(anon) && (!(flags & MAP_FIXED) || !mg_reg_nmaps()))
		return after_mmap(real_mmap(addr, len, prot, flags, fd, off), addr, len, prot, flags);
	return mmap_tracked(addr, len, prot, flags, fd, off);
}

/* The same function (off_t is 64 bits here). */
MG_EXPORT extern __typeof(mmap) mmap64 __attribute__((alias("mmap")));

/*
 * [a, a + len rounded up to pages) as the kernel takes it; false when the kernel rejects it with
 * EINVAL without changing anything (unaligned start, empty or wrapping range). A failed call must
 * leave the registry as it was, so such calls never touch it.
 */
static inline __attribute__((always_inline)) bool kernel_range(uintptr_t a, size_t len,
								uintptr_t *b)
{
	size_t page = mg_page_size();
	if ((a & (page - 1)) || len == 0 || len > UINTPTR_MAX - a - (page - 1))
		return false;
	*b = a + mg_round_up(len, page);
	return true;
}

/*
 * munmap with the registry lock held across the system call (no claim: see call_begin_seen). What
 * the lock-free look saw still spares the descent when the lock was not let go meanwhile.
 */
static __attribute__((noinline)) int munmap_held(void *addr, size_t len, uintptr_t a, uintptr_t b,
						  const struct mg_reg_seen *seen)
{
	int r = real_munmap(addr, len);
	int saved = errno;
	bool whole = false;
	if (r == 0) {
		struct mg_pieces *gone;
		if (mg_reg_detach_seen_locked(a, b, false, seen, &gone) == 0) {
			whole = mg_reg_pieces_whole_alone(gone, a, b);
			mg_reg_release_locked(gone);
		} else {
			mg_reg_remove_locked(a, b);     /* no memory for pieces: the same, in place */
		}
	}
	mg_reg_unlock();
	if (whole) {
		mg_mapcount_unmapped_whole();
		errno = saved;
		return 0;
	}
	errno = saved;
	return after_unmap(r, addr, len);
}

MG_EXPORT int munmap(void *addr, size_t len)
{
	if (mg_inside())
		return mg_reg_nmaps() ? munmap_inside(addr, len) : real_munmap(addr, len);
	if (mg_reg_nmaps() == 0)
		return after_unmap(real_munmap(addr, len), addr, len);
	uintptr_t a = (uintptr_t)addr, b;
	if (!kernel_range(a, len, &b))
		return after_unmap(real_munmap(addr, len), addr, len);  /* EINVAL: changes nothing */
	struct mg_reg_seen seen;
	if (!mg_reg_maybe_overlaps_seen(a, b, &seen))
		return after_unmap(real_munmap(addr, len), addr, len);   /* allocators: no lock */
	mg_reg_lock();
	struct unlocked_call c;
	/* The claim maps at nothing, so it never waits: claimed first, what is detached is what is
	 * tracked there. */
	if (call_begin_seen(&c, a, b, false, 0, 0, &seen)) {
		if (!c.gone) {
			mg_claim_end(c.slot);
			mg_reg_unlock();
			return after_unmap(real_munmap(addr, len), addr, len);
		}
		mg_reg_unlock();
		int r = real_munmap(addr, len);
		int saved = errno;
		if (r == 0) {
			/* Nothing goes back: the nodes and the claim are given up without the lock. */
			bool whole = mg_reg_pieces_whole_alone(c.gone, a, b);
			mg_reg_release(c.gone);
			mg_claim_end(c.slot);
			if (whole) {
				mg_mapcount_unmapped_whole();
				errno = saved;
				return 0;
			}
		} else {
			call_relock(&c, false);
			call_end(&c);
		}
		errno = saved;
		return after_unmap(r, addr, len);
	}
	/* Other threads wait for the lock: not across a call that changes nothing tracked. */
	if (mg_threads_started() && !mg_reg_overlaps_locked(a, b)) {
		mg_reg_unlock();
		return after_unmap(real_munmap(addr, len), addr, len);
	}
	return munmap_held(addr, len, a, b, &seen);
}

static void *after_mremap(void *r, void *old, size_t oldlen, size_t newlen, int flags)
{
	/* Moved out of a mapping's middle: a hole and a new mapping; to a fixed address in another
	 * mapping's middle: one more. */
	if (r != MAP_FAILED)
		mg_mapcount_note((flags & MREMAP_FIXED) ? 3 : 2);
	else if (errno == ENOMEM)
		mg_mapcount_enomem("mremap", (uintptr_t)old, oldlen, 0, (long)newlen);
	return r;
}

/*
 * The fifth argument is read whatever the flags: the kernel takes it as the destination with
 * MREMAP_FIXED and as a hint with MREMAP_DONTUNMAP, and glibc's own mremap passes the register on
 * unchanged, so the guard does the same.
 */
MG_EXPORT void *mremap(void *old, size_t oldlen, size_t newlen, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	void *neu = va_arg(ap, void *);
	va_end(ap);
	if (mg_inside())
		return mg_reg_nmaps() ? mremap_inside(old, oldlen, newlen, flags, neu)
				      : real_mremap(old, oldlen, newlen, flags, neu);
	if (mg_reg_nmaps() == 0)
		return after_mremap(real_mremap(old, oldlen, newlen, flags, neu), old, oldlen, newlen, flags);
	size_t page = mg_page_size();
	uintptr_t a = (uintptr_t)old, b, na = (uintptr_t)neu, nb = 0;
	/* Ranges the kernel rejects with EINVAL change nothing, and the registry stays as it is. */
	if (!kernel_range(a, oldlen ? oldlen : page, &b) ||
	    ((flags & MREMAP_FIXED) && !kernel_range(na, newlen, &nb)) || newlen == 0 ||
	    newlen > SIZE_MAX - (page - 1))
		return after_mremap(real_mremap(old, oldlen, newlen, flags, neu), old, oldlen, newlen, flags);
	mg_reg_lock();
	if (!mg_reg_overlaps_locked(a, b) && !((flags & MREMAP_FIXED) && mg_reg_overlaps_locked(na, nb))) {
		mg_reg_unlock();
		return after_mremap(real_mremap(old, oldlen, newlen, flags, neu), old, oldlen, newlen, flags);
	}
	/* The source stays mapped with oldlen 0 (a second mapping) and MREMAP_DONTUNMAP. */
	bool keep = oldlen == 0 || (flags & MREMAP_DONTUNMAP);
	bool dontunmap = (flags & MREMAP_DONTUNMAP) != 0;
	struct unlocked_call c;
	if (call_begin(&c, a, b, keep, na, nb)) {
		mg_reg_unlock();
		void *r = real_mremap(old, oldlen, newlen, flags, neu);
		int saved = errno;
		call_relock(&c, r != MAP_FAILED);
		if (r != MAP_FAILED) {
			if (keep) {
				mg_reg_release_locked(c.gone);
				mg_reg_mremap_locked(a, oldlen, (uintptr_t)r, newlen, dontunmap);
			} else {
				mg_reg_remove_locked((uintptr_t)r, (uintptr_t)r + mg_round_up(newlen, page));
				mg_reg_moved_locked(c.gone, a, oldlen, (uintptr_t)r, newlen);
			}
		}
		call_end(&c);
		errno = saved;
		return after_mremap(r, old, oldlen, newlen, flags);
	}
	void *r = real_mremap(old, oldlen, newlen, flags, neu);
	if (r != MAP_FAILED) {
		int saved = errno;
		mg_reg_mremap_locked(a, oldlen, (uintptr_t)r, newlen, dontunmap);
		errno = saved;
	}
	mg_reg_unlock();
	return after_mremap(r, old, oldlen, newlen, flags);
}

static int real_mprotect(void *a, size_t l, int p)
{
	return MG_CALL_REAL(mprotect, (a, l, p), MG_SYS3(SYS_mprotect, a, l, p));
}

/* mprotect changes no file identity; it only splits VMAs (and can hit the wall). */
MG_EXPORT int mprotect(void *addr, size_t len, int prot)
{
	int r = real_mprotect(addr, len, prot);
	if (mg_inside() || mg_mode() == MG_MODE_OFF)
		return r;
	if (r == 0)
		mg_mapcount_note(2);
	else if (errno == ENOMEM)
		mg_mapcount_enomem("mprotect", (uintptr_t)addr, len, prot, 0);
	return r;
}

/* Our own mmap's address, not the one the dynamic linker binds the name to. */
extern __typeof(mmap) mg_own_mmap __attribute__((copy(mmap), alias("mmap"), visibility("hidden")));

#define _GNU_SOURCE
#include "window.h"
#include "birth.h"
#include "real.h"
#include "thread.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#define FACTS (STATX_TYPE | STATX_INO | STATX_SIZE)

/*
 * Once the process has met overlayfs (a container's root, where most files it maps are), one
 * statx says the file's identity and its birth there: 1 a regular file, 0 not, -1 statx could not
 * tell (then fstat does).
 */
static __attribute__((noinline)) int by_statx(int fd, struct mg_window *w)
{
	struct statx sx;
	if (MG_SYS6(SYS_statx, fd, "", AT_EMPTY_PATH, FACTS | STATX_BTIME, &sx, 0) != 0 ||
	    (sx.stx_mask & FACTS) != FACTS)
		return -1;
	if (!S_ISREG(sx.stx_mode))
		return 0;
	memset(w, 0, sizeof *w);
	w->dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
	w->ino = sx.stx_ino;
	w->size_at_map = sx.stx_size;
	w->birth = mg_overlay_birth_of(fd, w->dev, &sx);
	return 1;
}

/* fd's file, if a regular one: one fstat, or by_statx. */
static inline bool regular_file(int fd, struct mg_window *w)
{
	int r = mg_unlikely(mg_overlay_met()) ? by_statx(fd, w) : -1;
	if (r >= 0)
		return r;
	struct stat st;
	if (mg_fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return false;
	memset(w, 0, sizeof *w);
	w->dev = st.st_dev;
	w->ino = st.st_ino;
	w->size_at_map = (uint64_t)st.st_size;
	w->birth = mg_overlay_birth(fd, -1, NULL, st.st_dev);
	return true;
}

bool mg_window_describe(int fd, int prot, int flags, off_t off, struct mg_window *w)
{
	if (!regular_file(fd, w))        /* stack NULL: none (the wrapper captures it) */
		return false;
	w->offset = (uint64_t)off;
	w->prot = prot;
	w->shared = (flags & MAP_TYPE) == MAP_SHARED || (flags & MAP_TYPE) == MAP_SHARED_VALIDATE;
	w->tid = mg_thread_tid();
	w->pid = mg_self_pid();
	clock_gettime(CLOCK_REALTIME, &w->created);
	mg_thread_name(w->thread_name, &w->created);
	return true;
}

#define _GNU_SOURCE
#include "window.h"
#include "birth.h"
#include "real.h"
#include "thread.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>

bool mg_window_describe(int fd, int prot, int flags, off_t off, struct mg_window *w)
{
	struct stat st;
	if (mg_fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return false;
	memset(w, 0, sizeof *w);        /* stack NULL: none (the wrapper captures it) */
	w->offset = (uint64_t)off;
	w->size_at_map = (uint64_t)st.st_size;
	w->birth = mg_overlay_birth(fd, "", AT_EMPTY_PATH, st.st_dev);
	w->dev = st.st_dev;
	w->ino = st.st_ino;
	w->prot = prot;
	w->shared = (flags & MAP_TYPE) == MAP_SHARED || (flags & MAP_TYPE) == MAP_SHARED_VALIDATE;
	w->tid = mg_thread_tid();
	w->pid = mg_self_pid();
	clock_gettime(CLOCK_REALTIME, &w->created);
	mg_thread_name(w->thread_name, &w->created);
	return true;
}

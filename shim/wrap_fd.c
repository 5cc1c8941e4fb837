/*
 * close, close_range, closefrom, dup2, dup3: only to keep the program's descriptor operations off
 * the guard's log descriptor. Async-signal-safe: one atomic load, no lock, no allocation.
 */
#define _GNU_SOURCE
#include "backtrace.h"
#include "fd_place.h"
#include "guard_fds.h"
#include "log.h"
#include "real.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/syscall.h>
#include <unistd.h>

MG_EXPORT int close(int fd)
{
	if (mg_unlikely(!mg_inside() && mg_guard_fd_owned(fd))) {
		/* Without the guard this descriptor would not exist. */
		errno = EBADF;
		return -1;
	}
	return MG_CALL_REAL(close, (fd), MG_SYS1(SYS_close, fd));
}

static int real_close_range(unsigned first, unsigned last, int flags)
{
	return MG_CALL_REAL(close_range, (first, last, flags),
			    MG_SYS3(SYS_close_range, first, last, flags));
}

/* close_range over [first, last] stepping around the guard's descriptors (sorted). */
static int close_around(unsigned first, unsigned last, int flags)
{
	int fds[MG_GUARD_FDS_MAX];
	int n = mg_inside() ? 0 : mg_guard_fds_owned(fds);
	int r = 0;
	for (int i = 0; i < n && r == 0 && first <= last; i++) {
		unsigned g = (unsigned)fds[i];
		if (g < first || g > last)
			continue;
		if (g > first)
			r = real_close_range(first, g - 1, flags);
		flags = (int)((unsigned)flags & ~CLOSE_RANGE_UNSHARE);
		if (g == UINT_MAX)
			return r;
		first = g + 1;
	}
	if (r == 0 && first <= last)
		r = real_close_range(first, last, flags);
	return r;
}

MG_EXPORT int close_range(unsigned first, unsigned last, int flags)
{
	return close_around(first, last, flags);
}

MG_EXPORT void closefrom(int lowfd)
{
	int fds[MG_GUARD_FDS_MAX];
	if (lowfd >= 0 && !mg_inside() && mg_guard_fds_owned(fds) > 0) {
		close_around((unsigned)lowfd, ~0u, 0);
		return;
	}
	mg_closefrom_fn real = MG_REAL(closefrom);
	if (real)
		real(lowfd);
	else
		MG_SYS3(SYS_close_range, lowfd, ~0u, 0);
}

/*
 * The program is about to make newfd its own. The log moves out of the way; libunwind's pipe cannot
 * (libunwind keeps the numbers), so the guard gives the number up and stops unwinding in this
 * process (libunwind validates addresses by writing them into that pipe).
 */
static void claim(int newfd)
{
	mg_log_evacuate(newfd);
	if (mg_guard_fd_release(newfd)) {
		mg_bt_disable();                /* unw_step validates addresses through the pipe */
		mg_bt_disable_signal_unwind();
	}
}

MG_EXPORT int dup2(int oldfd, int newfd)
{
	if (!mg_inside() && oldfd != newfd)
		claim(newfd);
	int r = MG_CALL_REAL(dup2, (oldfd, newfd), MG_SYS3(SYS_dup3, oldfd, newfd, 0));
	if (r >= 0 && !mg_inside())
		mg_log_stream_redirected(newfd);        /* e.g. dup2(log, 2): stderr is that file now */
	return r;
}

MG_EXPORT int dup3(int oldfd, int newfd, int flags)
{
	if (!mg_inside() && oldfd != newfd)
		claim(newfd);
	int r = MG_CALL_REAL(dup3, (oldfd, newfd, flags), MG_SYS3(SYS_dup3, oldfd, newfd, flags));
	if (r >= 0 && !mg_inside())
		mg_log_stream_redirected(newfd);
	return r;
}

/*
 * libunwind opens a pipe on its first backtrace (to validate addresses) and keeps it: inside the
 * shim, move both ends out of the program's way so its descriptor numbers stay what they would be
 * without the guard.
 */
MG_EXPORT int pipe2(int fds[2], int flags)
{
	int r = MG_CALL_REAL(pipe2, (fds, flags), MG_SYS2(SYS_pipe2, fds, flags));
	if (r == 0 && mg_inside()) {
		for (int i = 0; i < 2; i++) {
			fds[i] = mg_fd_place(fds[i], (flags & O_CLOEXEC) != 0);
			mg_guard_fd_add(fds[i]);
		}
	}
	return r;
}

/*
 * fcntl, fcntl64, lockf, lockf64: so that the program's own write lease (F_SETLEASE F_WRLCK) is
 * possible while the guard holds a read lease on the same file through a descriptor of its own
 * (the kernel grants a write lease only to the one open file description of a file), and so that
 * the guard knows which files the program holds POSIX record locks on (posix_locks.h: a descriptor
 * of such a file the guard closed would release them). Everything else passes through.
 */
#define _GNU_SOURCE
#include "lease.h"
#include "posix_locks.h"
#include "real.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/syscall.h>
#include <unistd.h>

static int fcntl_common(int fd, int cmd, void *arg, bool is64)
{
	if (mg_unlikely(cmd == F_SETLEASE) && (long)arg == F_WRLCK && !mg_inside())
		mg_lease_program_wrlease(fd);
	int r = is64 ? MG_CALL_REAL(fcntl64, (fd, cmd, arg), MG_SYS3(SYS_fcntl, fd, cmd, arg))
		     : MG_CALL_REAL(fcntl, (fd, cmd, arg), MG_SYS3(SYS_fcntl, fd, cmd, arg));
	/* l_type leads struct flock and struct flock64 alike */
	/* also from inside the guard (a handler of the program's that interrupted it): signal-safe */
	if (mg_unlikely(cmd == F_SETLK || cmd == F_SETLKW) && r == 0 && arg &&
	    ((const struct flock *)arg)->l_type != F_UNLCK) {
		int saved = errno;
		mg_posix_lock_taken(fd);
		errno = saved;
	}
	return r;
}

/* lockf as glibc has it, for a call made before the real one is known: record locks by fcntl. */
static long lockf_syscall(int fd, int cmd, off_t len)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_CUR, .l_start = 0, .l_len = len };
	switch (cmd) {
	case F_TEST: {
		fl.l_type = F_RDLCK;
		long r = MG_SYS3(SYS_fcntl, fd, F_GETLK, &fl);
		if (r < 0)
			return r;
		return fl.l_type == F_UNLCK || fl.l_pid == (pid_t)MG_SYS0(SYS_getpid) ? 0 : -EACCES;
	}
	case F_ULOCK:
		fl.l_type = F_UNLCK;
		return MG_SYS3(SYS_fcntl, fd, F_SETLK, &fl);
	case F_LOCK:
		return MG_SYS3(SYS_fcntl, fd, F_SETLKW, &fl);
	case F_TLOCK:
		return MG_SYS3(SYS_fcntl, fd, F_SETLK, &fl);
	default:
		return -EINVAL;
	}
}

static int lockf_common(int fd, int cmd, off_t len, bool is64)
{
	int r = is64 ? MG_CALL_REAL(lockf64, (fd, cmd, len), lockf_syscall(fd, cmd, len))
		     : MG_CALL_REAL(lockf, (fd, cmd, len), lockf_syscall(fd, cmd, len));
	if (r == 0 && (cmd == F_LOCK || cmd == F_TLOCK)) {
		int saved = errno;
		mg_posix_lock_taken(fd);
		errno = saved;
	}
	return r;
}

MG_EXPORT int lockf(int fd, int cmd, off_t len) { return lockf_common(fd, cmd, len, false); }
MG_EXPORT int lockf64(int fd, int cmd, off_t len) { return lockf_common(fd, cmd, len, true); }

/* Every command takes at most one argument, an int or a pointer: read it as a pointer (as libc does). */
MG_EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	return fcntl_common(fd, cmd, arg, false);
}

MG_EXPORT int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	return fcntl_common(fd, cmd, arg, true);
}

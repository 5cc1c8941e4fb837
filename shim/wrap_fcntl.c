/*
 * fcntl, fcntl64: only so that the program's own write lease (F_SETLEASE F_WRLCK) is possible while
 * the guard holds a read lease on the same file through a descriptor of its own; the kernel grants
 * a write lease only to the one open file description of a file. Everything else passes through.
 */
#define _GNU_SOURCE
#include "lease.h"
#include "real.h"

#include <fcntl.h>
#include <stdarg.h>
#include <sys/syscall.h>

static int fcntl_common(int fd, int cmd, void *arg, bool is64)
{
	if (mg_unlikely(cmd == F_SETLEASE) && (long)arg == F_WRLCK && !mg_inside())
		mg_lease_program_wrlease(fd);
	if (is64)
		return MG_CALL_REAL(fcntl64, (fd, cmd, arg), MG_SYS3(SYS_fcntl, fd, cmd, arg));
	return MG_CALL_REAL(fcntl, (fd, cmd, arg), MG_SYS3(SYS_fcntl, fd, cmd, arg));
}

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

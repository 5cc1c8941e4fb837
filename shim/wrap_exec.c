/*
 * The exec family: right before the program's exec, descriptors of the guard's of files the program
 * holds POSIX record locks on stop being close-on-exec (lease.h, mg_lease_before_exec): the kernel
 * closing them would release locks the program keeps across exec), and the lease signal is blocked
 * for the new image if the program asked for it blocked (wrap_sigmask.c: its masks never block it
 * for real). Nothing else happens. execl, execlp and execle gather their
 * arguments as glibc does and go to execv, execvp and execve.
 */
#define _GNU_SOURCE
#include "lease.h"
#include "real.h"
#include "sigmask.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The lease signal blocked for the new image (wrap_sigmask.c), 0 if none: undone if exec fails. */
static int before_exec(void)
{
	if (mg_inside())
		return 0;
	int saved = errno;
	mg_lease_before_exec();
	int blocked = mg_sigmask_before_exec();
	errno = saved;
	return blocked;
}

static int exec_failed(int blocked, int r)
{
	int saved = errno;
	mg_sigmask_exec_failed(blocked);
	errno = saved;
	return r;
}

MG_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	int blocked = before_exec();
	return exec_failed(blocked, MG_CALL_REAL(execve, (path, argv, envp),
						 MG_SYS3(SYS_execve, path, argv, envp)));
}

MG_EXPORT int execv(const char *path, char *const argv[])
{
	int blocked = before_exec();
	return exec_failed(blocked, MG_CALL_REAL(execv, (path, argv),
						 MG_SYS3(SYS_execve, path, argv, environ)));
}

MG_EXPORT int execvp(const char *file, char *const argv[])
{
	int blocked = before_exec();
	return exec_failed(blocked, MG_CALL_REAL(execvp, (file, argv),
						 MG_SYS3(SYS_execve, file, argv, environ)));
}

MG_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	int blocked = before_exec();
	return exec_failed(blocked, MG_CALL_REAL(execvpe, (file, argv, envp),
						 MG_SYS3(SYS_execve, file, argv, envp)));
}

MG_EXPORT int execveat(int dirfd, const char *path, char *const argv[], char *const envp[], int flags)
{
	int blocked = before_exec();
	return exec_failed(blocked, MG_CALL_REAL(execveat, (dirfd, path, argv, envp, flags),
						 MG_SYS6(SYS_execveat, dirfd, path, argv, envp, flags, 0)));
}

MG_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	int blocked = before_exec();
	return exec_failed(blocked, MG_CALL_REAL(fexecve, (fd, argv, envp),
						 MG_SYS6(SYS_execveat, fd, "", argv, envp, AT_EMPTY_PATH, 0)));
}

/*
 * execl, execlp, execle: the list up to its NULL as an argv (and for execle the envp after it), then
 * execv, execvp or execve, as glibc does.
 */
enum list_call { LIST_EXECV, LIST_EXECVP, LIST_EXECVE };

static int exec_list(enum list_call call, const char *path, const char *arg0, va_list ap)
{
	va_list count;
	va_copy(count, ap);
	size_t n = 1;
	while (va_arg(count, const char *))
		n++;
	va_end(count);
	char *argv[n + 1];
	argv[0] = (char *)arg0;
	for (size_t i = 1; i < n; i++)
		argv[i] = va_arg(ap, char *);
	argv[n] = NULL;
	(void)va_arg(ap, char *);               /* the NULL */
	switch (call) {
	case LIST_EXECVP:
		return execvp(path, argv);
	case LIST_EXECVE:
		return execve(path, argv, va_arg(ap, char *const *));
	default:
		return execv(path, argv);
	}
}

#define LIST_WRAPPER(name, call)                                                   \
	MG_EXPORT int name(const char *path, const char *arg0, ...)                \
	{                                                                          \
		va_list ap;                                                        \
		va_start(ap, arg0);                                                \
		int r = exec_list(call, path, arg0, ap);                           \
		va_end(ap);                                                        \
		return r;                                                          \
	}

LIST_WRAPPER(execl, LIST_EXECV)
LIST_WRAPPER(execlp, LIST_EXECVP)
LIST_WRAPPER(execle, LIST_EXECVE)

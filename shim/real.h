/* The real libc functions, resolved lazily with dlsym(RTLD_NEXT). */
#ifndef MG_REAL_H
#define MG_REAL_H

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/socket.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include "guard.h"

#define MG_SYM(name, ret, params, required) \
	typedef ret (*mg_##name##_fn) params; \
	extern mg_##name##_fn mg_real_##name MG_HIDDEN;
#include "intercept.def"
#undef MG_SYM

void *mg_resolve(void **slot, const char *name) MG_HIDDEN;

/* MG_REAL(open) evaluates to the real open (NULL only while dlsym itself is running). */
#define MG_REAL(name) \
	(mg_likely(__atomic_load_n(&mg_real_##name, __ATOMIC_RELAXED) != NULL) \
		? mg_real_##name \
		: (mg_##name##_fn)mg_resolve((void **)&mg_real_##name, #name))

/* Raw system calls: no cancellation point, no recursion, no errno side effects on success. */
long mg_sys(long nr, long a, long b, long c, long d, long e, long f) MG_HIDDEN;
#define MG_SYS0(nr)                 mg_sys(nr, 0, 0, 0, 0, 0, 0)
#define MG_SYS1(nr, a)              mg_sys(nr, (long)(a), 0, 0, 0, 0, 0)
#define MG_SYS2(nr, a, b)           mg_sys(nr, (long)(a), (long)(b), 0, 0, 0, 0)
#define MG_SYS3(nr, a, b, c)        mg_sys(nr, (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define MG_SYS4(nr, a, b, c, d)     mg_sys(nr, (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define MG_SYS6(nr, a, b, c, d, e, f) \
	mg_sys(nr, (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))

/*
 * The one place a wrapper turns a raw result into the host's convention: -errno becomes errno and
 * -1 (MAP_FAILED for a pointer), anything else passes through.
 */
static inline long mg_syscall_ret(long r)
{
	if (mg_unlikely((unsigned long)r > -4096UL)) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

/*
 * The real function, or while it cannot be resolved (dlsym itself is running) the system call,
 * with libc's result convention: MG_CALL_REAL(close, (fd), MG_SYS1(SYS_close, fd)).
 */
#define MG_CALL_REAL(name, args, syscall)                                                  \
	({                                                                                 \
		mg_##name##_fn mg_fn_ = MG_REAL(name);                                     \
		mg_fn_ ? mg_fn_ args : (__typeof__(mg_fn_ args))mg_syscall_ret(syscall);   \
	})

/* Identity of an fd / a path, with the raw syscalls (errno untouched). 0 or -errno. */
static inline int mg_fstat(int fd, struct stat *st) { return (int)MG_SYS2(SYS_fstat, fd, st); }
static inline int mg_fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
	return (int)MG_SYS4(SYS_newfstatat, dirfd, path, st, flags);
}
/*
 * The file system type (statfs's f_type) of fd's file, or (fd < 0) of path from dirfd, resolved
 * through an O_PATH descriptor (statfs has no dirfd form; opens nothing); 0 if not known.
 */
long mg_fs_type(int fd, int dirfd, const char *path) MG_HIDDEN;

/*
 * One record (or message) to the log: whole, or not at all. On a pipe, FIFO or socket only a write
 * of at most PIPE_BUF bytes is atomic (other processes may write there too): a longer one is
 * refused with -EMSGSIZE, and the caller formats a shorter one (mg_report_write). Returns 0 or
 * -errno (the record counts as dropped).
 */
int mg_write_all(int fd, const char *p, size_t n) MG_HIDDEN;

#endif

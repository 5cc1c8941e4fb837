#define _GNU_SOURCE
#include "real.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>

#define MG_SYM(name, ret, params, required) mg_##name##_fn mg_real_##name;
#include "intercept.def"
#undef MG_SYM

MG_TLS int mg_depth;

/*
 * Raw syscall without touching errno: returns -errno on failure. glibc's syscall() sets errno,
 * which the shim must never do behind the host's back.
 */
long mg_sys(long nr, long a, long b, long c, long d, long e, long f)
{
	long ret;
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

/*
 * dlsym of a name that exists does not allocate on glibc 2.36; anything it calls re-enters the
 * wrappers with the guard raised and goes to the raw syscall fallbacks in the wrappers.
 */
void *mg_resolve(void **slot, const char *name)
{
	void *p = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
	if (p)
		return p;
	if (mg_inside())
		return NULL;
	int saved = errno;
	mg_enter();
	p = dlsym(RTLD_NEXT, name);
	mg_leave();
	errno = saved;
	if (p)
		__atomic_store_n(slot, p, __ATOMIC_RELEASE);
	return p;
}

long mg_fs_type(int fd, int dirfd, const char *path)
{
	struct statfs sf = { 0 };
	long r = -1;
	if (fd >= 0) {
		r = MG_SYS2(SYS_fstatfs, fd, &sf);
	} else if (path) {
		long p = MG_SYS4(SYS_openat, dirfd, path, O_PATH | O_CLOEXEC, 0);
		if (p < 0)
			return 0;
		r = MG_SYS2(SYS_fstatfs, p, &sf);
		MG_SYS1(SYS_close, p);
	}
	return r == 0 ? (long)sf.f_type : 0;
}

int mg_write_all(int fd, const char *p, size_t n)
{
	struct stat st = { 0 };
	if (n > PIPE_BUF && MG_SYS2(SYS_fstat, fd, &st) == 0 &&
	    (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)))
		return -EMSGSIZE;       /* not one atomic write: another writer could cut into it */
	size_t done = 0;
	while (done < n) {
		long r = MG_SYS3(SYS_write, fd, p + done, n - done);
		if (r == -EINTR)
			continue;
		if (r < 0) {
			/*
			 * Nothing written (a full non-blocking pipe takes all of a short record or
			 * none of it): the record is dropped whole. Cut off halfway (a full disk, a
			 * non-blocking terminal): end the line, so that the next record starts a
			 * line of its own.
			 */
			if (done > 0 && p[done - 1] != '\n')
				MG_SYS3(SYS_write, fd, "\n", 1);
			return (int)r;
		}
		done += (size_t)r;
	}
	return 0;
}

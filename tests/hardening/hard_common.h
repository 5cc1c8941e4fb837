/*
 * Helpers shared by the hardening test programs (tests/hardening/hard_*.c).
 *
 * Every violation a program commits is announced on a line of its own:
 *     EXPECT pid=P tid=T call=NAME path=/abs/path before=B after=A
 * and the Python side (hardlib.py) matches each such line to one record of the guard's log.
 * Lines are written with one write() each (no stdio buffer: several processes and threads share
 * the descriptor, and vfork/_Fork children must not touch stdio).
 */
#ifndef HARD_COMMON_H
#define HARD_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

/* The names the program's calls reach the guard under. */
#if defined(_FILE_OFFSET_BITS) && _FILE_OFFSET_BITS == 64
#define HARD_FTRUNCATE "ftruncate64"
#define HARD_TRUNCATE "truncate64"
#else
#define HARD_FTRUNCATE "ftruncate"
#define HARD_TRUNCATE "truncate"
#endif

/* Where EXPECT/INFO lines go (a daemon that closed stdout points this at a file). */
static int hard_out_fd = 1;

static inline size_t hard_page(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

static inline pid_t hard_tid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/* One line, one write(); keeps errno. */
__attribute__((format(printf, 1, 2))) static inline void hard_line(const char *fmt, ...)
{
	int saved = errno;
	char buf[2048];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof buf - 2)
		n = (int)sizeof buf - 2;
	if (n == 0 || buf[n - 1] != '\n')
		buf[n++] = '\n';
	const char *p = buf;
	while (n > 0) {
		ssize_t w = write(hard_out_fd, p, (size_t)n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		p += w;
		n -= (int)w;
	}
	errno = saved;
}

#define HARD_DIE(...)                                                                   \
	do {                                                                            \
		int e_ = errno;                                                         \
		hard_line("FAIL %s:%d: errno=%d (%s): ", __FILE__, __LINE__, e_, strerror(e_)); \
		hard_line(__VA_ARGS__);                                                 \
		_exit(99);                                                              \
	} while (0)

#define HARD_CHECK(cond, ...)              \
	do {                               \
		if (!(cond))               \
			HARD_DIE(__VA_ARGS__); \
	} while (0)

/* A regular file of `size` bytes (zeros), created fresh; returns an O_RDWR descriptor. */
static inline int hard_make_file(const char *path, off_t size)
{
	unlink(path);
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	HARD_CHECK(fd >= 0, "open %s", path);
	HARD_CHECK(ftruncate(fd, size) == 0, "grow %s", path);
	return fd;
}

/* A shared read-write mapping of the first len bytes, touched once. */
static inline char *hard_map(int fd, size_t len)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	HARD_CHECK(p != MAP_FAILED, "mmap fd %d len %zu", fd, len);
	p[0] = 1;
	return p;
}

static inline void hard_expect(const char *call, const char *path, long long before, long long after)
{
	hard_line("EXPECT pid=%d tid=%d call=%s path=%s before=%lld after=%lld", (int)getpid(),
		  (int)hard_tid(), call, path, before, after);
}

/*
 * The canonical violation: ftruncate a file whose first pages are mapped down to `after`
 * (must cut a mapped page). Announces it, checks the result against the mode the caller expects
 * (block: -1/ETXTBSY and size unchanged; log: 0 and size changed). Returns the call's result.
 */
static inline int hard_violate(int fd, const char *path, off_t before, off_t after, int block)
{
	hard_expect(HARD_FTRUNCATE, path, (long long)before, (long long)after);
	int r = ftruncate(fd, after);
	int e = errno;
	struct stat st;
	HARD_CHECK(fstat(fd, &st) == 0, "fstat %s", path);
	if (block) {
		HARD_CHECK(r == -1 && e == ETXTBSY, "blocked ftruncate of %s returned %d errno %d", path,
			   r, e);
		HARD_CHECK(st.st_size == before, "blocked ftruncate of %s changed size to %lld", path,
			   (long long)st.st_size);
	} else {
		HARD_CHECK(r == 0, "logged ftruncate of %s returned %d errno %d", path, r, e);
		HARD_CHECK(st.st_size == after, "logged ftruncate of %s left size %lld", path,
			   (long long)st.st_size);
	}
	errno = e;
	return r;
}

#endif

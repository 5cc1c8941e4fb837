/*
 * Calls checked before they run (intercept.def's MG_CHECKED lines): truncate, ftruncate,
 * fallocate(FALLOC_FL_COLLAPSE_RANGE). Their decision functions, each with a ready_ step run right
 * before the real call (also when the guard is quiet), then the generated wrappers.
 */
#define _GNU_SOURCE
#include "check.h"
#include "config.h"
#include "lease.h"
#include "real.h"
#include "registry.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdint.h>
#include <sys/syscall.h>

/* Needs a descriptor open for writing, whose open let the guard's lease go already. */
static void ready_decide_ftruncate(int fd, off_t len)
{
	(void)fd;
	(void)len;
}

static int decide_ftruncate(const char *call, int fd, off_t len)
{
	struct stat st;
	/* A size at or past every window's end cuts nothing: no system call needed. */
	if (len < 0 || mg_size_harmless((uint64_t)len) || mg_fstat(fd, &st) < 0 ||
	    !S_ISREG(st.st_mode) || (uint64_t)len >= (uint64_t)st.st_size)
		return MG_PROCEED;
	struct mg_target t = { call, fd, AT_FDCWD, NULL, NULL, mg_fails_fd_not_writable };
	return mg_check_resize(&t, &st, (uint64_t)len);
}

static int decide_truncate(const char *call, const char *path, off_t len)
{
	struct stat st;
	if (len < 0 || !path || mg_size_harmless((uint64_t)len) ||
	    mg_fstatat(AT_FDCWD, path, &st, 0) < 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)len >= (uint64_t)st.st_size)
		return MG_PROCEED;
	struct mg_target t = { call, -1, AT_FDCWD, path, NULL, mg_fails_path_not_writable };
	return mg_check_resize(&t, &st, (uint64_t)len);
}

/*
 * truncate(2) breaks a read lease whatever the size (even one that grows the file): the program's
 * own would wait for the guard's answer to its lease (wrap_open.c's lease_before).
 */
static void ready_decide_truncate(const char *path, off_t len)
{
	(void)len;
	struct stat st;
	if (mg_unlikely(mg_lease_any_held()) && !mg_inside() && path &&
	    mg_fstatat(AT_FDCWD, path, &st, 0) == 0 && S_ISREG(st.st_mode))
		mg_lease_program_writes(st.st_dev, st.st_ino);
}

/*
 * COLLAPSE_RANGE removes [off, off+len) and shifts the rest down: the file shrinks by len. The
 * kernel refuses, cutting nothing: another mode bit with it (EINVAL), off + len past 2^63 (EFBIG),
 * a range reaching EOF or not aligned to the filesystem block (EINVAL), a filesystem without it
 * (EOPNOTSUPP), a descriptor not open for writing (EBADF).
 */
static int decide_fallocate(const char *call, int fd, int mode, off_t off, off_t len)
{
	struct stat st;
	if (mode != FALLOC_FL_COLLAPSE_RANGE || off < 0 || len <= 0 || len > INT64_MAX - off ||
	    mg_fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || off + len >= st.st_size)
		return MG_PROCEED;
	if (st.st_blksize > 0 && (off % st.st_blksize || len % st.st_blksize))
		return MG_PROCEED;
	if (!mg_collapse_supported(fd))
		return MG_PROCEED;
	char detail[] = "FALLOC_FL_COLLAPSE_RANGE";
	struct mg_target t = { call, fd, AT_FDCWD, NULL, detail, mg_fails_fd_not_writable };
	return mg_check_resize(&t, &st, (uint64_t)(st.st_size - len));
}

/* Needs a descriptor open for writing too. */
static void ready_decide_fallocate(int fd, int mode, off_t off, off_t len)
{
	(void)fd;
	(void)mode;
	(void)off;
	(void)len;
}

#define MG_ARGS(...) __VA_ARGS__
#define MG_SYM(name, ret, params, required)
#define MG_CHECKED(name, ret, params, args, required, decision, syscall)             \
	MG_EXPORT ret name params                                                    \
	{                                                                            \
		if (!mg_quiet() && decision(#name, MG_ARGS args) == MG_REFUSE)       \
			return -1;                                                   \
		ready_##decision(MG_ARGS args);                                      \
		return MG_CALL_REAL(name, args, syscall);                            \
	}
#include "intercept.def"
#undef MG_CHECKED
#undef MG_SYM

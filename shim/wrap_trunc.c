/* truncate, ftruncate, fallocate(FALLOC_FL_COLLAPSE_RANGE): checked before the real call. */
#define _GNU_SOURCE
#include "check.h"
#include "config.h"
#include "real.h"
#include "registry.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/syscall.h>

static int check_fd(const char *call, int fd, off_t len)
{
	struct stat st;
	/* A size at or past every window's end cuts nothing: no system call needed. */
	if (len < 0 || (uint64_t)len >= mg_reg_max_end() || mg_fstat(fd, &st) < 0 ||
	    !S_ISREG(st.st_mode) || (uint64_t)len >= (uint64_t)st.st_size)
		return MG_PROCEED;
	struct mg_target t = { call, fd, AT_FDCWD, NULL, NULL, mg_fails_fd_not_writable };
	return mg_check_resize(&t, &st, (uint64_t)len);
}

static int check_path(const char *call, const char *path, off_t len)
{
	struct stat st;
	if (len < 0 || !path || (uint64_t)len >= mg_reg_max_end() ||
	    mg_fstatat(AT_FDCWD, path, &st, 0) < 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)len >= (uint64_t)st.st_size)
		return MG_PROCEED;
	struct mg_target t = { call, -1, AT_FDCWD, path, NULL, mg_fails_path_not_writable };
	return mg_check_resize(&t, &st, (uint64_t)len);
}

#define FTRUNCATE_BODY(name)                                                           \
	do {                                                                           \
		if (!mg_quiet() && check_fd(#name, fd, len) == MG_REFUSE)                 \
			return -1;                                                     \
		return MG_CALL_REAL(name, (fd, len), MG_SYS2(SYS_ftruncate, fd, len)); \
	} while (0)

#define TRUNCATE_BODY(name)                                                            \
	do {                                                                           \
		if (!mg_quiet() && check_path(#name, path, len) == MG_REFUSE)             \
			return -1;                                                     \
		return MG_CALL_REAL(name, (path, len), MG_SYS2(SYS_truncate, path, len)); \
	} while (0)

MG_EXPORT int ftruncate(int fd, off_t len) { FTRUNCATE_BODY(ftruncate); }
MG_EXPORT int ftruncate64(int fd, off_t len) { FTRUNCATE_BODY(ftruncate64); }
MG_EXPORT int truncate(const char *path, off_t len) { TRUNCATE_BODY(truncate); }
MG_EXPORT int truncate64(const char *path, off_t len) { TRUNCATE_BODY(truncate64); }

/* COLLAPSE_RANGE removes [off, off+len) and shifts the rest down: the file shrinks by len. */
static int check_collapse(const char *call, int fd, int mode, off_t off, off_t len)
{
	struct stat st;
	if (!(mode & FALLOC_FL_COLLAPSE_RANGE) || off < 0 || len <= 0 ||
	    mg_fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || off + len >= st.st_size)
		return MG_PROCEED;      /* the kernel refuses a range reaching EOF with EINVAL */
	/* ... and ranges not aligned to the filesystem block, and descriptors not open for writing */
	if (st.st_blksize > 0 && (off % st.st_blksize || len % st.st_blksize))
		return MG_PROCEED;
	char detail[] = "FALLOC_FL_COLLAPSE_RANGE";
	struct mg_target t = { call, fd, AT_FDCWD, NULL, detail, mg_fails_fd_not_writable };
	return mg_check_resize(&t, &st, (uint64_t)(st.st_size - len));
}

#define FALLOCATE_BODY(name)                                                                 \
	do {                                                                                 \
		if (!mg_quiet() && check_collapse(#name, fd, mode, off, len) == MG_REFUSE)      \
			return -1;                                                           \
		return MG_CALL_REAL(name, (fd, mode, off, len),                              \
				    MG_SYS4(SYS_fallocate, fd, mode, off, len));                     \
	} while (0)

MG_EXPORT int fallocate(int fd, int mode, off_t off, off_t len) { FALLOCATE_BODY(fallocate); }
MG_EXPORT int fallocate64(int fd, int mode, off_t off, off_t len) { FALLOCATE_BODY(fallocate64); }

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

static int sys_ret(long r)
{
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return (int)r;
}

static bool quiet(void)
{
	return mg_inside() || mg_reg_nfiles() == 0 || mg_mode() == MG_MODE_OFF;
}

#ifndef AT_EACCESS
#define AT_EACCESS 0x200
#endif

/* The kernel refuses to resize through a descriptor not open for writing (EINVAL / EBADF). */
static bool fd_writable(int fd)
{
	long fl = MG_SYS2(SYS_fcntl, fd, F_GETFL);
	return fl >= 0 && !(fl & O_PATH) && (fl & O_ACCMODE) != O_RDONLY;
}

static int check_fd(const char *call, int fd, off_t len)
{
	struct stat st;
	if (len < 0 || mg_fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)len >= (uint64_t)st.st_size)
		return MG_PROCEED;
	if (!fd_writable(fd))
		return MG_PROCEED;      /* fails anyway: truncates nothing, same errno as bare */
	struct mg_target t = { call, fd, AT_FDCWD, NULL, NULL };
	return mg_check_resize(&t, &st, (uint64_t)len);
}

static int check_path(const char *call, const char *path, off_t len)
{
	struct stat st;
	if (len < 0 || !path || mg_fstatat(AT_FDCWD, path, &st, 0) < 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)len >= (uint64_t)st.st_size)
		return MG_PROCEED;
	long acc = MG_SYS4(SYS_faccessat2, AT_FDCWD, path, W_OK, AT_EACCESS);
	if (acc < 0 && acc != -ENOSYS)
		return MG_PROCEED;      /* EACCES / EROFS: the real call fails and truncates nothing */
	struct mg_target t = { call, -1, AT_FDCWD, path, NULL };
	return mg_check_resize(&t, &st, (uint64_t)len);
}

#define FTRUNCATE_BODY(name)                                                           \
	do {                                                                           \
		if (!quiet() && check_fd(#name, fd, len) == MG_REFUSE)                 \
			return -1;                                                     \
		mg_##name##_fn real = MG_REAL(name);                                   \
		return real ? real(fd, len) : sys_ret(MG_SYS2(SYS_ftruncate, fd, len)); \
	} while (0)

#define TRUNCATE_BODY(name)                                                            \
	do {                                                                           \
		if (!quiet() && check_path(#name, path, len) == MG_REFUSE)             \
			return -1;                                                     \
		mg_##name##_fn real = MG_REAL(name);                                   \
		return real ? real(path, len) : sys_ret(MG_SYS2(SYS_truncate, path, len)); \
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
	if (!fd_writable(fd))
		return MG_PROCEED;
	char detail[] = "FALLOC_FL_COLLAPSE_RANGE";
	struct mg_target t = { call, fd, AT_FDCWD, NULL, detail };
	return mg_check_resize(&t, &st, (uint64_t)(st.st_size - len));
}

#define FALLOCATE_BODY(name)                                                                 \
	do {                                                                                 \
		if (!quiet() && check_collapse(#name, fd, mode, off, len) == MG_REFUSE)      \
			return -1;                                                           \
		mg_##name##_fn real = MG_REAL(name);                                         \
		return real ? real(fd, mode, off, len)                                       \
			    : sys_ret(MG_SYS4(SYS_fallocate, fd, mode, off, len));          \
	} while (0)

MG_EXPORT int fallocate(int fd, int mode, off_t off, off_t len) { FALLOCATE_BODY(fallocate); }
MG_EXPORT int fallocate64(int fd, int mode, off_t off, off_t len) { FALLOCATE_BODY(fallocate64); }

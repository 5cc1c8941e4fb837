/*
 * The open family, creat, fopen/freopen, shm_open: a truncating open of a mapped file is checked
 * before the real call (O_TRUNC must not happen first); the reopen rule after it. An open for
 * writing lets the guard's own lease on the file go first (lease.h).
 */
#define _GNU_SOURCE
#include "check.h"
#include "config.h"
#include "fmt.h"
#include "lease.h"
#include "log.h"
#include "real.h"
#include "wrap_open.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>

static bool needs_mode(int flags) { return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE; }

static void flags_text(int flags, char *out, size_t cap)
{
	struct mg_buf b;
	mg_buf_init(&b, out, cap);
	int acc = flags & O_ACCMODE;
	mg_buf_puts(&b, acc == O_RDONLY ? "O_RDONLY" : acc == O_WRONLY ? "O_WRONLY" : "O_RDWR");
	if (flags & O_CREAT) mg_buf_puts(&b, "|O_CREAT");
	if (flags & O_EXCL) mg_buf_puts(&b, "|O_EXCL");
	if (flags & O_TRUNC) mg_buf_puts(&b, "|O_TRUNC");
	if (flags & O_APPEND) mg_buf_puts(&b, "|O_APPEND");
}

/* Would this open cut the file? Checked before the real call (wrap_open.h). */
int mg_open_pre(const char *call, int dirfd, const char *path, int flags, const char *detail)
{
	/* O_PATH ignores O_TRUNC; O_DIRECTORY (and O_TMPFILE) fail on a regular file: no cut. */
	if (!(flags & O_TRUNC) || (flags & (O_PATH | O_DIRECTORY)) || !path)
		return MG_PROCEED;
	struct stat st;
	if (mg_fstatat(dirfd, path, &st, (flags & O_NOFOLLOW) ? AT_SYMLINK_NOFOLLOW : 0) < 0 ||
	    !S_ISREG(st.st_mode) || st.st_size == 0)
		return MG_PROCEED;
	if ((flags & O_CREAT) && (flags & O_EXCL))
		return MG_PROCEED;              /* fails with EEXIST, truncates nothing */
	char ftext[96];
	if (!detail) {
		flags_text(flags, ftext, sizeof ftext);
		detail = ftext;
	}
	struct mg_target t = { call, -1, dirfd, path, detail, mg_fails_path_not_writable };
	return mg_check_resize(&t, &st, 0);
}

/*
 * Right before the real call: an open that would break a read lease (for writing, or O_TRUNC) of a
 * file the guard holds one on gives that lease up, so that the program never waits for its guard.
 * Also when the guard is otherwise quiet (a lease outlives the file's last window). Nothing, not
 * even the stat, while no lease is held.
 */
static bool lease_matters(int flags)
{
	return mg_open_writes(flags) && mg_unlikely(mg_lease_any_held()) && !mg_inside();
}

static void lease_before(int dirfd, const char *path, int flags)
{
	struct stat st;
	if (lease_matters(flags) && path &&
	    mg_fstatat(dirfd, path, &st, (flags & O_NOFOLLOW) ? AT_SYMLINK_NOFOLLOW : 0) == 0 &&
	    S_ISREG(st.st_mode))
		mg_lease_program_writes(st.st_dev, st.st_ino);
}

/* freopen: path, or (NULL) the stream's own file, opened anew. */
static void lease_before_reopen(const char *path, FILE *stream, int flags)
{
	struct stat st;
	if (path)
		lease_before(AT_FDCWD, path, flags);
	else if (lease_matters(flags) && mg_fstat(fileno(stream), &st) == 0 && S_ISREG(st.st_mode))
		mg_lease_program_writes(st.st_dev, st.st_ino);
}

/* After a successful open: the reopen rule. Returns fd, or -1 if refused (fd closed). */
static int open_post(const char *call, int dirfd, const char *path, int flags, int fd, int pre)
{
	/* The gate again: the open may have taken long (a FIFO, NFS) and the state moved on. */
	if (fd < 0 || pre != MG_PROCEED || mg_cfg.reopen == MG_REOPEN_TRUNC || (flags & O_PATH) ||
	    mg_quiet())
		return fd;
	bool writable = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
	int saved = errno;
	struct stat st;
	if (mg_fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		errno = saved;
		return fd;
	}
	char ftext[96];
	flags_text(flags, ftext, sizeof ftext);
	struct mg_target t = { call, -1, dirfd, path, ftext, NULL };
	if (mg_check_reopen(&t, &st, writable) == MG_REFUSE) {
		int e = errno;
		MG_SYS1(SYS_close, fd);
		errno = e;
		return -1;
	}
	errno = saved;
	return fd;
}

/* One body for the ten open entry points; the real one is called exactly as the host called us. */
#define OPEN_BODY(call, dirfd, path, flags, args)                                            \
	do {                                                                                 \
		if (mg_quiet()) {                                                            \
			lease_before(dirfd, path, flags);                                    \
			return MG_CALL_REAL(call, args,                                      \
					    MG_SYS4(SYS_openat, dirfd, path, flags, mode));  \
		}                                                                            \
		int pre = mg_open_pre(#call, dirfd, path, flags, NULL);                      \
		if (pre == MG_REFUSE)                                                        \
			return -1;                                                           \
		lease_before(dirfd, path, flags);                                            \
		int fd = MG_CALL_REAL(call, args, MG_SYS4(SYS_openat, dirfd, path, flags, mode)); \
		return open_post(#call, dirfd, path, flags, fd, pre);                        \
	} while (0)

#define GET_MODE(flags)                                  \
	mode_t mode = 0;                                 \
	if (needs_mode(flags)) {                         \
		va_list ap;                              \
		va_start(ap, flags);                     \
		mode = (mode_t)va_arg(ap, int);          \
		va_end(ap);                              \
	}

MG_EXPORT int open(const char *path, int flags, ...)
{
	GET_MODE(flags);
	OPEN_BODY(open, AT_FDCWD, path, flags, (path, flags, mode));
}

MG_EXPORT int open64(const char *path, int flags, ...)
{
	GET_MODE(flags);
	OPEN_BODY(open64, AT_FDCWD, path, flags, (path, flags, mode));
}

MG_EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
	GET_MODE(flags);
	OPEN_BODY(openat, dirfd, path, flags, (dirfd, path, flags, mode));
}

MG_EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
	GET_MODE(flags);
	OPEN_BODY(openat64, dirfd, path, flags, (dirfd, path, flags, mode));
}

/* The fortify entries: called only without a mode argument (they abort on O_CREAT). */
MG_EXPORT int __open_2(const char *path, int flags)
{
	mode_t mode = 0;
	OPEN_BODY(__open_2, AT_FDCWD, path, flags, (path, flags));
}

MG_EXPORT int __open64_2(const char *path, int flags)
{
	mode_t mode = 0;
	OPEN_BODY(__open64_2, AT_FDCWD, path, flags, (path, flags));
}

MG_EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
	mode_t mode = 0;
	OPEN_BODY(__openat_2, dirfd, path, flags, (dirfd, path, flags));
}

MG_EXPORT int __openat64_2(int dirfd, const char *path, int flags)
{
	mode_t mode = 0;
	OPEN_BODY(__openat64_2, dirfd, path, flags, (dirfd, path, flags));
}

MG_EXPORT int creat(const char *path, mode_t mode)
{
	int flags = O_CREAT | O_WRONLY | O_TRUNC;
	OPEN_BODY(creat, AT_FDCWD, path, flags, (path, mode));
}

MG_EXPORT int creat64(const char *path, mode_t mode)
{
	int flags = O_CREAT | O_WRONLY | O_TRUNC;
	OPEN_BODY(creat64, AT_FDCWD, path, flags, (path, mode));
}

/* shm_open's objects live in /dev/shm (glibc's fixed directory). */
MG_EXPORT int shm_open(const char *name, int flags, mode_t mode)
{
	char path[PATH_MAX];
	const char *rel = name;
	if (!mg_inside() && name) {
		struct mg_buf b;
		mg_buf_init(&b, path, sizeof path);
		mg_buf_puts(&b, "/dev/shm/");
		while (*rel == '/')
			rel++;
		mg_buf_puts(&b, rel);
		rel = path;
	}
	if (!MG_REAL(shm_open)) {
		errno = ENOSYS;
		return -1;
	}
	if (mg_quiet()) {
		lease_before(AT_FDCWD, rel, flags);
		return mg_real_shm_open(name, flags, mode);
	}
	int pre = mg_open_pre("shm_open", AT_FDCWD, rel, flags, NULL);
	if (pre == MG_REFUSE)
		return -1;
	lease_before(AT_FDCWD, rel, flags);
	int fd = mg_real_shm_open(name, flags, mode);
	return open_post("shm_open", AT_FDCWD, rel, flags, fd, pre);
}

/* fopen's mode string as open flags. */
static int fmode_flags(const char *m)
{
	int flags;
	switch (m ? m[0] : 0) {
	case 'r': flags = O_RDONLY; break;
	case 'w': flags = O_WRONLY | O_CREAT | O_TRUNC; break;
	case 'a': flags = O_WRONLY | O_CREAT | O_APPEND; break;
	default: return -1;     /* the real fopen fails with EINVAL */
	}
	for (const char *p = m + 1; *p && *p != ','; p++) {
		if (*p == '+')
			flags = (flags & ~O_ACCMODE) | O_RDWR;
		else if (*p == 'x')
			flags |= O_EXCL;
	}
	return flags;
}

static FILE *stream_post(const char *call, const char *path, int flags, FILE *f, int pre,
			 const char *mode)
{
	if (!f || pre != MG_PROCEED || mg_cfg.reopen == MG_REOPEN_TRUNC || mg_quiet())
		return f;
	int saved = errno;
	struct stat st;
	int fd = fileno(f);
	if (fd < 0 || mg_fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		errno = saved;
		return f;
	}
	struct mg_target t = { call, path ? -1 : fd, AT_FDCWD, path, mode, NULL };
	bool writable = (flags & O_ACCMODE) != O_RDONLY;
	if (mg_check_reopen(&t, &st, writable) == MG_REFUSE) {
		int e = errno;
		(void)fclose(f);
		errno = e;
		return NULL;
	}
	errno = saved;
	return f;
}

static FILE *guarded_fopen(const char *call, mg_fopen_fn real, const char *path, const char *mode)
{
	if (!real) {
		errno = ENOSYS;
		return NULL;
	}
	int flags = fmode_flags(mode);
	if (flags < 0)
		return real(path, mode);
	if (mg_quiet()) {
		lease_before(AT_FDCWD, path, flags);
		return real(path, mode);
	}
	int pre = mg_open_pre(call, AT_FDCWD, path, flags, mode);
	if (pre == MG_REFUSE)
		return NULL;
	lease_before(AT_FDCWD, path, flags);
	return stream_post(call, path, flags, real(path, mode), pre, mode);
}

MG_EXPORT FILE *fopen(const char *path, const char *mode)
{
	return guarded_fopen("fopen", MG_REAL(fopen), path, mode);
}

MG_EXPORT FILE *fopen64(const char *path, const char *mode)
{
	return guarded_fopen("fopen64", MG_REAL(fopen64), path, mode);
}

/* freopen(NULL, mode, f) reopens f's own file: with "w" that truncates it too. */
static FILE *guarded_freopen(const char *call, mg_freopen_fn real, const char *path,
			     const char *mode, FILE *stream)
{
	if (!real) {
		errno = ENOSYS;
		return NULL;
	}
	int flags = fmode_flags(mode);
	if (flags < 0 || !stream)
		return real(path, mode, stream);
	if (mg_quiet()) {
		lease_before_reopen(path, stream, flags);
		return real(path, mode, stream);
	}
	int pre = MG_PROCEED;
	if (path) {
		pre = mg_open_pre(call, AT_FDCWD, path, flags, mode);
	} else if (flags & O_TRUNC) {
		struct stat st;
		int fd = fileno(stream);
		if (fd >= 0 && mg_fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
			struct mg_target t = { call, fd, AT_FDCWD, NULL, mode, mg_fails_reopen_not_writable };
			pre = mg_check_resize(&t, &st, 0);
		}
	}
	if (pre == MG_REFUSE) {
		/* freopen's failure closes the stream: keep that contract. */
		int e = errno;
		(void)fclose(stream);
		errno = e;
		return NULL;
	}
	lease_before_reopen(path, stream, flags);
	FILE *f = real(path, mode, stream);
	return path ? stream_post(call, path, flags, f, pre, mode) : f;
}

/* freopen("log", "w", stderr) puts another file on descriptor 2 on purpose: reports follow it. */
static FILE *redirected(FILE *f)
{
	if (f && !mg_inside()) {
		int fd = fileno(f);
		if (fd >= 0)
			mg_log_stream_redirected(fd);
	}
	return f;
}

MG_EXPORT FILE *freopen(const char *path, const char *mode, FILE *stream)
{
	return redirected(guarded_freopen("freopen", MG_REAL(freopen), path, mode, stream));
}

MG_EXPORT FILE *freopen64(const char *path, const char *mode, FILE *stream)
{
	return redirected(guarded_freopen("freopen64", MG_REAL(freopen64), path, mode, stream));
}

#define _GNU_SOURCE
#include "log.h"
#include "config.h"
#include "fmt.h"
#include "fd_place.h"
#include "real.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int log_fd = -1;         /* atomic: read by the close/dup2 wrappers, maybe in a handler */
static int self_pid;            /* set at load and in fork children (atfork) */
static dev_t log_dev;
static ino_t log_ino;

int mg_log_fd(void) { return __atomic_load_n(&log_fd, __ATOMIC_ACQUIRE); }

/* True in the process that set up the log state (not in a vfork child sharing our memory). */
bool mg_log_owner(void)
{
	return !self_pid || (int)MG_SYS0(SYS_getpid) == self_pid;
}

/*
 * A descriptor of the program's that reports go to: stderr, or the one MMAPGUARD_LOG names as
 * /dev/stdout, /dev/stderr, /dev/fd/N or /proc/self/fd/N. The file behind it at start-up (or
 * the one the program later dup2()s or freopen()s onto it) is the only one written to: a daemon
 * that closes stderr and opens a data file, which gets the number, never has reports in its data.
 */
struct stream {
	int fd;
	int known;              /* atomic: the descriptor was open (dev, ino valid) */
	dev_t dev;
	ino_t ino;
};
static struct stream err_stream = { 2, 0, 0, 0 };
static struct stream alias_stream = { -1, 0, 0, 0 };
static int streams_ready;       /* atomic */
static int said_unusable;       /* atomic: the log-file complaint was written */

static void stream_capture(struct stream *s)
{
	struct stat st;
	if (MG_SYS2(SYS_fstat, s->fd, &st) == 0) {
		__atomic_store_n(&s->dev, st.st_dev, __ATOMIC_RELAXED);
		__atomic_store_n(&s->ino, st.st_ino, __ATOMIC_RELAXED);
		__atomic_store_n(&s->known, 1, __ATOMIC_RELEASE);
	} else {
		__atomic_store_n(&s->known, 0, __ATOMIC_RELEASE);
	}
}

/* /dev/stdout, /dev/stderr, /dev/fd/N, /proc/self/fd/N: N; anything else -1. */
static int alias_of(const char *path)
{
	if (strcmp(path, "/dev/stdout") == 0)
		return 1;
	if (strcmp(path, "/dev/stderr") == 0)
		return 2;
	const char *num = NULL;
	if (strncmp(path, "/dev/fd/", 8) == 0)
		num = path + 8;
	else if (strncmp(path, "/proc/self/fd/", 14) == 0)
		num = path + 14;
	if (!num || !*num)
		return -1;
	int n = 0;
	for (const char *c = num; *c; c++) {
		if (*c < '0' || *c > '9' || n > 100000)
			return -1;
		n = n * 10 + (*c - '0');
	}
	return n;
}

/* The program's streams as they are at start-up (the constructor, or the first report before it). */
static void streams_setup(void)
{
	if (__atomic_load_n(&streams_ready, __ATOMIC_ACQUIRE))
		return;
	stream_capture(&err_stream);
	int n = mg_cfg.log_path[0] ? alias_of(mg_cfg.log_path) : -1;
	if (n >= 0) {
		alias_stream.fd = n;
		stream_capture(&alias_stream);
	}
	__atomic_store_n(&streams_ready, 1, __ATOMIC_RELEASE);
}

/* The program put another file on this number on purpose (dup2, dup3, freopen): it is the stream now. */
/* Another process sharing our memory: a vfork child (a clone() child without CLONE_VM does not). */
static bool memory_shared_with_owner(void)
{
	long same = MG_SYS6(SYS_kcmp, MG_SYS0(SYS_getpid), self_pid, KCMP_VM, 0, 0, 0);
	return same != 1 && same != 2;  /* unknown (no kcmp): as if shared, change nothing */
}

void mg_log_stream_redirected(int fd)
{
	if (!__atomic_load_n(&streams_ready, __ATOMIC_ACQUIRE))
		return;
	if (!mg_log_owner() && memory_shared_with_owner())
		return;         /* a vfork child's table is its own: the parent's stream did not change */
	if (fd == err_stream.fd)
		stream_capture(&err_stream);
	if (fd == alias_stream.fd)
		stream_capture(&alias_stream);
}

/* Write to a program stream only while it still holds the file it held. 0 or -errno. */
static int stream_write(struct stream *s, const char *p, size_t n)
{
	streams_setup();
	struct stat st;
	if (!__atomic_load_n(&s->known, __ATOMIC_ACQUIRE) || MG_SYS2(SYS_fstat, s->fd, &st) < 0 ||
	    st.st_dev != __atomic_load_n(&s->dev, __ATOMIC_RELAXED) ||
	    st.st_ino != __atomic_load_n(&s->ino, __ATOMIC_RELAXED))
		return -EBADF;  /* closed, or the number now names another file of the program's */
	return mg_write_all(s->fd, p, n);
}

static const char *reason(int err)
{
	switch (err) {
	case ENOENT: return "no such file or directory";
	case ENOTDIR: return "a component of the path is not a directory";
	case EISDIR: return "it is a directory";
	case EACCES: return "permission denied";
	case EPERM: return "operation not permitted";
	case ELOOP: return "it is a symbolic link (not followed: name /dev/stderr or the target itself)";
	case ENXIO: return "a FIFO with no reader (or a device that is not there)";
	case EROFS: return "read-only filesystem";
	case ENOSPC: return "no space left on the device";
	case EMFILE: return "the process has no free descriptor";
	case ENFILE: return "the system has no free descriptor";
	case ENAMETOOLONG: return "the path is too long";
	default: return NULL;
	}
}

/*
 * The log file cannot be used: say so once, naming the path and the reason, and write the record
 * to stderr instead. A report is never dropped without a word.
 */
static int fall_back(const char *path, int err, const char *p, size_t n)
{
	if (!__atomic_exchange_n(&said_unusable, 1, __ATOMIC_ACQ_REL)) {
		char msg[PATH_MAX + 256];
		struct mg_buf b;
		mg_buf_init(&b, msg, sizeof msg);
		mg_buf_puts(&b, "mmapguard: cannot write reports to ");
		mg_buf_text(&b, path);
		mg_buf_puts(&b, ": ");
		const char *why = reason(err);
		if (why) {
			mg_buf_puts(&b, why);
		} else {
			mg_buf_puts(&b, "errno ");
			mg_buf_u64(&b, (uint64_t)err);
		}
		mg_buf_puts(&b, "; writing them to stderr\n");
		stream_write(&err_stream, b.p, b.len);
	}
	return stream_write(&err_stream, p, n);
}

void mg_log_expand(const char *pattern, int pid, char *out, size_t cap)
{
	struct mg_buf b;
	mg_buf_init(&b, out, cap);
	for (const char *s = pattern; *s; s++) {
		if (s[0] == '%' && s[1] == 'p') {
			mg_buf_u64(&b, (uint64_t)pid);
			s++;
		} else {
			mg_buf_putc(&b, *s);
		}
	}
}

static int open_log(int pid, dev_t *dev, ino_t *ino)
{
	char path[PATH_MAX];
	mg_log_expand(mg_cfg.log_path, pid, path, sizeof path);
	/* O_NONBLOCK: a FIFO with no reader fails at once (ENXIO) instead of blocking the program. */
	long fd = MG_SYS4(SYS_openat, AT_FDCWD, path,
			  O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK,
			  0600);
	if (fd < 0)
		return (int)fd;
	MG_SYS3(SYS_fcntl, fd, F_SETFL, O_WRONLY | O_APPEND);
	fd = mg_fd_place((int)fd, true);
	mg_guard_fd_note((int)fd);
	struct stat st;
	if (MG_SYS2(SYS_fstat, fd, &st) == 0) {
		*dev = st.st_dev;
		*ino = st.st_ino;
	}
	return (int)fd;
}

static bool still_ours(int fd)
{
	struct stat st;
	return MG_SYS2(SYS_fstat, fd, &st) == 0 && st.st_dev == log_dev && st.st_ino == log_ino;
}

/* The log is one of the program's streams (stderr, or MMAPGUARD_LOG=/dev/stdout and the like). */
static struct stream *log_stream(void)
{
	streams_setup();
	if (!mg_cfg.log_path[0])
		return &err_stream;
	return alias_stream.fd >= 0 ? &alias_stream : NULL;
}

/* A log file of this process's own, opened for one record (vfork child, signal handler). */
static int write_once(int pid, const char *p, size_t n)
{
	dev_t d;
	ino_t i;
	int fd = open_log(pid, &d, &i);
	if (fd < 0) {
		char path[PATH_MAX];
		mg_log_expand(mg_cfg.log_path, pid, path, sizeof path);
		return fall_back(path, -fd, p, n);
	}
	int r = mg_write_all(fd, p, n);
	MG_SYS1(SYS_close, fd);
	return r;
}

int mg_log_write(const char *p, size_t n)
{
	struct stream *s = log_stream();
	if (s)
		return stream_write(s, p, n);
	int pid = (int)MG_SYS0(SYS_getpid);
	if (!self_pid)
		self_pid = pid;
	if (pid != self_pid) {
		/*
		 * A vfork or _Fork child (no atfork handler ran): its descriptor table is its own but
		 * a vfork child shares our memory, so it writes through a descriptor of its own.
		 */
		return write_once(pid, p, n);
	}
	int fd = mg_log_fd();
	if (fd >= 0 && !still_ours(fd)) {
		/* The number was taken from us (raw close_range, closefrom in a child...): not ours now. */
		__atomic_store_n(&log_fd, -1, __ATOMIC_RELEASE);
		fd = -1;
	}
	if (fd < 0) {
		fd = open_log(pid, &log_dev, &log_ino);
		if (fd < 0) {
			char path[PATH_MAX];
			mg_log_expand(mg_cfg.log_path, pid, path, sizeof path);
			return fall_back(path, -fd, p, n);     /* tried again at the next record */
		}
		__atomic_store_n(&log_fd, fd, __ATOMIC_RELEASE);
	}
	return mg_write_all(fd, p, n);
}

int mg_log_write_signal(const char *p, size_t n)
{
	struct stream *s = log_stream();
	if (s)
		return stream_write(s, p, n);
	int pid = (int)MG_SYS0(SYS_getpid);
	int fd = mg_log_fd();
	if (fd >= 0 && pid == self_pid && still_ours(fd))
		return mg_write_all(fd, p, n);
	/* No shared state is touched here: the interrupted thread may be inside mg_log_write. */
	return write_once(pid, p, n);
}

void mg_log_evacuate(int fd)
{
	int cur = mg_log_fd();
	if (cur < 0 || fd != cur)
		return;
	if ((int)MG_SYS0(SYS_getpid) != self_pid)
		return;         /* a vfork child: its table is its own, our state is the parent's */
	long moved = mg_fd_place_copy(cur, true);
	if (moved < 0 || moved == cur) {
		__atomic_store_n(&log_fd, -1, __ATOMIC_RELEASE);        /* reopened on next record */
		return;
	}
	mg_guard_fd_note((int)moved);
	__atomic_store_n(&log_fd, (int)moved, __ATOMIC_RELEASE);
	/* the old number is about to be replaced by dup2 itself */
}

void mg_log_init(void)
{
	self_pid = (int)MG_SYS0(SYS_getpid);
	streams_setup();
}

void mg_log_atfork_child(void)
{
	self_pid = (int)MG_SYS0(SYS_getpid);
	int fd = mg_log_fd();
	if (fd >= 0 && strstr(mg_cfg.log_path, "%p")) {
		/* the child writes its own file */
		MG_SYS1(SYS_close, fd);
		__atomic_store_n(&log_fd, -1, __ATOMIC_RELEASE);
	}
}

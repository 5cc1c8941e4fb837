#define _GNU_SOURCE
#include "log.h"
#include "config.h"
#include "fmt.h"
#include "real.h"

#include <errno.h>
#include <fcntl.h>
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
	long fd = MG_SYS4(SYS_openat, AT_FDCWD, path,
			  O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return (int)fd;
	long high = MG_SYS3(SYS_fcntl, fd, F_DUPFD_CLOEXEC, MG_LOG_FD_MIN);
	if (high >= 0) {
		MG_SYS1(SYS_close, fd);
		fd = high;
	}
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

int mg_log_write(const char *p, size_t n)
{
	if (!mg_cfg.log_path[0])
		return mg_write_all(2, p, n);
	int pid = (int)MG_SYS0(SYS_getpid);
	if (!self_pid)
		self_pid = pid;
	if (pid != self_pid) {
		/*
		 * A vfork or _Fork child (no atfork handler ran): its descriptor table is its own but
		 * a vfork child shares our memory, so it writes through a descriptor of its own.
		 */
		dev_t d;
		ino_t i;
		int fd = open_log(pid, &d, &i);
		if (fd < 0)
			return fd;
		int r = mg_write_all(fd, p, n);
		MG_SYS1(SYS_close, fd);
		return r;
	}
	int fd = mg_log_fd();
	if (fd >= 0 && !still_ours(fd)) {
		/* The number was taken from us (raw close_range, closefrom in a child...): not ours now. */
		__atomic_store_n(&log_fd, -1, __ATOMIC_RELEASE);
		fd = -1;
	}
	if (fd < 0) {
		fd = open_log(pid, &log_dev, &log_ino);
		if (fd < 0)
			return fd;
		__atomic_store_n(&log_fd, fd, __ATOMIC_RELEASE);
	}
	return mg_write_all(fd, p, n);
}

int mg_log_write_signal(const char *p, size_t n)
{
	if (!mg_cfg.log_path[0])
		return mg_write_all(2, p, n);
	int pid = (int)MG_SYS0(SYS_getpid);
	int fd = mg_log_fd();
	if (fd >= 0 && pid == self_pid && still_ours(fd))
		return mg_write_all(fd, p, n);
	/* No shared state is touched here: the interrupted thread may be inside mg_log_write. */
	dev_t d;
	ino_t i;
	fd = open_log(pid, &d, &i);
	if (fd < 0)
		return fd;
	int r = mg_write_all(fd, p, n);
	MG_SYS1(SYS_close, fd);
	return r;
}

void mg_log_evacuate(int fd)
{
	int cur = mg_log_fd();
	if (cur < 0 || fd != cur)
		return;
	if ((int)MG_SYS0(SYS_getpid) != self_pid)
		return;         /* a vfork child: its table is its own, our state is the parent's */
	long moved = MG_SYS3(SYS_fcntl, cur, F_DUPFD_CLOEXEC, cur + 1);
	if (moved < 0) {
		__atomic_store_n(&log_fd, -1, __ATOMIC_RELEASE);        /* reopened on next record */
		return;
	}
	__atomic_store_n(&log_fd, (int)moved, __ATOMIC_RELEASE);
	/* the old number is about to be replaced by dup2 itself */
}

void mg_log_init(void)
{
	self_pid = (int)MG_SYS0(SYS_getpid);
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

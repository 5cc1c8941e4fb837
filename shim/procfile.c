/* Small /proc files read with raw system calls (see procfile.h). */
#define _GNU_SOURCE
#include "procfile.h"
#include "fmt.h"
#include "real.h"

#include <dirent.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/syscall.h>

long mg_sys_open(const char *path, int flags)
{
	return MG_SYS4(SYS_openat, AT_FDCWD, path, flags | O_CLOEXEC | O_NOCTTY, 0);
}

/* Read a small /proc file into buf (NUL-terminated); length or -1. */
long mg_proc_read(const char *path, char *buf, size_t cap)
{
	long fd = mg_sys_open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	size_t len = 0;
	long r;
	while (len < cap - 1 && (r = MG_SYS3(SYS_read, fd, buf + len, cap - 1 - len)) > 0)
		len += (size_t)r;
	MG_SYS1(SYS_close, fd);
	buf[len] = 0;
	return (long)len;
}

void mg_proc_path(char *out, size_t cap, pid_t pid, const char *leaf)
{
	struct mg_buf b;
	mg_buf_init(&b, out, cap);
	mg_buf_puts(&b, "/proc/");
	mg_buf_i64(&b, pid);
	mg_buf_putc(&b, '/');
	mg_buf_puts(&b, leaf);
	mg_buf_putc(&b, 0);
}

bool mg_lines_open(struct mg_lines *l, const char *path)
{
	l->fd = mg_sys_open(path, O_RDONLY);
	l->len = l->pos = 0;
	l->eof = false;
	return l->fd >= 0;
}

void mg_lines_close(struct mg_lines *l)
{
	if (l->fd >= 0)
		MG_SYS1(SYS_close, l->fd);
	l->fd = -1;
}

bool mg_lines_next(struct mg_lines *l, char *line, size_t cap)
{
	for (;;) {
		char *nl = memchr(l->buf + l->pos, '\n', l->len - l->pos);
		if (nl || (l->eof && l->pos < l->len)) {
			size_t n = nl ? (size_t)(nl - (l->buf + l->pos)) : l->len - l->pos;
			size_t c = n < cap - 1 ? n : cap - 1;
			memcpy(line, l->buf + l->pos, c);
			line[c] = 0;
			l->pos += n + (nl ? 1 : 0);
			return true;
		}
		if (l->eof)
			return false;
		memmove(l->buf, l->buf + l->pos, l->len - l->pos);
		l->len -= l->pos;
		l->pos = 0;
		if (l->len == sizeof l->buf) {          /* a line longer than the buffer: drop it */
			l->len = 0;
			continue;
		}
		long r = MG_SYS3(SYS_read, l->fd, l->buf + l->len, sizeof l->buf - l->len);
		if (r <= 0)
			l->eof = true;
		else
			l->len += (size_t)r;
	}
}

const char *mg_skip_ws(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

const char *mg_skip_word(const char *s)
{
	while (*s && *s != ' ' && *s != '\t')
		s++;
	return s;
}

uint64_t mg_parse_num(const char **sp, int base)
{
	const char *s = *sp;
	uint64_t v = 0;
	if (base == 16 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	for (;; s++) {
		int d;
		if (*s >= '0' && *s <= '9') d = *s - '0';
		else if (base == 16 && *s >= 'a' && *s <= 'f') d = *s - 'a' + 10;
		else if (base == 16 && *s >= 'A' && *s <= 'F') d = *s - 'A' + 10;
		else break;
		v = v * (uint64_t)base + (uint64_t)d;
	}
	*sp = s;
	return v;
}

void mg_proc_self_fd(char *out, size_t cap, int fd)
{
	struct mg_buf b;
	mg_buf_init(&b, out, cap);
	mg_buf_puts(&b, "/proc/self/fd/");
	mg_buf_i64(&b, fd);
	mg_buf_putc(&b, 0);
}

void mg_fd_path(int fd, char *out, size_t cap)
{
	char self[64];
	mg_proc_self_fd(self, sizeof self, fd);
	long n = MG_SYS4(SYS_readlinkat, AT_FDCWD, self, out, cap - 1);
	out[n > 0 ? n : 0] = 0;
}

bool mg_dir_each(long dfd, char *dents, size_t cap, bool (*fn)(char *name, void *arg), void *arg)
{
	long n;
	while ((n = MG_SYS3(SYS_getdents64, dfd, dents, cap)) > 0) {
		for (long off = 0; off < n;) {
			char *name = dents + off + offsetof(struct dirent64, d_name);
			unsigned short reclen;
			memcpy(&reclen, dents + off + offsetof(struct dirent64, d_reclen), sizeof reclen);
			off += reclen;
			if (!fn(name, arg))
				return false;
		}
	}
	return true;
}

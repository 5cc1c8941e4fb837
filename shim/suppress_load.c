/*
 * The rules in force in this process: the files of MMAPGUARD_SUPPRESSIONS, then the default list
 * (libmmapguard.supp installed next to the library, else the one compiled in). Read once, on the first
 * violation there is to decide about, with raw system calls, into memory of our own.
 */
#define _GNU_SOURCE
#include "suppress.h"
#include "arena.h"
#include "config.h"
#include "fmt.h"
#include "procmaps.h"
#include "real.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>

/* Generated from packaging/default.supp by CMake (build/generated/mg_default_supp.c). */
extern const char mg_default_supp[] MG_HIDDEN;
extern const size_t mg_default_supp_len MG_HIDDEN;

#define POOL_SIZE (4u << 20)    /* untouched pages cost nothing */
#define FILE_MAX (1u << 20)

static struct mg_supp_set set;
static int loaded;              /* under the report lock */

static void malformed(void *ctx, const char *file, unsigned line, const char *msg)
{
	(void)ctx;
	char text[1024];
	struct mg_buf b;
	mg_buf_init(&b, text, sizeof text - 1);
	mg_buf_puts(&b, "mmapguard: ");
	mg_buf_text(&b, file);
	mg_buf_putc(&b, ':');
	mg_buf_u64(&b, line);
	mg_buf_puts(&b, ": ");
	mg_buf_text(&b, msg);
	b.truncated = 0;
	text[b.len++] = '\n';
	mg_write_all(2, text, b.len);
}

static void say(const char *what, const char *path)
{
	char text[1024];
	struct mg_buf b;
	mg_buf_init(&b, text, sizeof text - 1);
	mg_buf_puts(&b, "mmapguard: ");
	mg_buf_puts(&b, what);
	mg_buf_text(&b, path);
	b.truncated = 0;
	text[b.len++] = '\n';
	mg_write_all(2, text, b.len);
}

/* Read path into buf; returns its length, or -errno. */
static long read_file(const char *path, char *buf, size_t cap)
{
	long fd = MG_SYS4(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return fd;
	size_t len = 0;
	long r = 0;
	while (len < cap && (r = MG_SYS3(SYS_read, fd, buf + len, cap - len)) > 0)
		len += (size_t)r;
	MG_SYS1(SYS_close, fd);
	if (r < 0)
		return r;
	return len == cap ? -(long)EFBIG : (long)len;
}

static void load_file(const char *path, char *buf, bool quiet_if_missing)
{
	long n = read_file(path, buf, FILE_MAX);
	if (n < 0) {
		if (!quiet_if_missing)
			say(n == -EFBIG ? "rule file larger than 1 MiB, not read: " : "cannot read rule file ", path);
		return;
	}
	if (mg_supp_parse(&set, path, buf, (size_t)n) < 0)
		say("out of memory for suppression rules; stopped in ", path);
}

/* libmmapguard.supp next to libmmapguard.so */
static bool default_path(char *out, size_t cap)
{
	char path[MG_VMA_PATH];
	struct mg_vma v = { .path = path, .path_cap = sizeof path };
	if (!mg_vma_find((uintptr_t)mg_supp_rules, &v) || v.path[0] != '/')
		return false;
	char *slash = strrchr(v.path, '/');
	size_t dir = (size_t)(slash - v.path);
	static const char tail[] = "/libmmapguard.supp";
	if (dir + sizeof tail > cap)
		return false;
	memcpy(out, v.path, dir);
	memcpy(out + dir, tail, sizeof tail);
	return true;
}

const struct mg_supp_set *mg_supp_rules(void)
{
	if (loaded)
		return loaded > 0 ? &set : NULL;
	loaded = -1;
	void *pool = mg_pages_alloc(POOL_SIZE);
	char *buf = pool ? mg_pages_alloc(FILE_MAX) : NULL;
	if (!buf) {
		if (pool)
			mg_pages_free(pool, POOL_SIZE);
		return NULL;    /* no memory (the map-count wall?): nothing is suppressed by rules */
	}
	mg_supp_init(&set, pool, POOL_SIZE);
	set.err = malformed;
	const char *list = mg_cfg.suppressions;
	char path[PATH_MAX];
	while (*list) {
		const char *end = strchr(list, ':');
		size_t n = end ? (size_t)(end - list) : strlen(list);
		if (n > 0 && n < sizeof path) {
			memcpy(path, list, n);
			path[n] = 0;
			load_file(path, buf, false);
		}
		list += n + (end ? 1 : 0);
	}
	if (mg_cfg.default_suppressions) {
		long n = default_path(path, sizeof path) ? read_file(path, buf, FILE_MAX) : -1;
		if (n >= 0)
			mg_supp_parse(&set, path, buf, (size_t)n);
		else
			mg_supp_parse(&set, "(built-in default list)", mg_default_supp,
				      mg_default_supp_len);
	}
	mg_pages_free(buf, FILE_MAX);
	loaded = 1;
	return &set;
}

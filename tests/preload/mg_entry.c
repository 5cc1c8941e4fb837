/*
 * mg_entry: the test program of tests/preload/. Every subcommand sets up its own files in the
 * directory named on the command line, makes one guarded call from a function named after it
 * (do_ftruncate, do_open, ...), and prints what happened as JSON on stdout.
 *
 *   mg_entry CALL DIR [key=value...]     one truncating (or reopening) call, one JSON line
 *   mg_entry script DIR STEP...          map / unmap / remap / probe steps, one JSON line each
 *   mg_entry errors DIR                  calls that fail or change nothing, with live mappings
 *   mg_entry fork DIR                    violations in a parent and in its fork()ed child
 *
 * CALL is the name the source calls: ftruncate ftruncate64 truncate truncate64 open open64
 * openat openat64 creat creat64 fopen fopen64 freopen freopen64 shm_open memfd fallocate
 * fallocate64. Built three times (see CMakeLists.txt): plain, and with _FORTIFY_SOURCE=2 -O2 with
 * and without _FILE_OFFSET_BITS=64, where the same source calls the *64 and __open*_2 names.
 *
 * Options of CALL (defaults in brackets):
 *   name=FILE [data]  fsize=BYTES [5 pages]  moff=BYTES [0]  mlen=BYTES [fsize]  prot=r|rw|none [rw]
 *   type=shared|private [shared]  nomap=1  size=BYTES (new size for (f)truncate) [1 page]
 *   flags=wronly|trunc... (open*) [wronly|trunc]  fmode=w (fopen/freopen) [w]  null=1 (freopen(NULL))
 *   coff=BYTES clen=BYTES (fallocate COLLAPSE_RANGE) [1 page, 2 pages]
 *   via=fd2|hardlink|symlink|chdir|replaced|rdonlyfd|pathfd (how the call names the file)
 *
 * The mapping is made by map_file() in the main thread, named "mg-mapper"; the call runs in a
 * second thread named "mg-cutter" (both with prctl(PR_SET_NAME)).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Keep every do_* function a real frame of its own: no inlining, cloning or tail calls. */
#define NOIPA __attribute__((noipa))

static long page;

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "mg_entry: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, " (errno %d %s)\n", errno, strerror(errno));
	va_end(ap);
	exit(2);
}

/* ---- JSON output: one line per write(), no stdio buffering (fork, freopen) ----------------- */

struct out {
	char buf[8192];
	size_t len;
	int first;
};

static void o_raw(struct out *o, const char *s, size_t n)
{
	if (o->len + n >= sizeof o->buf)
		n = sizeof o->buf - 1 - o->len;
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = 0;
}

static void o_fmt(struct out *o, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n > 0)
		o_raw(o, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static void o_begin(struct out *o)
{
	o->len = 0;
	o->first = 1;
	o_raw(o, "{", 1);
}

static void o_key(struct out *o, const char *k)
{
	o_fmt(o, "%s\"%s\":", o->first ? "" : ",", k);
	o->first = 0;
}

static void o_int(struct out *o, const char *k, long long v)
{
	o_key(o, k);
	o_fmt(o, "%lld", v);
}

/* Bytes >= 0x80 come out as \u00XX: the output stays ASCII whatever the path holds. */
static void o_str(struct out *o, const char *k, const char *s)
{
	o_key(o, k);
	o_raw(o, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			o_fmt(o, "\\%c", *p);
		else if (*p < 0x20 || *p >= 0x7f)
			o_fmt(o, "\\u%04x", *p);
		else
			o_raw(o, (const char *)p, 1);
	}
	o_raw(o, "\"", 1);
}

static void o_hex(struct out *o, const char *k, uintptr_t v)
{
	o_key(o, k);
	o_fmt(o, "\"0x%lx\"", (unsigned long)v);
}

static void o_end(struct out *o)
{
	o_raw(o, "}\n", 2);
	size_t off = 0;
	while (off < o->len) {
		ssize_t r = write(1, o->buf + off, o->len - off);
		if (r <= 0)
			exit(3);
		off += (size_t)r;
	}
}

static void o_result(struct out *o, long long ret, int err)
{
	o_int(o, "ret", ret);
	o_int(o, "errno", ret < 0 ? err : 0);
	o_str(o, "errno_name", ret < 0 ? strerrorname_np(err) ? strerrorname_np(err) : "?" : "");
}

/* ---- helpers -------------------------------------------------------------------------------- */

static long long num(const char *s)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 0);
	if (errno || *end)
		die("not a number: %s", s);
	return v;
}

static pid_t gettid_(void) { return (pid_t)syscall(SYS_gettid); }

static void set_name(const char *name)
{
	if (prctl(PR_SET_NAME, name, 0, 0, 0) != 0)
		die("prctl(PR_SET_NAME)");
}

/* The lowest free descriptor number: a descriptor leaked by a refused open would take it. */
static int lowest_free_fd(void)
{
	int fd = fcntl(1, F_DUPFD, 0);
	if (fd < 0)
		die("fcntl(F_DUPFD)");
	close(fd);
	return fd;
}

static void fill(int fd, long long size)
{
	char buf[4096];
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (char)('a' + i % 26);
	if (ftruncate(fd, 0) != 0)
		die("ftruncate(0) in setup");
	for (long long done = 0; done < size;) {
		size_t n = size - done < (long long)sizeof buf ? (size_t)(size - done) : sizeof buf;
		ssize_t w = pwrite(fd, buf, n, done);
		if (w <= 0)
			die("pwrite in setup");
		done += w;
	}
}

static int make_file(const char *path, long long size)
{
	int fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0644);
	if (fd < 0)
		die("open(%s) in setup", path);
	fill(fd, size);
	return fd;
}

static int parse_prot(const char *s)
{
	if (!strcmp(s, "r")) return PROT_READ;
	if (!strcmp(s, "rw")) return PROT_READ | PROT_WRITE;
	if (!strcmp(s, "none")) return PROT_NONE;
	if (!strcmp(s, "rx")) return PROT_READ | PROT_EXEC;
	die("bad prot %s", s);
	return 0;
}

static int parse_type(const char *s)
{
	if (!strcmp(s, "shared")) return MAP_SHARED;
	if (!strcmp(s, "private")) return MAP_PRIVATE;
	die("bad map type %s", s);
	return 0;
}

static int parse_oflags(const char *s)
{
	int flags = 0;
	char tmp[256];
	snprintf(tmp, sizeof tmp, "%s", s);
	for (char *save, *t = strtok_r(tmp, "|", &save); t; t = strtok_r(NULL, "|", &save)) {
		if (!strcmp(t, "rdonly")) flags |= O_RDONLY;
		else if (!strcmp(t, "wronly")) flags |= O_WRONLY;
		else if (!strcmp(t, "rdwr")) flags |= O_RDWR;
		else if (!strcmp(t, "trunc")) flags |= O_TRUNC;
		else if (!strcmp(t, "creat")) flags |= O_CREAT;
		else if (!strcmp(t, "excl")) flags |= O_EXCL;
		else if (!strcmp(t, "append")) flags |= O_APPEND;
		else if (!strcmp(t, "cloexec")) flags |= O_CLOEXEC;
		else die("bad open flag %s", t);
	}
	return flags;
}

/* ---- the calls: each one a function of its own, the name the reports must show ------------- */

/* The creation stack of every mapping must name this function. */
NOIPA static void *map_file(int fd, long long off, long long len, int prot, int type)
{
	void *p = mmap(NULL, (size_t)len, prot, type, fd, (off_t)off);
	int e = errno;
	if (p == MAP_FAILED) {
		errno = e;
		die("mmap(fd %d, off %lld, len %lld)", fd, off, len);
	}
	return p;
}

struct res {
	long long ret;
	int err;
};

#define RESULT(expr)                              \
	do {                                      \
		errno = 0;                        \
		long long r_ = (long long)(expr); \
		int e_ = errno;                   \
		struct res res_ = { r_, e_ };     \
		return res_;                      \
	} while (0)

NOIPA static struct res do_ftruncate(int fd, long long len) { RESULT(ftruncate(fd, (off_t)len)); }
NOIPA static struct res do_ftruncate64(int fd, long long len) { RESULT(ftruncate64(fd, len)); }
NOIPA static struct res do_truncate(const char *p, long long len) { RESULT(truncate(p, (off_t)len)); }
NOIPA static struct res do_truncate64(const char *p, long long len) { RESULT(truncate64(p, len)); }

/* No mode argument unless O_CREAT: with _FORTIFY_SOURCE and non-constant flags, __open*_2. */
NOIPA static struct res do_open(const char *p, int flags)
{
	if (flags & O_CREAT)
		RESULT(open(p, flags, 0644));
	RESULT(open(p, flags));
}

NOIPA static struct res do_open64(const char *p, int flags)
{
	if (flags & O_CREAT)
		RESULT(open64(p, flags, 0644));
	RESULT(open64(p, flags));
}

NOIPA static struct res do_openat(int dirfd, const char *p, int flags)
{
	if (flags & O_CREAT)
		RESULT(openat(dirfd, p, flags, 0644));
	RESULT(openat(dirfd, p, flags));
}

NOIPA static struct res do_openat64(int dirfd, const char *p, int flags)
{
	if (flags & O_CREAT)
		RESULT(openat64(dirfd, p, flags, 0644));
	RESULT(openat64(dirfd, p, flags));
}

NOIPA static struct res do_creat(const char *p) { RESULT(creat(p, 0644)); }
NOIPA static struct res do_creat64(const char *p) { RESULT(creat64(p, 0644)); }

/* Streams: ret 0 for a stream, -1 for NULL; *out receives the stream. */
#define STREAM_RESULT(expr)                               \
	do {                                              \
		errno = 0;                                \
		FILE *f_ = (expr);                        \
		int e_ = errno;                           \
		*out = f_;                                \
		struct res res_ = { f_ ? 0 : -1, e_ };    \
		return res_;                              \
	} while (0)

NOIPA static struct res do_fopen(const char *p, const char *m, FILE **out) { STREAM_RESULT(fopen(p, m)); }
NOIPA static struct res do_fopen64(const char *p, const char *m, FILE **out) { STREAM_RESULT(fopen64(p, m)); }
NOIPA static struct res do_freopen(const char *p, const char *m, FILE *s, FILE **out)
{
	STREAM_RESULT(freopen(p, m, s));
}
NOIPA static struct res do_freopen64(const char *p, const char *m, FILE *s, FILE **out)
{
	STREAM_RESULT(freopen64(p, m, s));
}

NOIPA static struct res do_shm_open(const char *name, int flags) { RESULT(shm_open(name, flags, 0600)); }

NOIPA static struct res do_fallocate(int fd, long long off, long long len)
{
	RESULT(fallocate(fd, FALLOC_FL_COLLAPSE_RANGE, (off_t)off, (off_t)len));
}

NOIPA static struct res do_fallocate64(int fd, long long off, long long len)
{
	RESULT(fallocate64(fd, FALLOC_FL_COLLAPSE_RANGE, off, len));
}

/* ---- CALL: one guarded call ---------------------------------------------------------------- */

struct opts {
	const char *call, *dir, *name, *prot, *type, *flags, *mode, *via;
	long long fsize, moff, mlen, size, coff, clen;
	int nomap, null_path;
};

struct call_ctx {
	struct opts *o;
	char path[4096];        /* the file (absolute) */
	char callpath[4096];    /* the path the call names */
	char shm_name[64];
	int fd;                 /* O_RDWR descriptor of the file, or -1 */
	int dirfd;
	FILE *stream;           /* freopen's stream */
	FILE *result_stream;
	struct res r;
	pid_t call_tid;
	int fd_before, fd_after;
};

static void *cutter(void *arg)
{
	struct call_ctx *c = arg;
	struct opts *o = c->o;
	set_name("mg-cutter");
	c->call_tid = gettid_();
	const char *cp = c->callpath;
	int flags = parse_oflags(o->flags);
	c->fd_before = lowest_free_fd();
	if (!strcmp(o->call, "ftruncate") || !strcmp(o->call, "memfd"))
		c->r = do_ftruncate(c->fd, o->size);
	else if (!strcmp(o->call, "ftruncate64"))
		c->r = do_ftruncate64(c->fd, o->size);
	else if (!strcmp(o->call, "truncate"))
		c->r = do_truncate(cp, o->size);
	else if (!strcmp(o->call, "truncate64"))
		c->r = do_truncate64(cp, o->size);
	else if (!strcmp(o->call, "open"))
		c->r = do_open(cp, flags);
	else if (!strcmp(o->call, "open64"))
		c->r = do_open64(cp, flags);
	else if (!strcmp(o->call, "openat"))
		c->r = do_openat(c->dirfd, cp, flags);
	else if (!strcmp(o->call, "openat64"))
		c->r = do_openat64(c->dirfd, cp, flags);
	else if (!strcmp(o->call, "creat"))
		c->r = do_creat(cp);
	else if (!strcmp(o->call, "creat64"))
		c->r = do_creat64(cp);
	else if (!strcmp(o->call, "fopen"))
		c->r = do_fopen(cp, o->mode, &c->result_stream);
	else if (!strcmp(o->call, "fopen64"))
		c->r = do_fopen64(cp, o->mode, &c->result_stream);
	else if (!strcmp(o->call, "freopen"))
		c->r = do_freopen(o->null_path ? NULL : cp, o->mode, c->stream, &c->result_stream);
	else if (!strcmp(o->call, "freopen64"))
		c->r = do_freopen64(o->null_path ? NULL : cp, o->mode, c->stream, &c->result_stream);
	else if (!strcmp(o->call, "shm_open"))
		c->r = do_shm_open(c->shm_name, flags);
	else if (!strcmp(o->call, "fallocate"))
		c->r = do_fallocate(c->fd, o->coff, o->clen);
	else if (!strcmp(o->call, "fallocate64"))
		c->r = do_fallocate64(c->fd, o->coff, o->clen);
	else
		die("unknown call %s", o->call);
	c->fd_after = lowest_free_fd();
	return NULL;
}

static int cmd_call(int argc, char **argv)
{
	struct opts o = {
		.call = argv[1], .dir = argv[2], .name = "data", .prot = "rw", .type = "shared",
		.flags = "wronly|trunc", .mode = "w", .via = "",
		.fsize = 5 * page, .moff = 0, .mlen = -1, .size = page, .coff = page, .clen = 2 * page,
	};
	for (int i = 3; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		if (!eq)
			die("option without '=': %s", argv[i]);
		*eq = 0;
		const char *k = argv[i], *v = eq + 1;
		if (!strcmp(k, "name")) o.name = v;
		else if (!strcmp(k, "fsize")) o.fsize = num(v);
		else if (!strcmp(k, "moff")) o.moff = num(v);
		else if (!strcmp(k, "mlen")) o.mlen = num(v);
		else if (!strcmp(k, "prot")) o.prot = v;
		else if (!strcmp(k, "type")) o.type = v;
		else if (!strcmp(k, "nomap")) o.nomap = (int)num(v);
		else if (!strcmp(k, "size")) o.size = num(v);
		else if (!strcmp(k, "flags")) o.flags = v;
		else if (!strcmp(k, "fmode")) o.mode = v;
		else if (!strcmp(k, "null")) o.null_path = (int)num(v);
		else if (!strcmp(k, "coff")) o.coff = num(v);
		else if (!strcmp(k, "clen")) o.clen = num(v);
		else if (!strcmp(k, "via")) o.via = v;
		else die("unknown option %s", k);
	}
	if (o.mlen < 0)
		o.mlen = o.fsize - o.moff;

	static struct call_ctx c;
	c.o = &o;
	c.fd = -1;
	c.dirfd = open(o.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c.dirfd < 0)
		die("open(%s)", o.dir);
	int is_memfd = !strcmp(o.call, "memfd"), is_shm = !strcmp(o.call, "shm_open");
	if (is_memfd) {
		c.fd = memfd_create("mg-memfd", MFD_CLOEXEC);
		if (c.fd < 0)
			die("memfd_create");
		fill(c.fd, o.fsize);
		snprintf(c.path, sizeof c.path, "/proc/self/fd/%d", c.fd);
	} else if (is_shm) {
		snprintf(c.shm_name, sizeof c.shm_name, "/mg-entry-%d", (int)getpid());
		c.fd = shm_open(c.shm_name, O_CREAT | O_EXCL | O_RDWR, 0600);
		if (c.fd < 0)
			die("shm_open(%s)", c.shm_name);
		fill(c.fd, o.fsize);
		snprintf(c.path, sizeof c.path, "/dev/shm%s", c.shm_name);
	} else {
		snprintf(c.path, sizeof c.path, "%s/%s", o.dir, o.name);
		c.fd = make_file(c.path, o.fsize);
	}
	snprintf(c.callpath, sizeof c.callpath, "%s", c.path);
	if (!strcmp(o.call, "freopen") || !strcmp(o.call, "freopen64")) {
		/* The stream exists before the mapping: opening it is never a reopen. */
		if (o.null_path) {
			c.stream = fopen(c.path, "r+");
		} else {
			char other[4200];
			snprintf(other, sizeof other, "%s/other", o.dir);
			c.stream = fopen(other, "w");
		}
		if (!c.stream)
			die("fopen for freopen");
	}

	set_name("mg-mapper");
	pid_t map_tid = gettid_();
	void *addr = NULL;
	if (!o.nomap)
		addr = map_file(c.fd, o.moff, o.mlen, parse_prot(o.prot), parse_type(o.type));

	/* How the call names the file. */
	const char *openat_name = o.name;
	if (!strcmp(o.via, "fd2")) {
		/* The mapping's descriptor is gone; the call uses a descriptor opened afterwards. */
		close(c.fd);
		c.fd = open(c.path, O_RDWR | O_CLOEXEC);
		if (c.fd < 0)
			die("open second fd");
	} else if (!strcmp(o.via, "rdonlyfd")) {
		close(c.fd);
		c.fd = open(c.path, O_RDONLY | O_CLOEXEC);
		if (c.fd < 0)
			die("open read-only fd");
	} else if (!strcmp(o.via, "pathfd")) {
		close(c.fd);
		c.fd = open(c.path, O_PATH | O_CLOEXEC);
		if (c.fd < 0)
			die("open O_PATH fd");
	} else if (!strcmp(o.via, "hardlink") || !strcmp(o.via, "symlink")) {
		snprintf(c.callpath, sizeof c.callpath, "%s/%s.%s", o.dir, o.name, o.via);
		int r = o.via[0] == 'h' ? link(c.path, c.callpath) : symlink(o.name, c.callpath);
		if (r != 0)
			die("%s", o.via);
		openat_name = c.callpath + strlen(o.dir) + 1;
	} else if (!strcmp(o.via, "replaced")) {
		/* The path now names another file: the mapped inode is only reachable through c.fd. */
		char tmp[4200];
		snprintf(tmp, sizeof tmp, "%s.new", c.path);
		close(make_file(tmp, o.fsize));
		if (rename(tmp, c.path) != 0)
			die("rename");
	} else if (!strcmp(o.via, "chdir")) {
		/* A relative path from the working directory; openat gets AT_FDCWD. */
		if (chdir(o.dir) != 0)
			die("chdir");
		snprintf(c.callpath, sizeof c.callpath, "%s", o.name);
		close(c.dirfd);
		c.dirfd = AT_FDCWD;
	} else if (o.via[0]) {
		die("unknown via %s", o.via);
	}
	if (!strcmp(o.call, "openat") || !strcmp(o.call, "openat64")) {
		if (c.dirfd != AT_FDCWD)
			snprintf(c.callpath, sizeof c.callpath, "%s", openat_name);
	}

	struct stat before;
	if (fstat(c.fd, &before) != 0)
		die("fstat before");

	pthread_t t;
	if (pthread_create(&t, NULL, cutter, &c) != 0)
		die("pthread_create");
	pthread_join(t, NULL);

	struct stat after;
	int sr = is_memfd || !strcmp(o.via, "pathfd") ? fstat(c.fd, &after) : stat(c.path, &after);
	if (sr != 0)
		die("stat after");

	struct out out;
	o_begin(&out);
	o_str(&out, "call", o.call);
	o_result(&out, c.r.ret, c.r.err);
	o_int(&out, "size_before", before.st_size);
	o_int(&out, "size", after.st_size);
	o_int(&out, "dev", (long long)before.st_dev);
	o_int(&out, "ino", (long long)before.st_ino);
	o_str(&out, "path", c.path);
	if (is_memfd) {
		char link[4096];
		ssize_t n = readlink(c.path, link, sizeof link - 1);
		link[n > 0 ? n : 0] = 0;
		o_str(&out, "fd_link", link);
	}
	o_hex(&out, "addr", (uintptr_t)addr);
	o_int(&out, "map_off", o.moff);
	o_int(&out, "map_len", o.mlen);
	o_int(&out, "pid", getpid());
	o_int(&out, "map_tid", map_tid);
	o_int(&out, "call_tid", c.call_tid);
	o_int(&out, "fd_before", c.fd_before);
	o_int(&out, "fd_after", c.fd_after);
	o_int(&out, "page", page);
	o_end(&out);

	if (c.result_stream)
		fclose(c.result_stream);
	if (is_shm)
		shm_unlink(c.shm_name);
	return 0;
}

/* ---- script: the precision of the rule ------------------------------------------------------ */

#define MAXID 16
#define MAXFILE 8

static struct { char name[64]; int fd; char path[4096]; } files[MAXFILE];
static int nfiles;
static struct { void *addr; size_t len; } maps[MAXID];

static int file_fd(const char *name)
{
	for (int i = 0; i < nfiles; i++)
		if (!strcmp(files[i].name, name))
			return files[i].fd;
	die("no file %s", name);
	return -1;
}

static int map_id(const char *s)
{
	long long id = num(s);
	if (id < 0 || id >= MAXID)
		die("bad map id %s", s);
	return (int)id;
}

NOIPA static int do_munmap(void *a, size_t len)
{
	int r = munmap(a, len);
	int e = errno;
	errno = e;
	return r;
}

NOIPA static void *do_mremap(void *old, size_t oldlen, size_t newlen, int flags, void *neu)
{
	void *r = mremap(old, oldlen, newlen, flags, neu);
	int e = errno;
	errno = e;
	return r;
}

NOIPA static void *do_overlay(void *a, size_t len)
{
	void *r = mmap(a, len, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int e = errno;
	errno = e;
	return r;
}

/* Grow the file back after a probe: growing is never reported. */
NOIPA static void restore_size(int fd, off_t size)
{
	struct stat st;
	if (fstat(fd, &st) != 0)
		die("fstat");
	if (st.st_size < size && ftruncate(fd, size) != 0)
		die("ftruncate (restore)");
}

static int need(int i, int argc, int n, const char *verb)
{
	if (i + n >= argc)
		die("%s needs %d arguments", verb, n);
	return i + n;
}

static int cmd_script(int argc, char **argv)
{
	const char *dir = argv[2];
	set_name("mg-script");
	for (int i = 3; i < argc; i++) {
		const char *v = argv[i];
		struct out o;
		o_begin(&o);
		o_str(&o, "step", v);
		if (!strcmp(v, "file")) {                       /* file NAME SIZE */
			i = need(i, argc, 2, v);
			if (nfiles == MAXFILE)
				die("too many files");
			snprintf(files[nfiles].name, sizeof files[nfiles].name, "%s", argv[i - 1]);
			snprintf(files[nfiles].path, sizeof files[nfiles].path, "%s/%s", dir, argv[i - 1]);
			files[nfiles].fd = make_file(files[nfiles].path, num(argv[i]));
			struct stat st;
			fstat(files[nfiles].fd, &st);
			o_str(&o, "name", files[nfiles].name);
			o_int(&o, "dev", (long long)st.st_dev);
			o_int(&o, "ino", (long long)st.st_ino);
			o_int(&o, "size", st.st_size);
			nfiles++;
		} else if (!strcmp(v, "map")) {                 /* map ID NAME OFF LEN PROT TYPE */
			i = need(i, argc, 6, v);
			int id = map_id(argv[i - 5]);
			long long off = num(argv[i - 3]), len = num(argv[i - 2]);
			maps[id].addr = map_file(file_fd(argv[i - 4]), off, len, parse_prot(argv[i - 1]),
						 parse_type(argv[i]));
			maps[id].len = (size_t)len;
			o_int(&o, "id", id);
			o_hex(&o, "addr", (uintptr_t)maps[id].addr);
			o_int(&o, "tid", gettid_());
		} else if (!strcmp(v, "munmap")) {              /* munmap ID PGOFF NPAGES */
			i = need(i, argc, 3, v);
			int id = map_id(argv[i - 2]);
			char *a = (char *)maps[id].addr + num(argv[i - 1]) * page;
			int r = do_munmap(a, (size_t)(num(argv[i]) * page));
			if (r != 0)
				die("munmap");
			o_int(&o, "id", id);
			o_hex(&o, "addr", (uintptr_t)a);
		} else if (!strcmp(v, "unmapall")) {            /* unmapall ID */
			i = need(i, argc, 1, v);
			int id = map_id(argv[i]);
			if (do_munmap(maps[id].addr, maps[id].len) != 0)
				die("munmap");
			o_int(&o, "id", id);
		} else if (!strcmp(v, "mremap")) {              /* mremap ID NEWLEN inplace|maymove|fixed */
			i = need(i, argc, 3, v);
			int id = map_id(argv[i - 2]);
			size_t newlen = (size_t)num(argv[i - 1]);
			const char *how = argv[i];
			void *dest = NULL;
			int flags = 0;
			if (!strcmp(how, "maymove")) {
				flags = MREMAP_MAYMOVE;
			} else if (!strcmp(how, "fixed")) {
				/* A fresh anonymous reservation as the destination. */
				dest = mmap(NULL, newlen, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
				if (dest == MAP_FAILED)
					die("mmap reservation");
				flags = MREMAP_MAYMOVE | MREMAP_FIXED;
			} else if (strcmp(how, "inplace")) {
				die("bad mremap mode %s", how);
			}
			void *r = do_mremap(maps[id].addr, maps[id].len, newlen, flags, dest);
			if (r == MAP_FAILED)
				die("mremap");
			if (dest && r != dest)
				die("mremap did not move to the fixed address");
			o_int(&o, "id", id);
			o_hex(&o, "old_addr", (uintptr_t)maps[id].addr);
			o_hex(&o, "addr", (uintptr_t)r);
			maps[id].addr = r;
			maps[id].len = newlen;
		} else if (!strcmp(v, "mremap_part")) {         /* mremap_part ID PGOFF NPAGES NEWID NEWLEN */
			/* Move part of a mapping to a fixed address; the moved part becomes NEWID. */
			i = need(i, argc, 5, v);
			int id = map_id(argv[i - 4]), nid = map_id(argv[i - 1]);
			char *a = (char *)maps[id].addr + num(argv[i - 3]) * page;
			size_t oldlen = (size_t)(num(argv[i - 2]) * page), newlen = (size_t)num(argv[i]);
			void *dest = mmap(NULL, newlen, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (dest == MAP_FAILED)
				die("mmap reservation");
			void *r = do_mremap(a, oldlen, newlen, MREMAP_MAYMOVE | MREMAP_FIXED, dest);
			if (r != dest)
				die("mremap (part)");
			maps[nid].addr = r;
			maps[nid].len = newlen;
			o_int(&o, "id", nid);
			o_hex(&o, "addr", (uintptr_t)r);
		} else if (!strcmp(v, "dup")) {                 /* dup ID NEWID NEWLEN */
			/* mremap(old, 0, ...): a second mapping of the same shared pages. */
			i = need(i, argc, 3, v);
			int id = map_id(argv[i - 2]), nid = map_id(argv[i - 1]);
			size_t newlen = (size_t)num(argv[i]);
			void *r = do_mremap(maps[id].addr, 0, newlen, MREMAP_MAYMOVE, NULL);
			if (r == MAP_FAILED)
				die("mremap (dup)");
			maps[nid].addr = r;
			maps[nid].len = newlen;
			o_int(&o, "id", nid);
			o_hex(&o, "addr", (uintptr_t)r);
		} else if (!strcmp(v, "overlay")) {             /* overlay ID PGOFF NPAGES */
			i = need(i, argc, 3, v);
			int id = map_id(argv[i - 2]);
			char *a = (char *)maps[id].addr + num(argv[i - 1]) * page;
			if (do_overlay(a, (size_t)(num(argv[i]) * page)) != a)
				die("MAP_FIXED overlay");
			o_int(&o, "id", id);
			o_hex(&o, "addr", (uintptr_t)a);
		} else if (!strcmp(v, "probe")) {               /* probe NAME SIZE */
			i = need(i, argc, 2, v);
			int fd = file_fd(argv[i - 1]);
			long long size = num(argv[i]);
			struct stat st;
			fstat(fd, &st);
			struct res r = do_ftruncate(fd, size);
			struct stat after;
			fstat(fd, &after);
			o_str(&o, "name", argv[i - 1]);
			o_int(&o, "size_before", st.st_size);
			o_int(&o, "size_after", size);
			o_result(&o, r.ret, r.err);
			o_int(&o, "size", after.st_size);
			o_int(&o, "ino", (long long)st.st_ino);
			o_int(&o, "pid", getpid());
			o_int(&o, "tid", gettid_());
			restore_size(fd, st.st_size);
		} else {
			die("unknown step %s", v);
		}
		o_end(&o);
	}
	return 0;
}

/* ---- errors: nothing to report, so nothing may change ---------------------------------------- */

static void report_res(const char *op, struct res r)
{
	struct out o;
	o_begin(&o);
	o_str(&o, "op", op);
	o_result(&o, r.ret, r.err);
	o_end(&o);
}

/* errno as it is after the call, success or not (a successful call must leave it alone). */
static void report_val(const char *op, long long ret, int err)
{
	struct out o;
	o_begin(&o);
	o_str(&o, "op", op);
	o_int(&o, "ret", ret);
	o_int(&o, "errno", err);
	o_str(&o, "errno_name", err ? strerrorname_np(err) ? strerrorname_np(err) : "?" : "");
	o_end(&o);
}

NOIPA static struct res do_mmap(void *a, size_t len, int prot, int flags, int fd, off_t off)
{
	errno = 0;
	void *p = mmap(a, len, prot, flags, fd, off);
	int e = errno;
	struct res r = { p == MAP_FAILED ? -1 : 0, e };
	return r;
}

static int cmd_errors(int argc, char **argv)
{
	(void)argc;
	const char *dir = argv[2];
	char data[4096], missing[4200], nodir[4200], other[4200];
	snprintf(data, sizeof data, "%s/data", dir);
	snprintf(missing, sizeof missing, "%s/missing", dir);
	snprintf(nodir, sizeof nodir, "%s/no-such-dir/file", dir);
	snprintf(other, sizeof other, "%s/other", dir);
	int fd = make_file(data, 8 * page);
	int ofd = make_file(other, 2 * page);
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	FILE *f;

	/* Live mappings of data: the whole file, shared and private. */
	char *m = map_file(fd, 0, 8 * page, PROT_READ | PROT_WRITE, MAP_SHARED);
	char *m2 = map_file(fd, 2 * page, 2 * page, PROT_READ, MAP_PRIVATE);
	(void)m2;
	report_val("mapped", 0, 0);

	report_res("open missing", do_open(missing, O_RDONLY));
	report_res("open missing trunc", do_open(missing, O_WRONLY | O_TRUNC));
	report_res("open dir trunc", do_open(dir, O_WRONLY | O_TRUNC));
	report_res("open nodir creat trunc", do_open(nodir, O_WRONLY | O_CREAT | O_TRUNC));
	report_res("open data excl trunc", do_open(data, O_WRONLY | O_CREAT | O_EXCL | O_TRUNC));
	report_res("open64 missing trunc", do_open64(missing, O_RDWR | O_TRUNC));
	report_res("openat bad dirfd", do_openat(9999, "data", O_WRONLY | O_TRUNC));
	report_res("openat missing trunc", do_openat(dirfd, "missing", O_WRONLY | O_TRUNC));
	report_res("openat64 bad dirfd", do_openat64(9999, "data", O_RDONLY));
	report_res("creat nodir", do_creat(nodir));
	report_res("creat64 dir", do_creat64(dir));
	report_res("fopen missing r", do_fopen(missing, "r", &f));
	report_res("fopen bad mode", do_fopen(data, "z", &f));
	report_res("fopen64 nodir w", do_fopen64(nodir, "w", &f));
	FILE *s = fopen(other, "r");
	report_res("freopen nodir w", do_freopen(nodir, "w", s, &f));       /* closes s */
	report_res("shm_open missing", do_shm_open("/mg-entry-no-such-object", O_RDWR | O_TRUNC));
	report_res("ftruncate bad fd", do_ftruncate(-1, 0));
	report_res("ftruncate closed fd", do_ftruncate(9999, 0));
	report_res("ftruncate negative", do_ftruncate(fd, -1));
	report_res("ftruncate64 negative", do_ftruncate64(fd, -page));
	report_res("ftruncate dir fd", do_ftruncate(dirfd, 0));
	report_res("truncate missing", do_truncate(missing, 0));
	report_res("truncate dir", do_truncate(dir, 0));
	report_res("truncate negative", do_truncate(data, -1));
	report_res("truncate64 nodir", do_truncate64(nodir, 0));
	report_res("fallocate collapse past eof", do_fallocate(fd, 4 * page, 8 * page));
	report_res("fallocate collapse bad fd", do_fallocate(9999, 0, page));
	report_res("fallocate64 collapse negative", do_fallocate64(fd, -page, page));
	report_res("mmap bad fd", do_mmap(NULL, page, PROT_READ, MAP_SHARED, 9999, 0));
	report_res("mmap zero length", do_mmap(NULL, 0, PROT_READ, MAP_SHARED, fd, 0));
	report_res("mmap unaligned offset", do_mmap(NULL, page, PROT_READ, MAP_SHARED, fd, 1));
	report_res("mmap dir fd", do_mmap(NULL, page, PROT_READ, MAP_SHARED, dirfd, 0));
	int rofd = open(data, O_RDONLY | O_CLOEXEC);
	report_res("mmap write on read-only fd", do_mmap(NULL, page, PROT_WRITE, MAP_SHARED, rofd, 0));
	close(rofd);
	int r = do_munmap(m + 1, page);
	report_val("munmap unaligned", r, errno);
	r = do_munmap(m, 0);
	report_val("munmap zero", r, errno);
	r = do_mremap(m + 1, page, 2 * page, 0, NULL) == MAP_FAILED ? -1 : 0;
	report_val("mremap unaligned", r, errno);
	r = do_mremap(m, 8 * page, 0, 0, NULL) == MAP_FAILED ? -1 : 0;
	report_val("mremap to zero length", r, errno);
	errno = 0;
	r = close(9999);
	report_val("close bad", r, errno);
	errno = 0;
	r = dup2(9999, 200);
	report_val("dup2 bad", r, errno);

	/* Calls that succeed and cut nothing: same return values, errno untouched. */
	errno = EDOM;
	r = ftruncate(fd, 9 * page);
	report_val("ftruncate grow (errno kept)", r, errno);
	errno = EDOM;
	r = ftruncate(fd, 8 * page);
	report_val("ftruncate to window end (errno kept)", r, errno);
	errno = EDOM;
	r = ftruncate(fd, 7 * page + 1);
	report_val("ftruncate into last page (errno kept)", r, errno);
	errno = EDOM;
	r = truncate(other, 0);
	report_val("truncate unmapped file (errno kept)", r, errno);
	errno = EDOM;
	r = ftruncate(ofd, page);
	report_val("ftruncate unmapped file (errno kept)", r, errno);
	errno = EDOM;
	r = open(data, O_RDWR | O_CLOEXEC);
	report_val("open mapped file rdwr: fd number (errno kept)", r, errno);
	errno = EDOM;
	r = close(r);
	report_val("close it (errno kept)", r, errno);
	errno = EDOM;
	f = fopen(data, "r");
	report_val("fopen mapped file r: fd number (errno kept)", f ? fileno(f) : -1, errno);
	if (f)
		fclose(f);
	errno = EDOM;
	r = open(other, O_WRONLY | O_TRUNC | O_CLOEXEC);
	report_val("open unmapped file trunc: fd number (errno kept)", r, errno);
	close(r);
	errno = EDOM;
	char *m3 = mmap(NULL, page, PROT_READ, MAP_SHARED, fd, 0);
	report_val("mmap (errno kept)", m3 == MAP_FAILED ? -1 : 0, errno);
	errno = EDOM;
	r = munmap(m3, page);
	report_val("munmap (errno kept)", r, errno);
	errno = EDOM;
	void *anon = mmap(NULL, 4 * page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	report_val("mmap anonymous (errno kept)", anon == MAP_FAILED ? -1 : 0, errno);
	errno = EDOM;
	r = munmap(anon, 4 * page);
	report_val("munmap anonymous (errno kept)", r, errno);
	struct stat st;
	fstat(fd, &st);
	report_val("size of data", st.st_size, 0);
	return 0;
}

/* ---- fork: a parent and its child both violate ----------------------------------------------- */

static int cmd_fork(int argc, char **argv)
{
	(void)argc;
	const char *dir = argv[2];
	char a[4096], b[4200];
	snprintf(a, sizeof a, "%s/a", dir);
	snprintf(b, sizeof b, "%s/b", dir);
	int fa = make_file(a, 4 * page), fb = make_file(b, 4 * page);
	map_file(fa, 0, 4 * page, PROT_READ, MAP_SHARED);
	map_file(fb, 0, 4 * page, PROT_READ, MAP_SHARED);
	struct res r1 = do_ftruncate(fb, 2 * page);        /* the parent's log is open before fork */
	pid_t child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		struct res rc = do_ftruncate(fa, 0);
		struct out o;
		o_begin(&o);
		o_str(&o, "who", "child");
		o_int(&o, "pid", getpid());
		o_result(&o, rc.ret, rc.err);
		o_end(&o);
		_exit(0);
	}
	int status;
	if (waitpid(child, &status, 0) != child)
		die("waitpid");
	struct res r2 = do_ftruncate(fb, 0);
	struct out o;
	o_begin(&o);
	o_str(&o, "who", "parent");
	o_int(&o, "pid", getpid());
	o_int(&o, "child", child);
	o_int(&o, "child_status", status);
	o_int(&o, "ret1", r1.ret);
	o_result(&o, r2.ret, r2.err);
	o_end(&o);
	return 0;
}

int main(int argc, char **argv)
{
	page = sysconf(_SC_PAGESIZE);
	if (argc < 3) {
		fprintf(stderr, "usage: %s CALL|script|errors|fork DIR [...]\n", argv[0]);
		return 2;
	}
	if (!strcmp(argv[1], "script"))
		return cmd_script(argc, argv);
	if (!strcmp(argv[1], "errors"))
		return cmd_errors(argc, argv);
	if (!strcmp(argv[1], "fork"))
		return cmd_fork(argc, argv);
	return cmd_call(argc, argv);
}

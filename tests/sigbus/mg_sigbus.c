/*
 * mg_sigbus: the test program of tests/sigbus/. Each scenario maps a file, gets it cut under the
 * mapping (by a child process, a raw syscall the guard cannot see, or a guarded call from a named
 * thread), prints what it knows as one JSON line per step on stdout, then touches a page beyond the
 * new EOF. The Python tests compare the guard's "sigbus" record with those lines.
 *
 *   mg_sigbus SCENARIO DIR [key=value...]
 *
 * Scenarios:
 *   child_exec   `truncate -s SIZE FILE` run by fork+execve (preload=0: LD_PRELOAD removed from
 *                the child's environment; preload=1: the child runs under the guard too)
 *   child_fork   a fork()ed child (guard and registry inherited) calls ftruncate and exits
 *   raw          syscall(SYS_ftruncate) in this process: invisible to the guard (guarded_first=1:
 *                an ftruncate through libc first, which block mode refuses)
 *   threads      two threads "mg-cut-early" and "mg-cutter" cut the file with call=ftruncate|truncate
 *                (logged, let through); "mg-cut-other" cuts another mapped file; "mg-reader" faults
 *   longer       a mapping longer than the file from the start (fsize=100, 4 pages mapped);
 *                preshrink=1: the file was shrunk earlier by this process without endangering the
 *                one-page mapping it then had
 *   io_error     a 64 KiB tmpfs over DIR: a sparse file, the file system filled, a hole touched
 *   overmount    a tmpfs is mounted over the file's directory (replace=1: a new file of the same
 *                name is created there): the name /proc/self/maps gives leads to another file
 *   rename       the file is renamed (to PATH.moved), then cut with a raw syscall
 *   unlink       the file is unlinked, then cut with a raw syscall; keepfd=0 closes the last
 *                descriptor; dropcaps=1 drops every capability (no /proc/self/map_files)
 *   raise        how=raise|kill|sigqueue: SIGBUS sent, not a fault (a tracked mapping exists)
 *   untracked    a file mapped with syscall(SYS_mmap) (the guard never saw it), cut, touched
 *   handler      the program's own SIGBUS handler: install=sigaction|signal|sigset|preinit|
 *                preload|none, when=before|after (the mapping),
 *                action=exit|longjmp|remap|resethand|reraise|ign
 *   child_faults a fork()ed child touches the cut page; the parent reports the child's status
 *   exec_ign     SIGBUS set to SIG_IGN (install=sigaction|signal), then `mg_sigbus raise` execve()d
 *                (preload=0: without LD_PRELOAD): the ignored signal must stay ignored there
 *   churn        threads=N threads mmap/munmap/mremap their own files while "mg-faulter" faults
 *   smallstack   the fault happens in a thread with a stack of stack=BYTES that never mapped a file
 *
 * Common options: fsize (file size) [8 pages], moff (mapping offset) [2 pages], mlen [4 pages],
 * at (offset of the touched byte inside the mapping) [3 pages + 5], size (new file size) [0],
 * prot=r|rw [r], type=shared|private [shared], reader=read|load_first|write [read],
 * handler=1 (raise/untracked: install a handler that exits 3).
 *
 * io_error and overmount mount in a private mount namespace (gone when the process is); when
 * that is not permitted they print {"step":"skip"} and exit 77.
 *
 * Handlers write {"step":"handler",...} with write(2) and leave by _exit(3), siglongjmp, or by
 * returning. The faulting byte is read by read_mapped_byte (the load is not its first
 * instruction), load_first_byte (it is), or written by write_mapped_byte; mappings are made by
 * map_file; guarded cuts by cut_file.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOIPA __attribute__((noipa))

extern char **environ;

static long page;
static const char *dir;
static int nopts;
static char **opts;

/* ---- output --------------------------------------------------------------------------------- */

static void write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t r = write(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			_exit(90);
		p += r;
		n -= (size_t)r;
	}
}

/* One JSON object per line, one write(): "say("\"step\":\"x\",\"n\":%d", 3)" */
static void say(const char *fmt, ...)
{
	char b[4096];
	b[0] = '{';
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(b + 1, sizeof b - 3, fmt, ap);
	va_end(ap);
	if (n < 0 || n > (int)sizeof b - 4)
		n = (int)sizeof b - 4;
	b[1 + n] = '}';
	b[2 + n] = '\n';
	write_all(1, b, (size_t)n + 3);
}

static void die(const char *fmt, ...)
{
	int e = errno;
	char b[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(b, sizeof b, fmt, ap);
	va_end(ap);
	fprintf(stderr, "mg_sigbus: %.*s (errno %d %s)\n", n, b, e, strerror(e));
	exit(2);
}

/* Async-signal-safe pieces for handlers. */
struct sbuf {
	char b[512];
	size_t n;
};

static void sb_puts(struct sbuf *s, const char *p)
{
	while (*p && s->n < sizeof s->b - 1)
		s->b[s->n++] = *p++;
}

static void sb_num(struct sbuf *s, long long v)
{
	char t[24];
	int i = 0;
	unsigned long long u = v < 0 ? -(unsigned long long)v : (unsigned long long)v;
	do
		t[i++] = (char)('0' + u % 10);
	while ((u /= 10) && i < 23);
	if (v < 0)
		t[i++] = '-';
	while (i && s->n < sizeof s->b - 1)
		s->b[s->n++] = t[--i];
}

static void sb_hex(struct sbuf *s, unsigned long v)
{
	char t[20];
	int i = 0;
	do
		t[i++] = "0123456789abcdef"[v % 16];
	while ((v /= 16) && i < 19);
	sb_puts(s, "\"0x");
	while (i && s->n < sizeof s->b - 1)
		s->b[s->n++] = t[--i];
	sb_puts(s, "\"");
}

/* ---- options -------------------------------------------------------------------------------- */

static const char *opt_str(const char *key, const char *dflt)
{
	size_t k = strlen(key);
	for (int i = 0; i < nopts; i++)
		if (strncmp(opts[i], key, k) == 0 && opts[i][k] == '=')
			return opts[i] + k + 1;
	return dflt;
}

static long opt_long(const char *key, long dflt)
{
	const char *v = opt_str(key, NULL);
	if (!v)
		return dflt;
	char *end;
	errno = 0;
	long r = strtol(v, &end, 0);
	if (errno || *end)
		die("option %s=%s is not a number", key, v);
	return r;
}

static bool opt_is(const char *key, const char *value, const char *dflt)
{
	return strcmp(opt_str(key, dflt), value) == 0;
}

/* ---- helpers -------------------------------------------------------------------------------- */

static pid_t tid(void) { return (pid_t)syscall(SYS_gettid); }

static void set_name(const char *name)
{
	if (prctl(PR_SET_NAME, name, 0, 0, 0) != 0)
		die("prctl(PR_SET_NAME)");
}

/* The kernel's current SIGBUS handler, read without libc (and so without the guard). */
struct ksigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	unsigned long mask;
};

static void *kernel_handler(void)
{
	struct ksigaction k;
	if (syscall(SYS_rt_sigaction, SIGBUS, NULL, &k, sizeof k.mask) != 0)
		return (void *)-2;
	return k.handler;
}

static void raw_ftruncate(int fd, long size)
{
	if (syscall(SYS_ftruncate, fd, size) != 0)
		die("syscall(SYS_ftruncate, %d, %ld)", fd, size);
}

struct target {
	char path[PATH_MAX];
	int fd;
	char *map;
	long fsize, moff, mlen;
	int prot, flags;
	pid_t creator;
};

static void target_defaults(struct target *t, const char *name)
{
	memset(t, 0, sizeof *t);
	snprintf(t->path, sizeof t->path, "%s/%s", dir, name);
	t->fsize = opt_long("fsize", 8 * page);
	t->moff = opt_long("moff", 2 * page);
	t->mlen = opt_long("mlen", 4 * page);
	t->prot = opt_is("prot", "rw", "r") ? PROT_READ | PROT_WRITE : PROT_READ;
	t->flags = opt_is("type", "private", "shared") ? MAP_PRIVATE : MAP_SHARED;
}

static void create_file(struct target *t)
{
	t->fd = open(t->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (t->fd < 0)
		die("open(%s)", t->path);
	char buf[4096];
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (char)('a' + i % 26);
	for (long done = 0; done < t->fsize;) {
		size_t n = t->fsize - done < (long)sizeof buf ? (size_t)(t->fsize - done) : sizeof buf;
		ssize_t w = pwrite(t->fd, buf, n, done);
		if (w <= 0)
			die("pwrite(%s)", t->path);
		done += w;
	}
}

/* Every guarded mapping of a target is made here: the creation stack's frame 0. */
NOIPA static char *map_file(struct target *t)
{
	char *p = mmap(NULL, (size_t)t->mlen, t->prot, t->flags, t->fd, t->moff);
	if (p == MAP_FAILED)
		die("mmap(%s)", t->path);
	t->map = p;
	t->creator = tid();
	return p;
}

static void setup_target(struct target *t, const char *name)
{
	target_defaults(t, name);
	create_file(t);
	map_file(t);
}

static void print_file(const struct target *t, const char *step)
{
	struct stat st;
	if (fstat(t->fd, &st) != 0)
		die("fstat");
	say("\"step\":\"%s\",\"path\":\"%s\",\"dev\":%llu,\"ino\":%llu,\"map_addr\":\"%p\","
	    "\"map_len\":%ld,\"map_off\":%ld,\"creator_tid\":%d,\"pid\":%d",
	    step, t->path, (unsigned long long)st.st_dev, (unsigned long long)st.st_ino,
	    (void *)t->map, t->mlen, t->moff, t->creator, getpid());
}

/* Guarded truncations happen here: the truncate record's (and the history's) frame 0. */
NOIPA static int cut_file(const struct target *t, const char *call, long size)
{
	if (strcmp(call, "truncate") == 0)
		return truncate(t->path, size);
	return ftruncate(t->fd, size);
}

/* ---- the faulting access -------------------------------------------------------------------- */

static volatile int sink;

/* The load comes after a few instructions: frame 0's ip is inside the function. */
NOIPA static int read_mapped_byte(const volatile char *p)
{
	sink++;
	return *p;
}

/* The load is the function's first instruction (ip == the function's address). */
NOIPA static int load_first_byte(const volatile char *p)
{
	return *p;
}

NOIPA static int write_mapped_byte(volatile char *p)
{
	sink++;
	*p = 'Z';
	return 0;
}

static uintptr_t expected_fault_addr;

/* Print where the fault will be, then touch it. Returns the byte if the access survives. */
NOIPA static int do_fault(const struct target *t, long at)
{
	struct stat st;
	long fsz = -1;
	if (t->fd >= 0 && fstat(t->fd, &st) == 0)
		fsz = (long)st.st_size;
	char *addr = t->map + at;
	expected_fault_addr = (uintptr_t)addr;
	const char *reader = opt_str("reader", "read");
	void *fn = strcmp(reader, "write") == 0 ? (void *)write_mapped_byte
		 : strcmp(reader, "load_first") == 0 ? (void *)load_first_byte : (void *)read_mapped_byte;
	say("\"step\":\"fault\",\"fault_addr\":\"%p\",\"fault_offset\":%ld,\"file_size\":%ld,"
	    "\"tid\":%d,\"pid\":%d,\"reader\":\"%s\",\"reader_fn\":\"%p\",\"map_addr\":\"%p\"",
	    (void *)addr, t->moff + at, fsz, tid(), getpid(), reader, fn, (void *)t->map);
	int v;
	if (strcmp(reader, "write") == 0)
		v = write_mapped_byte(addr);
	else if (strcmp(reader, "load_first") == 0)
		v = load_first_byte(addr);
	else
		v = read_mapped_byte(addr);
	say("\"step\":\"after_fault\",\"value\":%d", v);
	return v;
}

/* ---- handlers ------------------------------------------------------------------------------- */

static sigjmp_buf jb;
static volatile sig_atomic_t handler_calls;

static void on_sigbus(int sig, int info, int code, void *addr)
{
	handler_calls++;
	struct sbuf s = { .n = 0 };
	sb_puts(&s, "{\"step\":\"handler\",\"who\":\"program\",\"sig\":");
	sb_num(&s, sig);
	sb_puts(&s, ",\"info\":");
	sb_puts(&s, info ? "true" : "false");
	if (info) {
		sb_puts(&s, ",\"si_code\":");
		sb_num(&s, code);
		sb_puts(&s, ",\"si_addr\":");
		sb_hex(&s, (unsigned long)addr);
	}
	sb_puts(&s, ",\"tid\":");
	sb_num(&s, tid());
	sb_puts(&s, ",\"calls\":");
	sb_num(&s, handler_calls);
	sb_puts(&s, "}\n");
	write_all(1, s.b, s.n);
	const char *action = opt_str("action", "exit");
	if (strcmp(action, "longjmp") == 0)
		siglongjmp(jb, 1);
	if (strcmp(action, "remap") == 0) {
		/* Put an anonymous page where the file page was, and retry the access. */
		uintptr_t a = (info ? (uintptr_t)addr : expected_fault_addr) & ~(uintptr_t)(page - 1);
		if (mmap((void *)a, (size_t)page, PROT_READ | PROT_WRITE,
			 MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED)
			_exit(5);
		return;
	}
	if (strcmp(action, "resethand") == 0)
		return;         /* unrepaired: the access faults again, now with SIG_DFL */
	if (strcmp(action, "reraise") == 0) {
		/* the crash-reporter idiom: back to the default action, send it again, return */
		signal(SIGBUS, SIG_DFL);
		raise(SIGBUS);
		return;
	}
	_exit(3);
}

static void app_handler_info(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	on_sigbus(sig, 1, si->si_code, si->si_addr);
}

static void app_handler_plain(int sig)
{
	on_sigbus(sig, 0, 0, NULL);
}

/* What the program asked for, and what it was told the previous action was. */
static void *installed_handler;
static bool install_old_default;
static int install_rc = -100;

static void install(const char *how)
{
	bool ign = opt_is("action", "ign", "exit");
	if (strcmp(how, "sigset") == 0) {
		/* glibc's sigset() reaches the kernel through its internal __sigaction */
		__sighandler_t h = ign ? SIG_IGN : app_handler_plain;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
		__sighandler_t old = sigset(SIGBUS, h);
#pragma GCC diagnostic pop
		install_rc = old == SIG_ERR ? -1 : 0;
		install_old_default = old == SIG_DFL;
		installed_handler = (void *)h;
		return;
	}
	if (strcmp(how, "signal") == 0) {
		__sighandler_t h = ign ? SIG_IGN : app_handler_plain;
		__sighandler_t old = signal(SIGBUS, h);
		install_rc = old == SIG_ERR ? -1 : 0;
		install_old_default = old == SIG_DFL;
		installed_handler = (void *)h;
		return;
	}
	struct sigaction sa, old;
	memset(&sa, 0, sizeof sa);
	memset(&old, 0xa5, sizeof old);
	sigemptyset(&sa.sa_mask);
	if (ign) {
		sa.sa_handler = SIG_IGN;
	} else {
		sa.sa_sigaction = app_handler_info;
		sa.sa_flags = SA_SIGINFO;
		if (opt_is("action", "resethand", "exit"))
			sa.sa_flags |= SA_RESETHAND;
	}
	install_rc = sigaction(SIGBUS, &sa, &old);
	install_old_default = old.sa_handler == SIG_DFL;
	installed_handler = (void *)sa.sa_handler;
}

/* preinit_array: runs before any shared object's constructor, the guard's included. */
static bool preinit_ran, preinit_kernel_default;

static void preinit(int argc, char **argv, char **envp)
{
	(void)argc;
	(void)argv;
	for (char **e = envp; e && *e; e++) {
		if (strcmp(*e, "MG_SIGBUS_PREINIT=1") == 0) {
			preinit_ran = true;
			preinit_kernel_default = kernel_handler() == (void *)SIG_DFL;
			install("sigaction");
		}
	}
}

__attribute__((section(".preinit_array"), used)) static void (*preinit_fn)(int, char **, char **) =
	preinit;

static void query(void)
{
	struct sigaction cur;
	memset(&cur, 0, sizeof cur);
	int rc = sigaction(SIGBUS, NULL, &cur);
	void *expect = installed_handler;
	if (opt_is("install", "preload", "sigaction"))
		expect = dlsym(RTLD_DEFAULT, "mg_pre_handler");
	void *k = kernel_handler();
	say("\"step\":\"query\",\"rc\":%d,\"own\":%s,\"siginfo\":%s,\"resethand\":%s,"
	    "\"is_default\":%s,\"kernel_own\":%s,\"kernel_default\":%s,\"install_rc\":%d,"
	    "\"install_old_default\":%s,\"preinit_ran\":%s,\"preinit_kernel_default\":%s",
	    rc, (void *)cur.sa_handler == expect ? "true" : "false",
	    cur.sa_flags & SA_SIGINFO ? "true" : "false",
	    cur.sa_flags & SA_RESETHAND ? "true" : "false",
	    cur.sa_handler == SIG_DFL ? "true" : "false",
	    k == expect ? "true" : "false", k == (void *)SIG_DFL ? "true" : "false", install_rc,
	    install_old_default ? "true" : "false", preinit_ran ? "true" : "false",
	    preinit_kernel_default ? "true" : "false");
}

/* ---- scenarios ------------------------------------------------------------------------------ */

static void child_truncate_exec(const struct target *t, long size, bool keep_preload)
{
	char sz[32];
	snprintf(sz, sizeof sz, "%ld", size);
	size_t n = 0;
	for (char **e = environ; *e; e++)
		n++;
	char **env = calloc(n + 1, sizeof *env);
	size_t k = 0;
	for (char **e = environ; *e; e++)
		if (keep_preload || strncmp(*e, "LD_PRELOAD=", 11) != 0)
			env[k++] = *e;
	env[k] = NULL;
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		char *argv[] = { "truncate", "-s", sz, (char *)t->path, NULL };
		execvpe("truncate", argv, env);
		_exit(127);
	}
	int status;
	if (waitpid(pid, &status, 0) != pid)
		die("waitpid");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		die("truncate child failed: status 0x%x", status);
	free(env);
	say("\"step\":\"child\",\"pid\":%d,\"size\":%ld,\"preload\":%s", pid, size,
	    keep_preload ? "true" : "false");
}

static int sc_child_exec(void)
{
	struct target t;
	setup_target(&t, "data");
	print_file(&t, "mapped");
	child_truncate_exec(&t, opt_long("size", 0), opt_long("preload", 0) != 0);
	do_fault(&t, opt_long("at", 3 * page + 5));
	return 0;
}

static int sc_child_fork(void)
{
	struct target t;
	setup_target(&t, "data");
	print_file(&t, "mapped");
	long size = opt_long("size", 0);
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		int r = cut_file(&t, "ftruncate", size);
		say("\"step\":\"child\",\"pid\":%d,\"tid\":%d,\"ret\":%d", getpid(), tid(), r);
		_exit(r == 0 ? 0 : 1);
	}
	int status;
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		die("ftruncate child failed");
	do_fault(&t, opt_long("at", 3 * page + 5));
	return 0;
}

static int sc_raw(void)
{
	struct target t;
	setup_target(&t, "data");
	print_file(&t, "mapped");
	if (opt_long("guarded_first", 0)) {
		int r = cut_file(&t, "ftruncate", opt_long("size", 0));
		say("\"step\":\"guarded_cut\",\"ret\":%d,\"errno\":%d", r, r ? errno : 0);
	}
	raw_ftruncate(t.fd, opt_long("size", 0));
	do_fault(&t, opt_long("at", 3 * page + 5));
	return 0;
}

struct job {
	const char *name;
	const struct target *t;
	const char *call;
	long size;
	long at;
};

static void *cut_thread(void *arg)
{
	struct job *j = arg;
	set_name(j->name);
	struct stat st;
	fstat(j->t->fd, &st);
	int r = cut_file(j->t, j->call, j->size);
	say("\"step\":\"cut\",\"thread\":\"%s\",\"tid\":%d,\"path\":\"%s\",\"call\":\"%s\","
	    "\"size_before\":%ld,\"size_after\":%ld,\"ret\":%d",
	    j->name, tid(), j->t->path, j->call, (long)st.st_size, j->size, r);
	if (r != 0)
		die("%s(%s) failed", j->call, j->t->path);
	return NULL;
}

static void *reader_thread(void *arg)
{
	struct job *j = arg;
	set_name(j->name);
	do_fault(j->t, j->at);
	return NULL;
}

static void run_thread(void *(*fn)(void *), struct job *j)
{
	pthread_t th;
	if (pthread_create(&th, NULL, fn, j) != 0)
		die("pthread_create");
	pthread_join(th, NULL);
}

static int sc_threads(void)
{
	set_name("mg-main");
	struct target t, other;
	setup_target(&t, "data");
	print_file(&t, "mapped");
	setup_target(&other, "other");
	print_file(&other, "mapped_other");
	const char *call = opt_str("call", "ftruncate");
	struct job early = { "mg-cut-early", &t, call, opt_long("size1", t.moff + 2 * page + 100), 0 };
	struct job cutter = { "mg-cutter", &t, call, opt_long("size", 1000), 0 };
	struct job cut_other = { "mg-cut-other", &other, "ftruncate", 0, 0 };
	struct job reader = { "mg-reader", &t, NULL, 0, opt_long("at", 3 * page + 5) };
	run_thread(cut_thread, &early);
	run_thread(cut_thread, &cutter);
	run_thread(cut_thread, &cut_other);
	run_thread(reader_thread, &reader);
	return 0;
}

static int sc_longer(void)
{
	struct target t;
	target_defaults(&t, "data");
	long fsize = opt_long("fsize", 100);
	t.moff = opt_long("moff", 0);
	t.mlen = opt_long("mlen", 4 * page);
	if (opt_long("preshrink", 0)) {
		/* 4 pages, one page mapped, shrunk to fsize: nothing endangered, nothing reported. */
		t.fsize = 4 * page;
		create_file(&t);
		long mlen = t.mlen;
		t.mlen = page;
		map_file(&t);
		say("\"step\":\"small_map\",\"map_addr\":\"%p\"", (void *)t.map);
		int r = cut_file(&t, "ftruncate", fsize);
		say("\"step\":\"preshrink\",\"ret\":%d,\"size\":%ld", r, fsize);
		t.mlen = mlen;
	} else {
		t.fsize = fsize;
		create_file(&t);
	}
	map_file(&t);
	print_file(&t, "mapped");
	do_fault(&t, opt_long("at", 3 * page + 7));
	return 0;
}

/* A tmpfs on target, visible to this process only (its own mount namespace). */
static void private_tmpfs(const char *target, const char *options)
{
	if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
	    mount("tmpfs", target, "tmpfs", 0, options) != 0) {
		say("\"step\":\"skip\",\"reason\":\"cannot mount a tmpfs in a private mount namespace: %s\"",
		    strerror(errno));
		exit(77);
	}
}

static int sc_io_error(void)
{
	private_tmpfs(dir, "size=64k");
	/* DIR is a tiny tmpfs: a sparse file, then every block taken, then a write into a hole. */
	struct target t;
	target_defaults(&t, "sparse");
	t.fsize = opt_long("fsize", 64 * page);
	t.moff = opt_long("moff", 0);
	t.mlen = opt_long("mlen", t.fsize);
	t.prot = PROT_READ | PROT_WRITE;
	t.flags = MAP_SHARED;
	t.fd = open(t.path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (t.fd < 0)
		die("open(%s)", t.path);
	if (ftruncate(t.fd, t.fsize) != 0)
		die("ftruncate(sparse)");
	char filler[PATH_MAX];
	snprintf(filler, sizeof filler, "%s/filler", dir);
	int ff = open(filler, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (ff < 0)
		die("open(filler)");
	char buf[4096];
	memset(buf, 'f', sizeof buf);
	long filled = 0;
	for (;;) {
		ssize_t w = write(ff, buf, sizeof buf);
		if (w < 0 && errno == ENOSPC)
			break;
		if (w <= 0)
			die("write(filler)");
		filled += w;
		if (filled > (1L << 30))
			die("the file system in %s never fills up", dir);
	}
	close(ff);
	map_file(&t);
	print_file(&t, "mapped");
	say("\"step\":\"filled\",\"bytes\":%ld", filled);
	do_fault(&t, opt_long("at", 9 * page + 5));
	return 0;
}

static int sc_rename(void)
{
	struct target t;
	setup_target(&t, "data");
	print_file(&t, "mapped");
	char moved[PATH_MAX + 8];
	snprintf(moved, sizeof moved, "%s.moved", t.path);
	if (rename(t.path, moved) != 0)
		die("rename");
	say("\"step\":\"renamed\",\"from\":\"%s\",\"to\":\"%s\"", t.path, moved);
	snprintf(t.path, sizeof t.path, "%.*s", (int)(sizeof t.path - 1), moved);
	raw_ftruncate(t.fd, opt_long("size", 0));
	do_fault(&t, opt_long("at", 3 * page + 5));
	return 0;
}

static int sc_overmount(void)
{
	char sub[PATH_MAX];
	snprintf(sub, sizeof sub, "%s/sub", dir);
	if (mkdir(sub, 0755) != 0)
		die("mkdir(%s)", sub);
	struct target t;
	setup_target(&t, "sub/data");
	print_file(&t, "mapped");
	raw_ftruncate(t.fd, opt_long("size", 0));
	private_tmpfs(sub, "size=1m");
	if (opt_long("replace", 0)) {
		int fd = open(t.path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0 || write(fd, "another file\n", 13) != 13)
			die("create %s on the new mount", t.path);
		close(fd);
	}
	struct stat st;
	int r = stat(t.path, &st);
	say("\"step\":\"overmounted\",\"path_exists\":%s,\"path_ino\":%llu", r == 0 ? "true" : "false",
	    r == 0 ? (unsigned long long)st.st_ino : 0ULL);
	do_fault(&t, opt_long("at", 3 * page + 5));
	return 0;
}

static bool map_files_ok(const struct target *t)
{
	char p[128];
	snprintf(p, sizeof p, "/proc/self/map_files/%lx-%lx", (unsigned long)t->map,
		 (unsigned long)t->map + (unsigned long)t->mlen);
	struct stat st;
	return stat(p, &st) == 0;
}

static void drop_caps(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	memset(d, 0, sizeof d);
	if (syscall(SYS_capset, &h, d) != 0)
		die("capset");
}

static int sc_unlink(void)
{
	struct target t;
	setup_target(&t, "data");
	print_file(&t, "mapped");
	if (unlink(t.path) != 0)
		die("unlink");
	long size = opt_long("size", 0);
	raw_ftruncate(t.fd, size);
	bool keep = opt_long("keepfd", 1) != 0;
	if (!keep) {
		close(t.fd);
		t.fd = -1;
	}
	if (opt_long("dropcaps", 0))
		drop_caps();
	say("\"step\":\"unlinked\",\"keepfd\":%s,\"map_files_ok\":%s,\"size\":%ld",
	    keep ? "true" : "false", map_files_ok(&t) ? "true" : "false", size);
	do_fault(&t, opt_long("at", 3 * page + 5));
	return 0;
}

static int sc_raise(void)
{
	struct target t;
	setup_target(&t, "data");
	print_file(&t, "mapped");
	if (opt_long("handler", 0))
		install("sigaction");
	const char *how = opt_str("how", "raise");
	say("\"step\":\"sending\",\"how\":\"%s\"", how);
	if (strcmp(how, "kill") == 0) {
		kill(getpid(), SIGBUS);
	} else if (strcmp(how, "sigqueue") == 0) {
		union sigval v = { .sival_int = 7 };
		sigqueue(getpid(), SIGBUS, v);
	} else {
		raise(SIGBUS);
	}
	say("\"step\":\"survived\"");
	return 0;
}

static int sc_untracked(void)
{
	struct target t;
	target_defaults(&t, "data");
	create_file(&t);
	long r = syscall(SYS_mmap, NULL, t.mlen, t.prot, t.flags, t.fd, t.moff);
	if (r < 0 && r > -4096)
		die("syscall(SYS_mmap)");
	t.map = (char *)r;
	print_file(&t, "mapped");
	if (opt_long("handler", 0))
		install("sigaction");
	raw_ftruncate(t.fd, opt_long("size", 0));
	do_fault(&t, opt_long("at", 3 * page + 5));
	return 0;
}

static int sc_handler(void)
{
	const char *how = opt_str("install", "sigaction");
	bool self = strcmp(how, "sigaction") == 0 || strcmp(how, "signal") == 0 ||
		    strcmp(how, "sigset") == 0;
	bool before = opt_is("when", "before", "before");
	if (self && before)
		install(how);
	struct target t;
	setup_target(&t, "data");
	print_file(&t, "mapped");
	raw_ftruncate(t.fd, opt_long("size", 0));
	if (self && !before)
		install(how);
	query();
	long at = opt_long("at", 3 * page + 5);
	if (opt_is("action", "longjmp", "exit")) {
		int rounds = 0;
		for (int i = 0; i < 2; i++) {
			if (sigsetjmp(jb, 1) == 0)
				do_fault(&t, at - i * page);
			else
				say("\"step\":\"recovered\",\"round\":%d", ++rounds);
		}
		sigset_t cur;
		sigprocmask(SIG_BLOCK, NULL, &cur);
		say("\"step\":\"done\",\"rounds\":%d,\"sigbus_blocked\":%s", rounds,
		    sigismember(&cur, SIGBUS) ? "true" : "false");
		return 0;
	}
	do_fault(&t, at);
	say("\"step\":\"done\",\"calls\":%d", (int)handler_calls);
	return 0;
}

/* SIG_IGN survives execve (handlers do not): a child started now must find SIGBUS ignored. */
static int sc_exec_ign(void)
{
	struct target t;
	setup_target(&t, "data");
	print_file(&t, "mapped");
	install(opt_str("install", "sigaction"));       /* with action=ign */
	char sub[PATH_MAX];
	snprintf(sub, sizeof sub, "%s/child", dir);
	if (mkdir(sub, 0755) != 0)
		die("mkdir(%s)", sub);
	bool keep_preload = opt_long("preload", 1) != 0;
	size_t n = 0;
	for (char **e = environ; *e; e++)
		n++;
	char **env = calloc(n + 1, sizeof *env);
	size_t k = 0;
	for (char **e = environ; *e; e++)
		if (keep_preload || strncmp(*e, "LD_PRELOAD=", 11) != 0)
			env[k++] = *e;
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		char self[PATH_MAX];
		ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
		if (len <= 0)
			_exit(126);
		self[len] = 0;
		char *argv[] = { self, "raise", sub, NULL };
		execve(self, argv, env);
		_exit(127);
	}
	int status;
	if (waitpid(pid, &status, 0) != pid)
		die("waitpid");
	say("\"step\":\"child_status\",\"pid\":%d,\"signaled\":%s,\"sig\":%d,\"exited\":%s,\"code\":%d",
	    pid, WIFSIGNALED(status) ? "true" : "false", WIFSIGNALED(status) ? WTERMSIG(status) : 0,
	    WIFEXITED(status) ? "true" : "false", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	return 0;
}

static int sc_child_faults(void)
{
	struct target t;
	setup_target(&t, "data");
	print_file(&t, "mapped");
	raw_ftruncate(t.fd, opt_long("size", 0));
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		do_fault(&t, opt_long("at", 3 * page + 5));
		_exit(0);
	}
	int status;
	if (waitpid(pid, &status, 0) != pid)
		die("waitpid");
	say("\"step\":\"child_status\",\"pid\":%d,\"signaled\":%s,\"sig\":%d,\"exited\":%s,\"code\":%d",
	    pid, WIFSIGNALED(status) ? "true" : "false", WIFSIGNALED(status) ? WTERMSIG(status) : 0,
	    WIFEXITED(status) ? "true" : "false", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	return 0;
}

struct churner {
	int id;
	int fd;
	volatile long iters;
};

static void *churn_thread(void *arg)
{
	struct churner *c = arg;
	char name[16];
	snprintf(name, sizeof name, "mg-churn-%d", c->id);
	set_name(name);
	enum { SLOTS = 16 };
	char *slot[SLOTS] = { 0 };
	size_t len[SLOTS] = { 0 };
	unsigned seed = (unsigned)c->id * 7919u + 1;
	for (long it = 0;; it++) {
		seed = seed * 1103515245u + 12345u;
		int i = (int)((seed >> 8) % SLOTS);
		if (slot[i] && (seed >> 20) % 4 == 0) {
			size_t nl = (size_t)(1 + (seed >> 12) % 4) * (size_t)page;
			void *p = mremap(slot[i], len[i], nl, MREMAP_MAYMOVE);
			if (p != MAP_FAILED) {
				slot[i] = p;
				len[i] = nl;
			}
		} else {
			if (slot[i])
				munmap(slot[i], len[i]);
			len[i] = (size_t)(1 + (seed >> 12) % 4) * (size_t)page;
			slot[i] = mmap(NULL, len[i], PROT_READ, MAP_SHARED, c->fd, 0);
			if (slot[i] == MAP_FAILED)
				die("churn mmap");
		}
		__atomic_store_n(&c->iters, it + 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

static int sc_churn(void)
{
	set_name("mg-main");
	struct target t;
	setup_target(&t, "data");
	print_file(&t, "mapped");
	raw_ftruncate(t.fd, opt_long("size", 0));
	int n = (int)opt_long("threads", 3);
	struct churner *cs = calloc((size_t)n, sizeof *cs);
	for (int i = 0; i < n; i++) {
		char p[PATH_MAX];
		snprintf(p, sizeof p, "%s/churn%d", dir, i);
		struct target ct;
		memset(&ct, 0, sizeof ct);
		snprintf(ct.path, sizeof ct.path, "%s", p);
		ct.fsize = 4 * page;
		create_file(&ct);
		cs[i].id = i;
		cs[i].fd = ct.fd;
		pthread_t th;
		if (pthread_create(&th, NULL, churn_thread, &cs[i]) != 0)
			die("pthread_create");
	}
	long warm = opt_long("warm", 2000);
	for (int i = 0; i < n; i++)
		while (__atomic_load_n(&cs[i].iters, __ATOMIC_ACQUIRE) < warm)
			sched_yield();
	struct job reader = { "mg-faulter", &t, NULL, 0, opt_long("at", 3 * page + 5) };
	run_thread(reader_thread, &reader);
	return 0;
}

static int sc_smallstack(void)
{
	set_name("mg-main");
	struct target t;
	setup_target(&t, "data");
	print_file(&t, "mapped");
	raw_ftruncate(t.fd, opt_long("size", 0));
	pthread_attr_t a;
	pthread_attr_init(&a);
	if (pthread_attr_setstacksize(&a, (size_t)opt_long("stack", 64 << 10)) != 0)
		die("pthread_attr_setstacksize");
	struct job reader = { "mg-small", &t, NULL, 0, opt_long("at", 3 * page + 5) };
	pthread_t th;
	if (pthread_create(&th, &a, reader_thread, &reader) != 0)
		die("pthread_create");
	pthread_join(th, NULL);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: mg_sigbus SCENARIO DIR [key=value...]\n");
		return 2;
	}
	page = sysconf(_SC_PAGESIZE);
	dir = argv[2];
	opts = argv + 3;
	nopts = argc - 3;
	static const struct {
		const char *name;
		int (*fn)(void);
	} table[] = {
		{ "child_exec", sc_child_exec }, { "child_fork", sc_child_fork }, { "raw", sc_raw },
		{ "threads", sc_threads }, { "longer", sc_longer }, { "io_error", sc_io_error },
		{ "rename", sc_rename }, { "overmount", sc_overmount }, { "unlink", sc_unlink }, { "raise", sc_raise },
		{ "untracked", sc_untracked }, { "handler", sc_handler },
		{ "child_faults", sc_child_faults }, { "exec_ign", sc_exec_ign }, { "churn", sc_churn },
		{ "smallstack", sc_smallstack },
	};
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
		if (strcmp(argv[1], table[i].name) == 0)
			return table[i].fn();
	fprintf(stderr, "mg_sigbus: unknown scenario %s\n", argv[1]);
	return 2;
}

/*
 * mg_conc: fork, clone, callbacks and signal handlers meeting the guard's locks. Each mode prints
 * what it observed and exits 0 iff every check held; a hang is caught by a watchdog alarm (the
 * checks themselves synchronise on pipes, semaphores and /proc, never on time).
 *
 *   mg_conc fork-api DIR N
 *       A thread keeps changing the violation callback and marking a file suppressed while the
 *       main thread forks N children; each child maps a file and cuts it (block mode: refused).
 *   mg_conc fork-blocked-log DIR fork|clone|_Fork
 *       The log is stderr, a pipe the program has filled: a thread's report blocks in write().
 *       Meanwhile the main thread forks (fork(), glibc clone() without CLONE_VM, or _Fork()); the
 *       child points stderr at DIR/child.log, cuts a mapped file (refused) and exits. Then the
 *       parent drains the pipe and prints what followed the filler ("record: ...").
 *   mg_conc callback-fork DIR fork|_Fork
 *       The violation callback forks; in the child, after the refused call returns, a second cut
 *       must be refused and reported as well.
 *   mg_conc callback-unmap DIR
 *       The violation callback unmaps the endangered mapping: the file is no longer mapped, and
 *       the next cut succeeds.
 *   mg_conc sigaction-spin DIR N
 *       The main thread keeps changing SIGBUS's disposition with signal(); another thread sends
 *       it SIGUSR1 N times (one at a time), whose handler asks for SIGBUS's disposition.
 *   mg_conc sigaction-mix DIR N
 *       Two threads keep installing (h1, SA_SIGINFO) and (h2, SA_RESETHAND) for SIGBUS; the main
 *       thread reads the disposition N times: a handler never comes with the other's flags.
 *   mg_conc small-altstack DIR
 *       An 8 KiB alternate signal stack (with an inaccessible page below it, painted) and a
 *       SIGBUS handler that recovers by mapping a page over the fault; a mapped file is cut and
 *       touched. Prints "recovered 1 altstack used N" (bytes of the 8 KiB ever written).
 *   mg_conc pipe-writers DIR
 *       Two children share one stderr pipe (the log) that is full; each cuts a mapped file from
 *       30 calls deep (a record longer than PIPE_BUF) and waits for room. The parent frees one
 *       4 KiB slot, lets the first write into it, interrupts that write with a signal, then drains
 *       the pipe and prints what followed the filler ("out: ...").
 *   mg_conc pipe-nonblock DIR
 *       stderr is a full non-blocking pipe: a cut from 30 calls deep is dropped whole; then one
 *       4 KiB slot is freed and the next cut is written whole (shorter). Prints "dropped D",
 *       then what followed the filler ("out: ...").
 *   mg_conc stack-use DIR
 *       On a thread with a painted 256 KiB stack: map a file, cut it (log mode: a report), unmap
 *       it, truncate it. Prints "stack used N".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mmapguard.h"

#define WATCHDOG 60     /* seconds: only a hang ever reaches it */

static long page;
static const char *dir;

static void die(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int e = errno;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	dprintf(1, "FAILED: %s (errno %d %s)\n", buf, e, strerror(e));
	_exit(1);
}

static void say(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof buf)
		n = sizeof buf - 1;
	if (n > 0 && write(1, buf, (size_t)n) != n)
		_exit(99);
}

/* DIR/name, npages pages, mapped shared; *fdp its descriptor. */
static unsigned char *map_new(const char *name, long npages, int *fdp)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, npages * page) != 0)
		die("create %s", path);
	unsigned char *p = mmap(NULL, (size_t)(npages * page), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap %s", path);
	*fdp = fd;
	return p;
}

static int refused(int r) { return r == -1 && errno == ETXTBSY; }

static int wait_child(pid_t pid)
{
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			die("waitpid %d", (int)pid);
	return st;
}

static const char *status_str(int st)
{
	static char buf[64];
	if (WIFEXITED(st))
		snprintf(buf, sizeof buf, "exit %d", WEXITSTATUS(st));
	else
		snprintf(buf, sizeof buf, "signal %d", WTERMSIG(st));
	return buf;
}

/* ---- fork-api ------------------------------------------------------------------------------- */

static int stop;
static int suppress_fd = -1;

static void quiet_cb(const struct mmapguard_violation *v, void *arg) { (void)v; (void)arg; }

static void *api_churn(void *arg)
{
	(void)arg;
	for (unsigned long i = 0; !__atomic_load_n(&stop, __ATOMIC_ACQUIRE); i++) {
		mmapguard_set_callback_if_loaded(i & 1 ? quiet_cb : NULL, NULL);
		if (mmapguard_suppress_fd)
			mmapguard_suppress_fd(suppress_fd);
	}
	return NULL;
}

static int fork_api(int n)
{
	int fd;
	map_new("suppressed", 1, &suppress_fd);
	pthread_t t;
	pthread_create(&t, NULL, api_churn, NULL);
	pid_t *pids = calloc((size_t)n, sizeof *pids);
	for (int k = 0; k < n; k++) {
		pids[k] = fork();
		if (pids[k] < 0)
			die("fork");
		if (pids[k] == 0) {
			alarm(WATCHDOG);
			char name[32];
			snprintf(name, sizeof name, "child%d", k);
			map_new(name, 4, &fd);
			_exit(refused(ftruncate(fd, page)) ? 0 : 2);
		}
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	int ok = 0;
	for (int k = 0; k < n; k++) {
		int st = wait_child(pids[k]);
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
			ok++;
		else
			say("child %d: %s\n", k, status_str(st));
	}
	say("forks %d ok %d\n", n, ok);
	return ok == n ? 0 : 1;
}

/* ---- fork-blocked-log ----------------------------------------------------------------------- */

static int blocked_fd;
static pid_t blocked_tid;

static void *blocked_reporter(void *arg)
{
	(void)arg;
	__atomic_store_n(&blocked_tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
	if (ftruncate(blocked_fd, page) != 0)      /* log mode: reported, then done */
		die("ftruncate in the reporting thread");
	return NULL;
}

/* The thread sits in write(2, ...): /proc/self/task/TID/syscall starts with "1 0x2 ". */
static void wait_blocked_in_write_at(const char *path);

static void wait_blocked_in_write(pid_t tid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)tid);
	wait_blocked_in_write_at(path);
}

static void wait_blocked_in_write_at(const char *path)
{
	char buf[256];
	for (;;) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			die("open %s", path);
		ssize_t r = read(fd, buf, sizeof buf - 1);
		close(fd);
		if (r > 0) {
			buf[r] = 0;
			if (strncmp(buf, "1 0x2 ", 6) == 0)
				return;
		}
		sched_yield();
	}
}

static int child_cut(void)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/child.log", dir);
	int log = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (log < 0 || dup2(log, 2) != 2)
		return 3;
	int fd;
	map_new("childmap", 4, &fd);
	if (mmapguard_set_mode)
		mmapguard_set_mode(MMAPGUARD_MODE_BLOCK);
	return refused(ftruncate(fd, page)) ? 0 : 2;
}

static int clone_child_fn(void *arg)
{
	(void)arg;
	alarm(WATCHDOG);
	_exit(child_cut());
}

extern pid_t _Fork(void);

static int fork_blocked_log(const char *how)
{
	int pfd[2];
	if (pipe(pfd) != 0 || dup2(pfd[1], 2) != 2)
		die("pipe");
	close(pfd[1]);
	/* Fill the pipe: the next write to stderr blocks. */
	int fl = fcntl(2, F_GETFL);
	fcntl(2, F_SETFL, fl | O_NONBLOCK);
	static char filler[4096];
	memset(filler, 'f', sizeof filler);
	size_t filled = 0;
	for (;;) {
		ssize_t w = write(2, filler, sizeof filler);
		if (w <= 0)
			break;
		filled += (size_t)w;
	}
	for (;;) {      /* the last, partial page */
		ssize_t w = write(2, filler, 1);
		if (w <= 0)
			break;
		filled += (size_t)w;
	}
	fcntl(2, F_SETFL, fl);

	map_new("parentmap", 4, &blocked_fd);
	alarm(WATCHDOG);
	pthread_t t;
	pthread_create(&t, NULL, blocked_reporter, NULL);
	pid_t tid;
	while (!(tid = __atomic_load_n(&blocked_tid, __ATOMIC_ACQUIRE)))
		sched_yield();
	wait_blocked_in_write(tid);

	pid_t pid;
	static char stack[256 << 10];
	if (strcmp(how, "fork") == 0)
		pid = fork();
	else if (strcmp(how, "_Fork") == 0)
		pid = _Fork();
	else
		pid = clone(clone_child_fn, stack + sizeof stack, SIGCHLD, NULL);
	if (pid < 0)
		die("%s", how);
	if (pid == 0) {
		alarm(WATCHDOG);
		_exit(child_cut());
	}
	int st = wait_child(pid);
	say("%s child: %s\n", how, status_str(st));

	/* Drain: the filler, then the blocked thread's record. */
	size_t got = 0, cap = 1 << 20;
	char *all = malloc(cap);
	fcntl(pfd[0], F_SETFL, O_NONBLOCK);
	for (;;) {
		ssize_t r = read(pfd[0], all + got, cap - got);
		if (r > 0) {
			got += (size_t)r;
			continue;
		}
		if (got > filled && memchr(all + filled, '\n', got - filled))
			break;
		sched_yield();
	}
	pthread_join(t, NULL);
	for (;;) {
		ssize_t r = read(pfd[0], all + got, cap - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	if (write(1, "record: ", 8) != 8 || write(1, all + filled, got - filled) != (ssize_t)(got - filled))
		die("write");
	alarm(0);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}

/* ---- callback-fork, callback-unmap ---------------------------------------------------------- */

static const char *cb_how;
static int cb_calls, cb_child_failed;

static void forking_cb(const struct mmapguard_violation *v, void *arg)
{
	(void)v;
	(void)arg;
	if (cb_calls++)
		return;
	pid_t pid = strcmp(cb_how, "_Fork") == 0 ? _Fork() : fork();
	if (pid < 0)
		die("fork in the callback");
	if (pid > 0) {
		int st = wait_child(pid);
		say("callback child: %s\n", status_str(st));
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			cb_child_failed = 1;
	} else {
		*(int *)arg = 1;   /* in the child */
	}
}

static int callback_fork(const char *how)
{
	int fd, in_child = 0;
	cb_how = how;
	map_new("cbmap", 4, &fd);
	mmapguard_set_callback_if_loaded(forking_cb, &in_child);
	int r1 = refused(ftruncate(fd, 2 * page));
	if (in_child) {
		alarm(WATCHDOG);
		/* The child continues here after the callback returned. */
		int r2 = refused(ftruncate(fd, page));
		say("child: first refused %d, second refused %d, reports %lu\n", r1, r2,
		    mmapguard_reports_written ? mmapguard_reports_written() : 0);
		_exit(r1 && r2 ? 0 : 2);
	}
	say("parent: refused %d\n", r1);
	return r1 && !cb_child_failed ? 0 : 1;
}

static void unmapping_cb(const struct mmapguard_violation *v, void *arg)
{
	(void)arg;
	for (unsigned i = 0; i < v->nmappings; i++)
		if (munmap(v->mappings[i].addr, v->mappings[i].length) != 0)
			die("munmap in the callback");
}

static int callback_unmap(void)
{
	int fd;
	map_new("cbunmap", 4, &fd);
	mmapguard_set_callback_if_loaded(unmapping_cb, NULL);
	int r1 = refused(ftruncate(fd, page));
	long long safe = -1;
	int mapped = mmapguard_fd_mapped_if_loaded(fd, &safe);
	int r2 = ftruncate(fd, page);
	say("first refused %d, mapped after %d, second %d\n", r1, mapped, r2);
	return r1 && mapped == 0 && r2 == 0 ? 0 : 1;
}

/* ---- sigaction-spin, sigaction-mix --------------------------------------------------------- */

static unsigned long handled;
static pid_t main_tid;

static void bus_a(int sig) { (void)sig; }
static void bus_b(int sig, siginfo_t *si, void *uc) { (void)sig; (void)si; (void)uc; }

static void on_usr1(int sig)
{
	(void)sig;
	struct sigaction cur;
	sigaction(SIGBUS, NULL, &cur);
	__atomic_add_fetch(&handled, 1, __ATOMIC_RELEASE);
}

static void *usr1_sender(void *arg)
{
	unsigned long n = (unsigned long)(uintptr_t)arg;
	for (unsigned long i = 0; i < n; i++) {
		syscall(SYS_tgkill, getpid(), main_tid, SIGUSR1);
		while (__atomic_load_n(&handled, __ATOMIC_ACQUIRE) <= i)
			sched_yield();
	}
	return NULL;
}

static int sigaction_spin(unsigned long n)
{
	struct sigaction a;
	memset(&a, 0, sizeof a);
	a.sa_handler = on_usr1;
	a.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &a, NULL);
	main_tid = (pid_t)syscall(SYS_gettid);
	alarm(WATCHDOG);
	pthread_t t;
	pthread_create(&t, NULL, usr1_sender, (void *)(uintptr_t)n);
	unsigned long loops = 0;
	while (__atomic_load_n(&handled, __ATOMIC_ACQUIRE) < n)
		signal(SIGBUS, loops++ & 1 ? bus_a : SIG_DFL);
	pthread_join(t, NULL);
	say("handled %lu\n", __atomic_load_n(&handled, __ATOMIC_ACQUIRE));
	return 0;
}

static void *installer(void *arg)
{
	struct sigaction a;
	memset(&a, 0, sizeof a);
	if (arg) {
		a.sa_sigaction = bus_b;
		a.sa_flags = SA_SIGINFO;
	} else {
		a.sa_handler = bus_a;
		a.sa_flags = SA_RESETHAND;
	}
	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE))
		sigaction(SIGBUS, &a, NULL);
	return NULL;
}

static int sigaction_mix(unsigned long n)
{
	pthread_t t1, t2;
	alarm(WATCHDOG);
	pthread_create(&t1, NULL, installer, (void *)1);
	pthread_create(&t2, NULL, installer, NULL);
	unsigned long mixed = 0;
	for (unsigned long i = 0; i < n; i++) {
		struct sigaction cur;
		sigaction(SIGBUS, NULL, &cur);
		if (cur.sa_sigaction == bus_b && cur.sa_flags != (int)SA_SIGINFO)
			mixed++;
		else if (cur.sa_handler == bus_a && cur.sa_flags != (int)SA_RESETHAND)
			mixed++;
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	say("reads %lu mixed %lu\n", n, mixed);
	return mixed ? 1 : 0;
}

/* ---- small-altstack, stack-use ------------------------------------------------------------- */

#define PAINT 0xa5

static size_t painted_used(const unsigned char *lo, size_t size)
{
	size_t i = 0;
	while (i < size && lo[i] == PAINT)
		i++;
	return size - i;
}

static void recover(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	void *pg = (void *)((uintptr_t)si->si_addr & ~(uintptr_t)(page - 1));
	if (mmap(pg, (size_t)page, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0) == MAP_FAILED)
		_exit(5);
}

static int small_altstack(void)
{
	int fd;
	unsigned char *p = map_new("bus", 4, &fd);
	size_t size = 8192;
	unsigned char *mem = mmap(NULL, (size_t)page + size, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED || mprotect(mem, (size_t)page, PROT_NONE) != 0)
		die("altstack pages");
	unsigned char *lo = mem + page;
	memset(lo, PAINT, size);
	stack_t ss = { .ss_sp = lo, .ss_size = size, .ss_flags = 0 };
	if (sigaltstack(&ss, NULL) != 0)
		die("sigaltstack");
	struct sigaction a;
	memset(&a, 0, sizeof a);
	a.sa_sigaction = recover;
	a.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigaction(SIGBUS, &a, NULL);
	if (ftruncate(fd, 0) != 0)
		die("ftruncate");
	volatile unsigned char *q = p + 2 * page;
	unsigned char v = *q;
	say("recovered %d altstack used %zu\n", v == 0, painted_used(lo, size));
	return v == 0 ? 0 : 1;
}

static void *stack_user(void *arg)
{
	unsigned char *lo = arg;
	char path[4096];
	snprintf(path, sizeof path, "%s/deep", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, 4 * page) != 0)
		die("create %s", path);
	/* Paint again below this frame: what the calls below write there is theirs. */
	volatile char here = 0;
	uintptr_t sp = (uintptr_t)&here - 256;
	memset(lo, PAINT, sp - (uintptr_t)lo);
	void *p = mmap(NULL, (size_t)(4 * page), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED || ftruncate(fd, page) != 0)   /* log mode: reported, allowed */
		die("map and cut");
	munmap(p, (size_t)(4 * page));
	ftruncate(fd, 0);
	close(fd);
	return (void *)(sp + 256 - (uintptr_t)lo);
}

static int stack_use(void)
{
	size_t size = 256 << 10;
	unsigned char *mem = mmap(NULL, (size_t)page + size, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED || mprotect(mem, (size_t)page, PROT_NONE) != 0)
		die("stack pages");
	unsigned char *lo = mem + page;
	memset(lo, PAINT, size);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstack(&attr, lo, size);
	pthread_t t;
	if (pthread_create(&t, &attr, stack_user, lo) != 0)
		die("pthread_create");
	void *above;
	pthread_join(t, &above);
	size_t below = (size_t)(uintptr_t)above - (size - painted_used(lo, size));
	say("stack used %zu\n", below);
	return 0;
}

/* ---- pipe-writers, pipe-nonblock ----------------------------------------------------------- */

static int deep_fd;
static int deep_ret;

static __attribute__((noinline)) int deep(int n)
{
	volatile int here = n;
	if (n == 0) {
		deep_ret = ftruncate(deep_fd, page);       /* log mode: reported, allowed */
		return here;
	}
	int r = deep(n - 1);
	return r + here;
}

static __attribute__((noinline)) unsigned char *deep_map(int n, const char *name)
{
	volatile int here = n;
	if (n == 0)
		return map_new(name, 4, &deep_fd);
	unsigned char *p = deep_map(n - 1, name);
	return p + (here - here);
}

/* Fill fd (non-blocking for now) until it takes nothing more; returns the bytes written. */
static size_t fill_pipe(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	static char filler[4096];
	memset(filler, 'f', sizeof filler);
	size_t filled = 0;
	for (size_t chunk = sizeof filler; chunk; chunk /= 2)
		for (;;) {
			ssize_t w = write(fd, filler, chunk);
			if (w <= 0)
				break;
			filled += (size_t)w;
		}
	fcntl(fd, F_SETFL, fl);
	return filled;
}

static void print_after(const char *all, size_t got, size_t skip)
{
	if (write(1, "out: ", 5) != 5 || (got > skip && write(1, all + skip, got - skip) != (ssize_t)(got - skip)))
		die("write");
}

static void nothing(int sig) { (void)sig; }

static pid_t blocked_writer(int *p, int k)
{
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		alarm(WATCHDOG);
		struct sigaction a;
		memset(&a, 0, sizeof a);
		a.sa_handler = nothing;
		a.sa_flags = SA_RESTART;
		sigaction(SIGUSR1, &a, NULL);
		close(p[0]);
		dup2(p[1], 2);
		close(p[1]);
		char name[32];
		snprintf(name, sizeof name, "writer%d", k);
		deep_map(30, name);
		deep(30);
		_exit(deep_ret == 0 ? 0 : 2);
	}
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/syscall", (int)pid);
	wait_blocked_in_write_at(path);
	return pid;
}

static int queued(int fd)
{
	int n = 0;
	if (ioctl(fd, FIONREAD, &n) != 0)
		die("FIONREAD");
	return n;
}

static int pipe_writers(void)
{
	int p[2];
	if (pipe(p) != 0)
		die("pipe");
	size_t filled = fill_pipe(p[1]);
	alarm(WATCHDOG);
	/* Two children wait for room in the full pipe, A first in line. */
	pid_t a = blocked_writer(p, 0), b = blocked_writer(p, 1);
	close(p[1]);
	static char slot[4096];
	if (read(p[0], slot, sizeof slot) != (ssize_t)sizeof slot)
		die("read");
	filled -= sizeof slot;
	while ((size_t)queued(p[0]) == filled)       /* A writes into the room */
		sched_yield();
	kill(a, SIGUSR1);       /* a write cut short by a signal returns what it wrote */
	size_t got = 0, cap = 4 << 20;
	char *all = malloc(cap);
	for (;;) {
		ssize_t r = read(p[0], all + got, got + 256 <= cap ? 256 : cap - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	int sa = wait_child(a), sb = wait_child(b);
	print_after(all, got, filled);
	return WIFEXITED(sa) && WEXITSTATUS(sa) == 0 && WIFEXITED(sb) && WEXITSTATUS(sb) == 0 ? 0 : 1;
}

static int pipe_nonblock(void)
{
	int p[2];
	if (pipe(p) != 0 || dup2(p[1], 2) != 2)
		die("pipe");
	size_t filled = fill_pipe(2);
	fcntl(2, F_SETFL, fcntl(2, F_GETFL) | O_NONBLOCK);
	alarm(WATCHDOG);
	deep_map(30, "nonblock");
	deep(30);                       /* the pipe is full: dropped */
	unsigned long dropped = mmapguard_reports_dropped ? mmapguard_reports_dropped() : 0;
	static char slot[4096];
	if (read(p[0], slot, sizeof slot) != (ssize_t)sizeof slot)
		die("read");
	filled -= sizeof slot;
	if (ftruncate(deep_fd, 4 * page) != 0)
		die("grow");
	deep(30);                       /* one 4 KiB slot free: a shorter record, whole */
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	size_t got = 0, cap = 1 << 20;
	char *all = malloc(cap);
	for (;;) {
		ssize_t r = read(p[0], all + got, cap - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	say("dropped %lu\n", dropped);
	print_after(all, got, filled);
	return 0;
}

int main(int argc, char **argv)
{
	page = sysconf(_SC_PAGESIZE);
	if (argc < 3) {
		fprintf(stderr, "usage: mg_conc MODE DIR ...\n");
		return 2;
	}
	dir = argv[2];
	if (strcmp(argv[1], "fork-api") == 0 && argc == 4)
		return fork_api(atoi(argv[3]));
	if (strcmp(argv[1], "fork-blocked-log") == 0 && argc == 4)
		return fork_blocked_log(argv[3]);
	if (strcmp(argv[1], "callback-fork") == 0 && argc == 4)
		return callback_fork(argv[3]);
	if (strcmp(argv[1], "callback-unmap") == 0)
		return callback_unmap();
	if (strcmp(argv[1], "small-altstack") == 0)
		return small_altstack();
	if (strcmp(argv[1], "pipe-writers") == 0)
		return pipe_writers();
	if (strcmp(argv[1], "pipe-nonblock") == 0)
		return pipe_nonblock();
	if (strcmp(argv[1], "stack-use") == 0)
		return stack_use();
	if (strcmp(argv[1], "sigaction-spin") == 0 && argc == 4)
		return sigaction_spin(strtoul(argv[3], NULL, 10));
	if (strcmp(argv[1], "sigaction-mix") == 0 && argc == 4)
		return sigaction_mix(strtoul(argv[3], NULL, 10));
	fprintf(stderr, "mg_conc: unknown mode %s\n", argv[1]);
	return 2;
}

/*
 * Who is breaking a lease, answered while the breaker waits in its system call (it goes on as
 * soon as the lease is released, so everything that must be read from it is read first).
 *
 * Two ways to the breaker's pid:
 *  - fast: processes whose main thread sleeps in __break_lease (/proc/PID/wchan), newest pid first
 *    (cp, wget, a shell's '>' are fresh processes). A candidate counts only when its call is proven
 *    to name this file: /proc/PID/syscall gives the call and the address of its path, the path is
 *    read from its memory (process_vm_readv) and resolved from its root, its cwd or its dirfd, and
 *    must lead to (dev, ino). That needs the breaker to be of this user (or this process root).
 *  - slow: /proc/locks lists the breaker under the lease (`-> LEASE BREAKER ... PID`). Readable by
 *    anyone, but its first read after a quiet while waits for an RCU grace period (6-20 ms here),
 *    the whole of the delay a watching guard adds to a breaker. Used when the fast way finds no
 *    proven candidate (another user's breaker, a breaker in a thread other than its main one), or
 *    when the fast way runs past its budget (FAST_BUDGET_US: thousands of processes).
 * When neither finds one, the handler's own thread may be the breaker: the context the signal
 * interrupted shows its call (mg_breaker_is_this_thread).
 *
 * Async-signal-safe: raw system calls and static buffers; lease_break.c's busy flag makes the
 * handler the only user at a time.
 */
#define _GNU_SOURCE
#include "fmt.h"
#include "lease_impl.h"
#include "procfile.h"
#include "real.h"
#include "shown_dev.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <time.h>
#include <ucontext.h>

/* ---- slow: /proc/locks ------------------------------------------------------------------------ */

static struct mg_lines lr;
static char line[PATH_MAX + 256];

static void lease_id(char *want, size_t cap, dev_t dev, ino_t ino)
{
	struct mg_buf b;
	mg_buf_init(&b, want, cap);
	static const char hex[] = "0123456789abcdef";
	dev = mg_shown_dev_kept(dev);   /* as /proc/locks shows it */
	unsigned ma = major(dev), mi = minor(dev);
	/* "%02x:%02x:%lu" as the kernel prints it */
	if (ma > 0xff)
		mg_buf_putc(&b, hex[(ma >> 8) & 15]);
	mg_buf_putc(&b, hex[(ma >> 4) & 15]);
	mg_buf_putc(&b, hex[ma & 15]);
	mg_buf_putc(&b, ':');
	if (mi > 0xff)
		mg_buf_putc(&b, hex[(mi >> 8) & 15]);
	mg_buf_putc(&b, hex[(mi >> 4) & 15]);
	mg_buf_putc(&b, hex[mi & 15]);
	mg_buf_putc(&b, ':');
	mg_buf_u64(&b, (uint64_t)ino);
	mg_buf_putc(&b, 0);
}

static pid_t breaker_from_locks(dev_t dev, ino_t ino)
{
	if (!mg_lines_open(&lr, "/proc/locks"))
		return 0;
	char want[64];
	lease_id(want, sizeof want, dev, ino);
	pid_t self = (pid_t)MG_SYS0(SYS_getpid);
	long ordinal = -1;
	pid_t found = 0, other = 0;
	while (mg_lines_next(&lr, line, sizeof line)) {
		const char *p = line;
		long ord = (long)mg_parse_num(&p, 10);
		if (*p != ':')
			continue;
		p = mg_skip_ws(p + 1);
		if (strncmp(p, "->", 2) == 0) {
			if (ord != ordinal)
				continue;
			p = mg_skip_ws(p + 2);
			if (strncmp(p, "LEASE", 5) != 0)
				continue;
			p = mg_skip_ws(mg_skip_word(p));      /* BREAKER */
			p = mg_skip_ws(mg_skip_word(p));      /* READ/WRITE */
			p = mg_skip_ws(mg_skip_word(p));
			pid_t pid = (pid_t)mg_parse_num(&p, 10);
			if (pid == self)
				other = other ? other : pid;
			else if (!found)
				found = pid;
			continue;
		}
		if (strncmp(p, "LEASE", 5) != 0)
			continue;
		/* "LEASE  BREAKING  UNLCK 17424 fe:00:10953253 0 EOF" */
		for (int k = 0; k < 4; k++)
			p = mg_skip_ws(mg_skip_word(p));
		const char *id = p;
		p = mg_skip_word(p);
		if ((size_t)(p - id) == strlen(want) && strncmp(id, want, (size_t)(p - id)) == 0)
			ordinal = ord;
	}
	mg_lines_close(&lr);
	return found ? found : other;
}

/* ---- the breaker's system call --------------------------------------------------------------- */

static const char *syscall_name(long nr)
{
	switch (nr) {
	case SYS_open: return "open";
	case SYS_openat: return "openat";
	case SYS_creat: return "creat";
	case SYS_truncate: return "truncate";
	case SYS_openat2: return "openat2";
	default: return "";
	}
}

/* /proc/PID/syscall: "NR ARG1 ... ARG6 SP PC" while the process sleeps in a call. */
static bool read_call(pid_t pid, struct mg_breaker *br)
{
	char path[64], buf[512];
	mg_proc_path(path, sizeof path, pid, "syscall");
	long n = mg_proc_read(path, buf, sizeof buf);
	if (n <= 0 || buf[0] < '0' || buf[0] > '9')
		return false;
	const char *p = buf;
	br->nr = (long)mg_parse_num(&p, 10);
	for (int i = 0; i < 6; i++) {
		p = mg_skip_ws(p);
		br->args[i] = mg_parse_num(&p, 16);
	}
	br->has_syscall = true;
	br->call = syscall_name(br->nr);
	switch (br->nr) {
	case SYS_truncate:
		br->cuts = true;
		br->known_size = (int64_t)br->args[1] >= 0;
		br->size_after = br->args[1];
		break;
	case SYS_open:                  /* O_TRUNC cuts to 0; other opens cut nothing */
	case SYS_openat:
		br->cuts = (br->args[br->nr == SYS_open ? 1 : 2] & O_TRUNC) != 0;
		br->known_size = br->cuts;
		br->size_after = 0;
		break;
	default:                        /* creat, or a call that cannot be read: the worst */
		br->cuts = true;
		br->known_size = br->nr == SYS_creat;
		br->size_after = 0;
		break;
	}
	return true;
}

/* ---- fast: the process sleeping in __break_lease, its call proven to name the file ----------- */

#define PIDS_MAX 8192
static pid_t pids[PIDS_MAX];
static char dents[8192];
static char target[PATH_MAX];
static char where[PATH_MAX + 96];

/* Whether the call br (read from pid) opens or truncates the file (dev, ino). */
static bool call_names_file(pid_t pid, const struct mg_breaker *br, dev_t dev, ino_t ino)
{
	uint64_t addr;
	int dirfd = AT_FDCWD;
	switch (br->nr) {
	case SYS_open:
	case SYS_creat:
	case SYS_truncate:
		addr = br->args[0];
		break;
	case SYS_openat:
	case SYS_openat2:
		addr = br->args[1];
		dirfd = (int)(uint32_t)br->args[0];
		break;
	default:
		return false;
	}
	struct iovec local = { target, sizeof target - 1 };
	struct iovec remote = { (void *)(uintptr_t)addr, sizeof target - 1 };
	long n = MG_SYS6(SYS_process_vm_readv, pid, &local, 1, &remote, 1, 0);
	if (n <= 0)
		return false;
	if (!memchr(target, 0, (size_t)n))
		return false;
	struct mg_buf b;
	mg_buf_init(&b, where, sizeof where);
	mg_buf_puts(&b, "/proc/");
	mg_buf_i64(&b, pid);
	if (target[0] == '/')
		mg_buf_puts(&b, "/root");
	else if (dirfd == AT_FDCWD)
		mg_buf_puts(&b, "/cwd/");
	else {
		mg_buf_puts(&b, "/fd/");
		mg_buf_i64(&b, dirfd);
		mg_buf_putc(&b, '/');
	}
	mg_buf_puts(&b, target);
	mg_buf_putc(&b, 0);
	if (b.truncated)
		return false;
	struct stat st;
	return MG_SYS4(SYS_newfstatat, AT_FDCWD, where, &st, 0) == 0 && st.st_dev == dev &&
	       st.st_ino == ino;
}

struct pid_list {
	size_t n;
};

static bool add_pid(char *name, void *arg)
{
	struct pid_list *l = arg;
	if (name[0] < '1' || name[0] > '9')
		return true;
	if (l->n == PIDS_MAX)
		return false;
	const char *p = name;
	pids[l->n++] = (pid_t)mg_parse_num(&p, 10);
	return true;
}

/* The pids in /proc (the first PIDS_MAX: a breaker past them is left to /proc/locks). */
static size_t list_pids(void)
{
	long dfd = mg_sys_open("/proc", O_RDONLY | O_DIRECTORY);
	if (dfd < 0)
		return 0;
	struct pid_list l = { 0 };
	mg_dir_each(dfd, dents, sizeof dents, add_pid, &l);
	MG_SYS1(SYS_close, dfd);
	return l.n;
}

/* How long the fast way may look (about 4 us per process) before /proc/locks answers instead. */
#define FAST_BUDGET_US 3000

static uint64_t elapsed_us(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	int64_t us = (int64_t)(t.tv_sec - t0->tv_sec) * 1000000 + (int64_t)(t.tv_nsec - t0->tv_nsec) / 1000;
	return us > 0 ? (uint64_t)us : 0;
}

static pid_t breaker_from_wchan(dev_t dev, ino_t ino, struct mg_breaker *br)
{
	static const char want[] = "__break_lease";
	size_t np = list_pids();
	char path[64], w[64];
	/*
	 * The signal leaves the kernel before the breaker goes to sleep: a handler on another CPU can
	 * look before it is there. Give it a moment, and another before giving up on this way.
	 */
	static const long pause_ns[] = { 50000, 250000 };
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (size_t round = 0; round < sizeof pause_ns / sizeof pause_ns[0]; round++) {
		struct timespec ts = { 0, pause_ns[round] };
		MG_SYS2(SYS_nanosleep, &ts, NULL);
		for (size_t i = np; i-- > 0;) {
			/* With thousands of processes /proc/locks is the quicker way: stop at the budget. */
			if ((np - i) % 64 == 0 && elapsed_us(&t0) > FAST_BUDGET_US)
				return 0;
			mg_proc_path(path, sizeof path, pids[i], "wchan");
			long n = mg_proc_read(path, w, sizeof w);
			if (n != (long)sizeof want - 1 || memcmp(w, want, sizeof want - 1) != 0)
				continue;
			memset(br, 0, sizeof *br);
			br->call = "";
			if (read_call(pids[i], br) && call_names_file(pids[i], br, dev, ino)) {
				br->pid = pids[i];
				return pids[i];
			}
		}
	}
	return 0;
}

/* ---- this very thread --------------------------------------------------------------------------- */

/*
 * The thread the handler runs on may be the breaker itself: the program's own open or truncate
 * through a route the wrappers do not see (a raw system call, a library's internal one), or a lease
 * another thread took between the wrapper's letting go and the call. The lease signal then
 * interrupts the call's wait in __break_lease (it is the only thread not blocking the signal, or
 * the main one), so while the handler runs no thread sleeps there and /proc/locks lists no breaker.
 * The interrupted context tells: the handler has SA_RESTART, so the kernel put the call's number
 * back and the program counter on the system call instruction, to run it again after the handler.
 */
static struct mg_breaker me;

bool mg_breaker_is_this_thread(const void *uc, dev_t dev, ino_t ino)
{
#if defined(__x86_64__)
	if (!uc)
		return false;
	const greg_t *g = ((const ucontext_t *)uc)->uc_mcontext.gregs;
	pid_t self = (pid_t)MG_SYS0(SYS_getpid);
	/* 0f 05, syscall, at the program counter: a call to restart (one that returned has passed it) */
	unsigned char insn[2];
	struct iovec local = { insn, sizeof insn };
	struct iovec remote = { (void *)(uintptr_t)g[REG_RIP], sizeof insn };
	if (MG_SYS6(SYS_process_vm_readv, self, &local, 1, &remote, 1, 0) != (long)sizeof insn ||
	    insn[0] != 0x0f || insn[1] != 0x05)
		return false;
	memset(&me, 0, sizeof me);
	me.nr = (long)g[REG_RAX];
	const int regs[6] = { REG_RDI, REG_RSI, REG_RDX, REG_R10, REG_R8, REG_R9 };
	for (int i = 0; i < 6; i++)
		me.args[i] = (uint64_t)g[regs[i]];
	return call_names_file(self, &me, dev, ino);
#else
	(void)uc;
	(void)dev;
	(void)ino;
	return false;
#endif
}

/* ---- the breaker ------------------------------------------------------------------------------ */

pid_t mg_breaker_find(dev_t dev, ino_t ino, struct mg_breaker *br)
{
	pid_t pid = breaker_from_wchan(dev, ino, br);
	if (pid)
		return pid;
	/*
	 * A breaker is listed under one lease at a time: when another process held a lease on the
	 * same file too (a forked child) and has just released it, the breaker is between the two
	 * for a moment. Look again before deciding that nobody waits (reads after the first are fast).
	 */
	for (int tries = 0; tries < 4 && !pid; tries++)
		pid = breaker_from_locks(dev, ino);
	memset(br, 0, sizeof *br);
	br->call = "";
	if (pid) {
		br->pid = pid;
		read_call(pid, br);
	}
	return pid;
}

void mg_breaker_describe(struct mg_breaker *br)
{
	char path[64], buf[64];
	pid_t pid = br->pid;
	mg_proc_path(path, sizeof path, pid, "comm");
	long n = mg_proc_read(path, buf, sizeof buf);
	if (n > 0) {
		if (buf[n - 1] == '\n')
			buf[n - 1] = 0;
		size_t c = strlen(buf);
		memcpy(br->comm, buf, c < sizeof br->comm ? c + 1 : sizeof br->comm);
		br->comm[sizeof br->comm - 1] = 0;
	}
	mg_proc_path(path, sizeof path, pid, "exe");
	n = MG_SYS4(SYS_readlinkat, AT_FDCWD, path, br->exe, sizeof br->exe - 1);
	br->exe[n > 0 ? n : 0] = 0;
	mg_proc_path(path, sizeof path, pid, "cmdline");
	n = mg_proc_read(path, br->cmdline, sizeof br->cmdline);
	for (long i = 0; i < n; i++)
		if (br->cmdline[i] == 0)
			br->cmdline[i] = ' ';
	while (n > 0 && br->cmdline[n - 1] == ' ')
		br->cmdline[--n] = 0;
	mg_proc_path(path, sizeof path, pid, "");
	struct stat st;
	if (MG_SYS4(SYS_newfstatat, AT_FDCWD, path, &st, 0) == 0) {
		br->uid = st.st_uid;
		br->has_uid = true;
	}
}

/*
 * A lease break, answered inside the lease signal's handler: name the breaker and its system
 * call (lease_breaker.c), find this process's windows that the call cuts
 * (/proc/self/maps), in rescue mode replace their cut pages with anonymous copies of their bytes,
 * release the lease so the breaker goes on, and write the lease_break record.
 *
 * Everything here is async-signal-safe: raw system calls, static buffers used by one handler at a
 * time (a busy flag; a break that arrives meanwhile is picked up by the loop), the registry read
 * through its sequence counter. Windows a rescue replaced are dropped from the registry by the next
 * thread that takes the registry lock (mg_reg_remove_deferred).
 */
#define _GNU_SOURCE
#include "config.h"
#include "fmt.h"
#include "history.h"
#include "lease_impl.h"
#include "procfile.h"
#include "real.h"
#include "registry.h"
#include "report.h"
#include "shown_dev.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static int busy, pending;
static struct mg_lease_win wins[MG_LEASE_WIN_MAX];

/* Lines of /proc/self/maps (file_windows). */
static struct mg_lines lr;
static char line[PATH_MAX + 256];

/* ---- rescue --------------------------------------------------------------------------------- */

/* One line of /proc/self/maps. */
struct maps_line {
	uintptr_t start, end;
	uint64_t offset;
	char perms[5];
	dev_t dev;
	ino_t ino;
	const char *path;
};

static void parse_line(const char *p, struct maps_line *l)
{
	l->start = (uintptr_t)mg_parse_num(&p, 16);
	p++;
	l->end = (uintptr_t)mg_parse_num(&p, 16);
	p = mg_skip_ws(p);
	memcpy(l->perms, p, 4);
	l->perms[4] = 0;
	p = mg_skip_ws(mg_skip_word(p));
	l->offset = mg_parse_num(&p, 16);
	p = mg_skip_ws(p);
	unsigned ma = (unsigned)mg_parse_num(&p, 16);
	p++;
	unsigned mi = (unsigned)mg_parse_num(&p, 16);
	p = mg_skip_ws(p);
	l->dev = makedev(ma, mi);
	l->ino = (ino_t)mg_parse_num(&p, 10);
	l->path = mg_skip_ws(p);
}

/* The line shows the file (dev, ino) (its number as maps show it may differ: shown_dev.h). */
static bool line_is(const struct maps_line *l, pid_t self, dev_t dev, ino_t ino)
{
	return mg_shown_is_file(l->dev, l->ino, self, l->start, l->end, l->path, dev, ino,
				mg_shown_dev_kept(dev));
}

/* Whether any line of /proc/self/maps shows the file (a lease outlives the file's last window). */
static bool maps_file(dev_t dev, ino_t ino)
{
	if (!mg_lines_open(&lr, "/proc/self/maps"))
		return true;    /* cannot tell: as if it did */
	pid_t self = (pid_t)MG_SYS0(SYS_getpid);
	bool found = false;
	struct maps_line l;
	while (!found && mg_lines_next(&lr, line, sizeof line)) {
		parse_line(line, &l);
		found = line_is(&l, self, dev, ino);
	}
	mg_lines_close(&lr);
	return found;
}

static size_t file_windows(dev_t dev, ino_t ino, uint64_t old_size, uint64_t new_size, size_t *total)
{
	size_t n = 0, page = mg_page_size();
	*total = 0;
	if (!mg_lines_open(&lr, "/proc/self/maps"))
		return 0;
	uint64_t newr = (new_size + page - 1) / page * page;
	uint64_t oldr = (old_size + page - 1) / page * page;
	pid_t self = (pid_t)MG_SYS0(SYS_getpid);
	struct maps_line l;
	while (mg_lines_next(&lr, line, sizeof line)) {
		parse_line(line, &l);
		if (!line_is(&l, self, dev, ino))
			continue;
		uintptr_t a = l.start, e = l.end;
		uint64_t off = l.offset;
		const char *perms = l.perms;
		uint64_t wend = off + (e - a);
		uint64_t lim = wend < oldr ? wend : oldr;
		if (newr >= lim)
			continue;                       /* nothing backed becomes unbacked */
		(*total)++;
		if (n == MG_LEASE_WIN_MAX)
			continue;
		struct mg_lease_win *w = &wins[n++];
		w->start = a;
		w->end = e;
		w->offset = off;
		w->prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
			  (perms[2] == 'x' ? PROT_EXEC : 0);
		w->shared = perms[3] == 's';
		w->cut_from = newr > off ? a + (uintptr_t)(newr - off) : a;
		w->cut_to = a + (uintptr_t)(lim - off);
		w->rescued = false;
	}
	mg_lines_close(&lr);
	return n;
}

/* Replace [w->cut_from, w->cut_to) by an anonymous copy of its bytes, same address, same prot. */
static bool rescue(struct mg_lease_win *w)
{
	uintptr_t a = w->cut_from, b = w->cut_to;
	if (a >= b)
		return false;
	size_t len = b - a;
	long tmp = MG_SYS6(SYS_mmap, 0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (tmp < 0 && tmp > -4096)
		return false;
	bool readable = (w->prot & PROT_READ) != 0;
	if (!readable && MG_SYS3(SYS_mprotect, a, len, w->prot | PROT_READ) < 0) {
		MG_SYS2(SYS_munmap, tmp, len);
		return false;
	}
	memcpy((void *)tmp, (const void *)a, len);
	if (MG_SYS3(SYS_mprotect, tmp, len, w->prot) < 0 ||
	    MG_SYS6(SYS_mremap, tmp, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, a, 0) != (long)a) {
		if (!readable)
			MG_SYS3(SYS_mprotect, a, len, w->prot);
		MG_SYS2(SYS_munmap, tmp, len);
		return false;
	}
	mg_reg_remove_deferred(a, b);
	w->rescued = true;
	return true;
}

/* ---- cut history for SIGBUS records ----------------------------------------------------------- */

#define CUTS 16
static struct { unsigned seq; struct mg_lease_cut c; } cuts[CUTS];
static unsigned cuts_next;

static void remember(const struct mg_breaker *br, dev_t dev, ino_t ino, uint64_t size_before,
		     const struct timespec *now)
{
	unsigned i = __atomic_fetch_add(&cuts_next, 1, __ATOMIC_RELAXED) % CUTS;
	__atomic_fetch_add(&cuts[i].seq, 1, __ATOMIC_ACQ_REL);            /* odd: writing */
	struct mg_lease_cut *c = &cuts[i].c;
	c->dev = dev;
	c->ino = ino;
	c->pid = br->pid;
	c->uid = br->uid;
	memcpy(c->comm, br->comm, sizeof c->comm);
	size_t n = strlen(br->cmdline);
	if (n >= sizeof c->cmdline)
		n = sizeof c->cmdline - 1;
	memcpy(c->cmdline, br->cmdline, n);
	c->cmdline[n] = 0;
	c->call = br->call;
	c->has_size = br->known_size;
	c->size_before = size_before;
	c->size_after = br->size_after;
	c->time = *now;
	__atomic_fetch_add(&cuts[i].seq, 1, __ATOMIC_ACQ_REL);
}

bool mg_lease_find_cut(dev_t dev, ino_t ino, const struct timespec *not_before, uint64_t page_at,
		       uint64_t page_size, struct mg_lease_cut *out)
{
	bool found = false;
	struct timespec best = {0, 0};
	for (int i = 0; i < CUTS; i++) {
		unsigned s1 = __atomic_load_n(&cuts[i].seq, __ATOMIC_ACQUIRE);
		if (s1 == 0 || (s1 & 1))
			continue;
		struct mg_lease_cut c = cuts[i].c;
		if (__atomic_load_n(&cuts[i].seq, __ATOMIC_ACQUIRE) != s1)
			continue;
		if (c.dev != dev || c.ino != ino || mg_time_before(&c.time, not_before) ||
		    (c.has_size && !mg_cut_unbacks(c.size_after, page_at, page_size)))
			continue;
		if (!found || c.time.tv_sec > best.tv_sec ||
		    (c.time.tv_sec == best.tv_sec && c.time.tv_nsec > best.tv_nsec)) {
			*out = c;
			best = c.time;
			found = true;
		}
	}
	return found;
}

/* ---- the handler ----------------------------------------------------------------------------- */

static char path_buf[PATH_MAX];

static void handle_break(struct mg_lease_slot *s, const void *uc)
{
	int expect = MG_LEASE_HELD;
	if (!__atomic_compare_exchange_n(&s->state, &expect, MG_LEASE_BREAKING, false, __ATOMIC_ACQ_REL,
					  __ATOMIC_RELAXED))
		return;
	struct timespec t0, t1, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	clock_gettime(CLOCK_REALTIME, &now);
	struct stat st;
	uint64_t size_before = MG_SYS2(SYS_fstat, s->fd, &st) == 0 ? (uint64_t)st.st_size : 0;
	static struct mg_breaker br;
	pid_t pid = mg_breaker_find(s->dev, s->ino, &br);
	pid_t self = (pid_t)MG_SYS0(SYS_getpid);
	/* Nobody else: the call the signal interrupted on this thread may be the breaker. */
	if (!pid && mg_breaker_is_this_thread(uc, s->dev, s->ino))
		pid = self;
	/* This process's own open (the wrappers let the lease go before those they see, and judge
	 * them). A file this process no longer maps (its lease is kept for the next mapping):
	 * nothing to say, the lease goes. */
	bool quiet = pid == self || !maps_file(s->dev, s->ino);
	if (!quiet && pid)
		mg_breaker_describe(&br);
	size_t nwins = 0, total = 0, nrescued = 0;
	bool rescue_mode = mg_cfg.leases == MG_LEASES_RESCUE;
	if (!quiet) {
		mg_fd_path(s->fd, path_buf, sizeof path_buf);
		/*
		 * Which pages the call unbacks: the new size when the call could be read; when it could
		 * not (another user's process), every page, so that rescue keeps whatever the program
		 * could still read. A breaker nobody waits on has most likely failed already
		 * (O_NONBLOCK): watch does nothing; rescue, which cannot tell, assumes the worst.
		 */
		uint64_t new_size = br.known_size ? br.size_after : 0;
		/* In rescue mode a breaker that could not be named counts as one whose call cannot be
		 * read: the worst is assumed. */
		if ((pid && (br.cuts || !br.has_syscall)) || (!pid && rescue_mode))
			nwins = file_windows(s->dev, s->ino, size_before, new_size, &total);
		if (rescue_mode)
			for (size_t i = 0; i < nwins; i++)
				nrescued += rescue(&wins[i]);
	}
	MG_SYS3(SYS_fcntl, s->fd, F_SETLEASE, F_UNLCK);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	uint64_t held_us = (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000u +
			   (uint64_t)((t1.tv_nsec - t0.tv_nsec) / 1000);
	if (!quiet) {
		if (pid && br.cuts)
			remember(&br, s->dev, s->ino, size_before, &now);
		static struct mg_lease_break_facts f;
		static char rec[64u << 10];
		f = (struct mg_lease_break_facts){ .br = &br, .dev = s->dev, .ino = s->ino,
			.path = path_buf, .size_before = size_before, .wins = wins, .nwins = nwins,
			.total = total, .nrescued = nrescued, .rescue_mode = rescue_mode,
			.held_us = held_us, .page_size = mg_page_size() };
		mg_who_now(&f.who);
		f.who.time = now;
		mg_report_emit_signal(mg_format_lease_break, &f, rec, sizeof rec);
	}
	mg_lease_fd_close(s->fd, s->dev, s->ino);
	mg_lease_note(s->dev, s->ino, MG_IX_LEASE_WORD(MG_IX_LEASE_RELEASED, 0, 0));
	mg_lease_slot_name(s, 0, 0);
	__atomic_store_n(&s->state, MG_LEASE_FREE, __ATOMIC_RELEASE);
}

static void process_breaks(const void *uc)
{
	for (int i = 0; i < MG_LEASE_MAX; i++) {
		struct mg_lease_slot *s = &mg_lease_slots[i];
		if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != MG_LEASE_HELD)
			continue;
		if (MG_SYS3(SYS_fcntl, s->fd, F_GETLEASE, 0) != F_RDLCK)
			handle_break(s, uc);
	}
}

void mg_lease_handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	int saved = errno;
	mg_enter();
	__atomic_store_n(&pending, 1, __ATOMIC_RELEASE);
	while (__atomic_load_n(&pending, __ATOMIC_ACQUIRE) &&
	       !__atomic_exchange_n(&busy, 1, __ATOMIC_ACQUIRE)) {
		while (__atomic_exchange_n(&pending, 0, __ATOMIC_ACQ_REL))
			process_breaks(uc);
		__atomic_store_n(&busy, 0, __ATOMIC_RELEASE);
	}
	mg_leave();
	errno = saved;
}


void mg_lease_handler_atfork_child(void)
{
	busy = 0;
	pending = 0;
}

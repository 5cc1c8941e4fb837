#define _GNU_SOURCE
#include "scan.h"
#include "arena.h"
#include "birth.h"
#include "config.h"
#include "fmt.h"
#include "index.h"
#include "procfile.h"
#include "posix_locks.h"
#include "procmaps.h"
#include "real.h"
#include "registry.h"
#include "rule.h"
#include "scan_recent.h"
#include "shown_dev.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>

#ifndef F_SETLEASE
#define F_SETLEASE 1024
#endif
#ifndef F_SETSIG
#define F_SETSIG 10
#endif
#ifndef F_GETLEASE
#define F_GETLEASE 1025
#endif

#define MAPS_BUF (64u << 10)

/*
 * Nobody else has the file open or mapped, proven by taking a write lease and letting it go at
 * once (the file's owner or CAP_LEASE only). A lease broken in that instant sends its holder a
 * signal: SIGURG, ignored by default, instead of SIGIO, which would kill the program.
 */
static bool lease_alone(int dirfd, const char *path, dev_t dev, ino_t ino)
{
	/* its close would release the program's record locks on the file: the scan answers instead */
	if (mg_posix_locked(dev, ino))
		return false;
	long fd = MG_SYS4(SYS_openat, dirfd, path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, 0);
	if (fd < 0)
		return false;
	struct stat st;
	bool alone = MG_SYS2(SYS_fstat, fd, &st) == 0 && st.st_dev == dev && st.st_ino == ino &&
		     MG_SYS3(SYS_fcntl, fd, F_SETSIG, SIGURG) == 0 &&
		     MG_SYS3(SYS_fcntl, fd, F_SETLEASE, F_WRLCK) == 0;
	MG_SYS1(SYS_close, fd);         /* releases the lease */
	return alone;
}

/*
 * The same proof through the program's own descriptor (ftruncate): no other open file description
 * may exist, and the descriptor's own one may be writable. Its owner and signal, which taking a
 * lease changes, are put back. A process that shares this very description (inherited across
 * fork) is not counted by the kernel: its mappings of it go unseen (DESIGN.md).
 *
 * What is put back is only what changed: a lease that was not granted leaves the owner as it was;
 * letting one go sets the owner to none (F_OWNER_PID, 0) and the signal to 0 (the kernel's
 * lease_modify), so a signal that was 0 needs no call. Seven calls where eight were, six when the
 * program's owner was already that.
 */
static bool lease_alone_fd(int fd)
{
	struct f_owner_ex owner;
	/* a lease the program holds itself on this description must stay as it is */
	if (MG_SYS2(SYS_fcntl, fd, F_GETLEASE) != F_UNLCK ||
	    MG_SYS3(SYS_fcntl, fd, F_GETOWN_EX, &owner) < 0)
		return false;
	long sig = MG_SYS2(SYS_fcntl, fd, F_GETSIG);
	if (sig < 0 || MG_SYS3(SYS_fcntl, fd, F_SETSIG, SIGURG) < 0)
		return false;
	bool alone = MG_SYS3(SYS_fcntl, fd, F_SETLEASE, F_WRLCK) == 0;
	if (alone)
		MG_SYS3(SYS_fcntl, fd, F_SETLEASE, F_UNLCK);
	if (!alone || sig != 0)
		MG_SYS3(SYS_fcntl, fd, F_SETSIG, sig);
	if (alone && (owner.type != F_OWNER_PID || owner.pid != 0))
		MG_SYS3(SYS_fcntl, fd, F_SETOWN_EX, &owner);
	return alone;
}

static void proc_path(char *out, size_t cap, pid_t pid, const char *leaf)
{
	struct mg_buf b;
	mg_buf_init(&b, out, cap);
	mg_buf_puts(&b, "/proc/");
	mg_buf_u64(&b, (uint64_t)pid);
	mg_buf_putc(&b, '/');
	mg_buf_puts(&b, leaf);
	out[b.len < cap ? b.len : cap - 1] = 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- one process ---------------------------------------------------------------------------- */

struct maps_pass {
	dev_t dev;
	dev_t shown;                    /* the number /proc/PID/maps shows for dev (shown_dev.h) */
	ino_t ino;
	uint64_t birth;                 /* the file's birth (birth.h), 0: not known */
	bool born_apart;                /* pid's index: its windows of the file have another birth */
	pid_t pid;                      /* whose maps are read */
	uint64_t old_size, new_size, page;
	bool any;
	uint64_t extent;                /* how far into the file any other process's window reaches */
	struct mg_victim *v;
	char ix_prefix[32];             /* "PID-" : the basename of its index file starts so */
	bool ix_found;
	dev_t want_dev;                 /* the index file that named this process (scope guarded) */
	ino_t want_ino;
	dev_t ix_dev;
	ino_t ix_ino;
	char ix_path[512];
};

static int perms_prot(const char *p)
{
	return (p[0] == 'r' ? PROT_READ : 0) | (p[1] == 'w' ? PROT_WRITE : 0) |
	       (p[2] == 'x' ? PROT_EXEC : 0);
}

static bool is_index_file(const struct maps_pass *m, const char *path)
{
	const char *base = strrchr(path, '/');
	if (!base)
		return false;
	base++;
	size_t n = strlen(m->ix_prefix);
	if (strncmp(base, m->ix_prefix, n) != 0 || !base[n])
		return false;
	for (const char *p = base + n; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	return true;
}

static bool collect_window(const struct mg_vma *vma, void *arg)
{
	struct maps_pass *m = arg;
	if (vma->ino == 0)
		return true;
	if (!m->ix_found && vma->perms[3] == 's' && is_index_file(m, vma->path)) {
		m->ix_found = true;
		m->ix_dev = vma->dev;
		m->ix_ino = vma->ino;
		size_t n = strnlen(vma->path, sizeof m->ix_path - 1);
		memcpy(m->ix_path, vma->path, n);
		m->ix_path[n] = 0;
	}
	if (!mg_shown_is_file(vma->dev, vma->ino, m->pid, vma->start, vma->end, vma->path, m->dev,
			      m->ino, m->shown))
		return true;
	uint64_t len = vma->end - vma->start;
	if (vma->offset + len > m->extent)
		m->extent = vma->offset + len;
	if (!m->any && !mg_rule_pages_cut(vma->offset, len, m->old_size, m->new_size, m->page))
		return true;
	struct mg_victim *v = m->v;
	if (v->nwindows < MG_VICTIM_WINDOWS) {
		struct mg_victim_window *w = &v->w[v->nwindows++];
		w->start = vma->start;
		w->end = vma->end;
		w->offset = vma->offset;
		w->prot = perms_prot(vma->perms);
		w->shared = vma->perms[3] == 's';
		w->pages_beyond = m->any ? 0 : mg_rule_pages_beyond(vma->offset, len, m->new_size, m->page);
		w->created_here = false;
	}
	v->nwindows_total++;
	return true;
}

struct frames_pass {
	struct mg_victim *v;
	size_t nmodules;
};

/* Return addresses to module + file offset, with the mappings the victim has now. */
static bool resolve_frames(const struct mg_vma *vma, void *arg)
{
	struct frames_pass *f = arg;
	struct mg_victim *v = f->v;
	if (!vma->path[0] || vma->path[0] == '[')
		return true;
	for (uint32_t i = 0; i < v->nframes; i++) {
		struct mg_victim_frame *fr = &v->frames[i];
		if (fr->module >= 0 || fr->ip < vma->start || fr->ip >= vma->end)
			continue;
		int m = -1;
		for (size_t k = 0; k < f->nmodules; k++)
			if (strcmp(v->modules[k], vma->path) == 0)
				m = (int)k;
		if (m < 0 && f->nmodules < MG_VICTIM_MODULES) {
			size_t n = strnlen(vma->path, sizeof v->modules[0] - 1);
			memcpy(v->modules[f->nmodules], vma->path, n);
			v->modules[f->nmodules][n] = 0;
			m = (int)f->nmodules++;
		}
		if (m >= 0) {
			fr->module = m;
			fr->module_offset = fr->ip - vma->start + vma->offset;
		}
	}
	return true;
}

static bool read_exact(long fd, void *dst, size_t n, uint64_t off)
{
	return MG_SYS4(SYS_pread64, fd, dst, n, off) == (long)n;
}

/* Slot k of the index file fd (header h) names the file: are its windows all of another birth? */
static void born_apart(struct maps_pass *m, long fd, const struct mg_ix_header *h, uint32_t k)
{
	struct mg_ix_birth b;
	if (!m->birth || !h->births_at || h->births_at < sizeof *h ||
	    !read_exact(fd, &b, sizeof b, h->births_at + (uint64_t)k * sizeof b))
		return;
	m->born_apart = b.seq == b.seq_end && !(b.seq & 1) && b.dev == (uint64_t)m->dev &&
			b.ino == (uint64_t)m->ino && !mg_birth_same(b.birth, m->birth);
}

/*
 * The guarded victim's own index file (its name and inode as its maps show them): the creation of
 * the window of (dev, ino) that needs the most, and whether its windows of the file were born
 * apart from it (born_apart). Whatever the file says is only a hint.
 */
static void read_creation(struct maps_pass *m, struct mg_victim *v, char *buf)
{
	long fd = MG_SYS4(SYS_openat, AT_FDCWD, m->ix_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0);
	if (fd < 0)
		return;
	struct stat st;
	struct mg_ix_header h;
	if (MG_SYS2(SYS_fstat, fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_dev != m->ix_dev ||
	    st.st_ino != m->ix_ino || !read_exact(fd, &h, sizeof h, 0) || h.magic != MG_IX_MAGIC ||
	    h.version != MG_IX_VERSION || h.slot_size != sizeof(struct mg_ix_slot) ||
	    h.header_size != sizeof h || h.pid != v->pid) {
		MG_SYS1(SYS_close, fd);
		return;
	}
	v->guarded = true;
	uint32_t hw = mg_ix_hiwater(&h, NULL);
	struct mg_ix_slot *s = (struct mg_ix_slot *)buf;
	size_t per = MAPS_BUF / sizeof *s;
	for (uint32_t i = 0; i < hw && !v->has_creation; i += (uint32_t)per) {
		uint32_t k = hw - i < per ? hw - i : (uint32_t)per;
		long got = MG_SYS4(SYS_pread64, fd, s, k * sizeof *s, sizeof h + (uint64_t)i * sizeof *s);
		if (got <= 0)
			break;
		k = (uint32_t)((size_t)got / sizeof *s);
		for (uint32_t j = 0; j < k; j++) {
			const struct mg_ix_slot *e = &s[j];
			if (e->seq != e->seq_end || (e->seq & 1) || !e->used || e->dev != (uint64_t)m->dev ||
			    e->ino != (uint64_t)m->ino)
				continue;
			born_apart(m, fd, &h, i + j);
			v->has_creation = true;
			v->tid = e->tid;
			v->made_in_pid = e->made_in_pid > 0 && e->made_in_pid != v->pid ? e->made_in_pid : 0;
			memcpy(v->thread_name, e->thread_name, sizeof v->thread_name);
			v->thread_name[sizeof v->thread_name - 1] = 0;
			v->created.tv_sec = e->created_sec;
			v->created.tv_nsec = e->created_nsec >= 0 && e->created_nsec < 1000000000 ? e->created_nsec : 0;
			v->nframes = e->nframes < MG_IX_FRAMES ? e->nframes : MG_IX_FRAMES;
			for (uint32_t f = 0; f < v->nframes; f++) {
				v->frames[f].ip = (uintptr_t)e->ip[f];
				v->frames[f].module = -1;
				v->frames[f].module_offset = 0;
			}
			/* The kernel may show that window as several VMAs (the loader's segments,
			 * mprotect): the stack goes to the last one of them. */
			struct mg_victim_window *best = NULL;
			for (size_t w = 0; w < v->nwindows; w++)
				if (v->w[w].start < e->start + e->length && e->start < v->w[w].end &&
				    (!best || v->w[w].end > best->end))
					best = &v->w[w];
			if (best)
				best->created_here = true;
			break;
		}
	}
	MG_SYS1(SYS_close, fd);
}

/*
 * /proc/PID/maps decides: does pid map (dev, ino) with a page the cut unbacks? Then fill the next
 * victim slot (or only count it when they are full). need_ix: a hint from the index names this
 * process; it counts only if the process still maps its index file (not dead, not exec'd).
 */
static bool check_process(pid_t pid, struct maps_pass *m, struct mg_victims *out, char *buf,
			  bool need_ix)
{
	struct mg_victim *v = &out->v[out->n < MG_VICTIMS_MAX ? out->n : MG_VICTIMS_MAX - 1];
	struct mg_victim spare;
	if (out->n >= MG_VICTIMS_MAX)
		v = &spare;
	memset(v, 0, sizeof *v);
	v->pid = pid;
	m->v = v;
	m->pid = pid;
	m->ix_found = false;
	struct mg_buf b;
	mg_buf_init(&b, m->ix_prefix, sizeof m->ix_prefix);
	mg_buf_u64(&b, (uint64_t)pid);
	mg_buf_putc(&b, '-');
	m->ix_prefix[b.len] = 0;
	char path[64];
	proc_path(path, sizeof path, pid, "maps");
	if (mg_maps_foreach(path, buf, MAPS_BUF, collect_window, m) < 0 || v->nwindows_total == 0)
		return false;
	if (need_ix && (!m->ix_found || m->ix_dev != mg_shown_dev_kept(m->want_dev) ||
			m->ix_ino != m->want_ino))
		return false;           /* gone, exec'd, or a pid reused: the entry does not count */
	m->born_apart = false;
	bool read = m->ix_found && m->birth;
	if (read) {
		/* overlayfs: the process says whether its windows show a lower layer's file */
		read_creation(m, v, buf);
		if (m->born_apart)
			return false;
	}
	out->total++;
	if (v == &spare)
		return true;
	out->n++;
	struct stat st;
	proc_path(path, sizeof path, pid, "");
	v->uid = MG_SYS4(SYS_newfstatat, AT_FDCWD, path, &st, 0) == 0 ? st.st_uid : (uid_t)-1;
	proc_path(path, sizeof path, pid, "maps");
	mg_proc_text(pid, "comm", v->comm, sizeof v->comm, false);
	mg_proc_text(pid, "exe", v->exe, sizeof v->exe, true);
	if (m->ix_found) {
		if (!read)
			read_creation(m, v, buf);
		const char *slash = strrchr(m->ix_path, '/');
		if (v->guarded && slash && slash > m->ix_path) {
			memcpy(v->ixdir, m->ix_path, (size_t)(slash - m->ix_path));
			v->ixdir[slash - m->ix_path] = 0;
		}
		if (v->has_creation) {
			struct frames_pass f = { v, 0 };
			mg_maps_foreach(path, buf, MAPS_BUF, resolve_frames, &f);
		}
	}
	return true;
}

/* ---- whom to ask ---------------------------------------------------------------------------- */

static bool numeric(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return true;
}

static bool already_found(const struct mg_victims *out, pid_t pid)
{
	for (size_t i = 0; i < out->n; i++)
		if (out->v[i].pid == pid)
			return true;
	return false;
}

struct walk {
	struct maps_pass *m;
	struct mg_victims *out;
	char *buf;
	uint64_t deadline;
	pid_t self;
	uid_t uid;
	long dfd;
};

/* Past the time bound the walk stops and the answer is incomplete. */
static bool in_time(struct walk *w)
{
	if (now_ms() < w->deadline)
		return true;
	w->out->incomplete = true;
	return false;
}

static bool proc_entry(char *name, void *arg)
{
	struct walk *w = arg;
	uint64_t pid;
	if (!numeric(name, &pid) || pid == (uint64_t)w->self || pid > INT32_MAX ||
	    already_found(w->out, (pid_t)pid))
		return true;
	if (!in_time(w))
		return false;
	check_process((pid_t)pid, w->m, w->out, w->buf, false);
	return true;
}

/* Every readable process (scope all): their maps are the truth, guarded or not. */
static void scan_proc(struct maps_pass *m, struct mg_victims *out, char *buf, uint64_t deadline)
{
	long dfd = MG_SYS4(SYS_openat, AT_FDCWD, "/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (dfd < 0) {
		out->incomplete = true;
		return;
	}
	struct walk w = { m, out, buf, deadline, (pid_t)MG_SYS0(SYS_getpid), 0, dfd };
	char dents[4096];
	mg_dir_each(dfd, dents, sizeof dents, proc_entry, &w);
	MG_SYS1(SYS_close, dfd);
}

/* Does the index file (as read) name (dev, ino) with a size the cut goes under? */
static bool index_names(long fd, const struct maps_pass *m, char *buf)
{
	struct mg_ix_header h;
	if (!read_exact(fd, &h, sizeof h, 0) || h.magic != MG_IX_MAGIC || h.version != MG_IX_VERSION ||
	    h.slot_size != sizeof(struct mg_ix_slot) || h.header_size != sizeof h)
		return false;
	bool unlisted;
	uint32_t hw = mg_ix_hiwater(&h, &unlisted);
	if (unlisted)
		return true;            /* not every file is listed: ask /proc */
	struct mg_ix_slot *s = (struct mg_ix_slot *)buf;
	size_t per = MAPS_BUF / sizeof *s;
	uint64_t limit = mg_round_up(m->new_size, m->page);
	for (uint32_t i = 0; i < hw; i += (uint32_t)per) {
		uint32_t k = hw - i < per ? hw - i : (uint32_t)per;
		long got = MG_SYS4(SYS_pread64, fd, s, k * sizeof *s, sizeof h + (uint64_t)i * sizeof *s);
		if (got <= 0)
			return false;
		k = (uint32_t)((size_t)got / sizeof *s);
		/* A slot being rewritten still names its file: the hint errs on the side of asking. */
		for (uint32_t j = 0; j < k; j++)
			if (s[j].used && s[j].dev == (uint64_t)m->dev && s[j].ino == (uint64_t)m->ino &&
			    (m->any || s[j].safe_size > limit))
				return true;
	}
	return false;
}

/* The entry of a process that is gone (or whose pid now names another process) is removed. */
static void maybe_reclaim(int dfd, const char *name, pid_t pid, uint64_t start)
{
	if (MG_SYS2(SYS_kill, pid, 0) == -ESRCH || mg_proc_start_time(pid) != start)
		MG_SYS3(SYS_unlinkat, dfd, name, 0);
}

static bool index_entry(char *name, void *arg)
{
	struct walk *w = arg;
	char *dash = strchr(name, '-');
	uint64_t pid, start;
	if (!dash)
		return true;
	*dash = 0;
	bool ok = numeric(name, &pid) && numeric(dash + 1, &start);
	*dash = '-';
	if (!ok || pid == (uint64_t)w->self || pid == 0 || pid > INT32_MAX)
		return true;
	if (!in_time(w))
		return false;
	long fd = MG_SYS4(SYS_openat, w->dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0);
	if (fd < 0)
		return true;
	struct stat st;
	bool named = MG_SYS2(SYS_fstat, fd, &st) == 0 && S_ISREG(st.st_mode) &&
		     st.st_uid == w->uid && index_names(fd, w->m, w->buf);
	if (named)      /* its maps show the index file by this number */
		mg_shown_dev((int)fd, -1, NULL, st.st_dev);
	MG_SYS1(SYS_close, fd);
	w->m->want_dev = st.st_dev;
	w->m->want_ino = st.st_ino;
	if (!named || !check_process((pid_t)pid, w->m, w->out, w->buf, true))
		maybe_reclaim((int)w->dfd, name, (pid_t)pid, start);
	return true;
}

/* Processes of the index (scope guarded): the index points, /proc confirms. */
static void scan_index(struct maps_pass *m, struct mg_victims *out, char *buf, uint64_t deadline)
{
	int dfd = mg_index_dir_open(NULL);
	if (dfd < 0)
		return;
	struct walk w = { m, out, buf, deadline, (pid_t)MG_SYS0(SYS_getpid),
			  (uid_t)MG_SYS0(SYS_geteuid), dfd };
	char dents[4096];
	mg_dir_each(dfd, dents, sizeof dents, index_entry, &w);
	MG_SYS1(SYS_close, dfd);
}

/*
 * overlayfs: a mapping holds the layer's own file, not the overlay's, so once its descriptor is
 * closed the overlay file counts no other opener and a write lease is granted while another
 * process still maps it. Only a device number without a disk behind it (major 0) is asked.
 */
static bool on_overlay(int fd, int dirfd, const char *path, dev_t dev)
{
	if (major(dev) != 0)
		return false;
	long type = mg_fs_type(fd, dirfd, path);
	return type == 0 || type == OVERLAYFS_SUPER_MAGIC;      /* unknown: no proof either */
}

bool mg_scan_alone(int fd, int dirfd, const char *path, dev_t dev, ino_t ino)
{
	if (mg_cfg.scope == MG_SCOPE_PROCESS || on_overlay(fd, dirfd, path, dev))
		return false;
	return fd >= 0 ? lease_alone_fd(fd) : path && lease_alone(dirfd, path, dev, ino);
}

void mg_victims_init(struct mg_victims *out, bool alone)
{
	out->scope = mg_cfg.scope == MG_SCOPE_ALL ? "all" : "guarded";
	out->alone = alone;
	out->incomplete = false;
	out->n = out->total = 0;
}

size_t mg_scan_victims(dev_t dev, dev_t shown, ino_t ino, uint64_t birth, uint64_t old_size,
		       uint64_t new_size, bool any, struct mg_victims *out)
{
	mg_victims_init(out, false);
	if (mg_cfg.scope == MG_SCOPE_PROCESS)
		return 0;
	char *buf = mg_pages_alloc(MAPS_BUF);
	if (!buf) {
		out->incomplete = true;
		return 0;
	}
	struct maps_pass m;
	memset(&m, 0, sizeof m);
	m.dev = dev;
	m.shown = shown;
	m.ino = ino;
	m.birth = birth;
	m.old_size = old_size;
	m.new_size = new_size;
	m.page = mg_page_size();
	m.any = any;
	uint64_t start = now_ms(), deadline = start + (uint64_t)mg_cfg.scan_ms;
	/* The index first (a few small files): guarded victims are found even when the walk of
	 * every process's maps runs out of time. */
	scan_index(&m, out, buf, deadline);
	/* A walk that ended a moment ago with no window past this cut answers for this one too. */
	uint64_t limit = any ? 0 : mg_round_up(new_size, m.page);
	if (mg_cfg.scope == MG_SCOPE_ALL && !out->incomplete &&
	    !mg_scan_recent_clear(dev, ino, limit, start)) {
		scan_proc(&m, out, buf, deadline);
		if (!out->incomplete)
			mg_scan_recent_put(dev, ino, m.extent, start);
	}
	mg_pages_free(buf, MAPS_BUF);
	return out->total;
}

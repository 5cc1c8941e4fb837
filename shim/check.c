#define _GNU_SOURCE
#include "check.h"
#include "birth.h"
#include "api.h"
#include "arena.h"
#include "backtrace.h"
#include "config.h"
#include "dlmaps.h"
#include "history.h"
#include "index.h"
#include "page.h"
#include "posix_locks.h"
#include "procmaps.h"
#include "real.h"
#include "registry.h"
#include "report.h"
#include "scan.h"
#include "shown_dev.h"
#include "suppress.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <linux/stat.h>
#include <string.h>
#include <sys/syscall.h>

#ifndef AT_EACCESS
#define AT_EACCESS 0x200
#endif

/* The kernel refuses to resize through a descriptor not open for writing (EINVAL / EBADF). */
bool mg_fails_fd_not_writable(const struct mg_target *t)
{
	long fl = MG_SYS2(SYS_fcntl, t->fd, F_GETFL);
	return fl < 0 || (fl & O_PATH) || (fl & O_ACCMODE) == O_RDONLY;
}

/* Truncating by path (truncate, O_TRUNC) needs write permission: EACCES / EROFS cut nothing. */
bool mg_fails_path_not_writable(const struct mg_target *t)
{
	long acc = MG_SYS4(SYS_faccessat2, t->dirfd, t->path, W_OK, AT_EACCESS);
	return acc < 0 && acc != -ENOSYS;
}

bool mg_fails_reopen_not_writable(const struct mg_target *t)
{
	char link[64];
	struct mg_buf b;
	mg_buf_init(&b, link, sizeof link);
	mg_buf_puts(&b, "/proc/self/fd/");
	mg_buf_u64(&b, (uint64_t)t->fd);
	struct mg_target named = { t->call, -1, AT_FDCWD, link, t->detail, NULL };
	return mg_fails_path_not_writable(&named);
}

/* The filesystem of what the call names (0 if unknown). */
static long fs_type(const struct mg_target *t)
{
	return mg_fs_type(t->fd, t->dirfd, t->path);
}

/* F_SEAL_SHRINK: only memfd and shmem/hugetlbfs files carry seals. */
static bool sealed_against_shrink(const struct mg_target *t)
{
	long type = fs_type(t);
	if (type != TMPFS_MAGIC && type != (long)HUGETLBFS_MAGIC)
		return false;
	long fd = t->fd;
	if (fd < 0) {
		/* a descriptor of a file the program holds record locks on is never closed: not asked */
		struct stat st;
		if (mg_fstatat(t->dirfd, t->path, &st, 0) < 0 || mg_posix_locked(st.st_dev, st.st_ino))
			return false;
		fd = MG_SYS4(SYS_openat, t->dirfd, t->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0);
		if (fd < 0)
			return false;
	}
	long seals = MG_SYS2(SYS_fcntl, fd, F_GET_SEALS);
	if (t->fd < 0)
		MG_SYS1(SYS_close, fd);
	return seals > 0 && (seals & F_SEAL_SHRINK);
}

/*
 * Cuts the kernel refuses whatever the mapping (EPERM): an append-only or immutable file, a file
 * sealed against shrinking. Such a call cuts nothing, so it is no violation and keeps its errno.
 */
static bool kernel_refuses_shrink(const struct mg_target *t)
{
	struct statx sx;
	long r = t->fd >= 0 ? MG_SYS6(SYS_statx, t->fd, "", AT_EMPTY_PATH, 0, &sx, 0)
			    : MG_SYS6(SYS_statx, t->dirfd, t->path, 0, 0, &sx, 0);
	if (r == 0 && (sx.stx_attributes & sx.stx_attributes_mask &
		       (STATX_ATTR_APPEND | STATX_ATTR_IMMUTABLE)))
		return true;
	return sealed_against_shrink(t);
}

static bool birth(const struct mg_target *t, struct statx *sx)
{
	return MG_SYS6(SYS_statx, t->dirfd, t->path, 0, STATX_BTIME, sx, 0) == 0 &&
	       (sx->stx_mask & STATX_BTIME);
}

/*
 * On overlayfs, the birth of the file the call cuts (birth.h): a window whose file had another
 * birth (of this process; of another, as its index says) maps a lower layer's file that an
 * earlier write copied up, and the cut of the copy leaves it whole. 0 elsewhere.
 */
static uint64_t cut_birth(const struct mg_target *t, dev_t dev)
{
	return mg_overlay_birth(t->fd, t->dirfd, t->path, dev);
}

/*
 * overlayfs (a container's root): the first write to a file of a lower layer copies it up, and a
 * cut reaches only the copy; every mapping made before shows the lower file and never faults. A
 * call naming a path would copy it up itself: an open for writing does it now (the call's own
 * effect, a moment early), and a birth time that changed (the copy's, where the path showed the
 * lower file's) says it just happened, so no mapping that exists, in any process, is cut. A file
 * already copied up keeps its birth time: the cut is checked as on any filesystem.
 */
static bool copied_up_now(const struct mg_target *t)
{
	struct statx before, after;
	if (t->fd >= 0 || fs_type(t) != OVERLAYFS_SUPER_MAGIC || !birth(t, &before))
		return false;
	long fd = MG_SYS4(SYS_openat, t->dirfd, t->path, O_WRONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0);
	if (fd < 0)
		return false;
	MG_SYS1(SYS_close, fd);
	return birth(t, &after) && (after.stx_btime.tv_sec != before.stx_btime.tv_sec ||
				    after.stx_btime.tv_nsec != before.stx_btime.tv_nsec);
}

/* Does this filesystem implement FALLOC_FL_COLLAPSE_RANGE? (Others answer EOPNOTSUPP.) */
bool mg_collapse_supported(int fd)
{
	long type = mg_fs_type(fd, -1, NULL);
	if (!type)
		return true;    /* unknown: assume the cut happens */
	switch ((unsigned long)type) {
	case EXT4_SUPER_MAGIC: {
		/* ext4 collapses extent-mapped files only (not ext2/ext3-style block maps) */
		int attr = 0;
		return MG_SYS3(SYS_ioctl, fd, FS_IOC_GETFLAGS, &attr) < 0 || (attr & FS_EXTENT_FL);
	}
	case XFS_SUPER_MAGIC:
	case F2FS_SUPER_MAGIC:
	case CIFS_SUPER_MAGIC:
	case SMB2_SUPER_MAGIC:
	case 0x7366746eul:      /* ntfs3 */
	case 0xca451a4eul:      /* bcachefs */
		return true;
	default:
		return false;
	}
}

/* The absolute path of what the call names (not resolving symlinks of the last component). */
static void target_path(const struct mg_target *t, char *out, size_t cap)
{
	struct mg_buf b;
	mg_buf_init(&b, out, cap);
	char link[64], tmp[PATH_MAX];
	int dir = -1;
	if (t->fd >= 0) {
		dir = t->fd;
	} else if (t->path && t->path[0] == '/') {
		mg_buf_puts(&b, t->path);
		return;
	} else if (t->dirfd != AT_FDCWD) {
		dir = t->dirfd;
	}
	long n;
	if (dir >= 0) {
		struct mg_buf lb;
		mg_buf_init(&lb, link, sizeof link);
		mg_buf_puts(&lb, "/proc/self/fd/");
		mg_buf_u64(&lb, (uint64_t)dir);
		n = MG_SYS4(SYS_readlinkat, AT_FDCWD, link, tmp, sizeof tmp - 1);
	} else {
		n = MG_SYS2(SYS_getcwd, tmp, sizeof tmp);
		if (n > 0)
			n = (long)strlen(tmp);
	}
	if (n > 0) {
		mg_buf_putn(&b, tmp, (size_t)n);
	} else if (t->fd >= 0) {
		mg_buf_puts(&b, "(fd ");
		mg_buf_u64(&b, (uint64_t)t->fd);
		mg_buf_puts(&b, ")");
	}
	if (t->fd < 0 && t->path) {
		if (b.len == 0 || b.p[b.len - 1] != '/')
			mg_buf_putc(&b, '/');
		mg_buf_puts(&b, t->path);
	}
}

/* Names of the windows as the kernel shows them (the file may have been renamed or unlinked). */
static void resolve_window_paths(struct mg_event *e)
{
	for (size_t i = 0; i < e->nwindows; i++) {
		struct mg_vma v = { .path = e->window_path[i], .path_cap = sizeof e->window_path[i] };
		if (!mg_vma_find(e->windows[i].start, &v))
			e->window_path[i][0] = 0;
	}
}

/*
 * The event of call t on the file st (a cut to new_size when sizes, else a reopen), with the
 * caller's stack. NULL when there is no memory for it (counted as dropped) or the call is
 * suppressed (*suppressed: shim/suppress.h). The caller holds the guard. birth: cut_birth's.
 */
static struct mg_event *event_start(const char *kind, const struct mg_target *t, const struct stat *st,
				    bool sizes, uint64_t new_size, uint64_t birth,
				    struct mg_victims *victims, bool *suppressed)
{
	*suppressed = false;
	struct mg_event *e = mg_pages_alloc(sizeof *e);
	if (!e) {
		__atomic_add_fetch(&mg_reports_dropped, 1, __ATOMIC_RELAXED);
		return NULL;
	}
	e->victims = victims;           /* still the caller's to free if no event comes of it */
	e->event = kind;
	e->call = t->call;
	e->detail = t->detail;
	e->dev = st->st_dev;
	e->ino = st->st_ino;
	e->has_sizes = sizes;
	e->size_before = sizes ? (uint64_t)st->st_size : 0;
	e->size_after = sizes ? new_size : 0;
	target_path(t, e->path, sizeof e->path);
	const char *why = mg_suppressed(e->dev, e->ino, e->path);
	mg_bt_load();   /* the loader's windows exist before any mapping loaded the unwinder */
	mg_bt_capture(&e->stack);
	/* The windows it names: those the cut endangers, or for a reopen every live one. */
	mg_reg_lock();
	e->nwindows_total = sizes
		? mg_reg_endangered_locked(e->dev, e->ino, birth, e->size_before, e->size_after, e->windows,
					   MG_REPORT_WINDOWS)
		: mg_reg_windows_locked(e->dev, e->ino, e->windows, MG_REPORT_WINDOWS);
	mg_reg_unlock();
	e->nwindows = e->nwindows_total < MG_REPORT_WINDOWS ? e->nwindows_total : MG_REPORT_WINDOWS;
	/* API, MMAPGUARD_SUPPRESS or a rule: counted (and recorded), neither reported nor refused */
	if ((!sizes || e->nwindows_total) && mg_suppress_decide(e, why)) {
		e->victims = NULL;
		mg_pages_free(e, sizeof *e);
		*suppressed = true;
		return NULL;
	}
	return e;
}

static void event_free(struct mg_event *e)
{
	if (e->victims)
		mg_pages_free(e->victims, sizeof *e->victims);
	mg_pages_free(e, sizeof *e);
}

/*
 * Other processes this call would hurt (MMAPGUARD_SCOPE guarded or all); NULL with scope process.
 * alone: a write lease already proved there are none (no scan; the record still says so).
 */
static struct mg_victims *find_victims(const struct mg_target *t, const struct stat *st,
				       uint64_t new_size, uint64_t birth, bool alone)
{
	if (mg_cfg.scope == MG_SCOPE_PROCESS)
		return NULL;
	struct mg_victims *v = mg_pages_alloc(sizeof *v);
	if (!v)
		return NULL;
	if (alone)
		mg_victims_init(v, true);
	else
		mg_scan_victims(st->st_dev, mg_shown_dev(t->fd, t->dirfd, t->path, st->st_dev),
				st->st_ino, birth, (uint64_t)st->st_size, new_size, false, v);
	return v;
}

/*
 * An allowed cut in the shared index's cut history: a SIGBUS in another process can name it. Root's
 * cut goes to the history of each other user whose process it reaches, too.
 */
static void record_cut(const struct mg_trunc_record *h, const struct mg_victims *v)
{
	struct mg_cut_reader readers[MG_VICTIMS_MAX];
	size_t n = 0;
	if (v && MG_SYS0(SYS_geteuid) == 0)
		for (size_t i = 0; i < v->n && i < MG_VICTIMS_MAX; i++) {
			const struct mg_victim *x = &v->v[i];
			bool skip = !x->guarded || !x->ixdir[0] || x->uid == 0 || x->uid == (uid_t)-1;
			for (size_t k = 0; k < n && !skip; k++)
				skip = strcmp(readers[k].dir, x->ixdir) == 0;
			if (!skip)
				readers[n++] = (struct mg_cut_reader){ x->uid, x->ixdir };
		}
	mg_report_lock();
	mg_index_record_cut(h, readers, n);
	mg_report_unlock();
}

/*
 * A cut that hurts nobody the scan could see, but the scan stopped at its time bound: kept in the
 * cut history all the same.
 */
static void remember_unseen(const struct mg_target *t, const struct stat *st, uint64_t new_size)
{
	if (t->fails && t->fails(t))
		return;
	struct mg_trunc_record h;
	memset(&h, 0, sizeof h);
	h.dev = st->st_dev;
	h.ino = st->st_ino;
	h.call = t->call;
	h.size_before = (uint64_t)st->st_size;
	h.size_after = new_size;
	struct mg_who who;
	mg_who_now(&who);
	h.tid = who.tid;
	memcpy(h.thread_name, who.thread_name, sizeof h.thread_name);
	h.time = who.time;
	mg_bt_load();
	mg_bt_capture(&h.stack);
	record_cut(&h, NULL);
}

/* Report e, refused or let through; an allowed cut is remembered for a SIGBUS that follows. */
static int finish(struct mg_event *e, bool refuse)
{
	e->blocked = refuse;
	e->err = refuse ? mg_cfg.block_errno : 0;
	mg_who_now(&e->who);
	e->page_size = mg_page_size();
	if (e->has_sizes && !refuse) {
		struct mg_trunc_record h;
		memset(&h, 0, sizeof h);
		h.dev = e->dev;
		h.ino = e->ino;
		h.call = e->call;
		h.size_before = e->size_before;
		h.size_after = e->size_after;
		h.pid = e->who.pid;
		h.tid = e->who.tid;
		memcpy(h.thread_name, e->who.thread_name, sizeof h.thread_name);
		h.time = e->who.time;
		h.stack = e->stack;
		mg_history_add(&h);
		mg_dl_cut_allowed(e->windows, e->nwindows);
		record_cut(&h, e->victims);
	}
	resolve_window_paths(e);
	mg_report_emit(mg_format_event, e);
	mg_api_notify(e);
	event_free(e);
	return refuse ? MG_REFUSE : MG_REPORTED;
}

/* A refused call fails with the configured errno; otherwise the host's errno is kept. */
static int verdict(int r, int saved)
{
	mg_leave();
	errno = r == MG_REFUSE ? mg_cfg.block_errno : saved;
	return r;
}

int mg_check_resize(const struct mg_target *t, const struct stat *st, uint64_t new_size)
{
	uint64_t old_size = (uint64_t)st->st_size;
	bool others = mg_cfg.scope != MG_SCOPE_PROCESS;
	if (new_size >= old_size || (mg_reg_nfiles() == 0 && !others))
		return MG_PROCEED;
	size_t n = 0;
	uint64_t birth = cut_birth(t, st->st_dev);
	if (mg_reg_nfiles()) {
		mg_dl_refresh();
		mg_reg_lock();
		n = mg_reg_endangered_locked(st->st_dev, st->st_ino, birth, old_size, new_size, NULL, 0);
		mg_reg_unlock();
	}
	if (n == 0 && !others)
		return MG_PROCEED;

	int saved = errno;
	mg_enter();
	/* The usual case: nobody else has the file, one lease says so, nothing is allocated. */
	bool alone = others && mg_scan_alone(t->fd, t->dirfd, t->path, st->st_dev, st->st_ino);
	if ((n == 0 && alone) || kernel_refuses_shrink(t))
		return verdict(MG_PROCEED, saved);
	struct mg_victims *victims = others ? find_victims(t, st, new_size, birth, alone) : NULL;
	bool hurts_others = victims && victims->total;
	if (n == 0 && !hurts_others) {
		if (victims && victims->incomplete)
			remember_unseen(t, st, new_size);
		if (victims)
			mg_pages_free(victims, sizeof *victims);
		return verdict(MG_PROCEED, saved);
	}
	if ((t->fails && t->fails(t)) || copied_up_now(t)) {
		if (victims)
			mg_pages_free(victims, sizeof *victims);
		return verdict(MG_PROCEED, saved);
	}
	bool suppressed;
	struct mg_event *e = event_start("truncate", t, st, true, new_size, birth, victims, &suppressed);
	if (!e) {       /* without memory to report, block mode still protects the program */
		if (victims)
			mg_pages_free(victims, sizeof *victims);
		return verdict(suppressed ? MG_PROCEED
				: mg_mode() == MG_MODE_BLOCK ? MG_REFUSE : MG_REPORTED, saved);
	}
	if (e->nwindows_total == 0 && !hurts_others) {
		event_free(e);                  /* unmapped meanwhile */
		return verdict(MG_PROCEED, saved);
	}
	return verdict(finish(e, mg_mode() == MG_MODE_BLOCK), saved);
}

int mg_check_reopen(const struct mg_target *t, const struct stat *st, bool writable)
{
	int policy = mg_cfg.reopen;
	if (policy == MG_REOPEN_TRUNC || (policy == MG_REOPEN_WRITE && !writable) ||
	    mg_reg_nfiles() == 0)
		return MG_PROCEED;
	mg_dl_refresh();
	mg_reg_lock();
	bool tracked = mg_reg_file_tracked_locked(st->st_dev, st->st_ino);
	mg_reg_unlock();
	if (!tracked)
		return MG_PROCEED;

	int saved = errno;
	mg_enter();
	bool refuse = writable && mg_mode() == MG_MODE_BLOCK;
	bool suppressed;
	struct mg_event *e = event_start("reopen", t, st, false, 0, 0, NULL, &suppressed);
	if (!e)
		return verdict(suppressed ? MG_PROCEED : refuse ? MG_REFUSE : MG_REPORTED, saved);
	/* who else maps the file (any window: a reopen changes no size) */
	if (mg_cfg.scope != MG_SCOPE_PROCESS)
		e->victims = mg_pages_alloc(sizeof *e->victims);
	if (e->victims)
		mg_scan_victims(st->st_dev, mg_shown_dev(t->fd, t->dirfd, t->path, st->st_dev),
				st->st_ino, 0, 0, 0, true, e->victims);
	return verdict(finish(e, refuse), saved);
}

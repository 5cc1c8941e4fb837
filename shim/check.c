#define _GNU_SOURCE
#include "check.h"
#include "api.h"
#include "arena.h"
#include "backtrace.h"
#include "config.h"
#include "dlmaps.h"
#include "history.h"
#include "real.h"
#include "registry.h"
#include "report.h"
#include "suppress.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/prctl.h>
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

static struct mg_event *event_new(void)
{
	return mg_pages_alloc(sizeof(struct mg_event));
}

static int finish(struct mg_event *e, bool refuse)
{
	e->blocked = refuse;
	e->err = refuse ? mg_cfg.block_errno : 0;
	mg_report_emit(e);
	mg_api_notify(e);
	mg_pages_free(e, sizeof *e);
	if (refuse) {
		errno = mg_cfg.block_errno;
		return MG_REFUSE;
	}
	return MG_REPORTED;
}

/* An allowed cut: a SIGBUS that follows can name it. */
static void remember(const struct mg_event *e)
{
	struct mg_trunc_record h;
	memset(&h, 0, sizeof h);
	h.dev = e->dev;
	h.ino = e->ino;
	h.call = e->call;
	h.size_before = e->size_before;
	h.size_after = e->size_after;
	h.tid = (pid_t)MG_SYS0(SYS_gettid);
	MG_SYS2(SYS_prctl, PR_GET_NAME, h.thread_name);
	clock_gettime(CLOCK_REALTIME, &h.time);
	h.stack = e->stack;
	mg_history_add(&h);
}

int mg_check_resize(const struct mg_target *t, const struct stat *st, uint64_t new_size)
{
	uint64_t old_size = (uint64_t)st->st_size;
	if (new_size >= old_size || mg_reg_nfiles() == 0)
		return MG_PROCEED;
	mg_dl_refresh();
	mg_reg_lock();
	size_t n = mg_reg_endangered_locked(st->st_dev, st->st_ino, old_size, new_size, NULL, 0);
	mg_reg_unlock();
	if (n == 0 || (t->fails && t->fails(t)))
		return MG_PROCEED;

	int saved = errno;
	mg_enter();
	struct mg_event *e = event_new();
	if (!e) {
		__atomic_add_fetch(&mg_reports_dropped, 1, __ATOMIC_RELAXED);
		mg_leave();
		errno = saved;
		/* Without memory to report, block mode still protects the program. */
		if (mg_mode() == MG_MODE_BLOCK) {
			errno = mg_cfg.block_errno;
			return MG_REFUSE;
		}
		return MG_REPORTED;
	}
	e->event = "truncate";
	e->call = t->call;
	e->detail = t->detail;
	e->dev = st->st_dev;
	e->ino = st->st_ino;
	e->has_sizes = true;
	e->size_before = old_size;
	e->size_after = new_size;
	target_path(t, e->path, sizeof e->path);
	if (mg_suppressed(e->dev, e->ino, e->path)) {
		mg_pages_free(e, sizeof *e);
		mg_leave();
		errno = saved;
		return MG_PROCEED;
	}
	mg_bt_load();   /* the loader's windows exist before any mapping loaded the unwinder */
	mg_bt_capture(&e->stack);
	mg_reg_lock();
	e->nwindows_total = mg_reg_endangered_locked(st->st_dev, st->st_ino, old_size, new_size,
						     e->windows, MG_REPORT_WINDOWS);
	mg_reg_unlock();
	e->nwindows = e->nwindows_total < MG_REPORT_WINDOWS ? e->nwindows_total : MG_REPORT_WINDOWS;
	int r = MG_PROCEED;
	if (e->nwindows_total) {
		bool refuse = mg_mode() == MG_MODE_BLOCK;
		if (!refuse) {
			remember(e);
			mg_dl_cut_allowed(e->windows, e->nwindows);
		}
		r = finish(e, refuse);
	} else {
		mg_pages_free(e, sizeof *e);    /* unmapped meanwhile */
	}
	mg_leave();
	if (r != MG_REFUSE)
		errno = saved;
	return r;
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
	int r = refuse ? MG_REFUSE : MG_REPORTED;
	struct mg_event *e = event_new();
	if (e) {
		e->event = "reopen";
		e->call = t->call;
		e->detail = t->detail;
		e->dev = st->st_dev;
		e->ino = st->st_ino;
		target_path(t, e->path, sizeof e->path);
		if (mg_suppressed(e->dev, e->ino, e->path)) {
			mg_pages_free(e, sizeof *e);
			mg_leave();
			errno = saved;
			return MG_PROCEED;
		}
		mg_bt_load();
		mg_bt_capture(&e->stack);
		mg_reg_lock();
		e->nwindows_total = mg_reg_windows_locked(st->st_dev, st->st_ino, e->windows,
							  MG_REPORT_WINDOWS);
		mg_reg_unlock();
		e->nwindows = e->nwindows_total < MG_REPORT_WINDOWS ? e->nwindows_total
								    : MG_REPORT_WINDOWS;
		r = finish(e, refuse);
	} else {
		__atomic_add_fetch(&mg_reports_dropped, 1, __ATOMIC_RELAXED);
	}
	mg_leave();
	if (r == MG_REFUSE)
		errno = mg_cfg.block_errno;
	else
		errno = saved;
	return r;
}

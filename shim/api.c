/* The public API of include/mmapguard.h. */
#define _GNU_SOURCE
#define MMAPGUARD_BUILDING_LIBRARY
#include "mmapguard.h"
#include "api.h"
#include "config.h"
#include "dlmaps.h"
#include "real.h"
#include "lock.h"
#include "registry.h"
#include "record.h"
#include "report.h"
#include "suppress.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>

MG_EXPORT int mmapguard_get_mode(void) { return mg_mode(); }

MG_EXPORT int mmapguard_set_mode(int mode)
{
	if (mode != MMAPGUARD_MODE_OFF && mode != MMAPGUARD_MODE_LOG && mode != MMAPGUARD_MODE_BLOCK) {
		errno = EINVAL;
		return -1;
	}
	int old = mg_mode();
	__atomic_store_n(&mg_cfg.mode, mode, __ATOMIC_RELAXED);
	return old;
}

static int mapped(const struct stat *st, long long *safe_size)
{
	mg_dl_refresh();
	mg_reg_lock();
	bool tracked = mg_reg_file_tracked_locked(st->st_dev, st->st_ino);
	uint64_t safe = tracked ? mg_reg_safe_size_locked(st->st_dev, st->st_ino) : 0;
	mg_reg_unlock();
	if (tracked && safe_size)
		*safe_size = (long long)safe;
	return tracked;
}

MG_EXPORT int mmapguard_fd_mapped(int fd, long long *safe_size)
{
	struct stat st;
	if (mg_syscall_ret(mg_fstat(fd, &st)) < 0)
		return -1;
	return mapped(&st, safe_size);
}

MG_EXPORT int mmapguard_path_mapped(const char *path, long long *safe_size)
{
	struct stat st;
	if (mg_syscall_ret(mg_fstatat(AT_FDCWD, path, &st, 0)) < 0)
		return -1;
	return mapped(&st, safe_size);
}

MG_EXPORT unsigned long mmapguard_reports_written(void)
{
	return __atomic_load_n(&mg_reports_written, __ATOMIC_RELAXED);
}

MG_EXPORT unsigned long mmapguard_reports_dropped(void)
{
	return __atomic_load_n(&mg_reports_dropped, __ATOMIC_RELAXED);
}

/* ---- callback ------------------------------------------------------------------------------- */

/* mg_cb_lock: fork takes it, and a signal handler interrupting a holder goes straight through. */
static mmapguard_callback cb_fn;
static void *cb_arg;

MG_EXPORT int mmapguard_set_callback(mmapguard_callback cb, void *arg)
{
	mg_lock(&mg_cb_lock);
	cb_fn = cb;
	cb_arg = arg;
	mg_unlock(&mg_cb_lock);
	return 0;
}

void mg_api_notify(const struct mg_event *e)
{
	mg_lock(&mg_cb_lock);
	mmapguard_callback fn = cb_fn;
	void *arg = cb_arg;
	mg_unlock(&mg_cb_lock);
	if (!fn)
		return;
	struct mmapguard_mapping maps[MG_REPORT_WINDOWS];
	for (size_t i = 0; i < e->nwindows; i++) {
		const struct mg_window *w = &e->windows[i];
		maps[i].addr = (void *)w->start;
		maps[i].length = w->end - w->start;
		maps[i].offset = w->offset;
		maps[i].prot = w->prot;
		maps[i].shared = w->shared;
		maps[i].pages_beyond_eof = mg_event_pages_beyond(e, i);
		maps[i].tid = w->tid;
	}
	struct mmapguard_violation v = {
		.event = e->event, .call = e->call, .path = e->path,
		.dev = (unsigned long long)e->dev, .ino = (unsigned long long)e->ino,
		.size_before = e->has_sizes ? (long long)e->size_before : -1,
		.size_after = e->has_sizes ? (long long)e->size_after : -1,
		.blocked = e->blocked, .err = e->err, .pid = e->who.pid, .tid = e->who.tid,
		.thread_name = e->who.thread_name, .nmappings = (unsigned)e->nwindows,
		.nmappings_total = (unsigned)e->nwindows_total, .mappings = maps,
	};
	/* The guard stays raised: calls made by the callback go straight to libc. */
	fn(&v, arg);
}

/* ---- suppression ---------------------------------------------------------------------------- */

MG_EXPORT void mmapguard_suppress_begin(void) { mg_suppress_scope(1); }
MG_EXPORT void mmapguard_suppress_end(void) { mg_suppress_scope(-1); }

MG_EXPORT int mmapguard_suppress_path(const char *path)
{
	struct stat st;
	int r = path ? mg_fstatat(AT_FDCWD, path, &st, 0) : -EFAULT;
	if (r == 0)
		r = mg_suppress_file(st.st_dev, st.st_ino);
	return mg_syscall_ret(r) < 0 ? -1 : 0;
}

MG_EXPORT int mmapguard_suppress_fd(int fd)
{
	struct stat st;
	int r = mg_fstat(fd, &st);
	if (r == 0)
		r = mg_suppress_file(st.st_dev, st.st_ino);
	return mg_syscall_ret(r) < 0 ? -1 : 0;
}

MG_EXPORT unsigned long mmapguard_suppressed(void)
{
	return __atomic_load_n(&mg_suppressed_count, __ATOMIC_RELAXED);
}

/* The public API of include/mmapguard.h. */
#define _GNU_SOURCE
#define MMAPGUARD_BUILDING_LIBRARY
#include "mmapguard.h"
#include "check.h"
#include "config.h"
#include "registry.h"
#include "report.h"

#include <errno.h>
#include <fcntl.h>

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
	int r = mg_fstat(fd, &st);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	return mapped(&st, safe_size);
}

MG_EXPORT int mmapguard_path_mapped(const char *path, long long *safe_size)
{
	struct stat st;
	int r = mg_fstatat(AT_FDCWD, path, &st, 0);
	if (r < 0) {
		errno = -r;
		return -1;
	}
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

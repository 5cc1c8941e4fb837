/*
 * The decision shared by every truncating or reopening call: is a live window of this file cut?
 * If so, report (before the real call runs) and tell the wrapper whether to proceed.
 */
#ifndef MG_CHECK_H
#define MG_CHECK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include "config.h"
#include "guard.h"
#include "registry.h"

/*
 * Is a truncating call worth a look at all? With MMAPGUARD_SCOPE=process only when this process maps
 * a file; otherwise always (other processes may). After mg_mode() (the configuration is loaded).
 */
static inline bool mg_check_wanted(void)
{
	return mg_reg_nfiles() != 0 || mg_cfg.scope != MG_SCOPE_PROCESS;
}

/* Nothing to decide: the guard's own call, mode off, or nothing anyone could lose (no file mapped
 * here, and scope process). The one gate of every wrapper that checks a call. */
static inline bool mg_quiet(void)
{
	return mg_inside() || mg_mode() == MG_MODE_OFF || !mg_check_wanted();
}

/* What the call names: an fd, or a path relative to dirfd. Used for the report's path. */
struct mg_target {
	const char *call;
	int fd;                 /* -1 if the call names a path */
	int dirfd;
	const char *path;
	const char *detail;     /* open flags or mode string, for the report */
	/* Will the real call fail without cutting (no write access...)? Asked only once a window is
	 * known to be endangered, because it costs a system call. NULL: it will not. */
	bool (*fails)(const struct mg_target *t);
};

/* A new size at or past every window's end cuts nothing here; elsewhere only /proc can say. */
static inline bool mg_size_harmless(uint64_t len)
{
	return mg_cfg.scope == MG_SCOPE_PROCESS && len >= mg_reg_max_end();
}

enum mg_verdict { MG_PROCEED = 0, MG_REPORTED = 1, MG_REFUSE = -1 };

/*
 * The file *st is about to change size from st->st_size to new_size. Returns MG_PROCEED (nothing
 * to say), MG_REPORTED (logged, proceed) or MG_REFUSE (errno set: the wrapper returns failure).
 */
int mg_check_resize(const struct mg_target *t, const struct stat *st, uint64_t new_size) MG_HIDDEN;

/* The file *st was opened (writable or not) while mapped: the reopen rule (MMAPGUARD_REOPEN). */
int mg_check_reopen(const struct mg_target *t, const struct stat *st, bool writable) MG_HIDDEN;

/* For mg_target.fails: */
bool mg_fails_fd_not_writable(const struct mg_target *t) MG_HIDDEN;
bool mg_fails_path_not_writable(const struct mg_target *t) MG_HIDDEN;
/* freopen(NULL, mode, f): reopening t->fd by its /proc/self/fd name needs write permission. */
bool mg_fails_reopen_not_writable(const struct mg_target *t) MG_HIDDEN;

/* fallocate(FALLOC_FL_COLLAPSE_RANGE) on fd's filesystem can cut (else EOPNOTSUPP). */
bool mg_collapse_supported(int fd) MG_HIDDEN;

#endif

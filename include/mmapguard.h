/*
 * mmapguard.h: cooperate with the mmapguard preload from inside a program.
 *
 * Every function is declared weak: a program that calls them links and runs unchanged without the
 * guard. Use the mmapguard_*_if_loaded() inline helpers, or test the function's address first:
 *
 *     if (mmapguard_fd_mapped) ...
 *
 * All functions are thread-safe and take no lock that a truncating call could be waiting on.
 */
#ifndef MMAPGUARD_H
#define MMAPGUARD_H

#ifdef __cplusplus
extern "C" {
#endif

/* The library defines these strongly; everyone else sees weak declarations. */
#ifdef MMAPGUARD_BUILDING_LIBRARY
#define MMAPGUARD_WEAK
#else
#define MMAPGUARD_WEAK __attribute__((weak))
#endif

#define MMAPGUARD_MODE_OFF   0  /* pass every call through */
#define MMAPGUARD_MODE_LOG   1  /* report, let the call proceed (default) */
#define MMAPGUARD_MODE_BLOCK 2  /* report, refuse the call (-1 / NULL with errno ETXTBSY) */
#define MMAPGUARD_NOT_LOADED (-1)

/* Current mode (MMAPGUARD_MODE_*). */
int mmapguard_get_mode(void) MMAPGUARD_WEAK;
/* Change the mode at run time; returns the previous mode, or -1 (errno EINVAL) for a bad value. */
int mmapguard_set_mode(int mode) MMAPGUARD_WEAK;

/*
 * Is the file behind fd / path (followed like truncate(2) follows it) backing a live mapping of
 * this process? Returns 1 (yes), 0 (no), -1 (errno from fstat/stat). With 1, *safe_size (if not
 * NULL) receives the smallest size the file may be truncated to without cutting any mapping.
 */
int mmapguard_fd_mapped(int fd, long long *safe_size) MMAPGUARD_WEAK;
int mmapguard_path_mapped(const char *path, long long *safe_size) MMAPGUARD_WEAK;

/* Reports written since the process started (and dropped: no memory, log unwritable). */
unsigned long mmapguard_reports_written(void) MMAPGUARD_WEAK;
unsigned long mmapguard_reports_dropped(void) MMAPGUARD_WEAK;

/* ---- callback: every violation, as the report describes it ---------------------------------- */

struct mmapguard_mapping {
	void *addr;
	unsigned long long length;
	unsigned long long offset;              /* file offset of addr */
	int prot;                               /* PROT_* */
	int shared;                             /* 1: MAP_SHARED, 0: MAP_PRIVATE */
	unsigned long long pages_beyond_eof;    /* pages that fault after the call */
	int tid;                                /* thread that created the mapping */
};

struct mmapguard_violation {
	const char *event;                      /* "truncate" or "reopen" */
	const char *call;                       /* the intercepted function, e.g. "ftruncate" */
	const char *path;                       /* absolute path as the call named it */
	unsigned long long dev, ino;
	long long size_before, size_after;      /* -1 for "reopen" */
	int blocked;                            /* 1: refused (errno = err), 0: allowed */
	int err;
	int pid, tid;
	const char *thread_name;
	unsigned nmappings;                     /* entries in mappings[] (at most 8) */
	unsigned nmappings_total;               /* all endangered (or live, for reopen) mappings */
	const struct mmapguard_mapping *mappings;
};

typedef void (*mmapguard_callback)(const struct mmapguard_violation *v, void *arg);

/*
 * Call cb(v, arg) after each violation is reported (and before a blocked call returns). NULL
 * removes it. The callback runs in the violating thread; the guard does not watch the calls it
 * makes (they go straight to libc), so it may log, count or even truncate without recursion.
 */
int mmapguard_set_callback(mmapguard_callback cb, void *arg) MMAPGUARD_WEAK;

/* ---- suppression: truncations that are intended ------------------------------------------- */

/* Calls made by this thread between begin and end are neither reported nor refused (nestable). */
void mmapguard_suppress_begin(void) MMAPGUARD_WEAK;
void mmapguard_suppress_end(void) MMAPGUARD_WEAK;
/* This file (by identity: any path or fd reaching it) is cut on purpose. 0, or -1 with errno. */
int mmapguard_suppress_path(const char *path) MMAPGUARD_WEAK;
int mmapguard_suppress_fd(int fd) MMAPGUARD_WEAK;
/* Violations skipped by a suppression (API or MMAPGUARD_SUPPRESS). */
unsigned long mmapguard_suppressed(void) MMAPGUARD_WEAK;

#ifndef MMAPGUARD_BUILDING_LIBRARY
static inline int mmapguard_mode_if_loaded(void)
{
	return mmapguard_get_mode ? mmapguard_get_mode() : MMAPGUARD_NOT_LOADED;
}

/* 0 when the guard is not loaded: nothing is known to be mapped then. */
static inline int mmapguard_fd_mapped_if_loaded(int fd, long long *safe_size)
{
	return mmapguard_fd_mapped ? mmapguard_fd_mapped(fd, safe_size) : 0;
}

static inline void mmapguard_suppress_begin_if_loaded(void)
{
	if (mmapguard_suppress_begin)
		mmapguard_suppress_begin();
}

static inline void mmapguard_suppress_end_if_loaded(void)
{
	if (mmapguard_suppress_end)
		mmapguard_suppress_end();
}

static inline int mmapguard_set_callback_if_loaded(mmapguard_callback cb, void *arg)
{
	return mmapguard_set_callback ? mmapguard_set_callback(cb, arg) : -1;
}
#endif

#ifdef __cplusplus
}
#endif

#endif

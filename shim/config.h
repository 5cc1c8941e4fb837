/* MMAPGUARD_* configuration: read once, lazily, never allocating. */
#ifndef MG_CONFIG_H
#define MG_CONFIG_H

#include <stdbool.h>
#include <limits.h>
#include "guard.h"

enum mg_mode { MG_MODE_OFF = 0, MG_MODE_LOG = 1, MG_MODE_BLOCK = 2 };
enum mg_reopen { MG_REOPEN_TRUNC = 0, MG_REOPEN_WRITE = 1, MG_REOPEN_ANY = 2 };
enum mg_leases { MG_LEASES_OFF = 0, MG_LEASES_WATCH = 1, MG_LEASES_RESCUE = 2 };
enum mg_format { MG_FORMAT_TEXT = 0, MG_FORMAT_JSON = 1 };
/* MMAPGUARD_UNWIND: creation stacks walked by the CFI rules (cfi_walk.h), by libunwind alone, or
 * by both, compared (a line per difference and a summary at exit on stderr: for the tests). */
enum mg_unwind { MG_UNWIND_CFI = 0, MG_UNWIND_LIBUNWIND = 1, MG_UNWIND_CHECK = 2 };
enum mg_scope { MG_SCOPE_PROCESS = 0, MG_SCOPE_GUARDED = 1, MG_SCOPE_ALL = 2 };

struct mg_config {
	int mode;               /* enum mg_mode; changed at run time through the API */
	int reopen;             /* enum mg_reopen */
	int format;             /* enum mg_format */
	int block_errno;        /* errno of a refused call (ETXTBSY) */
	bool creation_stacks;   /* capture the stack at mmap time */
	int unwind;             /* MMAPGUARD_UNWIND: enum mg_unwind */
	bool sigbus;            /* install the SIGBUS reporter (MMAPGUARD_SIGBUS) */
	bool sigbus_survive;    /* MMAPGUARD_SIGBUS=survive: zero pages past EOF, then go on */
	int map_warn_pct;       /* MMAPGUARD_MAP_WARN as a percentage of the limit (0: absolute) */
	long map_warn_abs;      /* MMAPGUARD_MAP_WARN as a VMA count */
	bool munmap_release;    /* MMAPGUARD_MUNMAP_ENOMEM=release */
	int leases;             /* enum mg_leases: MMAPGUARD_LEASES */
	int lease_signal;       /* MMAPGUARD_LEASE_SIGNAL, 0: the default */
	bool secure;            /* AT_SECURE: no log path from the environment */
	int scope;              /* enum mg_scope: which processes a cut is checked against */
	int scan_ms;            /* MMAPGUARD_SCAN_MS: time bound of one scan of other processes */
	int scan_reuse_ms;      /* MMAPGUARD_SCAN_REUSE_MS: how long a walk's answer is reused */
	char index_dir[PATH_MAX];/* MMAPGUARD_INDEX_DIR; empty: /dev/shm/mmapguard-UID */
	char log_path[PATH_MAX];/* empty: stderr */
	char suppress[4096];    /* MMAPGUARD_SUPPRESS: comma-separated path globs */
	char suppressions[4096];/* MMAPGUARD_SUPPRESSIONS: colon-separated rule files */
	bool default_suppressions; /* MMAPGUARD_DEFAULT_SUPPRESSIONS: the shipped rule list */
};

extern struct mg_config mg_cfg MG_HIDDEN;
extern int mg_cfg_ready MG_HIDDEN;

void mg_config_load(void) MG_HIDDEN;

/* Cheap enough for every wrapper: one load after the first call. */
static inline int mg_mode(void)
{
	if (mg_unlikely(!__atomic_load_n(&mg_cfg_ready, __ATOMIC_ACQUIRE)))
		mg_config_load();
	return __atomic_load_n(&mg_cfg.mode, __ATOMIC_RELAXED);
}

/* Parsers, exposed for the unit tests: return 0, or -1 when the value is not accepted. */
int mg_parse_mode(const char *s, int *out) MG_HIDDEN;
int mg_parse_unwind(const char *s, int *out) MG_HIDDEN;
int mg_parse_reopen(const char *s, int *out) MG_HIDDEN;
int mg_parse_format(const char *s, int *out) MG_HIDDEN;
int mg_parse_scope(const char *s, int *out) MG_HIDDEN;
int mg_parse_errno(const char *s, int *out) MG_HIDDEN;
int mg_parse_bool(const char *s, bool *out) MG_HIDDEN;
/* "90%" -> pct 90; "60000" -> abs 60000 */
int mg_parse_map_warn(const char *s, int *pct, long *abs) MG_HIDDEN;
int mg_parse_leases(const char *s, int *out) MG_HIDDEN;
/* "60", "RTMIN+3", "SIGRTMAX-4": a real-time signal */
int mg_parse_signal(const char *s, int *out) MG_HIDDEN;

#endif

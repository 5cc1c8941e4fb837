/*
 * The shared index (layout in index_format.h): this process's file of mapped files, published
 * from the registry without a system call, and the per-user ring of cuts that guarded processes
 * let through. Unused with MMAPGUARD_SCOPE=process.
 */
#ifndef MG_INDEX_H
#define MG_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include "guard.h"
#include "index_format.h"
#include "window.h"

/* Publication is on (scope guarded or all, and the process file could be made or is still to be). */
extern int mg_index_on MG_HIDDEN;

/*
 * Registry hooks, under the registry lock. *slot is the file's slot (-1: none yet).
 * put: the file's windows now need safe_size bytes, w is the one that needs the most; birth: the
 * one all of them share (birth.h), 0 if not known.
 * drop: the file has no window left.
 */
void mg_index_put_locked(int32_t *slot, dev_t dev, ino_t ino, uint64_t safe_size,
			 const struct mg_window *w, uint64_t birth) MG_HIDDEN;
void mg_index_drop_locked(int32_t *slot) MG_HIDDEN;

/*
 * The lease on (dev, ino) changed (word: MG_IX_LEASE_WORD): stored in its slot, if this process
 * publishes one, outside the slot's sequence counter. Async-signal-safe; one getpid.
 */
void mg_index_lease_note(dev_t dev, ino_t ino, uint32_t word) MG_HIDDEN;
/* Where a new slot's lease word comes from (lease.c, once leases are on; no lock, no system call). */
void mg_index_lease_source(uint32_t (*fn)(dev_t dev, ino_t ino)) MG_HIDDEN;

/*
 * Constructor: decide whether to publish (the file itself is made with the first mapping). True:
 * publication is on, windows already in the registry are to be published (mg_reg_republish).
 */
bool mg_index_init(void) MG_HIDDEN;
/* fork child: leave the parent's file. True: publish what was inherited, under the child's pid. */
bool mg_index_atfork_child(void) MG_HIDDEN;
/* Process exit: withdraw the file. */
void mg_index_fini(void) MG_HIDDEN;
/* Is addr inside this process's own index mapping? (the SIGBUS handler: it was cut under us) */
bool mg_index_owns(uintptr_t addr) MG_HIDDEN;
/* Replace the cut index mapping by anonymous memory and stop publishing. Async-signal-safe. */
void mg_index_abandon(void) MG_HIDDEN;

/*
 * The index directory of this user, opened with every check (owner-only, no symlink). A descriptor
 * to close with a raw close, or -errno. path (PATH_MAX) receives its name when not NULL.
 */
int mg_index_dir_open(char *path) MG_HIDDEN;
/* The index directory at path, if it is uid's own and private (no link followed): fd or -errno. */
int mg_index_dir_of(const char *path, uid_t uid) MG_HIDDEN;

/* What getdents64 returns (the index directory, /proc). */
struct linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

/* /proc/PID/LEAF (pid 0: self) as text without its trailing newline, or its link target (link). */
void mg_proc_text(pid_t pid, const char *leaf, char *out, size_t cap, bool link) MG_HIDDEN;

/* /proc/PID/stat field 22 (start time in clock ticks), 0 if unreadable. */
uint64_t mg_proc_start_time(pid_t pid) MG_HIDDEN;

/* Record a cut this process lets through. Under the report lock (symbolizes). */
struct mg_trunc_record;
/* Also (this process being root) into "cuts-root" of each other user's index directory whose guarded
 * process the cut reaches: their guards name root's cut in cut_by. */
struct mg_cut_reader {
	uid_t uid;
	const char *dir;
};
void mg_index_record_cut(const struct mg_trunc_record *r, const struct mg_cut_reader *readers,
			 size_t nreaders) MG_HIDDEN;
/*
 * The latest cut of (dev, ino) recorded by another guarded process of this user at or after
 * not_before (the mapping's creation: an older record is of an earlier file with a reused inode,
 * or cut before the mapping was made) whose new size unbacks the file page at page_at.
 * Async-signal-safe.
 */
bool mg_index_find_cut(dev_t dev, ino_t ino, const struct timespec *not_before, uint64_t page_at,
		       uint64_t page_size, struct mg_ix_cut *out) MG_HIDDEN;

#endif

/*
 * The mapping registry: every live file-backed mapping window of this address space.
 * Nodes sit in an address-ordered treap (munmap/mremap/MAP_FIXED) and in per-file lists reached
 * through a uthash table keyed by (st_dev, st_ino) (truncation checks).
 * All *_locked functions need mg_reg_lock(); nothing under the lock allocates from the host's
 * malloc or makes a libc call.
 */
#ifndef MG_REGISTRY_H
#define MG_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include "guard.h"
#include "page.h"
#include "window.h"

void mg_reg_lock(void) MG_HIDDEN;
void mg_reg_unlock(void) MG_HIDDEN;
void mg_reg_atfork_prepare(void) MG_HIDDEN;
void mg_reg_atfork_parent(void) MG_HIDDEN;
void mg_reg_atfork_child(pid_t me) MG_HIDDEN;
/* The calling thread holds the lock (a signal handler interrupted the guard). */
bool mg_reg_lock_mine(void) MG_HIDDEN;


/* Lock-free fast-path hints (exact under the lock). */
extern size_t mg_reg_n_maps MG_HIDDEN;
static inline size_t mg_reg_nmaps(void) { return __atomic_load_n(&mg_reg_n_maps, __ATOMIC_RELAXED); }
size_t mg_reg_nfiles(void) MG_HIDDEN;
/* An upper bound of offset + length over all windows: a new size at or past it cuts nothing. */
uint64_t mg_reg_max_end(void) MG_HIDDEN;

/* Track a new window; replaces whatever it overlaps. 0 or -ENOMEM (then nothing changed). */
int mg_reg_insert_locked(const struct mg_window *w) MG_HIDDEN;
bool mg_reg_overlaps_locked(uintptr_t a, uintptr_t b) MG_HIDDEN;
/*
 * Without the lock: false only when no window overlaps [a, b) (a consistent read). For munmap of
 * memory the program holds mapped: no window can appear there meanwhile.
 */
bool mg_reg_maybe_overlaps(uintptr_t a, uintptr_t b) MG_HIDDEN;
/* The same, and what it saw: the lock's next holder finds the window there without a descent if
 * the tree has not changed meanwhile (mg_reg_detach_seen_locked). */
struct mg_reg_seen {
	uint64_t seq;
	const void *last;       /* NULL: nothing to go by */
};
bool mg_reg_maybe_overlaps_seen(uintptr_t a, uintptr_t b, struct mg_reg_seen *seen) MG_HIDDEN;
/*
 * From a signal handler: [a, b) is no longer a file mapping; forgotten when the lock is next taken
 * (async-signal-safe, no lock; at most 64 pending ranges).
 */
void mg_reg_remove_deferred(uintptr_t a, uintptr_t b) MG_HIDDEN;
/* Forget [a, b): trims heads and tails, splits a window with a hole in the middle. */
int mg_reg_remove_locked(uintptr_t a, uintptr_t b) MG_HIDDEN;
/*
 * A munmap, mremap or MAP_FIXED runs its system call without the lock (see claim.h): before it,
 * the windows' parts inside [a, b) it unmaps or replaces are detached (copy: copied, the tree
 * stays as it is); after it, they are released if the call succeeded and restored (joined to
 * what they were split from) if it failed. 0, or -ENOMEM and nothing changed.
 */
struct mg_pieces;
int mg_reg_detach_locked(uintptr_t a, uintptr_t b, bool copy, struct mg_pieces **out) MG_HIDDEN;
/* The same, right after mg_reg_lock(), with what mg_reg_maybe_overlaps_seen saw (may be NULL). */
int mg_reg_detach_seen_locked(uintptr_t a, uintptr_t b, bool copy, const struct mg_reg_seen *seen,
			      struct mg_pieces **out) MG_HIDDEN;
void mg_reg_restore_locked(struct mg_pieces *list) MG_HIDDEN;
void mg_reg_release_locked(struct mg_pieces *list) MG_HIDDEN;
/* The same without the lock (async-signal-safe): the nodes go back to the pool lock-free. */
void mg_reg_release(struct mg_pieces *list) MG_HIDDEN;
/*
 * The detached windows are exactly one, the whole of [a, b), whose VMA the kernel cannot have
 * merged with another tracked window's (none adjoins it in the file): unmapping [a, b) removed at
 * least one VMA. Reads only what the caller detached: no lock needed.
 */
bool mg_reg_pieces_whole_alone(const struct mg_pieces *list, uintptr_t a, uintptr_t b) MG_HIDDEN;
/* mremap(old, oldlen, newlen) returned neu: the pieces detached from [old, old + oldlen) go there
 * (and are released). */
int mg_reg_moved_locked(struct mg_pieces *list, uintptr_t old, size_t oldlen, uintptr_t neu,
			size_t newlen) MG_HIDDEN;
/* Apply a successful mremap(old, oldlen, newlen) that returned neu. */
int mg_reg_mremap_locked(uintptr_t old, size_t oldlen, uintptr_t neu, size_t newlen,
			 bool dontunmap) MG_HIDDEN;
/* The window containing addr, copied into *out; false if none. */
bool mg_reg_find_locked(uintptr_t addr, struct mg_window *out) MG_HIDDEN;
bool mg_reg_file_tracked_locked(dev_t dev, ino_t ino) MG_HIDDEN;
/* Async-signal-safe lookup without the lock (seqlock read): */
enum { MG_FIND_NONE = 0, MG_FIND_EXACT = 1, MG_FIND_UNCERTAIN = 2 };
int mg_reg_find_signal_safe(uintptr_t addr, struct mg_window *out) MG_HIDDEN;

/*
 * Windows of (dev, ino) cut by old_size -> new_size: copies up to max of them (address order)
 * into out (may be NULL) and returns how many there are in all. birth (birth.h), when known, is
 * the cut file's: a window of a known other birth maps another file (overlayfs's lower one).
 */
size_t mg_reg_endangered_locked(dev_t dev, ino_t ino, uint64_t birth, uint64_t old_size,
				uint64_t new_size, struct mg_window *out, size_t max) MG_HIDDEN;
/* All windows of (dev, ino), the same way. */
size_t mg_reg_windows_locked(dev_t dev, ino_t ino, struct mg_window *out, size_t max) MG_HIDDEN;
/* Smallest size that cuts no window of (dev, ino); 0 when the file has none. */
uint64_t mg_reg_safe_size_locked(dev_t dev, ino_t ino) MG_HIDDEN;

/* Visit every window in address order (tests, diagnostics). */
void mg_reg_foreach_locked(void (*fn)(const struct mg_window *, void *), void *arg) MG_HIDDEN;
/* Publish every file again in the shared index (its slots are forgotten): constructor, fork child. */
void mg_reg_republish(void) MG_HIDDEN;
/* Drop everything (tests). */
void mg_reg_clear_locked(void) MG_HIDDEN;
/* Unit tests: the trees' shape (key and heap order, links, counts); NULL: sound, else what is not. */
const char *mg_reg_audit_locked(void) MG_HIDDEN;

#endif

/*
 * The guard's mutexes, aware of fork and of signal handlers.
 *
 * Each knows the thread that holds it. fork's prepare handler takes every lock the forking thread
 * does not hold itself (a signal handler or the violation callback may fork from inside the
 * guard); the child re-initialises the ones prepare took and the ones another thread held, and
 * keeps the ones its own thread holds (that code resumes and releases them). The same is done
 * for _Fork, and for a child of clone() without CLONE_VM (no handler runs there): such a child
 * notices on its first contended lock that its pid is not the one the locks belong to.
 * Holding a lock raises the recursion guard.
 */
#ifndef MG_LOCK_H
#define MG_LOCK_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>
#include "guard.h"

/*
 * A futex word (0 free, 1 held, 2 held and waited for): taking and releasing a free lock is one
 * atomic instruction each, where a pthread mutex costs about 110 instructions a pair. A build with
 * ThreadSanitizer uses pthread mutexes, which it knows.
 */
#if defined(__SANITIZE_THREAD__)
#define MG_LOCK_PTHREAD 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MG_LOCK_PTHREAD 1
#endif
#endif

struct mg_lock {
#ifdef MG_LOCK_PTHREAD
	pthread_mutex_t m;
#else
	unsigned word;          /* atomic */
#endif
	pid_t owner;            /* tid of the holder, 0 when free (atomic) */
	pid_t forking;          /* tid of the thread whose fork's prepare took it, else 0 */
};
#ifdef MG_LOCK_PTHREAD
#define MG_LOCK_INITIALIZER { PTHREAD_MUTEX_INITIALIZER, 0, 0 }
#else
#define MG_LOCK_INITIALIZER { 0, 0, 0 }
#endif

/*
 * The guard's locks, in the order fork's prepare handler takes them (none is taken under another
 * but the registry lock under the report lock). The report lock is never taken by fork: it is
 * held while symbolizing and formatting, which reads ELF files (a FUSE or NFS file can block).
 */
extern struct mg_lock mg_fork_gate MG_HIDDEN;   /* one fork at a time through the prepare handler */
extern struct mg_lock mg_cb_lock MG_HIDDEN;     /* the violation callback (api.c) */
extern struct mg_lock mg_files_lock MG_HIDDEN;  /* files suppressed through the API (suppress.c) */
extern struct mg_lock mg_app_sig_lock MG_HIDDEN;        /* the program's SIGBUS action */
extern struct mg_lock mg_registry_lock MG_HIDDEN;       /* registry.c, arena.c */
extern struct mg_lock mg_report_lock_ MG_HIDDEN;        /* report.c: symbol cache, log state */

void mg_lock(struct mg_lock *l) MG_HIDDEN;
bool mg_trylock(struct mg_lock *l) MG_HIDDEN;
void mg_unlock(struct mg_lock *l) MG_HIDDEN;
/* The calling thread holds l (a signal handler or callback running inside the guard). */
bool mg_lock_mine(const struct mg_lock *l) MG_HIDDEN;

/* fork: prepare takes l unless the calling thread holds it; parent releases what prepare took. */
void mg_lock_prepare(struct mg_lock *l) MG_HIDDEN;
void mg_lock_parent(struct mg_lock *l) MG_HIDDEN;
/*
 * Child (me: the forking thread's tid in the parent): free unless the forking thread held it
 * outside prepare. true if another thread held it (its data may be half changed).
 */
bool mg_lock_child(struct mg_lock *l, pid_t me) MG_HIDDEN;

/*
 * Called by a contended lock in a process whose pid is not the one the locks belong to (thread.h's
 * cached pid, set at load and in each fork child) and that does not share its address space with
 * it: a clone() child in which no fork handler ran (set by init.c).
 */
extern void (*mg_fork_foreign_child)(void) MG_HIDDEN;
/* The same check, where a clone() child could otherwise wait for a thread that is gone. */
void mg_lock_check_foreign(void) MG_HIDDEN;

#endif

/* Who is calling: tid and thread name, cached per thread (each costs a system call otherwise). */
#ifndef MG_THREAD_H
#define MG_THREAD_H

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>
#include "guard.h"

extern MG_TLS pid_t mg_thread_tid_cached MG_HIDDEN;  /* 0 until first asked (and in a fork child) */
pid_t mg_thread_tid_slow(void) MG_HIDDEN;

/* Inline: the locks ask on every acquisition. */
static inline pid_t mg_thread_tid(void)
{
	pid_t t = mg_thread_tid_cached;
	return mg_likely(t != 0) ? t : mg_thread_tid_slow();
}
/*
 * The thread's name (16 bytes with NUL). Re-read from the kernel at most every 50 ms of the
 * caller's clock reading `now` (the time it stamps the mapping with): a name set with
 * pthread_setname_np is seen by mappings created from 50 ms later on.
 */
void mg_thread_name(char out[16], const struct timespec *now) MG_HIDDEN;
/*
 * This process's pid, cached: asked at start-up, so that a vfork child (which shares the memory
 * and runs no fork handler) never stores its own; a fork child asks again at once. The pid the
 * guard's locks belong to (lock.c: a clone() child that ran no fork handler differs from it).
 */
extern pid_t mg_thread_pid_cached MG_HIDDEN;
pid_t mg_thread_pid_slow(void) MG_HIDDEN;
static inline pid_t mg_self_pid(void)
{
	pid_t p = __atomic_load_n(&mg_thread_pid_cached, __ATOMIC_RELAXED);
	return mg_likely(p != 0) ? p : mg_thread_pid_slow();
}
/*
 * The caller is not the process the guard's state belongs to, though it runs in its memory: a
 * vfork child (or posix_spawn's clone(CLONE_VM) one), or a clone() child whose fork handlers have
 * not run. One system call (getpid), async-signal-safe.
 */
bool mg_not_self_process(void) MG_HIDDEN;
/*
 * The program has started a thread through pthread_create (noted before the thread exists, never
 * forgotten). Until then no other thread can be inside the guard, or be waited for by a system
 * call the guard makes while it holds a lock. Threads libc starts for itself (timers, AIO) are not
 * seen: where the guard goes by this, such a thread at worst waits a little longer for a lock.
 */
extern int mg_thread_started_ MG_HIDDEN;
static inline bool mg_threads_started(void)
{
	return __atomic_load_n(&mg_thread_started_, __ATOMIC_RELAXED) != 0;
}
void mg_thread_note_start(void) MG_HIDDEN;
/* fork child: the calling thread has a new tid, the process a new pid. */
void mg_thread_atfork_child(void) MG_HIDDEN;

#endif

/*
 * Read leases on mapped files (MMAPGUARD_LEASES=watch|rescue): the kernel tells this process, with a
 * real-time signal, when another process opens one of its mapped files for writing or truncates it,
 * and holds that process inside its system call until the lease is released.
 */
#ifndef MG_LEASE_H
#define MG_LEASE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include "guard.h"
#include "fd_place.h"


/* A file window was just mapped from fd: hold a lease on its file if none is held. */
void mg_lease_track(int fd, dev_t dev, ino_t ino) MG_HIDDEN;
/*
 * The same for a file the dynamic loader mapped (fd: a descriptor of the guard's, read-only, the
 * caller closes it): only when the process may lease it (it owns the file, or is root), in slots
 * of their own (MG_LEASE_OBJECTS), and without lease_unavailable records.
 */
void mg_lease_track_object(int fd, dev_t dev, ino_t ino, uid_t owner) MG_HIDDEN;

/* The program uses sig (reason, a static string, says how: a handler, a block or a wait for it
 * among a few signals): move the guard's lease signal off it. */
void mg_lease_program_signal(int sig, const char *reason) MG_HIDDEN;
#define MG_LEASE_SIG_HANDLER "the program installed a handler for the lease signal"
/* This thread blocks sig with every real-time signal (it blocked everything before sig was
 * picked): let it in (sigmask_flag.h), and when the thread ends, give the leases up if no thread
 * lets sig in any more (nobody would answer a break: every writer would wait lease-break-time). */
void mg_lease_let_in_here(int sig) MG_HIDDEN;
/* The lease signal while leases are on and one was picked, else 0 (wrap_sigmask.c keeps it
 * deliverable whatever the program's masks). */
int mg_lease_signal_now(void) MG_HIDDEN;
/* The program asks for a write lease on fd: give up the guard's own lease on that file first. */
void mg_lease_program_wrlease(int fd) MG_HIDDEN;

/*
 * The program is about to open (dev, ino) for writing or truncate it. Its own call would break the
 * guard's lease and wait inside the kernel for the guard's answer (all of lease-break-time when it
 * blocks the lease signal): give that lease up first. Ask mg_lease_any_held() before the stat that
 * learns (dev, ino): with no lease held, a program's writes cost nothing.
 */
void mg_lease_program_writes(dev_t dev, ino_t ino) MG_HIDDEN;
extern int mg_lease_ever_held MG_HIDDEN;
bool mg_lease_held_now(void) MG_HIDDEN;
static inline bool mg_lease_any_held(void)
{
	return mg_unlikely(__atomic_load_n(&mg_lease_ever_held, __ATOMIC_RELAXED)) && mg_lease_held_now();
}

/* The guard's lease descriptors, at most MG_LEASE_MAX (guard_fds.h keeps the program off them).
 * Async-signal-safe. */
bool mg_lease_fd_owned(int fd) MG_HIDDEN;
/* Also those kept open for the program's record locks; max: MG_LEASE_MAX + MG_LEASE_KEPT_MAX. */
int mg_lease_fds_owned(int *out, int max) MG_HIDDEN;   /* sorted; returns the count */
/* The program dup2()s onto fd: if it holds a lease, the number is the program's now. */
void mg_lease_fd_release(int fd) MG_HIDDEN;

/* fork child: the child holds leases of its own, answered by itself. */
void mg_lease_atfork_child(void) MG_HIDDEN;
/* Right before the program's exec: descriptors of files it holds record locks on survive it. */
void mg_lease_before_exec(void) MG_HIDDEN;
/* exit(): a fork child's lease_signal record that still waits is written. */
void mg_lease_fini(void) MG_HIDDEN;

/* The last cut announced by a lease break, for a later SIGBUS record's cut_by. Async-signal-safe. */
struct mg_lease_cut {
	dev_t dev;
	ino_t ino;
	pid_t pid;
	uid_t uid;
	char comm[16];
	char cmdline[256];
	const char *call;               /* static string, "" when unknown */
	bool has_size;
	uint64_t size_before, size_after;
	struct timespec time;
};
/* The latest such cut at or after *not_before that unbacks the page at page_at (history.h). */
bool mg_lease_find_cut(dev_t dev, ino_t ino, const struct timespec *not_before, uint64_t page_at,
		       uint64_t page_size, struct mg_lease_cut *out) MG_HIDDEN;

#endif

/*
 * The per-thread flag behind the program's masks (wrap_sigmask.c) and what the lease code needs of
 * it when it picks a signal (lease.c): nothing here depends on either.
 */
#ifndef MG_SIGMASK_FLAG_H
#define MG_SIGMASK_FLAG_H

#include <signal.h>
#include <stdbool.h>
#include "guard.h"

/* This thread's program asked for the lease signal blocked (and got it unblocked). */
extern MG_TLS bool mg_sigmask_flag MG_HIDDEN;

/* The set names fewer than half the real-time signals: those it names are ones the program uses
 * (for sigwait, a signalfd), not part of "every signal". */
bool mg_sigmask_names_few(const sigset_t *set) MG_HIDDEN;
/* Block or unblock sig alone in this thread, for real (a system call); false if it failed. */
bool mg_sigmask_one(int how, int sig) MG_HIDDEN;
/*
 * sig was just picked as the lease signal: if this thread blocks it with every real-time signal
 * (it blocked everything before there was a lease signal), let it in for real and keep the
 * program's view (the flag). One system call. Not in a vfork child (its memory is its parent's).
 * True if it let it in (lease.c, mg_lease_let_in_here, then watches the thread's end).
 */
bool mg_sigmask_let_in(int sig) MG_HIDDEN;

#endif

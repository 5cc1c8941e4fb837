/* The program's signal masks and the lease signal (wrap_sigmask.c). */
#ifndef MG_SIGMASK_H
#define MG_SIGMASK_H

#include <stdbool.h>
#include <signal.h>
#include "guard.h"

/* This thread's program asked for the lease signal blocked (leases on). */
bool mg_sigmask_held(void) MG_HIDDEN;
/* A new thread started by one that holds it: it holds it too (its mask is the creator's). */
void mg_sigmask_thread_holds(void) MG_HIDDEN;
/* Right before an exec: block the lease signal for real if the program asked for it; returns the
 * signal blocked, 0 if none. After an exec that failed, mg_sigmask_exec_failed undoes it. */
int mg_sigmask_before_exec(void) MG_HIDDEN;
void mg_sigmask_exec_failed(int sig) MG_HIDDEN;

/*
 * A call that waits with a mask of its own (waits_for false: sigsuspend, ppoll...) or for a set of
 * signals (true: sigwait...; wrap_sigwait.c): the set to pass on, set itself or *copy without the
 * lease signal. A set that waits for the lease signal among fewer than half the real-time signals
 * goes through as it is and the leases move to another signal: the program uses that one itself
 * (with no handler, which is what the guard looked for when it picked it).
 */
const sigset_t *mg_sigmask_for_wait(const sigset_t *set, bool waits_for, sigset_t *copy) MG_HIDDEN;

#endif

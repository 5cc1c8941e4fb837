/* The program's signal masks and the lease signal (wrap_sigmask.c). */
#ifndef MG_SIGMASK_H
#define MG_SIGMASK_H

#include <stdbool.h>
#include "guard.h"

/* This thread's program asked for the lease signal blocked (leases on). */
bool mg_sigmask_held(void) MG_HIDDEN;
/* A new thread started by one that holds it: it holds it too (its mask is the creator's). */
void mg_sigmask_thread_holds(void) MG_HIDDEN;
/* Right before an exec: block the lease signal for real if the program asked for it; returns the
 * signal blocked, 0 if none. After an exec that failed, mg_sigmask_exec_failed undoes it. */
int mg_sigmask_before_exec(void) MG_HIDDEN;
void mg_sigmask_exec_failed(int sig) MG_HIDDEN;

#endif

/*
 * A stack of the guard's own for work inside a signal handler: the SIGBUS record is gathered and
 * formatted there, not on the faulting thread's stack (which may be small) nor on an alternate
 * stack installed for the program's threads (which would move the program's own handlers).
 */
#ifndef MG_OWN_STACK_H
#define MG_OWN_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include "guard.h"

/*
 * Run fn(arg) on a fresh stack of `size` bytes with an inaccessible guard page below it (an
 * overflow faults instead of writing into whatever lies below), then come back and unmap it.
 * Async-signal-safe (raw mmap/mprotect/munmap). False if no stack could be mapped (fn not run).
 */
bool mg_run_on_own_stack(void (*fn)(void *), void *arg, size_t size) MG_HIDDEN;

#endif

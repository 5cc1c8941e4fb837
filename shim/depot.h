/*
 * Creation stacks, kept once each: a window points at its stack in the depot instead of holding
 * a copy of its frames. Entries are immutable and never freed, so a pointer to one stays valid in
 * every thread, in a signal handler, in a record written later, and in a fork child.
 */
#ifndef MG_DEPOT_H
#define MG_DEPOT_H

#include "guard.h"
#include "stack.h"

/* The empty stack (no frames), and the stack of a window whose frames the depot had no room for. */
extern const struct mg_stack mg_stack_none MG_HIDDEN;
extern const struct mg_stack mg_stack_lost MG_HIDDEN;

/*
 * The depot's copy of st (the same pointer for the same frames, as long as it has room; then
 * &mg_stack_lost). Lock-free and async-signal-safe: its memory comes from raw mmap system calls.
 */
const struct mg_stack *mg_depot_intern(const struct mg_stack *st) MG_HIDDEN;
/* Distinct stacks kept, and stacks that found no room (for the exit summary and the tests). */
unsigned long mg_depot_count(void) MG_HIDDEN;
unsigned long mg_depot_lost(void) MG_HIDDEN;

#endif

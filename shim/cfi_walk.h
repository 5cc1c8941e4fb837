/*
 * The creation-stack walk of the wrappers: return addresses by the rules of cfi.c, cached per
 * return address, reading the stack only where the rules say. A stack the rules do not cover
 * whole (a signal frame, a stack realignment, code without CFI, a frame the cache cannot prove
 * readable) is walked by libunwind instead, so the answer is libunwind's in every case.
 */
#ifndef MG_CFI_WALK_H
#define MG_CFI_WALK_H

#include <stdint.h>
#include "guard.h"
#include "stack.h"

/*
 * The return addresses from the caller of this function outwards, at most max of them walked,
 * those outside [skip_lo, skip_hi) (the shim's own frames) up to MG_STACK_MAX: 0, and *ref is
 * that stack in the depot (depot.h); st holds its frames too if they were walked now, else
 * st->n is 0 (a kept walk: the depot's copy is the answer). -1: not walked (use libunwind).
 * Counted as a capture in flight by the caller; not for a signal handler's interrupted context
 * (mg_bt_capture_signal).
 */
int mg_cfi_walk(struct mg_stack *st, const struct mg_stack **ref, int max, uintptr_t skip_lo,
		uintptr_t skip_hi) MG_HIDDEN;
/* dlclose: code may be gone, and other code loaded at its addresses. */
void mg_cfi_forget(void) MG_HIDDEN;

#endif

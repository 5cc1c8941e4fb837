/*
 * Claims on address ranges: a munmap, mremap or MAP_FIXED that runs its system call without the
 * registry lock (the call may wait in the kernel for another thread of the program: a
 * userfaultfd or FUSE server that itself maps and unmaps) first claims the ranges it names. A
 * call that maps at an address it names (MAP_FIXED, mremap's MREMAP_FIXED destination) waits
 * while another call's claim covers that address: that call's unmapping, replacing or moving has
 * perhaps not run yet, and would destroy the new mapping after the registry recorded it. Calls
 * that only unmap or move away never wait: what they name at an address another call already
 * unmapped is memory the kernel handed out again (and the unmapping call may be waiting for the
 * very thread that now unmaps it). All functions but mg_claim_end need mg_reg_lock().
 */
#ifndef MG_CLAIM_H
#define MG_CLAIM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "guard.h"

/*
 * Claim [a, b), unmapped or moved away, and [c, d), mapped at (empty ranges: none), waiting while
 * another thread's claim overlaps [c, d) (the registry lock is let go meanwhile). The claim's
 * slot, or -1 when every slot is taken (the caller then keeps the lock across its call).
 */
int mg_claim_locked(uintptr_t a, uintptr_t b, uintptr_t c, uintptr_t d) MG_HIDDEN;
/* With or without the lock (async-signal-safe): a call that succeeded gives its claim up unlocked. */
void mg_claim_end(int slot) MG_HIDDEN;
/*
 * Under the lock: some call is between its claim and its end. Its windows may be out of the
 * registry meanwhile (detached, to go back if the call fails, or to move with mremap) while the
 * kernel still maps them.
 */
bool mg_claims_held(void) MG_HIDDEN;
/* Fork child: the claims of threads that do not exist here are gone. */
void mg_claim_atfork_child(pid_t me) MG_HIDDEN;

#endif

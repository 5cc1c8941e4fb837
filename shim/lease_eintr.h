/*
 * Whether an EINTR is the guard's: the lease handler runs in whichever thread the kernel picks and
 * can end a call that SA_RESTART does not restart where, bare, nothing would have ended it. The
 * wrappers of such calls (wrap_sigwait.c, wrap_waits.c, wrap_ipc_waits.c, through wait_again.h)
 * ask after an EINTR.
 */
#ifndef MG_LEASE_EINTR_H
#define MG_LEASE_EINTR_H

#include <signal.h>
#include <stdbool.h>
#include "guard.h"

/*
 * r (and errno) say a call ended with EINTR where, without the guard, nothing would have ended it:
 * no signal the call let in has a handler of the program's, so only the lease signal can have
 * ended it, whether its handler ran in this thread or in another one the kernel let take the
 * signal after waking this one. (Bare, such a program sees EINTR only after a stop and continue,
 * SIGSTOP and SIGCONT, or a debugger's attach; with leases on, those are made again too.) mask:
 * the mask the call waited with, NULL: this thread's (a system call, asked after an EINTR only);
 * also: the signals a sigwait-like call waits for (returned, not handled), or NULL. The caller
 * makes the call again, as SA_RESTART would have (wait_again.h).
 */
bool mg_lease_eintr(long r, const sigset_t *mask, const sigset_t *also) MG_HIDDEN;

#endif

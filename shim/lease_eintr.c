#define _GNU_SOURCE
#include "lease_eintr.h"
#include "lease.h"
#include "real.h"
#include "sigmask.h"
#include "sigmask_flag.h"
#include "wrap_signal.h"

#include <errno.h>
#include <sys/syscall.h>

/*
 * A signal the wait let in (open in mask, not one it waits for) has a handler of the program's:
 * asked of the kernel, one system call a signal (SIGBUS: the guard's copy of the program's).
 * Unknown counts as a handler.
 */
static bool program_handler_open(const sigset_t *mask, const sigset_t *also, int lease)
{
	for (int s = 1; s < _NSIG; s++) {
		if (s == lease || s == SIGKILL || s == SIGSTOP || (s >= 32 && s < SIGRTMIN) ||
		    sigismember(mask, s) == 1 || (also && sigismember(also, s) == 1))
			continue;
		if (s == SIGBUS) {
			if (mg_sigbus_program_handles())
				return true;
			continue;
		}
		struct { unsigned long handler, flags, restorer, mask; } k;
		if (MG_SYS4(SYS_rt_sigaction, s, NULL, &k, sizeof k.mask) != 0 ||
		    (k.handler != (unsigned long)SIG_DFL && k.handler != (unsigned long)SIG_IGN))
			return true;
	}
	return false;
}

bool mg_lease_eintr(long r, unsigned mark, const sigset_t *mask, const sigset_t *also)
{
	if (r >= 0 || errno != EINTR)
		return false;
	int sig = mg_lease_signal_now();
	if (sig <= 0)
		return false;
	sigset_t cur;
	if (!mask) {
		if (MG_SYS4(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &cur, _NSIG / 8) != 0)
			return false;
		mask = &cur;
	}
	if (mg_sigmask_only_lease_open(mask, also))
		return true;
	return mg_lease_hits != mark && !program_handler_open(mask, also, sig);
}

#define _GNU_SOURCE
#include "lease_eintr.h"
#include "lease.h"
#include "real.h"
#include "sigmask_flag.h"
#include "wrap_signal.h"

#include <errno.h>
#include <sys/syscall.h>

/* sig could end a call that waited with mask (signals blocked) for also (signals returned, not
 * handled), the lease signal aside: SIGKILL, SIGSTOP and glibc's own two never do. */
static bool let_in(int sig, int lease, const sigset_t *mask, const sigset_t *also)
{
	return sig != lease && sig != SIGKILL && sig != SIGSTOP && !(sig >= 32 && sig < SIGRTMIN) &&
	       sigismember(mask, sig) != 1 && !(also && sigismember(also, sig) == 1);
}

bool mg_lease_eintr(long r, unsigned mark, const sigset_t *mask, const sigset_t *also)
{
	if (r >= 0 || errno != EINTR)
		return false;
	int lease = mg_lease_signal_now();
	if (lease <= 0)
		return false;
	sigset_t cur;
	if (!mask) {
		if (MG_SYS4(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &cur, _NSIG / 8) != 0)
			return false;
		mask = &cur;
	}
	/* Nothing else let in: only the lease handler can have ended it. Else only if it ran, and
	 * no signal let in has a handler of the program's (asked only then: a system call each). */
	bool ran = mg_lease_hits != mark;
	for (int s = 1; s < _NSIG; s++)
		if (let_in(s, lease, mask, also) && (!ran || mg_program_handles(s)))
			return false;
	return true;
}

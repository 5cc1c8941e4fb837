#define _GNU_SOURCE
#include "lease_eintr.h"
#include "lease.h"
#include "real.h"
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

bool mg_lease_eintr(long r, const sigset_t *mask, const sigset_t *also)
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
	/*
	 * Not only when the lease handler ran in this thread: the lease signal is the process's, and
	 * the kernel can wake this thread for it (ending a call with a timeout that SA_RESTART does
	 * not restart) while another thread takes it and runs the handler; measured under load, a
	 * timed recv ended so in 3 of 20 tries. A signal with a handler of the program's that the
	 * call let in is the only other cause: then the EINTR is the program's, as bare (the kernel is
	 * asked only now, a system call a signal).
	 */
	for (int s = 1; s < _NSIG; s++)
		if (let_in(s, lease, mask, also) && mg_program_handles(s))
			return false;
	return true;
}

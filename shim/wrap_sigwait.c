/*
 * The calls that wait with a signal mask of their own (sigsuspend, ppoll, pselect, epoll_pwait)
 * and those that wait for a set of signals (sigwait, sigwaitinfo, sigtimedwait). With leases on
 * (lease.h), a mask that blocks every signal for the wait would keep the guard from answering a
 * break for as long as the program waits: the other process's open stays in the kernel for
 * lease-break-time (45 s) and its cut goes unseen. A sigwait() for every signal would take the
 * lease signal itself, which the guard's handler then never sees, and hand the program a signal
 * nobody sent it. So the lease signal is taken out of such sets (sigmask.h,
 * mg_sigmask_for_wait); the handler may then run during the wait, which returns EINTR as it would
 * for any handled signal (the program's loops around these calls expect it).
 */
#define _GNU_SOURCE
#include "real.h"
#include "sigmask.h"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/select.h>

#define MASK_BYTES (_NSIG / 8)

MG_EXPORT int sigsuspend(const sigset_t *mask)
{
	sigset_t copy;
	const sigset_t *use = mg_sigmask_for_wait(mask, false, &copy);
	return MG_CALL_REAL(sigsuspend, (use), MG_SYS2(SYS_rt_sigsuspend, use, MASK_BYTES));
}

/* The system call changes the timeout it is given; the library call does not. */
static long sys_ppoll(struct pollfd *fds, nfds_t n, const struct timespec *t, const sigset_t *use)
{
	struct timespec left = { 0, 0 };
	if (t)
		left = *t;
	return MG_SYS6(SYS_ppoll, fds, n, t ? &left : NULL, use, MASK_BYTES, 0);
}

MG_EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *t, const sigset_t *mask)
{
	sigset_t copy;
	const sigset_t *use = mg_sigmask_for_wait(mask, false, &copy);
	return MG_CALL_REAL(ppoll, (fds, n, t, use), sys_ppoll(fds, n, t, use));
}

MG_EXPORT int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *t,
			  const sigset_t *mask, size_t fds_len)
{
	sigset_t copy;
	const sigset_t *use = mg_sigmask_for_wait(mask, false, &copy);
	return MG_CALL_REAL(__ppoll_chk, (fds, n, t, use, fds_len), sys_ppoll(fds, n, t, use));
}

MG_EXPORT int pselect(int n, fd_set *r, fd_set *w, fd_set *e, const struct timespec *t,
		      const sigset_t *mask)
{
	sigset_t copy;
	const sigset_t *use = mg_sigmask_for_wait(mask, false, &copy);
	struct timespec left = { 0, 0 };
	if (t)
		left = *t;
	struct { const sigset_t *set; size_t bytes; } data = { use, MASK_BYTES };
	return MG_CALL_REAL(pselect, (n, r, w, e, t, use),
			    MG_SYS6(SYS_pselect6, n, r, w, e, t ? &left : NULL, &data));
}

MG_EXPORT int epoll_pwait(int ep, struct epoll_event *ev, int max, int ms, const sigset_t *mask)
{
	sigset_t copy;
	const sigset_t *use = mg_sigmask_for_wait(mask, false, &copy);
	return MG_CALL_REAL(epoll_pwait, (ep, ev, max, ms, use),
			    MG_SYS6(SYS_epoll_pwait, ep, ev, max, ms, use, MASK_BYTES));
}

#ifndef SYS_epoll_pwait2
#define SYS_epoll_pwait2 441
#endif
MG_EXPORT int epoll_pwait2(int ep, struct epoll_event *ev, int max, const struct timespec *t,
			   const sigset_t *mask)
{
	sigset_t copy;
	const sigset_t *use = mg_sigmask_for_wait(mask, false, &copy);
	return MG_CALL_REAL(epoll_pwait2, (ep, ev, max, t, use),
			    MG_SYS6(SYS_epoll_pwait2, ep, ev, max, t, use, MASK_BYTES));
}

MG_EXPORT int sigtimedwait(const sigset_t *set, siginfo_t *info, const struct timespec *t)
{
	sigset_t copy;
	const sigset_t *use = mg_sigmask_for_wait(set, true, &copy);
	return MG_CALL_REAL(sigtimedwait, (use, info, t),
			    MG_SYS4(SYS_rt_sigtimedwait, use, info, t, MASK_BYTES));
}

MG_EXPORT int sigwaitinfo(const sigset_t *set, siginfo_t *info)
{
	sigset_t copy;
	const sigset_t *use = mg_sigmask_for_wait(set, true, &copy);
	return MG_CALL_REAL(sigwaitinfo, (use, info),
			    MG_SYS4(SYS_rt_sigtimedwait, use, info, NULL, MASK_BYTES));
}

/* Returns an error number, not -1 (POSIX); EINTR is waited through, as libc does. */
static int sys_sigwait(const sigset_t *use, int *sig)
{
	long r;
	do
		r = MG_SYS4(SYS_rt_sigtimedwait, use, NULL, NULL, MASK_BYTES);
	while (r == -EINTR);
	if (r < 0)
		return (int)-r;
	*sig = (int)r;
	return 0;
}

MG_EXPORT int sigwait(const sigset_t *set, int *sig)
{
	sigset_t copy;
	const sigset_t *use = mg_sigmask_for_wait(set, true, &copy);
	mg_sigwait_fn real = MG_REAL(sigwait);
	return real ? real(use, sig) : sys_sigwait(use, sig);
}

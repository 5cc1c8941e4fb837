/*
 * The calls that wait with a signal mask of their own (sigsuspend, ppoll, pselect, epoll_pwait)
 * and those that wait for a set of signals (sigwait, sigwaitinfo, sigtimedwait). With leases on
 * (lease.h), a mask that blocks every signal for the wait would keep the guard from answering a
 * break for as long as the program waits: the other process's open stays in the kernel for
 * lease-break-time (45 s) and its cut goes unseen. A sigwait() for every signal would take the
 * lease signal itself, which the guard's handler then never sees, and hand the program a signal
 * nobody sent it. So the lease signal is taken out of such sets (sigmask.h,
 * mg_sigmask_for_wait), and the handler may run during the wait. A wait that the lease handler
 * alone ended with EINTR (it ran, and the wait let in no signal the program handles:
 * lease_eintr.h, mg_lease_eintr) could not have ended so without the guard: it is made again,
 * with what is left of its timeout (wait_again.h). Any other EINTR is the program's, as bare.
 */
#define _GNU_SOURCE
#include "lease.h"
#include "real.h"
#include "sigmask.h"
#include "wait_again.h"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/select.h>

#define MASK_BYTES (_NSIG / 8)

/* ---- waits with a mask of their own --------------------------------------------------------- */

MG_EXPORT int sigsuspend(const sigset_t *mask)
{
	sigset_t copy;
	const sigset_t *use = mg_sigmask_for_wait(mask, false, &copy);
	struct mg_again a;
	mg_again_start(&a);
	int r;
	do
		r = MG_CALL_REAL(sigsuspend, (use), MG_SYS2(SYS_rt_sigsuspend, use, MASK_BYTES));
	while (mg_again_next(&a, r, use, NULL));
	return r;
}

/* The system call changes the timeout it is given; the library call does not. */
static long sys_ppoll(struct pollfd *fds, nfds_t n, const struct timespec *t, const sigset_t *use)
{
	struct timespec left = { 0, 0 };
	if (t)
		left = *t;
	return MG_SYS6(SYS_ppoll, fds, n, t ? &left : NULL, use, MASK_BYTES, 0);
}

static int ppoll_once(struct pollfd *fds, nfds_t n, const struct timespec *t, const sigset_t *use,
		      size_t fds_len, bool chk)
{
	if (chk)
		return MG_CALL_REAL(__ppoll_chk, (fds, n, t, use, fds_len), sys_ppoll(fds, n, t, use));
	return MG_CALL_REAL(ppoll, (fds, n, t, use), sys_ppoll(fds, n, t, use));
}

static int ppoll_wait(struct pollfd *fds, nfds_t n, const struct timespec *t, const sigset_t *mask,
		      size_t fds_len, bool chk)
{
	sigset_t copy;
	const sigset_t *use = mg_sigmask_for_wait(mask, false, &copy);
	if (!mg_again_wanted())
		return ppoll_once(fds, n, t, use, fds_len, chk);
	struct mg_again a;
	mg_again_begin(&a, t);
	int r;
	do
		r = ppoll_once(fds, n, mg_again_timeout(&a, t), use, fds_len, chk);
	while (mg_again_next(&a, r, use, NULL));
	return r;
}

MG_EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *t, const sigset_t *mask)
{
	return ppoll_wait(fds, n, t, mask, 0, false);
}

MG_EXPORT int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *t,
			  const sigset_t *mask, size_t fds_len)
{
	return ppoll_wait(fds, n, t, mask, fds_len, true);
}

static int pselect_once(int n, fd_set *r, fd_set *w, fd_set *e, const struct timespec *t,
			const sigset_t *use)
{
	struct timespec left = { 0, 0 };
	if (t)
		left = *t;
	struct { const sigset_t *set; size_t bytes; } data = { use, MASK_BYTES };
	return MG_CALL_REAL(pselect, (n, r, w, e, t, use),
			    MG_SYS6(SYS_pselect6, n, r, w, e, t ? &left : NULL, &data));
}

/* (An interrupted select leaves the sets as they were: made again, it sees the same ones.) */
MG_EXPORT int pselect(int n, fd_set *r, fd_set *w, fd_set *e, const struct timespec *t,
		      const sigset_t *mask)
{
	sigset_t copy;
	const sigset_t *use = mg_sigmask_for_wait(mask, false, &copy);
	if (!mg_again_wanted())
		return pselect_once(n, r, w, e, t, use);
	struct mg_again a;
	mg_again_begin(&a, t);
	int res;
	do
		res = pselect_once(n, r, w, e, mg_again_timeout(&a, t), use);
	while (mg_again_next(&a, res, use, NULL));
	return res;
}

static int epoll_pwait_once(int ep, struct epoll_event *ev, int max, int ms, const sigset_t *use)
{
	return MG_CALL_REAL(epoll_pwait, (ep, ev, max, ms, use),
			    MG_SYS6(SYS_epoll_pwait, ep, ev, max, ms, use, MASK_BYTES));
}

MG_EXPORT int epoll_pwait(int ep, struct epoll_event *ev, int max, int ms, const sigset_t *mask)
{
	sigset_t copy;
	const sigset_t *use = mg_sigmask_for_wait(mask, false, &copy);
	if (!mg_again_wanted())
		return epoll_pwait_once(ep, ev, max, ms, use);
	struct mg_again a;
	mg_again_begin_ms(&a, ms);
	int r;
	do
		r = epoll_pwait_once(ep, ev, max, mg_again_ms(&a, ms), use);
	while (mg_again_next(&a, r, use, NULL));
	return r;
}

#ifndef SYS_epoll_pwait2
#define SYS_epoll_pwait2 441
#endif
static int epoll_pwait2_once(int ep, struct epoll_event *ev, int max, const struct timespec *t,
			     const sigset_t *use)
{
	return MG_CALL_REAL(epoll_pwait2, (ep, ev, max, t, use),
			    MG_SYS6(SYS_epoll_pwait2, ep, ev, max, t, use, MASK_BYTES));
}

MG_EXPORT int epoll_pwait2(int ep, struct epoll_event *ev, int max, const struct timespec *t,
			   const sigset_t *mask)
{
	sigset_t copy;
	const sigset_t *use = mg_sigmask_for_wait(mask, false, &copy);
	if (!mg_again_wanted())
		return epoll_pwait2_once(ep, ev, max, t, use);
	struct mg_again a;
	mg_again_begin(&a, t);
	int r;
	do
		r = epoll_pwait2_once(ep, ev, max, mg_again_timeout(&a, t), use);
	while (mg_again_next(&a, r, use, NULL));
	return r;
}

/* ---- waits for a set of signals ------------------------------------------------------------- */

static int timedwait_once(const sigset_t *use, siginfo_t *info, const struct timespec *t,
			  bool timed)
{
	if (timed)
		return MG_CALL_REAL(sigtimedwait, (use, info, t),
				    MG_SYS4(SYS_rt_sigtimedwait, use, info, t, MASK_BYTES));
	return MG_CALL_REAL(sigwaitinfo, (use, info),
			    MG_SYS4(SYS_rt_sigtimedwait, use, info, NULL, MASK_BYTES));
}

static int timedwait(const sigset_t *set, siginfo_t *info, const struct timespec *t, bool timed)
{
	sigset_t copy;
	const sigset_t *use = mg_sigmask_for_wait(set, true, &copy);
	if (!use || !mg_again_wanted())
		return timedwait_once(use, info, t, timed);
	struct mg_again a;
	mg_again_begin(&a, timed ? t : NULL);
	int r;
	do
		r = timedwait_once(use, info, mg_again_timeout(&a, t), timed);
	while (mg_again_next(&a, r, NULL, use));
	return r;
}

MG_EXPORT int sigtimedwait(const sigset_t *set, siginfo_t *info, const struct timespec *t)
{
	return timedwait(set, info, t, true);
}

MG_EXPORT int sigwaitinfo(const sigset_t *set, siginfo_t *info)
{
	return timedwait(set, info, NULL, false);
}

/* Returns an error number, not -1 (POSIX); libc waits through EINTR itself. */
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

/*
 * A signalfd for a set of signals: as a sigwait for it (the set without the lease signal when it
 * names "every signal"; the leases move when it names it among a few). Signalfds made before the
 * lease signal was picked lose it at the pick (signalfds.c).
 */
MG_EXPORT int signalfd(int fd, const sigset_t *mask, int flags)
{
	sigset_t copy;
	const sigset_t *use = mg_sigmask_for_wait(mask, true, &copy);
	return MG_CALL_REAL(signalfd, (fd, use, flags), MG_SYS4(SYS_signalfd4, fd, use, MASK_BYTES, flags));
}

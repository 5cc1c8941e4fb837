/*
 * The calls that wait with a signal mask of their own (sigsuspend, ppoll, pselect, epoll_pwait)
 * and those that wait for a set of signals (sigwait, sigwaitinfo, sigtimedwait). With leases on
 * (lease.h), a mask that blocks every signal for the wait would keep the guard from answering a
 * break for as long as the program waits: the other process's open stays in the kernel for
 * lease-break-time (45 s) and its cut goes unseen. A sigwait() for every signal would take the
 * lease signal itself, which the guard's handler then never sees, and hand the program a signal
 * nobody sent it. So the lease signal is taken out of such sets (sigmask.h,
 * mg_sigmask_for_wait), and the handler may run during the wait. A wait that lets no other
 * signal in (everything else blocked: sigmask.h, mg_sigmask_only_lease_open) could not end with
 * EINTR without the guard: it is made again, with what is left of its timeout. Any other wait
 * returns EINTR as it would for any handled signal.
 */
#define _GNU_SOURCE
#include "lease.h"
#include "real.h"
#include "sigmask.h"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <time.h>

#define MASK_BYTES (_NSIG / 8)

/* ---- made again after the guard's handler ended it ------------------------------------------- */

struct again {
	bool timed;             /* end holds the deadline (CLOCK_MONOTONIC, as the kernel's) */
	struct timespec end, left;
	int saved;              /* errno before the call: a call made again succeeds as if first */
};

/* A timeout the kernel would take (it refuses the others itself, on the first call). */
static void again_begin(struct again *a, const struct timespec *t)
{
	a->saved = errno;
	a->timed = t && t->tv_sec >= 0 && t->tv_sec < 100000000 && t->tv_nsec >= 0 &&
		   t->tv_nsec < 1000000000;
	if (!a->timed)
		return;
	clock_gettime(CLOCK_MONOTONIC, &a->end);
	a->end.tv_sec += t->tv_sec;
	a->end.tv_nsec += t->tv_nsec;
	if (a->end.tv_nsec >= 1000000000) {
		a->end.tv_sec++;
		a->end.tv_nsec -= 1000000000;
	}
}

/* The timeout for the next call: t itself the first time or when untimed, else what is left
 * (zero once past: the call then answers at once, as the kernel would at its deadline). */
static const struct timespec *again_timeout(struct again *a, const struct timespec *t, bool first)
{
	errno = a->saved;
	if (first || !a->timed)
		return t;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long long ns = (long long)(a->end.tv_sec - now.tv_sec) * 1000000000 + a->end.tv_nsec - now.tv_nsec;
	if (ns < 0)
		ns = 0;
	a->left.tv_sec = ns / 1000000000;
	a->left.tv_nsec = ns % 1000000000;
	return &a->left;
}

static bool interrupted(long r)
{
	return r < 0 && errno == EINTR;
}

/* ---- waits with a mask of their own ------------------------------------------------------------ */

MG_EXPORT int sigsuspend(const sigset_t *mask)
{
	sigset_t copy;
	const sigset_t *use = mg_sigmask_for_wait(mask, false, &copy);
	bool again = mg_sigmask_only_lease_open(use, NULL);     /* waits for SIGKILL, as bare */
	int r;
	do
		r = MG_CALL_REAL(sigsuspend, (use), MG_SYS2(SYS_rt_sigsuspend, use, MASK_BYTES));
	while (again && interrupted(r));
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
	if (!mg_sigmask_only_lease_open(use, NULL))
		return ppoll_once(fds, n, t, use, fds_len, chk);
	struct again a;
	again_begin(&a, t);
	int r;
	for (bool first = true; first || interrupted(r); first = false)
		r = ppoll_once(fds, n, again_timeout(&a, t, first), use, fds_len, chk);
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
	if (!mg_sigmask_only_lease_open(use, NULL))
		return pselect_once(n, r, w, e, t, use);
	struct again a;
	again_begin(&a, t);
	int res;
	for (bool first = true; first || interrupted(res); first = false)
		res = pselect_once(n, r, w, e, again_timeout(&a, t, first), use);
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
	if (!mg_sigmask_only_lease_open(use, NULL))
		return epoll_pwait_once(ep, ev, max, ms, use);
	struct timespec t = { ms / 1000, (long)(ms % 1000) * 1000000 };
	struct again a;
	again_begin(&a, ms >= 0 ? &t : NULL);       /* negative: no timeout */
	int r;
	for (bool first = true; first || interrupted(r); first = false) {
		const struct timespec *left = again_timeout(&a, &t, first);
		r = epoll_pwait_once(ep, ev, max, first || ms < 0 ? ms :
				     (int)(left->tv_sec * 1000 + (left->tv_nsec + 999999) / 1000000), use);
	}
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
	if (!mg_sigmask_only_lease_open(use, NULL))
		return epoll_pwait2_once(ep, ev, max, t, use);
	struct again a;
	again_begin(&a, t);
	int r;
	for (bool first = true; first || interrupted(r); first = false)
		r = epoll_pwait2_once(ep, ev, max, again_timeout(&a, t, first), use);
	return r;
}

/* ---- waits for a set of signals ---------------------------------------------------------------- */

/*
 * The thread's own mask decides what may interrupt these: a signal in the set is returned, one in
 * neither is handled. Asked only after an EINTR.
 */
static bool only_lease_interrupts(const sigset_t *set)
{
	sigset_t cur;
	return MG_SYS4(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &cur, MASK_BYTES) == 0 &&
	       mg_sigmask_only_lease_open(&cur, set);
}

static int timedwait_once(const sigset_t *use, siginfo_t *info, const struct timespec *t, bool timed)
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
	if (!use || mg_lease_signal_now() <= 0)
		return timedwait_once(use, info, t, timed);
	struct again a;
	again_begin(&a, timed ? t : NULL);
	int r = timedwait_once(use, info, t, timed);
	while (interrupted(r) && only_lease_interrupts(use))
		r = timedwait_once(use, info, again_timeout(&a, t, false), timed);
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

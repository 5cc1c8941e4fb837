/*
 * Waits that SA_RESTART does not restart (poll, select, epoll_wait, nanosleep, clock_nanosleep,
 * sleep, usleep, pause, sem_timedwait, sem_clockwait). With leases on, the lease signal is never
 * blocked for real (wrap_sigmask.c), so its handler can end such a wait with EINTR in a thread
 * that blocked every signal, where without the guard nothing could. After an EINTR, when the
 * thread's mask lets no other signal in (sigmask.h, mg_sigmask_only_lease_interrupts), the call
 * is made again with what is left of its time (wait_again.h). Only a thread whose program asked
 * for the lease signal blocked (mg_sigmask_held: it blocked "every signal") can be in that case;
 * any other thread's call is the program's alone, one thread-local load and no clock read more.
 */
#define _GNU_SOURCE
#include "real.h"
#include "sigmask.h"
#include "wait_again.h"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

static bool again_after(long r)
{
	return mg_interrupted(r) && mg_sigmask_only_lease_interrupts(NULL);
}

static int poll_once(struct pollfd *fds, nfds_t n, int ms, size_t fds_len, bool chk)
{
	if (chk)
		return MG_CALL_REAL(__poll_chk, (fds, n, ms, fds_len), MG_SYS3(SYS_poll, fds, n, ms));
	return MG_CALL_REAL(poll, (fds, n, ms), MG_SYS3(SYS_poll, fds, n, ms));
}

static int poll_wait(struct pollfd *fds, nfds_t n, int ms, size_t fds_len, bool chk)
{
	if (mg_likely(!mg_sigmask_held()))
		return poll_once(fds, n, ms, fds_len, chk);
	struct mg_again a;
	mg_again_begin_ms(&a, ms);
	int r;
	for (bool first = true; first || again_after(r); first = false)
		r = poll_once(fds, n, mg_again_ms(&a, ms, first), fds_len, chk);
	return r;
}

MG_EXPORT int poll(struct pollfd *fds, nfds_t n, int ms)
{
	return poll_wait(fds, n, ms, 0, false);
}

MG_EXPORT int __poll_chk(struct pollfd *fds, nfds_t n, int ms, size_t fds_len)
{
	return poll_wait(fds, n, ms, fds_len, true);
}

/* The kernel leaves an interrupted select's sets as they were and its timeout at what is left. */
MG_EXPORT int select(int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv)
{
	int saved = errno, res;
	for (bool first = true; first || again_after(res); first = false) {
		errno = saved;
		res = MG_CALL_REAL(select, (n, r, w, e, tv), MG_SYS6(SYS_select, n, r, w, e, tv, 0));
	}
	return res;
}

static int epoll_wait_once(int ep, struct epoll_event *ev, int max, int ms)
{
	return MG_CALL_REAL(epoll_wait, (ep, ev, max, ms), MG_SYS4(SYS_epoll_wait, ep, ev, max, ms));
}

MG_EXPORT int epoll_wait(int ep, struct epoll_event *ev, int max, int ms)
{
	if (mg_likely(!mg_sigmask_held()))
		return epoll_wait_once(ep, ev, max, ms);
	struct mg_again a;
	mg_again_begin_ms(&a, ms);
	int r;
	for (bool first = true; first || again_after(r); first = false)
		r = epoll_wait_once(ep, ev, max, mg_again_ms(&a, ms, first));
	return r;
}

/* An interrupted nanosleep says what was left: that is slept next. */
static int nanosleep_once(const struct timespec *req, struct timespec *rem)
{
	return MG_CALL_REAL(nanosleep, (req, rem), MG_SYS2(SYS_nanosleep, req, rem));
}

MG_EXPORT int nanosleep(const struct timespec *req, struct timespec *rem)
{
	if (mg_likely(!mg_sigmask_held()))
		return nanosleep_once(req, rem);
	int saved = errno;
	struct timespec left = { 0, 0 }, next, *out = rem ? rem : &left;
	int r = nanosleep_once(req, out);
	while (again_after(r)) {
		errno = saved;
		next = *out;
		r = nanosleep_once(&next, out);
	}
	return r;
}

/* Returns an error number, errno untouched (POSIX); an absolute time is slept to again as is. */
MG_EXPORT int clock_nanosleep(clockid_t clk, int flags, const struct timespec *req,
			      struct timespec *rem)
{
	mg_clock_nanosleep_fn real = MG_REAL(clock_nanosleep);
	if (!real)
		return (int)-MG_SYS4(SYS_clock_nanosleep, clk, flags, req, rem);
	if (mg_likely(!mg_sigmask_held()))
		return real(clk, flags, req, rem);
	struct timespec left = { 0, 0 }, next, *out = rem ? rem : &left;
	int r = real(clk, flags, req, out);
	while (r == EINTR && mg_sigmask_only_lease_interrupts(NULL)) {
		if (flags & TIMER_ABSTIME) {
			r = real(clk, flags, req, out);
		} else {
			next = *out;
			r = real(clk, flags, &next, out);
		}
	}
	return r;
}

/* sleep and usleep sleep in libc's own nanosleep, past the wrapper above: made again here. */
MG_EXPORT unsigned int sleep(unsigned int s)
{
	mg_sleep_fn real = MG_REAL(sleep);
	if (mg_likely(!mg_sigmask_held()) && real)
		return real(s);
	int saved = errno;
	struct timespec req = { s, 0 }, left;
	int r = nanosleep_once(&req, &left);
	while (again_after(r)) {
		errno = saved;
		req = left;
		r = nanosleep_once(&req, &left);
	}
	if (r == 0)
		errno = saved;
	return r < 0 ? (unsigned int)left.tv_sec : 0;   /* the whole seconds not slept, as libc */
}

MG_EXPORT int usleep(useconds_t us)
{
	mg_usleep_fn real = MG_REAL(usleep);
	if (mg_likely(!mg_sigmask_held()) && real)
		return real(us);
	struct timespec req = { us / 1000000, (long)(us % 1000000) * 1000 };
	return nanosleep(&req, NULL);
}

/* Without the guard, a thread that blocks every signal pauses until it is killed. */
MG_EXPORT int pause(void)
{
	int saved = errno, r;
	for (bool first = true; first || again_after(r); first = false) {
		errno = saved;
		r = MG_CALL_REAL(pause, (), MG_SYS0(SYS_pause));
	}
	return r;
}

/* A semaphore's deadline is absolute: waited for again as it is. */
MG_EXPORT int sem_timedwait(sem_t *s, const struct timespec *abs)
{
	mg_sem_timedwait_fn real = MG_REAL(sem_timedwait);
	if (!real)
		return (int)mg_syscall_ret(-ENOSYS);
	int saved = errno, r;
	for (bool first = true; first || (mg_sigmask_held() && again_after(r)); first = false) {
		errno = saved;
		r = real(s, abs);
	}
	return r;
}

MG_EXPORT int sem_clockwait(sem_t *s, clockid_t clk, const struct timespec *abs)
{
	mg_sem_clockwait_fn real = MG_REAL(sem_clockwait);
	if (!real)
		return (int)mg_syscall_ret(-ENOSYS);
	int saved = errno, r;
	for (bool first = true; first || (mg_sigmask_held() && again_after(r)); first = false) {
		errno = saved;
		r = real(s, clk, abs);
	}
	return r;
}

/*
 * Waits that SA_RESTART does not restart (poll, select, epoll_wait, nanosleep, clock_nanosleep,
 * sleep, usleep, pause, sem_timedwait, sem_clockwait; sem_wait's untimed futex wait the kernel
 * restarts). With leases on, the lease signal's handler can end such a wait with EINTR: in any
 * thread that does not block it (the kernel picks one), and in a thread that blocked every signal
 * too (the lease signal is never blocked for real: wrap_sigmask.c). A program that installed no
 * handler for the signals the thread lets in could never see that EINTR bare: its sleep(60) would
 * end early, its poll for input return -1 with nothing read. So after an EINTR that the lease
 * handler alone can have caused (lease_eintr.h, mg_lease_eintr), the call is made again with
 * what is left of its time (wait_again.h). With leases off, each call is the program's alone.
 */
#define _GNU_SOURCE
#include "real.h"
#include "wait_again.h"

#include <poll.h>
#include <semaphore.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

static int poll_once(struct pollfd *fds, nfds_t n, int ms, size_t fds_len, bool chk)
{
	if (chk)
		return MG_CALL_REAL(__poll_chk, (fds, n, ms, fds_len), MG_SYS3(SYS_poll, fds, n, ms));
	return MG_CALL_REAL(poll, (fds, n, ms), MG_SYS3(SYS_poll, fds, n, ms));
}

static int poll_wait(struct pollfd *fds, nfds_t n, int ms, size_t fds_len, bool chk)
{
	if (mg_likely(!mg_again_wanted()))
		return poll_once(fds, n, ms, fds_len, chk);
	struct mg_again a;
	mg_again_begin_ms(&a, ms);
	int r;
	do
		r = poll_once(fds, n, mg_again_ms(&a, ms), fds_len, chk);
	while (mg_again_next(&a, r, NULL, NULL));
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
MG_AGAIN_WRAPPER(int, select, (int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv),
		 (n, r, w, e, tv), MG_SYS6(SYS_select, n, r, w, e, tv, 0))

static int epoll_wait_once(int ep, struct epoll_event *ev, int max, int ms)
{
	return MG_CALL_REAL(epoll_wait, (ep, ev, max, ms), MG_SYS4(SYS_epoll_wait, ep, ev, max, ms));
}

MG_EXPORT int epoll_wait(int ep, struct epoll_event *ev, int max, int ms)
{
	if (mg_likely(!mg_again_wanted()))
		return epoll_wait_once(ep, ev, max, ms);
	struct mg_again a;
	mg_again_begin_ms(&a, ms);
	int r;
	do
		r = epoll_wait_once(ep, ev, max, mg_again_ms(&a, ms));
	while (mg_again_next(&a, r, NULL, NULL));
	return r;
}

/* An interrupted nanosleep says what was left: that is slept next. */
static int nanosleep_once(const struct timespec *req, struct timespec *rem)
{
	return MG_CALL_REAL(nanosleep, (req, rem), MG_SYS2(SYS_nanosleep, req, rem));
}

/* nanosleep, sleeping what an interrupted call left; *left: what the last call left. */
static int nanosleep_all(const struct timespec *req, struct timespec *left)
{
	struct mg_again a;
	mg_again_start(&a);
	struct timespec next = *req;
	int r;
	do
		r = nanosleep_once(&next, left);
	while (mg_again_next(&a, r, NULL, NULL) && (next = *left, true));
	return r;
}

MG_EXPORT int nanosleep(const struct timespec *req, struct timespec *rem)
{
	if (mg_likely(!mg_again_wanted()))
		return nanosleep_once(req, rem);
	struct timespec left = { 0, 0 };
	return nanosleep_all(req, rem ? rem : &left);
}

/* Returns an error number, errno untouched (POSIX); an absolute time is slept to again as is. */
MG_EXPORT int clock_nanosleep(clockid_t clk, int flags, const struct timespec *req,
			      struct timespec *rem)
{
	mg_clock_nanosleep_fn real = MG_REAL(clock_nanosleep);
	if (!real)
		return (int)-MG_SYS4(SYS_clock_nanosleep, clk, flags, req, rem);
	if (mg_likely(!mg_again_wanted()))
		return real(clk, flags, req, rem);
	struct mg_again a;
	mg_again_start(&a);
	struct timespec left = { 0, 0 }, next, *out = rem ? rem : &left;
	int r = real(clk, flags, req, out);
	while (r == EINTR && (errno = EINTR, mg_again_next(&a, -1, NULL, NULL))) {
		if (flags & TIMER_ABSTIME) {
			r = real(clk, flags, req, out);
		} else {
			next = *out;
			r = real(clk, flags, &next, out);
		}
	}
	errno = a.saved;
	return r;
}

/* sleep and usleep sleep in libc's own nanosleep, past the wrapper above: made again here. */
MG_EXPORT unsigned int sleep(unsigned int s)
{
	mg_sleep_fn real = MG_REAL(sleep);
	if (mg_likely(!mg_again_wanted()) && real)
		return real(s);
	struct timespec req = { s, 0 }, left = { 0, 0 };
	int r = nanosleep_all(&req, &left);
	return r < 0 ? (unsigned int)left.tv_sec : 0;   /* the whole seconds not slept, as libc */
}

MG_EXPORT int usleep(useconds_t us)
{
	mg_usleep_fn real = MG_REAL(usleep);
	if (mg_likely(!mg_again_wanted()) && real)
		return real(us);
	struct timespec req = { us / 1000000, (long)(us % 1000000) * 1000 };
	return nanosleep(&req, NULL);
}

/* Without the guard, a thread whose open signals have no handler pauses until it is killed. */
MG_AGAIN_WRAPPER(int, pause, (void), (), MG_SYS0(SYS_pause))

/* A semaphore's deadline is absolute: waited for again as it is. */
MG_AGAIN_WRAPPER(int, sem_timedwait, (sem_t *s, const struct timespec *abs), (s, abs), -ENOSYS)
MG_AGAIN_WRAPPER(int, sem_clockwait, (sem_t *s, clockid_t clk, const struct timespec *abs),
		 (s, clk, abs), -ENOSYS)

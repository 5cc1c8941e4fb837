/*
 * A wait the guard's lease handler ended with EINTR, where without the guard nothing could have
 * (sigmask.h, mg_sigmask_only_lease_open): made again with what is left of its timeout, so that
 * it ends as it would bare (wrap_sigwait.c, wrap_waits.c).
 */
#ifndef MG_WAIT_AGAIN_H
#define MG_WAIT_AGAIN_H

#include <errno.h>
#include <stdbool.h>
#include <time.h>

struct mg_again {
	bool timed;             /* end holds the deadline (CLOCK_MONOTONIC, as the kernel's) */
	struct timespec end, left;
	int saved;              /* errno before the call: a call made again succeeds as if first */
};

/* A timeout the kernel would take (it refuses the others itself, on the first call). */
static inline void mg_again_begin(struct mg_again *a, const struct timespec *t)
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
static inline const struct timespec *mg_again_timeout(struct mg_again *a, const struct timespec *t,
						      bool first)
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

static inline bool mg_interrupted(long r)
{
	return r < 0 && errno == EINTR;
}

/* A timeout in milliseconds (negative: none) for a call made again: what is left, rounded up. */
static inline int mg_again_ms(struct mg_again *a, int ms, bool first)
{
	struct timespec t = { ms / 1000, (long)(ms % 1000) * 1000000 };
	if (first || ms < 0) {
		errno = a->saved;
		return ms;
	}
	const struct timespec *left = mg_again_timeout(a, &t, false);
	return (int)(left->tv_sec * 1000 + (left->tv_nsec + 999999) / 1000000);
}

static inline void mg_again_begin_ms(struct mg_again *a, int ms)
{
	struct timespec t = { ms / 1000, (long)(ms % 1000) * 1000000 };
	mg_again_begin(a, ms >= 0 ? &t : NULL);
}

#endif

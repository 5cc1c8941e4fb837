/*
 * A wait the guard's lease handler ended with EINTR, where without the guard nothing would have
 * (lease_eintr.h, mg_lease_eintr): made again with what is left of its timeout, so that it
 * ends as it would bare (wrap_sigwait.c, wrap_waits.c, wrap_ipc_waits.c). The loop:
 *
 *     struct mg_again a;
 *     mg_again_begin(&a, t);                  (mg_again_start: no timeout)
 *     do
 *             r = call(..., mg_again_timeout(&a, t));
 *     while (mg_again_next(&a, r, mask, also));
 *
 * or, for a call with no timeout and the thread's own mask, r = MG_AGAIN(type, call(...)).
 */
#ifndef MG_WAIT_AGAIN_H
#define MG_WAIT_AGAIN_H

#include <errno.h>
#include <stdbool.h>
#include <time.h>
#include "config.h"
#include "lease.h"
#include "lease_eintr.h"

struct mg_again {
	bool timed;             /* end holds the deadline (CLOCK_MONOTONIC, as the kernel's) */
	bool first;             /* the next call is the first */
	struct timespec end, left;
	int saved;              /* errno before the call: a call made again succeeds as if first */
};

static inline void mg_again_start(struct mg_again *a)
{
	a->saved = errno;
	a->timed = false;
	a->first = true;
}

/* A timeout the kernel would take (it refuses the others itself, on the first call). */
static inline void mg_again_begin(struct mg_again *a, const struct timespec *t)
{
	mg_again_start(a);
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
static inline const struct timespec *mg_again_timeout(struct mg_again *a, const struct timespec *t)
{
	if (a->first || !a->timed)
		return t;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long long ns = (long long)(a->end.tv_sec - now.tv_sec) * 1000000000 + a->end.tv_nsec - now.tv_nsec;
	if (ns < 0)
		ns = 0;
	a->left.tv_sec = ns / 1000000000;
	a->left.tv_nsec = ns % 1000000000;
	errno = a->saved;
	return &a->left;
}

/* After a call that returned r: true if it is to be made again (errno is then as before the
 * first). */
static inline bool mg_again_next(struct mg_again *a, long r, const sigset_t *mask,
				 const sigset_t *also)
{
	if (mg_likely(r >= 0) || !mg_lease_eintr(r, mask, also))
		return false;
	a->first = false;
	errno = a->saved;
	return true;
}

/* A timeout in milliseconds (negative: none) for a call made again: what is left, rounded up. */
static inline int mg_again_ms(struct mg_again *a, int ms)
{
	struct timespec t = { ms / 1000, (long)(ms % 1000) * 1000000 };
	if (a->first || ms < 0)
		return ms;
	const struct timespec *left = mg_again_timeout(a, &t);
	return (int)(left->tv_sec * 1000 + (left->tv_nsec + 999999) / 1000000);
}

static inline void mg_again_begin_ms(struct mg_again *a, int ms)
{
	struct timespec t = { ms / 1000, (long)(ms % 1000) * 1000000 };
	mg_again_begin(a, ms >= 0 ? &t : NULL);
}

/* Timed waits are made again only while leases are on (then a relative timeout costs a clock read
 * before the call); otherwise each is the program's call alone. */
static inline bool mg_again_wanted(void)
{
	return mg_cfg.leases != MG_LEASES_OFF && mg_lease_signal_now() > 0;
}

/* The value of call (an expression, no timeout of its own to shorten), made again while
 * mg_again_next says so. */
#define MG_AGAIN(type, call)                                            \
	({                                                              \
		struct mg_again mg_a_;                                  \
		type mg_r_;                                             \
		mg_again_start(&mg_a_);                                 \
		do                                                      \
			mg_r_ = (call);                                 \
		while (mg_again_next(&mg_a_, (long)mg_r_, NULL, NULL)); \
		mg_r_;                                                  \
	})

/*
 * The wrapper of libc's name (no timeout of its own to shorten, the thread's own mask): with
 * leases off (MMAPGUARD_LEASES) and libc's function resolved, a tail call to it (no lease signal
 * can interrupt it); otherwise, out of line, the system call while libc's cannot be resolved yet,
 * and with leases on the call made again while mg_again_next says so. params names the
 * parameters, args lists them; syscall: the system call.
 */
#define MG_AGAIN_WRAPPER(ret, name, params, args, syscall)                              \
	static inline ret name##_once params                                            \
	{                                                                               \
		return MG_CALL_REAL(name, args, syscall);                               \
	}                                                                               \
	static __attribute__((noinline)) ret name##_again params                        \
	{                                                                               \
		if (mg_cfg.leases == MG_LEASES_OFF)                                     \
			return name##_once args;                                        \
		return MG_AGAIN(ret, name##_once args);                                 \
	}                                                                               \
	MG_EXPORT ret name params                                                       \
	{                                                                               \
		mg_##name##_fn fn = __atomic_load_n(&mg_real_##name, __ATOMIC_RELAXED); \
		if (mg_likely(fn != NULL && mg_cfg.leases == MG_LEASES_OFF))            \
			return fn args;                                                 \
		return name##_again args;                                               \
	}

#endif

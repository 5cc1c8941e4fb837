/*
 * sigprocmask, pthread_sigmask: while the guard holds leases on a signal of its own (lease.h), the
 * program's masks never block that signal for real. A daemon that blocks every signal and reads
 * the ones it wants from a signalfd or a sigwait() thread would otherwise never let the guard
 * answer a break: every writer of a mapped file would wait lease-break-time (45 s) and the cut go
 * ahead unseen. The program still sees its own mask: a thread that asked for the signal blocked
 * reads it back blocked, its new threads and exec'd images start with it blocked, as without the
 * guard. The handler may then run in a thread that blocked everything: it is async-signal-safe,
 * and the waits it ends there with EINTR, which nothing could end bare, are made again
 * (wrap_sigwait.c, wrap_waits.c). The thread's flag lives in sigmask_flag.c, which the lease code
 * uses too when it picks a signal.
 */
#define _GNU_SOURCE
#include "lease.h"
#include "real.h"
#include "sigmask.h"
#include "sigmask_flag.h"
#include "thread.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The last vfork child that set its own mask (its memory is its parent's: a pid, not a flag). */
static pid_t vfork_child_set;

struct change {
	int sig;                /* the lease signal, 0: the call goes through as it is */
	bool was, now;
	sigset_t copy;
};

/*
 * A vfork child's memory (this thread's flag included) is its parent's: its calls go through as
 * they are. It answers no break (the parent's threads do), and it execs or exits soon. Whether
 * the caller is one costs a system call, asked only when the flag is set or the set names the
 * signal: a program that never blocks it pays nothing.
 */
static const sigset_t *before(int how, const sigset_t *set, struct change *c)
{
	c->sig = mg_lease_signal_now();
	if (c->sig <= 0 || mg_inside()) {
		c->sig = 0;
		return set;
	}
	c->was = c->now = mg_sigmask_flag;
	bool member = set && sigismember(set, c->sig) == 1;     /* a bad pointer faults, as in
								  * the program */
	if (!mg_sigmask_flag && !member)
		return set;     /* nothing to take out, nothing to remember */
	if (mg_not_self_process()) {
		if (set)
			__atomic_store_n(&vfork_child_set, (pid_t)MG_SYS0(SYS_getpid), __ATOMIC_RELAXED);
		c->sig = 0;
		return set;
	}
	if (!set)
		return set;
	if (member && (how == SIG_BLOCK || how == SIG_SETMASK) && mg_sigmask_names_few(set)) {
		/* Blocked among a few: the program uses that signal. The leases move off it, and the
		 * call blocks it for real. */
		mg_lease_program_signal(c->sig, "the program blocks the lease signal among a few "
					"(for sigwait or a signalfd)");
		c->sig = mg_lease_signal_now();
		if (c->sig <= 0) {
			c->sig = 0;
			return set;
		}
		member = sigismember(set, c->sig) == 1;
	}
	if (how == SIG_BLOCK) {
		c->now = c->was || member;
	} else if (how == SIG_UNBLOCK) {
		c->now = c->was && !member;
		return set;
	} else if (how == SIG_SETMASK) {
		c->now = member;
	} else {
		c->sig = 0;     /* EINVAL */
		return set;
	}
	if (!member)
		return set;
	c->copy = *set;
	sigdelset(&c->copy, c->sig);
	return &c->copy;
}

static void after(const struct change *c, sigset_t *old)
{
	if (!c->sig)
		return;
	mg_sigmask_flag = c->now;
	if (old && c->was)
		sigaddset(old, c->sig);
}

MG_EXPORT int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
	struct change c;
	const sigset_t *use = before(how, set, &c);
	int r = MG_CALL_REAL(sigprocmask, (how, use, old),
			     MG_SYS4(SYS_rt_sigprocmask, how, use, old, _NSIG / 8));
	if (r == 0)
		after(&c, old);
	return r;
}

MG_EXPORT int pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
	struct change c;
	const sigset_t *use = before(how, set, &c);
	mg_pthread_sigmask_fn real = MG_REAL(pthread_sigmask);
	int r = real ? real(how, use, old) : ENOSYS;
	if (r == 0)
		after(&c, old);
	return r;
}

const sigset_t *mg_sigmask_for_wait(const sigset_t *set, bool waits_for, sigset_t *copy)
{
	int sig = mg_lease_signal_now();
	if (sig <= 0 || !set || mg_inside() || sigismember(set, sig) != 1)
		return set;
	if (waits_for && mg_sigmask_names_few(set)) {
		/* Waited for among a few: the program uses that signal. The leases move off it. */
		mg_lease_program_signal(sig, "the program waits for the lease signal among a few (sigwait)");
		return set;
	}
	if (waits_for && !mg_sigmask_flag)
		mg_lease_let_in_here(sig);      /* blocked with everything before the pick? */
	*copy = *set;
	sigdelset(copy, sig);
	return copy;
}

bool mg_sigmask_held(void)
{
	return mg_sigmask_flag && mg_lease_signal_now() > 0;
}

void mg_sigmask_thread_holds(void)
{
	mg_sigmask_flag = true;
}

/*
 * exec: the new image gets the mask the program asked for. A vfork child that set a mask of its own
 * has it as it asked; one that did not has its parent thread's, where the program asked for what
 * this thread's flag says. Returns the signal blocked (0: none), for mg_sigmask_exec_failed.
 */
int mg_sigmask_before_exec(void)
{
	int sig = mg_lease_signal_now();
	if (sig <= 0 || !mg_sigmask_flag)
		return 0;
	if (mg_not_self_process() &&
	    __atomic_load_n(&vfork_child_set, __ATOMIC_RELAXED) == (pid_t)MG_SYS0(SYS_getpid))
		return 0;
	return mg_sigmask_one(SIG_BLOCK, sig) ? sig : 0;
}

void mg_sigmask_exec_failed(int sig)
{
	if (sig > 0)
		mg_sigmask_one(SIG_UNBLOCK, sig);
}

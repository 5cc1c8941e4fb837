/*
 * The program's view of SIGBUS. The guard's handler reports a fault in a tracked mapping
 * (sigbus.c), then hands the signal to the program's own handler or dies as the program would have.
 * sigaction/signal/bsd_signal/sysv_signal/sigset for SIGBUS are answered from the guard's copy of
 * the program's disposition.
 */
#define _GNU_SOURCE
#include "wrap_signal.h"
#include "lease.h"
#include "config.h"
#include "lock.h"
#include "index.h"
#include "real.h"
#include "registry.h"
#include "sigbus.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>

static bool installed;                  /* the guard answers sigaction(SIGBUS) for the program */
static bool kernel_ignores;             /* the program chose SIG_IGN: the kernel holds that */
static struct sigaction ours;
static struct sigaction app_action;     /* what the program installed (or found at load) */
static unsigned app_seq;                /* odd while app_action is being changed */
/*
 * Writers of app_action hold mg_app_sig_lock with every signal blocked: two writers never mix
 * their handler and flags, and no handler of the writing thread can run halfway through a write
 * (it would wait forever for its own thread to finish). Readers (the SIGBUS handler among them)
 * take no lock: a write in progress is always another thread's, which finishes.
 */

/* ---- dispositions --------------------------------------------------------------------------- */

static void read_app_action(struct sigaction *out)
{
	for (;;) {
		unsigned s1 = __atomic_load_n(&app_seq, __ATOMIC_ACQUIRE);
		if (s1 & 1)
			continue;
		memcpy(out, &app_action, sizeof *out);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&app_seq, __ATOMIC_RELAXED) == s1)
			return;
	}
}

static void write_app_action(const struct sigaction *in)
{
	__atomic_add_fetch(&app_seq, 1, __ATOMIC_ACQ_REL);
	memcpy(&app_action, in, sizeof *in);
	__atomic_add_fetch(&app_seq, 1, __ATOMIC_RELEASE);
}

static void app_write_begin(unsigned long *old)
{
	unsigned long all = ~0ul;
	MG_SYS4(SYS_rt_sigprocmask, SIG_BLOCK, &all, old, sizeof(long));
	mg_lock(&mg_app_sig_lock);
}

static void app_write_end(const unsigned long *old)
{
	mg_unlock(&mg_app_sig_lock);
	MG_SYS4(SYS_rt_sigprocmask, SIG_SETMASK, old, NULL, sizeof(long));
}

/*
 * The kernel's disposition for SIGBUS: the guard's handler, with the program's SA_ONSTACK,
 * SA_NODEFER, SA_RESTART and sa_mask, so that it runs on the stack and with the mask the program's
 * handler would have, and can call that handler right there (chain()). With no handler of the
 * program's, SA_ONSTACK: an alternate stack the program installed is used if there is one.
 * An ignored SIGBUS must stay ignored across execve, which only the kernel's own disposition
 * does: while the program ignores SIGBUS the kernel holds SIG_IGN (a fault then kills the process
 * as it would without the guard, unreported).
 */
static void sync_kernel(const struct sigaction *app)
{
	mg_sigaction_fn real = MG_REAL(sigaction);
	if (!real)
		return;
	bool ign = !(app->sa_flags & SA_SIGINFO) && app->sa_handler == SIG_IGN;
	if (ign) {
		if (kernel_ignores)
			return;
		struct sigaction a;
		memset(&a, 0, sizeof a);
		a.sa_handler = SIG_IGN;
		real(SIGBUS, &a, NULL);
	} else {
		bool own = (app->sa_flags & SA_SIGINFO) || app->sa_handler != SIG_DFL;
		struct sigaction k = ours;
		k.sa_flags = SA_SIGINFO | (own ? app->sa_flags & (SA_ONSTACK | SA_NODEFER | SA_RESTART)
					       : SA_ONSTACK | SA_RESTART);
		if (own)
			k.sa_mask = app->sa_mask;
		else
			sigemptyset(&k.sa_mask);
		real(SIGBUS, &k, NULL);
	}
	kernel_ignores = ign;
}

static void set_default(void)
{
	struct sigaction dfl;
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	mg_sigaction_fn real = MG_REAL(sigaction);
	if (real)
		real(SIGBUS, &dfl, NULL);
	__atomic_store_n(&installed, false, __ATOMIC_RELEASE);
}

/*
 * Hand the signal to the program's handler, as the kernel would have: the kernel already delivered
 * it on the stack and with the mask the program's disposition asks for (sync_kernel).
 */
static bool chain(int sig, siginfo_t *si, void *uc)
{
	struct sigaction a;
	read_app_action(&a);
	if (a.sa_handler == SIG_DFL || (a.sa_handler == SIG_IGN && si && si->si_code > 0))
		return false;           /* an ignored fault is fatal anyway: the kernel forces it */
	if (a.sa_handler == SIG_IGN)
		return true;
	if (a.sa_flags & SA_RESETHAND) {
		static const struct sigaction dfl;      /* SIG_DFL, no flags */
		unsigned long m;
		app_write_begin(&m);
		write_app_action(&dfl);
		sync_kernel(&dfl);
		app_write_end(&m);
	}
	if (a.sa_flags & SA_SIGINFO)
		a.sa_sigaction(sig, si, uc);
	else
		a.sa_handler(sig);
	return true;
}

static void handler(int sig, siginfo_t *si, void *uc)
{
	int saved = errno;
	if (si && si->si_code > 0 && mg_index_owns((uintptr_t)si->si_addr)) {
		/* Someone cut this process's own index file: publish no more, and run on. */
		mg_index_abandon();
		errno = saved;
		return;
	}
	mg_enter();
	bool survived = si && si->si_code > 0 && mg_reg_nmaps() && mg_sigbus_report(si, uc);
	mg_leave();
	if (survived) {
		errno = saved;
		return;                 /* the access is retried and reads zeros */
	}
	if (chain(sig, si, uc)) {
		errno = saved;
		return;
	}
	/*
	 * Die as without the guard: for a fault, returning re-executes the access with the default
	 * disposition (original si_addr, core dump); a sent signal is sent again.
	 */
	set_default();
	if (!si || si->si_code <= 0)
		MG_SYS3(SYS_tgkill, MG_SYS0(SYS_getpid), MG_SYS0(SYS_gettid), sig);
	errno = saved;
}

bool mg_sigbus_init(void)
{
	if (!mg_cfg.sigbus || mg_cfg.mode == MG_MODE_OFF)
		return false;
	mg_sigaction_fn real = MG_REAL(sigaction);
	if (!real)
		return false;
	struct sigaction prev;
	memset(&ours, 0, sizeof ours);
	ours.sa_sigaction = handler;
	ours.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
	sigemptyset(&ours.sa_mask);
	if (real(SIGBUS, &ours, &prev) < 0)
		return false;
	write_app_action(&prev);
	__atomic_store_n(&installed, true, __ATOMIC_RELEASE);
	sync_kernel(&prev);     /* the program's flags and mask, if it had a handler already */
	return true;
}

bool mg_program_handles(int sig)
{
	struct sigaction a;
	if (sig == SIGBUS && __atomic_load_n(&installed, __ATOMIC_ACQUIRE)) {
		read_app_action(&a);
		return a.sa_handler != SIG_DFL && a.sa_handler != SIG_IGN;
	}
	struct { unsigned long handler, flags, restorer, mask; } k;
	return MG_SYS4(SYS_rt_sigaction, sig, NULL, &k, sizeof k.mask) != 0 ||
	       (k.handler != (unsigned long)SIG_DFL && k.handler != (unsigned long)SIG_IGN);
}

/* ---- the program's view of SIGBUS ----------------------------------------------------------- */

MG_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	mg_sigaction_fn real = MG_REAL(sigaction);
	if (act && sig != SIGBUS && !mg_inside())
		/* the program's now: leases move to another signal (not in a vfork child: they are
		 * the parent's) */
		mg_lease_program_signal(sig, MG_LEASE_SIG_HANDLER);
	if (sig != SIGBUS || !__atomic_load_n(&installed, __ATOMIC_ACQUIRE)) {
		if (real)
			return real(sig, act, old);
		errno = ENOSYS;
		return -1;
	}
	/* The kernel keeps our handler; the program sees and changes only its own. */
	struct sigaction in, prev;
	if (act)
		in = *act;      /* a bad pointer faults here, as in the program's own code */
	unsigned long m;
	app_write_begin(&m);
	read_app_action(&prev);
	if (act) {
		write_app_action(&in);
		sync_kernel(&in);
	}
	app_write_end(&m);
	if (old)
		*old = prev;
	return 0;
}

/* signal(), bsd_signal(), sysv_signal(), sigset(): glibc reaches its internal sigaction. */
static __sighandler_t emulate(__sighandler_t h, int flags, bool unblock)
{
	struct sigaction a, old;
	memset(&a, 0, sizeof a);
	a.sa_handler = h;
	a.sa_flags = flags;
	unsigned long m;
	app_write_begin(&m);
	read_app_action(&old);
	write_app_action(&a);
	sync_kernel(&a);
	app_write_end(&m);
	if (unblock) {
		sigset_t set;
		sigemptyset(&set);
		sigaddset(&set, SIGBUS);
		pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	}
	return old.sa_handler;
}

static bool emulating(int sig)
{
	if (sig != SIGBUS && !mg_inside())
		mg_lease_program_signal(sig, MG_LEASE_SIG_HANDLER);
	return sig == SIGBUS && __atomic_load_n(&installed, __ATOMIC_ACQUIRE);
}

MG_EXPORT __sighandler_t signal(int sig, __sighandler_t h)
{
	mg_signal_fn real = MG_REAL(signal);
	if (!emulating(sig))
		return real ? real(sig, h) : SIG_ERR;
	return emulate(h, SA_RESTART, false);    /* glibc's signal() has BSD semantics */
}

MG_EXPORT __sighandler_t bsd_signal(int sig, __sighandler_t h)
{
	if (!emulating(sig)) {
		mg_bsd_signal_fn real = MG_REAL(bsd_signal);
		return real ? real(sig, h) : SIG_ERR;
	}
	return emulate(h, SA_RESTART, false);
}

MG_EXPORT __sighandler_t sysv_signal(int sig, __sighandler_t h)
{
	if (!emulating(sig)) {
		mg_sysv_signal_fn real = MG_REAL(sysv_signal);
		return real ? real(sig, h) : SIG_ERR;
	}
	return emulate(h, SA_RESETHAND | SA_NODEFER, false);
}

MG_EXPORT __sighandler_t sigset(int sig, __sighandler_t h)
{
	if (!emulating(sig) || h == SIG_HOLD) {
		mg_sigset_fn real = MG_REAL(sigset);
		return real ? real(sig, h) : SIG_ERR;
	}
	sigset_t cur;
	pthread_sigmask(SIG_BLOCK, NULL, &cur);
	__sighandler_t old = emulate(h, 0, true);
	return sigismember(&cur, SIGBUS) ? SIG_HOLD : old;
}


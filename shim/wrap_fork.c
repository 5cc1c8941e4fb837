/* fork's atfork handlers, _Fork (which runs none), and clone() children (which run none either). */
#define _GNU_SOURCE
#include "wrap_fork.h"
#include "backtrace.h"
#include "claim.h"
#include "index.h"
#include "lock.h"
#include "lease.h"
#include "log.h"
#include "mapcount.h"
#include "posix_locks.h"
#include "real.h"
#include "registry.h"
#include "report.h"
#include "thread.h"

#include <errno.h>
#include <unistd.h>

/*
 * The forking thread's state between prepare and parent/child (thread-local: another thread may
 * fork at the same time from a signal handler).
 */
static MG_TLS bool fork_gated, fork_loaded;

static void prepare(bool may_load)
{
	/*
	 * Forking from inside the guard (the violation callback, a signal handler that interrupted
	 * it): this thread may hold a lock that another fork waits for, so it does not wait for the
	 * gate; its child then simply does not unwind if someone was unwinding.
	 */
	bool inside = mg_inside();
	if (mg_lock_mine(&mg_fork_gate))
		fork_gated = false;
	else if (inside)
		fork_gated = mg_trylock(&mg_fork_gate);
	else
		fork_gated = (mg_lock(&mg_fork_gate), true);
	fork_loaded = fork_gated && may_load && !inside;
	if (fork_gated) {
		mg_fork_gate.forking = mg_thread_tid();
		mg_bt_atfork_prepare(fork_loaded);
	}
	mg_lock_prepare(&mg_cb_lock);
	mg_lock_prepare(&mg_files_lock);
	mg_lock_prepare(&mg_app_sig_lock);
	mg_reg_atfork_prepare();
}

/* me: this thread's tid in the parent, which the locks it held carry. */
static void child(pid_t me, bool may_load)
{
	mg_reg_atfork_child(me);
	mg_claim_atfork_child(me);
	mg_lock_child(&mg_app_sig_lock, me);
	mg_lock_child(&mg_files_lock, me);
	mg_lock_child(&mg_cb_lock, me);
	mg_report_atfork_child(me);
	mg_lock_child(&mg_fork_gate, me);
	fork_gated = false;
	/* dlopen later only if prepare loaded libunwind, or no other thread can hold the loader's
	 * lock */
	mg_bt_atfork_child(may_load || !mg_threads_started());
	mg_log_atfork_child();
	mg_thread_atfork_child();
	mg_mapcount_atfork_child();
	mg_posix_locks_atfork_child();  /* before the child's leases: it holds no locks of its own */
	mg_lease_atfork_child();
	if (mg_index_atfork_child() && mg_reg_nmaps())
		mg_reg_republish();     /* what the child inherited, under its own pid */
}

void mg_fork_prepare(void) { prepare(true); }

void mg_fork_parent(void)
{
	mg_reg_atfork_parent();
	mg_lock_parent(&mg_app_sig_lock);
	mg_lock_parent(&mg_files_lock);
	mg_lock_parent(&mg_cb_lock);
	if (fork_gated) {
		fork_gated = false;
		mg_bt_atfork_parent();
		mg_lock_parent(&mg_fork_gate);
	}
}

void mg_fork_child(void) { child(mg_thread_tid(), fork_loaded); }

void mg_fork_foreign(void) { child(mg_thread_tid(), false); }

/*
 * _Fork runs no atfork handlers, yet its child may call async-signal-safe functions (ftruncate,
 * open, close) that reach the guard: the wrapper does what the handlers do, without dlopen.
 */
MG_EXPORT pid_t _Fork(void)
{
	mg__Fork_fn real = MG_REAL(_Fork);
	if (!real) {
		errno = ENOSYS;
		return -1;
	}
	int saved = errno;
	prepare(false);
	errno = saved;
	pid_t r = real();
	saved = errno;
	if (r == 0)
		child(mg_thread_tid(), false);
	else
		mg_fork_parent();
	errno = saved;
	return r;
}

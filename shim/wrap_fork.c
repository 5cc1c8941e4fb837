/* fork's atfork handlers, and _Fork (which runs none). */
#define _GNU_SOURCE
#include "wrap_fork.h"
#include "backtrace.h"
#include "log.h"
#include "real.h"
#include "registry.h"
#include "report.h"
#include "thread.h"

#include <errno.h>
#include <unistd.h>

void mg_fork_prepare(void)
{
	mg_bt_atfork_prepare();
	mg_report_lock();
	mg_reg_atfork_prepare();
}

void mg_fork_parent(void)
{
	mg_reg_atfork_parent();
	mg_report_unlock();
	mg_bt_atfork_parent();
}

void mg_fork_child(void)
{
	mg_bt_atfork_child();
	mg_reg_atfork_child();
	mg_report_atfork_child();
	mg_log_atfork_child();
	mg_thread_atfork_child();
}

/*
 * _Fork runs no atfork handlers, yet its child may call async-signal-safe functions (ftruncate,
 * open, close) that reach the guard: locks another thread held at that moment must not stay held.
 */
MG_EXPORT pid_t _Fork(void)
{
	mg__Fork_fn real = MG_REAL(_Fork);
	if (!real) {
		errno = ENOSYS;
		return -1;
	}
	bool quiet = mg_bt_try_quiesce();
	pid_t r = real();
	if (r == 0) {
		mg_fork_child();
		mg_bt_fork_child_after_Fork();
		if (!quiet)
			mg_bt_disable();        /* libunwind's lock may be held by a thread that is gone */
	} else {
		mg_bt_atfork_parent();
	}
	return r;
}

/* Load-time set-up. Everything also works before this runs (calls from earlier constructors). */
#define _GNU_SOURCE
#include "backtrace.h"
#include "config.h"
#include "log.h"
#include "mapcount.h"
#include "real.h"
#include "registry.h"
#include "report.h"
#include "sigbus.h"
#include "thread.h"

#include <errno.h>
#include <pthread.h>

static void prepare(void)
{
	mg_bt_atfork_prepare();
	mg_report_lock();
	mg_reg_atfork_prepare();
}

static void parent(void)
{
	mg_reg_atfork_parent();
	mg_report_unlock();
	mg_bt_atfork_parent();
}

static void child(void)
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
		child();
		mg_bt_fork_child_after_Fork();
		if (!quiet)
			mg_bt_disable();        /* libunwind's lock may be held by a thread that is gone */
	} else {
		mg_bt_atfork_parent();
	}
	return r;
}

__attribute__((constructor(101))) static void mg_init(void)
{
	/* Resolve every real function now (mg_resolve raises the guard around dlsym itself). */
#define MG_SYM(name, ret, params, required) mg_resolve((void **)&mg_real_##name, #name);
#include "intercept.def"
#undef MG_SYM
	mg_enter();
	if (!__atomic_load_n(&mg_cfg_ready, __ATOMIC_ACQUIRE))
		mg_config_load();
	void *mmap_ahead = mg_mmap_ahead();
	if (mg_other_guard_ahead(mmap_ahead)) {
		/* That copy checks and reports; this one passes every call through. */
		__atomic_store_n(&mg_cfg.mode, MG_MODE_OFF, __ATOMIC_RELAXED);
		pthread_atfork(prepare, parent, child);
		mg_leave();
		return;
	}
	mg_log_init();
	bool glibc_malloc = mg_free_init();
	bool hooked = mg_foreign_mman_init(mmap_ahead);
	/*
	 * dlopen later is only safe where it cannot land on a lock of the allocator's own; windows
	 * mapped before this constructor (preinit_array, earlier constructors) need it already.
	 */
	mg_bt_init(!glibc_malloc || hooked || mg_reg_nmaps() != 0);
	mg_sigbus_init();
	pthread_atfork(prepare, parent, child);
	mg_leave();
}

__attribute__((destructor)) static void mg_fini(void)
{
	mg_mapcount_summary();
}

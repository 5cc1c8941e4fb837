/* Load-time set-up. Everything also works before this runs (calls from earlier constructors). */
#define _GNU_SOURCE
#include "backtrace.h"
#include "config.h"
#include "dlmaps.h"
#include "foreign_mman.h"
#include "index.h"
#include "lease.h"
#include "lock.h"
#include "log.h"
#include "mapcount.h"
#include "real.h"
#include "registry.h"
#include "wrap_fork.h"
#include "wrap_free.h"
#include "thread.h"
#include "wrap_signal.h"

#include <pthread.h>

__attribute__((constructor(101))) static void mg_init(void)
{
	/* Resolve every real function now (mg_resolve raises the guard around dlsym itself). */
#define MG_SYM(name, ret, params, required) mg_resolve((void **)&mg_real_##name, #name);
#include "intercept.def"
#undef MG_SYM
	mg_enter();
	mg_fork_foreign_child = mg_fork_foreign;
	mg_thread_pid_slow();   /* asked now: the locks' process, before a vfork child could ask */
	if (!__atomic_load_n(&mg_cfg_ready, __ATOMIC_ACQUIRE))
		mg_config_load();
	void *mmap_ahead = mg_mmap_ahead();
	if (mg_other_guard_ahead(mmap_ahead)) {
		/* That copy checks and reports; this one passes every call through. */
		__atomic_store_n(&mg_cfg.mode, MG_MODE_OFF, __ATOMIC_RELAXED);
		pthread_atfork(mg_fork_prepare, mg_fork_parent, mg_fork_child);
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
	if (mg_index_init() && mg_reg_nmaps())
		mg_reg_republish();     /* windows mapped before the constructor */
	pthread_atfork(mg_fork_prepare, mg_fork_parent, mg_fork_child);
	mg_leave();
	mg_dl_init();   /* after mg_bt_init: the loader's windows need no unwinder */
}

__attribute__((destructor)) static void mg_fini(void)
{
	mg_mapcount_summary();
	mg_lease_fini();
	mg_index_fini();
}

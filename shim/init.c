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

__attribute__((constructor(101))) static void mg_init(void)
{
	/* Resolve every real function now (mg_resolve raises the guard around dlsym itself). */
#define MG_SYM(name, ret, params, required) mg_resolve((void **)&mg_real_##name, #name);
#include "intercept.def"
#undef MG_SYM
	mg_enter();
	if (!__atomic_load_n(&mg_cfg_ready, __ATOMIC_ACQUIRE))
		mg_config_load();
	mg_log_init();
	mg_bt_init();
	mg_sigbus_init();
	mg_free_init();
	pthread_atfork(prepare, parent, child);
	mg_leave();
}

__attribute__((destructor)) static void mg_fini(void)
{
	mg_mapcount_summary();
}

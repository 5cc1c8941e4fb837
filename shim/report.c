#define _GNU_SOURCE
#include "report.h"
#include "backtrace.h"
#include "config.h"
#include "lock.h"
#include "log.h"
#include "own_stack.h"

#include <pthread.h>

unsigned long mg_reports_written, mg_reports_dropped;
/* One record at a time (report lock): static, because a process at vm.max_map_count cannot map. */
static char buffer[256u << 10];

/* Raised guard while held: see mg_reg_lock. Never taken by fork (see lock.h). */
void mg_report_lock(void) { mg_lock(&mg_report_lock_); }
void mg_report_unlock(void) { mg_unlock(&mg_report_lock_); }

void mg_report_atfork_child(pid_t me)
{
	/* Another thread was symbolizing: its cache entry may be half written. */
	if (mg_lock_child(&mg_report_lock_, me))
		mg_bt_symcache_forget();
}

struct emit_args {
	mg_format_fn fmt;
	const void *facts;
};

int mg_report_write_locked(mg_format_fn fmt, const void *facts)
{
	struct mg_buf b;
	mg_buf_init(&b, buffer, sizeof buffer);
	return mg_record_write(&b, mg_cfg.format == MG_FORMAT_JSON, fmt, facts, mg_bt_symbolize,
			       mg_log_write);
}

static void emit_locked(void *p)
{
	const struct emit_args *a = p;
	mg_report_lock();
	if (mg_report_write_locked(a->fmt, a->facts) == 0)
		__atomic_add_fetch(&mg_reports_written, 1, __ATOMIC_RELAXED);
	else
		__atomic_add_fetch(&mg_reports_dropped, 1, __ATOMIC_RELAXED);
	mg_report_unlock();
}

#define EMIT_STACK (64u << 10)

void mg_report_emit(mg_format_fn fmt, const void *facts)
{
	int oldstate;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &oldstate);
	/* Symbolizing and formatting run deep: on a stack of the guard's own when pages can be had
	 * (a thread may have a PTHREAD_STACK_MIN stack; at the map-count wall there are none). */
	struct emit_args a = { fmt, facts };
	if (!mg_run_on_own_stack(emit_locked, &a, EMIT_STACK))
		emit_locked(&a);
	pthread_setcancelstate(oldstate, NULL);
}

void mg_report_emit_signal(mg_format_fn fmt, const void *facts, char *buf, size_t cap)
{
	struct mg_buf b;
	mg_buf_init(&b, buf, cap);
	mg_record_write(&b, mg_cfg.format == MG_FORMAT_JSON, fmt, facts, mg_symbolize_signal_safe,
			mg_log_write_signal);
}

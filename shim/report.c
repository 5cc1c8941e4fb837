#define _GNU_SOURCE
#include "report.h"
#include "api.h"
#include "backtrace.h"
#include "config.h"
#include "lock.h"
#include "log.h"

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

void mg_report_emit(mg_format_fn fmt, const void *facts, const struct mg_event *notify)
{
	int oldstate;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &oldstate);
	mg_report_lock();
	struct mg_buf b;
	mg_buf_init(&b, buffer, sizeof buffer);
	if (mg_record_write(&b, mg_cfg.format == MG_FORMAT_JSON, fmt, facts, mg_bt_symbolize,
			    mg_log_write) == 0)
		__atomic_add_fetch(&mg_reports_written, 1, __ATOMIC_RELAXED);
	else
		__atomic_add_fetch(&mg_reports_dropped, 1, __ATOMIC_RELAXED);
	mg_report_unlock();
	pthread_setcancelstate(oldstate, NULL);
	if (notify)
		mg_api_notify(notify);
}

void mg_report_emit_signal(mg_format_fn fmt, const void *facts, char *buf, size_t cap)
{
	struct mg_buf b;
	mg_buf_init(&b, buf, cap);
	mg_record_write(&b, mg_cfg.format == MG_FORMAT_JSON, fmt, facts, mg_symbolize_signal_safe,
			mg_log_write_signal);
}

/*
 * Writing a record out: the one emit step of every record kind (record.h has their facts and
 * formatters). Format, write with one write(), count. (The program's callback is told of
 * truncate/reopen events by check.c, after the record: api.h.)
 */
#ifndef MG_REPORT_H
#define MG_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include "guard.h"
#include "record.h"

/*
 * Under the report lock (cancellation disabled): format facts with fmt in the configured format,
 * symbolizing with the cached symbolizer, into the report buffer; write it to the log; count it
 * written or dropped.
 */
void mg_report_emit(mg_format_fn fmt, const void *facts) MG_HIDDEN;
/* Its core, for a caller that holds the report lock already: format and write, not counted (the
 * suppressed records). 0 or -errno. */
int mg_report_write_locked(mg_format_fn fmt, const void *facts) MG_HIDDEN;
/* The same from a signal handler: no lock, the caller's buffer, the async-signal-safe symbolizer
 * and log writer; not counted. */
void mg_report_emit_signal(mg_format_fn fmt, const void *facts, char *buf, size_t cap) MG_HIDDEN;

void mg_report_lock(void) MG_HIDDEN;
void mg_report_unlock(void) MG_HIDDEN;
void mg_report_atfork_child(pid_t me) MG_HIDDEN;

/* Counters, for the API and the tests. */
extern unsigned long mg_reports_written MG_HIDDEN, mg_reports_dropped MG_HIDDEN;

#endif

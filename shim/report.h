/* One violation, as written to the log: the facts, then text or JSON (same facts, same names). */
#ifndef MG_REPORT_H
#define MG_REPORT_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include "guard.h"
#include "registry.h"
#include "backtrace.h"
#include "fmt.h"

#define MG_REPORT_WINDOWS 8

struct mg_event {
	const char *event;              /* "truncate", "reopen" */
	const char *call;               /* intercepted function */
	const char *detail;             /* e.g. open flags, "" if none */
	bool blocked;
	int err;                        /* errno returned when blocked */
	char path[PATH_MAX];            /* absolute, as the call named it */
	dev_t dev;
	ino_t ino;
	bool has_sizes;
	uint64_t size_before, size_after;
	pid_t pid, tid;
	char thread_name[16];
	struct timespec time;
	uint64_t page_size;
	struct mg_stack stack;          /* the calling thread, from the caller of the wrapper */
	size_t nwindows;                /* copied below */
	size_t nwindows_total;          /* endangered (truncate) or live (reopen) windows */
	struct mg_window windows[MG_REPORT_WINDOWS];
	char window_path[MG_REPORT_WINDOWS][PATH_MAX]; /* name in /proc/self/maps */
};

/* A symbolizer: fills *out for ip. The formatter never symbolizes by itself. */
typedef void (*mg_symbolize_fn)(uintptr_t ip, bool exact, struct mg_sym *out);

/* Format e into b: JSON Lines (one line) or the text block. Async-signal-safe given a safe symbolizer. */
void mg_report_format_json(struct mg_buf *b, const struct mg_event *e, mg_symbolize_fn sym) MG_HIDDEN;
void mg_report_format_text(struct mg_buf *b, const struct mg_event *e, mg_symbolize_fn sym) MG_HIDDEN;

/* Pieces shared with the SIGBUS report. */
void mg_report_put_prot(struct mg_buf *b, int prot) MG_HIDDEN;
/* One element of "mappings": the same fields in every event. */
void mg_report_json_window(struct mg_buf *b, const struct mg_window *w, uint64_t pages_beyond,
			   const char *path, mg_symbolize_fn sym) MG_HIDDEN;
void mg_report_json_stack(struct mg_buf *b, const struct mg_stack *st, mg_symbolize_fn sym) MG_HIDDEN;
void mg_report_text_stack(struct mg_buf *b, const struct mg_stack *st, mg_symbolize_fn sym,
			  const char *indent) MG_HIDDEN;

/* 'TID "NAME" [of pid PID] at TIME:' and the stack below it. pid <= 0: not shown. */
void mg_report_text_thread(struct mg_buf *b, pid_t tid, const char *name, pid_t pid,
			   const struct timespec *when, const struct mg_stack *st, mg_symbolize_fn sym,
			   const char *indent) MG_HIDDEN;

/* Fill the common fields (pid, tid, thread name, time), resolve window paths, format and write. */
void mg_report_emit(struct mg_event *e) MG_HIDDEN;

void mg_report_lock(void) MG_HIDDEN;
void mg_report_unlock(void) MG_HIDDEN;
void mg_report_atfork_child(pid_t me) MG_HIDDEN;

/* The formatting buffer, for whoever holds the report lock. */
extern char mg_report_buffer[256u << 10] MG_HIDDEN;

/* Counters, for the API and the tests. */
extern unsigned long mg_reports_written MG_HIDDEN, mg_reports_dropped MG_HIDDEN;

#endif

/*
 * The records the guard writes: the facts of each kind, its formatter (JSON Lines or the text
 * block, into a caller's buffer, symbolizing through a caller's function), and one writer for the
 * fields that records share. Everything here is async-signal-safe given a safe symbolizer: the
 * SIGBUS record is formatted in the handler. Writing a record out is report.h's.
 */
#ifndef MG_RECORD_H
#define MG_RECORD_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include "fmt.h"
#include "guard.h"
#include "history.h"
#include "index_format.h"
#include "lease.h"
#include "procmaps.h"
#include "registry.h"
#include "stack.h"

/* Who writes a record and when. */
struct mg_who {
	pid_t pid, tid;
	char thread_name[16];
	struct timespec time;           /* CLOCK_REALTIME */
};

/* The calling thread, now: raw system calls only (async-signal-safe). */
void mg_who_now(struct mg_who *w) MG_HIDDEN;

/* Formats one record of a kind into b. */
typedef void (*mg_format_fn)(struct mg_buf *b, bool json, const void *facts, mg_symbolize_fn sym);
/* Takes a finished record (one write): 0 or -errno. */
typedef int (*mg_write_fn)(const char *p, size_t n);

/* Format facts into b (JSON Lines or text), then hand the bytes to write: 0 or -errno. */
int mg_record_write(struct mg_buf *b, bool json, mg_format_fn fmt, const void *facts,
		    mg_symbolize_fn sym, mg_write_fn write) MG_HIDDEN;

/* ---- truncate, reopen ----------------------------------------------------------------------- */

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
	struct mg_who who;
	uint64_t page_size;
	struct mg_stack stack;          /* the calling thread, from the caller of the wrapper */
	size_t nwindows;                /* copied below */
	size_t nwindows_total;          /* endangered (truncate) or live (reopen) windows */
	struct mg_window windows[MG_REPORT_WINDOWS];
	char window_path[MG_REPORT_WINDOWS][MG_VMA_PATH]; /* name in /proc/self/maps */
	struct mg_victims *victims;     /* other processes (scope guarded/all); NULL: scope process */
};

void mg_format_event(struct mg_buf *b, bool json, const void *event, mg_symbolize_fn sym) MG_HIDDEN;
/* The call and its file (JSON: ,"call",["flags"],"path","dev","ino"[,"size_before","size_after"]),
 * as truncate, reopen and suppressed records name them. */
void mg_json_event_call(struct mg_buf *b, const struct mg_event *e) MG_HIDDEN;
/* Pages of window i wholly beyond the new size (0 for a reopen). */
uint64_t mg_event_pages_beyond(const struct mg_event *e, size_t i) MG_HIDDEN;
/* Pages of window i this call turns from backed to unbacked (0 for a reopen). */
uint64_t mg_event_pages_cut(const struct mg_event *e, size_t i) MG_HIDDEN;

/* Other processes in a truncate/reopen record (JSON: ,"scope",..,"victims":[..],"victims_total"),
 * the text blocks (report_victims.c). */
struct mg_victims;
void mg_json_victims(struct mg_buf *b, const struct mg_victims *v) MG_HIDDEN;
void mg_text_victims(struct mg_buf *b, const struct mg_victims *v) MG_HIDDEN;

/* ---- sigbus --------------------------------------------------------------------------------- */

struct mg_fault {
	uintptr_t addr;
	int code;
	int registry;                   /* MG_FIND_EXACT / MG_FIND_UNCERTAIN */
	struct mg_window w;
	struct mg_vma vma;
	char vma_path[MG_VMA_PATH];
	bool have_vma;
	uint64_t fault_offset;
	bool have_size;
	uint64_t size;
	uint64_t page_size;
	const char *file_status;        /* "present", "renamed", "unlinked", "unknown" */
	const char *verdict;            /* "truncated", "beyond_eof_at_map", "io_error", "unknown" */
	bool have_trunc;
	struct mg_trunc_record trunc;
	bool have_cut_by;               /* another process announced the cut (a lease break) */
	struct mg_lease_cut cut_by;
	bool have_cut;                  /* a guarded process recorded the cut (the shared index) */
	struct mg_ix_cut cut;
	/*
	 * Of the cuts above (each the latest of its source made after the window was, leaving the
	 * faulting page unbacked; of the two other-process sources only the later is kept), the
	 * latest: it left the file as the fault found it.
	 */
	enum { MG_CAUSE_NONE, MG_CAUSE_OWN, MG_CAUSE_GUARDED, MG_CAUSE_LEASE } cause;
	const char *action;             /* "reported", or "survived" (MMAPGUARD_SIGBUS=survive) */
	struct mg_who who;
	struct mg_stack stack;
};

void mg_format_fault(struct mg_buf *b, bool json, const void *fault, mg_symbolize_fn sym) MG_HIDDEN;
/* cut_by from a guarded cutter's record (JSON: ,"cut_by":{..}) and its text lines. */
void mg_json_cut_by(struct mg_buf *b, const struct mg_ix_cut *c) MG_HIDDEN;
void mg_text_cut_by(struct mg_buf *b, const struct mg_ix_cut *c) MG_HIDDEN;

/* ---- map_limit, map_count_high, map_limit_summary ------------------------------------------- */

struct mg_limit_event {
	const char *event;              /* map_limit, map_count_high, map_limit_summary */
	const char *call;               /* the refused call (map_limit), else NULL */
	const char *action;
	uintptr_t addr;
	size_t len;
	long arg3, arg4;
	long vmas, limit, warn_at;
	bool from_free;
	size_t leaked;
	unsigned long failures, bytes_kept;     /* map_limit_summary */
	struct mg_who who;
	struct mg_stack stack;
	const char *explanation, *remedy;
};

void mg_format_limit(struct mg_buf *b, bool json, const void *limit_event, mg_symbolize_fn sym) MG_HIDDEN;

/* ---- suppressed ----------------------------------------------------------------------------- */

/*
 * A call a suppression excused (suppress.c): a JSON log file only, so the text form is empty (the
 * program's stderr and a text log stay as they are without the guard).
 */
struct mg_suppressed {
	const struct mg_event *e;       /* the call: kind, call, flags, file, sizes, who, stack */
	const char *rule;               /* rule name, or the API / MMAPGUARD_SUPPRESS reason */
	const char *rule_file;          /* NULL: not from a rule file */
	unsigned long count;            /* calls of this site so far in this process */
	uint64_t site;
};
void mg_format_suppressed(struct mg_buf *b, bool json, const void *suppressed, mg_symbolize_fn sym) MG_HIDDEN;

/* The tally at exit: a site whose last calls were not recorded. */
struct mg_suppressed_tally {
	uint64_t site;
	unsigned long count;
	pid_t pid;
	struct timespec time;
};
void mg_format_suppressed_tally(struct mg_buf *b, bool json, const void *tally, mg_symbolize_fn sym) MG_HIDDEN;

/* ---- the shared fields ---------------------------------------------------------------------- */

/* JSON: '{"event":E,"action":A', then ',"key":value' members, then '}\n'. */
void mg_json_begin(struct mg_buf *b, const char *event, const char *action) MG_HIDDEN;
void mg_json_key(struct mg_buf *b, const char *key) MG_HIDDEN;
void mg_json_str(struct mg_buf *b, const char *key, const char *v) MG_HIDDEN;
void mg_json_u64(struct mg_buf *b, const char *key, uint64_t v) MG_HIDDEN;
void mg_json_i64(struct mg_buf *b, const char *key, int64_t v) MG_HIDDEN;
void mg_json_hex(struct mg_buf *b, const char *key, uint64_t v) MG_HIDDEN;        /* "0x..." */
void mg_json_time(struct mg_buf *b, const char *key, const struct timespec *ts) MG_HIDDEN;
/* pid, tid, thread_name, time */
void mg_json_who(struct mg_buf *b, const struct mg_who *w) MG_HIDDEN;
/* tid, thread_name, time of a window's creator or an earlier cut (no pid) */
void mg_json_stack(struct mg_buf *b, const char *key, const struct mg_stack *st,
		   mg_symbolize_fn sym) MG_HIDDEN;
void mg_json_bool(struct mg_buf *b, const char *key, bool v) MG_HIDDEN;
/* Another process, opening its object: '{"pid":P,"comm":C,"exe":E'. */
void mg_json_process(struct mg_buf *b, pid_t pid, const char *comm, const char *exe) MG_HIDDEN;
/* A mapping's range, opening its object: '{"addr":"0x..","length":N,"offset":N,"prot":"..","shared":B'. */
void mg_json_range(struct mg_buf *b, uintptr_t start, uintptr_t end, uint64_t offset, int prot,
		   bool shared) MG_HIDDEN;
/*
 * One element of "mappings": the same fields in every record, and "mapped_in_pid" when the
 * window was made in another process (inherited through fork). pages_cut: pages this call turns
 * unbacked (pages_beyond_eof); pages_beyond: all pages beyond the end of file (pages_beyond_eof_total).
 */
void mg_json_window(struct mg_buf *b, const struct mg_window *w, uint64_t pages_cut,
		    uint64_t pages_beyond, const char *path, mg_symbolize_fn sym) MG_HIDDEN;
void mg_json_end(struct mg_buf *b) MG_HIDDEN;

/* Text: PROT_READ|PROT_WRITE, ... */
void mg_text_prot(struct mg_buf *b, int prot) MG_HIDDEN;
/* 'START-END ([LEN bytes at ]file offset OFF, PROT, MAP_SHARED' (the caller closes the parenthesis) */
void mg_text_range(struct mg_buf *b, uintptr_t start, uintptr_t end, uint64_t offset, int prot,
		   bool shared, bool length) MG_HIDDEN;
/* 'BEFORE -> AFTER bytes' ('BEFORE bytes' when the size after is not known) */
void mg_text_sizes(struct mg_buf *b, uint64_t before, bool has_after, uint64_t after) MG_HIDDEN;
/* 'TID "NAME" [of pid PID] at TIME:\n' (pid <= 0: not shown) */
void mg_text_who(struct mg_buf *b, pid_t tid, const char *name, pid_t pid,
		 const struct timespec *when) MG_HIDDEN;
void mg_text_stack(struct mg_buf *b, const struct mg_stack *st, mg_symbolize_fn sym,
		   const char *indent) MG_HIDDEN;
/* mg_text_who and the stack below it */
void mg_text_thread(struct mg_buf *b, pid_t tid, const char *name, pid_t pid,
		    const struct timespec *when, const struct mg_stack *st, mg_symbolize_fn sym,
		    const char *indent) MG_HIDDEN;
/* 'mmapguard: INDENT(pid HERE inherited the mapping through fork: it was made in pid MADE)\n' */
void mg_text_inherited(struct mg_buf *b, pid_t made, pid_t here, const char *indent) MG_HIDDEN;
/*
 * Who made window w of this process, inherited or not, and its creation stack. "This process" is
 * whose memory it is: a vfork child, which shares its parent's, answers with the parent's pid.
 */
void mg_text_maker(struct mg_buf *b, const struct mg_window *w, mg_symbolize_fn sym,
		   const char *indent) MG_HIDDEN;

/* A frame's text where no loaded object holds its address (cmd/render_parts.c writes the same). */
#define MG_TEXT_NO_OBJECT "(not in a loaded object)"

#endif

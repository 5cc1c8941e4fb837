#define _GNU_SOURCE
#include "report.h"
#include "arena.h"
#include "config.h"
#include "lock.h"
#include "log.h"
#include "procmaps.h"
#include "real.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

unsigned long mg_reports_written, mg_reports_dropped;
/* One record at a time (report lock): static, because a process at vm.max_map_count cannot map. */
char mg_report_buffer[256u << 10];

static const char *errno_name(int e)
{
	switch (e) {
	case ETXTBSY: return "ETXTBSY";
	case EBUSY: return "EBUSY";
	case EPERM: return "EPERM";
	case EACCES: return "EACCES";
	case EAGAIN: return "EAGAIN";
	case EINVAL: return "EINVAL";
	case EROFS: return "EROFS";
	default: return "?";
	}
}

void mg_report_put_prot(struct mg_buf *b, int prot)
{
	if (prot == PROT_NONE) {
		mg_buf_puts(b, "PROT_NONE");
		return;
	}
	const char *sep = "";
	if (prot & PROT_READ) { mg_buf_puts(b, "PROT_READ"); sep = "|"; }
	if (prot & PROT_WRITE) { mg_buf_puts(b, sep); mg_buf_puts(b, "PROT_WRITE"); sep = "|"; }
	if (prot & PROT_EXEC) { mg_buf_puts(b, sep); mg_buf_puts(b, "PROT_EXEC"); }
}

static uint64_t window_pages_beyond(const struct mg_event *e, const struct mg_window *w)
{
	if (!e->has_sizes)
		return 0;
	uint64_t len = w->end - w->start, end = w->offset + len, pg = e->page_size;
	uint64_t limit = (e->size_after + pg - 1) / pg * pg;
	if (limit < w->offset)
		limit = w->offset;
	return limit < end ? (end - limit) / pg : 0;
}

/* ---- JSON ----------------------------------------------------------------------------------- */

void mg_report_json_stack(struct mg_buf *b, const struct mg_stack *st, mg_symbolize_fn sym)
{
	mg_buf_putc(b, '[');
	for (uint32_t i = 0; i < st->n; i++) {
		struct mg_sym s;
		sym(st->ip[i], i == 0 && st->pc_first, &s);
		if (i)
			mg_buf_putc(b, ',');
		mg_buf_puts(b, "{\"ip\":\"");
		mg_buf_hex(b, st->ip[i]);
		mg_buf_puts(b, "\",\"module\":");
		mg_buf_jstr(b, s.module);
		mg_buf_puts(b, ",\"module_offset\":\"");
		mg_buf_hex(b, s.module_offset);
		mg_buf_puts(b, "\",\"symbol\":");
		if (s.symbol[0])
			mg_buf_jstr(b, s.symbol);
		else
			mg_buf_puts(b, "null");
		mg_buf_putc(b, '}');
	}
	mg_buf_putc(b, ']');
}

static void jkey(struct mg_buf *b, const char *k)
{
	mg_buf_puts(b, ",\"");
	mg_buf_puts(b, k);
	mg_buf_puts(b, "\":");
}

void mg_report_json_window(struct mg_buf *b, const struct mg_window *w, uint64_t pages_beyond,
			   const char *path, mg_symbolize_fn sym)
{
	mg_buf_puts(b, "{\"addr\":\"");
	mg_buf_hex(b, w->start);
	mg_buf_puts(b, "\",\"length\":");
	mg_buf_u64(b, w->end - w->start);
	mg_buf_puts(b, ",\"offset\":");
	mg_buf_u64(b, w->offset);
	mg_buf_puts(b, ",\"prot\":\"");
	mg_report_put_prot(b, w->prot);
	mg_buf_puts(b, "\",\"shared\":");
	mg_buf_puts(b, w->shared ? "true" : "false");
	mg_buf_puts(b, ",\"pages_beyond_eof\":");
	mg_buf_u64(b, pages_beyond);
	mg_buf_puts(b, ",\"path\":");
	mg_buf_jstr(b, path);
	mg_buf_puts(b, ",\"tid\":");
	mg_buf_i64(b, w->tid);
	mg_buf_puts(b, ",\"thread_name\":");
	mg_buf_jstr(b, w->thread_name);
	mg_buf_puts(b, ",\"time\":\"");
	mg_buf_time(b, &w->created);
	mg_buf_puts(b, "\",\"backtrace\":");
	mg_report_json_stack(b, &w->stack, sym);
	mg_buf_putc(b, '}');
}

void mg_report_format_json(struct mg_buf *b, const struct mg_event *e, mg_symbolize_fn sym)
{
	mg_buf_puts(b, "{\"event\":");
	mg_buf_jstr(b, e->event);
	jkey(b, "action");
	mg_buf_jstr(b, e->blocked ? "blocked" : "logged");
	jkey(b, "call");
	mg_buf_jstr(b, e->call);
	if (e->detail && e->detail[0]) {
		jkey(b, "flags");
		mg_buf_jstr(b, e->detail);
	}
	jkey(b, "path");
	mg_buf_jstr(b, e->path);
	jkey(b, "dev");
	mg_buf_u64(b, (uint64_t)e->dev);
	jkey(b, "ino");
	mg_buf_u64(b, (uint64_t)e->ino);
	if (e->has_sizes) {
		jkey(b, "size_before");
		mg_buf_u64(b, e->size_before);
		jkey(b, "size_after");
		mg_buf_u64(b, e->size_after);
	}
	jkey(b, "pid");
	mg_buf_i64(b, e->pid);
	jkey(b, "tid");
	mg_buf_i64(b, e->tid);
	jkey(b, "thread_name");
	mg_buf_jstr(b, e->thread_name);
	jkey(b, "time");
	mg_buf_putc(b, '"');
	mg_buf_time(b, &e->time);
	mg_buf_putc(b, '"');
	if (e->blocked) {
		jkey(b, "errno");
		mg_buf_i64(b, e->err);
		jkey(b, "errno_name");
		mg_buf_jstr(b, errno_name(e->err));
	}
	jkey(b, "page_size");
	mg_buf_u64(b, e->page_size);
	jkey(b, "backtrace");
	mg_report_json_stack(b, &e->stack, sym);
	jkey(b, "mappings");
	mg_buf_putc(b, '[');
	for (size_t i = 0; i < e->nwindows; i++) {
		if (i)
			mg_buf_putc(b, ',');
		mg_report_json_window(b, &e->windows[i], window_pages_beyond(e, &e->windows[i]),
				      e->window_path[i], sym);
	}
	mg_buf_putc(b, ']');
	jkey(b, "mappings_total");
	mg_buf_u64(b, e->nwindows_total);
	mg_buf_puts(b, "}\n");
}

/* ---- text ----------------------------------------------------------------------------------- */

void mg_report_text_stack(struct mg_buf *b, const struct mg_stack *st, mg_symbolize_fn sym,
		       const char *indent)
{
	if (st->n == 0) {
		mg_buf_puts(b, "mmapguard: ");
		mg_buf_puts(b, indent);
		mg_buf_puts(b, "(no stack: libunwind unavailable or captured before the guard loaded)\n");
	}
	for (uint32_t i = 0; i < st->n; i++) {
		struct mg_sym s;
		sym(st->ip[i], i == 0 && st->pc_first, &s);
		mg_buf_puts(b, "mmapguard: ");
		mg_buf_puts(b, indent);
		mg_buf_putc(b, '#');
		mg_buf_u64(b, i);
		mg_buf_puts(b, i < 10 ? "  " : " ");
		mg_buf_text(b, s.symbol[0] ? s.symbol : "??");
		mg_buf_puts(b, " (");
		mg_buf_text(b, s.module[0] ? s.module : "?");
		mg_buf_putc(b, '+');
		mg_buf_hex(b, s.module_offset);
		mg_buf_puts(b, ") ");
		mg_buf_hex(b, st->ip[i]);
		mg_buf_putc(b, '\n');
	}
}

void mg_report_text_thread(struct mg_buf *b, pid_t tid, const char *name, pid_t pid,
			   const struct timespec *when, const struct mg_stack *st, mg_symbolize_fn sym,
			   const char *indent)
{
	mg_buf_i64(b, tid);
	mg_buf_puts(b, " \"");
	mg_buf_text(b, name);
	mg_buf_putc(b, '"');
	if (pid > 0) {
		mg_buf_puts(b, " of pid ");
		mg_buf_i64(b, pid);
	}
	mg_buf_puts(b, " at ");
	mg_buf_time(b, when);
	mg_buf_puts(b, ":\n");
	mg_report_text_stack(b, st, sym, indent);
}

void mg_report_format_text(struct mg_buf *b, const struct mg_event *e, mg_symbolize_fn sym)
{
	bool cut = e->has_sizes;
	mg_buf_puts(b, "mmapguard: ");
	mg_buf_puts(b, e->call);
	mg_buf_puts(b, "(");
	if (e->detail && e->detail[0])
		mg_buf_text(b, e->detail);
	mg_buf_puts(b, cut ? ") would cut a memory-mapped file short: " : ") reopens a memory-mapped file: ");
	mg_buf_text(b, e->path);
	mg_buf_puts(b, "\nmmapguard:   file ");
	mg_buf_dev_ino(b, e->dev, e->ino);
	if (cut) {
		mg_buf_puts(b, ", size ");
		mg_buf_u64(b, e->size_before);
		mg_buf_puts(b, " -> ");
		mg_buf_u64(b, e->size_after);
		mg_buf_puts(b, " bytes");
	}
	if (e->blocked) {
		mg_buf_puts(b, "\nmmapguard:   BLOCKED: the call was refused with -1, errno ");
		mg_buf_puts(b, errno_name(e->err));
	} else {
		mg_buf_puts(b, "\nmmapguard:   logged: the call was allowed to proceed");
	}
	mg_buf_puts(b, "\nmmapguard:   called by thread ");
	mg_report_text_thread(b, e->tid, e->thread_name, e->pid, &e->time, &e->stack, sym, "    ");
	for (size_t i = 0; i < e->nwindows; i++) {
		const struct mg_window *w = &e->windows[i];
		mg_buf_puts(b, "mmapguard:   ");
		mg_buf_puts(b, cut ? "endangered mapping " : "live mapping ");
		mg_buf_u64(b, i + 1);
		mg_buf_puts(b, " of ");
		mg_buf_u64(b, e->nwindows_total);
		mg_buf_puts(b, ": ");
		mg_buf_hex(b, w->start);
		mg_buf_putc(b, '-');
		mg_buf_hex(b, w->end);
		mg_buf_puts(b, " (");
		mg_buf_u64(b, w->end - w->start);
		mg_buf_puts(b, " bytes at file offset ");
		mg_buf_u64(b, w->offset);
		mg_buf_puts(b, ", ");
		mg_report_put_prot(b, w->prot);
		mg_buf_puts(b, w->shared ? ", MAP_SHARED" : ", MAP_PRIVATE");
		mg_buf_puts(b, ") ");
		mg_buf_text(b, e->window_path[i]);
		mg_buf_putc(b, '\n');
		if (cut) {
			mg_buf_puts(b, "mmapguard:     ");
			mg_buf_u64(b, window_pages_beyond(e, w));
			mg_buf_puts(b, " page(s) of it lie beyond the new end of file: touching them raises SIGBUS\n");
		}
		mg_buf_puts(b, "mmapguard:     mapped by thread ");
		mg_report_text_thread(b, w->tid, w->thread_name, 0, &w->created, &w->stack, sym, "      ");
	}
	if (e->nwindows < e->nwindows_total) {
		mg_buf_puts(b, "mmapguard:   ... and ");
		mg_buf_u64(b, e->nwindows_total - e->nwindows);
		mg_buf_puts(b, " more mapping(s) of this file\n");
	}
}

/* ---- emit ----------------------------------------------------------------------------------- */

/* Raised guard while held: see mg_reg_lock. Never taken by fork (see lock.h). */
void mg_report_lock(void) { mg_lock(&mg_report_lock_); }
void mg_report_unlock(void) { mg_unlock(&mg_report_lock_); }

void mg_report_atfork_child(pid_t me)
{
	/* Another thread was symbolizing: its cache entry may be half written. */
	if (mg_lock_child(&mg_report_lock_, me))
		mg_bt_symcache_forget();
}

/* Names of the windows as the kernel shows them (the file may have been renamed or unlinked). */
static void resolve_window_paths(struct mg_event *e)
{
	struct mg_vma v;
	for (size_t i = 0; i < e->nwindows; i++) {
		e->window_path[i][0] = 0;
		if (mg_vma_find(e->windows[i].start, &v)) {
			size_t n = strnlen(v.path, sizeof v.path - 1);
			memcpy(e->window_path[i], v.path, n);
			e->window_path[i][n] = 0;
		}
	}
}

void mg_report_emit(struct mg_event *e)
{
	e->pid = (pid_t)MG_SYS0(SYS_getpid);
	e->tid = (pid_t)MG_SYS0(SYS_gettid);
	MG_SYS2(SYS_prctl, PR_GET_NAME, e->thread_name);
	clock_gettime(CLOCK_REALTIME, &e->time);
	e->page_size = mg_page_size();

	int oldstate;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &oldstate);
	mg_report_lock();
	resolve_window_paths(e);
	struct mg_buf b;
	mg_buf_init(&b, mg_report_buffer, sizeof mg_report_buffer);
	if (mg_cfg.format == MG_FORMAT_JSON)
		mg_report_format_json(&b, e, mg_bt_symbolize);
	else
		mg_report_format_text(&b, e, mg_bt_symbolize);
	if (mg_log_write(b.p, b.len) == 0)
		__atomic_add_fetch(&mg_reports_written, 1, __ATOMIC_RELAXED);
	else
		__atomic_add_fetch(&mg_reports_dropped, 1, __ATOMIC_RELAXED);
	mg_report_unlock();
	pthread_setcancelstate(oldstate, NULL);
}

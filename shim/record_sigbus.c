/* The sigbus record: formatted in the SIGBUS handler, so async-signal-safe like everything here. */
#define _GNU_SOURCE
#include "record.h"
#include "rule.h"

#include <signal.h>
#include <string.h>

static const char no_trunc_note[] =
	"no truncation of this file by this process is known: it was changed by another process "
	"or by a call the guard cannot see (raw syscall, static helper, io_uring)";
static const char beyond_note[] =
	"this page lay beyond the end of the file when the mapping was created: it was never backed "
	"(the mapping is longer than the file), unless the file grew and was then cut by another "
	"process or by a call the guard cannot see";
static const char vfork_note[] =
	"a vfork child of this process (truncation.pid), which shared its memory until it called "
	"exec or exited, truncated the file earlier (see truncation)";
static const char io_note[] =
	"the faulting offset is inside the file: not a truncation; an I/O error (disk full on a "
	"sparse file, a failed network filesystem, a media or memory error)";

static const char *code_name(int code)
{
	switch (code) {
	case BUS_ADRALN: return "BUS_ADRALN";
	case BUS_ADRERR: return "BUS_ADRERR";
	case BUS_OBJERR: return "BUS_OBJERR";
	case BUS_MCEERR_AR: return "BUS_MCEERR_AR";
	case BUS_MCEERR_AO: return "BUS_MCEERR_AO";
	default: return "?";
	}
}

static const char *path_of(const struct mg_fault *f)
{
	return f->have_vma ? f->vma.path : "";
}

static void format_json(struct mg_buf *b, const struct mg_fault *f, mg_symbolize_fn sym)
{
	const struct mg_window *w = &f->w;
	mg_json_begin(b, "sigbus", f->action);
	mg_json_hex(b, "fault_addr", f->addr);
	mg_json_i64(b, "si_code", f->code);
	mg_json_str(b, "si_code_name", code_name(f->code));
	mg_json_str(b, "path", path_of(f));
	mg_json_str(b, "file_status", f->file_status);
	mg_json_u64(b, "dev", (uint64_t)w->dev);
	mg_json_u64(b, "ino", (uint64_t)w->ino);
	mg_json_u64(b, "fault_offset", f->fault_offset);
	mg_json_key(b, "file_size");
	if (f->have_size)
		mg_buf_u64(b, f->size);
	else
		mg_buf_puts(b, "null");
	mg_json_u64(b, "size_at_map", w->size_at_map);
	mg_json_str(b, "verdict", f->verdict);
	mg_json_str(b, "registry", f->registry == MG_FIND_EXACT ? "exact" : "uncertain");
	mg_json_who(b, &f->who);
	mg_json_u64(b, "page_size", f->page_size);
	mg_json_stack(b, "backtrace", &f->stack, sym);
	mg_json_key(b, "mappings");
	mg_buf_putc(b, '[');
	uint64_t beyond = f->have_size
		? mg_rule_pages_beyond(w->offset, w->end - w->start, f->size, f->page_size) : 0;
	mg_json_window(b, w, beyond, beyond, path_of(f), sym);
	mg_buf_putc(b, ']');
	mg_json_u64(b, "mappings_total", 1);
	mg_json_key(b, "truncation");
	if (f->have_trunc) {
		const struct mg_trunc_record *t = &f->trunc;
		mg_buf_puts(b, "{\"call\":");
		mg_buf_jstr(b, t->call);
		mg_json_time(b, "time", &t->time);
		mg_json_i64(b, "pid", t->pid);
		mg_json_i64(b, "tid", t->tid);
		mg_json_str(b, "thread_name", t->thread_name);
		mg_json_u64(b, "size_before", t->size_before);
		mg_json_u64(b, "size_after", t->size_after);
		mg_json_stack(b, "backtrace", &t->stack, sym);
		mg_buf_putc(b, '}');
	} else {
		mg_buf_puts(b, "null");
	}
	/* a guarded cutter's own record (with its stack) first, else what a lease break told */
	if (f->have_cut) {
		mg_json_cut_by(b, &f->cut);
	} else if (f->have_cut_by) {
		mg_json_key(b, "cut_by");
		const struct mg_lease_cut *c = &f->cut_by;
		mg_buf_puts(b, "{\"pid\":");
		mg_buf_i64(b, c->pid);
		mg_json_str(b, "comm", c->comm);
		mg_json_str(b, "cmdline", c->cmdline);
		mg_buf_puts(b, ",\"tid\":null,\"thread_name\":null");
		mg_json_time(b, "time", &c->time);
		mg_json_str(b, "call", c->call);
		mg_json_u64(b, "size_before", c->size_before);
		mg_json_key(b, "size_after");
		if (c->has_size)
			mg_buf_u64(b, c->size_after);
		else
			mg_buf_puts(b, "null");
		mg_buf_puts(b, ",\"backtrace\":[],\"seen_by\":\"lease\"}");
	} else {
		mg_json_key(b, "cut_by");
		mg_buf_puts(b, "null");
	}
	if (strcmp(f->verdict, "io_error") == 0)
		mg_json_str(b, "note", io_note);
	else if (strcmp(f->verdict, "beyond_eof_at_map") == 0)
		mg_json_str(b, "note", beyond_note);
	else if (f->cause == MG_CAUSE_OWN && f->trunc.pid != f->who.pid)
		mg_json_str(b, "note", vfork_note);
	else if (f->cause == MG_CAUSE_OWN)
		mg_json_str(b, "note", "this process truncated the file earlier (see truncation)");
	else if (f->cause == MG_CAUSE_GUARDED)
		mg_json_str(b, "note", "another process, guarded, truncated the file after the mapping was "
			    "made (see cut_by)");
	else if (f->cause == MG_CAUSE_LEASE)
		mg_json_str(b, "note", "another process cut the file (see cut_by; it broke this process's lease)");
	else
		mg_json_str(b, "note", no_trunc_note);
	mg_json_end(b);
}

static void text_own_cut(struct mg_buf *b, const struct mg_fault *f, mg_symbolize_fn sym)
{
	const struct mg_trunc_record *t = &f->trunc;
	if (t->pid != f->who.pid) {
		mg_buf_puts(b, "mmapguard:   process ");
		mg_buf_i64(b, t->pid);
		mg_buf_puts(b, ", a vfork child of this one (sharing its memory), cut the file earlier: ");
	} else {
		mg_buf_puts(b, "mmapguard:   this process cut the file earlier: ");
	}
	mg_buf_puts(b, t->call);
	mg_buf_puts(b, "() ");
	mg_text_sizes(b, t->size_before, true, t->size_after);
	mg_buf_puts(b, " by thread ");
	mg_text_thread(b, t->tid, t->thread_name, 0, &t->time, &t->stack, sym, "      ");
}

static void text_lease_cut(struct mg_buf *b, const struct mg_lease_cut *c)
{
	mg_buf_puts(b, "mmapguard:   process ");
	mg_buf_i64(b, c->pid);
	mg_buf_puts(b, " \"");
	mg_buf_text(b, c->comm);
	mg_buf_puts(b, "\" cut the file at ");
	mg_buf_time(b, &c->time);
	mg_buf_puts(b, ": ");
	mg_buf_puts(b, c->call[0] ? c->call : "a call");
	mg_buf_puts(b, "() ");
	mg_text_sizes(b, c->size_before, c->has_size, c->size_after);
	mg_buf_puts(b, " (it broke this process's lease)\nmmapguard:     command: ");
	mg_buf_text(b, c->cmdline);
	mg_buf_putc(b, '\n');
}

static void format_text(struct mg_buf *b, const struct mg_fault *f, mg_symbolize_fn sym)
{
	const struct mg_window *w = &f->w;
	mg_buf_puts(b, "mmapguard: SIGBUS (");
	mg_buf_puts(b, code_name(f->code));
	mg_buf_puts(b, ") at ");
	mg_buf_hex(b, f->addr);
	mg_buf_puts(b, " in a mapping of ");
	mg_buf_text(b, path_of(f));
	mg_buf_puts(b, "\nmmapguard:   verdict: ");
	mg_buf_puts(b, f->verdict);
	mg_buf_puts(b, ": file offset ");
	mg_buf_u64(b, f->fault_offset);
	if (f->have_size) {
		mg_buf_puts(b, ", file size now ");
		mg_buf_u64(b, f->size);
	} else {
		mg_buf_puts(b, ", file size unknown");
	}
	mg_buf_puts(b, " (file ");
	mg_buf_puts(b, f->file_status);
	mg_buf_puts(b, ", ");
	mg_buf_dev_ino(b, w->dev, w->ino);
	mg_buf_puts(b, ")\nmmapguard:   faulting thread ");
	mg_text_thread(b, f->who.tid, f->who.thread_name, f->who.pid, &f->who.time, &f->stack, sym,
		       "    ");
	mg_buf_puts(b, "mmapguard:   mapping ");
	mg_text_range(b, w->start, w->end, w->offset, w->prot, w->shared, false);
	mg_buf_puts(b, ") mapped by thread ");
	mg_text_maker(b, w, sym, "      ");
	if (strcmp(f->verdict, "io_error") == 0 || strcmp(f->verdict, "beyond_eof_at_map") == 0) {
		mg_buf_puts(b, "mmapguard:   ");
		mg_buf_puts(b, f->verdict[0] == 'i' ? io_note : beyond_note);
		mg_buf_putc(b, '\n');
	} else if (f->cause != MG_CAUSE_NONE) {
		/* the cut that left the file as the fault found it first, then an earlier one */
		if (f->cause == MG_CAUSE_OWN)
			text_own_cut(b, f, sym);
		if (f->have_cut)
			mg_text_cut_by(b, &f->cut);
		if (f->have_cut_by)
			text_lease_cut(b, &f->cut_by);
		if (f->cause != MG_CAUSE_OWN && f->have_trunc)
			text_own_cut(b, f, sym);
	} else {
		mg_buf_puts(b, "mmapguard:   ");
		mg_buf_puts(b, no_trunc_note);
		mg_buf_putc(b, '\n');
	}
	if (strcmp(f->action, "survived") == 0)
		mg_buf_puts(b, "mmapguard:   survived (MMAPGUARD_SIGBUS=survive): the pages of the mapping past the "
			    "end of file now read as zeros and no longer follow the file\n");
}

void mg_format_fault(struct mg_buf *b, bool json, const void *fault, mg_symbolize_fn sym)
{
	if (json)
		format_json(b, fault, sym);
	else
		format_text(b, fault, sym);
}

/*
 * The lease records: lease_break (formatted in the lease signal's handler, so async-signal-safe),
 * lease_unavailable and lease_signal. Facts in lease_impl.h; written through report.h.
 */
#define _GNU_SOURCE
#include "lease_impl.h"
#include "record.h"
#include "thread.h"

#include <string.h>

static const char *break_note(const struct mg_lease_break_facts *f)
{
	if (!f->br->pid)
		return "the breaker could not be named: a non-blocking open (coreutils truncate uses one) "
		       "fails with EAGAIN at once and is gone before the guard looks";
	if (f->nrescued)
		return "the rescued windows now hold anonymous copies of the bytes they showed; they no "
		       "longer follow the file";
	if (f->rescue_mode && !f->br->cuts)
		return "the breaker's call does not shrink the file: nothing to rescue";
	return "the lease was released; the call goes ahead";
}

/* The window as the registry knows it (creation stack), else as /proc/self/maps showed it. */
static void window_of(const struct mg_lease_break_facts *f, const struct mg_lease_win *lw,
		      struct mg_window *w)
{
	if (mg_reg_find_signal_safe(lw->start, w) == MG_FIND_NONE) {
		memset(w, 0, sizeof *w);
		w->dev = f->dev;
		w->ino = f->ino;
	}
	w->start = lw->start;
	w->end = lw->end;
	w->offset = lw->offset;
	w->prot = lw->prot;
	w->shared = lw->shared;
}

static void json_breaker(struct mg_buf *b, const struct mg_breaker *br)
{
	mg_json_key(b, "breaker");
	if (!br->pid) {
		mg_buf_puts(b, "null");
		return;
	}
	mg_json_process(b, br->pid, br->comm, br->exe);
	mg_json_str(b, "cmdline", br->cmdline);
	mg_json_key(b, "uid");
	if (br->has_uid)
		mg_buf_u64(b, br->uid);
	else
		mg_buf_puts(b, "null");
	mg_json_key(b, "syscall");
	if (br->has_syscall) {
		mg_buf_puts(b, "{\"nr\":");
		mg_buf_i64(b, br->nr);
		mg_json_str(b, "name", br->call);
		mg_json_key(b, "args");
		for (int i = 0; i < 6; i++) {
			mg_buf_puts(b, i ? ",\"" : "[\"");
			mg_buf_hex(b, br->args[i]);
			mg_buf_putc(b, '"');
		}
		mg_buf_puts(b, br->cuts ? "],\"cuts\":true}" : "],\"cuts\":false}");
	} else {
		mg_buf_puts(b, "null");
	}
	mg_buf_putc(b, '}');
}

static void break_json(struct mg_buf *b, const struct mg_lease_break_facts *f, mg_symbolize_fn sym)
{
	const struct mg_breaker *br = f->br;
	mg_json_begin(b, "lease_break", f->nrescued ? "rescued" : "released");
	mg_json_str(b, "path", f->path);
	mg_json_u64(b, "dev", (uint64_t)f->dev);
	mg_json_u64(b, "ino", (uint64_t)f->ino);
	mg_json_u64(b, "size_before", f->size_before);
	mg_json_key(b, "size_after");
	if (br->known_size)
		mg_buf_u64(b, br->size_after);
	else
		mg_buf_puts(b, "null");
	json_breaker(b, br);
	mg_json_u64(b, "held_us", f->held_us);
	mg_json_who(b, &f->who);
	mg_json_u64(b, "page_size", f->page_size);
	mg_json_key(b, "mappings");
	for (size_t i = 0; i < f->nwins; i++) {
		const struct mg_lease_win *lw = &f->wins[i];
		struct mg_window w;
		window_of(f, lw, &w);
		mg_buf_putc(b, i ? ',' : '[');
		mg_json_window(b, &w, (lw->cut_to - lw->cut_from) / f->page_size,
			       (lw->cut_to - lw->cut_from) / f->page_size, f->path, sym);
		b->len--;               /* reopen the window object: its rescue outcome */
		mg_buf_puts(b, lw->rescued ? ",\"rescued\":true}" : ",\"rescued\":false}");
	}
	mg_buf_puts(b, f->nwins ? "]" : "[]");
	mg_json_u64(b, "mappings_total", f->total);
	mg_json_str(b, "note", break_note(f));
	mg_json_end(b);
}

static void break_text(struct mg_buf *b, const struct mg_lease_break_facts *f, mg_symbolize_fn sym)
{
	const struct mg_breaker *br = f->br;
	mg_buf_puts(b, "mmapguard: lease break: ");
	if (br->pid) {
		mg_buf_puts(b, "pid ");
		mg_buf_i64(b, br->pid);
		mg_buf_puts(b, " \"");
		mg_buf_text(b, br->comm);
		mg_buf_putc(b, '"');
		if (br->has_uid) {
			mg_buf_puts(b, " (uid ");
			mg_buf_u64(b, br->uid);
			mg_buf_putc(b, ')');
		}
	} else {
		mg_buf_puts(b, "a process that could not be named");
	}
	mg_buf_puts(b, " opens for writing or truncates a memory-mapped file: ");
	mg_buf_text(b, f->path);
	mg_buf_puts(b, "\nmmapguard:   file ");
	mg_buf_dev_ino(b, (uint64_t)f->dev, (uint64_t)f->ino);
	mg_buf_puts(b, ", size ");
	mg_text_sizes(b, f->size_before, br->known_size, br->size_after);
	mg_buf_putc(b, '\n');
	if (br->pid) {
		mg_buf_puts(b, "mmapguard:   command: ");
		mg_buf_text(b, br->cmdline);
		if (br->exe[0]) {
			mg_buf_puts(b, " (");
			mg_buf_text(b, br->exe);
			mg_buf_putc(b, ')');
		}
		mg_buf_puts(b, "\nmmapguard:   system call: ");
		if (!br->has_syscall) {
			mg_buf_puts(b, "not readable (another user's process)");
		} else {
			if (br->call[0]) {
				mg_buf_puts(b, br->call);
			} else {
				mg_buf_puts(b, "number ");
				mg_buf_i64(b, br->nr);
			}
			mg_buf_puts(b, br->cuts ? " (shrinks the file)" : " (does not shrink the file)");
		}
		mg_buf_putc(b, '\n');
	}
	mg_buf_puts(b, "mmapguard:   ");
	if (f->nrescued) {
		mg_buf_u64(b, f->nrescued);
		mg_buf_puts(b, " window(s) rescued: they now hold anonymous copies of their bytes and no "
			    "longer follow the file; ");
	}
	mg_buf_puts(b, "lease released after ");
	mg_buf_u64(b, f->held_us);
	mg_buf_puts(b, " us\n");
	for (size_t i = 0; i < f->nwins; i++) {
		const struct mg_lease_win *lw = &f->wins[i];
		struct mg_window w;
		window_of(f, lw, &w);
		mg_buf_puts(b, "mmapguard:   endangered mapping ");
		mg_buf_u64(b, i + 1);
		mg_buf_puts(b, " of ");
		mg_buf_u64(b, f->total);
		mg_buf_puts(b, ": ");
		mg_text_range(b, w.start, w.end, w.offset, w.prot, w.shared, false);
		mg_buf_puts(b, lw->rescued ? ") rescued\n" : ")\n");
		if (w.tid) {
			mg_buf_puts(b, "mmapguard:     mapped by thread ");
			mg_text_maker(b, &w, sym, "      ");
		}
	}
}

void mg_format_lease_break(struct mg_buf *b, bool json, const void *facts, mg_symbolize_fn sym)
{
	if (json)
		break_json(b, facts, sym);
	else
		break_text(b, facts, sym);
}

void mg_format_lease_unavailable(struct mg_buf *b, bool json, const void *facts,
				 mg_symbolize_fn sym)
{
	const struct mg_lease_unavailable_facts *f = facts;
	(void)sym;
	if (json) {
		mg_json_begin(b, "lease_unavailable", "reported");
		mg_json_str(b, "path", f->path);
		mg_json_u64(b, "dev", (uint64_t)f->dev);
		mg_json_u64(b, "ino", (uint64_t)f->ino);
		mg_json_str(b, "reason", f->reason);
		mg_json_str(b, "errno", f->err ? strerrorname_np(f->err) : "");
		mg_json_who(b, &f->who);
		mg_json_end(b);
		return;
	}
	mg_buf_puts(b, "mmapguard: no lease on ");
	mg_buf_text(b, f->path);
	mg_buf_puts(b, " (");
	mg_buf_dev_ino(b, (uint64_t)f->dev, (uint64_t)f->ino);
	mg_buf_puts(b, "): ");
	mg_buf_puts(b, f->reason);
	mg_buf_puts(b, "; another process can cut it unseen\n");
}

void mg_format_lease_signal(struct mg_buf *b, bool json, const void *facts, mg_symbolize_fn sym)
{
	const struct mg_lease_signal_facts *f = facts;
	(void)sym;
	if (json) {
		mg_json_begin(b, "lease_signal", "reported");
		mg_json_i64(b, "from", f->from);
		mg_json_key(b, "to");
		if (f->to > 0)
			mg_buf_i64(b, f->to);
		else
			mg_buf_puts(b, "null");
		mg_json_str(b, "reason", f->reason);
		mg_json_who(b, &f->who);
		mg_json_end(b);
		return;
	}
	mg_buf_puts(b, "mmapguard: the program uses signal ");
	mg_buf_i64(b, f->from);
	if (f->to > 0) {
		mg_buf_puts(b, ": leases now signal with ");
		mg_buf_i64(b, f->to);
	} else {
		mg_buf_puts(b, " and no other real-time signal is free: leases given up");
	}
	mg_buf_putc(b, '\n');
}

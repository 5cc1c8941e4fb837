/* The truncate and reopen records. */
#define _GNU_SOURCE
#include "record.h"
#include "rule.h"

#include <errno.h>

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

uint64_t mg_event_pages_beyond(const struct mg_event *e, size_t i)
{
	const struct mg_window *w = &e->windows[i];
	return e->has_sizes ? mg_rule_pages_beyond(w->offset, w->end - w->start, e->size_after,
						   e->page_size)
			    : 0;
}

uint64_t mg_event_pages_cut(const struct mg_event *e, size_t i)
{
	const struct mg_window *w = &e->windows[i];
	return e->has_sizes ? mg_rule_pages_cut(w->offset, w->end - w->start, e->size_before,
						e->size_after, e->page_size)
			    : 0;
}

void mg_json_event_call(struct mg_buf *b, const struct mg_event *e)
{
	mg_json_str(b, "call", e->call);
	if (e->detail && e->detail[0])
		mg_json_str(b, "flags", e->detail);
	mg_json_str(b, "path", e->path);
	mg_json_u64(b, "dev", (uint64_t)e->dev);
	mg_json_u64(b, "ino", (uint64_t)e->ino);
	if (e->has_sizes) {
		mg_json_u64(b, "size_before", e->size_before);
		mg_json_u64(b, "size_after", e->size_after);
	}
}

static void format_json(struct mg_buf *b, const struct mg_event *e, mg_symbolize_fn sym)
{
	mg_json_begin(b, e->event, e->blocked ? "blocked" : "logged");
	mg_json_event_call(b, e);
	mg_json_who(b, &e->who);
	if (e->blocked) {
		mg_json_i64(b, "errno", e->err);
		mg_json_str(b, "errno_name", errno_name(e->err));
	}
	mg_json_u64(b, "page_size", e->page_size);
	mg_json_stack(b, "backtrace", &e->stack, sym);
	mg_json_key(b, "mappings");
	mg_buf_putc(b, '[');
	for (size_t i = 0; i < e->nwindows; i++) {
		if (i)
			mg_buf_putc(b, ',');
		mg_json_window(b, &e->windows[i], mg_event_pages_cut(e, i), mg_event_pages_beyond(e, i),
			       e->window_path[i], sym);
	}
	mg_buf_putc(b, ']');
	mg_json_u64(b, "mappings_total", e->nwindows_total);
	if (e->victims)
		mg_json_victims(b, e->victims);
	mg_json_end(b);
}

static void format_text(struct mg_buf *b, const struct mg_event *e, mg_symbolize_fn sym)
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
		mg_text_sizes(b, e->size_before, true, e->size_after);
	}
	if (e->blocked) {
		mg_buf_puts(b, "\nmmapguard:   BLOCKED: the call was refused with -1, errno ");
		mg_buf_puts(b, errno_name(e->err));
	} else {
		mg_buf_puts(b, "\nmmapguard:   logged: the call was allowed to proceed");
	}
	mg_buf_puts(b, "\nmmapguard:   called by thread ");
	mg_text_thread(b, e->who.tid, e->who.thread_name, e->who.pid, &e->who.time, &e->stack, sym,
		       "    ");
	for (size_t i = 0; i < e->nwindows; i++) {
		const struct mg_window *w = &e->windows[i];
		mg_buf_puts(b, "mmapguard:   ");
		mg_buf_puts(b, cut ? "endangered mapping " : "live mapping ");
		mg_buf_u64(b, i + 1);
		mg_buf_puts(b, " of ");
		mg_buf_u64(b, e->nwindows_total);
		mg_buf_puts(b, ": ");
		mg_text_range(b, w->start, w->end, w->offset, w->prot, w->shared, true);
		mg_buf_puts(b, ") ");
		mg_buf_text(b, e->window_path[i]);
		mg_buf_putc(b, '\n');
		if (cut) {
			mg_buf_puts(b, "mmapguard:     ");
			uint64_t cut_pages = mg_event_pages_cut(e, i), all = mg_event_pages_beyond(e, i);
			mg_buf_u64(b, cut_pages);
			mg_buf_puts(b, " page(s) of it lie beyond the new end of file");
			if (all != cut_pages) {
				mg_buf_puts(b, " (");
				mg_buf_u64(b, all);
				mg_buf_puts(b, " in all, with those already beyond it)");
			}
			mg_buf_puts(b, ": touching them raises SIGBUS\n");
		}
		mg_buf_puts(b, "mmapguard:     mapped by thread ");
		mg_text_maker(b, w, sym, "      ");
	}
	if (e->nwindows < e->nwindows_total) {
		mg_buf_puts(b, "mmapguard:   ... and ");
		mg_buf_u64(b, e->nwindows_total - e->nwindows);
		mg_buf_puts(b, " more mapping(s) of this file\n");
	}
	if (e->victims)
		mg_text_victims(b, e->victims);
}

void mg_format_event(struct mg_buf *b, bool json, const void *event, mg_symbolize_fn sym)
{
	if (json)
		format_json(b, event, sym);
	else
		format_text(b, event, sym);
}

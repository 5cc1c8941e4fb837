/* The map_limit, map_count_high and map_limit_summary records. */
#define _GNU_SOURCE
#include "record.h"

#include <errno.h>
#include <string.h>

/* glibc's free() unmapping a chunk: the munmap's caller (the program calls free). */
static bool stack_has_free(const struct mg_stack *st, mg_symbolize_fn sym)
{
	for (uint32_t i = 0; i < st->n && i < 4; i++) {
		struct mg_sym s;
		sym(st->ip[i], false, &s);
		if (strncmp(s.symbol, "free+", 5) == 0 || strncmp(s.symbol, "__libc_free+", 12) == 0 ||
		    strncmp(s.symbol, "cfree+", 6) == 0 || strncmp(s.symbol, "munmap_chunk+", 13) == 0)
			return true;
	}
	return false;
}

static bool is(const char *call, const char *name) { return call && strcmp(call, name) == 0; }

static void format_json(struct mg_buf *b, const struct mg_limit_event *ev, bool from_free,
			mg_symbolize_fn sym)
{
	mg_json_begin(b, ev->event, ev->action);
	if (ev->call) {
		mg_json_str(b, "call", ev->call);
		mg_json_hex(b, "addr", ev->addr);
		mg_json_u64(b, "length", ev->len);
		if (is(ev->call, "mmap") || is(ev->call, "mprotect"))
			mg_json_i64(b, "prot", ev->arg3);
		if (is(ev->call, "mmap") || is(ev->call, "mremap"))
			mg_json_i64(b, is(ev->call, "mmap") ? "flags" : "new_length", ev->arg4);
		mg_json_i64(b, "errno", ENOMEM);
		mg_json_str(b, "errno_name", "ENOMEM");
	}
	mg_json_i64(b, "vma_count", ev->vmas);
	mg_json_i64(b, "max_map_count", ev->limit);
	if (ev->warn_at)
		mg_json_i64(b, "threshold", ev->warn_at);
	if (from_free || ev->leaked) {
		mg_json_key(b, "from_free");
		mg_buf_puts(b, from_free ? "true" : "false");
		mg_json_u64(b, "leaked_bytes", ev->leaked);
	}
	if (is(ev->event, "map_limit_summary")) {
		mg_json_u64(b, "failures", ev->failures);
		mg_json_u64(b, "bytes_not_returned", ev->bytes_kept);
	}
	mg_json_who(b, &ev->who);
	mg_json_str(b, "explanation", ev->explanation);
	mg_json_str(b, "remedy", ev->remedy);
	mg_json_stack(b, "backtrace", &ev->stack, sym);
	mg_json_end(b);
}

/* map_limit: ': CALL(ADDR, LENGTH) failed with ENOMEM' */
static void text_refused_call(struct mg_buf *b, const struct mg_limit_event *ev)
{
	mg_buf_puts(b, ": ");
	mg_buf_puts(b, ev->call);
	mg_buf_puts(b, "(");
	mg_buf_hex(b, ev->addr);
	mg_buf_puts(b, ", ");
	mg_buf_u64(b, ev->len);
	mg_buf_puts(b, ") failed with ENOMEM");
	if (is(ev->action, "released"))
		mg_buf_puts(b, "; memory released with MADV_DONTNEED, range left reserved");
}

/* map_limit_summary: ': N mapping call(s) refused; M bytes were not returned to the system' */
static void text_summary(struct mg_buf *b, const struct mg_limit_event *ev)
{
	mg_buf_puts(b, ": ");
	mg_buf_u64(b, ev->failures);
	mg_buf_puts(b, " mapping call(s) refused; ");
	mg_buf_u64(b, ev->bytes_kept);
	mg_buf_puts(b, " bytes were not returned to the system");
}

static void format_text(struct mg_buf *b, const struct mg_limit_event *ev, bool from_free,
			mg_symbolize_fn sym)
{
	mg_buf_puts(b, "mmapguard: ");
	mg_buf_puts(b, ev->event);
	if (ev->call)
		text_refused_call(b, ev);
	if (is(ev->event, "map_limit_summary"))
		text_summary(b, ev);
	mg_buf_puts(b, "\nmmapguard:   the process has ");
	mg_buf_i64(b, ev->vmas);
	mg_buf_puts(b, " memory mappings; vm.max_map_count is ");
	mg_buf_i64(b, ev->limit);
	if (from_free || ev->leaked) {
		mg_buf_puts(b, "\nmmapguard:   this free() leaked ");
		mg_buf_u64(b, ev->leaked);
		mg_buf_puts(b, " bytes (glibc ignores munmap's failure)");
	}
	mg_buf_puts(b, "\nmmapguard:   ");
	mg_buf_puts(b, ev->explanation);
	mg_buf_puts(b, "\nmmapguard:   remedy: ");
	mg_buf_puts(b, ev->remedy);
	mg_buf_puts(b, "\nmmapguard:   thread ");
	mg_text_who(b, ev->who.tid, ev->who.thread_name, 0, &ev->who.time);
	if (ev->stack.n)
		mg_text_stack(b, &ev->stack, sym, "    ");
}

void mg_format_limit(struct mg_buf *b, bool json, const void *limit_event, mg_symbolize_fn sym)
{
	const struct mg_limit_event *ev = limit_event;
	bool from_free = ev->from_free ||
		(ev->stack.n && is(ev->call, "munmap") && stack_has_free(&ev->stack, sym));
	if (json)
		format_json(b, ev, from_free, sym);
	else
		format_text(b, ev, from_free, sym);
}

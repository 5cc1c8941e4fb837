/* One JSON record back to the guard's text block, for `mmapguard PROGRAM` without --log. */
#define _GNU_SOURCE
#include "render.h"
#include "render_parts.h"
#include "symbolize.h"

#include <inttypes.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <sys/types.h>

/* The other processes the cut would hurt (scope guarded/all): a block per process, as the guard's text. */
static void victims(struct sbuf *b, const struct jdoc *d, const struct jnode *r, struct symbolizer *sym)
{
	const struct jnode *vs = jget(d, r, "victims");
	uint64_t listed = 0, total = 0;
	if (vs && vs->type == J_ARR)
		for (const struct jnode *v = jchild(d, vs); v; v = jnext(d, v)) {
			if (v->type != J_OBJ)
				continue;
			listed++;
			const struct jnode *g = jget(d, v, "guarded");
			bool guarded = g && g->type == J_TRUE;
			const char *exe = render_str(d, v, "exe", "");
			sb_puts(b, "mmapguard:   other process ");
			render_num(b, d, v, "pid");
			sb_printf(b, " \"%s\" (%s), %s, maps the file: ", render_str(d, v, "comm", ""), exe[0] ? exe : "?",
				  guarded ? "guarded" : "not guarded");
			render_num(b, d, v, "windows_total");
			sb_puts(b, " mapping(s) cut\n");
			uint64_t shown = 0, wtotal = 0;
			jget_u64(d, v, "windows_total", &wtotal);
			const struct jnode *ws = jget(d, v, "windows");
			if (ws && ws->type == J_ARR)
				for (const struct jnode *w = jchild(d, ws); w; w = jnext(d, w)) {
					if (w->type != J_OBJ)
						continue;
					shown++;
					uint64_t addr = 0, len = 0;
					jget_u64(d, w, "addr", &addr);
					jget_u64(d, w, "length", &len);
					sb_printf(b, "mmapguard:     mapping 0x%" PRIx64 "-0x%" PRIx64 " (%" PRIu64
						  " bytes at file offset ", addr, addr + len, len);
					render_num(b, d, w, "offset");
					const struct jnode *sh = jget(d, w, "shared");
					sb_printf(b, ", %s, %s): ", render_str(d, w, "prot", "?"),
						  sh && sh->type == J_TRUE ? "MAP_SHARED" : "MAP_PRIVATE");
					render_num(b, d, w, "pages_beyond_eof");
					sb_puts(b, " page(s) beyond the new end of file\n");
					const struct jnode *bt = jget(d, w, "backtrace");
					if (!guarded || !jget(d, w, "tid") || !bt || bt->type != J_ARR || !bt->len)
						continue;
					sb_puts(b, "mmapguard:       mapped by thread ");
					render_maker(b, d, w, v, "        ");
					render_victim_stack(b, d, bt, sym);
				}
			if (wtotal > shown)
				sb_printf(b, "mmapguard:     ... and %" PRIu64 " more mapping(s)\n", wtotal - shown);
		}
	jget_u64(d, r, "victims_total", &total);
	if (total > listed)
		sb_printf(b, "mmapguard:   ... and %" PRIu64 " more process(es) map the file\n", total - listed);
	const char *scan = jget_str(d, r, "scan");
	if (scan && strcmp(scan, "incomplete") == 0)
		sb_puts(b, "mmapguard:   the scan of other processes is incomplete (time bound, MMAPGUARD_SCAN_MS): "
			   "more may map the file\n");
}

static void violation(struct sbuf *b, const struct jdoc *d, const struct jnode *r, bool cut,
		      struct symbolizer *sym)
{
	sb_printf(b, "mmapguard: %s(%s) %s: %s\n", render_str(d, r, "call", "?"), render_str(d, r, "flags", ""),
		  cut ? "would cut a memory-mapped file short" : "reopens a memory-mapped file",
		  render_str(d, r, "path", "?"));
	uint64_t dev = 0;
	jget_u64(d, r, "dev", &dev);
	sb_printf(b, "mmapguard:   file dev %u:%u ino ", major((dev_t)dev), minor((dev_t)dev));
	render_num(b, d, r, "ino");
	if (cut) {
		sb_puts(b, ", size ");
		render_num(b, d, r, "size_before");
		sb_puts(b, " -> ");
		render_num(b, d, r, "size_after");
		sb_puts(b, " bytes");
	}
	const char *action = render_str(d, r, "action", "");
	if (strcmp(action, "blocked") == 0)
		sb_printf(b, "\nmmapguard:   BLOCKED: the call was refused with -1, errno %s\n",
			  render_str(d, r, "errno_name", "?"));
	else
		sb_puts(b, "\nmmapguard:   logged: the call was allowed to proceed\n");
	sb_puts(b, "mmapguard:   called by thread ");
	render_thread(b, d, r);

	uint64_t total = 0, listed = 0;
	jget_u64(d, r, "mappings_total", &total);
	const struct jnode *maps = jget(d, r, "mappings");
	if (maps && maps->type == J_ARR)
		for (const struct jnode *m = jchild(d, maps); m; m = jnext(d, m)) {
			listed++;
			uint64_t addr = 0, len = 0;
			jget_u64(d, m, "addr", &addr);
			jget_u64(d, m, "length", &len);
			sb_printf(b, "mmapguard:   %s %" PRIu64 " of %" PRIu64 ": 0x%" PRIx64 "-0x%" PRIx64
				  " (%" PRIu64 " bytes at file offset ", cut ? "endangered mapping" : "live mapping",
				  listed, total > listed ? total : listed, addr, addr + len, len);
			render_num(b, d, m, "offset");
			const struct jnode *sh = jget(d, m, "shared");
			sb_printf(b, ", %s, %s) %s\n", render_str(d, m, "prot", "?"),
				  sh && sh->type == J_TRUE ? "MAP_SHARED" : "MAP_PRIVATE", render_str(d, m, "path", ""));
			if (cut) {
				sb_puts(b, "mmapguard:     ");
				render_num(b, d, m, "pages_beyond_eof");
				sb_puts(b, " page(s) of it lie beyond the new end of file: touching them raises SIGBUS\n");
			}
			sb_puts(b, "mmapguard:     mapped by thread ");
			render_maker(b, d, m, r, "      ");
			render_stack(b, d, jget(d, m, "backtrace"), "      ");
		}
	if (total > listed)
		sb_printf(b, "mmapguard:   ... and %" PRIu64 " more mapping(s) of this file\n", total - listed);
	victims(b, d, r, sym);
}

static void flat(struct sbuf *b, const struct jdoc *d, const struct jnode *o, const char *prefix)
{
	for (const struct jnode *c = jchild(d, o); c; c = jnext(d, c)) {
		static const char *const shown[] = { "event", "backtrace", "call", "path", "pid", "tid", "thread_name",
						     "time", NULL };
		bool skip = false;
		for (size_t i = 0; !prefix[0] && shown[i]; i++)
			if (strcmp(c->key, shown[i]) == 0)
				skip = true;
		if (skip)
			continue;
		if (c->type == J_OBJ) {
			char p[256];
			snprintf(p, sizeof p, "%s%s%s", prefix, prefix[0] ? "." : "", text_safe(c->key));
			flat(b, d, c, p);
			continue;
		}
		sb_printf(b, "mmapguard:   %s%s%s: ", prefix, prefix[0] ? "." : "", text_safe(c->key));
		switch (c->type) {
		case J_STR: sb_text(b, c->s); break;
		case J_NUM: sb_putn(b, c->s, c->len); break;
		case J_TRUE: sb_puts(b, "true"); break;
		case J_FALSE: sb_puts(b, "false"); break;
		case J_NULL: sb_puts(b, "null"); break;
		case J_ARR: sb_printf(b, "[%u items]", c->len); break;
		}
		sb_putc(b, '\n');
	}
}

void render_record_text(struct sbuf *b, const struct jdoc *d, const struct jnode *r, struct symbolizer *sym)
{
	const char *event = render_str(d, r, "event", "?");
	if (strcmp(event, "truncate") == 0 || strcmp(event, "reopen") == 0) {
		violation(b, d, r, strcmp(event, "truncate") == 0, sym);
		return;
	}
	if (render_fault_text(b, d, r, sym))
		return;
	sb_printf(b, "mmapguard: %s", event);
	const char *call = text_safe(jget_str(d, r, "call")), *path = text_safe(jget_str(d, r, "path"));
	if (call)
		sb_printf(b, " in %s", call);
	if (path)
		sb_printf(b, " on %s", path);
	sb_puts(b, "\nmmapguard:   in thread ");
	render_num(b, d, r, "tid");
	sb_printf(b, " \"%s\" of pid ", render_str(d, r, "thread_name", ""));
	render_num(b, d, r, "pid");
	sb_printf(b, " at %s\n", render_str(d, r, "time", "?"));
	flat(b, d, r, "");
	if (jget(d, r, "backtrace")) {
		sb_puts(b, "mmapguard:   stack:\n");
		render_stack(b, d, jget(d, r, "backtrace"), "    ");
	}
}

/* One JSON record back to the guard's text block, for `mmapguard PROGRAM` without --log. */
#define _GNU_SOURCE
#include "render.h"

#include <inttypes.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <sys/types.h>

static const char *str(const struct jdoc *d, const struct jnode *o, const char *key, const char *dflt)
{
	const char *v = jget_str(d, o, key);
	return v ? text_safe(v) : dflt;
}

static void num(struct sbuf *b, const struct jdoc *d, const struct jnode *o, const char *key)
{
	const struct jnode *n = jget(d, o, key);
	if (n && n->type == J_NUM)
		sb_putn(b, n->s, n->len);
	else if (n && n->type == J_STR)
		sb_text(b, n->s);
	else
		sb_putc(b, '?');
}

static void stack(struct sbuf *b, const struct jdoc *d, const struct jnode *arr, const char *indent)
{
	unsigned i = 0;
	if (arr && arr->type == J_ARR)
		for (const struct jnode *f = jchild(d, arr); f; f = jnext(d, f), i++) {
			const char *module = str(d, f, "module", "");
			sb_printf(b, "mmapguard: %s#%u%s%s (%s+%s) %s\n", indent, i, i < 10 ? "  " : " ",
				  str(d, f, "symbol", "??"), module[0] ? module : "?",
				  str(d, f, "module_offset", "?"), str(d, f, "ip", "?"));
		}
	if (i == 0)
		sb_printf(b, "mmapguard: %s(no stack recorded)\n", indent);
}

static void violation(struct sbuf *b, const struct jdoc *d, const struct jnode *r, bool cut)
{
	sb_printf(b, "mmapguard: %s(%s) %s: %s\n", str(d, r, "call", "?"), str(d, r, "flags", ""),
		  cut ? "would cut a memory-mapped file short" : "reopens a memory-mapped file",
		  str(d, r, "path", "?"));
	uint64_t dev = 0;
	jget_u64(d, r, "dev", &dev);
	sb_printf(b, "mmapguard:   file dev %u:%u ino ", major((dev_t)dev), minor((dev_t)dev));
	num(b, d, r, "ino");
	if (cut) {
		sb_puts(b, ", size ");
		num(b, d, r, "size_before");
		sb_puts(b, " -> ");
		num(b, d, r, "size_after");
		sb_puts(b, " bytes");
	}
	const char *action = str(d, r, "action", "");
	if (strcmp(action, "blocked") == 0)
		sb_printf(b, "\nmmapguard:   BLOCKED: the call was refused with -1, errno %s\n",
			  str(d, r, "errno_name", "?"));
	else
		sb_puts(b, "\nmmapguard:   logged: the call was allowed to proceed\n");
	sb_puts(b, "mmapguard:   called by thread ");
	num(b, d, r, "tid");
	sb_printf(b, " \"%s\" of pid ", str(d, r, "thread_name", ""));
	num(b, d, r, "pid");
	sb_printf(b, " at %s:\n", str(d, r, "time", "?"));
	stack(b, d, jget(d, r, "backtrace"), "    ");

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
			num(b, d, m, "offset");
			const struct jnode *sh = jget(d, m, "shared");
			sb_printf(b, ", %s, %s) %s\n", str(d, m, "prot", "?"),
				  sh && sh->type == J_TRUE ? "MAP_SHARED" : "MAP_PRIVATE", str(d, m, "path", ""));
			if (cut) {
				sb_puts(b, "mmapguard:     ");
				num(b, d, m, "pages_beyond_eof");
				sb_puts(b, " page(s) of it lie beyond the new end of file: touching them raises SIGBUS\n");
			}
			sb_puts(b, "mmapguard:     mapped by thread ");
			num(b, d, m, "tid");
			sb_printf(b, " \"%s\" at %s:\n", str(d, m, "thread_name", ""), str(d, m, "time", "?"));
			stack(b, d, jget(d, m, "backtrace"), "      ");
		}
	if (total > listed)
		sb_printf(b, "mmapguard:   ... and %" PRIu64 " more mapping(s) of this file\n", total - listed);
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

void render_record_text(struct sbuf *b, const struct jdoc *d, const struct jnode *r)
{
	const char *event = str(d, r, "event", "?");
	if (strcmp(event, "truncate") == 0 || strcmp(event, "reopen") == 0) {
		violation(b, d, r, strcmp(event, "truncate") == 0);
		return;
	}
	sb_printf(b, "mmapguard: %s", event);
	const char *call = text_safe(jget_str(d, r, "call")), *path = text_safe(jget_str(d, r, "path"));
	if (call)
		sb_printf(b, " in %s", call);
	if (path)
		sb_printf(b, " on %s", path);
	sb_puts(b, "\nmmapguard:   in thread ");
	num(b, d, r, "tid");
	sb_printf(b, " \"%s\" of pid ", str(d, r, "thread_name", ""));
	num(b, d, r, "pid");
	sb_printf(b, " at %s\n", str(d, r, "time", "?"));
	flat(b, d, r, "");
	if (jget(d, r, "backtrace")) {
		sb_puts(b, "mmapguard:   stack:\n");
		stack(b, d, jget(d, r, "backtrace"), "    ");
	}
}

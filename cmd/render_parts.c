/* The pieces of the guard's text blocks, rebuilt from a JSON record (render.c, render_fault.c). */
#define _GNU_SOURCE
#include "render_parts.h"
#include "symbolize.h"

#include <inttypes.h>
#include <string.h>

const char *render_str(const struct jdoc *d, const struct jnode *o, const char *key, const char *dflt)
{
	const char *v = jget_str(d, o, key);
	return v ? text_safe(v) : dflt;
}

void render_num(struct sbuf *b, const struct jdoc *d, const struct jnode *o, const char *key)
{
	const struct jnode *n = jget(d, o, key);
	if (n && n->type == J_NUM)
		sb_putn(b, n->s, n->len);
	else if (n && n->type == J_STR)
		sb_text(b, n->s);
	else
		sb_putc(b, '?');
}

void render_stack(struct sbuf *b, const struct jdoc *d, const struct jnode *arr, const char *indent)
{
	unsigned i = 0;
	if (arr && arr->type == J_ARR)
		for (const struct jnode *f = jchild(d, arr); f; f = jnext(d, f), i++) {
			const char *module = render_str(d, f, "module", "");
			sb_printf(b, "mmapguard: %s#%u%s%s ", indent, i, i < 10 ? "  " : " ",
				  render_str(d, f, "symbol", "??"));
			if (module[0])
				sb_printf(b, "(%s+%s) ", module, render_str(d, f, "module_offset", "?"));
			else
				sb_puts(b, "(not in a loaded object) ");        /* the guard's own text */
			sb_printf(b, "%s\n", render_str(d, f, "ip", "?"));
		}
	if (i == 0)
		sb_printf(b, "mmapguard: %s(no stack recorded)\n", indent);
}

void render_thread(struct sbuf *b, const struct jdoc *d, const struct jnode *r)
{
	render_num(b, d, r, "tid");
	sb_printf(b, " \"%s\" of pid ", render_str(d, r, "thread_name", ""));
	render_num(b, d, r, "pid");
	sb_printf(b, " at %s:\n", render_str(d, r, "time", "?"));
	render_stack(b, d, jget(d, r, "backtrace"), "    ");
}

/* A guarded victim's creation stack, named by the symbolizer (function, file:line) when it can. */
void render_victim_stack(struct sbuf *b, const struct jdoc *d, const struct jnode *arr,
			 struct symbolizer *sym)
{
	unsigned i = 0;
	if (arr && arr->type == J_ARR)
		for (const struct jnode *f = jchild(d, arr); f; f = jnext(d, f), i++) {
			const char *module = jget_str(d, f, "module");
			uint64_t off = 0;
			struct sym_result r;
			bool named = sym && module && module[0] && jget_u64(d, f, "module_offset", &off) &&
				     symbolize(sym, module, off, true, &r) && r.function[0];
			sb_printf(b, "mmapguard:         #%u%s", i, i < 10 ? "  " : " ");
			if (named && r.file[0])
				sb_printf(b, "%s at %s:%d", text_safe(r.function), text_safe(r.file), r.line);
			else if (named)
				sb_printf(b, "%s+0x%" PRIx64, text_safe(r.function), r.function_offset);
			else
				sb_puts(b, render_str(d, f, "symbol", "??"));
			if (module && module[0])
				sb_printf(b, " (%s+%s)", text_safe(module), render_str(d, f, "module_offset", "?"));
			else
				sb_puts(b, " (not in a loaded object)");
			sb_printf(b, " %s\n", render_str(d, f, "ip", "?"));
		}
	if (i == 0)
		sb_puts(b, "mmapguard:         (no stack recorded)\n");
}

void render_maker(struct sbuf *b, const struct jdoc *d, const struct jnode *m, const struct jnode *owner,
		  const char *indent)
{
	render_num(b, d, m, "tid");
	sb_printf(b, " \"%s\"", render_str(d, m, "thread_name", ""));
	bool made = jget(d, m, "mapped_in_pid") != NULL;
	if (made) {
		sb_puts(b, " of pid ");
		render_num(b, d, m, "mapped_in_pid");
	}
	sb_printf(b, " at %s:\n", render_str(d, m, "time", "?"));
	if (made) {
		sb_printf(b, "mmapguard: %s(pid ", indent);
		render_num(b, d, owner, "pid");
		sb_puts(b, " inherited the mapping through fork: it was made in pid ");
		render_num(b, d, m, "mapped_in_pid");
		sb_puts(b, ")\n");
	}
}

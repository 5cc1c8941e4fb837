#define _GNU_SOURCE
#include "suppress_gen.h"
#include "json.h"
#include "lines.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <unistd.h>

struct gframe {
	const char *module, *symbol;    /* interned; symbol is "name" (no +0x..), NULL if unknown */
	uint64_t offset;
};

struct gstack {
	struct gstack *next;
	size_t n;
	struct gframe *f;
};

struct gsite {
	struct gsite *next;
	const char *event, *call, *path;
	struct gstack stack;
	struct gstack *creators;        /* distinct creation stacks */
	bool creators_unknown;          /* a window without a creation stack, or windows not listed */
	unsigned long count;
	struct ivec pids;
};

struct supp_gen {
	struct arena arena;
	struct strtab strings;
	struct hmap sites, stacks;
	struct gsite *list, **tail;
	struct jdoc doc;
};

struct supp_gen *supp_gen_new(void)
{
	struct supp_gen *g = xcalloc(1, sizeof *g);
	strtab_init(&g->strings, &g->arena);
	hmap_init(&g->sites, &g->arena);
	hmap_init(&g->stacks, &g->arena);
	g->tail = &g->list;
	return g;
}

void supp_gen_free(struct supp_gen *g)
{
	if (!g)
		return;
	for (struct gsite *t = g->list; t; t = t->next)
		free(t->pids.v);
	hmap_free(&g->strings.map);
	hmap_free(&g->sites);
	hmap_free(&g->stacks);
	jdoc_free(&g->doc);
	arena_free(&g->arena);
	free(g);
}

/* The frames of a "backtrace" array, interned; returns the count (at most cap). */
static size_t read_stack(struct supp_gen *g, const struct jnode *arr, struct gframe *out, size_t cap)
{
	size_t n = 0;
	if (!arr || arr->type != J_ARR)
		return 0;
	for (const struct jnode *f = jchild(&g->doc, arr); f && n < cap; f = jnext(&g->doc, f)) {
		if (f->type != J_OBJ)
			continue;
		const char *m = jget_str(&g->doc, f, "module");
		const char *sym = jget_str(&g->doc, f, "symbol");
		out[n].module = intern_cstr(&g->strings, m ? m : "");
		out[n].symbol = NULL;
		if (sym && sym[0]) {
			const char *plus = strrchr(sym, '+');
			size_t len = plus ? (size_t)(plus - sym) : strlen(sym);
			if (len)
				out[n].symbol = intern(&g->strings, sym, len);
		}
		if (!jget_u64(&g->doc, f, "module_offset", &out[n].offset))
			out[n].offset = 0;
		n++;
	}
	return n;
}

static void add_creator(struct supp_gen *g, struct gsite *t, const struct gframe *f, size_t n)
{
	if (n == 0) {
		t->creators_unknown = true;
		return;
	}
	struct { struct gsite *site; uint64_t h; size_t n; } key = { t, hash_bytes(f, n * sizeof *f), n };
	void **slot = hmap_put(&g->stacks, &key, sizeof key);
	if (*slot)
		return;
	struct gstack *c = arena_alloc(&g->arena, sizeof *c);
	c->n = n;
	c->f = arena_alloc(&g->arena, n * sizeof *f);
	memcpy(c->f, f, n * sizeof *f);
	c->next = NULL;
	struct gstack **p = &t->creators;
	while (*p)
		p = &(*p)->next;
	*p = c;
	*slot = c;
}

static void add_record(struct supp_gen *g, const struct jnode *r)
{
	const char *event = jget_str(&g->doc, r, "event");
	if (!event || (strcmp(event, "truncate") != 0 && strcmp(event, "reopen") != 0))
		return;
	struct gframe fr[256];
	size_t n = read_stack(g, jget(&g->doc, r, "backtrace"), fr, 256);
	const char *path = jget_str(&g->doc, r, "path");
	struct {
		const char *event, *call, *path;
		uint64_t h;
		size_t n;
	} key = { intern_cstr(&g->strings, event), intern_cstr(&g->strings, jget_str(&g->doc, r, "call")),
		  intern_cstr(&g->strings, path ? path : ""), hash_bytes(fr, n * sizeof fr[0]), n };
	void **slot = hmap_put(&g->sites, &key, sizeof key);
	struct gsite *t = *slot;
	if (!t) {
		t = arena_alloc(&g->arena, sizeof *t);
		memset(t, 0, sizeof *t);
		t->event = key.event;
		t->call = key.call;
		t->path = key.path;
		t->stack.n = n;
		t->stack.f = arena_alloc(&g->arena, (n ? n : 1) * sizeof fr[0]);
		memcpy(t->stack.f, fr, n * sizeof fr[0]);
		*g->tail = t;
		g->tail = &t->next;
		*slot = t;
	}
	t->count++;
	int64_t pid;
	const struct jnode *pn = jget(&g->doc, r, "pid");
	if (pn && jnum_i64(pn, &pid) && pid > 0 && pid <= INT32_MAX &&
	    (t->pids.n == 0 || t->pids.v[t->pids.n - 1] != (int)pid))
		ivec_push(&t->pids, (int)pid);
	const struct jnode *maps = jget(&g->doc, r, "mappings");
	size_t listed = 0;
	if (maps && maps->type == J_ARR)
		for (const struct jnode *m = jchild(&g->doc, maps); m; m = jnext(&g->doc, m)) {
			if (m->type != J_OBJ)
				continue;
			struct gframe cf[256];
			size_t cn = read_stack(g, jget(&g->doc, m, "backtrace"), cf, 256);
			add_creator(g, t, cf, cn);
			listed++;
		}
	uint64_t total;
	if (!jget_u64(&g->doc, r, "mappings_total", &total) || total > listed || listed == 0)
		t->creators_unknown = true;
}

static void on_line(void *ctx, char *line, size_t len, unsigned long lineno)
{
	struct supp_gen *g = ctx;
	(void)lineno;
	size_t i = 0;
	while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
		i++;
	if (i == len)
		return;
	const struct jnode *root = json_parse(&g->doc, line, len);
	if (root && root->type == J_OBJ)
		add_record(g, root);
}

int supp_gen_add_file(struct supp_gen *g, const char *path)
{
	int fd = strcmp(path, "-") == 0 ? dup(0) : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct linereader lr = { 0 };
	int r = lr_read(&lr, fd, on_line, g, true);
	lr_free(&lr);
	close(fd);
	return r;
}

/*
 * Glob-quote s: the metacharacters get a backslash; in a frame token (whitespace separates
 * tokens, ':' ends the module) whitespace and ':' become '?', which matches them too.
 */
static void put_quoted(struct sbuf *b, const char *s, bool token)
{
	for (; *s; s++) {
		char c = *s;
		if (token && (c == ' ' || c == '\t' || c == ':' || c == '\n' || c == '\r'))
			sb_putc(b, '?');
		else if (c == '\n' || c == '\r')
			sb_putc(b, '?');
		else {
			if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\')
				sb_putc(b, '\\');
			sb_putc(b, c);
		}
	}
}

static void put_stack(struct sbuf *b, const char *keyword, const struct gstack *st)
{
	sb_printf(b, "  %-7s", keyword);
	for (size_t i = 0; i < st->n; i++) {
		const struct gframe *f = &st->f[i];
		sb_putc(b, ' ');
		if (!f->module[0]) {
			sb_putc(b, '*');        /* no module (anonymous code): any frame */
			continue;
		}
		put_quoted(b, f->module, true);
		if (f->symbol) {
			sb_putc(b, ':');
			put_quoted(b, f->symbol, true);
		} else {
			sb_printf(b, "+0x%" PRIx64, f->offset);
		}
	}
	sb_putc(b, '\n');
}

unsigned long supp_gen_print(struct supp_gen *g, FILE *out)
{
	struct sbuf b = { 0 };
	unsigned long n = 0;
	for (struct gsite *t = g->list; t; t = t->next) {
		n++;
		const char *base = strrchr(t->path, '/');
		base = base ? base + 1 : t->path;
		sb_printf(&b, "%s# %s by %s of %s: %lu %s, pid", n > 1 ? "\n" : "", t->event,
			  t->call ? t->call : "?", text_safe(t->path), t->count, t->count == 1 ? "time" : "times");
		ivec_sort_unique(&t->pids);
		sb_puts(&b, t->pids.n == 1 ? " " : "s ");
		for (size_t i = 0; i < t->pids.n && i < 8; i++)
			sb_printf(&b, "%s%d", i ? ", " : "", t->pids.v[i]);
		if (t->pids.n > 8)
			sb_printf(&b, " and %zu more", t->pids.n - 8);
		sb_puts(&b, "\n");
		if (t->creators_unknown)
			sb_puts(&b, "# (some endangered mappings were not listed or had no creation stack: "
				    "no creator line)\n");
		/* a one-word name: the site's number, event, call and file name, other bytes as '_' */
		sb_printf(&b, "suppress site%lu-%s-%s-", n, t->event, t->call ? t->call : "call");
		for (const char *p = base; *p && p - base < 40; p++)
			sb_putc(&b, (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
					     (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' || *p == '_'
					     ? *p : '_');
		sb_printf(&b, "\n  events  %s\n  path    ", t->event);
		put_quoted(&b, t->path, false);
		sb_putc(&b, '\n');
		if (t->stack.n)
			put_stack(&b, "cutter", &t->stack);
		if (!t->creators_unknown)
			for (const struct gstack *c = t->creators; c; c = c->next)
				put_stack(&b, "creator", c);
		sb_puts(&b, "  reach   self\n");
	}
	fwrite(b.p ? b.p : "", 1, b.len, out);
	sb_free(&b);
	return n;
}

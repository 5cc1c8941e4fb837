#define _GNU_SOURCE
#include "suppressed.h"
#include "util.h"

#include <inttypes.h>
#include <stdlib.h>

struct sframe {
	const char *module, *symbol;
	uint64_t offset;
};

struct ssite {
	struct ssite *next;
	const char *rule, *rule_file, *kind, *call, *flags, *path;
	struct sframe *frames;
	size_t nframes;
	unsigned long calls;
	struct ivec pids;
};

/* A site as the guard names it in one process (its tally at exit names only that). */
struct tkey {
	const char *site;
	int pid;
};

/* Per (process, site): the largest running count seen. */
struct sproc {
	struct ssite *site;
	uint64_t max;
};

struct suppressed {
	struct arena arena;
	struct strtab strings;
	struct hmap sites, procs, tallies;
	struct ssite *list, **tail;
	size_t nsites;
	unsigned long calls;
};

struct suppressed *suppressed_new(void)
{
	struct suppressed *s = xcalloc(1, sizeof *s);
	strtab_init(&s->strings, &s->arena);
	hmap_init(&s->sites, &s->arena);
	hmap_init(&s->procs, &s->arena);
	hmap_init(&s->tallies, &s->arena);
	s->tail = &s->list;
	return s;
}

void suppressed_free(struct suppressed *s)
{
	if (!s)
		return;
	for (struct ssite *t = s->list; t; t = t->next)
		free(t->pids.v);
	hmap_free(&s->strings.map);
	hmap_free(&s->sites);
	hmap_free(&s->procs);
	hmap_free(&s->tallies);
	arena_free(&s->arena);
	free(s);
}

static const char *str(struct suppressed *s, const struct jdoc *d, const struct jnode *o, const char *k)
{
	return intern_cstr(&s->strings, jget_str(d, o, k));
}

void suppressed_add(struct suppressed *s, const struct jdoc *d, const struct jnode *r, int pid)
{
	uint64_t count = 1;
	jget_u64(d, r, "count", &count);
	const char *site = jget_str(d, r, "site");
	if (!jget(d, r, "rule")) {
		/* a tally at exit: the final count of a site this process recorded before */
		struct tkey tk;
		memset(&tk, 0, sizeof tk);      /* the padding is part of the key */
		tk.site = intern_cstr(&s->strings, site);
		tk.pid = pid;
		struct sproc *p = tk.site ? hmap_get(&s->tallies, &tk, sizeof tk) : NULL;
		if (p && count > p->max) {
			p->site->calls += count - p->max;
			s->calls += count - p->max;
			p->max = count;
		}
		return;
	}
	struct sframe fr[256];
	size_t n = 0;
	const struct jnode *bt = jget(d, r, "backtrace");
	if (bt && bt->type == J_ARR)
		for (const struct jnode *f = jchild(d, bt); f && n < 256; f = jnext(d, f)) {
			if (f->type != J_OBJ)
				continue;
			fr[n].module = str(s, d, f, "module");
			fr[n].symbol = str(s, d, f, "symbol");
			if (!jget_u64(d, f, "module_offset", &fr[n].offset))
				fr[n].offset = 0;
			n++;
		}
	struct {
		const char *rule, *rule_file, *kind, *call, *flags, *path;
		uint64_t stack;
	} key = { str(s, d, r, "rule"), str(s, d, r, "rule_file"), str(s, d, r, "kind"),
		  str(s, d, r, "call"), str(s, d, r, "flags"), str(s, d, r, "path"),
		  hash_bytes(fr, n * sizeof fr[0]) };
	void **slot = hmap_put(&s->sites, &key, sizeof key);
	struct ssite *t = *slot;
	if (!t) {
		t = arena_alloc(&s->arena, sizeof *t);
		memset(t, 0, sizeof *t);
		t->rule = key.rule;
		t->rule_file = key.rule_file;
		t->kind = key.kind;
		t->call = key.call;
		t->flags = key.flags;
		t->path = key.path;
		t->frames = arena_alloc(&s->arena, (n ? n : 1) * sizeof fr[0]);
		memcpy(t->frames, fr, n * sizeof fr[0]);
		t->nframes = n;
		*s->tail = t;
		s->tail = &t->next;
		s->nsites++;
		*slot = t;
	}
	struct { struct ssite *site; int64_t pid; } pk = { t, pid };
	void **ps = hmap_put(&s->procs, &pk, sizeof pk);
	struct sproc *p = *ps;
	if (!p) {
		p = arena_alloc(&s->arena, sizeof *p);
		p->site = t;
		p->max = 0;
		*ps = p;
		if (pid > 0)
			ivec_push(&t->pids, pid);
		if (site) {
			struct tkey tk;
			memset(&tk, 0, sizeof tk);
			tk.site = intern_cstr(&s->strings, site);
			tk.pid = pid;
			*hmap_put(&s->tallies, &tk, sizeof tk) = p;
		}
	}
	if (count > p->max) {
		t->calls += count - p->max;
		s->calls += count - p->max;
		p->max = count;
	}
}

unsigned long suppressed_calls(const struct suppressed *s) { return s ? s->calls : 0; }

static const char *plural(unsigned long n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

void suppressed_print_text(const struct suppressed *s, FILE *out)
{
	fprintf(out, "mmapguard report: %lu suppressed %s at %zu %s\n", s->calls,
		plural(s->calls, "call", "calls"), s->nsites, plural(s->nsites, "site", "sites"));
	size_t i = 0;
	for (struct ssite *t = s->list; t; t = t->next) {
		fprintf(out, "\n  [%zu] %s by %s(%s) of %s: %lu %s\n", ++i, t->kind ? text_safe(t->kind) : "?",
			t->call ? text_safe(t->call) : "?", t->flags ? text_safe(t->flags) : "",
			t->path ? text_safe(t->path) : "?", t->calls, plural(t->calls, "time", "times"));
		fprintf(out, "      rule: %s", t->rule ? text_safe(t->rule) : "?");
		if (t->rule_file)
			fprintf(out, " (%s)", text_safe(t->rule_file));
		fprintf(out, "\n      pids: ");
		ivec_sort_unique(&((struct ssite *)t)->pids);
		for (size_t k = 0; k < t->pids.n && k < 12; k++)
			fprintf(out, "%s%d", k ? ", " : "", t->pids.v[k]);
		if (t->pids.n > 12)
			fprintf(out, " and %zu more", t->pids.n - 12);
		fprintf(out, "\n      call site:\n");
		if (!t->nframes)
			fprintf(out, "        (no stack recorded)\n");
		for (size_t k = 0; k < t->nframes; k++) {
			const struct sframe *f = &t->frames[k];
			fprintf(out, "        #%-2zu %s (%s+0x%" PRIx64 ")\n", k,
				f->symbol ? text_safe(f->symbol) : "??", f->module ? text_safe(f->module) : "?",
				f->offset);
		}
	}
}

void suppressed_print_json(const struct suppressed *s, FILE *out)
{
	struct sbuf b = { 0 };
	sb_printf(&b, "{\"suppressed\":%lu,\"sites\":[", s->calls);
	for (struct ssite *t = s->list; t; t = t->next) {
		sb_puts(&b, t == s->list ? "{\"rule\":" : ",{\"rule\":");
		sb_json_str(&b, t->rule);
		sb_puts(&b, ",\"rule_file\":");
		sb_json_str(&b, t->rule_file);
		sb_puts(&b, ",\"kind\":");
		sb_json_str(&b, t->kind);
		sb_puts(&b, ",\"call\":");
		sb_json_str(&b, t->call);
		sb_puts(&b, ",\"flags\":");
		sb_json_str(&b, t->flags);
		sb_puts(&b, ",\"path\":");
		sb_json_str(&b, t->path);
		sb_printf(&b, ",\"count\":%lu,\"pids\":[", t->calls);
		ivec_sort_unique(&((struct ssite *)t)->pids);
		for (size_t k = 0; k < t->pids.n; k++)
			sb_printf(&b, "%s%d", k ? "," : "", t->pids.v[k]);
		sb_puts(&b, "],\"stack\":[");
		for (size_t k = 0; k < t->nframes; k++) {
			const struct sframe *f = &t->frames[k];
			sb_puts(&b, k ? ",{\"module\":" : "{\"module\":");
			sb_json_str(&b, f->module);
			sb_printf(&b, ",\"module_offset\":\"0x%" PRIx64 "\",\"symbol\":", f->offset);
			sb_json_str(&b, f->symbol);
			sb_putc(&b, '}');
		}
		sb_puts(&b, "]}");
	}
	sb_puts(&b, "]}\n");
	fwrite(b.p, 1, b.len, out);
	sb_free(&b);
}

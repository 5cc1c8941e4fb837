#define _GNU_SOURCE
#include "summary.h"
#include "lines.h"
#include "suppressed.h"
#include "symbolize.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- data ----------------------------------------------------------------------------------- */

struct frame {
	const char *module;             /* interned; NULL if the record named none */
	uint64_t offset;                /* module_offset, or the ip when there is no module */
	const char *symbol;             /* the record's own "name+0xoff", first seen */
	bool pc;                        /* the interrupted instruction, not a return address */
	bool symbolized;
	const char *function, *srcfile; /* from libdwfl */
	uint64_t function_offset;
	int line;
};

struct stack {
	uint32_t n;
	struct frame *f[];
};

struct mapent {
	struct mapent *next;
	const char *path, *prot;
	struct stack *stack;            /* creation stack */
	bool shared;
	uint64_t addr;                  /* another process's window: where; 0 for this process's own */
	uint64_t length, offset, pages_beyond_eof;
	int64_t made_in_pid;            /* > 0: made in that process and inherited through fork (first seen) */
	unsigned long count;
};

/* Another process a site's cuts would hurt (the records' victims), and its windows of the file. */
struct victim {
	struct victim *next;
	int pid;
	const char *comm, *exe;
	bool guarded;
	unsigned long count;            /* records that named it */
	struct mapent *maps, **maps_tail;
	unsigned long nmaps;
};

struct site {
	struct site *next;              /* in its file */
	const char *path, *event, *call, *flags;
	struct stack *stack;
	unsigned long count, logged, blocked;
	const char *errno_names[4];
	char first[40], last[40];
	struct ivec pids;
	bool has_sizes, sizes_vary;
	uint64_t size_before, size_after;
	struct mapent *maps, **maps_tail;
	unsigned long nmaps;
	struct victim *victims, **victims_tail; /* other processes the cut hurt (scope guarded/all) */
	unsigned long nvictims;
	uint64_t mappings_total_max;
	unsigned long records_cut;      /* records that listed fewer windows than mappings_total */
	unsigned long order;
};

struct filegrp {
	struct filegrp *next;
	const char *path;
	struct site *sites;
	unsigned long count, blocked, nsites;
	struct ivec pids;
	unsigned long order;
};

struct field {
	const char *key;                /* dotted for nested objects */
	char *json;                     /* value as JSON text */
	char *text;                     /* value for humans */
};

/* A mapping a record names (its "mappings"), with the stack that created it. */
struct named_map {
	uint64_t addr, len, offset;
	const char *prot, *thread_name;
	bool shared, rescued;
	int64_t tid;
	struct stack *stack;
};
#define OTHER_MAPS 4

struct other {
	struct other *next;
	const char *event, *call, *path;
	struct stack *stack;
	unsigned long count;
	unsigned long survived;         /* sigbus records with action "survived" */
	char first[40], last[40];
	struct ivec pids;
	struct field *fields;           /* of the first record */
	size_t nfields;
	struct named_map maps[OTHER_MAPS];      /* of the first record (a lease_break's) */
	size_t nmaps;
	unsigned long order;
};

/* sigbus records with the same file, verdict, faulting stack and linked cut. */
struct fault_group {
	struct fault_group *next;
	const char *path, *verdict, *file_status, *code;
	struct stack *stack;
	unsigned long count;
	char first[40], last[40];
	struct ivec pids;
	/* of the first record */
	uint64_t fault_offset, file_size;
	bool have_size;
	int64_t tid;
	const char *thread_name;
	/* the linked cut (truncation), if any */
	bool cut;
	const char *cut_call, *cut_thread_name;
	int64_t cut_pid, cut_tid, fault_pid;
	uint64_t cut_before, cut_after;
	char cut_time[40], fault_time[40];
	struct stack *cut_stack;
	/* the faulting window, and the stack that created it */
	bool map;
	uint64_t map_len, map_offset;
	const char *map_prot, *map_thread_name;
	bool map_shared;
	int64_t map_tid;
	char map_time[40];
	struct stack *map_stack;
	/* another process's cut (cut_by), if any: guarded (its stack), or seen by a lease break */
	bool by, by_lease, by_first, by_have_after;
	const char *by_comm, *by_call, *by_thread_name, *by_cmdline;
	int64_t by_pid, by_tid;
	uint64_t by_before, by_after;
	char by_time[40];
	struct stack *by_stack;
};

struct bad {
	char *file;
	unsigned long line;
	const char *why;
};

struct summary {
	struct arena arena;
	struct strtab strings;
	struct hmap frames, stacks, sites, files, maps, victims, others, pids, vpids;
	struct filegrp *file_list, **file_tail;
	struct other *other_list, **other_tail;
	struct hmap faults;
	struct fault_group *fault_list, **fault_tail;
	unsigned long records, violations, blocked, other, malformed, nsites, nfiles, order;
	struct bad bad[3];
	size_t nbad;
	const char *ev_truncate, *ev_reopen, *ev_sigbus;
	struct jdoc doc;
	struct symbolizer *sym;
	const char *cur_file;
	struct suppressed *supp;        /* "suppressed" records: kept apart, never violations */
};

struct summary *summary_new(void)
{
	struct summary *s = xcalloc(1, sizeof *s);
	strtab_init(&s->strings, &s->arena);
	hmap_init(&s->frames, &s->arena);
	hmap_init(&s->stacks, &s->arena);
	hmap_init(&s->sites, &s->arena);
	hmap_init(&s->files, &s->arena);
	hmap_init(&s->maps, &s->arena);
	hmap_init(&s->victims, &s->arena);
	hmap_init(&s->others, &s->arena);
	hmap_init(&s->pids, &s->arena);
	hmap_init(&s->vpids, &s->arena);
	hmap_init(&s->faults, &s->arena);
	s->fault_tail = &s->fault_list;
	s->file_tail = &s->file_list;
	s->other_tail = &s->other_list;
	s->ev_truncate = intern_cstr(&s->strings, "truncate");
	s->ev_reopen = intern_cstr(&s->strings, "reopen");
	s->supp = suppressed_new();
	s->ev_sigbus = intern_cstr(&s->strings, "sigbus");
	return s;
}

void summary_free(struct summary *s)
{
	if (!s)
		return;
	for (struct filegrp *f = s->file_list; f; f = f->next) {
		free(f->pids.v);
		for (struct site *t = f->sites; t; t = t->next)
			free(t->pids.v);
	}
	for (struct fault_group *g = s->fault_list; g; g = g->next)
		free(g->pids.v);
	for (struct other *o = s->other_list; o; o = o->next) {
		free(o->pids.v);
		for (size_t i = 0; i < o->nfields; i++) {
			free((char *)o->fields[i].key);
			free(o->fields[i].json);
			free(o->fields[i].text);
		}
		free(o->fields);
	}
	for (size_t i = 0; i < s->nbad; i++)
		free(s->bad[i].file);
	hmap_free(&s->strings.map);
	hmap_free(&s->frames);
	hmap_free(&s->stacks);
	hmap_free(&s->sites);
	hmap_free(&s->files);
	hmap_free(&s->maps);
	hmap_free(&s->victims);
	hmap_free(&s->others);
	hmap_free(&s->pids);
	hmap_free(&s->vpids);
	jdoc_free(&s->doc);
	symbolizer_free(s->sym);
	suppressed_free(s->supp);
	arena_free(&s->arena);
	free(s);
}

/* ---- adding records ------------------------------------------------------------------------- */

static const char *str_field(struct summary *s, const struct jdoc *d, const struct jnode *o,
			     const char *key)
{
	const char *v = jget_str(d, o, key);
	return v ? intern_cstr(&s->strings, v) : NULL;
}

static struct frame *intern_frame(struct summary *s, const struct jdoc *d, const struct jnode *fo,
				  bool pc)
{
	struct { const char *module; uint64_t offset; bool pc; } key;
	memset(&key, 0, sizeof key);
	key.pc = pc;
	const char *module = jget_str(d, fo, "module");
	if (module && module[0] && jget_u64(d, fo, "module_offset", &key.offset)) {
		key.module = intern_cstr(&s->strings, module);
	} else {
		key.module = NULL;
		if (!jget_u64(d, fo, "ip", &key.offset))
			key.offset = 0;
	}
	void **slot = hmap_put(&s->frames, &key, sizeof key);
	if (!*slot) {
		struct frame *f = arena_alloc(&s->arena, sizeof *f);
		memset(f, 0, sizeof *f);
		f->module = key.module;
		f->offset = key.offset;
		f->pc = pc;
		f->symbol = str_field(s, d, fo, "symbol");
		*slot = f;
	}
	return *slot;
}

/* first_is_pc: frame 0 is the faulting instruction (sigbus records), its own line, not the one before. */
static struct stack *intern_stack(struct summary *s, const struct jdoc *d, const struct jnode *arr,
				  bool first_is_pc)
{
	struct frame *tmp[256];
	uint32_t n = 0;
	if (arr && arr->type == J_ARR)
		for (const struct jnode *c = jchild(d, arr); c && n < 256; c = jnext(d, c))
			if (c->type == J_OBJ) {
				tmp[n] = intern_frame(s, d, c, first_is_pc && n == 0);
				n++;
			}
	void **slot = hmap_put(&s->stacks, tmp, n * sizeof tmp[0]);
	if (!*slot) {
		struct stack *st = arena_alloc(&s->arena, sizeof *st + n * sizeof st->f[0]);
		st->n = n;
		memcpy(st->f, tmp, n * sizeof tmp[0]);
		*slot = st;
	}
	return *slot;
}

static void note_time(char *first, char *last, const char *t)
{
	if (!t || strlen(t) >= 40)
		return;
	if (!first[0] || strcmp(t, first) < 0)
		strcpy(first, t);
	if (!last[0] || strcmp(t, last) > 0)
		strcpy(last, t);
}

static void note_pid(struct ivec *v, int pid)
{
	if (pid > 0 && (v->n == 0 || v->v[v->n - 1] != pid))
		ivec_push(v, pid);
}

static void count_pid(struct hmap *m, int pid)
{
	if (pid > 0) {
		void **slot = hmap_put(m, &pid, sizeof pid);
		*slot = (void *)1;
	}
}

/* A window into owner's list (a site's own, or a victim's: then its address counts too). */
static void add_mapping(struct summary *s, const void *owner, struct mapent ***tail, unsigned long *n,
			const struct jdoc *d, const struct jnode *mo, bool with_addr)
{
	struct {
		const void *owner;
		const char *path, *prot;
		struct stack *stack;
		uint64_t addr, length, offset;
		int shared;
	} key;
	memset(&key, 0, sizeof key);
	key.owner = owner;
	if (with_addr)
		jget_u64(d, mo, "addr", &key.addr);
	key.path = str_field(s, d, mo, "path");
	key.prot = str_field(s, d, mo, "prot");
	key.stack = intern_stack(s, d, jget(d, mo, "backtrace"), false);
	jget_u64(d, mo, "length", &key.length);
	jget_u64(d, mo, "offset", &key.offset);
	const struct jnode *sh = jget(d, mo, "shared");
	key.shared = sh && sh->type == J_TRUE;
	void **slot = hmap_put(&s->maps, &key, sizeof key);
	struct mapent *m = *slot;
	if (!m) {
		m = arena_alloc(&s->arena, sizeof *m);
		memset(m, 0, sizeof *m);
		m->path = key.path;
		m->prot = key.prot;
		m->stack = key.stack;
		m->shared = key.shared;
		m->addr = key.addr;
		m->length = key.length;
		m->offset = key.offset;
		**tail = m;
		*tail = &m->next;
		(*n)++;
		*slot = m;
	}
	m->count++;
	uint64_t made;
	if (!m->made_in_pid && jget_u64(d, mo, "mapped_in_pid", &made) && made > 0 && made <= INT32_MAX)
		m->made_in_pid = (int64_t)made;
	uint64_t beyond;
	if (jget_u64(d, mo, "pages_beyond_eof", &beyond) && beyond > m->pages_beyond_eof)
		m->pages_beyond_eof = beyond;
}

static void add_victim(struct summary *s, struct site *t, const struct jdoc *d, const struct jnode *v)
{
	struct {
		struct site *site;
		const char *comm, *exe;
		int64_t pid;
		int guarded;
	} key;
	memset(&key, 0, sizeof key);
	key.site = t;
	key.comm = str_field(s, d, v, "comm");
	key.exe = str_field(s, d, v, "exe");
	if (!jnum_i64(jget(d, v, "pid"), &key.pid))
		key.pid = -1;
	const struct jnode *g = jget(d, v, "guarded");
	key.guarded = g && g->type == J_TRUE;
	void **slot = hmap_put(&s->victims, &key, sizeof key);
	struct victim *x = *slot;
	if (!x) {
		x = arena_alloc(&s->arena, sizeof *x);
		memset(x, 0, sizeof *x);
		x->pid = key.pid >= INT32_MIN && key.pid <= INT32_MAX ? (int)key.pid : -1;
		x->comm = key.comm;
		x->exe = key.exe;
		x->guarded = key.guarded;
		x->maps_tail = &x->maps;
		*t->victims_tail = x;
		t->victims_tail = &x->next;
		t->nvictims++;
		*slot = x;
	}
	x->count++;
	const struct jnode *ws = jget(d, v, "windows");
	if (ws && ws->type == J_ARR)
		for (const struct jnode *m = jchild(d, ws); m; m = jnext(d, m))
			if (m->type == J_OBJ)
				add_mapping(s, x, &x->maps_tail, &x->nmaps, d, m, true);
}

static void add_violation(struct summary *s, const struct jdoc *d, const struct jnode *r,
			  const char *event, int pid, const char *time)
{
	struct {
		const char *path, *event, *call, *flags;
		struct stack *stack;
	} key;
	memset(&key, 0, sizeof key);
	key.path = str_field(s, d, r, "path");
	if (!key.path)
		key.path = intern_cstr(&s->strings, "(no path)");
	key.event = event;
	key.call = str_field(s, d, r, "call");
	key.flags = str_field(s, d, r, "flags");
	key.stack = intern_stack(s, d, jget(d, r, "backtrace"), false);

	void **fslot = hmap_put(&s->files, &key.path, sizeof key.path);
	struct filegrp *f = *fslot;
	if (!f) {
		f = arena_alloc(&s->arena, sizeof *f);
		memset(f, 0, sizeof *f);
		f->path = key.path;
		f->order = s->nfiles++;
		*s->file_tail = f;
		s->file_tail = &f->next;
		*fslot = f;
	}
	void **slot = hmap_put(&s->sites, &key, sizeof key);
	struct site *t = *slot;
	if (!t) {
		t = arena_alloc(&s->arena, sizeof *t);
		memset(t, 0, sizeof *t);
		t->path = key.path;
		t->event = key.event;
		t->call = key.call;
		t->flags = key.flags;
		t->stack = key.stack;
		t->maps_tail = &t->maps;
		t->victims_tail = &t->victims;
		t->order = s->nsites++;
		t->next = f->sites;
		f->sites = t;
		f->nsites++;
		*slot = t;
	}
	bool blocked = false;
	const char *action = jget_str(d, r, "action");
	if (action && strcmp(action, "blocked") == 0)
		blocked = true;
	t->count++;
	f->count++;
	s->violations++;
	if (blocked) {
		t->blocked++;
		f->blocked++;
		s->blocked++;
		const char *en = str_field(s, d, r, "errno_name");
		for (size_t i = 0; en && i < 4; i++) {
			if (t->errno_names[i] == en)
				break;
			if (!t->errno_names[i]) {
				t->errno_names[i] = en;
				break;
			}
		}
	} else {
		t->logged++;
	}
	note_time(t->first, t->last, time);
	note_pid(&t->pids, pid);
	note_pid(&f->pids, pid);
	count_pid(&s->vpids, pid);

	uint64_t before, after;
	if (jget_u64(d, r, "size_before", &before) && jget_u64(d, r, "size_after", &after)) {
		if (!t->has_sizes) {
			t->has_sizes = true;
			t->size_before = before;
			t->size_after = after;
		} else if (before != t->size_before || after != t->size_after) {
			t->sizes_vary = true;
		}
	}
	const struct jnode *maps = jget(d, r, "mappings");
	unsigned long listed = 0;
	if (maps && maps->type == J_ARR)
		for (const struct jnode *m = jchild(d, maps); m; m = jnext(d, m))
			if (m->type == J_OBJ) {
				add_mapping(s, t, &t->maps_tail, &t->nmaps, d, m, false);
				listed++;
			}
	/* other processes the cut hurt: a block each, their creation stacks symbolized too */
	const struct jnode *vics = jget(d, r, "victims");
	if (vics && vics->type == J_ARR)
		for (const struct jnode *v = jchild(d, vics); v; v = jnext(d, v))
			if (v->type == J_OBJ)
				add_victim(s, t, d, v);
	uint64_t total;
	if (jget_u64(d, r, "mappings_total", &total)) {
		if (total > t->mappings_total_max)
			t->mappings_total_max = total;
		if (total > listed)
			t->records_cut++;
	}
}

/* Flatten the fields of a record of another event: scalars, nested objects with dotted keys. */
static void value_texts(const struct jdoc *d, const struct jnode *v, struct sbuf *json, struct sbuf *text)
{
	switch (v->type) {
	case J_NULL: sb_puts(json, "null"); sb_puts(text, "null"); break;
	case J_TRUE: sb_puts(json, "true"); sb_puts(text, "true"); break;
	case J_FALSE: sb_puts(json, "false"); sb_puts(text, "false"); break;
	case J_NUM: sb_putn(json, v->s, v->len); sb_putn(text, v->s, v->len); break;
	case J_STR: sb_json_str(json, v->s); sb_text(text, v->s); break;
	case J_ARR: {
		/* Arrays of scalars are kept; arrays of objects are counted. */
		bool scalars = true;
		for (const struct jnode *c = jchild(d, v); c; c = jnext(d, c))
			if (c->type == J_ARR || c->type == J_OBJ)
				scalars = false;
		if (!scalars) {
			sb_printf(json, "%u", v->len);
			sb_printf(text, "[%u items]", v->len);
			break;
		}
		sb_putc(json, '[');
		sb_putc(text, '[');
		for (const struct jnode *c = jchild(d, v); c; c = jnext(d, c)) {
			value_texts(d, c, json, text);
			if (c->next != J_NONE) {
				sb_putc(json, ',');
				sb_puts(text, ", ");
			}
		}
		sb_putc(json, ']');
		sb_putc(text, ']');
		break;
	}
	case J_OBJ:
		break;
	}
}

static void collect_fields(struct other *o, const struct jdoc *d, const struct jnode *obj,
			   const char *prefix, size_t *cap, int depth)
{
	static const char *const skip[] = { "event", "call", "path", "pid", "tid", "thread_name", "time",
					    "backtrace", NULL };
	for (const struct jnode *c = jchild(d, obj); c; c = jnext(d, c)) {
		if (!prefix[0]) {
			bool skipped = false;
			for (size_t i = 0; skip[i]; i++)
				if (strcmp(c->key, skip[i]) == 0)
					skipped = true;
			if (skipped)
				continue;
		}
		char key[256];
		snprintf(key, sizeof key, "%s%s%s", prefix, prefix[0] ? "." : "", c->key);
		if (c->type == J_OBJ && depth < 3) {
			collect_fields(o, d, c, key, cap, depth + 1);
			continue;
		}
		if (c->type == J_OBJ)
			continue;
		struct sbuf json = { 0 }, text = { 0 };
		value_texts(d, c, &json, &text);
		if (o->nfields == *cap) {
			*cap = *cap ? *cap * 2 : 8;
			o->fields = xrealloc(o->fields, *cap * sizeof *o->fields);
		}
		o->fields[o->nfields].key = xstrdup(key);
		o->fields[o->nfields].json = json.p ? json.p : xstrdup("null");
		o->fields[o->nfields].text = text.p ? text.p : xstrdup("");
		o->nfields++;
	}
}

static void add_other(struct summary *s, const struct jdoc *d, const struct jnode *r,
		      const char *event, int pid, const char *time)
{
	struct {
		const char *event, *call, *path;
		struct stack *stack;
	} key;
	memset(&key, 0, sizeof key);
	key.event = event;
	key.call = str_field(s, d, r, "call");
	key.path = str_field(s, d, r, "path");
	key.stack = intern_stack(s, d, jget(d, r, "backtrace"), strcmp(event, "sigbus") == 0);
	void **slot = hmap_put(&s->others, &key, sizeof key);
	struct other *o = *slot;
	if (!o) {
		o = arena_alloc(&s->arena, sizeof *o);
		memset(o, 0, sizeof *o);
		o->event = key.event;
		o->call = key.call;
		o->path = key.path;
		o->stack = key.stack;
		o->order = s->order++;
		size_t cap = 0;
		collect_fields(o, d, r, "", &cap, 0);
		const struct jnode *maps = jget(d, r, "mappings");
		if (maps && maps->type == J_ARR)
			for (const struct jnode *m = jchild(d, maps); m && o->nmaps < OTHER_MAPS; m = jnext(d, m)) {
				if (m->type != J_OBJ)
					continue;
				struct named_map *nm = &o->maps[o->nmaps++];
				jget_u64(d, m, "addr", &nm->addr);
				jget_u64(d, m, "length", &nm->len);
				jget_u64(d, m, "offset", &nm->offset);
				nm->prot = str_field(s, d, m, "prot");
				nm->thread_name = str_field(s, d, m, "thread_name");
				const struct jnode *sh = jget(d, m, "shared"), *re = jget(d, m, "rescued");
				nm->shared = sh && sh->type == J_TRUE;
				nm->rescued = re && re->type == J_TRUE;
				nm->tid = 0;
				jnum_i64(jget(d, m, "tid"), &nm->tid);
				nm->stack = intern_stack(s, d, jget(d, m, "backtrace"), false);
			}
		*s->other_tail = o;
		s->other_tail = &o->next;
		*slot = o;
	}
	o->count++;
	const char *action = jget_str(d, r, "action");
	if (action && strcmp(action, "survived") == 0)
		o->survived++;
	s->other++;
	note_time(o->first, o->last, time);
	note_pid(&o->pids, pid);
}

static void copy_time(char *dst, size_t cap, const char *t)
{
	snprintf(dst, cap, "%s", t ? t : "");
}

/* A sigbus record: kept whole enough to be told the way the live text tells it. */
static void add_fault(struct summary *s, const struct jdoc *d, const struct jnode *r, int pid,
		      const char *time)
{
	const struct jnode *t = jget(d, r, "truncation");
	if (t && t->type != J_OBJ)
		t = NULL;
	const struct jnode *c = jget(d, r, "cut_by");
	if (c && c->type != J_OBJ)
		c = NULL;
	struct {
		const char *path, *verdict, *cut_call, *by_comm, *by_call;
		struct stack *stack, *cut_stack, *by_stack;
	} key;
	memset(&key, 0, sizeof key);
	key.path = str_field(s, d, r, "path");
	key.verdict = str_field(s, d, r, "verdict");
	key.stack = intern_stack(s, d, jget(d, r, "backtrace"), true);
	if (t) {
		key.cut_call = str_field(s, d, t, "call");
		key.cut_stack = intern_stack(s, d, jget(d, t, "backtrace"), false);
	}
	if (c) {
		key.by_comm = str_field(s, d, c, "comm");
		key.by_call = str_field(s, d, c, "call");
		key.by_stack = intern_stack(s, d, jget(d, c, "backtrace"), false);
	}
	void **slot = hmap_put(&s->faults, &key, sizeof key);
	struct fault_group *g = *slot;
	if (!g) {
		g = arena_alloc(&s->arena, sizeof *g);
		memset(g, 0, sizeof *g);
		g->path = key.path;
		g->verdict = key.verdict;
		g->stack = key.stack;
		g->file_status = str_field(s, d, r, "file_status");
		g->code = str_field(s, d, r, "si_code_name");
		g->thread_name = str_field(s, d, r, "thread_name");
		jnum_i64(jget(d, r, "tid"), &g->tid);
		g->fault_pid = pid;
		jget_u64(d, r, "fault_offset", &g->fault_offset);
		g->have_size = jget_u64(d, r, "file_size", &g->file_size);
		copy_time(g->fault_time, sizeof g->fault_time, time);
		if (t) {
			g->cut = true;
			g->cut_call = key.cut_call;
			g->cut_stack = key.cut_stack;
			g->cut_thread_name = str_field(s, d, t, "thread_name");
			if (!jnum_i64(jget(d, t, "pid"), &g->cut_pid))
				g->cut_pid = pid;
			jnum_i64(jget(d, t, "tid"), &g->cut_tid);
			jget_u64(d, t, "size_before", &g->cut_before);
			jget_u64(d, t, "size_after", &g->cut_after);
			copy_time(g->cut_time, sizeof g->cut_time, jget_str(d, t, "time"));
		}
		const struct jnode *maps = jget(d, r, "mappings");
		const struct jnode *m = maps && maps->type == J_ARR ? jchild(d, maps) : NULL;
		if (m && m->type == J_OBJ) {
			g->map = true;
			jget_u64(d, m, "length", &g->map_len);
			jget_u64(d, m, "offset", &g->map_offset);
			g->map_prot = str_field(s, d, m, "prot");
			const struct jnode *sh = jget(d, m, "shared");
			g->map_shared = sh && sh->type == J_TRUE;
			g->map_thread_name = str_field(s, d, m, "thread_name");
			jnum_i64(jget(d, m, "tid"), &g->map_tid);
			copy_time(g->map_time, sizeof g->map_time, jget_str(d, m, "time"));
			g->map_stack = intern_stack(s, d, jget(d, m, "backtrace"), false);
		}
		if (c) {
			g->by = true;
			g->by_lease = jget_str(d, c, "seen_by") != NULL;
			const char *note = jget_str(d, r, "note");
			g->by_first = !t || (note && strncmp(note, "another process", 15) == 0);
			g->by_comm = key.by_comm;
			g->by_call = key.by_call;
			g->by_stack = key.by_stack;
			g->by_thread_name = str_field(s, d, c, "thread_name");
			g->by_cmdline = str_field(s, d, c, "cmdline");
			jnum_i64(jget(d, c, "pid"), &g->by_pid);
			jnum_i64(jget(d, c, "tid"), &g->by_tid);
			jget_u64(d, c, "size_before", &g->by_before);
			g->by_have_after = jget_u64(d, c, "size_after", &g->by_after);
			copy_time(g->by_time, sizeof g->by_time, jget_str(d, c, "time"));
		}
		*s->fault_tail = g;
		s->fault_tail = &g->next;
		*slot = g;
	}
	g->count++;
	note_time(g->first, g->last, time);
	note_pid(&g->pids, pid);
}

void summary_malformed(struct summary *s, const char *file, unsigned long lineno, const char *why)
{
	s->malformed++;
	if (s->nbad < sizeof s->bad / sizeof s->bad[0]) {
		s->bad[s->nbad].file = xstrdup(file ? file : "-");
		s->bad[s->nbad].line = lineno;
		s->bad[s->nbad].why = why;
		s->nbad++;
	}
}

bool summary_add_record(struct summary *s, const struct jdoc *d, const struct jnode *r,
			const char *file, unsigned long lineno)
{
	const char *ev = r && r->type == J_OBJ ? jget_str(d, r, "event") : NULL;
	if (!ev || !ev[0]) {
		summary_malformed(s, file, lineno, "not a mmapguard record (no \"event\")");
		return false;
	}
	const char *event = intern_cstr(&s->strings, ev);
	int64_t pid = 0;
	if (!jnum_i64(jget(d, r, "pid"), &pid) || pid < 0 || pid > INT32_MAX)
		pid = 0;
	const char *time = jget_str(d, r, "time");
	if (strcmp(event, "suppressed") == 0) {
		count_pid(&s->pids, (int)pid);
		suppressed_add(s->supp, d, r, (int)pid);
		return true;
	}
	s->records++;
	count_pid(&s->pids, (int)pid);
	if (event == s->ev_truncate || event == s->ev_reopen)
		add_violation(s, d, r, event, (int)pid, time);
	else
		add_other(s, d, r, event, (int)pid, time);
	if (event == s->ev_sigbus)
		add_fault(s, d, r, (int)pid, time);
	return true;
}

void summary_add_line(struct summary *s, char *line, size_t len, const char *file,
		      unsigned long lineno)
{
	size_t i = 0;
	while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
		i++;
	if (i == len)
		return;
	const struct jnode *root = json_parse(&s->doc, line, len);
	if (!root) {
		summary_malformed(s, file, lineno, s->doc.error ? s->doc.error : "not JSON");
		return;
	}
	summary_add_record(s, &s->doc, root, file, lineno);
}

static void file_line(void *ctx, char *line, size_t len, unsigned long lineno)
{
	struct summary *s = ctx;
	summary_add_line(s, line, len, s->cur_file, lineno);
}

int summary_add_fd(struct summary *s, int fd, const char *name)
{
	struct linereader lr = { 0 };
	s->cur_file = name;
	int r = lr_read(&lr, fd, file_line, s, true);
	s->cur_file = NULL;
	lr_free(&lr);
	return r;
}

int summary_add_file(struct summary *s, const char *path)
{
	int fd = strcmp(path, "-") == 0 ? dup(0) : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = summary_add_fd(s, fd, path);
	close(fd);
	return r;
}

void summary_get_counts(const struct summary *s, struct summary_counts *c)
{
	c->records = s->records;
	c->violations = s->violations;
	c->blocked = s->blocked;
	c->violation_processes = s->vpids.n;
	c->other = s->other;
	c->processes = s->pids.n;
	c->malformed = s->malformed;
	c->sites = s->nsites;
	c->files = s->nfiles;
	c->suppressed = suppressed_calls(s->supp);
}

const struct suppressed *summary_suppressed(const struct summary *s) { return s->supp; }

void summary_other_events(const struct summary *s, char *buf, size_t cap)
{
	/* Events in order of first appearance, with their counts. */
	size_t len = 0;
	buf[0] = 0;
	const char *done[64];
	size_t ndone = 0;
	for (struct other *o = s->other_list; o; o = o->next) {
		bool seen = false;
		for (size_t i = 0; i < ndone; i++)
			if (done[i] == o->event)
				seen = true;
		if (seen || ndone == 64)
			continue;
		done[ndone++] = o->event;
		unsigned long n = 0, survived = 0;
		for (struct other *p = o; p; p = p->next)
			if (p->event == o->event) {
				n += p->count;
				survived += p->survived;
			}
		char extra[48] = "";
		if (survived)
			snprintf(extra, sizeof extra, " (%lu survived)", survived);
		int w = snprintf(buf + len, cap - len, "%s%lu %s%s", len ? ", " : "", n, o->event, extra);
		if (w < 0 || (size_t)w >= cap - len)
			break;
		len += (size_t)w;
	}
}

/* ---- output --------------------------------------------------------------------------------- */

static void symbolize_frame(struct summary *s, struct frame *f, bool enabled)
{
	if (f->symbolized)
		return;
	f->symbolized = true;
	if (!enabled || !f->module)
		return;
	if (!s->sym)
		s->sym = symbolizer_new();
	struct sym_result r;
	if (!symbolize(s->sym, f->module, f->offset, !f->pc, &r))
		return;
	if (r.function[0]) {
		f->function = intern_cstr(&s->strings, r.function);
		f->function_offset = r.function_offset;
	}
	if (r.file[0]) {
		f->srcfile = intern_cstr(&s->strings, r.file);
		f->line = r.line;
	}
}

static int cmp_files(const void *a, const void *b)
{
	const struct filegrp *x = *(struct filegrp *const *)a, *y = *(struct filegrp *const *)b;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

static int cmp_sites(const void *a, const void *b)
{
	const struct site *x = *(struct site *const *)a, *y = *(struct site *const *)b;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

static int cmp_others(const void *a, const void *b)
{
	const struct other *x = *(struct other *const *)a, *y = *(struct other *const *)b;
	int c = strcmp(x->event, y->event);
	if (c)
		return c;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

static struct filegrp **sorted_files(struct summary *s)
{
	struct filegrp **v = xmalloc((s->nfiles + 1) * sizeof *v);
	size_t n = 0;
	for (struct filegrp *f = s->file_list; f; f = f->next)
		v[n++] = f;
	qsort(v, n, sizeof *v, cmp_files);
	return v;
}

static struct site **sorted_sites(struct filegrp *f)
{
	struct site **v = xmalloc((f->nsites + 1) * sizeof *v);
	size_t n = 0;
	for (struct site *t = f->sites; t; t = t->next)
		v[n++] = t;
	qsort(v, n, sizeof *v, cmp_sites);
	return v;
}

static struct other **sorted_others(struct summary *s, size_t *count)
{
	size_t n = 0;
	for (struct other *o = s->other_list; o; o = o->next)
		n++;
	struct other **v = xmalloc((n + 1) * sizeof *v);
	n = 0;
	for (struct other *o = s->other_list; o; o = o->next)
		v[n++] = o;
	qsort(v, n, sizeof *v, cmp_others);
	*count = n;
	return v;
}

#define TEXT_FRAMES 24
#define TEXT_PIDS 12

static void text_pids(FILE *out, struct ivec *pids)
{
	ivec_sort_unique(pids);
	for (size_t i = 0; i < pids->n && i < TEXT_PIDS; i++)
		fprintf(out, "%s%d", i ? ", " : "", pids->v[i]);
	if (pids->n > TEXT_PIDS)
		fprintf(out, " and %zu more", pids->n - TEXT_PIDS);
}

static void text_stack(struct summary *s, FILE *out, struct stack *st, const char *indent, bool sym)
{
	if (st->n == 0) {
		fprintf(out, "%s(no stack recorded)\n", indent);
		return;
	}
	for (uint32_t i = 0; i < st->n && i < TEXT_FRAMES; i++) {
		struct frame *f = st->f[i];
		symbolize_frame(s, f, sym);
		fprintf(out, "%s#%-2u ", indent, i);
		if (f->function && f->srcfile)
			fprintf(out, "%s at %s:%d", text_safe(f->function), text_safe(f->srcfile), f->line);
		else if (f->function)
			fprintf(out, "%s+0x%" PRIx64, text_safe(f->function), f->function_offset);
		else if (f->symbol)
			fprintf(out, "%s", text_safe(f->symbol));
		else
			fprintf(out, "??");
		if (f->module)
			fprintf(out, " (%s+0x%" PRIx64 ")\n", text_safe(f->module), f->offset);
		else
			fprintf(out, " (ip 0x%" PRIx64 ")\n", f->offset);
	}
	if (st->n > TEXT_FRAMES)
		fprintf(out, "%s... %u more frame(s)\n", indent, st->n - TEXT_FRAMES);
}

static const char *plural(unsigned long n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

static const char *verdict_words(const char *v)
{
	if (!v)
		return "unknown";
	if (strcmp(v, "truncated") == 0)
		return "the file was cut short: the faulting page lies past its current end";
	if (strcmp(v, "beyond_eof_at_map") == 0)
		return "the page already lay beyond the end of the file when the mapping was made";
	if (strcmp(v, "io_error") == 0)
		return "an I/O error: the faulting offset is inside the file (disk full on a sparse file, "
		       "a failed network filesystem, a media error)";
	return "unknown: the file's size could not be read";
}

/* "2026-11-25T10:05:02.503723Z" as seconds; false if it is not that. */
static bool iso_seconds(const char *t, double *out)
{
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	const char *rest = t ? strptime(t, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
	if (!rest)
		return false;
	*out = (double)timegm(&tm) + (*rest == '.' ? strtod(rest, NULL) : 0.0);
	return true;
}

/* ", X s before the fault" when both times are known. */
static void text_before_fault(FILE *out, const char *cut_time, const char *fault_time)
{
	double tc, tf;
	if (iso_seconds(cut_time, &tc) && iso_seconds(fault_time, &tf) && tf >= tc)
		fprintf(out, ", %.6f s before the fault", tf - tc);
}

static void text_own_cut(struct summary *s, FILE *out, const struct fault_group *g, bool sym)
{
	if (g->cut_pid != g->fault_pid)
		fprintf(out, "      cut earlier by process %" PRId64 " (a vfork child of the faulting one): ",
			g->cut_pid);
	else
		fprintf(out, "      cut earlier by this process: ");
	fprintf(out, "%s() %" PRIu64 " -> %" PRIu64 " bytes by thread %" PRId64 " \"%s\"",
		g->cut_call ? text_safe(g->cut_call) : "?", g->cut_before, g->cut_after, g->cut_tid,
		g->cut_thread_name ? text_safe(g->cut_thread_name) : "");
	text_before_fault(out, g->cut_time, g->fault_time);
	fprintf(out, ":\n");
	text_stack(s, out, g->cut_stack, "        ", sym);
}

/* The cut of another process: a guarded one with its thread and stack, else its command line. */
static void text_cut_by(struct summary *s, FILE *out, const struct fault_group *g, bool sym)
{
	fprintf(out, "      cut by process %" PRId64 " \"%s\"%s: %s() %" PRIu64, g->by_pid,
		g->by_comm ? text_safe(g->by_comm) : "",
		g->by_lease ? " (it broke this process's lease)" : "",
		g->by_call && g->by_call[0] ? text_safe(g->by_call) : "a call", g->by_before);
	if (g->by_have_after)
		fprintf(out, " -> %" PRIu64, g->by_after);
	fprintf(out, " bytes");
	if (!g->by_lease)
		fprintf(out, " by thread %" PRId64 " \"%s\"", g->by_tid,
			g->by_thread_name ? text_safe(g->by_thread_name) : "");
	text_before_fault(out, g->by_time, g->fault_time);
	if (g->by_lease) {
		fprintf(out, "\n        command: %s\n", g->by_cmdline ? text_safe(g->by_cmdline) : "");
		return;
	}
	fprintf(out, ":\n");
	text_stack(s, out, g->by_stack, "        ", sym);
}

/* sigbus records, as the live text tells them: the verdict in words, the faulting stack, the cut. */
static void text_faults(struct summary *s, FILE *out, bool sym)
{
	unsigned long n = 0;
	for (struct fault_group *g = s->fault_list; g; g = g->next)
		n += g->count;
	if (!n)
		return;
	fprintf(out, "\n== event sigbus: %lu %s\n", n, plural(n, "record", "records"));
	for (struct fault_group *g = s->fault_list; g; g = g->next) {
		fprintf(out, "\n  %lu x SIGBUS (%s) in a mapping of %s\n", g->count,
			g->code ? text_safe(g->code) : "?", g->path ? text_safe(g->path) : "?");
		fprintf(out, "      pids: ");
		text_pids(out, &g->pids);
		fprintf(out, "\n");
		if (g->first[0])
			fprintf(out, "      first: %s  last: %s\n", g->first, g->last);
		fprintf(out, "      verdict: %s\n", verdict_words(g->verdict));
		fprintf(out, "        (file offset %" PRIu64 ", ", g->fault_offset);
		if (g->have_size)
			fprintf(out, "file size now %" PRIu64, g->file_size);
		else
			fprintf(out, "file size unknown");
		fprintf(out, ", file %s)\n", g->file_status ? text_safe(g->file_status) : "unknown");
		fprintf(out, "      faulting thread %" PRId64 " \"%s\":\n", g->tid,
			g->thread_name ? text_safe(g->thread_name) : "");
		text_stack(s, out, g->stack, "        ", sym);
		if (g->map) {
			fprintf(out, "      mapping of %" PRIu64 " bytes at file offset %" PRIu64 " (%s, %s) made by "
				"thread %" PRId64 " \"%s\"", g->map_len, g->map_offset,
				g->map_prot ? text_safe(g->map_prot) : "?", g->map_shared ? "MAP_SHARED" : "MAP_PRIVATE",
				g->map_tid, g->map_thread_name ? text_safe(g->map_thread_name) : "");
			text_before_fault(out, g->map_time, g->fault_time);
			fprintf(out, ":\n");
			text_stack(s, out, g->map_stack, "        ", sym);
		}
		if (!g->cut && !g->by) {
			fprintf(out, "      no cut of this file by this process is known, nor one by another\n"
				"      process (a guarded one, or one that broke a lease of this one)\n");
			continue;
		}
		if (g->by && g->by_first)
			text_cut_by(s, out, g, sym);
		if (g->cut)
			text_own_cut(s, out, g, sym);
		if (g->by && !g->by_first)
			text_cut_by(s, out, g, sym);
	}
}

/* Other processes a site's cuts would hurt, a block per process as in the guard's own text. */
static void text_victims(struct summary *s, FILE *out, struct site *t, bool sym)
{
	if (!t->nvictims)
		return;
	fprintf(out, "      other processes the cut would hurt (%lu):\n", t->nvictims);
	for (struct victim *x = t->victims; x; x = x->next) {
		fprintf(out, "        pid %d \"%s\" (%s), %s, named by %lu %s:\n", x->pid,
			x->comm ? text_safe(x->comm) : "", x->exe && x->exe[0] ? text_safe(x->exe) : "?",
			x->guarded ? "guarded" : "not guarded", x->count, plural(x->count, "record", "records"));
		for (struct mapent *m = x->maps; m; m = m->next) {
			fprintf(out, "          0x%" PRIx64 "-0x%" PRIx64 ": %" PRIu64 " bytes at file offset %" PRIu64
				", %s, %s, %" PRIu64 " page(s) beyond EOF\n", m->addr, m->addr + m->length, m->length,
				m->offset, m->prot ? text_safe(m->prot) : "?", m->shared ? "MAP_SHARED" : "MAP_PRIVATE",
				m->pages_beyond_eof);
			if (!m->stack->n)
				continue;
			if (m->made_in_pid)
				fprintf(out, "            mapped in pid %" PRId64 ", inherited through fork, at:\n",
					m->made_in_pid);
			else
				fprintf(out, "            mapped at:\n");
			text_stack(s, out, m->stack, "              ", sym);
		}
	}
}

void summary_print_text(struct summary *s, FILE *out, bool sym)
{
	fprintf(out, "mmapguard report: %lu %s (%lu blocked) in %lu %s, at %lu call %s on %lu %s",
		s->violations, plural(s->violations, "violation", "violations"), s->blocked,
		(unsigned long)s->vpids.n, plural(s->vpids.n, "process", "processes"),
		s->nsites, plural(s->nsites, "site", "sites"), s->nfiles, plural(s->nfiles, "file", "files"));
	if (s->other) {
		char ev[512];
		summary_other_events(s, ev, sizeof ev);
		fprintf(out, "; other events: %s", ev);
	}
	fprintf(out, "\n");
	if (s->malformed) {
		fprintf(out, "note: %lu malformed %s skipped (", s->malformed,
			plural(s->malformed, "line", "lines"));
		for (size_t i = 0; i < s->nbad; i++)
			fprintf(out, "%s%s:%lu: %s", i ? "; " : "", text_safe(s->bad[i].file), s->bad[i].line, s->bad[i].why);
		fprintf(out, "%s)\n", s->malformed > s->nbad ? "; ..." : "");
	}

	struct filegrp **files = sorted_files(s);
	unsigned long siteno = 0;
	for (unsigned long fi = 0; fi < s->nfiles; fi++) {
		struct filegrp *f = files[fi];
		fprintf(out, "\n== %s: %lu %s (%lu blocked) in %zu %s\n", text_safe(f->path), f->count,
			plural(f->count, "violation", "violations"), f->blocked,
			(ivec_sort_unique(&f->pids), f->pids.n), plural(f->pids.n, "process", "processes"));
		struct site **sites = sorted_sites(f);
		for (unsigned long ti = 0; ti < f->nsites; ti++) {
			struct site *t = sites[ti];
			fprintf(out, "\n  [%lu] %s by %s(%s): %lu %s (", ++siteno, text_safe(t->event),
				t->call ? text_safe(t->call) : "?", t->flags ? text_safe(t->flags) : "", t->count,
				plural(t->count, "time", "times"));
			if (t->logged)
				fprintf(out, "%lu logged", t->logged);
			if (t->blocked) {
				fprintf(out, "%s%lu blocked with", t->logged ? ", " : "", t->blocked);
				for (size_t i = 0; i < 4 && t->errno_names[i]; i++)
					fprintf(out, "%s%s", i ? "/" : " ", text_safe(t->errno_names[i]));
			}
			fprintf(out, ")\n      pids: ");
			text_pids(out, &t->pids);
			fprintf(out, "\n");
			if (t->first[0])
				fprintf(out, "      first: %s  last: %s\n", t->first, t->last);
			if (t->has_sizes)
				fprintf(out, "      size: %" PRIu64 " -> %" PRIu64 " bytes%s\n", t->size_before,
					t->size_after, t->sizes_vary ? " (first seen; sizes vary)" : "");
			fprintf(out, "      call site:\n");
			text_stack(s, out, t->stack, "        ", sym);
			if (t->nmaps || !t->nvictims)
				fprintf(out, "      %s (%lu distinct):\n",
					t->event == s->ev_reopen ? "live mappings" : "endangered mappings", t->nmaps);
			for (struct mapent *m = t->maps; m; m = m->next) {
				fprintf(out, "        %lu x %" PRIu64 " bytes at file offset %" PRIu64 ", %s, %s",
					m->count, m->length, m->offset, m->prot ? text_safe(m->prot) : "?",
					m->shared ? "MAP_SHARED" : "MAP_PRIVATE");
				if (t->event != s->ev_reopen)
					fprintf(out, ", %" PRIu64 " page(s) beyond EOF", m->pages_beyond_eof);
				if (m->path && m->path != f->path)
					fprintf(out, ", %s", text_safe(m->path));
				if (m->made_in_pid)
					fprintf(out, "\n          mapped in pid %" PRId64 ", inherited through fork, at:\n",
						m->made_in_pid);
				else
					fprintf(out, "\n          mapped at:\n");
				text_stack(s, out, m->stack, "            ", sym);
			}
			if (t->records_cut)
				fprintf(out, "        (%lu record(s) listed only some of their mappings; up to %" PRIu64
					" were endangered at once)\n", t->records_cut, t->mappings_total_max);
			text_victims(s, out, t, sym);
		}
		free(sites);
	}
	free(files);

	size_t nothers;
	struct other **others = sorted_others(s, &nothers);
	const char *cur = NULL;
	for (size_t i = 0; i < nothers; i++) {
		struct other *o = others[i];
		if (o->event == s->ev_sigbus)
			continue;               /* text_faults() tells them */
		if (o->event != cur) {
			unsigned long n = 0;
			for (size_t j = i; j < nothers && others[j]->event == o->event; j++)
				n += others[j]->count;
			fprintf(out, "\n== event %s: %lu %s\n", text_safe(o->event), n, plural(n, "record", "records"));
			cur = o->event;
		}
		fprintf(out, "\n  %lu x %s", o->count, text_safe(o->event));
		if (o->call)
			fprintf(out, " in %s", text_safe(o->call));
		if (o->path)
			fprintf(out, " on %s", text_safe(o->path));
		fprintf(out, "\n      pids: ");
		text_pids(out, &o->pids);
		fprintf(out, "\n");
		if (o->first[0])
			fprintf(out, "      first: %s  last: %s\n", o->first, o->last);
		if (o->nfields) {
			fprintf(out, "      fields (first record):");
			for (size_t k = 0; k < o->nfields; k++)
				fprintf(out, "%s %s=%s", k ? "," : "", text_safe(o->fields[k].key), o->fields[k].text);
			fprintf(out, "\n");
		}
		if (o->stack->n) {
			fprintf(out, "      stack:\n");
			text_stack(s, out, o->stack, "        ", sym);
		}
		for (size_t k = 0; k < o->nmaps; k++) {
			const struct named_map *m = &o->maps[k];
			fprintf(out, "      mapping 0x%" PRIx64 "-0x%" PRIx64 " (%" PRIu64 " bytes at file offset %" PRIu64
				", %s, %s)%s", m->addr, m->addr + m->len, m->len, m->offset,
				m->prot ? text_safe(m->prot) : "?", m->shared ? "MAP_SHARED" : "MAP_PRIVATE",
				m->rescued ? " rescued" : "");
			if (!m->tid) {
				fprintf(out, "\n");
				continue;
			}
			fprintf(out, ", made by thread %" PRId64 " \"%s\":\n", m->tid,
				m->thread_name ? text_safe(m->thread_name) : "");
			text_stack(s, out, m->stack, "        ", sym);
		}
	}
	free(others);
	text_faults(s, out, sym);
}

/* ---- JSON output ---------------------------------------------------------------------------- */

static void json_pids(struct sbuf *b, struct ivec *pids)
{
	ivec_sort_unique(pids);
	sb_putc(b, '[');
	for (size_t i = 0; i < pids->n; i++)
		sb_printf(b, "%s%d", i ? "," : "", pids->v[i]);
	sb_putc(b, ']');
}

static void json_stack(struct summary *s, struct sbuf *b, struct stack *st, bool sym)
{
	sb_putc(b, '[');
	for (uint32_t i = 0; i < st->n; i++) {
		struct frame *f = st->f[i];
		symbolize_frame(s, f, sym);
		if (i)
			sb_putc(b, ',');
		sb_puts(b, "{\"module\":");
		sb_json_str(b, f->module);
		sb_printf(b, ",\"%s\":\"0x%" PRIx64 "\",\"symbol\":", f->module ? "module_offset" : "ip", f->offset);
		sb_json_str(b, f->symbol);
		sb_puts(b, ",\"function\":");
		sb_json_str(b, f->function);
		sb_puts(b, ",\"file\":");
		sb_json_str(b, f->srcfile);
		if (f->srcfile)
			sb_printf(b, ",\"line\":%d}", f->line);
		else
			sb_puts(b, ",\"line\":null}");
	}
	sb_putc(b, ']');
}

static void json_time(struct sbuf *b, const char *key, const char *t)
{
	sb_printf(b, ",\"%s\":", key);
	sb_json_str(b, t[0] ? t : NULL);
}

void summary_print_json(struct summary *s, FILE *out, bool sym)
{
	struct sbuf b = { 0 };
	sb_printf(&b, "{\"records\":%lu,\"violations\":%lu,\"blocked\":%lu,\"processes\":%zu,"
		   "\"violation_processes\":%zu,\"other_events\":%lu,\"malformed\":%lu,\"malformed_lines\":[",
		   s->records, s->violations, s->blocked, s->pids.n, s->vpids.n, s->other, s->malformed);
	for (size_t i = 0; i < s->nbad; i++) {
		sb_puts(&b, i ? ",{\"file\":" : "{\"file\":");
		sb_json_str(&b, s->bad[i].file);
		sb_printf(&b, ",\"line\":%lu,\"error\":", s->bad[i].line);
		sb_json_str(&b, s->bad[i].why);
		sb_putc(&b, '}');
	}
	sb_puts(&b, "],\"files\":[");
	struct filegrp **files = sorted_files(s);
	for (unsigned long fi = 0; fi < s->nfiles; fi++) {
		struct filegrp *f = files[fi];
		sb_puts(&b, fi ? ",{\"path\":" : "{\"path\":");
		sb_json_str(&b, f->path);
		sb_printf(&b, ",\"violations\":%lu,\"blocked\":%lu,\"pids\":", f->count, f->blocked);
		json_pids(&b, &f->pids);
		sb_puts(&b, ",\"call_sites\":[");
		struct site **sites = sorted_sites(f);
		for (unsigned long ti = 0; ti < f->nsites; ti++) {
			struct site *t = sites[ti];
			sb_puts(&b, ti ? ",{\"event\":" : "{\"event\":");
			sb_json_str(&b, t->event);
			sb_puts(&b, ",\"call\":");
			sb_json_str(&b, t->call);
			sb_puts(&b, ",\"flags\":");
			sb_json_str(&b, t->flags);
			sb_printf(&b, ",\"count\":%lu,\"logged\":%lu,\"blocked\":%lu,\"errno_names\":[",
				  t->count, t->logged, t->blocked);
			for (size_t i = 0; i < 4 && t->errno_names[i]; i++) {
				if (i)
					sb_putc(&b, ',');
				sb_json_str(&b, t->errno_names[i]);
			}
			sb_puts(&b, "],\"pids\":");
			json_pids(&b, &t->pids);
			json_time(&b, "first_time", t->first);
			json_time(&b, "last_time", t->last);
			if (t->has_sizes)
				sb_printf(&b, ",\"size_before\":%" PRIu64 ",\"size_after\":%" PRIu64 ",\"sizes_vary\":%s",
					  t->size_before, t->size_after, t->sizes_vary ? "true" : "false");
			sb_puts(&b, ",\"stack\":");
			json_stack(s, &b, t->stack, sym);
			sb_printf(&b, ",\"mappings_total_max\":%" PRIu64 ",\"mappings\":[", t->mappings_total_max);
			for (struct mapent *m = t->maps; m; m = m->next) {
				sb_printf(&b, "%s{\"count\":%lu,\"length\":%" PRIu64 ",\"offset\":%" PRIu64 ",\"prot\":",
					  m == t->maps ? "" : ",", m->count, m->length, m->offset);
				sb_json_str(&b, m->prot);
				sb_printf(&b, ",\"shared\":%s,\"pages_beyond_eof\":%" PRIu64 ",\"path\":",
					  m->shared ? "true" : "false", m->pages_beyond_eof);
				sb_json_str(&b, m->path);
				if (m->made_in_pid)
					sb_printf(&b, ",\"mapped_in_pid\":%" PRId64, m->made_in_pid);
				sb_puts(&b, ",\"creation_stack\":");
				json_stack(s, &b, m->stack, sym);
				sb_putc(&b, '}');
			}
			sb_puts(&b, "],\"victims\":[");
			for (struct victim *x = t->victims; x; x = x->next) {
				sb_printf(&b, "%s{\"pid\":%d,\"comm\":", x == t->victims ? "" : ",", x->pid);
				sb_json_str(&b, x->comm);
				sb_puts(&b, ",\"exe\":");
				sb_json_str(&b, x->exe);
				sb_printf(&b, ",\"guarded\":%s,\"count\":%lu,\"windows\":[", x->guarded ? "true" : "false",
					  x->count);
				for (struct mapent *m = x->maps; m; m = m->next) {
					sb_printf(&b, "%s{\"count\":%lu,\"addr\":\"0x%" PRIx64 "\",\"length\":%" PRIu64
						  ",\"offset\":%" PRIu64 ",\"prot\":", m == x->maps ? "" : ",", m->count,
						  m->addr, m->length, m->offset);
					sb_json_str(&b, m->prot);
					sb_printf(&b, ",\"shared\":%s,\"pages_beyond_eof\":%" PRIu64, m->shared ? "true" : "false",
						  m->pages_beyond_eof);
					if (m->made_in_pid)
						sb_printf(&b, ",\"mapped_in_pid\":%" PRId64, m->made_in_pid);
					sb_puts(&b, ",\"creation_stack\":");
					json_stack(s, &b, m->stack, sym);
					sb_putc(&b, '}');
				}
				sb_puts(&b, "]}");
			}
			sb_puts(&b, "]}");
			if (b.len > (1u << 20)) {
				fwrite(b.p, 1, b.len, out);
				sb_clear(&b);
			}
		}
		free(sites);
		sb_puts(&b, "]}");
	}
	free(files);
	sb_puts(&b, "],\"other\":[");
	size_t nothers;
	struct other **others = sorted_others(s, &nothers);
	for (size_t i = 0; i < nothers; i++) {
		struct other *o = others[i];
		sb_puts(&b, i ? ",{\"event\":" : "{\"event\":");
		sb_json_str(&b, o->event);
		sb_puts(&b, ",\"call\":");
		sb_json_str(&b, o->call);
		sb_puts(&b, ",\"path\":");
		sb_json_str(&b, o->path);
		sb_printf(&b, ",\"count\":%lu,\"pids\":", o->count);
		json_pids(&b, &o->pids);
		json_time(&b, "first_time", o->first);
		json_time(&b, "last_time", o->last);
		sb_puts(&b, ",\"fields\":{");
		for (size_t k = 0; k < o->nfields; k++) {
			if (k)
				sb_putc(&b, ',');
			sb_json_str(&b, o->fields[k].key);
			sb_putc(&b, ':');
			sb_puts(&b, o->fields[k].json);
		}
		sb_puts(&b, "},\"stack\":");
		json_stack(s, &b, o->stack, sym);
		sb_putc(&b, '}');
	}
	free(others);
	sb_puts(&b, "]}\n");
	fwrite(b.p, 1, b.len, out);
	sb_free(&b);
}

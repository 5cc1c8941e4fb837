/* The other processes a cut would hurt, in a truncate/reopen record: JSON fields and text blocks. */
#define _GNU_SOURCE
#include "record.h"
#include "config.h"
#include "procmaps.h"
#include "scan.h"

#include <string.h>

static const char *scan_state(const struct mg_victims *v)
{
	if (v->alone)
		return "lease";         /* a write lease proved nobody else has the file */
	return v->incomplete ? "incomplete" : "complete";
}

/*
 * Frames of another process, or of a cut recorded by one: module + offset were resolved there; the
 * function name comes from the module's ELF symbol table (raw system calls: also in the SIGBUS
 * handler). The formatter asks by address; the frames being formatted are this thread's.
 */
struct foreign_frames {
	uint32_t n;
	const uintptr_t *ip;            /* stride: bytes between two frames' fields */
	const uint64_t *offset;
	const char *(*module)(const void *ctx, uint32_t i);
	const void *ctx;
	size_t stride;
};

static MG_TLS const struct foreign_frames *cur;

static void foreign_sym(uintptr_t ip, bool exact, struct mg_sym *s)
{
	s->module[0] = s->symbol[0] = 0;
	s->module_offset = 0;
	const struct foreign_frames *f = cur;
	for (uint32_t i = 0; f && i < f->n; i++) {
		if (*(const uintptr_t *)((const char *)f->ip + i * f->stride) != ip)
			continue;
		uint64_t off = *(const uint64_t *)((const char *)f->offset + i * f->stride);
		const char *mod = f->module(f->ctx, i);
		s->module_offset = off;
		if (!mod)
			return;
		size_t n = strnlen(mod, sizeof s->module - 1);
		memcpy(s->module, mod, n);
		s->module[n] = 0;
		char name[128];
		uint64_t sym_off = 0;
		/* a return address: the call is the instruction before it */
		uint64_t at = exact || !off ? off : off - 1;
		if (mg_elf_symbol(mod, at, name, sizeof name, &sym_off)) {
			struct mg_buf b;
			mg_buf_init(&b, s->symbol, sizeof s->symbol);
			mg_buf_puts(&b, name);
			mg_buf_puts(&b, "+");
			mg_buf_hex(&b, sym_off + (at != off));
			s->symbol[b.len < sizeof s->symbol ? b.len : sizeof s->symbol - 1] = 0;
		}
		return;
	}
}

static const char *victim_module(const void *ctx, uint32_t i)
{
	const struct mg_victim *v = ctx;
	int m = v->frames[i].module;
	return m >= 0 && m < MG_VICTIM_MODULES ? v->modules[m] : NULL;
}

static const char *cut_module(const void *ctx, uint32_t i)
{
	const struct mg_ix_cut *c = ctx;
	uint32_t m = c->frames[i].module;
	return m < MG_IX_CUT_MODULES ? c->modules[m] : NULL;
}

/* The frames as a stack for the shared formatters, with cur set to resolve them. */
static void victim_stack(const struct mg_victim *v, struct mg_stack *st, struct foreign_frames *f)
{
	*f = (struct foreign_frames){ v->nframes, &v->frames[0].ip, &v->frames[0].module_offset,
				      victim_module, v, sizeof v->frames[0] };
	uint32_t n = v->nframes < MG_IX_FRAMES ? v->nframes : MG_IX_FRAMES;
	st->n = (uint16_t)n;
	st->pc_first = 0;
	for (uint32_t i = 0; i < n; i++)
		st->ip[i] = v->frames[i].ip;
	cur = f;
}

static void cut_stack(const struct mg_ix_cut *c, struct mg_stack *st, struct foreign_frames *f)
{
	*f = (struct foreign_frames){ c->nframes, (const uintptr_t *)&c->frames[0].ip,
				      &c->frames[0].module_offset, cut_module, c, sizeof c->frames[0] };
	uint32_t n = c->nframes < MG_IX_CUT_FRAMES ? c->nframes : MG_IX_CUT_FRAMES;
	st->n = (uint16_t)n;
	st->pc_first = 0;
	for (uint32_t i = 0; i < n; i++)
		st->ip[i] = (uintptr_t)c->frames[i].ip;
	cur = f;
}

void mg_json_victims(struct mg_buf *b, const struct mg_victims *vs)
{
	mg_json_str(b, "scope", vs->scope);
	mg_json_str(b, "scan", scan_state(vs));
	mg_json_key(b, "victims");
	mg_buf_putc(b, '[');
	for (size_t i = 0; i < vs->n; i++) {
		const struct mg_victim *v = &vs->v[i];
		if (i)
			mg_buf_putc(b, ',');
		mg_json_process(b, v->pid, v->comm, v->exe);
		mg_json_bool(b, "guarded", v->guarded);
		mg_json_key(b, "windows");
		mg_buf_putc(b, '[');
		for (size_t k = 0; k < v->nwindows; k++) {
			const struct mg_victim_window *w = &v->w[k];
			if (k)
				mg_buf_putc(b, ',');
			mg_json_range(b, w->start, w->end, w->offset, w->prot, w->shared);
			mg_json_u64(b, "pages_beyond_eof", w->pages_beyond);
			bool here = w->created_here && v->has_creation;
			if (here) {
				if (v->made_in_pid)
					mg_json_i64(b, "mapped_in_pid", v->made_in_pid);
				mg_json_i64(b, "tid", v->tid);
				mg_json_str(b, "thread_name", v->thread_name);
				mg_json_time(b, "time", &v->created);
			}
			if (here) {
				struct mg_stack st;
				struct foreign_frames ff;
				victim_stack(v, &st, &ff);
				mg_json_stack(b, "backtrace", &st, foreign_sym);
				cur = NULL;
			} else {
				mg_buf_puts(b, ",\"backtrace\":[]");
			}
			mg_buf_putc(b, '}');
		}
		mg_buf_putc(b, ']');
		mg_json_u64(b, "windows_total", v->nwindows_total);
		mg_buf_putc(b, '}');
	}
	mg_buf_putc(b, ']');
	mg_json_u64(b, "victims_total", vs->total);
}

void mg_text_victims(struct mg_buf *b, const struct mg_victims *vs)
{
	for (size_t i = 0; i < vs->n; i++) {
		const struct mg_victim *v = &vs->v[i];
		mg_buf_puts(b, "mmapguard:   other process ");
		mg_buf_i64(b, v->pid);
		mg_buf_puts(b, " \"");
		mg_buf_text(b, v->comm);
		mg_buf_puts(b, "\" (");
		mg_buf_text(b, v->exe[0] ? v->exe : "?");
		mg_buf_puts(b, v->guarded ? "), guarded, maps the file: " : "), not guarded, maps the file: ");
		mg_buf_u64(b, v->nwindows_total);
		mg_buf_puts(b, " mapping(s) cut\n");
		for (size_t k = 0; k < v->nwindows; k++) {
			const struct mg_victim_window *w = &v->w[k];
			mg_buf_puts(b, "mmapguard:     mapping ");
			mg_text_range(b, w->start, w->end, w->offset, w->prot, w->shared, true);
			mg_buf_puts(b, "): ");
			mg_buf_u64(b, w->pages_beyond);
			mg_buf_puts(b, " page(s) beyond the new end of file\n");
			if (!w->created_here || !v->has_creation)
				continue;
			struct mg_stack st;
			struct foreign_frames ff;
			victim_stack(v, &st, &ff);
			mg_buf_puts(b, "mmapguard:       mapped by thread ");
			mg_text_who(b, v->tid, v->thread_name, v->made_in_pid, &v->created);
			if (v->made_in_pid)
				mg_text_inherited(b, v->made_in_pid, v->pid, "        ");
			mg_text_stack(b, &st, foreign_sym, "        ");
			cur = NULL;
		}
		if (v->nwindows < v->nwindows_total) {
			mg_buf_puts(b, "mmapguard:     ... and ");
			mg_buf_u64(b, v->nwindows_total - v->nwindows);
			mg_buf_puts(b, " more mapping(s)\n");
		}
	}
	if (vs->n < vs->total) {
		mg_buf_puts(b, "mmapguard:   ... and ");
		mg_buf_u64(b, vs->total - vs->n);
		mg_buf_puts(b, " more process(es) map the file\n");
	}
	if (vs->incomplete) {
		mg_buf_puts(b, "mmapguard:   the scan of other processes is incomplete (time bound ");
		mg_buf_u64(b, (uint64_t)mg_cfg.scan_ms);
		mg_buf_puts(b, " ms, MMAPGUARD_SCAN_MS): more may map the file\n");
	}
}

/* ---- cut_by: who cut the file, from the shared index (a SIGBUS record) ----------------------- */

static void cut_time(const struct mg_ix_cut *c, struct timespec *ts)
{
	ts->tv_sec = c->time_sec;
	ts->tv_nsec = c->time_nsec >= 0 && c->time_nsec < 1000000000 ? c->time_nsec : 0;
}

void mg_json_cut_by(struct mg_buf *b, const struct mg_ix_cut *c)
{
	mg_json_key(b, "cut_by");
	struct timespec ts;
	cut_time(c, &ts);
	mg_buf_puts(b, "{\"pid\":");
	mg_buf_i64(b, c->pid);
	mg_json_str(b, "comm", c->comm);
	mg_json_i64(b, "tid", c->tid);
	mg_json_str(b, "thread_name", c->thread_name);
	mg_json_time(b, "time", &ts);
	mg_json_str(b, "call", c->call);
	mg_json_u64(b, "size_before", c->size_before);
	mg_json_u64(b, "size_after", c->size_after);
	struct mg_stack st;
	struct foreign_frames ff;
	cut_stack(c, &st, &ff);
	mg_json_stack(b, "backtrace", &st, foreign_sym);
	cur = NULL;
	mg_buf_puts(b, "}");
}

void mg_text_cut_by(struct mg_buf *b, const struct mg_ix_cut *c)
{
	struct timespec ts;
	cut_time(c, &ts);
	mg_buf_puts(b, "mmapguard:   cut by process ");
	mg_buf_i64(b, c->pid);
	mg_buf_puts(b, " \"");
	mg_buf_text(b, c->comm);
	mg_buf_puts(b, "\": ");
	mg_buf_text(b, c->call);
	mg_buf_puts(b, "() ");
	mg_text_sizes(b, c->size_before, true, c->size_after);
	mg_buf_puts(b, " by thread ");
	struct mg_stack st;
	struct foreign_frames ff;
	cut_stack(c, &st, &ff);
	mg_text_thread(b, c->tid, c->thread_name, 0, &ts, &st, foreign_sym, "      ");
	cur = NULL;
}

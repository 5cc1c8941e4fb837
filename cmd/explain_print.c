/* mmapguard explain: the explanation as text for a person, or as one JSON record. */
#define _GNU_SOURCE
#include "explain.h"
#include "util.h"

#include <elf.h>
#include <inttypes.h>
#include <signal.h>
#include <string.h>

#define OTHER_THREAD_FRAMES 2

const char *signal_name(int sig)
{
	static char buf[32];
	const char *abbrev = sigabbrev_np(sig);
	if (!abbrev) {
		snprintf(buf, sizeof buf, "signal %d", sig);
		return buf;
	}
	snprintf(buf, sizeof buf, "SIG%s", abbrev);
	return buf;
}

const char *si_code_name(int sig, int code)
{
	switch (code) {
	case SI_USER: return "SI_USER";
	case SI_KERNEL: return "SI_KERNEL";
	case SI_QUEUE: return "SI_QUEUE";
	case SI_TKILL: return "SI_TKILL";
	case SI_TIMER: return "SI_TIMER";
	case SI_MESGQ: return "SI_MESGQ";
	case SI_ASYNCIO: return "SI_ASYNCIO";
	}
	if (sig == SIGBUS)
		switch (code) {
		case BUS_ADRALN: return "BUS_ADRALN";
		case BUS_ADRERR: return "BUS_ADRERR";
		case BUS_OBJERR: return "BUS_OBJERR";
		case BUS_MCEERR_AR: return "BUS_MCEERR_AR";
		case BUS_MCEERR_AO: return "BUS_MCEERR_AO";
		}
	if (sig == SIGSEGV)
		switch (code) {
		case SEGV_MAPERR: return "SEGV_MAPERR";
		case SEGV_ACCERR: return "SEGV_ACCERR";
		}
	return "?";
}

static const char *bus_words(int code)
{
	switch (code) {
	case BUS_ADRERR: return "a page of a mapping with nothing behind it";
	case BUS_ADRALN: return "misaligned access";
	case BUS_OBJERR: return "hardware error on the object";
	case BUS_MCEERR_AR: case BUS_MCEERR_AO: return "memory failure (machine check)";
	default: return "fault";
	}
}

static void put_time(struct sbuf *b, int64_t sec, int64_t nsec)
{
	time_t t = (time_t)sec;
	struct tm tm;
	if (!gmtime_r(&t, &tm)) {
		sb_puts(b, "?");
		return;
	}
	char s[40];
	strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%S", &tm);
	sb_printf(b, "%s.%06ldZ", s, (long)((nsec >= 0 && nsec < 1000000000 ? nsec : 0) / 1000));
}

static const char *prot_words(const struct explain *x, char *buf)
{
	if (!x->load)
		return NULL;
	snprintf(buf, 4, "%c%c%c", x->load->flags & PF_R ? 'r' : '-', x->load->flags & PF_W ? 'w' : '-',
		 x->load->flags & PF_X ? 'x' : '-');
	return buf;
}

/* "PROT_READ|PROT_WRITE" as in the guard's records. */
static void put_prot_json(struct sbuf *b, const struct explain *x)
{
	if (!x->load) {
		sb_puts(b, "null");
		return;
	}
	static const struct { uint32_t f; const char *n; } bits[] = {
		{ PF_R, "PROT_READ" }, { PF_W, "PROT_WRITE" }, { PF_X, "PROT_EXEC" } };
	char s[64] = "";
	for (size_t i = 0; i < 3; i++)
		if (x->load->flags & bits[i].f) {
			if (s[0])
				strcat(s, "|");
			strcat(s, bits[i].n);
		}
	sb_json_str(b, s[0] ? s : "PROT_NONE");
}

static uint64_t pages_beyond(const struct explain *x)
{
	if (!x->have_size)
		return 0;
	uint64_t pg = x->page_size;
	uint64_t limit = (x->file_size + pg - 1) / pg * pg;
	if (limit < x->map->offset)
		limit = x->map->offset;
	uint64_t end = x->map->offset + (x->map->end - x->map->start);
	return limit < end ? (end - limit) / pg : 0;
}

static const char *remedy(const struct explain *x)
{
	if (strcmp(x->verdict, "truncated") == 0)
		return "The file was made shorter while this process had it mapped. Pages of a mapping "
		       "that lie past the end of its file have nothing behind them, and the next load or "
		       "store there raises SIGBUS: the program did nothing wrong at the faulting line. "
		       "Something truncated or rewrote the file in place (open with O_TRUNC, ftruncate, "
		       "truncate, a copy or a log rotation over it). To find who: run the service under "
		       "`mmapguard --log FILE PROGRAM` (or with libmmapguard.so preloaded): the next cut is "
		       "reported with the caller's stack, and `--mode block` refuses it; for writers "
		       "outside the process, a write lease (fcntl F_SETLEASE) on the file tells the "
		       "holder when another process opens it for writing, and auditd or fanotify name the "
		       "process. The fix is in the writer: write a new file and rename() it over the old "
		       "one; never shrink a file that others map.";
	if (strcmp(x->verdict, "io_error") == 0)
		return "The faulting offset lies inside the file, so the file was not cut. The kernel could "
		       "not provide the page: an I/O error while reading it, a full filesystem when a "
		       "store into a hole of a sparse file (or a tmpfs page) needed space, a failed "
		       "network filesystem, or a memory failure. Look at the kernel log (dmesg) around "
		       "the time of the crash and at the filesystem's free space; allocate a mapped "
		       "file's blocks up front (posix_fallocate) instead of leaving holes.";
	return "The file is gone or has been replaced, so its size at the crash cannot be judged now. "
	       "Most SIGBUS faults in file mappings are truncations of the mapped file: run the service "
	       "under `mmapguard --log FILE PROGRAM` so that the next one is reported with the stack "
	       "of the call that cut the file, and replace such files by rename() instead of "
	       "rewriting them in place.";
}

/* ---- text ----------------------------------------------------------------------------------- */

static void text_frame(FILE *out, const char *indent, unsigned i, const struct xframe *f)
{
	fprintf(out, "%s#%-2u 0x%016" PRIx64 " ", indent, i, f->pc);
	fprintf(out, "%s", f->function ? text_safe(f->function) : "??");
	if (f->file)
		fprintf(out, " at %s:%d", text_safe(f->file), f->line);
	if (f->module) {
		const char *base = strrchr(f->module, '/');
		fprintf(out, " (%s+0x%" PRIx64 ")", text_safe(base ? base + 1 : f->module), f->module_offset);
	}
	fputc('\n', out);
}

static void text_cut(FILE *out, const struct explain *x, const struct xcut *c)
{
	struct sbuf t = { 0 };
	put_time(&t, c->sec, c->nsec);
	fprintf(out, "    %s %s() %" PRIu64 " -> %" PRIu64 " bytes, file %" PRIu64 ":%" PRIu64 "%s, "
		"thread %d (%s)\n", t.p, text_safe(c->call), c->size_before, c->size_after, c->dev,
		c->ino, c == x->cut ? " (the faulting file)" : "", c->tid, text_safe(c->thread_name));
	sb_free(&t);
	for (unsigned k = 0; k < c->nstack && k < 8; k++) {
		struct xframe f;
		xstacks_symbolize(&x->stacks, c->ip[k], true, &f);
		text_frame(out, "      ", k, &f);
		xframe_free(&f);
	}
}

static void text_guard(FILE *out, const struct explain *x)
{
	const struct xguard *g = &x->guard;
	if (!g->loaded) {
		fprintf(out, "guard:          not loaded in this process (no mmapguard_state in the core)\n");
		return;
	}
	if (!g->found) {
		fprintf(out, "guard:          loaded (%s); its history: %s\n",
			g->module ? text_safe(g->module) : "?", g->problem ? g->problem : "not read");
		return;
	}
	fprintf(out, "guard:          loaded (%s, found by its %s); %zu earlier cut(s) by this process%s\n",
		g->module ? text_safe(g->module) : "state", g->how, g->ncuts,
		g->ncuts ? ", oldest first:" : "");
	for (size_t i = 0; i < g->ncuts; i++)
		text_cut(out, x, &g->cuts[i]);
	if (g->writing)
		fprintf(out, "    (%u cut(s) were being recorded at the crash)\n", g->writing);
}

/* Words wrapped at 96 columns, indented by two. */
static void text_paragraph(FILE *out, const char *s)
{
	size_t col = 0;
	while (*s) {
		while (*s == ' ')
			s++;
		size_t w = strcspn(s, " ");
		if (!w)
			break;
		if (col && col + 1 + w > 96) {
			fputc('\n', out);
			col = 0;
		}
		if (!col) {
			fputs("  ", out);
			col = 2;
		} else {
			fputc(' ', out);
			col++;
		}
		fprintf(out, "%.*s", (int)w, s);
		col += w;
		s += w;
	}
	fputc('\n', out);
}

void explain_print_text(const struct explain *x, FILE *out)
{
	const struct core_info *ci = &x->ci;
	fprintf(out, "mmapguard explain: %s\n", text_safe(x->core_path));
	if (ci->have_psinfo)
		fprintf(out, "process:        pid %d, %s (%s)\n", ci->pid, text_safe(ci->fname),
			text_safe(ci->psargs));
	fprintf(out, "signal:         SIGBUS, %s (%s)\n", si_code_name(SIGBUS, x->code), bus_words(x->code));
	fprintf(out, "fault address:  0x%" PRIx64 "\n", x->addr);
	char pb[4];
	const char *prot = prot_words(x, pb);
	fprintf(out, "mapping:        0x%" PRIx64 "-0x%" PRIx64 " of %s, file offset %" PRIu64 " (%s%s, "
		"shared or private: not recorded in a core)\n", x->map->start, x->map->end,
		text_safe(x->map->path), x->map->offset, prot ? "prot " : "prot not in the core",
		prot ? prot : "");
	fprintf(out, "fault offset:   %" PRIu64 " in the file (page %" PRIu64 ")\n", x->fault_offset,
		x->fault_offset / x->page_size);
	fprintf(out, "file now:       %s", x->file_detail);
	if (x->have_size)
		fprintf(out, ", %" PRIu64 " bytes", x->file_size);
	if (x->have_id)
		fprintf(out, ", file %" PRIu64 ":%" PRIu64, x->dev, x->ino);
	if (strcmp(x->identity, "matches") == 0)
		fprintf(out, " (the file the process itself cut: same identity)");
	else if (strcmp(x->identity, "not_judged") == 0 && x->have_id)
		fprintf(out, " (whether it is the file that was mapped cannot be judged from the core)");
	fputc('\n', out);
	fprintf(out, "verdict:        %s: ", x->verdict);
	if (strcmp(x->verdict, "truncated") == 0)
		fprintf(out, "the fault lies at or past the end-of-file page (file offset %" PRIu64
			" >= %" PRIu64 ", the size now rounded up to a page)\n", x->fault_offset,
			(x->file_size + x->page_size - 1) / x->page_size * x->page_size);
	else if (strcmp(x->verdict, "io_error") == 0)
		fprintf(out, "the fault lies inside the file (offset %" PRIu64 " < size %" PRIu64 ")\n",
			x->fault_offset, x->file_size);
	else
		fprintf(out, "the file is gone or replaced\n");

	const struct xthread *ft = xstacks_thread(&x->stacks, x->th->tid);
	fprintf(out, "faulting thread %d:\n", x->th->tid);
	if (ft && ft->nframes) {
		for (unsigned i = 0; i < ft->nframes; i++)
			text_frame(out, "  ", i, &ft->frames[i]);
	} else {
		fprintf(out, "  (no stack: %s)\n", ft && ft->error ? ft->error
			: x->stacks.error ? x->stacks.error : "not unwound");
	}
	bool header = false;
	for (unsigned i = 0; i < x->stacks.nthreads; i++) {
		const struct xthread *t = &x->stacks.threads[i];
		if (t->tid == x->th->tid)
			continue;
		if (!header) {
			fprintf(out, "other threads:\n");
			header = true;
		}
		fprintf(out, "  thread %d\n", t->tid);
		for (unsigned j = 0; j < t->nframes && j < OTHER_THREAD_FRAMES; j++)
			text_frame(out, "    ", j, &t->frames[j]);
	}
	text_guard(out, x);
	fprintf(out, "what to do:\n");
	if (x->cut)
		fprintf(out, "  This process itself cut the file: %s() from %" PRIu64 " to %" PRIu64
			" bytes, by thread %d (the guard's record above, with its stack).\n",
			text_safe(x->cut->call), x->cut->size_before, x->cut->size_after, x->cut->tid);
	text_paragraph(out, remedy(x));
	if (ci->bytes_missing)
		fprintf(out, "note: the core is cut short (%" PRIu64 " bytes of memory missing)\n",
			ci->bytes_missing);
}

/* ---- JSON ----------------------------------------------------------------------------------- */

static void json_frame(struct sbuf *b, const struct xframe *f)
{
	sb_printf(b, "{\"ip\":\"0x%" PRIx64 "\",\"module\":", f->pc);
	sb_json_str(b, f->module);
	sb_printf(b, ",\"module_offset\":\"0x%" PRIx64 "\",\"symbol\":", f->module_offset);
	if (f->function) {
		char s[512];
		snprintf(s, sizeof s, "%s+0x%" PRIx64, f->function, f->function_offset);
		sb_json_str(b, s);
	} else {
		sb_puts(b, "null");
	}
	sb_puts(b, ",\"function\":");
	sb_json_str(b, f->function);
	sb_puts(b, ",\"file\":");
	sb_json_str(b, f->file);
	if (f->file)
		sb_printf(b, ",\"line\":%d}", f->line);
	else
		sb_puts(b, ",\"line\":null}");
}

static void json_stack(struct sbuf *b, const struct xthread *t, unsigned max)
{
	sb_putc(b, '[');
	for (unsigned i = 0; t && i < t->nframes && i < max; i++) {
		if (i)
			sb_putc(b, ',');
		json_frame(b, &t->frames[i]);
	}
	sb_putc(b, ']');
}

static void json_cut(struct sbuf *b, const struct explain *x, const struct xcut *c, bool with_file)
{
	sb_puts(b, "{\"call\":");
	sb_json_str(b, c->call);
	sb_puts(b, ",\"time\":\"");
	put_time(b, c->sec, c->nsec);
	sb_printf(b, "\",\"tid\":%d,\"thread_name\":", c->tid);
	sb_json_str(b, c->thread_name);
	sb_printf(b, ",\"size_before\":%" PRIu64 ",\"size_after\":%" PRIu64, c->size_before,
		  c->size_after);
	if (with_file)
		sb_printf(b, ",\"dev\":%" PRIu64 ",\"ino\":%" PRIu64, c->dev, c->ino);
	sb_puts(b, ",\"backtrace\":[");
	for (unsigned k = 0; k < c->nstack; k++) {
		struct xframe f;
		xstacks_symbolize(&x->stacks, c->ip[k], true, &f);
		if (k)
			sb_putc(b, ',');
		json_frame(b, &f);
		xframe_free(&f);
	}
	sb_puts(b, "]}");
}

void explain_print_json(const struct explain *x, FILE *out)
{
	struct sbuf b = { 0 };
	const struct core_info *ci = &x->ci;
	sb_puts(&b, "{\"event\":\"sigbus\",\"action\":\"explained\",\"core\":");
	sb_json_str(&b, x->core_path);
	sb_printf(&b, ",\"fault_addr\":\"0x%" PRIx64 "\",\"si_code\":%d,\"si_code_name\":", x->addr, x->code);
	sb_json_str(&b, si_code_name(SIGBUS, x->code));
	sb_puts(&b, ",\"path\":");
	sb_json_str(&b, x->path);
	sb_puts(&b, ",\"file_status\":");
	sb_json_str(&b, x->file_status);
	sb_puts(&b, ",\"file_detail\":");
	sb_json_str(&b, x->file_detail);
	sb_puts(&b, ",\"identity\":");
	sb_json_str(&b, x->identity);
	if (x->have_id)
		sb_printf(&b, ",\"dev\":%" PRIu64 ",\"ino\":%" PRIu64, x->dev, x->ino);
	else
		sb_puts(&b, ",\"dev\":null,\"ino\":null");
	sb_printf(&b, ",\"fault_offset\":%" PRIu64 ",\"file_size\":", x->fault_offset);
	if (x->have_size)
		sb_printf(&b, "%" PRIu64, x->file_size);
	else
		sb_puts(&b, "null");
	/* Not in a core: the file's size when it was mapped, the guard's registry. */
	sb_puts(&b, ",\"size_at_map\":null,\"verdict\":");
	sb_json_str(&b, x->verdict);
	sb_puts(&b, ",\"registry\":null");
	sb_printf(&b, ",\"pid\":%d,\"tid\":%d,\"thread_name\":", ci->pid ? ci->pid : x->th->tid, x->th->tid);
	sb_json_str(&b, ci->have_psinfo ? ci->fname : NULL);
	sb_puts(&b, ",\"time\":null");
	sb_printf(&b, ",\"page_size\":%" PRIu64 ",\"backtrace\":", x->page_size);
	const struct xthread *ft = xstacks_thread(&x->stacks, x->th->tid);
	json_stack(&b, ft, ~0u);
	sb_printf(&b, ",\"mappings\":[{\"addr\":\"0x%" PRIx64 "\",\"length\":%" PRIu64 ",\"offset\":%" PRIu64
		  ",\"prot\":", x->map->start, x->map->end - x->map->start, x->map->offset);
	put_prot_json(&b, x);
	sb_printf(&b, ",\"shared\":null,\"pages_beyond_eof\":%" PRIu64 ",\"pages_beyond_eof_total\":%" PRIu64
		  ",\"path\":", pages_beyond(x), pages_beyond(x));
	sb_json_str(&b, x->path);
	sb_puts(&b, ",\"tid\":null,\"thread_name\":null,\"time\":null,\"backtrace\":[]}],\"mappings_total\":1");
	sb_puts(&b, ",\"truncation\":");
	if (x->cut)
		json_cut(&b, x, x->cut, false);
	else
		sb_puts(&b, "null");
	sb_puts(&b, ",\"note\":");
	sb_json_str(&b, remedy(x));
	sb_puts(&b, ",\"threads\":[");
	bool first = true;
	for (unsigned i = 0; i < x->stacks.nthreads; i++) {
		const struct xthread *t = &x->stacks.threads[i];
		if (t->tid == x->th->tid)
			continue;
		sb_printf(&b, "%s{\"tid\":%d,\"backtrace\":", first ? "" : ",", t->tid);
		json_stack(&b, t, OTHER_THREAD_FRAMES);
		sb_putc(&b, '}');
		first = false;
	}
	const struct xguard *g = &x->guard;
	sb_printf(&b, "],\"guard\":{\"loaded\":%s,\"found\":%s,\"module\":", g->loaded ? "true" : "false",
		  g->found ? "true" : "false");
	sb_json_str(&b, g->module);
	sb_puts(&b, ",\"found_by\":");
	sb_json_str(&b, g->how);
	sb_puts(&b, ",\"problem\":");
	sb_json_str(&b, g->problem);
	sb_puts(&b, ",\"cuts\":[");
	for (size_t i = 0; i < g->ncuts; i++) {
		if (i)
			sb_putc(&b, ',');
		json_cut(&b, x, &g->cuts[i], true);
	}
	sb_printf(&b, "]},\"core_bytes_missing\":%" PRIu64 "}\n", ci->bytes_missing);
	fwrite(b.p, 1, b.len, out);
	sb_free(&b);
}

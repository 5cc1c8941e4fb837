#define _GNU_SOURCE
#include "explain_stack.h"
#include "util.h"

#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *debuginfo_path;            /* NULL: the default search path */
static const Dwfl_Callbacks callbacks = {
	.find_elf = dwfl_build_id_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
	.debuginfo_path = &debuginfo_path,
};

struct walk {
	struct xstacks *s;
	struct xthread *t;
	unsigned max;
};

static int on_frame(Dwfl_Frame *frame, void *arg)
{
	struct walk *w = arg;
	Dwarf_Addr pc;
	bool activation = false;
	if (!dwfl_frame_pc(frame, &pc, &activation))
		return DWARF_CB_ABORT;
	struct xthread *t = w->t;
	t->frames = xrealloc(t->frames, (t->nframes + 1) * sizeof *t->frames);
	struct xframe *f = &t->frames[t->nframes++];
	memset(f, 0, sizeof *f);
	f->pc = pc;
	f->activation = activation;
	return t->nframes >= w->max ? DWARF_CB_ABORT : DWARF_CB_OK;
}

static int on_thread(Dwfl_Thread *thread, void *arg)
{
	struct walk *w = arg;
	struct xstacks *s = w->s;
	s->threads = xrealloc(s->threads, (s->nthreads + 1) * sizeof *s->threads);
	struct xthread *t = &s->threads[s->nthreads++];
	memset(t, 0, sizeof *t);
	t->tid = dwfl_thread_tid(thread);
	w->t = t;
	/* Unwinding ends with an error at the outermost frame as often as not: keep it only when
	 * nothing was found. */
	if (dwfl_thread_getframes(thread, on_frame, w) != 0 && t->nframes == 0)
		t->error = xstrdup(dwfl_errmsg(-1));
	return DWARF_CB_OK;
}

void xstacks_symbolize(const struct xstacks *s, uint64_t pc, bool return_address, struct xframe *f)
{
	memset(f, 0, sizeof *f);
	f->pc = pc;
	f->activation = !return_address;
	Dwfl *dwfl = s->dwfl;
	if (!dwfl)
		return;
	/* A return address points after the call: its line is the call's (pc - 1). */
	Dwarf_Addr at = return_address && pc ? pc - 1 : pc;
	Dwfl_Module *mod = dwfl_addrmodule(dwfl, at);
	if (!mod)
		return;
	Dwarf_Addr low = 0;
	const char *name = dwfl_module_info(mod, NULL, &low, NULL, NULL, NULL, NULL, NULL);
	f->module = name;
	f->module_offset = pc - low;
	GElf_Off off = 0;
	GElf_Sym sym;
	const char *fn = dwfl_module_addrinfo(mod, at, &off, &sym, NULL, NULL, NULL);
	if (fn) {
		f->function = xstrdup(fn);
		f->function[strcspn(fn, "@")] = 0;      /* "memcpy@@GLIBC_2.14": the version is noise */
		f->function_offset = off + (at != pc ? 1 : 0);
	}
	Dwfl_Line *line = dwfl_module_getsrc(mod, at);
	if (line) {
		int lineno = 0;
		const char *file = dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL);
		if (file && lineno > 0) {
			f->file = xstrdup(file);
			f->line = lineno;
		}
	}
}

void xstacks_read(struct xstacks *s, const char *core_path, const char *exe, unsigned max_frames)
{
	memset(s, 0, sizeof *s);
	elf_version(EV_CURRENT);
	int fd = open(core_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		s->error = xstrdup("cannot open the core");
		return;
	}
	Elf *core = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	Dwfl *dwfl = core ? dwfl_begin(&callbacks) : NULL;
	if (!dwfl) {
		s->error = xstrdup(core ? dwfl_errmsg(-1) : elf_errmsg(-1));
		goto out;
	}
	if (dwfl_core_file_report(dwfl, core, exe) < 0 || dwfl_report_end(dwfl, NULL, NULL) != 0) {
		s->error = xstrdup(dwfl_errmsg(-1));
		dwfl_end(dwfl);
		goto out;
	}
	s->dwfl = dwfl;
	if (dwfl_core_file_attach(dwfl, core) < 0) {
		s->error = xstrdup(dwfl_errmsg(-1));
		goto keep;
	}
	struct walk w = { s, NULL, max_frames };
	dwfl_getthreads(dwfl, on_thread, &w);
	for (unsigned i = 0; i < s->nthreads; i++) {
		struct xthread *t = &s->threads[i];
		for (unsigned j = 0; j < t->nframes; j++)
			xstacks_symbolize(s, t->frames[j].pc, !t->frames[j].activation, &t->frames[j]);
	}
keep:
	/* The Elf and its descriptor stay open while the Dwfl reads the core's memory. */
	return;
out:
	if (core)
		elf_end(core);
	close(fd);
}

const struct xthread *xstacks_thread(const struct xstacks *s, int tid)
{
	for (unsigned i = 0; i < s->nthreads; i++)
		if (s->threads[i].tid == tid)
			return &s->threads[i];
	return NULL;
}

struct symfind {
	const char *name;
	void (*fn)(uint64_t, uint64_t, const char *, void *);
	void *arg;
};

static int on_module(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr low,
		     void *arg)
{
	(void)userdata;
	(void)low;
	struct symfind *q = arg;
	int n = dwfl_module_getsymtab(mod);
	for (int i = 1; i < n; i++) {
		GElf_Sym sym;
		GElf_Addr addr;
		const char *name = dwfl_module_getsym_info(mod, i, &sym, &addr, NULL, NULL, NULL);
		if (name && GELF_ST_TYPE(sym.st_info) == STT_OBJECT && sym.st_shndx != SHN_UNDEF &&
		    strcmp(name, q->name) == 0) {
			q->fn(addr, sym.st_size, modname, q->arg);
			break;
		}
	}
	return DWARF_CB_OK;
}

void xstacks_find_symbol(const struct xstacks *s, const char *name,
			 void (*fn)(uint64_t, uint64_t, const char *, void *), void *arg)
{
	if (!s->dwfl)
		return;
	struct symfind q = { name, fn, arg };
	dwfl_getmodules(s->dwfl, on_module, &q, 0);
}

void xframe_free(struct xframe *f)
{
	free(f->function);
	free(f->file);
	f->function = f->file = NULL;
}

void xstacks_free(struct xstacks *s)
{
	for (unsigned i = 0; i < s->nthreads; i++) {
		for (unsigned j = 0; j < s->threads[i].nframes; j++)
			xframe_free(&s->threads[i].frames[j]);
		free(s->threads[i].frames);
		free(s->threads[i].error);
	}
	free(s->threads);
	free(s->error);
	if (s->dwfl)
		dwfl_end(s->dwfl);
	memset(s, 0, sizeof *s);
}

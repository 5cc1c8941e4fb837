#define _GNU_SOURCE
#include "symbolize.h"
#include "util.h"

#include <elfutils/libdwfl.h>
#include <gelf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct module {
	struct module *next;
	char *path;
	Dwfl *dwfl;                     /* NULL: unreadable */
	Dwfl_Module *mod;
	GElf_Addr base;                 /* Dwfl address of the module's first loaded page */
};

struct symbolizer {
	struct module *modules;
	char *debuginfo_path;
	Dwfl_Callbacks callbacks;
};

struct symbolizer *symbolizer_new(void)
{
	struct symbolizer *s = xcalloc(1, sizeof *s);
	s->callbacks.find_elf = dwfl_build_id_find_elf;
	s->callbacks.find_debuginfo = dwfl_standard_find_debuginfo;
	s->callbacks.section_address = dwfl_offline_section_address;
	s->callbacks.debuginfo_path = &s->debuginfo_path;       /* NULL: the default search path */
	return s;
}

void symbolizer_free(struct symbolizer *s)
{
	if (!s)
		return;
	struct module *m = s->modules;
	while (m) {
		struct module *next = m->next;
		if (m->dwfl)
			dwfl_end(m->dwfl);
		free(m->path);
		free(m);
		m = next;
	}
	free(s);
}

/* The lowest PT_LOAD address, page aligned: where dladdr's dli_fbase points in the process. */
static bool first_load(Elf *elf, GElf_Addr *out)
{
	size_t phnum;
	if (elf_getphdrnum(elf, &phnum) != 0)
		return false;
	long pg = sysconf(_SC_PAGESIZE);
	GElf_Addr mask = ~(GElf_Addr)((pg > 0 ? pg : 4096) - 1);
	bool found = false;
	GElf_Addr lo = 0;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr mem, *ph = gelf_getphdr(elf, (int)i, &mem);
		if (ph && ph->p_type == PT_LOAD && (!found || (ph->p_vaddr & mask) < lo)) {
			lo = ph->p_vaddr & mask;
			found = true;
		}
	}
	*out = lo;
	return found;
}

static struct module *open_module(struct symbolizer *s, const char *path)
{
	for (struct module *m = s->modules; m; m = m->next)
		if (strcmp(m->path, path) == 0)
			return m;
	struct module *m = xcalloc(1, sizeof *m);
	m->path = xstrdup(path);
	m->next = s->modules;
	s->modules = m;
	if (!path[0] || access(path, R_OK) != 0)
		return m;
	Dwfl *d = dwfl_begin(&s->callbacks);
	if (!d)
		return m;
	dwfl_report_begin(d);
	Dwfl_Module *mod = dwfl_report_elf(d, path, path, -1, 0, false);
	dwfl_report_end(d, NULL, NULL);
	if (!mod) {
		dwfl_end(d);
		return m;
	}
	GElf_Addr bias = 0;
	Elf *elf = dwfl_module_getelf(mod, &bias);
	GElf_Addr lo = 0;
	if (!elf || !first_load(elf, &lo)) {
		dwfl_end(d);
		return m;
	}
	m->dwfl = d;
	m->mod = mod;
	m->base = lo + bias;
	return m;
}

bool symbolize(struct symbolizer *s, const char *module, uint64_t offset, bool return_address,
	       struct sym_result *out)
{
	out->function[0] = 0;
	out->function_offset = 0;
	out->file[0] = 0;
	out->line = 0;
	if (!module)
		return false;
	struct module *m = open_module(s, module);
	if (!m->dwfl)
		return false;
	GElf_Addr addr = m->base + offset;
	GElf_Addr lookup = return_address && addr > m->base ? addr - 1 : addr;

	GElf_Off off = 0;
	GElf_Sym sym;
	const char *name = dwfl_module_addrinfo(m->mod, lookup, &off, &sym, NULL, NULL, NULL);
	if (name) {
		/* "__libc_start_main@@GLIBC_2.34": the version is noise here. */
		size_t n = strcspn(name, "@");
		snprintf(out->function, sizeof out->function, "%.*s", (int)n, name);
		out->function_offset = off + (lookup != addr ? 1 : 0);
	}
	Dwfl_Line *line = dwfl_module_getsrc(m->mod, lookup);
	if (line) {
		int lineno = 0;
		const char *file = dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL);
		if (file && lineno > 0) {
			snprintf(out->file, sizeof out->file, "%s", file);
			out->line = lineno;
		}
	}
	return true;
}

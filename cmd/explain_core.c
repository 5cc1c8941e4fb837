#define _GNU_SOURCE
#include "explain_core.h"

#include <elf.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/procfs.h>

#ifndef NT_FILE
#define NT_FILE 0x46494c45
#endif
#ifndef NT_SIGINFO
#define NT_SIGINFO 0x53494749
#endif

#if defined(__x86_64__)
#define HOST_MACHINE EM_X86_64
#elif defined(__aarch64__)
#define HOST_MACHINE EM_AARCH64
#elif defined(__i386__)
#define HOST_MACHINE EM_386
#else
#define HOST_MACHINE EM_NONE
#endif

/* The layout of a core's notes is the kernel's structures of the machine that wrote it. */
#define SI_SIGNO_OFF 0
#define SI_ERRNO_OFF 4
#define SI_CODE_OFF 8
#define SI_FIELDS_OFF 16                /* fault_addr, or sender_pid and sender_uid */

static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return code;
}

/* off + len <= size, without overflow. */
static bool in_range(uint64_t off, uint64_t len, uint64_t size)
{
	return off <= size && len <= size - off;
}

static uint32_t rd32(const unsigned char *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof v);
	return v;
}

static uint64_t rd64(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof v);
	return v;
}

static int rdint(const unsigned char *p)
{
	int32_t v;
	memcpy(&v, p, sizeof v);
	return v;
}

static void *grow(void *p, size_t n, size_t *cap, size_t size)
{
	if (n < *cap)
		return p;
	size_t c = *cap ? *cap * 2 : 8;
	void *q = realloc(p, c * size);
	if (!q)
		return NULL;
	*cap = c;
	return q;
}

static int parse_file_note(const unsigned char *d, uint64_t n, struct core_info *ci, char *err,
			   size_t errlen)
{
	if (ci->maps)
		return CORE_OK;                 /* one NT_FILE per process: keep the first */
	if (n < 16)
		return fail(err, errlen, CORE_CORRUPT, "NT_FILE note too short (%llu bytes)",
			    (unsigned long long)n);
	uint64_t count = rd64(d), page = rd64(d + 8);
	if (count > (n - 16) / 24)
		return fail(err, errlen, CORE_CORRUPT, "NT_FILE note counts %llu files in %llu bytes",
			    (unsigned long long)count, (unsigned long long)n);
	if (page == 0 || (page & (page - 1)) != 0 || page > (1u << 30))
		return fail(err, errlen, CORE_CORRUPT, "NT_FILE note has page size %llu",
			    (unsigned long long)page);
	struct core_map *maps = calloc(count ? count : 1, sizeof *maps);
	if (!maps)
		return fail(err, errlen, CORE_CORRUPT, "out of memory");
	const unsigned char *names = d + 16 + count * 24, *end = d + n;
	for (uint64_t i = 0; i < count; i++) {
		const unsigned char *e = d + 16 + i * 24;
		maps[i].start = rd64(e);
		maps[i].end = rd64(e + 8);
		uint64_t pgoff = rd64(e + 16);
		const unsigned char *nul = names < end ? memchr(names, 0, (size_t)(end - names)) : NULL;
		if (!nul || maps[i].end < maps[i].start || pgoff > UINT64_MAX / page) {
			free(maps);
			return fail(err, errlen, CORE_CORRUPT, "NT_FILE note entry %llu is damaged",
				    (unsigned long long)i);
		}
		maps[i].offset = pgoff * page;
		maps[i].path = (const char *)names;
		names = nul + 1;
	}
	ci->maps = maps;
	ci->nmaps = (size_t)count;
	return CORE_OK;
}

static int parse_note(uint32_t type, const unsigned char *d, uint64_t n, struct core_info *ci,
		      size_t *tcap, char *err, size_t errlen)
{
	switch (type) {
	case NT_PRSTATUS: {
		if (n < sizeof(struct elf_prstatus))
			return fail(err, errlen, CORE_CORRUPT, "NT_PRSTATUS note too short (%llu bytes)",
				    (unsigned long long)n);
		struct core_thread *t = grow(ci->threads, ci->nthreads, tcap, sizeof *t);
		if (!t)
			return fail(err, errlen, CORE_CORRUPT, "out of memory");
		ci->threads = t;
		t = &ci->threads[ci->nthreads++];
		memset(t, 0, sizeof *t);
		int16_t cursig;
		memcpy(&cursig, d + offsetof(struct elf_prstatus, pr_cursig), sizeof cursig);
		t->cursig = cursig;
		t->tid = rdint(d + offsetof(struct elf_prstatus, pr_pid));
		return CORE_OK;
	}
	case NT_SIGINFO: {
		/* belongs to the NT_PRSTATUS before it */
		if (!ci->nthreads || ci->threads[ci->nthreads - 1].have_siginfo)
			return CORE_OK;
		if (n < SI_FIELDS_OFF + 8)
			return fail(err, errlen, CORE_CORRUPT, "NT_SIGINFO note too short (%llu bytes)",
				    (unsigned long long)n);
		struct core_thread *t = &ci->threads[ci->nthreads - 1];
		t->have_siginfo = true;
		t->si_signo = rdint(d + SI_SIGNO_OFF);
		t->si_errno = rdint(d + SI_ERRNO_OFF);
		t->si_code = rdint(d + SI_CODE_OFF);
		t->fault_addr = rd64(d + SI_FIELDS_OFF);
		t->sender_pid = rdint(d + SI_FIELDS_OFF);
		t->sender_uid = rdint(d + SI_FIELDS_OFF + 4);
		return CORE_OK;
	}
	case NT_PRPSINFO:
		if (ci->have_psinfo || n < sizeof(struct elf_prpsinfo))
			return CORE_OK;
		ci->have_psinfo = true;
		ci->pid = rdint(d + offsetof(struct elf_prpsinfo, pr_pid));
		memcpy(ci->fname, d + offsetof(struct elf_prpsinfo, pr_fname), 16);
		ci->fname[16] = 0;
		memcpy(ci->psargs, d + offsetof(struct elf_prpsinfo, pr_psargs), 80);
		ci->psargs[80] = 0;
		for (size_t k = strlen(ci->psargs); k && ci->psargs[k - 1] == ' '; k--)
			ci->psargs[k - 1] = 0;  /* the kernel turns the arguments' NULs into spaces */
		return CORE_OK;
	case NT_FILE:
		return parse_file_note(d, n, ci, err, errlen);
	default:
		return CORE_OK;
	}
}

static int parse_notes(const unsigned char *data, uint64_t off, uint64_t len, uint64_t align,
		       struct core_info *ci, size_t *tcap, char *err, size_t errlen)
{
	const unsigned char *p = data + off;
	uint64_t pos = 0;
	align = align == 8 ? 8 : 4;
	while (pos < len) {
		if (len - pos < 12)
			return fail(err, errlen, CORE_CORRUPT, "note header cut at offset %llu",
				    (unsigned long long)(off + pos));
		uint64_t namesz = rd32(p + pos), descsz = rd32(p + pos + 4);
		uint32_t type = rd32(p + pos + 8);
		uint64_t name_at = pos + 12;
		uint64_t desc_at = name_at + ((namesz + align - 1) & ~(align - 1));
		if (desc_at > len || !in_range(desc_at, descsz, len))
			return fail(err, errlen, CORE_CORRUPT,
				    "note at offset %llu runs past its segment (name %llu, desc %llu bytes)",
				    (unsigned long long)(off + pos), (unsigned long long)namesz,
				    (unsigned long long)descsz);
		/* Process notes are named "CORE" (LINUX: extra register sets). */
		if (namesz == 5 && memcmp(p + name_at, "CORE", 5) == 0) {
			int r = parse_note(type, p + desc_at, descsz, ci, tcap, err, errlen);
			if (r != CORE_OK)
				return r;
		}
		pos = desc_at + ((descsz + align - 1) & ~(align - 1));
	}
	return CORE_OK;
}

int core_parse(const unsigned char *data, size_t size, struct core_info *ci, char *err, size_t errlen)
{
	memset(ci, 0, sizeof *ci);
	if (size < SELFMAG || memcmp(data, ELFMAG, SELFMAG) != 0)
		return fail(err, errlen, CORE_NOT_ELF, "not an ELF file");
	if (size < sizeof(Elf64_Ehdr))
		return fail(err, errlen, CORE_CORRUPT, "ELF header cut short (%zu bytes)", size);
	if (data[EI_CLASS] != ELFCLASS64)
		return fail(err, errlen, CORE_NOT_CORE, "a 32-bit ELF file: only 64-bit cores are read");
	Elf64_Ehdr eh;
	memcpy(&eh, data, sizeof eh);
	if (eh.e_type != ET_CORE)
		return fail(err, errlen, CORE_NOT_CORE, "an ELF file of type %u, not a core (ET_CORE)",
			    (unsigned)eh.e_type);
	if (data[EI_DATA] != (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? ELFDATA2LSB : ELFDATA2MSB) ||
	    eh.e_machine != HOST_MACHINE)
		return fail(err, errlen, CORE_NOT_CORE, "a core of another machine (e_machine %u)",
			    (unsigned)eh.e_machine);
	ci->machine = eh.e_machine;
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 ||
	    !in_range(eh.e_phoff, (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr), size))
		return fail(err, errlen, CORE_CORRUPT,
			    "program headers missing or outside the file (%u at offset %llu, file %zu bytes)",
			    (unsigned)eh.e_phnum, (unsigned long long)eh.e_phoff, size);
	size_t tcap = 0, lcap = 0;
	bool have_notes = false;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, data + eh.e_phoff + (uint64_t)i * sizeof ph, sizeof ph);
		if (ph.p_type == PT_LOAD) {
			struct core_load *l = grow(ci->loads, ci->nloads, &lcap, sizeof *l);
			if (!l) {
				core_info_free(ci);
				return fail(err, errlen, CORE_CORRUPT, "out of memory");
			}
			ci->loads = l;
			l = &ci->loads[ci->nloads++];
			l->vaddr = ph.p_vaddr;
			l->memsz = ph.p_memsz;
			l->offset = ph.p_offset;
			l->flags = ph.p_flags;
			uint64_t have = ph.p_offset < size ? size - ph.p_offset : 0;
			l->filesz = ph.p_filesz < have ? ph.p_filesz : have;
			if (l->filesz > l->memsz)
				l->filesz = l->memsz;
			if (ph.p_filesz > l->filesz)
				ci->bytes_missing += ph.p_filesz - l->filesz;
		} else if (ph.p_type == PT_NOTE) {
			if (!in_range(ph.p_offset, ph.p_filesz, size)) {
				core_info_free(ci);
				return fail(err, errlen, CORE_CORRUPT,
					    "the notes (offset %llu, %llu bytes) lie past the end of the "
					    "file (%zu bytes): the core is cut short",
					    (unsigned long long)ph.p_offset, (unsigned long long)ph.p_filesz, size);
			}
			have_notes = true;
			int r = parse_notes(data, ph.p_offset, ph.p_filesz, ph.p_align, ci, &tcap, err, errlen);
			if (r != CORE_OK) {
				core_info_free(ci);
				return r;
			}
		}
	}
	if (!have_notes || ci->nthreads == 0) {
		core_info_free(ci);
		return fail(err, errlen, CORE_CORRUPT, "the core has no thread (no NT_PRSTATUS note)");
	}
	return CORE_OK;
}

void core_info_free(struct core_info *ci)
{
	free(ci->loads);
	free(ci->maps);
	free(ci->threads);
	ci->loads = NULL;
	ci->maps = NULL;
	ci->threads = NULL;
	ci->nloads = ci->nmaps = ci->nthreads = 0;
}

const struct core_map *core_find_map(const struct core_info *ci, uint64_t addr)
{
	for (size_t i = 0; i < ci->nmaps; i++)
		if (addr >= ci->maps[i].start && addr < ci->maps[i].end)
			return &ci->maps[i];
	return NULL;
}

const struct core_load *core_find_load(const struct core_info *ci, uint64_t addr)
{
	for (size_t i = 0; i < ci->nloads; i++)
		if (addr >= ci->loads[i].vaddr && addr - ci->loads[i].vaddr < ci->loads[i].memsz)
			return &ci->loads[i];
	return NULL;
}

bool core_read(const struct core_info *ci, const unsigned char *data, uint64_t addr, void *out,
	       size_t len)
{
	unsigned char *o = out;
	while (len) {
		const struct core_load *l = core_find_load(ci, addr);
		if (!l)
			return false;
		uint64_t in = addr - l->vaddr;
		if (in >= l->filesz)
			return false;           /* not dumped, or past the end of a cut core */
		uint64_t n = l->filesz - in;
		if (n > len)
			n = len;
		memcpy(o, data + l->offset + in, (size_t)n);
		o += n;
		addr += n;
		len -= (size_t)n;
	}
	return true;
}

#define _GNU_SOURCE
#include "procmaps.h"
#include "real.h"

#include <elf.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>

static uint64_t parse_hex(const char **pp)
{
	const char *p = *pp;
	uint64_t v = 0;
	for (;; p++) {
		char c = *p;
		if (c >= '0' && c <= '9') v = v * 16 + (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f') v = v * 16 + (uint64_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F') v = v * 16 + (uint64_t)(c - 'A' + 10);
		else break;
	}
	*pp = p;
	return v;
}

static uint64_t parse_dec(const char **pp)
{
	const char *p = *pp;
	uint64_t v = 0;
	while (*p >= '0' && *p <= '9')
		v = v * 10 + (uint64_t)(*p++ - '0');
	*pp = p;
	return v;
}

/* Where the path starts in "start-end perms offset major:minor inode   path", and the fields. */
static const char *parse_head(const char *p, struct mg_vma *v)
{
	v->start = (uintptr_t)parse_hex(&p);
	if (*p++ != '-')
		return NULL;
	v->end = (uintptr_t)parse_hex(&p);
	while (*p == ' ') p++;
	for (size_t i = 0; i < sizeof v->perms - 1; i++) {
		char c = '-';
		if (*p && *p != ' ')
			c = *p++;
		v->perms[i] = c;
	}
	v->perms[sizeof v->perms - 1] = 0;
	while (*p && *p != ' ') p++;
	while (*p == ' ') p++;
	v->offset = parse_hex(&p);
	while (*p == ' ') p++;
	unsigned maj = (unsigned)parse_hex(&p);
	if (*p == ':') p++;
	unsigned min = (unsigned)parse_hex(&p);
	v->dev = makedev(maj, min);
	while (*p == ' ') p++;
	v->ino = (ino_t)parse_dec(&p);
	while (*p == ' ') p++;
	return p;
}

static size_t path_append(struct mg_vma *v, size_t len, const char *p, size_t n)
{
	if (!v->path_cap)
		return 0;
	if (n > v->path_cap - 1 - len)
		n = v->path_cap - 1 - len;
	memcpy(v->path + len, p, n);
	len += n;
	v->path[len] = 0;
	return len;
}

static bool line_holds(const char *line, uintptr_t addr)
{
	uintptr_t lo = (uintptr_t)parse_hex(&line);
	if (*line++ != '-')
		return false;
	uintptr_t hi = (uintptr_t)parse_hex(&line);
	return addr >= lo && addr < hi;
}

/*
 * The kernel writes a newline in a path as the four characters \012 (and nothing else escaped):
 * turn them back, unless the name on disk really has them (the file's identity decides).
 */
static void unescape_newlines(struct mg_vma *v)
{
	if (!v->path_cap || !strstr(v->path, "\\012"))
		return;
	struct stat st;
	if (MG_SYS4(SYS_newfstatat, AT_FDCWD, v->path, &st, 0) == 0 && st.st_dev == v->dev &&
	    st.st_ino == v->ino)
		return;
	char *w = v->path;
	for (const char *r = v->path; *r;) {
		if (strncmp(r, "\\012", 4) == 0) {
			*w++ = '\n';
			r += 4;
		} else {
			*w++ = *r++;
		}
	}
	*w = 0;
}

bool mg_vma_find(uintptr_t addr, struct mg_vma *out)
{
	long fd = MG_SYS4(SYS_openat, AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return false;
	char buf[4096];
	size_t have = 0, plen = 0;
	bool found = false;
	/* A line longer than the buffer (a long path): skipped, or, when it is the one, its path
	 * is gathered across reads. */
	enum { SCAN, SKIP, TAIL } state = SCAN;
	while (!found) {
		long r = MG_SYS3(SYS_read, fd, buf + have, sizeof buf - 1 - have);
		if (r <= 0)
			break;
		have += (size_t)r;
		buf[have] = 0;
		char *line = buf;
		while (!found) {
			size_t left = have - (size_t)(line - buf);
			char *nl = memchr(line, '\n', left);
			if (state != SCAN) {
				size_t n = nl ? (size_t)(nl - line) : left;
				if (state == TAIL)
					plen = path_append(out, plen, line, n);
				line += n;
				if (!nl)
					break;
				line++;
				found = state == TAIL;
				state = SCAN;
				continue;
			}
			if (!nl) {
				if (line == buf && left == sizeof buf - 1) {
					const char *p;
					if (line_holds(line, addr) && (p = parse_head(line, out)) != NULL) {
						plen = path_append(out, 0, p, left - (size_t)(p - line));
						state = TAIL;
					} else {
						state = SKIP;
					}
					line += left;
				}
				break;
			}
			*nl = 0;
			if (line_holds(line, addr)) {
				const char *p = parse_head(line, out);
				if (p) {
					path_append(out, 0, p, strlen(p));
					found = true;
				}
			}
			line = nl + 1;
		}
		have -= (size_t)(line - buf);
		memmove(buf, line, have);
	}
	if (state == TAIL && !found)
		found = true;           /* the last line, without a newline */
	MG_SYS1(SYS_close, fd);
	if (found)
		unescape_newlines(out);
	return found;
}

/* A whole line of a maps file: the path points into the line itself (as the kernel shows it). */
static bool parse_line(char *line, struct mg_vma *v)
{
	const char *p = parse_head(line, v);
	if (!p)
		return false;
	v->path = (char *)p;
	v->path_cap = strlen(p) + 1;
	return true;
}

int mg_maps_foreach(const char *maps_path, char *buf, size_t cap,
		    bool (*fn)(const struct mg_vma *v, void *arg), void *arg)
{
	long fd = MG_SYS4(SYS_openat, AT_FDCWD, maps_path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return (int)fd;
	struct mg_vma v;
	size_t have = 0;
	bool go = true, skipping = false;
	long r = 0;
	while (go && (r = MG_SYS3(SYS_read, fd, buf + have, cap - 1 - have)) > 0) {
		have += (size_t)r;
		buf[have] = 0;
		char *line = buf, *nl;
		while (go && (nl = memchr(line, '\n', have - (size_t)(line - buf)))) {
			*nl = 0;
			if (!skipping && parse_line(line, &v))
				go = fn(&v, arg);
			skipping = false;
			line = nl + 1;
		}
		have -= (size_t)(line - buf);
		memmove(buf, line, have);
		if (have == cap - 1) {
			have = 0;               /* an absurdly long line: drop it */
			skipping = true;
		}
	}
	MG_SYS1(SYS_close, fd);
	return r < 0 ? (int)r : 0;
}

static bool pread_all(long fd, void *dst, size_t n, uint64_t off)
{
	return MG_SYS4(SYS_pread64, fd, dst, n, off) == (long)n;
}

static bool lookup(long fd, const Elf64_Ehdr *eh, uint64_t vaddr, char *name, size_t cap,
		   uint64_t *sym_off)
{
	/* Find .symtab (full) or .dynsym (exported only) and its string table. */
	Elf64_Shdr symtab = { 0 }, strtab = { 0 };
	bool have = false;
	for (int pass = 0; pass < 2 && !have; pass++) {
		uint32_t want = pass == 0 ? SHT_SYMTAB : SHT_DYNSYM;
		for (unsigned i = 0; i < eh->e_shnum; i++) {
			Elf64_Shdr sh;
			if (!pread_all(fd, &sh, sizeof sh, eh->e_shoff + (uint64_t)i * eh->e_shentsize))
				return false;
			if (sh.sh_type != want || sh.sh_entsize != sizeof(Elf64_Sym) ||
			    sh.sh_link >= eh->e_shnum)
				continue;
			if (!pread_all(fd, &strtab, sizeof strtab,
				       eh->e_shoff + (uint64_t)sh.sh_link * eh->e_shentsize))
				return false;
			symtab = sh;
			have = true;
			break;
		}
	}
	if (!have)
		return false;
	Elf64_Sym syms[64], best = { 0 };
	bool found = false;
	uint64_t count = symtab.sh_size / sizeof(Elf64_Sym);
	for (uint64_t i = 0; i < count; i += 64) {
		size_t n = count - i < 64 ? (size_t)(count - i) : 64;
		if (!pread_all(fd, syms, n * sizeof(Elf64_Sym), symtab.sh_offset + i * sizeof(Elf64_Sym)))
			return false;
		for (size_t j = 0; j < n; j++) {
			const Elf64_Sym *s = &syms[j];
			int type = ELF64_ST_TYPE(s->st_info);
			if ((type != STT_FUNC && type != STT_GNU_IFUNC) || s->st_shndx == SHN_UNDEF)
				continue;
			if (vaddr >= s->st_value && vaddr < s->st_value + (s->st_size ? s->st_size : 1)) {
				best = *s;
				found = true;
			}
		}
		if (found)
			break;
	}
	if (!found || best.st_name >= strtab.sh_size)
		return false;
	long r = MG_SYS4(SYS_pread64, fd, name, cap - 1, strtab.sh_offset + best.st_name);
	if (r <= 0)
		return false;
	name[r] = 0;
	name[strnlen(name, (size_t)r)] = 0;
	*sym_off = vaddr - best.st_value;
	return name[0] != 0;
}

bool mg_elf_symbol(const char *path, uint64_t file_off, char *name, size_t cap, uint64_t *sym_off)
{
	if (!path[0] || path[0] != '/' || cap < 2)
		return false;
	long fd = MG_SYS4(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return false;
	bool ok = false;
	Elf64_Ehdr eh;
	if (pread_all(fd, &eh, sizeof eh, 0) && memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 &&
	    eh.e_ident[EI_CLASS] == ELFCLASS64 && eh.e_phentsize == sizeof(Elf64_Phdr) &&
	    eh.e_shentsize == sizeof(Elf64_Shdr)) {
		/* file offset -> link-time address through the PT_LOAD that holds it */
		for (unsigned i = 0; i < eh.e_phnum; i++) {
			Elf64_Phdr ph;
			if (!pread_all(fd, &ph, sizeof ph, eh.e_phoff + (uint64_t)i * sizeof ph))
				break;
			if (ph.p_type == PT_LOAD && file_off >= ph.p_offset &&
			    file_off < ph.p_offset + ph.p_filesz) {
				ok = lookup(fd, &eh, ph.p_vaddr + (file_off - ph.p_offset), name, cap, sym_off);
				break;
			}
		}
	}
	MG_SYS1(SYS_close, fd);
	return ok;
}

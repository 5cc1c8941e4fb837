#define _GNU_SOURCE
#include "inspect.h"

#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool executable_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* argv0 resolved through PATH, as execvp does. */
static bool find_program(const char *argv0, char *out, size_t cap)
{
	if (strchr(argv0, '/')) {
		snprintf(out, cap, "%s", argv0);
		return executable_file(out);
	}
	const char *path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (const char *p = path; *p;) {
		const char *end = strchr(p, ':');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if ((size_t)snprintf(out, cap, "%.*s%s%s", (int)n, p, n ? "/" : "", argv0) < cap &&
		    executable_file(out))
			return true;
		p += n + (end != NULL);
	}
	out[0] = 0;
	return false;
}

static bool pread_all(int fd, void *dst, size_t n, off_t off)
{
	return pread(fd, dst, n, off) == (ssize_t)n;
}

/* The file offset of a virtual address, through the PT_LOAD that holds it; -1 if none. */
static off_t file_offset(const Elf64_Phdr *ph, unsigned n, Elf64_Addr vaddr)
{
	for (unsigned i = 0; i < n; i++)
		if (ph[i].p_type == PT_LOAD && vaddr >= ph[i].p_vaddr &&
		    vaddr < ph[i].p_vaddr + ph[i].p_filesz)
			return (off_t)(ph[i].p_offset + (vaddr - ph[i].p_vaddr));
	return -1;
}

/* Sanitizer runtimes that refuse to run unless they come first in the list of loaded objects. */
static bool must_come_first(const char *soname)
{
	return strncmp(soname, "libasan.so", 10) == 0 || strncmp(soname, "libhwasan.so", 12) == 0 ||
	       strncmp(soname, "libclang_rt.asan", 16) == 0;
}

static void read_elf(int fd, struct program_info *out)
{
	Elf64_Ehdr eh;
	if (!pread_all(fd, &eh, sizeof eh, 0) || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0)
		return;
	out->elf = true;
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(Elf64_Phdr) ||
	    eh.e_phnum == 0 || eh.e_phnum > 256)
		return;
	Elf64_Phdr ph[256];
	if (!pread_all(fd, ph, eh.e_phnum * sizeof ph[0], (off_t)eh.e_phoff))
		return;
	const Elf64_Phdr *dyn = NULL;
	bool interp = false;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		if (ph[i].p_type == PT_INTERP)
			interp = true;
		else if (ph[i].p_type == PT_DYNAMIC)
			dyn = &ph[i];
	}
	/* A static-pie has PT_DYNAMIC but no interpreter: the loader that reads LD_PRELOAD never runs. */
	out->is_static = !interp;
	if (!dyn || dyn->p_filesz > (1u << 20))
		return;
	size_t n = dyn->p_filesz / sizeof(Elf64_Dyn);
	Elf64_Dyn *d = malloc(n * sizeof *d);
	if (!d || !pread_all(fd, d, n * sizeof *d, (off_t)dyn->p_offset)) {
		free(d);
		return;
	}
	Elf64_Addr strtab = 0;
	for (size_t i = 0; i < n && d[i].d_tag != DT_NULL; i++)
		if (d[i].d_tag == DT_STRTAB)
			strtab = d[i].d_un.d_ptr;
	off_t str = strtab ? file_offset(ph, eh.e_phnum, strtab) : -1;
	for (size_t i = 0; str >= 0 && i < n && d[i].d_tag != DT_NULL; i++) {
		if (d[i].d_tag != DT_NEEDED)
			continue;
		char name[64] = "";
		ssize_t r = pread(fd, name, sizeof name - 1, str + (off_t)d[i].d_un.d_val);
		if (r <= 0)
			continue;
		name[r] = 0;
		if (must_come_first(name)) {
			snprintf(out->first, sizeof out->first, "%s", name);
			break;
		}
	}
	free(d);
}

void program_inspect(const char *argv0, struct program_info *out)
{
	memset(out, 0, sizeof *out);
	if (!find_program(argv0, out->path, sizeof out->path))
		return;
	struct stat st;
	/* Secure execution (the loader drops LD_PRELOAD paths) when the bits change who runs it. */
	if (stat(out->path, &st) == 0 &&
	    (((st.st_mode & S_ISUID) && st.st_uid != geteuid()) ||
	     ((st.st_mode & S_ISGID) && st.st_gid != getegid())))
		out->setid = true;
	int fd = open(out->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	read_elf(fd, out);
	close(fd);
}

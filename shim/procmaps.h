/* /proc/self/maps and ELF symbol tables read with raw syscalls: usable from a signal handler. */
#ifndef MG_PROCMAPS_H
#define MG_PROCMAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <limits.h>
#include <stdint.h>
#include <sys/types.h>
#include "guard.h"

struct mg_vma {
	uintptr_t start, end;
	uint64_t offset;
	dev_t dev;                      /* makedev(major, minor) as shown */
	ino_t ino;
	char perms[5];                  /* "r-xp" */
	/*
	 * Set by the caller: where the path goes (path_cap bytes with the NUL; 2 are enough to tell
	 * anonymous, "[heap]" and files apart). "" for anonymous; may end in " (deleted)". Whole up to
	 * path_cap (PATH_MAX and the suffix fit in MG_VMA_PATH), with the kernel's "\\012" for a newline
	 * turned back into one -- unless the file's identity says the name really has those characters.
	 */
	char *path;
	size_t path_cap;
};

#define MG_VMA_PATH (PATH_MAX + 16)

/* The VMA containing addr. */
bool mg_vma_find(uintptr_t addr, struct mg_vma *out) MG_HIDDEN;

/*
 * Every line of a maps file (/proc/PID/maps), parsed, in order; fn returns false to stop.
 * buf (cap bytes, from the caller: no allocation) holds the lines being read. Lines longer than
 * cap are skipped. -errno when the file cannot be opened or read, else 0.
 */
int mg_maps_foreach(const char *maps_path, char *buf, size_t cap,
		    bool (*fn)(const struct mg_vma *v, void *arg), void *arg) MG_HIDDEN;

/*
 * Name of the function containing file offset file_off of the ELF object at path:
 * "name" in name[], offset from its start in *sym_off. From .symtab, else .dynsym.
 */
bool mg_elf_symbol(const char *path, uint64_t file_off, char *name, size_t cap,
		   uint64_t *sym_off) MG_HIDDEN;

#endif

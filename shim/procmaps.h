/* /proc/self/maps and ELF symbol tables read with raw syscalls: usable from a signal handler. */
#ifndef MG_PROCMAPS_H
#define MG_PROCMAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "guard.h"

struct mg_vma {
	uintptr_t start, end;
	uint64_t offset;
	dev_t dev;                      /* makedev(major, minor) as shown */
	ino_t ino;
	char path[512];                 /* "" for anonymous; may end in " (deleted)" */
};

/* The VMA containing addr. */
bool mg_vma_find(uintptr_t addr, struct mg_vma *out) MG_HIDDEN;

/*
 * Name of the function containing file offset file_off of the ELF object at path:
 * "name" in name[], offset from its start in *sym_off. From .symtab, else .dynsym.
 */
bool mg_elf_symbol(const char *path, uint64_t file_off, char *name, size_t cap,
		   uint64_t *sym_off) MG_HIDDEN;

#endif

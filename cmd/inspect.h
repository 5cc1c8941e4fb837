/*
 * What can be told about a program before it runs under the guard: a statically linked or a
 * setuid/setgid program will not load the guard; a sanitizer runtime (ASan) must be the first
 * library loaded, ahead of the guard.
 */
#ifndef MGC_INSPECT_H
#define MGC_INSPECT_H

#include <limits.h>
#include <stdbool.h>

struct program_info {
	char path[PATH_MAX];            /* "" when not found (execvp will say so) */
	bool elf;                       /* an ELF file (not a script) */
	bool is_static;                 /* no program interpreter: the dynamic loader never runs */
	bool setid;                     /* setuid/setgid to someone else: LD_PRELOAD paths are ignored */
	char first[64];                 /* a DT_NEEDED sanitizer runtime to preload first, or "" */
};

/* Look the program up as execvp would and read its ELF headers. */
void program_inspect(const char *argv0, struct program_info *out);

#endif

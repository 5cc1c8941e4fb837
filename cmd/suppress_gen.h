/*
 * `mmapguard report --suppressions LOG...`: one ready-to-use suppression rule per distinct
 * reported call site (event, call, path, calling stack), as narrow as the records allow: the exact
 * path, every frame of the calling stack, every distinct creation stack of the endangered windows.
 * Frames are named the way the guard matches them in the process: by the records' own symbols
 * (function names from .symtab or .dynsym), else by module and offset.
 */
#ifndef MGC_SUPPRESS_GEN_H
#define MGC_SUPPRESS_GEN_H

#include <stdio.h>

struct supp_gen;

struct supp_gen *supp_gen_new(void);
void supp_gen_free(struct supp_gen *g);
/* Read one JSON Lines log ("-": stdin). 0 or -errno. */
int supp_gen_add_file(struct supp_gen *g, const char *path);
/* Print the rules; returns how many. */
unsigned long supp_gen_print(struct supp_gen *g, FILE *out);

#endif

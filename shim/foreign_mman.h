/* Libraries that define mmap ahead of the guard: tcmalloc's hooks, another copy of the guard. */
#ifndef MG_FOREIGN_MMAN_H
#define MG_FOREIGN_MMAN_H

#include <stdbool.h>
#include "guard.h"

/* The mmap the program calls when it is not the guard's own, else NULL (looked up once, at load). */
void *mg_mmap_ahead(void) MG_HIDDEN;
/* That mmap (tcmalloc): its hooks, or a warning. true: following it through its hooks */
bool mg_foreign_mman_init(void *mmap_ahead) MG_HIDDEN;
/* true: that mmap is another copy of the guard's */
bool mg_other_guard_ahead(void *mmap_ahead) MG_HIDDEN;

#endif

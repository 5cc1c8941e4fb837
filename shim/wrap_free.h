/* glibc's free() of an mmapped block (wrap_free.c). */
#ifndef MG_WRAP_FREE_H
#define MG_WRAP_FREE_H

#include <stdbool.h>
#include "guard.h"

/* At load: true when the program's malloc and free are glibc's. */
bool mg_free_init(void) MG_HIDDEN;

#endif

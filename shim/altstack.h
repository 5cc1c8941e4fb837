/* Alternate signal stacks for the SIGBUS handler. */
#ifndef MG_ALTSTACK_H
#define MG_ALTSTACK_H

#include <stdbool.h>
#include "guard.h"

/* Once the handler is installed (constructor). */
void mg_altstack_init(void) MG_HIDDEN;
bool mg_altstack_enabled(void) MG_HIDDEN;
/* Give the calling thread an alternate signal stack if it has none (once per thread). */
void mg_altstack_setup(void) MG_HIDDEN;

#endif

/* The SIGBUS reporter: installed at load unless MMAPGUARD_SIGBUS=0 or MMAPGUARD_MODE=off. */
#ifndef MG_SIGBUS_H
#define MG_SIGBUS_H

#include "guard.h"

void mg_sigbus_init(void) MG_HIDDEN;
/* Give the calling thread an alternate signal stack if it has none (once per thread). */
void mg_sigbus_thread_setup(void) MG_HIDDEN;

#endif

/* The SIGBUS handler and the program's view of SIGBUS (sigaction, signal, ...). */
#ifndef MG_WRAP_SIGNAL_H
#define MG_WRAP_SIGNAL_H

#include <stdbool.h>
#include "guard.h"

/* Install the handler unless MMAPGUARD_SIGBUS=0 or MMAPGUARD_MODE=off; true if installed. */
bool mg_sigbus_init(void) MG_HIDDEN;

#endif

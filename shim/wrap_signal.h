/* The SIGBUS handler and the program's view of SIGBUS (sigaction, signal, ...). */
#ifndef MG_WRAP_SIGNAL_H
#define MG_WRAP_SIGNAL_H

#include <stdbool.h>
#include "guard.h"

/* Install the handler unless MMAPGUARD_SIGBUS=0 or MMAPGUARD_MODE=off; true if installed. */
bool mg_sigbus_init(void) MG_HIDDEN;

/* A SIGBUS sent to the process would run a handler of the program's: with the guard's handler
 * installed, the program's copy says; without, the kernel's disposition. */
bool mg_sigbus_program_handles(void) MG_HIDDEN;

#endif

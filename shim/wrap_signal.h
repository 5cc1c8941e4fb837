/* The SIGBUS handler and the program's view of SIGBUS (sigaction, signal, ...). */
#ifndef MG_WRAP_SIGNAL_H
#define MG_WRAP_SIGNAL_H

#include <stdbool.h>
#include "guard.h"

/* Install the handler unless MMAPGUARD_SIGBUS=0 or MMAPGUARD_MODE=off; true if installed. */
bool mg_sigbus_init(void) MG_HIDDEN;

/* sig sent to the process would run a handler of the program's: the kernel's disposition (a
 * system call; unknown counts as a handler), for SIGBUS under the guard's handler the program's
 * copy. Not the lease signal's: that handler is the guard's. */
bool mg_program_handles(int sig) MG_HIDDEN;

#endif

/* SIGBUS forensics: the record of a fault in a tracked file mapping. */
#ifndef MG_SIGBUS_H
#define MG_SIGBUS_H

#include <signal.h>
#include "guard.h"

#include <stdbool.h>

/* A kernel-raised SIGBUS (si_code > 0): if si_addr lies in a tracked window, write the sigbus
 * record. Async-signal-safe: no lock, no allocator. True when the fault was answered
 * (MMAPGUARD_SIGBUS=survive): the access can simply be retried. */
bool mg_sigbus_report(siginfo_t *si, void *ucontext) MG_HIDDEN;

#endif

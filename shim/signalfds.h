/* The program's signalfds and the lease signal (lease.c, when it picks one). */
#ifndef MG_SIGNALFDS_H
#define MG_SIGNALFDS_H

#include <stdbool.h>
#include "guard.h"

/*
 * sig is about to become the lease signal. A signalfd the program made for "every signal" (at
 * least half the real-time ones; a daemon makes it at start, before any mapping) names it too:
 * it would wake the program's poll for a signal the guard's handler then takes (a blocking read
 * after it waits forever), or hand the program the signal first (the break is never answered).
 * Each such signalfd loses sig (its mask is replaced, as the program itself could). False, and
 * nothing changed, when a signalfd names sig among a few: the program uses that signal. The
 * descriptors are found in /proc/self/fd, their masks in /proc/self/fdinfo: once per pick.
 */
bool mg_signalfds_yield(int sig) MG_HIDDEN;

#endif

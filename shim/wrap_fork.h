/* fork: the guard's locks across fork (pthread_atfork handlers, installed by the constructor). */
#ifndef MG_WRAP_FORK_H
#define MG_WRAP_FORK_H

#include "guard.h"

void mg_fork_prepare(void) MG_HIDDEN;
void mg_fork_parent(void) MG_HIDDEN;
void mg_fork_child(void) MG_HIDDEN;
/* A clone() child without CLONE_VM, found out by a lock (lock.h): what the child handler does. */
void mg_fork_foreign(void) MG_HIDDEN;

#endif

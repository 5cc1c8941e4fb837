/*
 * All descriptors the guard holds (the log file, the two ends of libunwind's pipe, the lease
 * descriptors), which the program's close(), close_range() and closefrom() must not touch: the
 * log's and the leases' as log.c and lease.c hold them, libunwind's pipe ends registered here
 * (fd_place.h puts them all out of the program's way). "Owned": only in the process that opened
 * them -- a vfork child shares our memory but has its own descriptor table. Async-signal-safe.
 */
#ifndef MG_GUARD_FDS_H
#define MG_GUARD_FDS_H

#include <stdbool.h>
#include "guard.h"
#include "fd_place.h"

void mg_guard_fd_add(int fd) MG_HIDDEN;
bool mg_guard_fd_owned(int fd) MG_HIDDEN;
int mg_guard_fds_owned(int out[MG_GUARD_FDS_MAX]) MG_HIDDEN;   /* sorted; returns the count */
/*
 * dup2 onto one of them (not the log, which is moved instead): true if it was one of libunwind's
 * (a lease on that number is given up without a word).
 */
bool mg_guard_fd_release(int fd) MG_HIDDEN;

#endif

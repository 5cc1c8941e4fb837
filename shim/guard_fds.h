/*
 * All descriptors the guard holds (the log file, the two ends of libunwind's pipe, the lease
 * descriptors), which the program's close(),
 * close_range() and closefrom() must not touch. "Owned": only in the process that opened them --
 * a vfork child shares our memory but has its own descriptor table. Async-signal-safe.
 */
#ifndef MG_GUARD_FDS_H
#define MG_GUARD_FDS_H

#include <stdbool.h>
#include "guard.h"
#include "lease.h"

#define MG_GUARD_FDS 4                  /* the log and up to three others */
#define MG_GUARD_FDS_MAX (MG_GUARD_FDS + MG_LEASE_MAX)
/* Where the guard's descriptors go when the program's soft RLIMIT_NOFILE is higher than this. */
#define MG_FD_FAR 1024
/* A copy of fd (the guard's) at a number the program does not get, or -errno. */
long mg_fd_place_copy(int fd, bool cloexec) MG_HIDDEN;
/* fd moved there (the old number closed); fd itself if no copy could be made. */
int mg_fd_place(int fd, bool cloexec) MG_HIDDEN;
/* A number the guard holds (the log's, a lease's): lowers the bound below which close() looks no
 * further. */
void mg_guard_fd_note(int fd) MG_HIDDEN;
void mg_guard_fd_add(int fd) MG_HIDDEN;
bool mg_guard_fd_owned(int fd) MG_HIDDEN;
int mg_guard_fds_owned(int out[MG_GUARD_FDS_MAX]) MG_HIDDEN;   /* sorted; returns the count */
/*
 * dup2 onto one of them (not the log, which is moved instead): true if it was one of libunwind's
 * (a lease on that number is given up without a word).
 */
bool mg_guard_fd_release(int fd) MG_HIDDEN;

#endif

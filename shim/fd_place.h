/*
 * Where the guard's own descriptors go (the log, libunwind's pipe, the lease descriptors): numbers
 * the program does not get, and the lowest number the guard ever held. Async-signal-safe.
 * guard_fds.h is the set of them that the program's close() and dup2() are kept off.
 */
#ifndef MG_FD_PLACE_H
#define MG_FD_PLACE_H

#include <stdbool.h>
#include "guard.h"

#define MG_GUARD_FDS 4                  /* the log and up to three others */
#define MG_LEASE_FILES 64               /* lease descriptors (lease.c): of files the program maps */
#define MG_LEASE_OBJECTS 32             /* and of libraries the loader mapped (after those) */
#define MG_LEASE_MAX (MG_LEASE_FILES + MG_LEASE_OBJECTS)
#define MG_LEASE_KEPT_MAX 16            /* lease descriptors of locked files kept open (lease.c) */
#define MG_GUARD_FDS_MAX (MG_GUARD_FDS + MG_LEASE_MAX + MG_LEASE_KEPT_MAX)
/* Where the guard's descriptors go when the program's soft RLIMIT_NOFILE is higher than this. */
#define MG_FD_FAR 1024
/* A copy of fd (the guard's) at a number the program does not get, or -errno. */
long mg_fd_place_copy(int fd, bool cloexec) MG_HIDDEN;
/* fd moved there (the old number closed); fd itself if no copy could be made. */
int mg_fd_place(int fd, bool cloexec) MG_HIDDEN;
/* A number the guard holds (the log's, a lease's): lowers the bound below which close() looks no
 * further. */
void mg_guard_fd_note(int fd) MG_HIDDEN;
/* That bound (atomic; INT_MAX while the guard holds none). */
extern int mg_guard_fd_min MG_HIDDEN;

#endif

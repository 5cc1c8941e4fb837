/*
 * Files the program holds POSIX record locks on (fcntl F_SETLK/F_SETLKW, lockf). Closing any
 * descriptor of a file releases every such lock the process holds on it, so the guard never closes a
 * descriptor of its own of such a file: its lease proofs and leases go without them (a scan, a
 * lease_unavailable record) and a lease descriptor it already holds is kept open, its lease given
 * up. The descriptors locks were taken through are listed (the locks' ranges are not followed);
 * past 64 descriptors, every file counts as locked. Locks taken through glibc's internal calls or
 * raw system calls are not seen, nor locks kept across exec (README).
 */
#ifndef MG_POSIX_LOCKS_H
#define MG_POSIX_LOCKS_H

#include <stdbool.h>
#include <sys/types.h>
#include "guard.h"

/* The program's lock call on fd succeeded (a read or write lock, not an unlock). */
void mg_posix_lock_taken(int fd) MG_HIDDEN;
/* Fork child: a child holds none of its parent's record locks; the list starts empty. */
void mg_posix_locks_atfork_child(void) MG_HIDDEN;
/* The program ever took a record lock since start (or since the fork). */
bool mg_posix_locks_any(void) MG_HIDDEN;
/* The program may hold record locks on (dev, ino): an fstat per listed descriptor. Async-signal-safe. */
bool mg_posix_locked(dev_t dev, ino_t ino) MG_HIDDEN;

#endif

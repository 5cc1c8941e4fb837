/*
 * The report channel: stderr, or MMAPGUARD_LOG (with %p -> pid), opened lazily on the first record
 * with O_APPEND|O_CLOEXEC|O_NOFOLLOW and moved to a high descriptor. One write() per record.
 * The descriptor is the guard's: close()/dup2()/close_range() by the program are kept off it, and
 * before each record the guard checks it still refers to the log file (a raw close_range could
 * have handed the number to the program).
 */
#ifndef MG_LOG_H
#define MG_LOG_H

#include <stddef.h>
#include <stdbool.h>
#include "guard.h"

#define MG_LOG_FD_MIN 900

/* Caller holds the report lock. Returns 0 or -errno. */
int mg_log_write(const char *p, size_t n) MG_HIDDEN;
/* The same from a signal handler: takes no lock, changes no state. */
int mg_log_write_signal(const char *p, size_t n) MG_HIDDEN;
/* The guard's own descriptor, -1 if none (async-signal-safe). */
int mg_log_fd(void) MG_HIDDEN;

/*
 * All descriptors the guard holds (the log, libunwind's pipe), which the program's close(),
 * close_range() and closefrom() must not touch. "Owned": only in the process that opened them --
 * a vfork child shares our memory but has its own descriptor table. Async-signal-safe.
 */
#define MG_GUARD_FDS 4
void mg_guard_fd_add(int fd) MG_HIDDEN;
bool mg_guard_fd_owned(int fd) MG_HIDDEN;
int mg_guard_fds_owned(int out[MG_GUARD_FDS]) MG_HIDDEN;       /* sorted; returns the count */
/* dup2 onto one of them (not the log, which is moved instead): true if it was one. */
bool mg_guard_fd_release(int fd) MG_HIDDEN;
/* dup2/dup3 are about to overwrite fd: move the log away first (async-signal-safe). */
void mg_log_evacuate(int fd) MG_HIDDEN;
void mg_log_init(void) MG_HIDDEN;
void mg_log_atfork_child(void) MG_HIDDEN;
/* Expand %p in a path pattern. */
void mg_log_expand(const char *pattern, int pid, char *out, size_t cap) MG_HIDDEN;

#endif

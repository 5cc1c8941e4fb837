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

/* This process set up the log state (false in a vfork child, which shares our memory). */
bool mg_log_owner(void) MG_HIDDEN;
/* dup2/dup3 are about to overwrite fd: move the log away first (async-signal-safe). */
void mg_log_evacuate(int fd) MG_HIDDEN;
void mg_log_init(void) MG_HIDDEN;
void mg_log_atfork_child(void) MG_HIDDEN;
/* Expand %p in a path pattern. */
void mg_log_expand(const char *pattern, int pid, char *out, size_t cap) MG_HIDDEN;

#endif

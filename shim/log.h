/*
 * The report channel: stderr, or MMAPGUARD_LOG (with %p -> pid; relative to the directory at
 * start-up), opened lazily on the first record with O_APPEND|O_CLOEXEC|O_NOFOLLOW (and O_NONBLOCK
 * for the open itself: a FIFO without a reader) and moved to a number the program does not get
 * (fd_place.h). One write() per record. A log file that cannot be opened is named once on
 * stderr, and the records go to stderr. MMAPGUARD_LOG=/dev/stderr, /dev/stdout, /dev/fd/N,
 * /proc/self/fd/N write to that descriptor of the program's, like stderr, and only while it holds
 * the file it held at start-up (or one the program dup2()ed or freopen()ed onto it).
 * The log file's descriptor is the guard's: close()/dup2()/close_range() by the program are kept
 * off it, and before each record the guard checks it still refers to the log file (a raw
 * close_range could have handed the number to the program).
 */
#ifndef MG_LOG_H
#define MG_LOG_H

#include <stddef.h>
#include <stdbool.h>
#include "guard.h"

/* Caller holds the report lock. Returns 0 or -errno. */
int mg_log_write(const char *p, size_t n) MG_HIDDEN;
/* The same from a signal handler: takes no lock, changes no state. */
int mg_log_write_signal(const char *p, size_t n) MG_HIDDEN;
/* The guard's own descriptor, -1 if none (async-signal-safe). */
int mg_log_fd(void) MG_HIDDEN;

/* This process set up the log state (false in a vfork child, which shares our memory). */
bool mg_log_owner(void) MG_HIDDEN;
/* dup2/dup3/freopen put another file on the program's descriptor fd (async-signal-safe). */
void mg_log_stream_redirected(int fd) MG_HIDDEN;
/* dup2/dup3 are about to overwrite fd: move the log away first (async-signal-safe). */
void mg_log_evacuate(int fd) MG_HIDDEN;
void mg_log_init(void) MG_HIDDEN;
void mg_log_atfork_child(void) MG_HIDDEN;
/* Expand %p in a path pattern. */
void mg_log_expand(const char *pattern, int pid, char *out, size_t cap) MG_HIDDEN;

#endif

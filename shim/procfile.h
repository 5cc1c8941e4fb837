/* Small /proc files read with raw system calls, whole or line by line: usable in a signal handler. */
#ifndef MG_PROCFILE_H
#define MG_PROCFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "guard.h"

/* openat(AT_FDCWD, path, flags | O_CLOEXEC | O_NOCTTY): a descriptor or -errno. */
long mg_sys_open(const char *path, int flags) MG_HIDDEN;
/* The file into buf, NUL-terminated: its length, or -1. */
long mg_proc_read(const char *path, char *buf, size_t cap) MG_HIDDEN;
/* "/proc/self/fd/FD" into out. */
void mg_proc_self_fd(char *out, size_t cap, int fd) MG_HIDDEN;
/* Where fd leads (readlink of /proc/self/fd/FD) into out, NUL-terminated ("" if unknown). */
void mg_fd_path(int fd, char *out, size_t cap) MG_HIDDEN;
/* "/proc/PID/LEAF" into out. */
void mg_proc_path(char *out, size_t cap, pid_t pid, const char *leaf) MG_HIDDEN;

/* Line reader over a descriptor; the caller provides the storage (no allocation). */
struct mg_lines {
	long fd;
	char buf[4096];
	size_t len, pos;
	bool eof;
};
/* Open path for reading line by line: false if it cannot be opened. */
bool mg_lines_open(struct mg_lines *l, const char *path) MG_HIDDEN;
/* The next line, without its newline, cut to cap - 1 bytes; false at the end. */
bool mg_lines_next(struct mg_lines *l, char *line, size_t cap) MG_HIDDEN;
void mg_lines_close(struct mg_lines *l) MG_HIDDEN;

/*
 * Each entry of the directory dfd (getdents64 into buf, raw system calls): fn(name, arg) until it
 * returns false. The name may be changed in place while fn runs. False when fn stopped the walk.
 */
bool mg_dir_each(long dfd, char *buf, size_t cap, bool (*fn)(char *name, void *arg), void *arg)
	MG_HIDDEN;

const char *mg_skip_ws(const char *s) MG_HIDDEN;
const char *mg_skip_word(const char *s) MG_HIDDEN;
/* Digits in base 10 or 16 (an optional 0x) at *sp; *sp moves past them. */
uint64_t mg_parse_num(const char **sp, int base) MG_HIDDEN;

#endif

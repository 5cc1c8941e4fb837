/* A file window as the registry keeps it, and a new file mapping described so. */
#ifndef MG_WINDOW_H
#define MG_WINDOW_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include "guard.h"
#include "depot.h"
#include "stack.h"

struct mg_window {
	uintptr_t start, end;           /* page aligned, end exclusive */
	uint64_t offset;                /* file offset of start */
	dev_t dev;
	ino_t ino;
	int prot;
	bool shared;
	uint8_t origin;                 /* enum mg_origin: who mapped it */
	pid_t tid;                      /* creator */
	char thread_name[16];
	pid_t pid;                      /* the process it was mapped in: a fork child inherits its
					 * parent's windows with the parent's pid; 0: unknown */
	struct timespec created;        /* CLOCK_REALTIME */
	uint64_t size_at_map;           /* the file's size when the mapping was made */
	uint64_t birth;                 /* on overlayfs, the file's birth (birth.h): a lower layer's
					 * file or its copy; 0: not overlayfs, or not known */
	const struct mg_stack *stack;   /* creation stack (depot.h); NULL: none */
};

/*
 * The process w was made in when it is not `here`, the process that has it now (a fork child
 * inherits its parent's mappings); 0: made here, or not known.
 */
static inline pid_t mg_win_made_in(const struct mg_window *w, pid_t here)
{
	return w->pid > 0 && w->pid != here ? w->pid : 0;
}

/* The window's creation stack, never NULL. */
static inline const struct mg_stack *mg_win_stack(const struct mg_window *w)
{
	return w->stack ? w->stack : &mg_stack_none;
}

/*
 * The dynamic loader's mappings never pass through the wrappers: dlmaps.c finds them in its list of
 * loaded objects. The running executable cannot be cut (the kernel answers ETXTBSY to any write),
 * so its windows count for SIGBUS and queries but never make a truncation dangerous.
 */
enum mg_origin { MG_ORIGIN_MMAP = 0, MG_ORIGIN_LOADER = 1, MG_ORIGIN_EXE = 2 };

/*
 * A mapping of fd at off is being made: describe it (file identity and size, protection, sharing,
 * the creating thread and the time; not the address or the stack). false: fd is not a regular file.
 */
bool mg_window_describe(int fd, int prot, int flags, off_t off, struct mg_window *w) MG_HIDDEN;

#endif

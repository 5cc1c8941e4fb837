/*
 * The guard's history of cuts, read from the memory a core file holds: the object mmapguard_state
 * (shim/history.h), found through the dynamic symbol table of a loaded module, or by its magic
 * when no module's file can be read.
 */
#ifndef MGC_EXPLAIN_GUARD_H
#define MGC_EXPLAIN_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "explain_core.h"
#include "explain_stack.h"

#define XCUT_STACK_MAX 64

struct xcut {
	char call[64];
	uint64_t dev, ino, size_before, size_after;
	int tid;
	char thread_name[17];
	int64_t sec, nsec;              /* CLOCK_REALTIME */
	unsigned nstack;
	uint64_t ip[XCUT_STACK_MAX];
};

struct xguard {
	bool loaded;                    /* a module of the core defines mmapguard_state */
	bool found;                     /* its state was read from the core's memory */
	const char *how;                /* "symbol" or "magic" */
	char *module;                   /* the module that defines it, if known */
	uint64_t addr;
	unsigned version;
	char *problem;                  /* why the state was not read, or NULL */
	struct xcut *cuts;              /* oldest first */
	size_t ncuts;
	unsigned writing;               /* slots caught halfway through being written */
};

void xguard_read(struct xguard *g, const struct core_info *ci, const unsigned char *data,
		 const struct xstacks *stacks);
void xguard_free(struct xguard *g);

#endif

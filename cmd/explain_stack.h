/*
 * The threads' stacks in a core file, unwound and symbolized with elfutils libdwfl (modules found
 * from the core's NT_FILE note and build ids; --exe names the executable when it cannot be found).
 */
#ifndef MGC_EXPLAIN_STACK_H
#define MGC_EXPLAIN_STACK_H

#include <stdbool.h>
#include <stdint.h>

struct xframe {
	uint64_t pc;
	bool activation;                /* pc is the interrupted instruction, not a return address */
	const char *module;             /* path, or NULL */
	uint64_t module_offset;         /* pc minus the module's first loaded page */
	char *function;                 /* NULL if unknown */
	uint64_t function_offset;
	char *file;                     /* NULL if no line information */
	int line;
};

struct xthread {
	int tid;
	struct xframe *frames;
	unsigned nframes;
	char *error;                    /* why unwinding stopped early, or NULL */
};

struct xstacks {
	struct xthread *threads;
	unsigned nthreads;
	char *error;                    /* why no stack could be read at all, or NULL */
	void *dwfl;                     /* Dwfl *, kept for symbol lookups */
};

/* Unwind every thread of the core at path (up to max_frames frames each). */
void xstacks_read(struct xstacks *s, const char *core_path, const char *exe, unsigned max_frames);
const struct xthread *xstacks_thread(const struct xstacks *s, int tid);
/* Address of a data symbol in any module of the core; 0 if none. Calls fn for each found. */
void xstacks_find_symbol(const struct xstacks *s, const char *name,
			 void (*fn)(uint64_t addr, uint64_t size, const char *module, void *arg), void *arg);
/* Symbolize one address of the process (a return address when return_address). */
void xstacks_symbolize(const struct xstacks *s, uint64_t pc, bool return_address, struct xframe *out);
void xframe_free(struct xframe *f);
void xstacks_free(struct xstacks *s);

#endif

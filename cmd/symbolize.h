/*
 * Frames to function and file:line with elfutils libdwfl, from the record's module path and
 * module_offset (ip minus the address the module's first page was loaded at). One Dwfl session
 * per module, opened on first use; results are not cached here (the caller caches per frame).
 */
#ifndef MGC_SYMBOLIZE_H
#define MGC_SYMBOLIZE_H

#include <stdbool.h>
#include <stdint.h>

struct symbolizer;

struct sym_result {
	char function[256];             /* "" if unknown */
	uint64_t function_offset;       /* from the function's start */
	char file[1024];                /* "" if no line information */
	int line;
};

struct symbolizer *symbolizer_new(void);
void symbolizer_free(struct symbolizer *s);
/*
 * return_address: the offset is a return address (every frame of a call stack): the line of the
 * call instruction is looked up (offset - 1). Returns false when the module cannot be read.
 */
bool symbolize(struct symbolizer *s, const char *module, uint64_t offset, bool return_address,
	       struct sym_result *out);

#endif

/* A captured stack: raw addresses, symbolized only when a record is written (backtrace.h). */
#ifndef MG_STACK_H
#define MG_STACK_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define MG_STACK_MAX 24

struct mg_stack {
	uint16_t n;
	uint16_t pc_first;              /* frame 0 is the interrupted instruction, not a return address */
	uintptr_t ip[MG_STACK_MAX];
};

/* Copy the frames src has (not all MG_STACK_MAX). */
static inline void mg_stack_copy(struct mg_stack *dst, const struct mg_stack *src)
{
	unsigned n = src->n < MG_STACK_MAX ? src->n : MG_STACK_MAX;
	dst->n = (uint16_t)n;
	dst->pc_first = src->pc_first;
	memcpy(dst->ip, src->ip, n * sizeof src->ip[0]);
}

struct mg_sym {
	char module[PATH_MAX];          /* path of the object, "" if unknown */
	uintptr_t module_offset;        /* ip - load base */
	char symbol[1024];              /* "name+0xoff", "" if unknown (C++ names run long) */
};

/* A symbolizer: fills *out for ip (exact: ip is an instruction address, not a return address).
 * The record formatters never symbolize by themselves. */
typedef void (*mg_symbolize_fn)(uintptr_t ip, bool exact, struct mg_sym *out);

#endif

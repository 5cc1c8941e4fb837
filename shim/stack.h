/* A captured stack: raw addresses, symbolized only when a record is written (backtrace.h). */
#ifndef MG_STACK_H
#define MG_STACK_H

#include <stdint.h>

#define MG_STACK_MAX 24

struct mg_stack {
	uint16_t n;
	uint16_t pc_first;              /* frame 0 is the interrupted instruction, not a return address */
	uintptr_t ip[MG_STACK_MAX];
};

#endif

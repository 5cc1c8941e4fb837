/*
 * Call frame information (the loaded objects' .eh_frame) read for one kind of question: given a
 * return address, where are its frame's CFA, its own return address and the caller's rbp. Only
 * the plain x86-64 shapes are answered (CFA = rsp or rbp plus a constant, the return address and
 * rbp saved at constant offsets from the CFA, or the return address undefined at the outermost
 * frame); everything else is "not followed", and the stack is then walked by libunwind.
 */
#ifndef MG_CFI_H
#define MG_CFI_H

#include <stdint.h>
#include "guard.h"

enum { MG_CFI_RBP_SAME = 0, MG_CFI_RBP_SAVED = 1, MG_CFI_RBP_LOST = 2 };

struct mg_cfi_rule {
	int32_t cfa_off;        /* CFA = (cfa_rbp ? rbp : rsp) + cfa_off */
	int16_t rbp_off;        /* MG_CFI_RBP_SAVED: the caller's rbp is at CFA + rbp_off */
	int8_t ra_off;          /* the return address is at CFA + ra_off */
	uint8_t cfa_rbp : 1;
	uint8_t rbp : 2;        /* MG_CFI_RBP_* */
	uint8_t end : 1;        /* the return address is undefined: the outermost frame */
	uint8_t ok : 1;         /* 0: no CFI for this address, or a rule the walk does not follow */
};

/*
 * The rule in force at pc (a return address minus one). Reads the loaded objects' headers and
 * .eh_frame_hdr/.eh_frame through dl_iterate_phdr: call it counted as a capture in flight
 * (backtrace.h), never from a signal handler.
 */
struct mg_cfi_rule mg_cfi_rule_at(uintptr_t pc) MG_HIDDEN;

#endif

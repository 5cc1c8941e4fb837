#define _GNU_SOURCE
#include "own_stack.h"
#include "real.h"
#include "registry.h"
#include "rule.h"

#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>

/* Under valgrind the switch to a stack it does not know looks like a huge frame: it would take the
 * memory in between for fresh stack and the program's frames for uninitialised. Tell it (a few
 * no-op instructions when not under valgrind). */
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define MG_STACK_REGISTER(lo, hi) VALGRIND_STACK_REGISTER(lo, hi)
#define MG_STACK_DEREGISTER(id) VALGRIND_STACK_DEREGISTER(id)
#endif
#endif
#ifndef MG_STACK_REGISTER
#define MG_STACK_REGISTER(lo, hi) 0u
#define MG_STACK_DEREGISTER(id) ((void)(id))
#endif

/*
 * mg_call_on_stack(fn, arg, top): fn(arg) with the stack pointer at top (16-byte aligned), then
 * back on the caller's stack. The frame pointer keeps the way back (and the CFA for unwinders).
 */
void mg_call_on_stack(void (*fn)(void *), void *arg, void *top) MG_HIDDEN;

#if defined(__x86_64__)
__asm__(".text\n"
	".globl mg_call_on_stack\n"
	".hidden mg_call_on_stack\n"
	".type mg_call_on_stack,@function\n"
	"mg_call_on_stack:\n"
	".cfi_startproc\n"
	"	push %rbp\n"
	".cfi_def_cfa_offset 16\n"
	".cfi_offset %rbp, -16\n"
	"	mov %rsp, %rbp\n"
	".cfi_def_cfa_register %rbp\n"
	"	mov %rdx, %rsp\n"
	"	mov %rdi, %rax\n"
	"	mov %rsi, %rdi\n"
	"	call *%rax\n"
	"	mov %rbp, %rsp\n"
	"	pop %rbp\n"
	".cfi_def_cfa %rsp, 8\n"
	"	ret\n"
	".cfi_endproc\n"
	".size mg_call_on_stack, .-mg_call_on_stack\n");
#define HAVE_CALL_ON_STACK 1
#elif defined(__aarch64__)
__asm__(".text\n"
	".globl mg_call_on_stack\n"
	".hidden mg_call_on_stack\n"
	".type mg_call_on_stack,%function\n"
	"mg_call_on_stack:\n"
	".cfi_startproc\n"
	"	stp x29, x30, [sp, #-16]!\n"
	".cfi_def_cfa_offset 16\n"
	".cfi_offset x29, -16\n"
	".cfi_offset x30, -8\n"
	"	mov x29, sp\n"
	".cfi_def_cfa_register x29\n"
	"	mov sp, x2\n"
	"	mov x3, x0\n"
	"	mov x0, x1\n"
	"	blr x3\n"
	"	mov sp, x29\n"
	"	ldp x29, x30, [sp], #16\n"
	".cfi_def_cfa sp, 0\n"
	"	ret\n"
	".cfi_endproc\n"
	".size mg_call_on_stack, .-mg_call_on_stack\n");
#define HAVE_CALL_ON_STACK 1
#endif

bool mg_run_on_own_stack(void (*fn)(void *), void *arg, size_t size)
{
#ifdef HAVE_CALL_ON_STACK
	size_t page = mg_page_size();
	size = (size_t)mg_round_up(size, page);
	long base = MG_SYS6(SYS_mmap, 0, size + page, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base < 0 && base > -4096)
		return false;
	/* The stack grows down: its lowest page is the guard. */
	if (MG_SYS3(SYS_mprotect, base, page, PROT_NONE) < 0) {
		MG_SYS2(SYS_munmap, base, size + page);
		return false;
	}
	char *lo = (char *)((uintptr_t)base + page), *hi = lo + size;
	unsigned id = MG_STACK_REGISTER(lo, hi);
	mg_call_on_stack(fn, arg, hi);
	MG_STACK_DEREGISTER(id);
	MG_SYS2(SYS_munmap, base, size + page);
	return true;
#else
	fn(arg);        /* no stack switch on this architecture: the handler's own stack */
	return true;
#endif
}

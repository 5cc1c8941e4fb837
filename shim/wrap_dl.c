/*
 * dlopen, dlclose: the loader maps and unmaps objects with its own system calls, so the windows
 * are registered after dlopen and dropped after dlclose (dlmaps.c).
 */
#define _GNU_SOURCE
#include "cfi_walk.h"
#include "config.h"
#include "dlmaps.h"
#include "real.h"
#include "registry.h"

#include <dlfcn.h>
#include <errno.h>

/*
 * glibc's dlopen reads its own return address to learn which object called it, and searches a
 * bare name along that object's paths. The entry below keeps that address for libc whenever the
 * guard's frame would change the answer: mg_dlopen_route either calls dlopen itself (then the new
 * objects get this call's stack at once) or returns libc's dlopen, which is entered by a jump with
 * the caller's frame untouched (the new objects are then registered at the next check).
 */
MG_HIDDEN void *mg_dlopen_route(const char *file, int mode, void *caller, void **handle);

__asm__(".text\n"
	".globl dlopen\n"
	".type dlopen, @function\n"
	"dlopen:\n"
	"	.cfi_startproc\n"
	"	push %rdi\n"
	"	.cfi_adjust_cfa_offset 8\n"
	"	push %rsi\n"
	"	.cfi_adjust_cfa_offset 8\n"
	"	sub $24, %rsp\n"
	"	.cfi_adjust_cfa_offset 24\n"
	"	mov 40(%rsp), %rdx\n"           /* the caller's return address */
	"	mov %rsp, %rcx\n"               /* the handle, when the route calls dlopen itself */
	"	call mg_dlopen_route\n"
	"	mov (%rsp), %rcx\n"
	"	add $24, %rsp\n"
	"	.cfi_adjust_cfa_offset -24\n"
	"	pop %rsi\n"
	"	.cfi_adjust_cfa_offset -8\n"
	"	pop %rdi\n"
	"	.cfi_adjust_cfa_offset -8\n"
	"	test %rax, %rax\n"
	"	jz 1f\n"
	"	jmp *%rax\n"
	"1:	mov %rcx, %rax\n"
	"	ret\n"
	"	.cfi_endproc\n"
	".size dlopen, .-dlopen\n");

void *mg_dlopen_route(const char *file, int mode, void *caller, void **handle)
{
	mg_dlopen_fn real = MG_REAL(dlopen);
	*handle = NULL;
	if (!real || mg_inside() || mg_mode() == MG_MODE_OFF)
		return (void *)real;
	int saved = errno;
	mg_dl_before_open();
	if (!mg_dl_same_search(file, caller)) {
		mg_dl_defer_open();
		errno = saved;
		return (void *)real;
	}
	errno = saved;
	void *h = real(file, mode);
	/* A failure leaves dlerror's message and errno as libc set them: nothing here touches them. */
	if (h) {
		saved = errno;
		mg_dl_after_open();
		errno = saved;
	}
	*handle = h;
	return NULL;
}

MG_EXPORT int dlclose(void *handle)
{
	mg_dlclose_fn real = MG_REAL(dlclose);
	bool track = !mg_inside() && mg_reg_nmaps() != 0;
	int r = real(handle);
	if (r == 0)
		mg_cfi_forget();        /* rules of code that may be gone */
	if (r == 0 && track) {
		int saved = errno;
		mg_dl_after_close();
		errno = saved;
	}
	return r;
}

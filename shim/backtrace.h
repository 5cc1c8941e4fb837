/*
 * Stacks: captured as raw return addresses, by the CFI rules of the loaded objects (cfi_walk.h)
 * or libunwind's unw_backtrace (no allocation after a thread's first call), symbolized only when
 * a report is written.
 * libunwind is dlopen'ed RTLD_LOCAL: linked normally, its _Unwind_* exports would capture the
 * host's C++ exception handling.
 */
#ifndef MG_BACKTRACE_H
#define MG_BACKTRACE_H

#include <stdbool.h>
#include <stdint.h>
#include "guard.h"
#include "stack.h"
#include "cfi_walk.h"
#include "depot.h"
#include "config.h"

/* Constructor time only. eager: dlopen libunwind now; else mg_bt_load() does, on first need. */
void mg_bt_init(bool eager) MG_HIDDEN;
/*
 * Load libunwind if it is not yet and this process may (see backtrace.c): only from a wrapper
 * called by the program itself, never from a signal handler or under a lock.
 */
void mg_bt_load(void) MG_HIDDEN;
/* libunwind's unw_backtrace; NULL: not loaded, or unwinding stopped (see backtrace.c). */
typedef int (*mg_bt_fn)(void **, int);
extern mg_bt_fn mg_bt_backtrace MG_HIDDEN;
/* The shim's own code: frames there are not kept. */
extern uintptr_t mg_bt_shim_lo MG_HIDDEN, mg_bt_shim_hi MG_HIDDEN;
/* Around a capture: counted in flight, so that a fork waits for it (see backtrace.c). */
void mg_bt_capture_begin(void) MG_HIDDEN;
void mg_bt_capture_end(void) MG_HIDDEN;
/* Keep the frames outside the shim, in order, up to MG_STACK_MAX. */
void mg_bt_keep(void *const *ips, int n, struct mg_stack *st) MG_HIDDEN;

/* MMAPGUARD_UNWIND=libunwind or check (backtrace.c). */
void mg_bt_capture_other(struct mg_stack *st) MG_HIDDEN;

/*
 * Stack of the caller of the intercepted function: frames inside the shim are dropped. Walked by
 * the CFI rules (cfi_walk.h), or by libunwind where they do not cover the whole stack. Inline: a
 * frame of its own would be one more to walk on every capture. The frames go into st, except when
 * a walk kept from an earlier call gives them: then st->n is 0 and the depot's entry is returned
 * (a walk by the rules now returns its depot entry too, with st filled). NULL: st is the answer.
 */
static inline __attribute__((always_inline)) const struct mg_stack *mg_bt_walk(struct mg_stack *st)
{
	void *ips[MG_STACK_MAX + 8];
	int n = 0;
	st->n = 0;
	st->pc_first = 0;
	if (!__atomic_load_n(&mg_bt_backtrace, __ATOMIC_ACQUIRE))
		return NULL;
	if (mg_unlikely(mg_cfg.unwind != MG_UNWIND_CFI)) {
		mg_bt_capture_other(st);
		return NULL;
	}
	mg_bt_capture_begin();
	mg_bt_fn bt = __atomic_load_n(&mg_bt_backtrace, __ATOMIC_ACQUIRE); /* a clone() child may have stopped it */
	const struct mg_stack *ref = NULL;
	if (bt && mg_cfi_walk(st, &ref, MG_STACK_MAX + 8, mg_bt_shim_lo, mg_bt_shim_hi) < 0)
		n = bt(ips, (int)(sizeof ips / sizeof ips[0]));
	mg_bt_capture_end();
	if (n > 0)
		mg_bt_keep(ips, n, st);
	return ref;
}

/* The stack, its frames in st. */
static inline __attribute__((always_inline)) void mg_bt_capture(struct mg_stack *st)
{
	const struct mg_stack *ref = mg_bt_walk(st);
	if (ref && st->n == 0)
		mg_stack_copy(st, ref);
}

/*
 * The stack as the depot keeps it (never NULL): a walk kept from an earlier call gives it without
 * copying a frame. For a window's creation stack.
 */
static inline __attribute__((always_inline)) const struct mg_stack *mg_bt_capture_ref(void)
{
	struct mg_stack st;
	const struct mg_stack *ref = mg_bt_walk(&st);
	return ref ? ref : mg_depot_intern(&st);
}

/*
 * Around any dl_iterate_phdr of the guard's: counted like a capture in flight, so that fork waits
 * for it (a child must not inherit the loader's lock held by a thread that is gone).
 */
void mg_bt_loader_begin(void) MG_HIDDEN;
void mg_bt_loader_end(void) MG_HIDDEN;
/* From a signal handler's ucontext: frame 0 is the interrupted instruction itself. */
void mg_bt_capture_signal(void *ucontext, struct mg_stack *st) MG_HIDDEN;
void mg_bt_disable_signal_unwind(void) MG_HIDDEN;
/* Cached; callers hold the report lock. */
void mg_bt_symbolize(uintptr_t ip, bool exact, struct mg_sym *out) MG_HIDDEN;
/* exact: ip is an instruction address (a fault), not a return address. */
/* Uncached, async-signal-safe: /proc/self/maps and the ELF symbol table, raw syscalls only. */
void mg_symbolize_signal_safe(uintptr_t ip, bool exact, struct mg_sym *out) MG_HIDDEN;
bool mg_bt_in_shim(uintptr_t ip) MG_HIDDEN;
/* fork, holding the fork gate: wait until no other thread unwinds (may_load: dlopen first). */
void mg_bt_atfork_prepare(bool may_load) MG_HIDDEN;
void mg_bt_atfork_parent(void) MG_HIDDEN;
/* Any child (fork, _Fork, clone): no unwinding if another thread was; may_load: dlopen later. */
void mg_bt_atfork_child(bool may_load) MG_HIDDEN;
void mg_bt_disable(void) MG_HIDDEN;
/* The report lock was held by another thread at the fork: the symbol cache may be half written. */
void mg_bt_symcache_forget(void) MG_HIDDEN;

#endif

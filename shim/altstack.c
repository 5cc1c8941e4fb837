/*
 * Alternate signal stacks, so that the SIGBUS handler runs even on a thread whose stack is small or
 * exhausted: threads get one from their first instruction (wrap_thread.c) and any thread (the main
 * one included) with its first file mapping; one the program installed is kept.
 */
#define _GNU_SOURCE
#include "altstack.h"
#include "arena.h"

#include <pthread.h>
#include <signal.h>

#define ALTSTACK_SIZE (128u << 10)

static bool enabled;                    /* the SIGBUS handler is installed */
static MG_TLS bool thread_has_stack;
static pthread_key_t stack_key;

static void free_stack(void *p)
{
	stack_t off = { .ss_flags = SS_DISABLE };
	stack_t cur;
	if (sigaltstack(NULL, &cur) == 0 && cur.ss_sp == p && !(cur.ss_flags & SS_ONSTACK))
		sigaltstack(&off, NULL);
	mg_pages_free(p, ALTSTACK_SIZE);
}

void mg_altstack_setup(void)
{
	if (thread_has_stack || !mg_altstack_enabled())
		return;
	thread_has_stack = true;
	stack_t cur;
	if (sigaltstack(NULL, &cur) < 0 || !(cur.ss_flags & SS_DISABLE))
		return;                 /* the thread has its own: keep it */
	void *mem = mg_pages_alloc(ALTSTACK_SIZE);
	if (!mem)
		return;
	stack_t ss = { .ss_sp = mem, .ss_size = ALTSTACK_SIZE, .ss_flags = 0 };
	if (sigaltstack(&ss, NULL) < 0) {
		mg_pages_free(mem, ALTSTACK_SIZE);
		return;
	}
	pthread_setspecific(stack_key, mem);
}

bool mg_altstack_enabled(void) { return __atomic_load_n(&enabled, __ATOMIC_ACQUIRE); }

void mg_altstack_init(void)
{
	pthread_key_create(&stack_key, free_stack);
	__atomic_store_n(&enabled, true, __ATOMIC_RELEASE);
	/* The main thread gets its alternate stack with its first file mapping, not here: most
	 * processes never map a file, and its own stack is the large one. */
}

/*
 * Canaries for the sanitizer builds: each plants the one error its sanitizer must catch. CTest
 * passes them only when the sanitizer's report appears, so an _asan/_tsan variant can never pass
 * merely because the sanitizer silently was not there. Linked against the same core library as
 * the variant it vouches for.
 */
#define _GNU_SOURCE
#include "registry.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(MG_CANARY_ASAN)
#if !defined(__SANITIZE_ADDRESS__)
#error "built without -fsanitize=address"
#endif
int main(int argc, char **argv)
{
	(void)argv;
	char *volatile p = malloc(16);
	memset(p, 0, 16);
	volatile char c = p[16 + argc - 1];     /* one past the end */
	(void)c;
	free(p);
	puts("canary: not detected");
	return 0;
}
#elif defined(MG_CANARY_UBSAN)
int main(int argc, char **argv)
{
	(void)argv;
	volatile int big = 0x7fffffff;
	int r = big + argc;                     /* signed overflow */
	printf("%d\n", r);
	puts("canary: not detected");
	return 0;
}
#elif defined(MG_CANARY_TSAN)
#if !defined(__SANITIZE_THREAD__)
#error "built without -fsanitize=thread"
#endif
static size_t racy;             /* written by two threads with no ordering between them */

static void *writer(void *arg)
{
	racy = (size_t)(uintptr_t)arg;
	return NULL;
}

int main(void)
{
	/* the registry's own lock must not hide the race: take it around nothing */
	mg_reg_lock();
	mg_reg_unlock();
	pthread_t a, b;
	pthread_create(&a, NULL, writer, (void *)1);
	pthread_create(&b, NULL, writer, (void *)2);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	printf("%zu\n", racy);
	puts("canary: not detected");
	return 0;
}
#else
#error "define one of MG_CANARY_ASAN, MG_CANARY_UBSAN, MG_CANARY_TSAN"
#endif

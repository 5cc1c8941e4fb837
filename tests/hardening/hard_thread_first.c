/*
 * libhard_thread_first.so, preloaded after the guard: its constructor starts a thread through
 * pthread_create (the guard's wrapper) and joins it. The program then runs as one that has
 * started a thread: munmap, mremap and MAP_FIXED over tracked windows run their system calls
 * without the registry lock, under claims, as in a threaded program (see call_begin_seen in
 * shim/wrap_mman.c), where without it they keep the lock.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static void *nothing(void *arg)
{
	return arg;
}

__attribute__((constructor)) static void start_one_thread(void)
{
	pthread_t t;
	if (pthread_create(&t, NULL, nothing, NULL) != 0 || pthread_join(t, NULL) != 0) {
		fprintf(stderr, "hard_thread_first: no thread\n");
		exit(3);
	}
}

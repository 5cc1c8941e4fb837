/*
 * pthread_create: the process has (had) other threads, which changes what fork may do. A thread
 * whose program asked for the lease signal blocked starts one that holds it too (wrap_sigmask.c):
 * its mask is its creator's.
 */
#define _GNU_SOURCE
#include "mapcount.h"
#include "real.h"
#include "sigmask.h"
#include "thread.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

struct holding_start {
	void *(*fn)(void *);
	void *arg;
};

static void *start_holding(void *p)
{
	struct holding_start s = *(struct holding_start *)p;
	free(p);
	mg_sigmask_thread_holds();
	return s.fn(s.arg);
}

MG_EXPORT int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
	mg_pthread_create_fn real = MG_REAL(pthread_create);
	if (!real)
		return EAGAIN;
	mg_thread_note_start();
	if (!mg_inside())
		mg_mapcount_note(2);    /* stack and guard page (glibc maps them where no wrapper sees) */
	if (mg_sigmask_held()) {
		struct holding_start *s = malloc(sizeof *s);
		if (s) {
			s->fn = fn;
			s->arg = arg;
			int r = real(t, attr, start_holding, s);
			if (r != 0)
				free(s);
			return r;
		}
	}
	return real(t, attr, fn, arg);
}

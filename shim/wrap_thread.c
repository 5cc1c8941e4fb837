/* pthread_create: every thread gets an alternate signal stack from its first instruction. */
#define _GNU_SOURCE
#include "altstack.h"
#include "backtrace.h"
#include "mapcount.h"
#include "real.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

struct start {
	void *(*fn)(void *);
	void *arg;
};

static void *thread_start(void *p)
{
	struct start s = *(struct start *)p;
	free(p);
	mg_altstack_setup();
	return s.fn(s.arg);
}

MG_EXPORT int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
	mg_pthread_create_fn real = MG_REAL(pthread_create);
	if (!real)
		return EAGAIN;
	mg_bt_note_thread();
	if (!mg_inside())
		mg_mapcount_note(3);    /* stack and guard page (glibc maps them where no wrapper sees), our alternate stack */
	if (mg_inside() || !mg_altstack_enabled())
		return real(t, attr, fn, arg);
	struct start *s = malloc(sizeof *s);
	if (!s)
		return real(t, attr, fn, arg);
	s->fn = fn;
	s->arg = arg;
	int r = real(t, attr, thread_start, s);
	if (r != 0)
		free(s);
	return r;
}

/* pthread_create: the process has (had) other threads, which changes what fork may do. */
#define _GNU_SOURCE
#include "backtrace.h"
#include "mapcount.h"
#include "real.h"

#include <errno.h>
#include <pthread.h>

MG_EXPORT int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
	mg_pthread_create_fn real = MG_REAL(pthread_create);
	if (!real)
		return EAGAIN;
	mg_bt_note_thread();
	if (!mg_inside())
		mg_mapcount_note(2);    /* stack and guard page (glibc maps them where no wrapper sees) */
	return real(t, attr, fn, arg);
}

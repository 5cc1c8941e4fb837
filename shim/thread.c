#define _GNU_SOURCE
#include "thread.h"
#include "real.h"

#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>

MG_TLS pid_t mg_thread_tid_cached;
pid_t mg_thread_pid_cached;
int mg_thread_started_;
static MG_TLS char name[16];
static MG_TLS long long name_read_ms = -1000000;

void mg_thread_note_start(void)
{
	if (!mg_threads_started())
		__atomic_store_n(&mg_thread_started_, 1, __ATOMIC_RELAXED);
}

bool mg_not_self_process(void)
{
	return (pid_t)MG_SYS0(SYS_getpid) != mg_self_pid();
}

pid_t mg_thread_pid_slow(void)
{
	pid_t p = (pid_t)MG_SYS0(SYS_getpid);
	__atomic_store_n(&mg_thread_pid_cached, p, __ATOMIC_RELAXED);
	return p;
}

pid_t mg_thread_tid_slow(void)
{
	mg_thread_tid_cached = (pid_t)MG_SYS0(SYS_gettid);
	return mg_thread_tid_cached;
}

void mg_thread_name(char out[16], const struct timespec *now)
{
	long long ms = (long long)now->tv_sec * 1000 + now->tv_nsec / 1000000;
	/* unsigned: a clock set back re-reads too */
	if ((unsigned long long)(ms - name_read_ms) >= 50) {
		MG_SYS2(SYS_prctl, PR_GET_NAME, name);
		name[15] = 0;
		name_read_ms = ms;
	}
	memcpy(out, name, 16);
}

void mg_thread_atfork_child(void)
{
	mg_thread_tid_cached = 0;
	mg_thread_pid_slow();     /* now: a vfork from this child must find it set */
	name_read_ms = -1000000;
}

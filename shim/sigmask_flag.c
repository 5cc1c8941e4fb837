#define _GNU_SOURCE
#include "sigmask_flag.h"
#include "real.h"
#include "thread.h"

#include <sys/syscall.h>

MG_TLS bool mg_sigmask_flag;

bool mg_sigmask_names_few(const sigset_t *set)
{
	int n = 0;
	for (int s = SIGRTMIN; s <= SIGRTMAX; s++)
		n += sigismember(set, s) == 1;
	return 2 * n < SIGRTMAX - SIGRTMIN + 1;
}

bool mg_sigmask_one(int how, int sig)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, sig);
	return MG_SYS4(SYS_rt_sigprocmask, how, &s, NULL, _NSIG / 8) == 0;
}

bool mg_sigmask_let_in(int sig)
{
	sigset_t cur;
	if (MG_SYS4(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &cur, _NSIG / 8) != 0 ||
	    sigismember(&cur, sig) != 1 || mg_sigmask_names_few(&cur) || mg_not_self_process() ||
	    !mg_sigmask_one(SIG_UNBLOCK, sig))
		return false;
	mg_sigmask_flag = true;
	return true;
}

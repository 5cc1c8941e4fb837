/*
 * mg_sigbus_pre.so: a library preloaded next to libmmapguard.so whose constructor installs a SIGBUS
 * handler (when MG_SIGBUS_PRE=1). Which constructor runs first depends on the LD_PRELOAD order;
 * the constructor says whether the kernel's SIGBUS disposition was still SIG_DFL when it ran
 * (the guard had not installed its handler yet).
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static void put(const char *s) { (void)!write(1, s, strlen(s)); }

static void put_num(long v)
{
	char t[24];
	int i = 0;
	bool neg = v < 0;
	unsigned long u = neg ? -(unsigned long)v : (unsigned long)v;
	do
		t[i++] = (char)('0' + u % 10);
	while ((u /= 10) && i < 22);
	if (neg)
		t[i++] = '-';
	char o[24];
	int n = 0;
	while (i)
		o[n++] = t[--i];
	(void)!write(1, o, (size_t)n);
}

__attribute__((visibility("default"))) void mg_pre_handler(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	put("{\"step\":\"handler\",\"who\":\"preload\",\"sig\":");
	put_num(sig);
	put(",\"si_code\":");
	put_num(si->si_code);
	put("}\n");
	_exit(4);
}

__attribute__((constructor)) static void pre_init(void)
{
	const char *v = getenv("MG_SIGBUS_PRE");
	if (!v || strcmp(v, "1") != 0)
		return;
	struct { void *handler; unsigned long flags; void *restorer; unsigned long mask; } k;
	bool dfl = syscall(SYS_rt_sigaction, SIGBUS, NULL, &k, sizeof k.mask) == 0 &&
		   k.handler == (void *)SIG_DFL;
	struct sigaction sa, old;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = mg_pre_handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	int rc = sigaction(SIGBUS, &sa, &old);
	put("{\"step\":\"pre_ctor\",\"kernel_was_default\":");
	put(dfl ? "true" : "false");
	put(",\"rc\":");
	put_num(rc);
	put(",\"old_was_default\":");
	put(old.sa_handler == SIG_DFL ? "true" : "false");
	put("}\n");
}

#define _GNU_SOURCE
#include "signalfds.h"
#include "fmt.h"
#include "procfile.h"
#include "real.h"
#include "sigmask_flag.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>

struct yield_walk {
	int sig;
	bool change;            /* second pass: take sig out; first: look for a few naming it */
	bool few;               /* a signalfd names sig among a few */
	char text[2048];
};

/* The mask of signalfd fd (its name in /proc/self/fd), or false if fd is not one. */
static bool signalfd_mask(const char *name, char *text, size_t cap, sigset_t *mask)
{
	char path[64], link[64];
	struct mg_buf b;
	mg_buf_init(&b, path, sizeof path);
	mg_buf_puts(&b, "/proc/self/fd/");
	mg_buf_puts(&b, name);
	long n = MG_SYS4(SYS_readlinkat, AT_FDCWD, path, link, sizeof link - 1);
	if (n <= 0)
		return false;
	link[n] = 0;
	if (strcmp(link, "anon_inode:[signalfd]") != 0)
		return false;
	mg_buf_init(&b, path, sizeof path);
	mg_buf_puts(&b, "/proc/self/fdinfo/");
	mg_buf_puts(&b, name);
	if (mg_proc_read(path, text, cap) <= 0)
		return false;
	const char *m = strstr(text, "sigmask:");
	if (!m)
		return false;
	m = mg_skip_ws(m + 8);
	uint64_t bits = mg_parse_num(&m, 16);
	sigemptyset(mask);
	for (int s = 1; s <= 64 && s < _NSIG; s++)
		if (bits & (1ull << (s - 1)))
			sigaddset(mask, s);
	return true;
}

static bool yield_one(char *name, void *arg)
{
	struct yield_walk *w = arg;
	sigset_t mask;
	if (name[0] < '0' || name[0] > '9' || !signalfd_mask(name, w->text, sizeof w->text, &mask) ||
	    sigismember(&mask, w->sig) != 1)
		return true;
	if (mg_sigmask_names_few(&mask)) {
		w->few = true;
		return false;
	}
	if (w->change) {
		const char *p = name;
		long fd = (long)mg_parse_num(&p, 10);
		sigdelset(&mask, w->sig);
		MG_SYS4(SYS_signalfd4, fd, &mask, _NSIG / 8, 0);
	}
	return true;
}

static bool walk(struct yield_walk *w)
{
	long dfd = mg_sys_open("/proc/self/fd", O_RDONLY | O_DIRECTORY);
	if (dfd < 0)
		return true;
	char dents[2048];
	mg_dir_each(dfd, dents, sizeof dents, yield_one, w);
	MG_SYS1(SYS_close, dfd);
	return !w->few;
}

bool mg_signalfds_yield(int sig)
{
	struct yield_walk w = { .sig = sig };
	if (!walk(&w))
		return false;
	w.change = true;
	return walk(&w);
}

/*
 * hard_signal DIR ITERS: ftruncate (async-signal-safe) from a signal handler while the interrupted
 * code is inside the guard. The main thread maps and unmaps a file ITERS times (the guard's
 * mmap/munmap wrappers, registry lock held across the real call); SIGALRM arrives every 200 us
 * and its handler cuts another mapped file and grows it back (a violation, log mode).
 * Prints "HANDLER runs=N" at the end; a deadlock shows as the test's timeout.
 */
#include "hard_common.h"

#include <signal.h>
#include <sys/time.h>

static int victim_fd = -1;
static size_t page;
static volatile sig_atomic_t runs, bad;

static void on_alarm(int sig)
{
	(void)sig;
	int saved = errno;
	if (ftruncate(victim_fd, 0) != 0 || ftruncate(victim_fd, (off_t)(2 * page)) != 0)
		bad = 1;
	runs = runs + 1;
	errno = saved;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s DIR ITERS\n", argv[0]);
		return 2;
	}
	page = hard_page();
	long iters = atol(argv[2]);
	char a[4096], b[4096];
	snprintf(a, sizeof a, "%s/looped", argv[1]);
	snprintf(b, sizeof b, "%s/victim", argv[1]);
	int fd = hard_make_file(a, (off_t)(2 * page));
	victim_fd = hard_make_file(b, (off_t)(2 * page));
	hard_map(victim_fd, 2 * page);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	HARD_CHECK(sigaction(SIGALRM, &sa, NULL) == 0, "sigaction");
	struct itimerval it = { { 0, 200 }, { 0, 200 } };
	HARD_CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0, "setitimer");
	for (long i = 0; i < iters; i++) {
		void *q = mmap(NULL, page, PROT_READ, MAP_SHARED, fd, 0);
		HARD_CHECK(q != MAP_FAILED, "mmap");
		HARD_CHECK(munmap(q, page) == 0, "munmap");
	}
	struct itimerval off = { { 0, 0 }, { 0, 0 } };
	setitimer(ITIMER_REAL, &off, NULL);
	HARD_CHECK(!bad, "a handler's ftruncate failed");
	hard_line("HANDLER runs=%d", (int)runs);
	hard_line("DONE");
	return 0;
}

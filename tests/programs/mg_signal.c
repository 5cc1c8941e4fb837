/*
 * mg_signal: descriptor calls from signal handlers while other threads work through the guard.
 *
 *   mg_signal churn DIR NTHREADS ITERS SIGNALS
 *       SIGALRM from an interval timer and SIGUSR1 from a sender thread (pthread_kill, SIGNALS
 *       times) run handlers that dup2/dup3/close/close_range descriptors and check every result,
 *       while NTHREADS threads map, remap, truncate (safely), open, dup2 and close files ITERS
 *       times each. Prints "usr1 N alrm M bad B errors E"; exits 0 iff B == E == 0.
 *
 *   mg_signal closeall DIR
 *       A mapped file is cut (a violation) before and after the program closes every descriptor
 *       3..1023 with close(), close_range(3, ~0U, 0) and closefrom(3), dup2()s over high
 *       descriptors, and does the same from a signal handler. Prints what each of its own calls
 *       returned; the output must be the same with and without the guard. The violations are
 *       on stdout as "cut K CALL SIZE_BEFORE SIZE_AFTER".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

static long page;
static const char *dir;
static int errors;

static void fail(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int e = errno;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	fprintf(stderr, "mg_signal: FAILED: %s (errno %d %s)\n", buf, e, strerror(e));
	__atomic_add_fetch(&errors, 1, __ATOMIC_RELAXED);
}

#define CHECK(cond, ...) do { if (!(cond)) fail(__VA_ARGS__); } while (0)
#define RETRY(expr) ({ long r_; do r_ = (long)(expr); while (r_ == -1 && errno == EINTR); r_; })

/* ---------------------------------------------------------------- churn ---- */

static int devnull;
static int usr1_count, alrm_count, bad;        /* atomics, updated in handlers */
static __thread int my_index = -1;     /* initial-exec TLS in the executable: handler-safe */
static int nthreads, iters, nsignals;
static int workers_done, sender_done;

/*
 * Each (thread, signal) pair owns one descriptor number, so concurrent handlers never share one:
 * workers are threads 0..n-1, the main thread n, the sender n+1.
 */
static int handler_fd(int sig)
{
	int base = 600 + (my_index + 1) * 4;
	return base + (sig == SIGALRM ? 0 : 1);
}

/* Which check failed, and what the call returned / errno said the last time. */
static int bad_at[8], bad_ret[8], bad_errno[8], bad_fd[8], bad_idx[8], bad_sig[8];

static void note_bad(int which, int r, int h, int sig)
{
	bad_fd[which] = h;
	bad_idx[which] = my_index;
	bad_sig[which] = sig;
	__atomic_add_fetch(&bad, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&bad_at[which], 1, __ATOMIC_RELAXED);
	bad_ret[which] = r;
	bad_errno[which] = errno;
}

static void handler(int sig)
{
	int saved = errno;
	int h = handler_fd(sig), r;
	if ((r = dup2(devnull, h)) != h)
		note_bad(0, r, h, sig);
	if ((r = dup3(devnull, h, O_CLOEXEC)) != h)
		note_bad(1, r, h, sig);
	if ((r = dup2(h, h)) != h)                      /* same fd: a no-op that returns it */
		note_bad(2, r, h, sig);
	if ((r = close(h)) != 0)
		note_bad(3, r, h, sig);
	errno = 0;
	if ((r = close(h)) != -1 || errno != EBADF)
		note_bad(4, r, h, sig);
	errno = 0;
	if ((r = close(-1)) != -1 || errno != EBADF)
		note_bad(5, r, h, sig);
	if ((r = dup2(devnull, h)) != h || (r = close_range((unsigned)h, (unsigned)h, 0)) != 0)
		note_bad(6, r, h, sig);
	if ((r = fcntl(h, F_GETFD)) != -1)              /* closed by close_range */
		note_bad(7, r, h, sig);
	__atomic_add_fetch(sig == SIGALRM ? &alrm_count : &usr1_count, 1, __ATOMIC_RELAXED);
	errno = saved;
}

/* Threads start with SIGALRM/SIGUSR1 blocked and take them once my_index names their own fds. */
static void set_handled(int how)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGALRM);
	sigaddset(&s, SIGUSR1);
	pthread_sigmask(how, &s, NULL);
}

static void unblock_handled(void) { set_handled(SIG_UNBLOCK); }

static void churn_cycle(int t, int i)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/s%d", dir, t);
	int fd = (int)RETRY(open(path, O_RDWR | O_CREAT | O_TRUNC, 0600));
	CHECK(fd >= 0, "open %s", path);
	if (fd < 0)
		return;
	long n = 2 + i % 5;
	CHECK(RETRY(ftruncate(fd, n * page)) == 0, "grow %s", path);
	unsigned char *p = mmap(NULL, (size_t)(n * page), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED, "mmap %s", path);
	if (p != MAP_FAILED) {
		unsigned char tag = (unsigned char)(t * 31 + i);
		memset(p, tag, (size_t)(n * page));
		unsigned char c = 0;
		CHECK(RETRY(pread(fd, &c, 1, n * page - 1)) == 1 && c == tag, "content of %s", path);
		/* drop the last page, shrink into the new last page: nothing endangered */
		CHECK(munmap(p + (n - 1) * page, (size_t)page) == 0, "munmap tail");
		CHECK(RETRY(ftruncate(fd, (n - 1) * page - 7)) == 0, "safe shrink %s", path);
		unsigned char *q = mremap(p, (size_t)((n - 1) * page), (size_t)((n + 2) * page), MREMAP_MAYMOVE);
		CHECK(q != MAP_FAILED, "mremap %s", path);
		if (q != MAP_FAILED)
			p = q;
		else
			n = n - 3;      /* unmap below what is still mapped */
		CHECK(RETRY(ftruncate(fd, (n + 2) * page)) == 0, "grow %s again", path);
		p[(n + 2) * page - 1] = 1;
		CHECK(munmap(p, (size_t)((n + 2) * page)) == 0, "munmap %s", path);
	}
	/* unmapped now: any cut is fine */
	CHECK(RETRY(ftruncate(fd, 0)) == 0, "cut unmapped %s", path);
	int own = 400 + t;
	CHECK(dup2(fd, own) == own, "dup2 %d -> %d", fd, own);
	int nd = (int)RETRY(open("/dev/null", O_RDONLY));
	CHECK(nd >= 0, "open /dev/null");
	if (nd >= 0)
		CHECK(close(nd) == 0, "close /dev/null");
	int fd2 = (int)RETRY(open(path, O_WRONLY | O_TRUNC));
	CHECK(fd2 >= 0, "open O_TRUNC %s", path);
	if (fd2 >= 0)
		CHECK(close(fd2) == 0, "close");
	struct stat st;
	CHECK(fstat(own, &st) == 0 && st.st_size == 0, "size of %s through the dup", path);
	CHECK(close(own) == 0, "close dup %d", own);
	CHECK(close(fd) == 0, "close %s", path);
}

static void *churn_worker(void *arg)
{
	my_index = (int)(intptr_t)arg;
	unblock_handled();
	char name[16];
	snprintf(name, sizeof name, "mg-churn-%d", my_index);
	prctl(PR_SET_NAME, name);
	for (int i = 0; i < iters; i++)
		churn_cycle(my_index, i);
	__atomic_add_fetch(&workers_done, 1, __ATOMIC_RELEASE);
	/* stay alive until every signal was sent, so none is lost with its target */
	while (!__atomic_load_n(&sender_done, __ATOMIC_ACQUIRE))
		usleep(1000);
	return NULL;
}

static pthread_t *workers;


static void *sender(void *arg)
{
	(void)arg;
	my_index = nthreads + 1;
	unblock_handled();
	prctl(PR_SET_NAME, "mg-sender");
	for (int k = 0; k < nsignals; k++) {
		int r = pthread_kill(workers[k % nthreads], SIGUSR1);
		CHECK(r == 0, "pthread_kill: %d", r);
		if (k % 64 == 0)
			sched_yield();
	}
	/* and keep the pressure on while the workers still run */
	while (__atomic_load_n(&workers_done, __ATOMIC_ACQUIRE) < nthreads)
		for (int t = 0; t < nthreads; t++)
			pthread_kill(workers[t], SIGUSR1);
	__atomic_store_n(&sender_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static int do_churn(int argc, char **argv)
{
	if (argc < 6)
		return 2;
	dir = argv[2];
	nthreads = atoi(argv[3]);
	iters = atoi(argv[4]);
	nsignals = atoi(argv[5]);
	devnull = open("/dev/null", O_RDWR);
	if (devnull < 0)
		return 2;
	my_index = nthreads;            /* workers 0..n-1, main n, sender n+1: one fd set each */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = handler;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = { { 0, 100 }, { 0, 100 } };      /* every 100 us */
	CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0, "setitimer");

	workers = calloc((size_t)nthreads, sizeof *workers);
	set_handled(SIG_BLOCK);                 /* inherited by the new threads */
	for (int t = 0; t < nthreads; t++)
		CHECK(pthread_create(&workers[t], NULL, churn_worker, (void *)(intptr_t)t) == 0, "pthread_create");
	pthread_t snd;
	CHECK(pthread_create(&snd, NULL, sender, NULL) == 0, "pthread_create sender");
	unblock_handled();
	/* the main thread works too, and takes its share of SIGALRM */
	for (int i = 0; i < iters; i++)
		churn_cycle(nthreads, i);
	pthread_join(snd, NULL);
	for (int t = 0; t < nthreads; t++)
		pthread_join(workers[t], NULL);
	/* only this thread is left: wait for the timer to hit it at least once */
	while (__atomic_load_n(&alrm_count, __ATOMIC_ACQUIRE) == 0)
		pause();
	struct itimerval off = { { 0, 0 }, { 0, 0 } };
	setitimer(ITIMER_REAL, &off, NULL);
	sigset_t all;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, NULL);
	printf("usr1 %d alrm %d bad %d errors %d\n", usr1_count, alrm_count, bad, errors);
	for (int i = 0; i < 8; i++)
		if (bad_at[i])
			fprintf(stderr, "mg_signal: handler check %d failed %d times (last: returned %d, "
				"errno %d %s; fd %d thread %d signal %d)\n", i, bad_at[i], bad_ret[i],
				bad_errno[i], strerror(bad_errno[i]), bad_fd[i], bad_idx[i], bad_sig[i]);
	printf("usr1>0 %d alrm>0 %d\n", usr1_count > 0, alrm_count > 0);
	return bad || errors ? 1 : 0;
}

/* ------------------------------------------------------------- closeall ---- */

static char victim[4096];
static int cuts;

/* A violation by path (no descriptor needed): the file is mapped, 8 pages, cut to fewer. */
static void cut(const char *what)
{
	struct stat st;
	CHECK(stat(victim, &st) == 0, "stat %s", victim);
	off_t to = st.st_size - page;
	errno = 0;
	int r = truncate(victim, to);
	int e = errno;
	printf("cut %d truncate %lld %lld ret %d errno %d (%s)\n", ++cuts, (long long)st.st_size,
	       (long long)to, r, r ? e : 0, what);
}

/* One line: which fds in [lo, hi] the call returned 0/fd for, and how many failed how. */
struct tally {
	char ok[8192];
	size_t len;
	int ebadf, other, last_other;
};

static void tally_add(struct tally *t, int fd, int r, int e, int want)
{
	if (r == want) {
		if (t->len < sizeof t->ok - 16)
			t->len += (size_t)snprintf(t->ok + t->len, sizeof t->ok - t->len, "%s%d",
						   t->len ? "," : "", fd);
	} else if (r == -1 && e == EBADF) {
		t->ebadf++;
	} else {
		t->other++;
		t->last_other = e;
	}
}

static void tally_print(const char *what, struct tally *t)
{
	printf("%s: ok [%s] ebadf %d other %d (errno %d)\n", what, t->ok, t->ebadf, t->other,
	       t->last_other);
}

static void close_all(const char *what)
{
	struct tally t = { .len = 0 };
	for (int fd = 3; fd <= 1023; fd++) {
		errno = 0;
		int r = close(fd);
		tally_add(&t, fd, r, errno, 0);
	}
	tally_print(what, &t);
}

static void dup2_all(const char *what, int from)
{
	struct tally t = { .len = 0 };
	int n = 0;
	for (int fd = 3; fd <= 1023; fd++) {
		if (fd == from)
			continue;
		errno = 0;
		int r = dup2(from, fd);
		if (r == fd)
			n++;
		else
			tally_add(&t, fd, r, errno, fd);
	}
	printf("%s: %d dup2 returned the target; others: ebadf %d other %d (errno %d)\n", what, n,
	       t.ebadf, t.other, t.last_other);
}

/* Opens a few descriptors so that the next bulk close has something to close. */
static void open_some(const char *what)
{
	int fds[6];
	for (int i = 0; i < 6; i++)
		fds[i] = open("/dev/null", O_RDONLY);
	int d1 = dup2(fds[0], 900);
	int d2 = dup2(fds[1], 901);
	int d3 = dup3(fds[2], 1000, O_CLOEXEC);
	printf("%s: open %d %d %d %d %d %d dup2 %d %d dup3 %d\n", what, fds[0], fds[1], fds[2],
	       fds[3], fds[4], fds[5], d1, d2, d3);
}

static volatile sig_atomic_t in_handler_done;

static void closing_handler(int sig)
{
	(void)sig;
	int saved = errno;
	/* close() everything, then close_range and closefrom over what is left */
	for (int fd = 3; fd <= 1023; fd++)
		close(fd);
	for (int fd = 3; fd <= 1023; fd++)
		dup2(2, fd);
	close_range(3, ~0U, 0);
	closefrom(3);
	in_handler_done = 1;
	errno = saved;
}

static int do_closeall(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	dir = argv[2];
	/* room above 1023 for the guard's descriptor, where the hard limit allows it */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4096 && rl.rlim_max > rl.rlim_cur) {
		rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	snprintf(victim, sizeof victim, "%s/victim", dir);
	int fd = open(victim, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0, "open %s", victim);
	CHECK(ftruncate(fd, 64 * page) == 0, "grow");
	/* mapped for the whole run; the descriptor goes with the bulk closes */
	void *p = mmap(NULL, (size_t)(64 * page), PROT_READ, MAP_SHARED, fd, 0);
	CHECK(p != MAP_FAILED, "mmap");
	printf("victim fd %d\n", fd);

	cut("first: opens the log");
	close_all("close 3..1023 #1");
	cut("after close()");

	open_some("reopen #1");
	errno = 0;
	int r = close_range(3, ~0U, 0);
	printf("close_range(3, ~0U, 0) = %d errno %d\n", r, r ? errno : 0);
	close_all("close 3..1023 after close_range");
	cut("after close_range");

	open_some("reopen #2");
	closefrom(3);
	close_all("close 3..1023 after closefrom");
	cut("after closefrom");

	open_some("reopen #3");
	errno = 0;
	r = close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
	printf("close_range(3, ~0U, CLOEXEC) = %d errno %d\n", r, r ? errno : 0);
	close_all("close 3..1023 after close_range CLOEXEC");
	cut("after close_range CLOEXEC");

	dup2_all("dup2 over 3..1023", 1);
	close_all("close 3..1023 after dup2");
	close_all("close 3..1023 again");
	cut("after dup2 over everything");

	open_some("reopen #4");
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = closing_handler;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	raise(SIGUSR1);
	printf("handler ran %d\n", (int)in_handler_done);
	close_all("close 3..1023 after the handler");
	cut("after the handler");

	dup2_all("dup2 over 3..1023 #2", 2);
	closefrom(3);
	close_all("close 3..1023 after dup2 + closefrom");
	cut("last");
	printf("errors %d\n", errors);
	return errors ? 1 : 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	page = sysconf(_SC_PAGESIZE);
	if (argc >= 2 && !strcmp(argv[1], "churn"))
		return do_churn(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "closeall"))
		return do_closeall(argc, argv);
	fprintf(stderr, "usage: mg_signal churn DIR NTHREADS ITERS SIGNALS | closeall DIR\n");
	return 2;
}

/*
 * hard_cancel DIR: pthread_cancel of threads inside open/close while others violate.
 *
 *   - threads blocked in open() of a FIFO (for reading, and for writing) are cancelled;
 *   - threads looping open/close, fopen/fclose of a mapped file (with MMAPGUARD_REOPEN=any every
 *     such open is a "reopen" report, so cancellation can hit them anywhere in the guard's path)
 *     are cancelled;
 *   - threads violating in a loop (ftruncate of their own mapped files) are cancelled;
 * then the main thread and a fresh thread violate: no deadlock, still reported.
 * A watchdog (alarm) turns a hang into SIGALRM.
 */
#include "hard_common.h"

#include <pthread.h>
#include <stdint.h>

static const char *dir;
static size_t page;
static char mapped_path[4096];
static char fifo_rd[4096], fifo_wr[4096];   /* nobody ever opens the other end of either */

#define NLOOP 3
#define NVIOL 2
#define ROUNDS 10
static unsigned long loops[NLOOP + NVIOL];

static void *fifo_reader(void *arg)
{
	int flags = (int)(intptr_t)arg;
	int fd = open(flags == O_RDONLY ? fifo_rd : fifo_wr, flags);   /* blocks for good */
	hard_line("FAIL fifo open returned %d", fd);
	_exit(99);
	return NULL;
}

static void *looper(void *arg)
{
	int id = (int)(intptr_t)arg;
	for (;;) {
		int fd = open(mapped_path, O_RDONLY);
		if (fd >= 0)
			close(fd);
		FILE *f = fopen(mapped_path, "r");
		if (f)
			fclose(f);
		fd = open(mapped_path, O_RDWR | O_CLOEXEC);
		if (fd >= 0)
			close(fd);
		__atomic_add_fetch(&loops[id], 1, __ATOMIC_RELAXED);
		pthread_testcancel();
	}
	return NULL;
}

static void *violator(void *arg)
{
	int id = (int)(intptr_t)arg;
	char path[4096];
	for (unsigned n = 0;; n++) {
		snprintf(path, sizeof path, "%s/viol_%d_%u", dir, id, n);
		int fd = hard_make_file(path, (off_t)(3 * page));
		char *p = hard_map(fd, 3 * page);
		/* The thread may be cancelled inside: the announcement comes after the call. */
		int r = ftruncate(fd, 0);
		if (r == 0)
			hard_line("MAYBE pid=%d tid=%d call=ftruncate path=%s before=%ld after=0", (int)getpid(),
				  (int)hard_tid(), path, (long)(3 * page));
		munmap(p, 3 * page);
		close(fd);
		__atomic_add_fetch(&loops[NLOOP + id], 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void *late_thread(void *arg)
{
	(void)arg;
	char path[4096];
	snprintf(path, sizeof path, "%s/late_thread", dir);
	int fd = hard_make_file(path, (off_t)(2 * page));
	char *p = hard_map(fd, 2 * page);
	hard_violate(fd, path, (off_t)(2 * page), 10, 0);
	munmap(p, 2 * page);
	close(fd);
	return NULL;
}

static void cancel_join(pthread_t t, const char *what)
{
	HARD_CHECK(pthread_cancel(t) == 0, "cancel %s", what);
	void *ret;
	HARD_CHECK(pthread_join(t, &ret) == 0, "join %s", what);
	HARD_CHECK(ret == PTHREAD_CANCELED, "%s was not cancelled", what);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	dir = argv[1];
	page = hard_page();
	alarm(60);
	snprintf(mapped_path, sizeof mapped_path, "%s/mapped", dir);
	snprintf(fifo_rd, sizeof fifo_rd, "%s/fifo_rd", dir);
	snprintf(fifo_wr, sizeof fifo_wr, "%s/fifo_wr", dir);
	HARD_CHECK(mkfifo(fifo_rd, 0600) == 0 && mkfifo(fifo_wr, 0600) == 0, "mkfifo");
	int mfd = hard_make_file(mapped_path, (off_t)(4 * page));
	char *mmain = hard_map(mfd, 4 * page);

	for (int round = 0; round < ROUNDS; round++) {
		pthread_t readers[4], loopers[NLOOP], violators[NVIOL];
		for (int i = 0; i < 4; i++)
			HARD_CHECK(pthread_create(&readers[i], NULL, fifo_reader,
						  (void *)(intptr_t)(i % 2 ? O_WRONLY : O_RDONLY)) == 0,
				   "create");
		for (int i = 0; i < NLOOP; i++)
			HARD_CHECK(pthread_create(&loopers[i], NULL, looper, (void *)(intptr_t)i) == 0, "create");
		for (int i = 0; i < NVIOL; i++)
			HARD_CHECK(pthread_create(&violators[i], NULL, violator, (void *)(intptr_t)i) == 0,
				   "create");
		/* let every thread get going (progress counters, not time) */
		unsigned long base[NLOOP + NVIOL];
		for (int i = 0; i < NLOOP + NVIOL; i++)
			base[i] = __atomic_load_n(&loops[i], __ATOMIC_RELAXED);
		for (int i = 0; i < NLOOP + NVIOL; i++)
			while (__atomic_load_n(&loops[i], __ATOMIC_RELAXED) < base[i] + 3)
				sched_yield();
		for (int i = 0; i < 4; i++)
			cancel_join(readers[i], "fifo opener");
		for (int i = 0; i < NLOOP; i++)
			cancel_join(loopers[i], "open/close looper");
		for (int i = 0; i < NVIOL; i++)
			cancel_join(violators[i], "violator");
		hard_line("ROUND %d cancelled", round);
	}

	/* Afterwards: the main thread and a new thread violate; both reported, nothing hangs. */
	hard_violate(mfd, mapped_path, (off_t)(4 * page), 0, 0);
	pthread_t t;
	HARD_CHECK(pthread_create(&t, NULL, late_thread, NULL) == 0, "create");
	pthread_join(t, NULL);
	munmap(mmain, 4 * page);
	hard_line("DONE");
	return 0;
}

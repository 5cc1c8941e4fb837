/*
 * libhard_early.so: a library whose constructor calls into the guard, possibly before the guard's
 * own constructor has run. Active only when HARD_EARLY_DIR is set. Its constructor
 *   - says whether the guard's constructor already ran ("EARLY guard_ctor_ran=0|1": the guard's
 *     constructor installs a SIGBUS handler, read here with the raw syscall),
 *   - maps a file and truncates it (ftruncate, then open O_TRUNC),
 *   - starts a thread that maps and truncates a file, and joins it,
 *   - starts a second thread that keeps violating while the other constructors (the guard's among
 *     them) run; it is joined by hard_early_finish() or the destructor,
 *   - maps a file that the program truncates later (hard_early_finish, from main): a window
 *     registered before the guard's constructor, cut after it.
 */
#include "hard_common.h"

#include <pthread.h>
#include <signal.h>

static const char *dir;
static size_t page;
static pthread_t bg;
static int bg_started, finished;
static char later_path[4096];
static int later_fd = -1;

static int guard_ctor_ran(void)
{
	struct {
		void *handler;
		unsigned long flags;
		void *restorer;
		unsigned long mask;
	} old;
	memset(&old, 0, sizeof old);
	if (syscall(SYS_rt_sigaction, SIGBUS, NULL, &old, 8) != 0)
		return -1;
	return old.handler != (void *)SIG_DFL;
}

static void cut_one(const char *name)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	int fd = hard_make_file(path, (off_t)(3 * page));
	char *p = hard_map(fd, 3 * page);
	hard_violate(fd, path, (off_t)(3 * page), 0, 0);
	munmap(p, 3 * page);
	close(fd);
}

static void *joined_thread(void *arg)
{
	(void)arg;
	cut_one("early_thread");
	return NULL;
}

static void *bg_thread(void *arg)
{
	(void)arg;
	for (int i = 0; i < 20; i++) {
		char name[64];
		snprintf(name, sizeof name, "early_bg_%d", i);
		cut_one(name);
	}
	return NULL;
}

__attribute__((constructor)) static void early_ctor(void)
{
	dir = getenv("HARD_EARLY_DIR");
	if (!dir)
		return;
	page = hard_page();
	hard_line("EARLY guard_ctor_ran=%d", guard_ctor_ran());
	cut_one("early_ctor");

	char path[4096];
	snprintf(path, sizeof path, "%s/early_ctor_open", dir);
	int fd = hard_make_file(path, (off_t)(3 * page));
	char *p = hard_map(fd, 3 * page);
	hard_expect("open", path, (long long)(3 * page), 0);
	int t = open(path, O_WRONLY | O_TRUNC);
	HARD_CHECK(t >= 0, "open O_TRUNC");
	close(t);
	munmap(p, 3 * page);
	close(fd);

	pthread_t th;
	HARD_CHECK(pthread_create(&th, NULL, joined_thread, NULL) == 0, "pthread_create");
	pthread_join(th, NULL);
	HARD_CHECK(pthread_create(&bg, NULL, bg_thread, NULL) == 0, "pthread_create");
	bg_started = 1;

	snprintf(later_path, sizeof later_path, "%s/early_later", dir);
	later_fd = hard_make_file(later_path, (off_t)(3 * page));
	hard_map(later_fd, 3 * page);
	hard_line("EARLY ctor done guard_ctor_ran=%d", guard_ctor_ran());
}

/* Called by the program's main (through dlsym): join, then cut the file mapped in the constructor. */
__attribute__((visibility("default"))) void hard_early_finish(void)
{
	if (!dir || finished)
		return;
	finished = 1;
	if (bg_started)
		pthread_join(bg, NULL);
	hard_violate(later_fd, later_path, (off_t)(3 * page), 1, 0);
	hard_line("EARLY finish guard_ctor_ran=%d", guard_ctor_ran());
}

__attribute__((destructor)) static void early_dtor(void)
{
	if (dir && !finished && bg_started)
		pthread_join(bg, NULL);
}

/*
 * hard_spawn DIR PHASES: children that run no atfork handler, and forks of a threaded process.
 *
 * PHASES is a comma list run in order, each followed by a violation in the parent:
 *   vfork      vfork children that close/dup2/close_range (as posix_spawn and python's subprocess
 *              do), exec /bin/true or _exit, and one that commits a violation itself
 *   spawn      posix_spawn with file actions (open, dup2, close, closefrom)
 *   fork       fork from a process whose worker threads map, violate and allocate meanwhile; every
 *              child violates on an inherited mapping and on a mapping of its own
 *   _fork      _Fork (no atfork handlers) from a single-threaded process; the child violates
 *   _fork_mt   _Fork while worker threads are busy inside the guard; the child violates
 *              (ftruncate and open are async-signal-safe: a _Fork child may call them)
 * Children get alarm() so that a hang shows as SIGALRM; the parent prints "CHILD_BAD ..." for a
 * child that did not exit as expected and "SUMMARY bad=N" at the end.
 */
#include "hard_common.h"

#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <sys/wait.h>

extern char **environ;

static const char *dir;
static size_t page;
static int bad;

/* The parent's mapped file: violations commit ftruncate(0) and then grow it back. */
static char mainpath[4096];
static int mainfd;
static char *mainmap;

static void main_violation(void)
{
	hard_violate(mainfd, mainpath, (off_t)(3 * page), 0, 0);
	if (ftruncate(mainfd, (off_t)(3 * page)) != 0)
		HARD_DIE("regrow");
}

static void check_child(pid_t pid, const char *what, int want_code)
{
	int st;
	pid_t r;
	while ((r = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
		;
	HARD_CHECK(r == pid, "waitpid %s", what);
	if (WIFEXITED(st) && WEXITSTATUS(st) == want_code)
		return;
	bad++;
	if (WIFSIGNALED(st))
		hard_line("CHILD_BAD %s pid=%d signal=%d", what, (int)pid, WTERMSIG(st));
	else
		hard_line("CHILD_BAD %s pid=%d exit=%d want=%d", what, (int)pid, WEXITSTATUS(st), want_code);
}

/* ---- worker threads: busy inside the guard while the main thread forks ---------------------- */

static volatile int stop_workers;
static pthread_t workers[3];
static int nworkers;

static void *worker(void *arg)
{
	int id = (int)(intptr_t)arg;
	char path[4096];
	snprintf(path, sizeof path, "%s/w%d", dir, id);
	int fd = hard_make_file(path, (off_t)(3 * page));
	char *p = hard_map(fd, 3 * page);
	for (unsigned n = 0; !__atomic_load_n(&stop_workers, __ATOMIC_ACQUIRE); n++) {
		if (id == 0 && n < 2000) {
			/* holds the report lock for a while */
			hard_violate(fd, path, (off_t)(3 * page), 0, 0);
			HARD_CHECK(ftruncate(fd, (off_t)(3 * page)) == 0, "regrow");
		} else {
			/* holds the registry lock: insert, overlap check, remove */
			char *q = mmap(NULL, page, PROT_READ, MAP_SHARED, fd, 0);
			if (q != MAP_FAILED)
				munmap(q, page);
		}
		void *m = malloc(1 << 20);
		free(m);
	}
	munmap(p, 3 * page);
	close(fd);
	return NULL;
}

static void start_workers(void)
{
	__atomic_store_n(&stop_workers, 0, __ATOMIC_RELEASE);
	nworkers = 3;
	for (int i = 0; i < nworkers; i++)
		HARD_CHECK(pthread_create(&workers[i], NULL, worker, (void *)(intptr_t)i) == 0, "create");
}

static void stop_all_workers(void)
{
	__atomic_store_n(&stop_workers, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < nworkers; i++)
		pthread_join(workers[i], NULL);
	nworkers = 0;
}

/* ---- phases ---------------------------------------------------------------------------------- */

static void phase_vfork(void)
{
	char vpath[4096];
	snprintf(vpath, sizeof vpath, "%s/vfork_victim", dir);
	int vfd = hard_make_file(vpath, (off_t)(3 * page));
	char *vmap = hard_map(vfd, 3 * page);
	int spare = open("/dev/null", O_RDONLY);
	HARD_CHECK(spare >= 0, "open /dev/null");
	for (int i = 0; i < 40; i++) {
		pid_t pid = vfork();
		if (pid == 0) {
			/* what posix_spawn and python's _posixsubprocess do between vfork and exec */
			dup2(spare, 40);
			close(40);
			dup2(spare, 0);
			if (i % 4 == 1)
				close_range(3, ~0u, 0);
			if (i % 4 == 2)
				closefrom(3);
			if (i % 2 == 0) {
				execl("/bin/true", "true", (char *)NULL);
				_exit(127);
			}
			_exit(7);
		}
		HARD_CHECK(pid > 0, "vfork");
		check_child(pid, "vfork", i % 2 == 0 ? 0 : 7);
	}
	/* a vfork child that violates: it shares our registry but not our descriptors */
	pid_t pid = vfork();
	if (pid == 0) {
		hard_violate(vfd, vpath, (off_t)(3 * page), 0, 0);
		_exit(0);
	}
	HARD_CHECK(pid > 0, "vfork");
	check_child(pid, "vfork-violation", 0);
	HARD_CHECK(ftruncate(vfd, (off_t)(3 * page)) == 0, "regrow");
	/* the parent's view of that file is unchanged: still mapped, still guarded */
	hard_violate(vfd, vpath, (off_t)(3 * page), 0, 0);
	munmap(vmap, 3 * page);
	close(vfd);
	close(spare);
}

static void phase_spawn(void)
{
	for (int i = 0; i < 30; i++) {
		posix_spawn_file_actions_t fa;
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_addopen(&fa, 5, "/dev/null", O_RDONLY, 0);
		posix_spawn_file_actions_adddup2(&fa, 5, 6);
		posix_spawn_file_actions_addclose(&fa, 5);
		if (i % 2)
			posix_spawn_file_actions_addclosefrom_np(&fa, 3);
		posix_spawnattr_t at;
		posix_spawnattr_init(&at);
		sigset_t none;
		sigemptyset(&none);
		posix_spawnattr_setsigmask(&at, &none);
		posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK);
		char *argv[] = { "sh", "-c", "exit 3", NULL };
		pid_t pid;
		int r = posix_spawn(&pid, "/bin/sh", &fa, &at, argv, environ);
		HARD_CHECK(r == 0, "posix_spawn: %d", r);
		check_child(pid, "posix_spawn", 3);
		posix_spawn_file_actions_destroy(&fa);
		posix_spawnattr_destroy(&at);
	}
}

/* In a fork child: the inherited mapping and one of its own. */
static void child_violations(int block_inherited)
{
	(void)block_inherited;
	hard_violate(mainfd, mainpath, (off_t)(3 * page), 0, 0);
	char path[4096];
	snprintf(path, sizeof path, "%s/child_%d", dir, (int)getpid());
	int fd = hard_make_file(path, (off_t)(2 * page));
	char *p = hard_map(fd, 2 * page);
	hard_violate(fd, path, (off_t)(2 * page), 1, 0);
	munmap(p, 2 * page);
	close(fd);
}

static void phase_fork(void)
{
	start_workers();
	for (int i = 0; i < 20; i++) {
		pid_t pid = fork();
		if (pid == 0) {
			alarm(10);
			child_violations(0);
			_exit(0);
		}
		HARD_CHECK(pid > 0, "fork");
		check_child(pid, "fork", 0);
		HARD_CHECK(ftruncate(mainfd, (off_t)(3 * page)) == 0, "regrow");
		if (bad >= 3)
			break;
	}
	stop_all_workers();
}

static void phase__fork(int threaded)
{
	if (threaded)
		start_workers();
	for (int i = 0; i < (threaded ? 40 : 10); i++) {
		pid_t pid = _Fork();
		if (pid == 0) {
			alarm(10);
			child_violations(0);
			_exit(0);
		}
		HARD_CHECK(pid > 0, "_Fork");
		check_child(pid, threaded ? "_Fork-threaded" : "_Fork", 0);
		HARD_CHECK(ftruncate(mainfd, (off_t)(3 * page)) == 0, "regrow");
		if (bad >= 3)
			break;          /* enough evidence; each hang costs the alarm's time */
	}
	if (threaded)
		stop_all_workers();
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s DIR vfork,spawn,fork,_fork,_fork_mt\n", argv[0]);
		return 2;
	}
	dir = argv[1];
	page = hard_page();
	snprintf(mainpath, sizeof mainpath, "%s/main_victim", dir);
	mainfd = hard_make_file(mainpath, (off_t)(3 * page));
	mainmap = hard_map(mainfd, 3 * page);
	main_violation();

	char *phases = strdup(argv[2]);
	for (char *save = NULL, *ph = strtok_r(phases, ",", &save); ph; ph = strtok_r(NULL, ",", &save)) {
		hard_line("PHASE %s", ph);
		if (strcmp(ph, "vfork") == 0)
			phase_vfork();
		else if (strcmp(ph, "spawn") == 0)
			phase_spawn();
		else if (strcmp(ph, "fork") == 0)
			phase_fork();
		else if (strcmp(ph, "_fork") == 0)
			phase__fork(0);
		else if (strcmp(ph, "_fork_mt") == 0)
			phase__fork(1);
		else
			HARD_DIE("unknown phase %s", ph);
		/* the parent is still guarded after the phase */
		main_violation();
	}
	free(phases);
	hard_line("SUMMARY bad=%d", bad);
	return bad ? 1 : 0;
}

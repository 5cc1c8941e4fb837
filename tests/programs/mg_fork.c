/*
 * mg_fork: fork, vfork and posix_spawn under the guard (run in block mode).
 *
 *   mg_fork fork DIR NFORKS
 *       A thread "mg-premap" maps DIR/inherited (4 pages, shared). Background threads keep working
 *       inside the guard (map, remap, safe shrink, unmap, cut) and one, "mg-pviolator", keeps
 *       cutting a mapped file of its own (refused each time), while the main thread forks NFORKS
 *       children. Each child maps a file of its own and cuts it (must be refused), cuts the
 *       inherited file (must be refused), unmaps its own file and cuts it again (must succeed),
 *       and exits 0. Prints "premap tid T", "child K pid P", "forks N ok M", "pviolator refused R",
 *       "final refused 1".
 *
 *   mg_fork spawn DIR
 *       Cuts a mapped file (refused) so that the guard's log is open; then a vfork child closes
 *       and dup2()s descriptors (among them the log's number) and execs "mg_fork exec-child", and
 *       posix_spawn runs it again; after each the parent cuts again (still refused and reported).
 *       Prints "parent pid P", "vfork status S", "spawn status S", the children's own lines and
 *       "parent refused R".
 *
 *   mg_fork exec-child DIR TAG
 *       Maps DIR/exec-TAG, cuts it (must be refused), prints "exec-child TAG pid P refused 1".
 *
 * Exit status 0 iff every check held; a child's non-zero exit status names its failed check.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static long page;
static const char *dir;
static int errors;
static int stop;

static void fail(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int e = errno;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	fprintf(stderr, "mg_fork: FAILED: %s (errno %d %s)\n", buf, e, strerror(e));
	__atomic_add_fetch(&errors, 1, __ATOMIC_RELAXED);
}

#define CHECK(cond, ...) do { if (!(cond)) fail(__VA_ARGS__); } while (0)

/* write(2) a line: no stdio in children of a multi-threaded parent. */
static void say(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n > 0 && write(1, buf, (size_t)n) != n)
		_exit(99);
}

/* A file of npages pages, mapped shared; returns the mapping, *fdp its descriptor. */
static unsigned char *map_new(const char *path, long npages, int *fdp)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return NULL;
	if (ftruncate(fd, npages * page) != 0) {
		close(fd);
		return NULL;
	}
	unsigned char *p = mmap(NULL, (size_t)(npages * page), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		close(fd);
		return NULL;
	}
	memset(p, 'm', (size_t)(npages * page));
	*fdp = fd;
	return p;
}

static int refused(int r)
{
	return r == -1 && errno == ETXTBSY;
}

/* ------------------------------------------------------------------ fork ---- */

static char inherited[4096];
static int inherited_fd = -1;
static pid_t premap_tid;

static void *premap(void *arg)
{
	(void)arg;
	prctl(PR_SET_NAME, "mg-premap");
	premap_tid = (pid_t)syscall(SYS_gettid);
	unsigned char *p = map_new(inherited, 4, &inherited_fd);
	CHECK(p != NULL, "map %s", inherited);
	return NULL;
}

static void *busy(void *arg)
{
	int t = (int)(intptr_t)arg;
	char name[16], path[4096];
	snprintf(name, sizeof name, "mg-busy-%d", t);
	prctl(PR_SET_NAME, name);
	snprintf(path, sizeof path, "%s/busy%d", dir, t);
	for (long i = 0; !__atomic_load_n(&stop, __ATOMIC_ACQUIRE); i++) {
		int fd;
		long n = 3 + i % 4;
		unsigned char *p = map_new(path, n, &fd);
		CHECK(p != NULL, "map %s", path);
		if (!p)
			continue;
		CHECK(munmap(p + (n - 1) * page, (size_t)page) == 0, "munmap tail");
		CHECK(ftruncate(fd, (n - 1) * page - 1) == 0, "safe shrink %s", path);
		unsigned char *q = mremap(p, (size_t)((n - 1) * page), (size_t)(n * page), MREMAP_MAYMOVE);
		CHECK(q != MAP_FAILED, "mremap");
		if (q == MAP_FAILED)
			q = p, n--;
		CHECK(ftruncate(fd, n * page) == 0, "grow %s", path);
		q[n * page - 1] = 'x';
		CHECK(munmap(q, (size_t)(n * page)) == 0, "munmap");
		CHECK(ftruncate(fd, 0) == 0, "cut unmapped %s", path);
		CHECK(close(fd) == 0, "close");
	}
	return NULL;
}

static int pviolator_refused;

static void *pviolator(void *arg)
{
	(void)arg;
	prctl(PR_SET_NAME, "mg-pviolator");
	char path[4096];
	snprintf(path, sizeof path, "%s/pvictim", dir);
	int fd;
	unsigned char *p = map_new(path, 4, &fd);
	CHECK(p != NULL, "map %s", path);
	if (!p)
		return NULL;
	do {
		int r = ftruncate(fd, page);
		if (refused(r))
			pviolator_refused++;
		else
			fail("pviolator: ftruncate of a mapped file returned %d", r);
		usleep(200);
	} while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE));
	CHECK(p[4 * page - 1] == 'm', "pvictim content");
	return NULL;
}

/* The forked child. Exit status: 0, or the number of the first failed check. */
static int child_main(int k)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/child%d", dir, k);
	int fd;
	unsigned char *p = map_new(path, 4, &fd);
	if (!p)
		return 20;
	if (!refused(ftruncate(fd, page)))
		return 21;
	if (!refused(ftruncate(inherited_fd, 0)))       /* mapped by the parent before fork */
		return 22;
	struct stat st;
	if (fstat(inherited_fd, &st) != 0 || st.st_size != 4 * page)
		return 23;
	if (p[4 * page - 1] != 'm')
		return 24;
	if (munmap(p, (size_t)(4 * page)) != 0)
		return 25;
	if (ftruncate(fd, 0) != 0)                      /* unmapped now */
		return 26;
	if (close(fd) != 0 || unlink(path) != 0)
		return 27;
	return 0;
}

static int do_fork(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	dir = argv[2];
	int nforks = atoi(argv[3]);
	snprintf(inherited, sizeof inherited, "%s/inherited", dir);
	pthread_t pm, bz[3], pv;
	pthread_create(&pm, NULL, premap, NULL);
	pthread_join(pm, NULL);
	say("premap tid %d\n", (int)premap_tid);
	for (int t = 0; t < 3; t++)
		pthread_create(&bz[t], NULL, busy, (void *)(intptr_t)t);
	pthread_create(&pv, NULL, pviolator, NULL);
	int ok = 0;
	for (int k = 0; k < nforks; k++) {
		pid_t pid = fork();
		if (pid < 0) {
			fail("fork");
			continue;
		}
		if (pid == 0)
			_exit(child_main(k));
		say("child %d pid %d\n", k, (int)pid);
		int st;
		CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
			ok++;
		else
			fail("child %d: status 0x%x", k, st);
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	for (int t = 0; t < 3; t++)
		pthread_join(bz[t], NULL);
	pthread_join(pv, NULL);
	say("forks %d ok %d\n", nforks, ok);
	say("pviolator refused %d\n", pviolator_refused);
	/* the parent's guard still works: the inherited file is still mapped here */
	int r = ftruncate(inherited_fd, 0);
	CHECK(refused(r), "final cut in the parent returned %d", r);
	say("final refused %d\n", refused(r));
	say("errors %d\n", errors);
	return errors ? 1 : 0;
}

/* ----------------------------------------------------------------- spawn ---- */

static unsigned char *victim;
static int victim_fd;
static int parent_refused;

static void parent_cut(const char *when)
{
	int r = ftruncate(victim_fd, page);
	CHECK(refused(r), "parent cut %s returned %d", when, r);
	if (refused(r))
		parent_refused++;
}

/* Reads what the child wrote into the pipe until EOF, and reaps it. */
static int collect(int rfd, pid_t pid, const char *what)
{
	char buf[1024];
	ssize_t n;
	size_t len = 0;
	while ((n = read(rfd, buf + len, sizeof buf - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = 0;
	close(rfd);
	int st;
	CHECK(waitpid(pid, &st, 0) == pid, "waitpid %s", what);
	say("%s pid %d output: %s", what, (int)pid, buf);
	say("%s status %d\n", what, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	return st;
}

static int do_spawn(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	dir = argv[2];
	/* whatever the caller left open must not reach the exec'd children */
	close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0)
		return 2;
	self[n] = 0;
	char path[4096];
	snprintf(path, sizeof path, "%s/pvictim", dir);
	victim = map_new(path, 4, &victim_fd);
	if (!victim)
		return 2;
	say("parent pid %d\n", (int)getpid());
	pthread_t bz[2];
	for (int t = 0; t < 2; t++)
		pthread_create(&bz[t], NULL, busy, (void *)(intptr_t)t);

	parent_cut("before vfork");        /* the log is open from here on */

	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	int pfd[2];
	CHECK(pipe2(pfd, O_CLOEXEC) == 0, "pipe");
	char *cargv[] = { self, "exec-child", (char *)dir, "vfork", NULL };
	pid_t pid = vfork();
	if (pid == 0) {
		/* only close/dup2/exec here: the memory is the parent's */
		int r1 = close(pfd[0]);
		int r2 = dup2(pfd[1], 1);
		int r3 = close(pfd[1]);
		int r4 = dup2(devnull, 900);        /* the guard's log number in the parent */
		int r5 = close(900);
		int r6 = dup2(devnull, 901);
		int r7 = dup3(devnull, 902, O_CLOEXEC);
		int r8 = close(victim_fd);          /* the parent's descriptor stays open */
		int r9 = close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
		say("vfork-child close %d dup2 %d close %d dup2-900 %d close-900 %d dup2-901 %d "
		    "dup3-902 %d close-victim %d close_range %d\n", r1, r2, r3, r4, r5, r6, r7, r8, r9);
		execve(self, cargv, environ);
		_exit(127);
	}
	CHECK(pid > 0, "vfork");
	close(pfd[1]);
	int st = collect(pfd[0], pid, "vfork");
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "vfork child status 0x%x", st);
	struct stat sb;
	CHECK(fstat(victim_fd, &sb) == 0 && sb.st_size == 4 * page, "victim fd after vfork");
	CHECK(fcntl(devnull, F_GETFD) == FD_CLOEXEC, "devnull after vfork");
	parent_cut("after vfork");

	CHECK(pipe2(pfd, O_CLOEXEC) == 0, "pipe");
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
	posix_spawn_file_actions_addclose(&fa, pfd[0]);
	posix_spawn_file_actions_addclose(&fa, pfd[1]);
	posix_spawn_file_actions_adddup2(&fa, devnull, 900);
	posix_spawn_file_actions_addclose(&fa, 900);
	char *sargv[] = { self, "exec-child", (char *)dir, "spawn", NULL };
	int r = posix_spawn(&pid, self, &fa, NULL, sargv, environ);
	CHECK(r == 0, "posix_spawn: %d", r);
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	if (r == 0) {
		st = collect(pfd[0], pid, "spawn");
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "spawned child status 0x%x", st);
	}
	parent_cut("after posix_spawn");

	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	for (int t = 0; t < 2; t++)
		pthread_join(bz[t], NULL);
	CHECK(victim[4 * page - 1] == 'm', "victim content");
	say("parent refused %d\n", parent_refused);
	say("errors %d\n", errors);
	return errors ? 1 : 0;
}

static int do_exec_child(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	/* what the exec inherited: stdin/out/err only (everything else was closed or close-on-exec) */
	char fds[256] = "";
	size_t len = 0;
	for (int fd = 3; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) != -1 && len < sizeof fds - 16)
			len += (size_t)snprintf(fds + len, sizeof fds - len, " %d", fd);
	say("exec-child %s inherited fds:%s\n", argv[3], len ? fds : " none");
	char path[4096];
	snprintf(path, sizeof path, "%s/exec-%s", argv[2], argv[3]);
	int fd;
	unsigned char *p = map_new(path, 4, &fd);
	if (!p)
		return 30;
	int r = ftruncate(fd, page);
	say("exec-child %s pid %d refused %d\n", argv[3], (int)getpid(), refused(r));
	if (!refused(r))
		return 31;
	if (p[4 * page - 1] != 'm')
		return 32;
	return 0;
}

int main(int argc, char **argv)
{
	page = sysconf(_SC_PAGESIZE);
	if (argc >= 2 && !strcmp(argv[1], "fork"))
		return do_fork(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "spawn"))
		return do_spawn(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "exec-child"))
		return do_exec_child(argc, argv);
	fprintf(stderr, "usage: mg_fork fork DIR NFORKS | spawn DIR | exec-child DIR TAG\n");
	return 2;
}

/*
 * hard_daemon DIR RESULTS VARIANT: a daemon that closes every descriptor, reopens stdin/out/err on
 * /dev/null, takes descriptor numbers the guard may have used for its log, and violates again.
 *
 *   VARIANT libc  the program's own descriptor operations go through libc (close loop,
 *                 close_range(0, ~0U, 0), closefrom, dup2 onto 900..909)
 *   VARIANT raw   the same, then the raw close_range syscall (the guard cannot see it) and raw dup3
 *                 of program files onto 900..909: the guard's log descriptor is gone and its number
 *                 belongs to the program
 *
 * RESULTS receives the results of every close()/close_range()/closefrom() check ("CLOSE fd rc errno"),
 * comparable with a run without the guard, and the EXPECT lines of the violations.
 * DIR/prog_N are the program's files: they must contain exactly what the program wrote.
 */
#include "hard_common.h"

#include <limits.h>
#include <sys/wait.h>

static size_t page;

static void write_str(int fd, const char *s)
{
	HARD_CHECK(write(fd, s, strlen(s)) == (ssize_t)strlen(s), "write");
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s DIR RESULTS libc|raw\n", argv[0]);
		return 2;
	}
	const char *dir = argv[1], *results = argv[2];
	int raw = strcmp(argv[3], "raw") == 0;
	page = hard_page();
	int res = open(results, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
	HARD_CHECK(res >= 0, "open results");
	hard_out_fd = res;

	/* A violation before anything is closed: the guard opens its log now. */
	char victim[4096];
	snprintf(victim, sizeof victim, "%s/victim", dir);
	int vfd = hard_make_file(victim, (off_t)(3 * page));
	char *map = hard_map(vfd, 3 * page);
	hard_violate(vfd, victim, (off_t)(3 * page), 0, 0);
	HARD_CHECK(ftruncate(vfd, (off_t)(3 * page)) == 0, "regrow");
	close(vfd);     /* the mapping stays; the fd is not needed */
	close(res);

	pid_t pid = fork();
	HARD_CHECK(pid >= 0, "fork");
	if (pid > 0) {
		int st;
		HARD_CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
		return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	}
	setsid();

	/* closefrom with a few descriptors of our own open */
	int a = open("/dev/null", O_RDONLY), b = dup(a), c = dup(a);
	closefrom(3);
	int after_closefrom[3] = { fcntl(a, F_GETFD), fcntl(b, F_GETFD), fcntl(c, F_GETFD) };
	int after_closefrom_errno = errno;

	/* The classic loop: results recorded, printed later (stdout is about to go) */
	static int rc[1024], er[1024];
	for (int fd = 0; fd < 1024; fd++) {
		errno = 0;
		rc[fd] = close(fd);
		er[fd] = rc[fd] < 0 ? errno : 0;
	}
	errno = 0;
	int cr = close_range(0, ~0u, 0);
	int cr_errno = cr < 0 ? errno : 0;

	/* stdin/out/err on /dev/null */
	int n0 = open("/dev/null", O_RDWR);
	int n1 = dup2(n0, 1), n2 = dup2(n0, 2);

	if (raw) {
		/* what a static helper or a raw syscall does: the guard cannot intercept it */
		syscall(SYS_close_range, 3u, ~0u, 0);
	}

	/* The program's files, at low numbers and on the numbers the guard's log may have had. */
	int prog[5];
	char path[4096];
	for (int i = 0; i < 5; i++) {
		snprintf(path, sizeof path, "%s/prog_%d", dir, i);
		prog[i] = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
		HARD_CHECK(prog[i] >= 0, "open %s", path);
		char line[64];
		snprintf(line, sizeof line, "program file %d opened as fd %d\n", i, prog[i]);
		write_str(prog[i], line);
	}
	for (int fd = 900; fd < 910; fd++) {
		int src = prog[fd % 5];
		int r = raw ? (int)syscall(SYS_dup3, src, fd, 0) : dup2(src, fd);
		HARD_CHECK(r == fd, "dup onto %d", fd);
	}

	res = open(results, O_WRONLY | O_APPEND);
	HARD_CHECK(res >= 0, "reopen results");
	hard_out_fd = res;
	hard_line("STD %d %d %d", n0, n1, n2);
	hard_line("CLOSEFROM %d %d %d %d", after_closefrom[0], after_closefrom[1], after_closefrom[2],
		  after_closefrom_errno);
	for (int fd = 0; fd < 1024; fd++)
		hard_line("CLOSE %d %d %d", fd, rc[fd], er[fd]);
	hard_line("CLOSE_RANGE %d %d", cr, cr_errno);

	/* The daemon violates: the record must reach the log file, never the program's files. */
	vfd = open(victim, O_RDWR);
	HARD_CHECK(vfd >= 0, "reopen victim");
	hard_violate(vfd, victim, (off_t)(3 * page), 1, 0);
	HARD_CHECK(ftruncate(vfd, (off_t)(3 * page)) == 0, "regrow");
	/* and through O_TRUNC */
	hard_expect("open", victim, (long long)(3 * page), 0);
	int t = open(victim, O_WRONLY | O_TRUNC);
	HARD_CHECK(t >= 0, "open O_TRUNC");
	close(t);

	for (int fd = 900; fd < 910; fd++) {
		char line[64];
		snprintf(line, sizeof line, "program line via fd %d\n", fd);
		write_str(fd, line);
	}
	for (int i = 0; i < 5; i++)
		write_str(prog[i], "program end\n");
	munmap(map, 3 * page);
	hard_line("DONE");
	return 0;
}

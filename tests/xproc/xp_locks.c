/*
 * A process holding a POSIX record lock on a file keeps it whatever the guard does: closing any
 * descriptor of a file releases all of a process's record locks on it, so the guard must never
 * close one of its own there.
 *   xp_locks DIR fcntl|lockf map|truncate|otrunc|forkmap|mapexec|keptclose
 * Locks DIR/f (a read lock with fcntl, or a write lock with lockf), then maps it (a lease attempt
 * under MMAPGUARD_LEASES=watch), shrinks it by path (the guard's lease proof) or opens it with
 * O_TRUNC through a second descriptor; after each step a forked child asks F_GETLK and prints
 * "STEP locked" or "STEP lost". forkmap: a forked child (which holds none of the locks) maps the
 * file and says whether a lease of its process is on it ("child lease yes|no", from /proc/locks).
 * mapexec: maps the file (a lease, in watch mode), then locks it, then execs itself keeping its
 * locked descriptor ("execed locked|lost": the lock is the process's, across exec). keptclose:
 * maps the file, locks it, has a child open it for writing (breaking a lease, in watch mode), then
 * closes every descriptor above its own with close_range ("closed locked|lost").
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *file;

static void probe(const char *step)
{
	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		int fd = open(file, O_RDWR);
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
		if (fd < 0 || fcntl(fd, F_GETLK, &fl) < 0)
			_exit(2);
		printf("%s %s\n", step, fl.l_type == F_UNLCK ? "lost" : "locked");
		fflush(stdout);
		_exit(0);
	}
	int st;
	if (c < 0 || waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		exit(2);
}

int main(int argc, char **argv)
{
	if (argc != 4)
		return 2;
	char path[4096];
	snprintf(path, sizeof path, "%s/f", argv[1]);
	file = path;
	if (strcmp(argv[3], "execed") == 0) {
		probe("execed");
		return 0;
	}
	int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
	char buf[16384];
	memset(buf, 'a', sizeof buf);
	if (fd < 0 || write(fd, buf, sizeof buf) != (ssize_t)sizeof buf)
		return 2;
	bool map_first = strcmp(argv[3], "mapexec") == 0 || strcmp(argv[3], "keptclose") == 0;
	if (strcmp(argv[3], "forkmap") == 0 || map_first) {   /* a lease needs no writer */
		close(fd);
		fd = open(file, O_RDONLY);
	}
	if (map_first && mmap(NULL, sizeof buf, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED)
		return 2;
	if (strcmp(argv[2], "lockf") == 0) {
		if (lseek(fd, 0, SEEK_SET) != 0 || lockf(fd, F_LOCK, 1) != 0)
			return 2;
	} else {
		struct flock fl = { .l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
		if (fcntl(fd, F_SETLK, &fl) != 0)
			return 2;
	}
	probe("locked");
	if (strcmp(argv[3], "keptclose") == 0) {
		fflush(stdout);
		pid_t c = fork();
		if (c == 0) {
			int w = open(file, O_WRONLY);   /* waits for a lease's holder to let it go */
			_exit(w < 0 ? 2 : 0);
		}
		int st;
		if (c < 0 || waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			return 2;
		if (close_range((unsigned)fd + 1, ~0u, 0) != 0)
			return 2;
		probe("closed");
	} else if (map_first) {
		fflush(stdout);
		execl("/proc/self/exe", argv[0], argv[1], argv[2], "execed", (char *)NULL);
		return 2;
	} else if (strcmp(argv[3], "forkmap") == 0) {
		fflush(stdout);
		pid_t c = fork();
		if (c == 0) {
			struct stat st;
			int ro = open(file, O_RDONLY);
			if (ro < 0 || fstat(ro, &st) < 0 ||
			    mmap(NULL, sizeof buf, PROT_READ, MAP_SHARED, ro, 0) == MAP_FAILED)
				_exit(2);
			close(ro);
			char want[64], line[512];
			snprintf(want, sizeof want, ":%lu ", (unsigned long)st.st_ino);
			FILE *f = fopen("/proc/locks", "r");
			bool lease = false;
			while (f && fgets(line, sizeof line, f))
				if (strstr(line, "LEASE") && strstr(line, want) &&
				    atoi(strstr(line, "READ") ? strstr(line, "READ") + 5 : "0") == (int)getpid())
					lease = true;
			printf("child lease %s\n", lease ? "yes" : "no");
			fflush(stdout);
			_exit(0);
		}
		int st;
		if (c < 0 || waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			return 2;
		probe("forked");
	} else if (strcmp(argv[3], "map") == 0) {
		int ro = open(file, O_RDONLY);
		if (ro < 0 || mmap(NULL, sizeof buf, PROT_READ, MAP_SHARED, ro, 0) == MAP_FAILED)
			return 2;
		probe("mapped");        /* ro stays open: the program's own close would release them */
	} else if (strcmp(argv[3], "truncate") == 0) {
		if (truncate(file, 100) != 0)
			return 2;
		probe("truncated");
	} else {
		int t = open(file, O_WRONLY | O_TRUNC);
		if (t < 0)
			return 2;
		probe("reopened");
	}
	return 0;
}

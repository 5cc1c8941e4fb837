/*
 * A process that maps a file and obeys one-word commands on stdin, answering on stdout, so that a
 * test can run a cutter at a known point of its life (no sleeps):
 *   touch OFF   read the byte at file offset OFF of the mapping ("ok N"; a cut page: SIGBUS)
 *   fork        fork; the child keeps the inherited mapping and waits ("child PID")
 *   unmap       unmap the window ("unmapped")
 *   exec        "exec", then exec /bin/cat (the mapping goes with the old image), which echoes
 *   dlopen LIB  dlopen(LIB, RTLD_NOW) ("loaded")
 *   mapmany P N map the files P0 .. P<N-1> whole, as the first file ("mapped N")
 *   cut N       truncate the file to N bytes itself ("cut")
 *   fill        write the file's first bytes again, as the tests make them ("filled")
 *   remap       unmap the window and map the file's first bytes again, as many as at the start,
 *               whatever its size now ("remapped")
 *   exit        exit 0 (a forked child is told to exit first)
 * Starts with "ready PID" once the file is mapped.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static __attribute__((noinline)) void *map_len(const char *path, size_t len)
{
	int fd = open(path, O_RDONLY);
	void *p = fd < 0 ? MAP_FAILED : mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		perror(path);
		exit(2);
	}
	close(fd);
	return p;
}

static void fill(const char *path, size_t len)
{
	int fd = open(path, O_WRONLY);
	for (size_t i = 0; fd >= 0 && i < len; i++) {
		unsigned char c = (unsigned char)(i * 7);
		if (pwrite(fd, &c, 1, (off_t)i) != 1)
			exit(2);
	}
	if (fd < 0 || close(fd) < 0)
		exit(2);
}

static __attribute__((noinline)) void *map_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		perror(path);
		exit(2);
	}
	*len = (size_t)st.st_size;
	void *p = mmap(NULL, *len, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}
	close(fd);
	return p;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: xp_victim FILE\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	setvbuf(stdin, NULL, _IONBF, 0);        /* what follows "exec" is for the new image */
	size_t len;
	volatile unsigned char *p = map_file(argv[1], &len);
	printf("ready %d\n", (int)getpid());
	char line[128];
	int child_pipe[2] = { -1, -1 };
	pid_t child = 0;
	while (fgets(line, sizeof line, stdin)) {
		if (strncmp(line, "touch ", 6) == 0) {
			size_t off = strtoul(line + 6, NULL, 0);
			printf("ok %u\n", (unsigned)p[off]);
		} else if (strcmp(line, "fork\n") == 0) {
			int ready[2];
			if (pipe(child_pipe) < 0 || pipe(ready) < 0)
				return 2;
			child = fork();
			if (child == 0) {
				char c;
				close(child_pipe[1]);
				close(ready[0]);
				(void)!write(ready[1], "r", 1);
				/* the parent closes its end (or dies): then the child goes too */
				while (read(child_pipe[0], &c, 1) > 0)
					;
				_exit(p[0] == 0xff && p[1] == 0xff);  /* the inherited mapping is still readable */
			}
			char c;
			close(ready[1]);
			close(child_pipe[0]);
			(void)!read(ready[0], &c, 1);
			close(ready[0]);
			printf("child %d\n", (int)child);
		} else if (strcmp(line, "unmap\n") == 0) {
			munmap((void *)p, len);
			printf("unmapped\n");
		} else if (strcmp(line, "exec\n") == 0) {
			printf("exec\n");
			execl("/bin/cat", "cat", (char *)NULL);
			return 2;
		} else if (strncmp(line, "dlopen ", 7) == 0) {
			line[strcspn(line, "\n")] = 0;
			printf("%s\n", dlopen(line + 7, RTLD_NOW) ? "loaded" : dlerror());
		} else if (strncmp(line, "mapmany ", 8) == 0) {
			char prefix[96], name[128];
			unsigned n = 0;
			if (sscanf(line + 8, "%95s %u", prefix, &n) != 2)
				return 2;
			for (unsigned i = 0; i < n; i++) {
				size_t l;
				snprintf(name, sizeof name, "%s%u", prefix, i);
				map_file(name, &l);
			}
			printf("mapped %u\n", n);
		} else if (strncmp(line, "cut ", 4) == 0) {
			if (truncate(argv[1], (off_t)strtoul(line + 4, NULL, 0)) < 0)
				return 2;
			printf("cut\n");
		} else if (strcmp(line, "fill\n") == 0) {
			fill(argv[1], len);
			printf("filled\n");
		} else if (strcmp(line, "remap\n") == 0) {
			munmap((void *)p, len);
			p = map_len(argv[1], len);
			printf("remapped\n");
		} else if (strcmp(line, "exit\n") == 0) {
			break;
		}
	}
	if (child > 0) {
		close(child_pipe[1]);
		waitpid(child, NULL, 0);
	}
	return 0;
}

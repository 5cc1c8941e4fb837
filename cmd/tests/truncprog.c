/*
 * truncprog [--fork] [--second] FILE: map FILE (4 pages) and cut it to 0 with ftruncate at the
 * line marked CUT_SITE, then exit 0. --fork: a child process does the same first (same stack,
 * another pid), the parent waits for it. --second: afterwards, map again and cut with truncate()
 * at the line marked SECOND_SITE. Prints one line per cut: "cut <pid> <ftruncate result>".
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define SIZE 16384

static void *map_file(const char *path, int *fdp)
{
	int fd = open(path, O_RDWR | O_CREAT, 0644);
	if (fd < 0 || ftruncate(fd, SIZE) != 0) {
		perror(path);
		exit(90);
	}
	void *p = mmap(NULL, SIZE, PROT_READ, MAP_SHARED, fd, 0);      /* MAP_SITE */
	if (p == MAP_FAILED) {
		perror("mmap");
		exit(91);
	}
	*fdp = fd;
	return p;
}

__attribute__((noinline)) static int cut(int fd)
{
	int r = ftruncate(fd, 0);       /* CUT_SITE */
	__asm__ volatile("" ::: "memory");
	return r;
}

__attribute__((noinline)) static int cut_by_path(const char *path)
{
	int r = truncate(path, 0);      /* SECOND_SITE */
	__asm__ volatile("" ::: "memory");
	return r;
}

static void one(const char *path)
{
	int fd;
	void *p = map_file(path, &fd);
	int r = cut(fd);
	printf("cut %d %d\n", (int)getpid(), r);
	fflush(stdout);
	munmap(p, SIZE);
	close(fd);
}

int main(int argc, char **argv)
{
	int forking = 0, second = 0, i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--fork") == 0)
			forking = 1;
		else if (strcmp(argv[i], "--second") == 0)
			second = 1;
	}
	if (i != argc - 1) {
		fprintf(stderr, "usage: truncprog [--fork] [--second] FILE\n");
		return 2;
	}
	const char *path = argv[i];
	/* With --fork the child cuts first, then the parent: both from the same line of main. */
	for (int round = forking ? 0 : 1; round < 2; round++) {
		pid_t pid = -1;
		if (round == 0) {
			pid = fork();
			if (pid < 0)
				return 92;
			if (pid > 0) {
				int st;
				if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
					return 93;
				continue;
			}
		}
		one(path);
		if (pid == 0)
			_exit(0);
	}
	if (second) {
		int fd;
		void *p = map_file(path, &fd);
		int r = cut_by_path(path);
		printf("cut %d %d\n", (int)getpid(), r);
		munmap(p, SIZE);
		close(fd);
	}
	return 0;
}

/*
 * faultprog FILE: map FILE (4 pages), cut it to 0 (the line marked as the cut site), then touch
 * the mapping (the line marked as the fault site): dies of SIGBUS.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#define SIZE 16384

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	int fd = open(argv[1], O_RDWR | O_CREAT, 0644);
	if (fd < 0 || ftruncate(fd, SIZE) != 0)
		return 90;
	volatile char *p = mmap(NULL, SIZE, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return 91;
	ftruncate(fd, 0);       /* CUT_SITE */
	return p[SIZE / 2];     /* FAULT_SITE */
}

/*
 * edge_paths CASE FILE: maps FILE (created, 3 pages), cuts it to 0 from a function with a very long
 * name, then touches the mapping and dies of SIGBUS: the truncate and sigbus records must carry
 * FILE's path whole and exactly, the right file_status, and the function's whole name.
 *   present    the file stays where it is
 *   unlinked   the file is unlinked after the cut
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define LONG_NAME \
	cut_the_file_from_a_function_whose_name_is_much_longer_than_one_hundred_and_thirty_characters_\
as_generated_cxx_template_names_often_are_in_real_programs_that_map_files_and_truncate_them_later

__attribute__((noinline)) int LONG_NAME(int fd)
{
	int r = ftruncate(fd, 0);
	__asm__ volatile("" ::: "memory");
	return r;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	int fd = open(argv[2], O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || ftruncate(fd, (off_t)(3 * page)) != 0) {
		printf("FAIL create\n");
		return 99;
	}
	volatile char *m = mmap(NULL, 3 * page, PROT_READ, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		printf("FAIL mmap\n");
		return 99;
	}
	if (LONG_NAME(fd) != 0) {
		printf("FAIL cut\n");
		return 99;
	}
	if (strcmp(argv[1], "unlinked") == 0 && unlink(argv[2]) != 0) {
		printf("FAIL unlink\n");
		return 99;
	}
	printf("TOUCH\n");
	fflush(stdout);
	return m[page];
}

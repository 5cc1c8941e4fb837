/*
 * hard_preinit DIR [block]: the first call into the guard comes from the program's preinit_array, which
 * runs before every shared object's constructor (the guard's too). The preinit function maps a
 * file and truncates it, starts nothing; it also maps a second file that main() cuts later.
 */
#include "hard_common.h"

#include <signal.h>

static size_t page;
static char later_path[4096];
static int later_fd = -1;
static int ran;
static int block;

static void preinit(int argc, char **argv, char **envp)
{
	(void)envp;
	if (argc < 2)
		return;
	ran = 1;
	block = argc == 3 && strcmp(argv[2], "block") == 0;
	page = hard_page();
	struct {
		void *handler;
		unsigned long flags;
		void *restorer;
		unsigned long mask;
	} old;
	memset(&old, 0, sizeof old);
	syscall(SYS_rt_sigaction, SIGBUS, NULL, &old, 8);
	hard_line("PREINIT guard_ctor_ran=%d", old.handler != (void *)SIG_DFL);
	char path[4096];
	snprintf(path, sizeof path, "%s/preinit_cut", argv[1]);
	int fd = hard_make_file(path, (off_t)(3 * page));
	char *p = hard_map(fd, 3 * page);
	hard_violate(fd, path, (off_t)(3 * page), 0, block);
	munmap(p, 3 * page);
	close(fd);
	snprintf(later_path, sizeof later_path, "%s/preinit_later", argv[1]);
	later_fd = hard_make_file(later_path, (off_t)(3 * page));
	hard_map(later_fd, 3 * page);
}

__attribute__((section(".preinit_array"), used)) static void (*const preinit_entry)(int, char **,
									     char **) = preinit;

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: %s DIR [block]\n", argv[0]);
		return 2;
	}
	HARD_CHECK(ran, "the preinit function did not run");
	hard_violate(later_fd, later_path, (off_t)(3 * page), 0, block);
	char path[4096];
	snprintf(path, sizeof path, "%s/main_cut", argv[1]);
	int fd = hard_make_file(path, (off_t)(2 * page));
	char *p = hard_map(fd, 2 * page);
	hard_violate(fd, path, (off_t)(2 * page), 0, block);
	munmap(p, 2 * page);
	close(fd);
	hard_line("DONE");
	return 0;
}

/*
 * hard_secure DIR: run as a setuid-root copy by an unprivileged user (secure execution).
 * Says whether it is in secure-execution mode and whether the guard is loaded, then violates once.
 */
#include "hard_common.h"

#include <dlfcn.h>
#include <sys/auxv.h>

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	size_t page = hard_page();
	hard_line("SECURE at_secure=%lu ruid=%d euid=%d guard=%d", getauxval(AT_SECURE), (int)getuid(),
		  (int)geteuid(), dlsym(RTLD_DEFAULT, "mmapguard_get_mode") != NULL);
	char path[4096];
	snprintf(path, sizeof path, "%s/secure_victim", argv[1]);
	int fd = hard_make_file(path, (off_t)(3 * page));
	char *p = hard_map(fd, 3 * page);
	hard_violate(fd, path, (off_t)(3 * page), 0, 0);
	munmap(p, 3 * page);
	close(fd);
	hard_line("DONE");
	return 0;
}

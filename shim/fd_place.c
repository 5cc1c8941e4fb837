#define _GNU_SOURCE
#include "fd_place.h"
#include "real.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/resource.h>
#include <sys/syscall.h>

/*
 * A copy of fd at a number the program does not get. Its soft RLIMIT_NOFILE is the first number it
 * can never be given: the limit is raised for the one dup and put back, so the program keeps every
 * number below it and as many descriptors before EMFILE. When the hard limit leaves no room, the
 * highest free numbers below the soft limit (the program then has fewer before EMFILE). A soft
 * limit above MG_FD_FAR is not followed (every fork copies a table as long as the highest open
 * descriptor): MG_FD_FAR and up then. -errno if no copy could be made.
 */
long mg_fd_place_copy(int fd, bool cloexec)
{
	int cmd = cloexec ? F_DUPFD_CLOEXEC : F_DUPFD;
	struct rlimit rl;
	if (MG_SYS4(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, &rl) < 0)
		return MG_SYS3(SYS_fcntl, fd, cmd, MG_FD_FAR);
	if (rl.rlim_cur > MG_FD_FAR)
		return MG_SYS3(SYS_fcntl, fd, cmd, MG_FD_FAR);
	long r = -EMFILE;
	if (rl.rlim_cur < rl.rlim_max) {
		struct rlimit up = { rl.rlim_cur + MG_GUARD_FDS_MAX, rl.rlim_max };
		if (up.rlim_cur > rl.rlim_max)
			up.rlim_cur = rl.rlim_max;
		if (MG_SYS4(SYS_prlimit64, 0, RLIMIT_NOFILE, &up, NULL) == 0) {
			r = MG_SYS3(SYS_fcntl, fd, cmd, rl.rlim_cur);
			MG_SYS4(SYS_prlimit64, 0, RLIMIT_NOFILE, &rl, NULL);
		}
	}
	for (long n = (long)rl.rlim_cur - 1; r < 0 && n > fd && n >= (long)rl.rlim_cur - 2L * MG_GUARD_FDS_MAX; n--)
		r = MG_SYS3(SYS_fcntl, fd, cmd, n);
	return r;
}

int mg_fd_place(int fd, bool cloexec)
{
	long high = mg_fd_place_copy(fd, cloexec);
	if (high < 0)
		return fd;
	MG_SYS1(SYS_close, fd);
	return (int)high;
}

/* No descriptor of the guard's was ever below this: close() of a lower number costs one compare. */
int mg_guard_fd_min = INT_MAX;

void mg_guard_fd_note(int fd)
{
	int cur = __atomic_load_n(&mg_guard_fd_min, __ATOMIC_RELAXED);
	while (fd < cur && !__atomic_compare_exchange_n(&mg_guard_fd_min, &cur, fd, false, __ATOMIC_ACQ_REL,
							 __ATOMIC_RELAXED))
		;
}

#define _GNU_SOURCE
#include "guard_fds.h"
#include "fd_place.h"
#include "lease.h"
#include "log.h"

/* Besides the log: libunwind's pipe ends. */
static int extra_fds[MG_GUARD_FDS - 1] = { -1, -1, -1 };

void mg_guard_fd_add(int fd)
{
	mg_guard_fd_note(fd);
	for (int i = 0; i < MG_GUARD_FDS - 1; i++) {
		int expect = -1;
		if (__atomic_compare_exchange_n(&extra_fds[i], &expect, fd, false, __ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED))
			return;
	}
}

/* The program dup2()s onto one of libunwind's pipe ends: the number is the program's now. */
bool mg_guard_fd_release(int fd)
{
	if (fd < __atomic_load_n(&mg_guard_fd_min, __ATOMIC_ACQUIRE) || !mg_log_owner())
		return false;
	mg_lease_fd_release(fd);
	for (int i = 0; i < MG_GUARD_FDS - 1; i++) {
		int expect = fd;
		if (__atomic_compare_exchange_n(&extra_fds[i], &expect, -1, false, __ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED))
			return true;
	}
	return false;
}

bool mg_guard_fd_owned(int fd)
{
	if (fd < __atomic_load_n(&mg_guard_fd_min, __ATOMIC_ACQUIRE))
		return false;
	bool ours = fd == mg_log_fd();
	for (int i = 0; i < MG_GUARD_FDS - 1 && !ours; i++)
		ours = fd == __atomic_load_n(&extra_fds[i], __ATOMIC_ACQUIRE);
	return (ours || mg_lease_fd_owned(fd)) && mg_log_owner();
}

int mg_guard_fds_owned(int out[MG_GUARD_FDS_MAX])
{
	int n = 0, fd = mg_log_fd();
	if (fd >= 0)
		out[n++] = fd;
	for (int i = 0; i < MG_GUARD_FDS - 1; i++)
		if ((fd = __atomic_load_n(&extra_fds[i], __ATOMIC_ACQUIRE)) >= 0)
			out[n++] = fd;
	n += mg_lease_fds_owned(out + n, MG_LEASE_MAX + MG_LEASE_KEPT_MAX);
	if (n == 0 || !mg_log_owner())
		return 0;
	for (int i = 1; i < n; i++)             /* insertion sort: a few, sorted leases */
		for (int j = i; j > 0 && out[j - 1] > out[j]; j--) {
			int t = out[j];
			out[j] = out[j - 1];
			out[j - 1] = t;
		}
	return n;
}

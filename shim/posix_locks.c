#define _GNU_SOURCE
#include "posix_locks.h"
#include "real.h"

#include <sys/stat.h>
#include <sys/syscall.h>

/*
 * The descriptors the program took record locks through (+1: 0 is a free entry); which file each
 * shows is asked only when the guard is about to close a descriptor of its own, so a lock call
 * costs no system call. Listing by descriptor is exact: a close of any descriptor of the file
 * released the locks, and a number reused for another file only makes the guard more careful.
 */
#define LOCKED_MAX 64
static int lock_fds[LOCKED_MAX];
static int any, overflow;

bool mg_posix_locks_any(void)
{
	return __atomic_load_n(&any, __ATOMIC_ACQUIRE) != 0;
}

bool mg_posix_locked(dev_t dev, ino_t ino)
{
	if (mg_likely(!__atomic_load_n(&any, __ATOMIC_ACQUIRE)))
		return false;
	if (__atomic_load_n(&overflow, __ATOMIC_ACQUIRE))
		return true;
	for (int i = 0; i < LOCKED_MAX; i++) {
		int fd = __atomic_load_n(&lock_fds[i], __ATOMIC_ACQUIRE) - 1;
		struct stat st;
		if (fd >= 0 && MG_SYS2(SYS_fstat, fd, &st) == 0 && st.st_dev == dev && st.st_ino == ino)
			return true;
	}
	return false;
}

void mg_posix_locks_atfork_child(void)
{
	for (int i = 0; i < LOCKED_MAX; i++)
		__atomic_store_n(&lock_fds[i], 0, __ATOMIC_RELAXED);
	__atomic_store_n(&overflow, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&any, 0, __ATOMIC_RELEASE);
}

void mg_posix_lock_taken(int fd)
{
	__atomic_store_n(&any, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < LOCKED_MAX; i++)
		if (__atomic_load_n(&lock_fds[i], __ATOMIC_ACQUIRE) == fd + 1)
			return;
	for (int i = 0; i < LOCKED_MAX; i++) {
		int expect = 0;
		if (__atomic_compare_exchange_n(&lock_fds[i], &expect, fd + 1, false, __ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED))
			return;
	}
	__atomic_store_n(&overflow, 1, __ATOMIC_RELEASE);       /* 64 descriptors: every file counts */
}

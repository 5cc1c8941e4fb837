#define _GNU_SOURCE
#include "posix_locks.h"
#include "real.h"

#include <sys/stat.h>
#include <sys/syscall.h>

#define LOCKED_MAX 64
/* state: 0 free, 1 being written, 2 listed */
static struct { int state; dev_t dev; ino_t ino; } locked[LOCKED_MAX];
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
	for (int i = 0; i < LOCKED_MAX; i++)
		if (__atomic_load_n(&locked[i].state, __ATOMIC_ACQUIRE) == 2 && locked[i].dev == dev &&
		    locked[i].ino == ino)
			return true;
	return false;
}

void mg_posix_locks_atfork_child(void)
{
	for (int i = 0; i < LOCKED_MAX; i++)
		__atomic_store_n(&locked[i].state, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&overflow, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&any, 0, __ATOMIC_RELEASE);
}

void mg_posix_lock_taken(int fd)
{
	struct stat st;
	if (MG_SYS2(SYS_fstat, fd, &st) != 0) {
		__atomic_store_n(&overflow, 1, __ATOMIC_RELEASE);       /* cannot tell which: all */
		__atomic_store_n(&any, 1, __ATOMIC_RELEASE);
		return;
	}
	__atomic_store_n(&any, 1, __ATOMIC_RELEASE);
	if (mg_posix_locked(st.st_dev, st.st_ino))
		return;
	for (int i = 0; i < LOCKED_MAX; i++) {
		int expect = 0;
		if (__atomic_compare_exchange_n(&locked[i].state, &expect, 1, false, __ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED)) {
			locked[i].dev = st.st_dev;
			locked[i].ino = st.st_ino;
			__atomic_store_n(&locked[i].state, 2, __ATOMIC_RELEASE);
			return;
		}
	}
	__atomic_store_n(&overflow, 1, __ATOMIC_RELEASE);
}

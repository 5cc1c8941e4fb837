/*
 * posix_spawn, posix_spawnp, and the file actions they take (leases on only). glibc's spawn child
 * opens its file actions' paths with internal calls no wrapper sees, and its parent thread waits
 * until the child execs: an open for writing of a file the guard holds a lease on would wait for an
 * answer the parent cannot give, lease-break-time (45 s). The writing opens are listed as the
 * program adds them; right before the spawn the guard lets its leases on those files go, as before
 * the program's own write (lease.h, mg_lease_program_writes). And a spawn without a mask of its
 * own starts its child with the program's mask as the program asked for it: the lease signal
 * blocked where it asked (wrap_sigmask.c).
 */
#define _GNU_SOURCE
#include "config.h"
#include "lease.h"
#include "real.h"
#include "sigmask.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/*
 * The writing opens added to file actions objects: a slot is claimed by compare-and-swap of its
 * owner (BUSY while it is filled or emptied). At most SPAWN_OPENS; past that an open is not
 * listed (its spawn may wait as before).
 */
#define SPAWN_OPENS 32
#define BUSY ((const void *)1)
static struct {
	const void *fa;
	char *path;
} opens[SPAWN_OPENS];

static bool writes(int flags)
{
	return ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC)) && !(flags & (O_PATH | O_DIRECTORY));
}

static void note_open(const void *fa, const char *path)
{
	for (int i = 0; i < SPAWN_OPENS; i++) {
		const void *none = NULL;
		if (!__atomic_compare_exchange_n(&opens[i].fa, &none, BUSY, false, __ATOMIC_ACQ_REL,
						 __ATOMIC_RELAXED))
			continue;
		opens[i].path = strdup(path);
		__atomic_store_n(&opens[i].fa, opens[i].path ? fa : NULL, __ATOMIC_RELEASE);
		return;
	}
}

static void forget(const void *fa)
{
	for (int i = 0; i < SPAWN_OPENS; i++) {
		const void *mine = fa;
		if (!__atomic_compare_exchange_n(&opens[i].fa, &mine, BUSY, false, __ATOMIC_ACQ_REL,
						 __ATOMIC_RELAXED))
			continue;
		free(opens[i].path);
		opens[i].path = NULL;
		__atomic_store_n(&opens[i].fa, NULL, __ATOMIC_RELEASE);
	}
}

/* Leases on the files fa opens for writing go (relative paths: from the current directory). */
static void give_up_for(const void *fa)
{
	for (int i = 0; i < SPAWN_OPENS; i++) {
		const void *mine = fa;
		if (!__atomic_compare_exchange_n(&opens[i].fa, &mine, BUSY, false, __ATOMIC_ACQ_REL,
						 __ATOMIC_RELAXED))
			continue;
		struct stat st;
		if (mg_fstatat(AT_FDCWD, opens[i].path, &st, 0) == 0 && S_ISREG(st.st_mode))
			mg_lease_program_writes(st.st_dev, st.st_ino);
		__atomic_store_n(&opens[i].fa, fa, __ATOMIC_RELEASE);
	}
}

MG_EXPORT int posix_spawn_file_actions_addopen(posix_spawn_file_actions_t *fa, int fd, const char *path,
					       int flags, mode_t mode)
{
	mg_posix_spawn_file_actions_addopen_fn real = MG_REAL(posix_spawn_file_actions_addopen);
	int r = real ? real(fa, fd, path, flags, mode) : ENOSYS;
	if (r == 0 && writes(flags) && mg_cfg.leases != MG_LEASES_OFF && !mg_inside()) {
		int saved = errno;
		note_open(fa, path);
		errno = saved;
	}
	return r;
}

MG_EXPORT int posix_spawn_file_actions_init(posix_spawn_file_actions_t *fa)
{
	mg_posix_spawn_file_actions_init_fn real = MG_REAL(posix_spawn_file_actions_init);
	if (mg_cfg.leases != MG_LEASES_OFF)
		forget(fa);             /* the memory of an object destroyed without destroy */
	return real ? real(fa) : ENOSYS;
}

MG_EXPORT int posix_spawn_file_actions_destroy(posix_spawn_file_actions_t *fa)
{
	mg_posix_spawn_file_actions_destroy_fn real = MG_REAL(posix_spawn_file_actions_destroy);
	if (mg_cfg.leases != MG_LEASES_OFF)
		forget(fa);
	return real ? real(fa) : ENOSYS;
}

/*
 * Before the spawn. true: the spawn takes own, the program's attributes (or none) with the mask the
 * program asked for: its current one, and the lease signal blocked.
 */
static bool prepare(const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *attr,
		    posix_spawnattr_t *own)
{
	if (mg_cfg.leases == MG_LEASES_OFF || mg_inside())
		return false;
	int saved = errno;
	if (fa && mg_lease_any_held())
		give_up_for(fa);
	bool use = false;
	int sig = mg_lease_signal_now();
	if (sig > 0 && mg_sigmask_held()) {
		short flags = 0;
		if (attr)
			*own = *attr;   /* plain data: flags, process group, signal sets, scheduling */
		else
			posix_spawnattr_init(own);
		posix_spawnattr_getflags(own, &flags);
		sigset_t m;
		mg_pthread_sigmask_fn mask = MG_REAL(pthread_sigmask);
		if (!(flags & POSIX_SPAWN_SETSIGMASK) && mask && mask(SIG_BLOCK, NULL, &m) == 0) {
			sigaddset(&m, sig);
			posix_spawnattr_setsigmask(own, &m);
			posix_spawnattr_setflags(own, (short)(flags | POSIX_SPAWN_SETSIGMASK));
			use = true;
		}
	}
	errno = saved;
	return use;
}

static int spawn(int (*real)(pid_t *, const char *, const posix_spawn_file_actions_t *,
			    const posix_spawnattr_t *, char *const[], char *const[]),
		 pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
		 const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	if (!real)
		return ENOSYS;
	posix_spawnattr_t own;
	return real(pid, path, fa, prepare(fa, attr, &own) ? &own : attr, argv, envp);
}

MG_EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
			  const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	return spawn(MG_REAL(posix_spawn), pid, path, fa, attr, argv, envp);
}

MG_EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
			   const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	return spawn(MG_REAL(posix_spawnp), pid, file, fa, attr, argv, envp);
}

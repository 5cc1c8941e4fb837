/*
 * posix_spawn, posix_spawnp, and the file actions they take. glibc's spawn child opens its file
 * actions' paths with internal calls no wrapper sees, a copy of this process whose mappings are
 * this process's, while the spawning thread waits until it execs. The writing opens are listed as
 * the program adds them, and right before the spawn:
 * - an O_TRUNC open that would cut a mapped file is checked as the program's own open would be
 *   (wrap_open.h): reported, and in block mode the spawn is refused with the block errno, as the
 *   child's open would have been;
 * - the guard's leases on those files go, as before the program's own write (lease.h,
 *   mg_lease_program_writes): the child's open would wait for an answer the parent cannot give,
 *   lease-break-time (45 s).
 * And a spawn without a mask of its own starts its child with the program's mask as the program
 * asked for it: the lease signal blocked where it asked (wrap_sigmask.c).
 */
#define _GNU_SOURCE
#include "check.h"
#include "config.h"
#include "lease.h"
#include "real.h"
#include "sigmask.h"
#include "wrap_open.h"

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
#define CHDIR (-1)              /* flags of a slot that stands for a change of directory */
static struct {
	const void *fa;
	char *path;
	int flags;
} opens[SPAWN_OPENS];

static void note_open(const void *fa, const char *path, int flags)
{
	for (int i = 0; i < SPAWN_OPENS; i++) {
		const void *none = NULL;
		if (!__atomic_compare_exchange_n(&opens[i].fa, &none, BUSY, false, __ATOMIC_ACQ_REL,
						 __ATOMIC_RELAXED))
			continue;
		opens[i].path = path ? strdup(path) : NULL;
		opens[i].flags = flags;
		__atomic_store_n(&opens[i].fa, opens[i].path || !path ? fa : NULL, __ATOMIC_RELEASE);
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

/*
 * fa's writing opens (relative paths: from the current directory): each truncating one checked
 * (unless quiet), then, with leases held, the leases on their files let go. MG_REFUSE: a check
 * refused one (errno set), and nothing else was done.
 */
static int before_opens(const void *fa, bool check, bool leases)
{
	/* After a change of directory the child resolves relative paths elsewhere: those are left
	 * alone (which order the actions come in is not kept). */
	bool moved = false;
	for (int i = 0; i < SPAWN_OPENS; i++)
		if (__atomic_load_n(&opens[i].fa, __ATOMIC_ACQUIRE) == fa && opens[i].flags == CHDIR)
			moved = true;
	int verdict = MG_PROCEED;
	for (int pass = check ? 0 : 1; pass < (leases ? 2 : 1) && verdict != MG_REFUSE; pass++) {
		for (int i = 0; i < SPAWN_OPENS && verdict != MG_REFUSE; i++) {
			const void *mine = fa;
			if (!__atomic_compare_exchange_n(&opens[i].fa, &mine, BUSY, false, __ATOMIC_ACQ_REL,
							 __ATOMIC_RELAXED))
				continue;
			struct stat st;
			int flags = opens[i].flags;
			/* a change of directory itself, or a path the child resolves elsewhere */
			bool skip = flags == CHDIR || (moved && opens[i].path[0] != '/');
			if (!skip && pass == 0)
				verdict = mg_open_pre("posix_spawn", AT_FDCWD, opens[i].path, flags, NULL);
			else if (!skip && mg_fstatat(AT_FDCWD, opens[i].path, &st,
						     (flags & O_NOFOLLOW) ? AT_SYMLINK_NOFOLLOW : 0) == 0 &&
				 S_ISREG(st.st_mode))
				mg_lease_program_writes(st.st_dev, st.st_ino);
			__atomic_store_n(&opens[i].fa, fa, __ATOMIC_RELEASE);
		}
	}
	return verdict;
}

MG_EXPORT int posix_spawn_file_actions_addopen(posix_spawn_file_actions_t *fa, int fd, const char *path,
					       int flags, mode_t mode)
{
	mg_posix_spawn_file_actions_addopen_fn real = MG_REAL(posix_spawn_file_actions_addopen);
	int r = real ? real(fa, fd, path, flags, mode) : ENOSYS;
	if (r == 0 && mg_open_writes(flags) && !mg_inside()) {
		int saved = errno;
		note_open(fa, path, flags);
		errno = saved;
	}
	return r;
}

MG_EXPORT int posix_spawn_file_actions_addchdir_np(posix_spawn_file_actions_t *fa, const char *path)
{
	mg_posix_spawn_file_actions_addchdir_np_fn real = MG_REAL(posix_spawn_file_actions_addchdir_np);
	int r = real ? real(fa, path) : ENOSYS;
	if (r == 0 && !mg_inside())
		note_open(fa, NULL, CHDIR);
	return r;
}

MG_EXPORT int posix_spawn_file_actions_addfchdir_np(posix_spawn_file_actions_t *fa, int fd)
{
	mg_posix_spawn_file_actions_addfchdir_np_fn real = MG_REAL(posix_spawn_file_actions_addfchdir_np);
	int r = real ? real(fa, fd) : ENOSYS;
	if (r == 0 && !mg_inside())
		note_open(fa, NULL, CHDIR);
	return r;
}

MG_EXPORT int posix_spawn_file_actions_init(posix_spawn_file_actions_t *fa)
{
	mg_posix_spawn_file_actions_init_fn real = MG_REAL(posix_spawn_file_actions_init);
	forget(fa);             /* the memory of an object destroyed without destroy */
	return real ? real(fa) : ENOSYS;
}

MG_EXPORT int posix_spawn_file_actions_destroy(posix_spawn_file_actions_t *fa)
{
	mg_posix_spawn_file_actions_destroy_fn real = MG_REAL(posix_spawn_file_actions_destroy);
	forget(fa);
	return real ? real(fa) : ENOSYS;
}

/*
 * Before the spawn. MG_REFUSE: refused (errno set). Else *use: the spawn takes own, the program's
 * attributes (or none) with the mask the program asked for: its current one, and the lease signal
 * blocked.
 */
static int prepare(const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *attr,
		   posix_spawnattr_t *own, bool *use_own)
{
	*use_own = false;
	if (mg_inside())
		return MG_PROCEED;
	int saved = errno;
	bool leases = mg_cfg.leases != MG_LEASES_OFF && mg_lease_any_held();
	if (fa && before_opens(fa, !mg_quiet(), leases) == MG_REFUSE)
		return MG_REFUSE;
	if (mg_cfg.leases == MG_LEASES_OFF) {
		errno = saved;
		return MG_PROCEED;
	}
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
	*use_own = use;
	return MG_PROCEED;
}

static int spawn(int (*real)(pid_t *, const char *, const posix_spawn_file_actions_t *,
			    const posix_spawnattr_t *, char *const[], char *const[]),
		 pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
		 const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	if (!real)
		return ENOSYS;
	posix_spawnattr_t own;
	bool use_own;
	if (prepare(fa, attr, &own, &use_own) == MG_REFUSE)
		return errno;           /* the error the child's open would have given posix_spawn */
	return real(pid, path, fa, use_own ? &own : attr, argv, envp);
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

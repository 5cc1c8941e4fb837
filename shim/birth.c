#define _GNU_SOURCE
#include "birth.h"
#include "real.h"

#include <fcntl.h>
#include <stdbool.h>
#include <linux/magic.h>
#include <sys/statfs.h>
#include <sys/syscall.h>

#define KEPT 16
/* state: 0 free, 1 being written, 2 kept. A full table keeps nothing more (asked again). */
static struct { dev_t dev; int state; int overlay; } kept[KEPT];

bool mg_overlay_met_;

/* 1: overlayfs, 0: not, -1: not known. */
static int overlay_dev(int dirfd, const char *path, int flags, dev_t dev)
{
	for (int i = 0; i < KEPT; i++)
		if (__atomic_load_n(&kept[i].state, __ATOMIC_ACQUIRE) == 2 && kept[i].dev == dev)
			return kept[i].overlay;
	struct statfs sf;
	long r;
	if (flags & AT_EMPTY_PATH) {
		r = MG_SYS2(SYS_fstatfs, dirfd, &sf);
	} else {
		/* statfs has no dirfd form: through an O_PATH descriptor (opens nothing) */
		long p = MG_SYS4(SYS_openat, dirfd, path, O_PATH | O_CLOEXEC |
				 ((flags & AT_SYMLINK_NOFOLLOW) ? O_NOFOLLOW : 0), 0);
		if (p < 0)
			return -1;
		r = MG_SYS2(SYS_fstatfs, p, &sf);
		MG_SYS1(SYS_close, p);
	}
	if (r != 0)
		return -1;
	int overlay = sf.f_type == OVERLAYFS_SUPER_MAGIC;
	if (overlay)
		__atomic_store_n(&mg_overlay_met_, true, __ATOMIC_RELAXED);
	for (int i = 0; i < KEPT; i++) {
		int expect = 0;
		if (__atomic_compare_exchange_n(&kept[i].state, &expect, 1, false, __ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED)) {
			kept[i].dev = dev;
			kept[i].overlay = overlay;
			__atomic_store_n(&kept[i].state, 2, __ATOMIC_RELEASE);
			break;
		}
	}
	return overlay;
}

uint64_t mg_overlay_birth_anon(int dirfd, const char *path, int flags, dev_t dev)
{
	if (overlay_dev(dirfd, path, flags, dev) != 1)
		return 0;
	struct statx sx;
	if (MG_SYS6(SYS_statx, dirfd, path, flags, STATX_BTIME, &sx, 0) != 0)
		return 0;
	return mg_birth_of(&sx);
}

uint64_t mg_overlay_birth_of(int fd, dev_t dev, const struct statx *sx)
{
	return major(dev) == 0 && overlay_dev(fd, "", AT_EMPTY_PATH, dev) == 1 ? mg_birth_of(sx) : 0;
}

/*
 * A file's birth time: what tells apart two files that share a device and an inode number. A new
 * file can take the number of one that was deleted; on overlayfs (a container's root) a file of a
 * lower layer and the copy its first write makes in the upper layer show the same numbers, while a
 * mapping made before the copy keeps showing the lower file, which no cut of the copy reaches.
 * Births are nanoseconds since the epoch plus MG_BIRTH_BIAS, so that 0 means "not known" and
 * MG_BIRTH_BIAS - 1 is left free for a caller's own mark. Raw system calls only.
 */
#ifndef MG_BIRTH_H
#define MG_BIRTH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include "guard.h"

#define MG_BIRTH_BIAS 2

/* What statx said (0 when it did not say). */
static inline uint64_t mg_birth_of(const struct statx *sx)
{
	if (!(sx->stx_mask & STATX_BTIME))
		return 0;
	return (uint64_t)sx->stx_btime.tv_sec * 1000000000u + sx->stx_btime.tv_nsec + MG_BIRTH_BIAS;
}

/*
 * The birth of the file whose st_dev is dev (fd, or path from dirfd when fd < 0), when it is on
 * overlayfs; 0 elsewhere, or when not known. Whether a device is overlayfs is asked once
 * (mg_fs_type) and kept for 16 devices of major 0 (dev_table.h); a device of a disk is
 * never one, and costs no system call. A number an unmount freed and another file system took
 * keeps the first answer: a wrong "overlayfs" costs a statx a mapping, a wrong "not" leaves windows
 * without a birth, which count as the cut file's (as every window did before births).
 */
uint64_t mg_overlay_birth_anon(int fd, int dirfd, const char *path, dev_t dev) MG_HIDDEN;
static inline uint64_t mg_overlay_birth(int fd, int dirfd, const char *path, dev_t dev)
{
	return major(dev) != 0 ? 0 : mg_overlay_birth_anon(fd, dirfd, path, dev);
}

/* A device of overlayfs was met (a container's root, where most files a process maps are). */
extern bool mg_overlay_met_ MG_HIDDEN;
static inline bool mg_overlay_met(void) { return __atomic_load_n(&mg_overlay_met_, __ATOMIC_RELAXED); }

/* The birth statx said (*sx, STATX_BTIME asked) of fd's file on dev, if dev is overlayfs; else 0. */
uint64_t mg_overlay_birth_of(int fd, dev_t dev, const struct statx *sx) MG_HIDDEN;

/* Two births of files with the same device and inode: the same file, unless both are known. */
static inline bool mg_birth_same(uint64_t a, uint64_t b)
{
	return !a || !b || a == b;
}

#endif

#define _GNU_SOURCE
#include "birth.h"
#include "dev_table.h"
#include "real.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/syscall.h>

bool mg_overlay_met_;

/* dev -> 1: overlayfs, 0: not */
static struct mg_dev_table kept;

/* 1: overlayfs, 0: not, -1: not known. */
static int overlay_dev(int fd, int dirfd, const char *path, dev_t dev)
{
	uint64_t was;
	if (mg_dev_table_get(&kept, dev, &was))
		return (int)was;
	long type = mg_fs_type(fd, dirfd, path);
	if (!type)
		return -1;
	int overlay = type == OVERLAYFS_SUPER_MAGIC;
	if (overlay)
		__atomic_store_n(&mg_overlay_met_, true, __ATOMIC_RELAXED);
	mg_dev_table_put(&kept, dev, (uint64_t)overlay);
	return overlay;
}

uint64_t mg_overlay_birth_anon(int fd, int dirfd, const char *path, dev_t dev)
{
	if (overlay_dev(fd, dirfd, path, dev) != 1)
		return 0;
	struct statx sx;
	long r = fd >= 0 ? MG_SYS6(SYS_statx, fd, "", AT_EMPTY_PATH, STATX_BTIME, &sx, 0)
			 : MG_SYS6(SYS_statx, dirfd, path, 0, STATX_BTIME, &sx, 0);
	return r == 0 ? mg_birth_of(&sx) : 0;
}

uint64_t mg_overlay_birth_of(int fd, dev_t dev, const struct statx *sx)
{
	return major(dev) == 0 && overlay_dev(fd, -1, NULL, dev) == 1 ? mg_birth_of(sx) : 0;
}

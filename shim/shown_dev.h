/*
 * The device number the kernel shows for a file in /proc/PID/maps and /proc/locks is its file
 * system's (the superblock's). stat's st_dev is not always that one: btrfs gives each subvolume a
 * number of its own (and files of two subvolumes may share an inode number). Whoever matches a
 * line of those files against a file known by stat goes through here.
 */
#ifndef MG_SHOWN_DEV_H
#define MG_SHOWN_DEV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "guard.h"

/*
 * The number shown for the file whose st_dev is dev: the file is fd, or path from dirfd (fd -1).
 * dev itself for a block device's number; for an anonymous one (major 0) asked with statx's mount
 * id, then that mount's line of /proc/self/mountinfo, and kept (16 of them), so that the lease
 * signal's handler finds it. dev when it cannot be told. Raw system calls only.
 */
dev_t mg_shown_dev(int fd, int dirfd, const char *path, dev_t dev) MG_HIDDEN;
/* What was kept for dev, without a system call (async-signal-safe); dev if nothing was. */
dev_t mg_shown_dev_kept(dev_t dev) MG_HIDDEN;

/*
 * A line of /proc/PID/maps (device shown, inode, range, path as shown) is the file (dev, ino), whose
 * shown number is shown. The common case decides at once (the numbers are the same). Where
 * they differ (btrfs), a line with the shown number and the inode may be a file of another
 * subvolume: the mapping itself (/proc/PID/map_files, for CAP_SYS_ADMIN) or else its path is asked;
 * when neither can be, it counts as the file (a cut would reach it). Async-signal-safe.
 */
bool mg_shown_is_file(dev_t line_dev, ino_t line_ino, pid_t pid, uintptr_t start, uintptr_t end,
		      const char *line_path, dev_t dev, ino_t ino, dev_t shown) MG_HIDDEN;

#endif

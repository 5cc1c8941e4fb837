#define _GNU_SOURCE
#include "shown_dev.h"
#include "dev_table.h"
#include "arena.h"
#include "fmt.h"
#include "procfile.h"
#include "real.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#ifndef STATX_MNT_ID
#define STATX_MNT_ID 0x00001000U
#endif

/* dev -> the number shown (shown_dev.h) */
static struct mg_dev_table kept;

dev_t mg_shown_dev_kept(dev_t dev)
{
	uint64_t shown;
	return mg_dev_table_get(&kept, dev, &shown) ? (dev_t)shown : dev;
}

/* The device of mount id in /proc/self/mountinfo ("ID PARENT MAJ:MIN ..."); false if not found. */
static bool mount_dev(uint64_t id, dev_t *out)
{
	struct mg_lines *l = mg_pages_alloc(sizeof *l);
	if (!l)
		return false;
	bool found = false;
	if (mg_lines_open(l, "/proc/self/mountinfo")) {
		char line[256];
		while (!found && mg_lines_next(l, line, sizeof line)) {
			const char *p = line;
			if (mg_parse_num(&p, 10) != id || *p != ' ')
				continue;
			p = mg_skip_ws(mg_skip_word(mg_skip_ws(p)));        /* the parent's id */
			unsigned ma = (unsigned)mg_parse_num(&p, 10);
			if (*p++ != ':')
				break;
			unsigned mi = (unsigned)mg_parse_num(&p, 10);
			*out = makedev(ma, mi);
			found = true;
		}
		mg_lines_close(l);
	}
	mg_pages_free(l, sizeof *l);
	return found;
}

dev_t mg_shown_dev(int fd, int dirfd, const char *path, dev_t dev)
{
	/* A file system on a block device shows that device's number, which is stat's too; only
	 * anonymous numbers (major 0: btrfs, overlayfs, tmpfs, network file systems) may differ. */
	if (major(dev) != 0)
		return dev;
	uint64_t was;
	if (mg_dev_table_get(&kept, dev, &was))
		return (dev_t)was;
	struct statx sx;
	memset(&sx, 0, sizeof sx);
	long r = fd >= 0 ? MG_SYS6(SYS_statx, fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &sx, 0)
			 : MG_SYS6(SYS_statx, dirfd, path, 0, STATX_MNT_ID, &sx, 0);
	dev_t shown;
	if (r < 0 || !(sx.stx_mask & STATX_MNT_ID) || makedev(sx.stx_dev_major, sx.stx_dev_minor) != dev ||
	    !mount_dev(sx.stx_mnt_id, &shown))
		return dev;     /* not told (an old kernel, or the file changed meanwhile): not kept */
	mg_dev_table_put(&kept, dev, shown);
	return shown;
}

/* "%lx" as the names in /proc/PID/map_files are written. */
static void put_hex(struct mg_buf *b, uint64_t v)
{
	static const char digits[] = "0123456789abcdef";
	char t[16];
	int n = 0;
	do
		t[n++] = digits[v & 15];
	while ((v >>= 4) != 0);
	while (n)
		mg_buf_putc(b, t[--n]);
}

static bool stat_is(const char *path, dev_t dev, ino_t ino, bool *known)
{
	struct stat st;
	*known = MG_SYS4(SYS_newfstatat, AT_FDCWD, path, &st, 0) == 0;
	return *known && st.st_dev == dev && st.st_ino == ino;
}

bool mg_shown_is_file(dev_t line_dev, ino_t line_ino, pid_t pid, uintptr_t start, uintptr_t end,
		      const char *line_path, dev_t dev, ino_t ino, dev_t shown)
{
	if (line_ino != ino)
		return false;
	if (line_dev == dev)
		return true;
	if (line_dev != shown)
		return false;
	/* One file system, several device numbers: which subvolume's inode is it? */
	char link[96];
	struct mg_buf b;
	mg_buf_init(&b, link, sizeof link);
	mg_buf_puts(&b, "/proc/");
	mg_buf_u64(&b, (uint64_t)pid);
	mg_buf_puts(&b, "/map_files/");
	put_hex(&b, start);
	mg_buf_putc(&b, '-');
	put_hex(&b, end);
	link[b.len < sizeof link ? b.len : sizeof link - 1] = 0;
	bool known, same = stat_is(link, dev, ino, &known);
	if (known)
		return same;
	static const char deleted[] = " (deleted)";
	if (line_path && line_path[0] == '/' && !strstr(line_path, deleted)) {
		same = stat_is(line_path, dev, ino, &known);
		if (known)
			return same;
	}
	return true;
}

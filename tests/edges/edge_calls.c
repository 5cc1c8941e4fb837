/*
 * edge_calls CASE DIR: one call the guard must get exactly right, run bare and under the guard.
 * Prints "RESULT rc=R errno=E" for the call under test (plus a few key=value facts), so that the
 * test can compare the guarded run with the bare one; "FAIL ..." and exit 99 on a setup error.
 *
 *   munmap-unaligned   munmap(m + 1, page) of a 3-page shared file mapping fails (EINVAL); then
 *                      ftruncate(fd, 0) must still be caught for the whole, unchanged window
 *   munmap-zero        the same with munmap(m, 0)
 *   munmap-wrap        the same with munmap(m, SIZE_MAX - page)
 *   mremap-unaligned   the same with mremap(m + 1, page, page, 0)
 *   mremap-hint        mremap(anon, page, page, MREMAP_MAYMOVE|MREMAP_DONTUNMAP, hint): "at_hint=1"
 *                      when the kernel honoured the hint (it does bare)
 *   mremap-dontunmap   a shared file mapping moved with MREMAP_DONTUNMAP: both ranges stay
 *                      mapped; ftruncate(fd, 0) endangers both
 *   seal               memfd with F_SEAL_SHRINK, mapped: ftruncate(fd, 0) (EPERM)
 *   seal-truncate      the same through truncate("/proc/self/fd/N", 0)
 *   seal-open          the same through open("/proc/self/fd/N", O_RDWR|O_TRUNC)
 *   collapse-tmpfs     fallocate(FALLOC_FL_COLLAPSE_RANGE) on a memfd (tmpfs: EOPNOTSUPP)
 *   collapse-overflow  COLLAPSE_RANGE with off + len past 2^63 (EFBIG)
 *   collapse-mode      COLLAPSE_RANGE|FALLOC_FL_KEEP_SIZE (EINVAL)
 *   collapse-ok        a real COLLAPSE_RANGE of one block on DIR's filesystem (a cut)
 *   otrunc-directory   open(file, O_WRONLY|O_TRUNC|O_DIRECTORY) (ENOTDIR)
 *   append-ftruncate   an append-only file (FS_APPEND_FL): ftruncate(fd, 0) (EPERM)
 *   append-truncate    the same, truncate(path, 0)
 *   append-open        the same, open(path, O_WRONLY|O_TRUNC)
 *   immutable-truncate an immutable file (FS_IMMUTABLE_FL): truncate(path, 0) (EPERM)
 *   partial-cut        a 20-page mapping of a 10-page file; the file is cut to 7.5 pages: pages 8
 *                      and 9 are newly cut, 10..19 were already beyond the end
 *   vfork-cut          a vfork child cuts a mapped file and exits; the parent then touches the
 *                      mapping and dies of SIGBUS ("CHILD pid=N" first)
 *   spawn-otrunc       posix_spawn of /bin/true whose file action opens a mapped 3-page file
 *                      O_WRONLY|O_TRUNC (on fd 3): RESULT rc=0 (posix_spawn's error number as
 *                      errno), then "AFTER size=S status=W" (the file's size; the child's wait
 *                      status, -1 when none ran)
 *   spawn-chdir-otrunc the same file mapped, but the file action first changes to DIR/sub, where
 *                      a file of the same name (not mapped) is opened O_WRONLY|O_TRUNC by its
 *                      relative name, from DIR as the current directory (nothing of ours is cut)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

static size_t page;

#define CHECK(cond, ...)                                                  \
	do {                                                              \
		if (!(cond)) {                                            \
			printf("FAIL ");                                  \
			printf(__VA_ARGS__);                              \
			printf(" (errno %d)\n", errno);                   \
			exit(99);                                         \
		}                                                         \
	} while (0)

static void result(long rc, int err)
{
	printf("RESULT rc=%ld errno=%d\n", rc < 0 ? -1L : 0L, rc < 0 ? err : 0);
	fflush(stdout);
}

static int make_file(const char *dir, const char *name, size_t size, char *path_out)
{
	snprintf(path_out, 4096, "%s/%s", dir, name);
	int fd = open(path_out, O_RDWR | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0, "create %s", path_out);
	CHECK(ftruncate(fd, (off_t)size) == 0, "size %s", path_out);
	return fd;
}

static char *map_shared(int fd, size_t len)
{
	char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(m != MAP_FAILED, "mmap");
	return m;
}

static void set_attr(int fd, int flag, int on)
{
	int attr = 0;
	if (ioctl(fd, FS_IOC_GETFLAGS, &attr) != 0) {
		printf("SKIP no inode flags on this filesystem\n");
		exit(77);
	}
	attr = on ? (attr | flag) : (attr & ~flag);
	CHECK(ioctl(fd, FS_IOC_SETFLAGS, &attr) == 0, "FS_IOC_SETFLAGS");
}

/* A failed mapping call, then a real cut of the whole file. */
static void failed_call_then_cut(const char *dir, const char *which)
{
	char path[4096];
	int fd = make_file(dir, "failed", 3 * page, path);
	char *m = map_shared(fd, 3 * page);
	printf("MAP addr=0x%lx length=%zu path=%s\n", (unsigned long)(uintptr_t)m, 3 * page, path);
	long r;
	errno = 0;
	if (strcmp(which, "munmap-unaligned") == 0)
		r = munmap(m + 1, page);
	else if (strcmp(which, "munmap-zero") == 0)
		r = munmap(m, 0);
	else if (strcmp(which, "munmap-wrap") == 0)
		r = munmap(m, SIZE_MAX - page);
	else
		r = mremap(m + 1, page, page, 0) == MAP_FAILED ? -1 : 0;
	printf("FAILED rc=%ld errno=%d\n", r, errno);
	errno = 0;
	r = ftruncate(fd, 0);
	result(r, errno);
}

static void mremap_hint(void)
{
	char *a = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(a != MAP_FAILED, "mmap anon");
	a[0] = 1;
	/* a free address, well away from a */
	char *hint = mmap(NULL, 64 * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(hint != MAP_FAILED, "reserve");
	CHECK(munmap(hint, 64 * page) == 0, "release");
	hint += 32 * page;
	errno = 0;
	char *r = mremap(a, page, page, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, hint);
	printf("HINT at_hint=%d\n", r == hint);
	result(r == MAP_FAILED ? -1 : 0, errno);
}

static void mremap_dontunmap(const char *dir)
{
	char path[4096];
	int fd = make_file(dir, "dontunmap", 2 * page, path);
	char *m = map_shared(fd, 2 * page);
	errno = 0;
	long r;
	char *n = mremap(m, 2 * page, 2 * page, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, NULL);
	CHECK(n != MAP_FAILED, "mremap DONTUNMAP of a shared file mapping");
	printf("MAP addr=0x%lx length=%zu path=%s\n", (unsigned long)(uintptr_t)m, 2 * page, path);
	printf("MAP addr=0x%lx length=%zu path=%s\n", (unsigned long)(uintptr_t)n, 2 * page, path);
	errno = 0;
	r = ftruncate(fd, 0);
	result(r, errno);
}

static int sealed_memfd(void)
{
	int fd = memfd_create("sealed", MFD_ALLOW_SEALING | MFD_CLOEXEC);
	CHECK(fd >= 0, "memfd_create");
	CHECK(ftruncate(fd, (off_t)(3 * page)) == 0, "size memfd");
	map_shared(fd, 3 * page);
	CHECK(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) == 0, "F_ADD_SEALS");
	return fd;
}

static void kernel_refuses(const char *which, const char *dir)
{
	char path[4096], proc[64];
	long r = 0;
	int e = 0;
	if (strncmp(which, "seal", 4) == 0) {
		int fd = sealed_memfd();
		snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
		errno = 0;
		if (strcmp(which, "seal") == 0) {
			r = ftruncate(fd, 0);
		} else if (strcmp(which, "seal-truncate") == 0) {
			r = truncate(proc, 0);
		} else {
			r = open(proc, O_RDWR | O_TRUNC);
		}
		e = errno;
	} else if (strncmp(which, "collapse-", 9) == 0) {
		int fd;
		if (strcmp(which, "collapse-tmpfs") == 0) {
			fd = memfd_create("collapse", MFD_CLOEXEC);
			CHECK(fd >= 0 && ftruncate(fd, (off_t)(16 * page)) == 0, "memfd");
		} else {
			fd = make_file(dir, "collapse", 16 * page, path);
			fsync(fd);
		}
		map_shared(fd, 16 * page);
		errno = 0;
		if (strcmp(which, "collapse-overflow") == 0)
			r = fallocate(fd, FALLOC_FL_COLLAPSE_RANGE, INT64_MAX - (off_t)page + 1,
				      (off_t)(2 * page));
		else if (strcmp(which, "collapse-mode") == 0)
			r = fallocate(fd, FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_KEEP_SIZE, 0, (off_t)page);
		else
			r = fallocate(fd, FALLOC_FL_COLLAPSE_RANGE, 0, (off_t)page);
		e = errno;
	} else if (strcmp(which, "otrunc-directory") == 0) {
		int fd = make_file(dir, "notdir", 3 * page, path);
		map_shared(fd, 3 * page);
		errno = 0;
		r = open(path, O_WRONLY | O_TRUNC | O_DIRECTORY);
		e = errno;
	} else {
		int immutable = strncmp(which, "immutable", 9) == 0;
		int flag = immutable ? FS_IMMUTABLE_FL : FS_APPEND_FL;
		int fd = make_file(dir, "attr", 3 * page, path);
		map_shared(fd, 3 * page);
		int afd = open(path, O_WRONLY | O_APPEND);
		CHECK(afd >= 0, "open O_APPEND");
		set_attr(fd, flag, 1);
		errno = 0;
		if (strcmp(which, "append-ftruncate") == 0)
			r = ftruncate(afd, 0);
		else if (strcmp(which, "append-open") == 0)
			r = open(path, O_WRONLY | O_TRUNC);
		else
			r = truncate(path, 0);
		e = errno;
		set_attr(fd, flag, 0);
	}
	result(r, e);
}

static void vfork_cut(const char *dir)
{
	char path[4096];
	int fd = make_file(dir, "vforked", 3 * page, path);
	volatile char *m = map_shared(fd, 3 * page);
	pid_t child = vfork();
	if (child == 0) {
		ftruncate(fd, 0);
		_exit(0);
	}
	CHECK(child > 0, "vfork");
	printf("CHILD pid=%d\n", (int)child);
	fflush(stdout);
	printf("TOUCH %d\n", m[0]);    /* SIGBUS */
}

static void spawn_otrunc(const char *dir, bool chdir_first)
{
	char path[4096], sub[4096], other[4096];
	int fd = make_file(dir, "spawned", 3 * page, path);
	map_shared(fd, 3 * page);
	posix_spawn_file_actions_t fa;
	CHECK(posix_spawn_file_actions_init(&fa) == 0, "file actions");
	if (chdir_first) {
		snprintf(sub, sizeof sub, "%s/sub", dir);
		CHECK(mkdir(sub, 0755) == 0, "mkdir");
		close(make_file(sub, "spawned", page, other));
		CHECK(chdir(dir) == 0, "chdir");
		CHECK(posix_spawn_file_actions_addchdir_np(&fa, sub) == 0, "addchdir");
	}
	CHECK(posix_spawn_file_actions_addopen(&fa, 3, chdir_first ? "spawned" : path,
					       O_WRONLY | O_TRUNC, 0) == 0, "addopen");
	char *argv[] = { "true", NULL };
	pid_t pid;
	int err = posix_spawn(&pid, "/bin/true", &fa, NULL, argv, NULL);
	posix_spawn_file_actions_destroy(&fa);
	result(err ? -1 : 0, err);
	int status = -1;
	if (!err)
		CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
	struct stat st;
	CHECK(fstat(fd, &st) == 0, "fstat");
	printf("AFTER size=%lld status=%d\n", (long long)st.st_size, status);
}

static void partial_cut(const char *dir)
{
	char path[4096];
	int fd = make_file(dir, "partial", 10 * page, path);
	map_shared(fd, 20 * page);
	errno = 0;
	long r = ftruncate(fd, (off_t)(7 * page + page / 2));
	result(r, errno);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: edge_calls CASE DIR\n");
		return 2;
	}
	page = (size_t)sysconf(_SC_PAGESIZE);
	const char *c = argv[1], *dir = argv[2];
	if (strncmp(c, "munmap-", 7) == 0 || strcmp(c, "mremap-unaligned") == 0)
		failed_call_then_cut(dir, c);
	else if (strcmp(c, "mremap-hint") == 0)
		mremap_hint();
	else if (strcmp(c, "partial-cut") == 0)
		partial_cut(dir);
	else if (strcmp(c, "vfork-cut") == 0)
		vfork_cut(dir);
	else if (strcmp(c, "spawn-otrunc") == 0 || strcmp(c, "spawn-chdir-otrunc") == 0)
		spawn_otrunc(dir, strcmp(c, "spawn-chdir-otrunc") == 0);
	else if (strcmp(c, "mremap-dontunmap") == 0)
		mremap_dontunmap(dir);
	else
		kernel_refuses(c, dir);
	printf("DONE\n");
	return 0;
}

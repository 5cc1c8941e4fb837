/* Exercises include/mmapguard.h; prints one JSON object of what it observed. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mmapguard.h"

static int calls;
static char last_call[32];
static long long last_before = -2, last_after = -2;
static unsigned last_nmaps;
static unsigned long long last_len;

static void on_violation(const struct mmapguard_violation *v, void *arg)
{
	(void)arg;
	calls++;
	snprintf(last_call, sizeof last_call, "%s", v->call);
	last_before = v->size_before;
	last_after = v->size_after;
	last_nmaps = v->nmappings;
	last_len = v->nmappings ? v->mappings[0].length : 0;
}

static int make(const char *path, off_t size)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || ftruncate(fd, size) < 0)
		return -1;
	return fd;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "/tmp";
	char a[512], b[512];
	snprintf(a, sizeof a, "%s/a.dat", dir);
	snprintf(b, sizeof b, "%s/b.dat", dir);
	int fa = make(a, 16384), fb = make(b, 16384);
	void *ma = mmap(NULL, 8192, PROT_READ, MAP_SHARED, fa, 4096);
	void *mb = mmap(NULL, 16384, PROT_READ, MAP_SHARED, fb, 0);
	if (ma == MAP_FAILED || mb == MAP_FAILED)
		return 2;

	int loaded = mmapguard_mode_if_loaded();
	long long safe = -1;
	int mapped = mmapguard_fd_mapped_if_loaded(fa, &safe);
	int cbset = mmapguard_set_callback_if_loaded(on_violation, NULL);

	/* 1: reported, callback sees it */
	int r1 = ftruncate(fa, 8192);
	int c1 = calls;
	/* 2: inside a suppression scope: neither reported nor refused */
	mmapguard_suppress_begin_if_loaded();
	int r2 = ftruncate(fb, 8192);
	mmapguard_suppress_end_if_loaded();
	int c2 = calls;
	/* 3: file b marked as intentionally cut */
	int sp = mmapguard_suppress_path ? mmapguard_suppress_path(b) : -1;
	int r3 = ftruncate(fb, 0);
	int c3 = calls;
	/* 4: mode switched to block at run time */
	int prev = mmapguard_set_mode ? mmapguard_set_mode(MMAPGUARD_MODE_BLOCK) : -1;
	int r4 = truncate(a, 4096);
	int e4 = r4 < 0 ? errno : 0;
	int bad = mmapguard_set_mode ? mmapguard_set_mode(42) : 0;
	int ebad = errno;
	/* 5: off at run time, unmap, block again: the mapping that went away is not enforced */
	char c[512];
	snprintf(c, sizeof c, "%s/c.dat", dir);
	int fc = make(c, 16384);
	void *mc = mmap(NULL, 16384, PROT_READ, MAP_SHARED, fc, 0);
	if (mmapguard_set_mode)
		mmapguard_set_mode(MMAPGUARD_MODE_OFF);
	munmap(mc, 16384);
	if (mmapguard_set_mode)
		mmapguard_set_mode(MMAPGUARD_MODE_BLOCK);
	int r5 = ftruncate(fc, 0);
	printf("{\"loaded\":%d,\"mapped\":%d,\"safe\":%lld,\"cbset\":%d,\"r1\":%d,\"c1\":%d,"
	       "\"last_call\":\"%s\",\"before\":%lld,\"after\":%lld,\"nmaps\":%u,\"len\":%llu,"
	       "\"r2\":%d,\"c2\":%d,\"sp\":%d,\"r3\":%d,\"c3\":%d,\"prev\":%d,\"r4\":%d,\"e4\":%d,"
	       "\"bad\":%d,\"ebad\":%d,\"suppressed\":%lu,\"r5\":%d}\n",
	       loaded, mapped, safe, cbset, r1, c1, last_call, last_before, last_after, last_nmaps,
	       last_len, r2, c2, sp, r3, c3, prev, r4, e4, bad, ebad,
	       mmapguard_suppressed ? mmapguard_suppressed() : 0, r5);
	return 0;
}

#define _GNU_SOURCE
#include "suppress.h"
#include "config.h"
#include "lock.h"

#include <errno.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FILES 256

static MG_TLS int scope_depth;
/* files[] is guarded by mg_files_lock (taken by fork). */
static struct { dev_t dev; ino_t ino; } files[MAX_FILES];
static int nfiles;
unsigned long mg_suppressed_count;

void mg_suppress_scope(int delta)
{
	scope_depth += delta;
	if (scope_depth < 0)
		scope_depth = 0;
}

int mg_suppress_file(dev_t dev, ino_t ino)
{
	int r = 0;
	mg_lock(&mg_files_lock);
	bool have = false;
	for (int i = 0; i < nfiles; i++)
		have |= files[i].dev == dev && files[i].ino == ino;
	if (!have) {
		if (nfiles < MAX_FILES) {
			files[nfiles].dev = dev;
			files[nfiles].ino = ino;
			nfiles++;
		} else {
			r = -ENOSPC;
		}
	}
	mg_unlock(&mg_files_lock);
	return r;
}

/* MMAPGUARD_SUPPRESS=glob,glob,...: fnmatch(3) against the absolute path the call named. */
static bool glob_match(const char *path)
{
	const char *list = mg_cfg.suppress;
	char pat[PATH_MAX];
	while (*list) {
		const char *end = strchr(list, ',');
		size_t n = end ? (size_t)(end - list) : strlen(list);
		if (n > 0 && n < sizeof pat) {
			memcpy(pat, list, n);
			pat[n] = 0;
			if (fnmatch(pat, path, 0) == 0)
				return true;
		}
		list += n + (end ? 1 : 0);
	}
	return false;
}

bool mg_suppressed(dev_t dev, ino_t ino, const char *path)
{
	bool s = scope_depth > 0;
	if (!s && __atomic_load_n(&nfiles, __ATOMIC_RELAXED)) {
		mg_lock(&mg_files_lock);
		for (int i = 0; i < nfiles && !s; i++)
			s = files[i].dev == dev && files[i].ino == ino;
		mg_unlock(&mg_files_lock);
	}
	if (!s && mg_cfg.suppress[0] && path)
		s = glob_match(path);
	if (s)
		__atomic_add_fetch(&mg_suppressed_count, 1, __ATOMIC_RELAXED);
	return s;
}

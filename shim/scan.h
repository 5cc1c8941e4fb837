/*
 * Other processes that a cut would hurt (MMAPGUARD_SCOPE guarded or all). The shared index says
 * who might map the file; /proc/PID/maps decides. A write lease proves cheaply that nobody else
 * has the file open or mapped. Raw system calls, no allocation but anonymous pages.
 */
#ifndef MG_SCAN_H
#define MG_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include "guard.h"
#include "index_format.h"

#define MG_VICTIMS_MAX 8
#define MG_VICTIM_WINDOWS 8
#define MG_VICTIM_MODULES 8

struct mg_victim_window {
	uintptr_t start, end;
	uint64_t offset;
	int prot;
	bool shared;
	uint64_t pages_beyond;          /* pages wholly beyond the new size */
	bool created_here;              /* the creation stack below is this window's */
};

struct mg_victim_frame {
	uintptr_t ip;
	uint64_t module_offset;
	int module;                     /* index into modules[], -1: unknown */
};

struct mg_victim {
	pid_t pid;
	uid_t uid;                      /* the owner of /proc/PID; (uid_t)-1 if unknown */
	char ixdir[512];                /* guarded: its index directory, as its maps name it */
	char comm[16];
	char exe[256];
	bool guarded;                   /* it maps its own file of the shared index */
	size_t nwindows, nwindows_total;
	struct mg_victim_window w[MG_VICTIM_WINDOWS];
	/* guarded: who created the window that needs the most, and from where */
	bool has_creation;
	pid_t tid;
	pid_t made_in_pid;              /* > 0: the window was made there, and inherited by fork */
	char thread_name[16];
	struct timespec created;
	uint32_t nframes;
	struct mg_victim_frame frames[MG_IX_FRAMES];
	char modules[MG_VICTIM_MODULES][256];
};

struct mg_victims {
	const char *scope;              /* "guarded" or "all" */
	bool alone;                     /* a write lease proved nobody else has the file */
	bool incomplete;                /* the time bound passed (or /proc unreadable) */
	size_t n, total;
	struct mg_victim v[MG_VICTIMS_MAX];
};

/*
 * A write lease proves that no other process has the file open or mapped (scope guarded/all): through
 * the call's own descriptor fd, or (fd < 0) a fresh read-only open of path relative to dirfd, which
 * must be the file (dev, ino). False also when the proof is not possible (not the file's owner, a
 * filesystem without leases).
 */
bool mg_scan_alone(int fd, int dirfd, const char *path, dev_t dev, ino_t ino) MG_HIDDEN;

/*
 * Fill *out with the other processes whose mappings of (dev, ino) lose a page when the file goes
 * from old_size to new_size (any = true: every process mapping it at all). Returns out->total.
 * shown: the device number /proc/PID/maps shows for the file (shown_dev.h). birth: the file's on
 * overlayfs (birth.h), 0 if not known: a guarded process whose index says its windows of (dev,
 * ino) were all born otherwise maps a lower layer's file, which the cut does not reach.
 */
size_t mg_scan_victims(dev_t dev, dev_t shown, ino_t ino, uint64_t birth, uint64_t old_size,
		       uint64_t new_size, bool any, struct mg_victims *out) MG_HIDDEN;
/* No scan: nobody else (alone, the lease said so) or not asked. */
void mg_victims_init(struct mg_victims *out, bool alone) MG_HIDDEN;

#endif

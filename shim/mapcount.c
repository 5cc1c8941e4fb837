#define _GNU_SOURCE
#include "mapcount.h"
#include "backtrace.h"
#include "config.h"
#include "procmaps.h"
#include "real.h"
#include "record.h"
#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

/*
 * Upper bound of the VMA count: last exact count + the most the calls seen since could have added
 * (mg_mapcount_note). Mappings made where no wrapper sees them (the dynamic loader, glibc's
 * internal mmap of large malloc blocks) are not in it until the next exact count.
 */
long mg_mapcount_est_upper;
long mg_mapcount_next_check;
#define est_upper mg_mapcount_est_upper
#define next_check mg_mapcount_next_check       /* est_upper at which to count again */
static int above;                       /* warned and not yet back below */
static int checking;                    /* one thread counts for the threshold at a time */
static int resyncing;                   /* one thread at a time moves est_upper to an exact count */
static long limit_cache;
static unsigned long failures, bytes_kept;
static long last_exact = -1;

#define MIN_SPACING 1024                /* calls between two exact counts near the threshold */
#define WALL_MARGIN 4                   /* one call adds at most 3 VMAs */

/*
 * /proc/self/maps is read into guard-owned pages, never onto the caller's stack (a thread may run
 * on a 16 KiB stack). The kernel hands out at most one page of it per read() (seq_file), so a
 * larger buffer would not save a system call. A few slots, so that threads counting at the wall
 * at once do not wait for each other; a fork child, where their holders do not exist, frees them.
 */
#define READ_BUF 4096
#define READ_SLOTS 4
static char read_buf[READ_SLOTS][READ_BUF] __attribute__((aligned(64)));
static int read_busy[READ_SLOTS];

static int claim_read_buf(void)
{
	for (;;) {
		for (int i = 0; i < READ_SLOTS; i++)
			if (!__atomic_load_n(&read_busy[i], __ATOMIC_RELAXED) &&
			    !__atomic_exchange_n(&read_busy[i], 1, __ATOMIC_ACQUIRE))
				return i;
		MG_SYS0(SYS_sched_yield);       /* the holders are in a bounded read, not waiting */
	}
}

void mg_mapcount_atfork_child(void)
{
	for (int i = 0; i < READ_SLOTS; i++)
		__atomic_store_n(&read_busy[i], 0, __ATOMIC_RELAXED);
	__atomic_store_n(&checking, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&resyncing, 0, __ATOMIC_RELAXED);
}

/*
 * Lines of /proc/self/maps, or -1. With stop_at > 0 the read stops once that many lines are seen
 * (*complete false): the caller only needed to know the count is at least that.
 */
static long count_lines(long stop_at, bool *complete)
{
	*complete = false;
	long fd = MG_SYS4(SYS_openat, AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int slot = claim_read_buf();
	char *buf = read_buf[slot];
	static const char vsys[] = "[vsyscall]\n";
	char tail[sizeof vsys - 1];
	size_t have = 0;        /* bytes of tail[] valid, the last bytes read */
	long lines = 0, n;
	bool stopped = false;
	while ((n = MG_SYS3(SYS_read, fd, buf, READ_BUF)) > 0) {
		for (const char *q = buf, *e = buf + n; (q = memchr(q, '\n', (size_t)(e - q))); q++)
			lines++;
		if ((size_t)n >= sizeof tail) {
			memcpy(tail, buf + n - sizeof tail, sizeof tail);
			have = sizeof tail;
		} else {                /* a short read: slide the window */
			memmove(tail, tail + n, sizeof tail - (size_t)n);
			memcpy(tail + sizeof tail - (size_t)n, buf, (size_t)n);
			have = have + (size_t)n > sizeof tail ? sizeof tail : have + (size_t)n;
		}
		if (stop_at > 0 && lines >= stop_at) {
			stopped = true;
			break;
		}
	}
	__atomic_store_n(&read_busy[slot], 0, __ATOMIC_RELEASE);
	MG_SYS1(SYS_close, fd);
	if (n < 0)
		return -1;
	if (stopped)
		return lines;
	/* [vsyscall] is listed last but is not a VMA of the process: the limit does not count it. */
	if (have == sizeof tail && memcmp(tail, vsys, sizeof tail) == 0)
		lines--;
	*complete = true;
	return lines;
}

/*
 * An exact count, and est_upper moved to it: the calls noted while reading may or may not show in
 * the count, so they stay in the estimate (it remains an upper bound).
 */
static long count_and_resync(long stop_at, bool *complete)
{
	if (__atomic_exchange_n(&resyncing, 1, __ATOMIC_ACQUIRE))
		return count_lines(stop_at, complete);  /* another thread is resyncing: count only */
	long before = __atomic_load_n(&est_upper, __ATOMIC_RELAXED);
	long lines = count_lines(stop_at, complete);
	if (lines >= 0 && *complete) {
		__atomic_add_fetch(&est_upper, lines - before, __ATOMIC_RELAXED);
		__atomic_store_n(&last_exact, lines, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&resyncing, 0, __ATOMIC_RELEASE);
	return lines;
}

long mg_mapcount_limit(void)
{
	long l = __atomic_load_n(&limit_cache, __ATOMIC_RELAXED);
	if (l)
		return l;
	l = 65530;
	long fd = MG_SYS4(SYS_openat, AT_FDCWD, "/proc/sys/vm/max_map_count", O_RDONLY | O_CLOEXEC, 0);
	if (fd >= 0) {
		char buf[32];
		long n = MG_SYS3(SYS_read, fd, buf, sizeof buf - 1);
		if (n > 0) {
			long v = 0;
			for (long i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; i++)
				v = v * 10 + (buf[i] - '0');
			if (v > 0)
				l = v;
		}
		MG_SYS1(SYS_close, fd);
	}
	__atomic_store_n(&limit_cache, l, __ATOMIC_RELAXED);
	return l;
}

/* At the wall every refused call would re-read a /proc/self/maps of max_map_count lines: reuse a
 * count that the calls since could have changed by at most 64. */
static long recent_exact(void)
{
	long c = __atomic_load_n(&last_exact, __ATOMIC_RELAXED);
	if (c >= 0 && __atomic_load_n(&est_upper, __ATOMIC_RELAXED) - c < 64)
		return c;
	bool complete;
	return count_and_resync(0, &complete);
}

long mg_mapcount_exact(void)
{
	bool complete;
	return count_and_resync(0, &complete);
}

static long threshold(void)
{
	long lim = mg_mapcount_limit();
	if (mg_cfg.map_warn_abs)
		return mg_cfg.map_warn_abs;
	return lim / 100 * mg_cfg.map_warn_pct + lim % 100 * mg_cfg.map_warn_pct / 100;
}

/* ---- records -------------------------------------------------------------------------------- */

/* Every record of the wall: the caller's thread and the counts. */
static void emit(struct mg_limit_event *ev)
{
	if (mg_mode() == MG_MODE_OFF)
		return;
	mg_who_now(&ev->who);
	ev->failures = __atomic_load_n(&failures, __ATOMIC_RELAXED);
	ev->bytes_kept = __atomic_load_n(&bytes_kept, __ATOMIC_RELAXED);
	mg_report_emit(mg_format_limit, ev);
}

static const char limit_expl[] =
	"the kernel refused the call because it would need one more memory mapping (VMA) than "
	"vm.max_map_count allows; unmapping part of a mapping splits it in two";
static const char limit_remedy[] =
	"raise the limit (sysctl -w vm.max_map_count=262144) or allocate and map in larger chunks";

/* ---- estimate ------------------------------------------------------------------------------- */

static void check_threshold(void)
{
	if (__atomic_exchange_n(&checking, 1, __ATOMIC_ACQUIRE))
		return;                 /* another thread is counting */
	int saved = errno;
	mg_enter();
	long warn = threshold(), lim = mg_mapcount_limit();
	bool complete;
	/* Above, only the drop back below is looked for: the read stops at the threshold. */
	long n = count_and_resync(above ? warn : 0, &complete);
	long next;
	if (n < 0) {
		next = __atomic_load_n(&est_upper, __ATOMIC_RELAXED) + MIN_SPACING;
	} else if (!complete) {
		next = __atomic_load_n(&est_upper, __ATOMIC_RELAXED) + lim / 16;
	} else if (n >= warn) {
		next = n + lim / 16;
	} else {
		/*
		 * The estimate is an upper bound: the count cannot reach the threshold before the
		 * estimate does, so far below it the next count is there. Close to it, counts are at
		 * least MIN_SPACING and n/16 calls apart (a full read costs ~0.6 us a line), but the
		 * next one always comes before the calls since could have reached the wall.
		 */
		long gap = warn - n;
		if (gap < n / 16)
			gap = n / 16;
		if (gap < MIN_SPACING)
			gap = MIN_SPACING;
		if (gap > lim - WALL_MARGIN - n)
			gap = lim - WALL_MARGIN - n;
		next = n + (gap > 1 ? gap : 1);
	}
	__atomic_store_n(&next_check, next, __ATOMIC_RELAXED);
	/* Halfway to the wall: load the unwinder now, while mapping its library still works. */
	if (n >= lim / 2 || n >= warn)
		mg_bt_load();
	if (complete && n >= warn && !above) {
		above = 1;
		struct mg_limit_event ev = { .event = "map_count_high", .action = "logged",
			.vmas = n, .limit = lim, .warn_at = warn,
			.explanation = "the process is close to vm.max_map_count: past it, mmap, "
				       "mprotect and even munmap fail with ENOMEM, and free() silently leaks",
			.remedy = limit_remedy };
		mg_bt_capture(&ev.stack);
		emit(&ev);
	} else if (complete && n < warn && above) {
		above = 0;
	}
	mg_leave();
	errno = saved;
	__atomic_store_n(&checking, 0, __ATOMIC_RELEASE);
}

void mg_mapcount_reached(long e)
{
	long next = __atomic_load_n(&next_check, __ATOMIC_RELAXED);
	if (mg_unlikely(next == 0)) {
		/* First call: a process starts with a few dozen VMAs; the first exact count waits until
		 * the calls could have added thousands (or half an absolute MMAPGUARD_MAP_WARN), so
		 * short-lived processes never read /proc/self/maps. */
		long first = mg_cfg.map_warn_abs ? mg_cfg.map_warn_abs / 2 : 4096;
		long expect = 0;
		__atomic_compare_exchange_n(&next_check, &expect, first > 1 ? first : 1, false,
					    __ATOMIC_RELAXED, __ATOMIC_RELAXED);
		next = __atomic_load_n(&next_check, __ATOMIC_RELAXED);
	}
	if (mg_unlikely(e >= next))
		check_threshold();
}

int mg_mapcount_enomem(const char *call, uintptr_t addr, size_t len, long arg3, long arg4)
{
	if (mg_mode() == MG_MODE_OFF)
		return -1;      /* errno still ENOMEM */
	int saved = errno;
	mg_enter();
	__atomic_add_fetch(&est_upper, 1, __ATOMIC_RELAXED);
	long vmas = recent_exact(), lim = mg_mapcount_limit();
	/* mmap's ENOMEM is usually plain memory or address-space exhaustion: only the wall counts. */
	if (strcmp(call, "munmap") != 0 && vmas >= 0 && vmas < lim - 2) {
		mg_leave();
		errno = saved;
		return -1;
	}
	int ret = -1;
	const char *action = "logged";
	if (strcmp(call, "munmap") == 0 && mg_cfg.munmap_release) {
		/* Only anonymous private memory: its pages can be dropped without a split. */
		char kind[2];   /* the path's first character tells anonymous and "[heap]" from files */
		struct mg_vma v = { .path = kind, .path_cap = sizeof kind };
		bool anon = true;
		for (uintptr_t a = addr; anon && a < addr + len; a = v.end)
			anon = mg_vma_find(a, &v) && (v.path[0] == 0 || v.path[0] == '[') && v.ino == 0;
		if (anon && MG_SYS3(SYS_madvise, addr, len, MADV_DONTNEED) == 0) {
			ret = 0;
			action = "released";
		}
	}
	__atomic_add_fetch(&failures, 1, __ATOMIC_RELAXED);
	if (strcmp(call, "munmap") == 0 && ret != 0)
		__atomic_add_fetch(&bytes_kept, len, __ATOMIC_RELAXED);
	struct mg_limit_event ev = { .event = "map_limit", .call = call, .action = action, .addr = addr,
		.len = len, .arg3 = arg3, .arg4 = arg4, .vmas = vmas, .limit = lim,
		.explanation = limit_expl, .remedy = limit_remedy };
	mg_bt_load();
	mg_bt_capture(&ev.stack);
	emit(&ev);
	mg_leave();
	errno = ret == 0 ? saved : ENOMEM;
	return ret;
}

void mg_mapcount_free_leak(uintptr_t base, size_t len)
{
	int saved = errno;
	mg_enter();
	long vmas = recent_exact(), lim = mg_mapcount_limit();
	/* Still mapped after free(): either the munmap failed at the wall, or another thread mapped
	 * the same range in between. Only the first is possible below the limit's neighbourhood. */
	if (vmas >= 0 && vmas >= lim - 2) {
		__atomic_add_fetch(&failures, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&bytes_kept, len, __ATOMIC_RELAXED);
		struct mg_limit_event ev = { .event = "map_limit", .call = "munmap", .action = "logged",
			.addr = base, .len = len, .vmas = vmas, .limit = lim, .from_free = true,
			.leaked = len, .explanation = limit_expl, .remedy = limit_remedy };
		mg_bt_load();
		mg_bt_capture(&ev.stack);
		emit(&ev);
	}
	mg_leave();
	errno = saved;
}

void mg_mapcount_summary(void)
{
	if (!__atomic_load_n(&failures, __ATOMIC_RELAXED))
		return;
	mg_enter();
	struct mg_limit_event ev = { .event = "map_limit_summary", .action = "logged",
		.vmas = mg_mapcount_exact(), .limit = mg_mapcount_limit(),
		.explanation = "mapping calls failed at vm.max_map_count during this run",
		.remedy = limit_remedy };
	emit(&ev);
	mg_leave();
}

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

/* Upper bound of the VMA count: last exact count + what the calls since could have added. */
static long est_upper;
static long next_check;                 /* est_upper at which to count again */
static int above;                       /* warned and not yet back below */
static long limit_cache;
static unsigned long failures, bytes_kept;
static long last_exact = -1;

#define MIN_SPACING 1024                /* calls between two exact counts near the threshold */

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
	return mg_mapcount_exact();
}

long mg_mapcount_exact(void)
{
	long fd = MG_SYS4(SYS_openat, AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	char buf[16384];
	long lines = 0, n, last = 0;
	while ((n = MG_SYS3(SYS_read, fd, buf, sizeof buf)) > 0) {
		for (long i = 0; i < n; i++)
			lines += buf[i] == '\n';
		last = n;
	}
	MG_SYS1(SYS_close, fd);
	/* [vsyscall] is listed last but is not a VMA of the process: the limit does not count it. */
	if (last > 0 && memmem(buf, (size_t)last, "[vsyscall]", 10))
		lines--;
	__atomic_store_n(&last_exact, lines, __ATOMIC_RELAXED);
	__atomic_store_n(&est_upper, lines, __ATOMIC_RELAXED);
	return lines;
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
	mg_report_emit(mg_format_limit, ev, NULL);
}

static const char limit_expl[] =
	"the kernel refused the call because it would need one more memory mapping (VMA) than "
	"vm.max_map_count allows; unmapping part of a mapping splits it in two";
static const char limit_remedy[] =
	"raise the limit (sysctl -w vm.max_map_count=262144) or allocate and map in larger chunks";

/* ---- estimate ------------------------------------------------------------------------------- */

static void check_threshold(void)
{
	static int checking;
	if (__atomic_exchange_n(&checking, 1, __ATOMIC_ACQUIRE))
		return;                 /* another thread is counting */
	int saved = errno;
	mg_enter();
	long exact = mg_mapcount_exact();
	long warn = threshold();
	if (exact >= 0) {
		long lim = mg_mapcount_limit();
		__atomic_store_n(&est_upper, exact, __ATOMIC_RELAXED);
		/* Halfway to the wall: load the unwinder now, while mapping its library still works. */
		if (exact >= lim / 2 || exact >= warn)
			mg_bt_load();
		/* Below: the count cannot reach the threshold in fewer calls than half the distance.
		 * Above: only the drop back below is looked for, and it is not urgent. */
		long gap = exact < warn ? (warn - exact) / 2 : lim / 16;
		if (exact < warn && gap < exact / 16)
			gap = exact / 16;       /* a full read costs ~20 ms at 60k lines: space them */
		if (gap < MIN_SPACING)
			gap = MIN_SPACING;
		__atomic_store_n(&next_check, exact + gap, __ATOMIC_RELAXED);
		if (exact >= warn && !above) {
			above = 1;
			struct mg_limit_event ev = { .event = "map_count_high", .action = "logged",
				.vmas = exact, .limit = lim, .warn_at = warn,
				.explanation = "the process is close to vm.max_map_count: past it, mmap, "
					       "mprotect and even munmap fail with ENOMEM, and free() silently leaks",
				.remedy = limit_remedy };
			mg_bt_load();
			mg_bt_capture(&ev.stack);
			emit(&ev);
		} else if (exact < warn && above) {
			above = 0;
		}
	}
	mg_leave();
	errno = saved;
	__atomic_store_n(&checking, 0, __ATOMIC_RELEASE);
}

void mg_mapcount_note(unsigned upper)
{
	long e = __atomic_add_fetch(&est_upper, (long)upper, __ATOMIC_RELAXED);
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
		struct mg_vma v;
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

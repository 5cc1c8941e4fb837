/*
 * The vm.max_map_count wall. The kernel refuses a munmap/mprotect/mremap that would split a VMA
 * once the process holds max_map_count VMAs; glibc's free() ignores that and leaks the block.
 * An upper-bound estimate of the VMA count is kept without system calls; /proc/self/maps is read
 * only when the estimate could have crossed the warning threshold.
 */
#ifndef MG_MAPCOUNT_H
#define MG_MAPCOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "guard.h"

/*
 * A mapping call succeeded: it may have added up to `upper` VMAs (the worst case of the call: a
 * new mapping 1, a hole in a mapping 1, MAP_FIXED or mprotect in the middle of one 2, mremap 2 or
 * with MREMAP_FIXED 3). Lock-free; may read /proc/self/maps when close to the threshold.
 */
extern long mg_mapcount_est_upper MG_HIDDEN, mg_mapcount_next_check MG_HIDDEN;
/* The estimate reached e, at or past the next exact count (0 before the first call). */
void mg_mapcount_reached(long e) MG_HIDDEN;
/* Inline: every mapping call of the program passes here. */
static inline void mg_mapcount_note(unsigned upper)
{
	long e = __atomic_add_fetch(&mg_mapcount_est_upper, (long)upper, __ATOMIC_RELAXED);
	if (mg_unlikely(e >= __atomic_load_n(&mg_mapcount_next_check, __ATOMIC_RELAXED)))
		mg_mapcount_reached(e);
}
/*
 * A munmap removed at least one VMA: the whole of a window no other one adjoins (registry.h). It
 * adds nothing, and takes back the 1 its mmap added: the next exact count moves one call later,
 * so a program that maps and unmaps files in a loop does not drift towards reading
 * /proc/self/maps. (One that races with an exact count of another thread may move that count's
 * successor one call too late for each such thread; the margin before the wall is a few calls.)
 */
static inline void mg_mapcount_unmapped_whole(void)
{
	long next = __atomic_load_n(&mg_mapcount_next_check, __ATOMIC_RELAXED);
	while (next != 0 && !__atomic_compare_exchange_n(&mg_mapcount_next_check, &next, next + 1,
							 true, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}
/* Fork child: the threads that held the guard's read buffers or were counting are gone. */
void mg_mapcount_atfork_child(void) MG_HIDDEN;
/*
 * A mapping call failed with ENOMEM: report it (event map_limit). For munmap with the release
 * mitigation on, returns 0 when the memory was given back with MADV_DONTNEED; else -1.
 */
int mg_mapcount_enomem(const char *call, uintptr_t addr, size_t len, long arg3, long arg4) MG_HIDDEN;
/* glibc's free() of an mmapped chunk left it mapped: report the leak. */
void mg_mapcount_free_leak(uintptr_t base, size_t len) MG_HIDDEN;
/* Exact count of this process's VMAs (reads /proc/self/maps); -1 on error. */
long mg_mapcount_exact(void) MG_HIDDEN;
long mg_mapcount_limit(void) MG_HIDDEN;
/* At exit: a summary line if anything failed. */
void mg_mapcount_summary(void) MG_HIDDEN;

#endif

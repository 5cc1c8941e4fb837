/* The last complete walks of other processes' maps (see scan_recent.h). */
#include "scan_recent.h"
#include "config.h"

#define ENTRIES 16

struct recent {
	unsigned seq;                   /* odd while written */
	uint64_t dev, ino, extent, at_ms;
};
static struct recent recent[ENTRIES];

static struct recent *slot(uint64_t ino)
{
	return &recent[(ino * 0x9e3779b97f4a7c15ull) >> 60];
}

void mg_scan_recent_put(dev_t dev, ino_t ino, uint64_t extent, uint64_t now_ms)
{
	struct recent *r = slot((uint64_t)ino);
	unsigned s = __atomic_load_n(&r->seq, __ATOMIC_RELAXED);
	/* one writer at a time; a writer that loses the race keeps nothing (the next walk will) */
	if ((s & 1) || !__atomic_compare_exchange_n(&r->seq, &s, s + 1, false, __ATOMIC_ACQUIRE,
						    __ATOMIC_RELAXED))
		return;
	__atomic_store_n(&r->dev, (uint64_t)dev, __ATOMIC_RELAXED);
	__atomic_store_n(&r->ino, (uint64_t)ino, __ATOMIC_RELAXED);
	__atomic_store_n(&r->extent, extent, __ATOMIC_RELAXED);
	__atomic_store_n(&r->at_ms, now_ms, __ATOMIC_RELAXED);
	__atomic_store_n(&r->seq, s + 2, __ATOMIC_RELEASE);
}

bool mg_scan_recent_clear(dev_t dev, ino_t ino, uint64_t limit, uint64_t now_ms)
{
	const struct recent *r = slot((uint64_t)ino);
	unsigned s = __atomic_load_n(&r->seq, __ATOMIC_ACQUIRE);
	if (s == 0 || (s & 1))
		return false;
	uint64_t d = __atomic_load_n(&r->dev, __ATOMIC_RELAXED);
	uint64_t i = __atomic_load_n(&r->ino, __ATOMIC_RELAXED);
	uint64_t extent = __atomic_load_n(&r->extent, __ATOMIC_RELAXED);
	uint64_t at = __atomic_load_n(&r->at_ms, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (__atomic_load_n(&r->seq, __ATOMIC_RELAXED) != s)
		return false;
	return d == (uint64_t)dev && i == (uint64_t)ino && now_ms >= at &&
	       now_ms - at < (uint64_t)mg_cfg.scan_reuse_ms && extent <= limit;
}

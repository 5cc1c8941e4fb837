/*
 * The rule (shim/rule.h) on every boundary, for page sizes 4096 and 65536, against hand-computed
 * values and against a page-by-page brute force:
 *   a page of file bytes [p, p + page) is backed while p < size (the page holding EOF stays
 *   readable); a page is cut when it was backed at old_size and is not at new_size.
 */
#include "rule.h"
#include "unit.h"

static uint64_t bf_cut(uint64_t off, uint64_t len, uint64_t old_size, uint64_t new_size, uint64_t page)
{
	uint64_t n = 0;
	for (uint64_t p = off; p < off + len; p += page)
		n += p < old_size && !(p < new_size);
	return n;
}

static uint64_t bf_beyond(uint64_t off, uint64_t len, uint64_t size, uint64_t page)
{
	uint64_t n = 0;
	for (uint64_t p = off; p < off + len; p += page)
		n += !(p < size);
	return n;
}

/* Smallest size keeping every page backed: one byte into the last page. */
static uint64_t bf_safe(uint64_t off, uint64_t len, uint64_t page)
{
	return len ? off + len - page + 1 : 0;
}

static char tag[64];    /* seed and step of the random test */

/* Every function, against the brute force and against each other. */
static void check_all(uint64_t off, uint64_t len, uint64_t old_size, uint64_t new_size, uint64_t page)
{
	mg_unit_context("%s off=%" PRIu64 " len=%" PRIu64 " old=%" PRIu64 " new=%" PRIu64 " page=%" PRIu64,
			tag, off, len, old_size, new_size, page);
	CHECK_U64(mg_rule_pages_cut(off, len, old_size, new_size, page),
		  bf_cut(off, len, old_size, new_size, page));
	CHECK_U64(mg_rule_pages_beyond(off, len, new_size, page), bf_beyond(off, len, new_size, page));
	CHECK_U64(mg_rule_pages_beyond(off, len, old_size, page), bf_beyond(off, len, old_size, page));
	/* cut == pages beyond the new size that were not already beyond the old one */
	uint64_t bn = bf_beyond(off, len, new_size, page), bo = bf_beyond(off, len, old_size, page);
	CHECK_U64(mg_rule_pages_cut(off, len, old_size, new_size, page), bn > bo ? bn - bo : 0);
	/* growing never cuts */
	if (new_size >= old_size)
		CHECK_U64(mg_rule_pages_cut(off, len, old_size, new_size, page), 0);
	uint64_t safe = mg_rule_safe_size(off, len, page);
	CHECK_U64(safe, bf_safe(off, len, page));
	if (len) {
		/* safe size: no page beyond; one byte less: exactly the last page beyond */
		CHECK_U64(mg_rule_pages_beyond(off, len, safe, page), 0);
		CHECK_U64(mg_rule_pages_beyond(off, len, safe - 1, page), 1);
	}
}

static void test_boundaries_at(uint64_t page, uint64_t off)
{
	for (uint64_t npages = 1; npages <= 4; npages++) {
		uint64_t len = npages * page, end = off + len;
		mg_unit_context("page=%" PRIu64 " off=%" PRIu64 " len=%" PRIu64, page, off, len);
		/* file covering the whole window before the call (old = end, or bigger) */
		for (uint64_t old = end; old <= end + 2 * page; old += page) {
			CHECK_U64(mg_rule_pages_cut(off, len, old, end - page, page), 1, "S = off+len-page");
			CHECK_U64(mg_rule_pages_cut(off, len, old, end - page + 1, page), 0, "S = off+len-page+1");
			CHECK_U64(mg_rule_pages_cut(off, len, old, end - 1, page), 0, "S = off+len-1");
			CHECK_U64(mg_rule_pages_cut(off, len, old, end, page), 0, "S = off+len");
			CHECK_U64(mg_rule_pages_cut(off, len, old, end + 1, page), 0, "S = off+len+1");
			CHECK_U64(mg_rule_pages_cut(off, len, old, 0, page), npages, "S = 0");
			CHECK_U64(mg_rule_pages_cut(off, len, old, off, page), npages, "S = off");
			CHECK_U64(mg_rule_pages_cut(off, len, old, off + 1, page), npages - 1, "S = off+1");
			if (off)
				CHECK_U64(mg_rule_pages_cut(off, len, old, off - 1, page), npages, "S = off-1");
			if (end >= 2 * page)    /* the page before the last keeps EOF: only the last goes */
				CHECK_U64(mg_rule_pages_cut(off, len, old, end - 2 * page + 1, page), 1,
					  "S = off+len-2*page+1");
		}
		/* pages wholly beyond a size */
		CHECK_U64(mg_rule_pages_beyond(off, len, end - page, page), 1);
		CHECK_U64(mg_rule_pages_beyond(off, len, end - page + 1, page), 0);
		CHECK_U64(mg_rule_pages_beyond(off, len, end - 1, page), 0);
		CHECK_U64(mg_rule_pages_beyond(off, len, end, page), 0);
		CHECK_U64(mg_rule_pages_beyond(off, len, end + page * 7, page), 0);
		CHECK_U64(mg_rule_pages_beyond(off, len, 0, page), npages);
		CHECK_U64(mg_rule_pages_beyond(off, len, off, page), npages);
		CHECK_U64(mg_rule_pages_beyond(off, len, off + 1, page), npages - 1);
		CHECK_U64(mg_rule_safe_size(off, len, page), end - page + 1);

		/* Old size smaller than the window: the window was already partly beyond EOF. */
		for (uint64_t k = 0; k < npages; k++) {
			uint64_t old = off + k * page + page / 2;       /* pages 0..k backed, EOF in page k */
			mg_unit_context("page=%" PRIu64 " off=%" PRIu64 " len=%" PRIu64 " old=%" PRIu64,
					page, off, len, old);
			CHECK_U64(mg_rule_pages_cut(off, len, old, old, page), 0, "same size");
			CHECK_U64(mg_rule_pages_cut(off, len, old, old - 1, page), 0, "EOF stays in page k");
			CHECK_U64(mg_rule_pages_cut(off, len, old, off + k * page + 1, page), 0, "EOF stays in page k");
			CHECK_U64(mg_rule_pages_cut(off, len, old, off + k * page, page), 1, "page k goes");
			if (k > 0)
				CHECK_U64(mg_rule_pages_cut(off, len, old, off + k * page - 1, page), 1, "page k goes");
			CHECK_U64(mg_rule_pages_cut(off, len, old, 0, page), k + 1, "all backed pages go");
			CHECK_U64(mg_rule_pages_cut(off, len, old, off, page), k + 1, "all backed pages go");
			CHECK_U64(mg_rule_pages_cut(off, len, old, end * 2, page), 0, "growing");
			CHECK_U64(mg_rule_pages_beyond(off, len, old, page), npages - k - 1);
		}
		/* window wholly beyond the old EOF: any shrink is harmless to it */
		if (off >= page) {
			CHECK_U64(mg_rule_pages_cut(off, len, off, 0, page), 0, "old == off");
			CHECK_U64(mg_rule_pages_cut(off, len, off - 1, 0, page), 0, "old = off-1");
			CHECK_U64(mg_rule_pages_cut(off, len, off - page + 1, 0, page), 0, "old = off-page+1");
		}
		CHECK_U64(mg_rule_pages_cut(off, len, off + 1, 0, page), 1, "old = off+1: first page backed");
		CHECK_U64(mg_rule_pages_cut(off, len, off + 1, off, page), 1, "old = off+1, new = off");
		CHECK_U64(mg_rule_pages_cut(off, len, off + 1, off + 1, page), 0);
		CHECK_U64(mg_rule_pages_cut(off, len, 0, 0, page), 0, "empty file stays empty");
	}
}

static void test_boundaries(void)
{
	static const uint64_t pages[] = { 4096, 65536 };
	for (int i = 0; i < 2; i++) {
		uint64_t page = pages[i];
		uint64_t offs[] = { 0, page, 2 * page, 7 * page, 1000 * page, (uint64_t)1 << 40 };
		for (size_t j = 0; j < sizeof offs / sizeof offs[0]; j++)
			test_boundaries_at(page, offs[j]);
	}
}

/* The "S = off+len-1 is still fine, S = off+len-page is not" rule, written out literally. */
static void test_spec_examples(void)
{
	/* 4 KiB pages, window of file bytes [0, 8192) */
	CHECK_U64(mg_rule_pages_cut(0, 8192, 8192, 4096, 4096), 1);
	CHECK_U64(mg_rule_pages_cut(0, 8192, 8192, 4097, 4096), 0);
	CHECK_U64(mg_rule_pages_cut(0, 8192, 8192, 8191, 4096), 0);
	CHECK_U64(mg_rule_pages_cut(0, 8192, 8192, 0, 4096), 2);
	CHECK_U64(mg_rule_pages_cut(0, 8192, 10000, 8192, 4096), 0);
	CHECK_U64(mg_rule_pages_cut(0, 8192, 5000, 4096, 4096), 1);   /* old EOF inside page 1 */
	CHECK_U64(mg_rule_pages_cut(0, 8192, 4096, 100, 4096), 0);    /* page 1 already beyond */
	CHECK_U64(mg_rule_pages_cut(0, 8192, 4096, 0, 4096), 1);
	/* window [4096, 12288) of the file (mmap offset 4096, two pages) */
	CHECK_U64(mg_rule_pages_cut(4096, 8192, 12288, 4096, 4096), 2);
	CHECK_U64(mg_rule_pages_cut(4096, 8192, 12288, 4097, 4096), 1);
	CHECK_U64(mg_rule_pages_cut(4096, 8192, 12288, 8193, 4096), 0);
	CHECK_U64(mg_rule_pages_cut(4096, 8192, 12288, 0, 4096), 2);
	CHECK_U64(mg_rule_safe_size(4096, 8192, 4096), 8193);
	CHECK_U64(mg_rule_safe_size(0, 4096, 4096), 1);
	CHECK_U64(mg_rule_safe_size(0, 0, 4096), 0);
	CHECK_U64(mg_rule_safe_size(123 * 65536, 65536, 65536), 123 * 65536 + 1);
	/* 64 KiB pages: a 4 KiB-aligned size inside the last page keeps it */
	CHECK_U64(mg_rule_pages_cut(0, 131072, 131072, 65536 + 4096, 65536), 0);
	CHECK_U64(mg_rule_pages_cut(0, 131072, 131072, 65536, 65536), 1);
	/* empty window */
	CHECK_U64(mg_rule_pages_cut(4096, 0, 1 << 20, 0, 4096), 0);
	CHECK_U64(mg_rule_pages_beyond(4096, 0, 0, 4096), 0);
	/* mg_round_up */
	CHECK_U64(mg_round_up(0, 4096), 0);
	CHECK_U64(mg_round_up(1, 4096), 4096);
	CHECK_U64(mg_round_up(4096, 4096), 4096);
	CHECK_U64(mg_round_up(4097, 65536), 65536);
	CHECK_U64(mg_round_up(INT64_MAX, 4096), (uint64_t)1 << 63);
	CHECK_U64(mg_round_up(INT64_MAX, 65536), (uint64_t)1 << 63);
}

/* Sizes are off_t (at most 2^63 - 1); windows end at most at 2^63. Nothing may wrap. */
static void test_huge(void)
{
	static const uint64_t pages[] = { 4096, 65536 };
	const uint64_t top = (uint64_t)1 << 63, smax = (uint64_t)INT64_MAX;
	for (int i = 0; i < 2; i++) {
		uint64_t p = pages[i];
		mg_unit_context("huge, page=%" PRIu64, p);
		/* the last four pages below 2^63 */
		uint64_t off = top - 4 * p, len = 4 * p;
		CHECK_U64(mg_rule_pages_cut(off, len, smax, smax, p), 0);
		CHECK_U64(mg_rule_pages_cut(off, len, smax, top - p, p), 1);
		CHECK_U64(mg_rule_pages_cut(off, len, smax, top - p + 1, p), 0);
		CHECK_U64(mg_rule_pages_cut(off, len, smax, top - 1, p), 0);
		CHECK_U64(mg_rule_pages_cut(off, len, smax, off, p), 4);
		CHECK_U64(mg_rule_pages_cut(off, len, smax, 0, p), 4);
		CHECK_U64(mg_rule_pages_cut(off, len, smax, 1, p), 4);
		CHECK_U64(mg_rule_pages_cut(off, len, top - 2 * p, 0, p), 2);
		CHECK_U64(mg_rule_pages_cut(off, len, 0, smax, p), 0);
		CHECK_U64(mg_rule_pages_beyond(off, len, smax, p), 0);
		CHECK_U64(mg_rule_pages_beyond(off, len, top - p, p), 1);
		CHECK_U64(mg_rule_pages_beyond(off, len, 0, p), 4);
		CHECK_U64(mg_rule_safe_size(off, len, p), top - p + 1);
		/* one window over the whole 2^63 range */
		CHECK_U64(mg_rule_pages_cut(0, top, smax, 0, p), top / p);
		CHECK_U64(mg_rule_pages_cut(0, top, smax, smax, p), 0);
		CHECK_U64(mg_rule_pages_cut(0, top, smax, top / 2 + 1, p), (top / 2 - p) / p);
		CHECK_U64(mg_rule_pages_cut(0, top, top / 2, 0, p), top / 2 / p);
		CHECK_U64(mg_rule_pages_beyond(0, top, 1, p), top / p - 1);
		CHECK_U64(mg_rule_safe_size(0, top, p), top - p + 1);
		/* a small window far below a huge file */
		CHECK_U64(mg_rule_pages_cut(p, p, smax, 0, p), 1);
		CHECK_U64(mg_rule_pages_cut(p, p, smax, p + 1, p), 0);
		/* a small window with a huge offset, sizes around it (brute force is cheap: few pages) */
		for (uint64_t k = 0; k < 64; k++) {
			uint64_t o = top - (k + 8) * p;
			uint64_t sizes[] = { 0, 1, o - 1, o, o + 1, o + p - 1, o + p, o + p + 1,
					     o + 2 * p, o + 3 * p - 1, o + 4 * p, top - p, top - 1 };
			for (size_t a = 0; a < sizeof sizes / sizeof sizes[0]; a++)
				for (size_t b = 0; b < sizeof sizes / sizeof sizes[0]; b++)
					check_all(o, 4 * p, sizes[a], sizes[b], p);
		}
	}
}

/* Exhaustive over small numbers (in pages and bytes around page boundaries). */
static void test_bruteforce_small(void)
{
	static const uint64_t pages[] = { 4096, 65536 };
	for (int i = 0; i < 2; i++) {
		uint64_t p = pages[i];
		uint64_t sizes[64];
		size_t ns = 0;
		for (uint64_t k = 0; k <= 9; k++) {
			sizes[ns++] = k * p;
			sizes[ns++] = k * p + 1;
			sizes[ns++] = k * p + p / 2;
			if (k)
				sizes[ns++] = k * p - 1;
		}
		for (uint64_t off = 0; off <= 5 * p; off += p)
			for (uint64_t len = 0; len <= 4 * p; len += p)
				for (size_t a = 0; a < ns; a++)
					for (size_t b = 0; b < ns; b++)
						check_all(off, len, sizes[a], sizes[b], p);
	}
}

/* Random windows and sizes anywhere below 2^63 (few pages, so the brute force stays cheap). */
static void test_random(void)
{
	uint64_t seed = mg_unit_seed(0x5eed0001);
	mg_rng_seed(seed);
	printf("test_random: seed 0x%" PRIx64 " (set MG_UNIT_SEED to repeat)\n", seed);
	static const uint64_t pages[] = { 4096, 65536 };
	for (int it = 0; it < 200000; it++) {
		uint64_t p = pages[mg_rng_below(2)];
		uint64_t npages = mg_rng_below(17);
		uint64_t maxoff_pages = (((uint64_t)1 << 63) / p) - npages;
		uint64_t offp = mg_rng_below(4) ? mg_rng_below(64) : mg_rng_below(maxoff_pages + 1);
		uint64_t off = offp * p, len = npages * p;
		uint64_t around = off + mg_rng_below(len + 2 * p + 1);
		uint64_t limit = (uint64_t)INT64_MAX;
		uint64_t old = mg_rng_below(3) ? around - (around > p ? mg_rng_below(p) : 0) : mg_rng_below(limit);
		uint64_t neu = mg_rng_below(4) ? off + mg_rng_below(len + 2 * p + 1) - mg_rng_below(p)
					       : mg_rng_below(limit);
		if (old > limit)
			old = limit;
		if (neu > limit)
			neu = limit;
		snprintf(tag, sizeof tag, "seed=0x%" PRIx64 " it=%d", seed, it);
		check_all(off, len, old, neu, p);
	}
	tag[0] = 0;
}

int main(void)
{
	printf("unit_rule (sanitizers: %s)\n", mg_unit_sanitizers());
	RUN(test_spec_examples);
	RUN(test_boundaries);
	RUN(test_huge);
	RUN(test_bruteforce_small);
	RUN(test_random);
	printf("unit_rule: all passed\n");
	return 0;
}

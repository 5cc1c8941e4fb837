/*
 * The registry (shim/registry.h), linked without the preload: interval bookkeeping for insert,
 * remove, MAP_FIXED-style replacement and mremap, the per-file answers (endangered windows,
 * all windows, safe size), the counters, and 100000 windows in random order.
 * Addresses are plain numbers: the registry never touches the memory it describes.
 */
#define _GNU_SOURCE
#include "reg_util.h"
#include "rule.h"

#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

/* Files: F3 has F1's inode number on another device. */
#define F1 1, 10
#define F2 1, 11
#define F3 2, 10

/* A window with metadata derived from tag, so that splits and moves can be checked to carry it. */
static struct mg_window wtag(uint64_t at, uint64_t npages, dev_t dev, ino_t ino, uint64_t offpages, int tag)
{
	struct mg_window w = mkwin(at, npages, dev, ino, offpages);
	w.prot = tag % 2 ? PROT_READ : PROT_READ | PROT_WRITE;
	w.shared = tag % 3 != 0;
	w.tid = 1000 + tag;
	snprintf(w.thread_name, sizeof w.thread_name, "thr-%d", tag);
	w.created.tv_sec = 1700000000 + tag;
	w.created.tv_nsec = tag;
	struct mg_stack st = { .n = 3 };
	for (int i = 0; i < 3; i++)
		st.ip[i] = (uintptr_t)(0x400000 + tag * 16 + i);
	w.stack = mg_depot_intern(&st);
	return w;
}

static void ins(struct mg_window w)
{
	CHECK(mg_reg_insert_locked(&w) == 0, "insert [0x%lx, 0x%lx)", (unsigned long)w.start, (unsigned long)w.end);
}

struct ex {
	uint64_t at, npages;
	dev_t dev;
	ino_t ino;
	uint64_t offpages;
	int tag;        /* metadata of wtag(tag); -1: not checked */
};

static void check_meta(const struct mg_window *w, int tag)
{
	struct mg_window e = wtag(0, 1, 0, 0, 0, tag);
	CHECK(w->prot == e.prot && w->shared == e.shared && w->tid == e.tid, "prot/shared/tid of tag %d", tag);
	CHECK_STR(w->thread_name, e.thread_name);
	CHECK(w->created.tv_sec == e.created.tv_sec && w->created.tv_nsec == e.created.tv_nsec);
	const struct mg_stack *ws = mg_win_stack(w), *es = mg_win_stack(&e);
	CHECK(ws->n == 3 && memcmp(ws->ip, es->ip, 3 * sizeof es->ip[0]) == 0, "stack of tag %d", tag);
	CHECK(ws == es, "the depot keeps one copy of the stack of tag %d", tag);
}

static void print_snap(const struct snap *s)
{
	for (size_t i = 0; i < s->n; i++)
		fprintf(stderr, "    [page %lu, +%lu) file (%lu,%lu) offset page %lu\n",
			(unsigned long)((s->w[i].start - BASE) / P), (unsigned long)((s->w[i].end - s->w[i].start) / P),
			(unsigned long)s->w[i].dev, (unsigned long)s->w[i].ino, (unsigned long)(s->w[i].offset / P));
}

/* The registry must hold exactly these windows, in this order. */
static void expect_(const char *what, const struct ex *e, size_t n)
{
	struct snap s = snapshot();
	int ok = s.n == n;
	for (size_t i = 0; ok && i < n; i++) {
		const struct mg_window *w = &s.w[i];
		ok = w->start == pg(e[i].at) && w->end == pg(e[i].at + e[i].npages) && w->dev == e[i].dev &&
		     w->ino == e[i].ino && w->offset == e[i].offpages * P;
	}
	if (!ok) {
		fprintf(stderr, "after %s, registry holds:\n", what);
		print_snap(&s);
		fprintf(stderr, "  expected:\n");
		for (size_t i = 0; i < n; i++)
			fprintf(stderr, "    [page %lu, +%lu) file (%lu,%lu) offset page %lu\n",
				(unsigned long)e[i].at, (unsigned long)e[i].npages, (unsigned long)e[i].dev,
				(unsigned long)e[i].ino, (unsigned long)e[i].offpages);
		mg_unit_fail(__FILE__, __LINE__, "registry contents", " registry differs after %s", what);
	}
	for (size_t i = 0; i < n; i++)
		if (e[i].tag >= 0)
			check_meta(&s.w[i], e[i].tag);
	free(s.w);
	check_invariants();
}

#define EXPECT(what, ...) \
	do { \
		static const struct ex e_[] = { __VA_ARGS__ }; \
		expect_(what, e_, sizeof e_ / sizeof e_[0]); \
	} while (0)

static void expect_empty(const char *what)
{
	expect_(what, NULL, 0);
	CHECK_U64(mg_reg_nmaps(), 0, "after %s", what);
	CHECK_U64(mg_reg_nfiles(), 0, "after %s", what);
}

static void reset(void)
{
	mg_reg_clear_locked();
	expect_empty("clear");
}

/* ---- tests ----------------------------------------------------------------------------------- */

static void test_empty(void)
{
	reset();
	struct mg_window w;
	CHECK(!mg_reg_find_locked(pg(0), &w));
	CHECK(!mg_reg_find_locked(0, NULL));
	CHECK(!mg_reg_overlaps_locked(0, UINTPTR_MAX));
	CHECK(!mg_reg_file_tracked_locked(F1));
	CHECK_U64(mg_reg_endangered_locked(F1, 0, 100 * P, 0, &w, 1), 0);
	CHECK_U64(mg_reg_windows_locked(F1, &w, 1), 0);
	CHECK_U64(mg_reg_safe_size_locked(F1), 0);
	CHECK(mg_reg_remove_locked(0, UINTPTR_MAX) == 0);
	CHECK(mg_reg_mremap_locked(pg(0), 4 * P, pg(10), 4 * P, false) == 0);
	CHECK(mg_reg_mremap_locked(pg(0), 0, pg(10), 4 * P, false) == 0);
	expect_empty("operations on an empty registry");
	/* empty and inverted windows are ignored */
	struct mg_window e = mkwin(5, 0, F1, 0);
	CHECK(mg_reg_insert_locked(&e) == 0);
	e.start = pg(6);
	e.end = pg(5);
	CHECK(mg_reg_insert_locked(&e) == 0);
	expect_empty("inserting empty windows");
	ins(mkwin(0, 1, F1, 0));
	CHECK(!mg_reg_overlaps_locked(pg(0), pg(0)), "empty range overlaps nothing");
	CHECK(!mg_reg_overlaps_locked(pg(1), pg(0)), "inverted range overlaps nothing");
	CHECK(mg_reg_remove_locked(pg(1), pg(0)) == 0);
	CHECK(mg_reg_remove_locked(pg(0), pg(0)) == 0);
	EXPECT("removing empty ranges", { 0, 1, F1, 0, -1 });
}

static void test_insert_remove(void)
{
	reset();
	ins(wtag(0, 4, F1, 0, 1));
	EXPECT("insert", { 0, 4, F1, 0, 1 });
	CHECK_U64(mg_reg_nmaps(), 1);
	CHECK_U64(mg_reg_nfiles(), 1);
	struct mg_window f;
	CHECK(mg_reg_find_locked(pg(2) + 123, &f) && f.start == pg(0));
	CHECK(!mg_reg_find_locked(pg(4), &f));
	CHECK(!mg_reg_find_locked(pg(0) - 1, &f));
	CHECK(mg_reg_overlaps_locked(pg(3), pg(5)));
	CHECK(mg_reg_overlaps_locked(pg(0) - 1, pg(0) + 1));
	CHECK(!mg_reg_overlaps_locked(pg(4), pg(10)));
	CHECK(!mg_reg_overlaps_locked(pg(0) - P, pg(0)));
	CHECK(mg_reg_remove_locked(pg(0), pg(4)) == 0);
	expect_empty("remove whole");
	CHECK(!mg_reg_file_tracked_locked(F1));

	/* file bytes [5P, 15P) at pages [0, 10) */
	ins(wtag(0, 10, F1, 5, 2));
	mg_reg_remove_locked(pg(0), pg(2));
	EXPECT("remove head", { 2, 8, F1, 7, 2 });
	mg_reg_remove_locked(pg(8), pg(10));
	EXPECT("remove tail", { 2, 6, F1, 7, 2 });
	mg_reg_remove_locked(pg(4), pg(6));
	EXPECT("remove a hole", { 2, 2, F1, 7, 2 }, { 6, 2, F1, 11, 2 });
	CHECK_U64(mg_reg_nmaps(), 2);
	CHECK_U64(mg_reg_nfiles(), 1);
	mg_reg_remove_locked(pg(100), pg(200));
	mg_reg_remove_locked(pg(4), pg(6));
	mg_reg_remove_locked(0, pg(2));
	EXPECT("removing unmapped ranges", { 2, 2, F1, 7, 2 }, { 6, 2, F1, 11, 2 });
	mg_reg_remove_locked(pg(3), pg(7));
	EXPECT("remove across two windows", { 2, 1, F1, 7, 2 }, { 7, 1, F1, 12, 2 });
	mg_reg_remove_locked(pg(2), pg(3));
	EXPECT("remove one exactly", { 7, 1, F1, 12, 2 });
	mg_reg_remove_locked(0, UINTPTR_MAX);
	expect_empty("remove everything");

	/* a hole of one page in the middle of a large window, then holes next to holes */
	ins(wtag(0, 9, F2, 0, 3));
	for (uint64_t k = 1; k < 9; k += 2) {
		mg_reg_remove_locked(pg(k), pg(k + 1));
		check_invariants();
	}
	EXPECT("every other page", { 0, 1, F2, 0, 3 }, { 2, 1, F2, 2, 3 }, { 4, 1, F2, 4, 3 },
	       { 6, 1, F2, 6, 3 }, { 8, 1, F2, 8, 3 });

	/* remove spanning several windows of several files */
	reset();
	ins(wtag(0, 4, F1, 0, 1));
	ins(wtag(4, 4, F2, 0, 2));
	ins(wtag(10, 2, F1, 20, 3));
	ins(wtag(12, 4, F3, 0, 4));
	CHECK_U64(mg_reg_nfiles(), 3);
	mg_reg_remove_locked(pg(2), pg(14));
	EXPECT("remove spanning four windows", { 0, 2, F1, 0, 1 }, { 14, 2, F3, 2, 4 });
	CHECK(!mg_reg_file_tracked_locked(F2));
	CHECK(mg_reg_file_tracked_locked(F1) && mg_reg_file_tracked_locked(F3));
	CHECK_U64(mg_reg_nfiles(), 2);
	mg_reg_remove_locked(pg(0), pg(2));
	mg_reg_remove_locked(pg(14), pg(16));
	expect_empty("removing the rest");
}

static void test_insert_over(void)
{
	reset();
	ins(wtag(0, 10, F1, 0, 1));
	ins(wtag(3, 2, F2, 100, 2));
	EXPECT("insert into the middle", { 0, 3, F1, 0, 1 }, { 3, 2, F2, 100, 2 }, { 5, 5, F1, 5, 1 });
	CHECK_U64(mg_reg_nfiles(), 2);

	reset();
	ins(wtag(0, 10, F1, 0, 1));
	ins(wtag(12, 8, F2, 50, 2));
	ins(wtag(22, 2, F3, 0, 3));
	ins(wtag(8, 15, F1, 1000, 4));
	EXPECT("insert over a tail, a whole window and a head",
	       { 0, 8, F1, 0, 1 }, { 8, 15, F1, 1000, 4 }, { 23, 1, F3, 1, 3 });
	CHECK(!mg_reg_file_tracked_locked(F2));
	CHECK_U64(mg_reg_nfiles(), 2);

	ins(wtag(8, 15, F2, 7, 5));
	EXPECT("insert exactly over a window", { 0, 8, F1, 0, 1 }, { 8, 15, F2, 7, 5 }, { 23, 1, F3, 1, 3 });
	ins(wtag(8, 15, F2, 7, 5));
	EXPECT("insert the same window again", { 0, 8, F1, 0, 1 }, { 8, 15, F2, 7, 5 }, { 23, 1, F3, 1, 3 });
	CHECK_U64(mg_reg_nmaps(), 3);
	ins(wtag(0, 1, F3, 9, 6));
	EXPECT("insert over the first page", { 0, 1, F3, 9, 6 }, { 1, 7, F1, 1, 1 }, { 8, 15, F2, 7, 5 },
	       { 23, 1, F3, 1, 3 });
	ins(wtag(23, 1, F1, 0, 7));
	EXPECT("insert over the last page", { 0, 1, F3, 9, 6 }, { 1, 7, F1, 1, 1 }, { 8, 15, F2, 7, 5 },
	       { 23, 1, F1, 0, 7 });
	ins(wtag(0, 100, F2, 0, 8));
	EXPECT("insert over everything", { 0, 100, F2, 0, 8 });
	CHECK_U64(mg_reg_nfiles(), 1);
	/* adjacent windows stay separate and keep their own metadata */
	ins(wtag(100, 5, F2, 100, 9));
	EXPECT("adjacent", { 0, 100, F2, 0, 8 }, { 100, 5, F2, 100, 9 });
}

static void test_mremap(void)
{
	/* shrink in place */
	reset();
	ins(wtag(0, 8, F1, 4, 1));
	CHECK(mg_reg_mremap_locked(pg(0), 8 * P, pg(0), 3 * P, false) == 0);
	EXPECT("shrink in place", { 0, 3, F1, 4, 1 });
	/* grow in place */
	CHECK(mg_reg_mremap_locked(pg(0), 3 * P, pg(0), 10 * P, false) == 0);
	EXPECT("grow in place", { 0, 10, F1, 4, 1 });
	/* move */
	CHECK(mg_reg_mremap_locked(pg(0), 10 * P, pg(20), 10 * P, false) == 0);
	EXPECT("move", { 20, 10, F1, 4, 1 });
	CHECK(mg_reg_mremap_locked(pg(20), 10 * P, pg(40), 12 * P, false) == 0);
	EXPECT("move and grow", { 40, 12, F1, 4, 1 });
	CHECK(mg_reg_mremap_locked(pg(40), 12 * P, pg(60), 2 * P, false) == 0);
	EXPECT("move and shrink", { 60, 2, F1, 4, 1 });
	/* move to a lower address */
	CHECK(mg_reg_mremap_locked(pg(60), 2 * P, pg(1), 2 * P, false) == 0);
	EXPECT("move down", { 1, 2, F1, 4, 1 });

	/* move over other windows */
	reset();
	ins(wtag(0, 4, F1, 0, 1));
	ins(wtag(10, 10, F2, 0, 2));
	ins(wtag(22, 4, F3, 0, 3));
	CHECK(mg_reg_mremap_locked(pg(0), 4 * P, pg(18), 6 * P, false) == 0);
	EXPECT("move over the tail of one window and the head of another",
	       { 10, 8, F2, 0, 2 }, { 18, 6, F1, 0, 1 }, { 24, 2, F3, 2, 3 });
	CHECK(mg_reg_mremap_locked(pg(18), 6 * P, pg(12), 2 * P, false) == 0);
	EXPECT("move into the middle of another window",
	       { 10, 2, F2, 0, 2 }, { 12, 2, F1, 0, 1 }, { 14, 4, F2, 4, 2 }, { 24, 2, F3, 2, 3 });
	CHECK(mg_reg_mremap_locked(pg(24), 2 * P, pg(9), 10 * P, false) == 0);
	EXPECT("move and grow over three windows", { 9, 10, F3, 2, 3 });
	CHECK_U64(mg_reg_nfiles(), 1);

	/* move a part of a window: leaves a hole */
	reset();
	ins(wtag(0, 10, F1, 0, 1));
	CHECK(mg_reg_mremap_locked(pg(3), 2 * P, pg(30), 2 * P, false) == 0);
	EXPECT("move the middle", { 0, 3, F1, 0, 1 }, { 5, 5, F1, 5, 1 }, { 30, 2, F1, 3, 1 });
	CHECK(mg_reg_mremap_locked(pg(7), 3 * P, pg(40), 5 * P, false) == 0);
	EXPECT("move and grow the tail", { 0, 3, F1, 0, 1 }, { 5, 2, F1, 5, 1 }, { 30, 2, F1, 3, 1 },
	       { 40, 5, F1, 7, 1 });

	/* several windows with contiguous offsets moved together (e.g. after mprotect-like splits) */
	reset();
	ins(wtag(0, 2, F1, 0, 1));
	ins(wtag(2, 2, F1, 2, 2));
	CHECK(mg_reg_mremap_locked(pg(0), 4 * P, pg(10), 6 * P, false) == 0);
	EXPECT("move two pieces and grow", { 10, 2, F1, 0, 1 }, { 12, 4, F1, 2, 2 });
	CHECK(mg_reg_mremap_locked(pg(10), 6 * P, pg(10), 1 * P, false) == 0);
	EXPECT("shrink two pieces to one page", { 10, 1, F1, 0, 1 });

	/* lengths that are not page multiples are rounded up */
	reset();
	ins(wtag(0, 4, F1, 0, 1));
	CHECK(mg_reg_mremap_locked(pg(0), 4 * P - 100, pg(10), 2 * P + 1, false) == 0);
	EXPECT("unaligned lengths", { 10, 3, F1, 0, 1 });
	CHECK(mg_reg_mremap_locked(pg(10), 1, pg(10), 1, false) == 0);
	EXPECT("mremap of the first page onto itself", { 10, 1, F1, 0, 1 }, { 11, 2, F1, 1, 1 });
	CHECK(mg_reg_mremap_locked(pg(10), 1, pg(20), P - 1, false) == 0);
	EXPECT("move the first page alone", { 11, 2, F1, 1, 1 }, { 20, 1, F1, 0, 1 });
	CHECK(mg_reg_mremap_locked(pg(11), 2 * P - 5, pg(11), 1, false) == 0);
	EXPECT("shrink to one byte", { 11, 1, F1, 1, 1 }, { 20, 1, F1, 0, 1 });

	/* old_size 0: a second mapping of the same shared pages; the source stays */
	reset();
	ins(wtag(0, 4, F1, 8, 1));
	CHECK(mg_reg_mremap_locked(pg(1), 0, pg(20), 2 * P, false) == 0);
	EXPECT("duplicate", { 0, 4, F1, 8, 1 }, { 20, 2, F1, 9, 1 });
	CHECK_U64(mg_reg_nfiles(), 1);
	CHECK_U64(mg_reg_nmaps(), 2);
	CHECK_U64(mg_reg_windows_locked(F1, NULL, 0), 2);
	/* both windows count for a truncation: file pages [8, 12) and [9, 11) */
	CHECK_U64(mg_reg_endangered_locked(F1, 0, 12 * P, 10 * P, NULL, 0), 2);
	CHECK_U64(mg_reg_endangered_locked(F1, 0, 12 * P, 11 * P, NULL, 0), 1);
	ins(wtag(30, 10, F2, 0, 2));
	CHECK(mg_reg_mremap_locked(pg(3), 0, pg(35), 3 * P, false) == 0);
	EXPECT("duplicate over the middle of another window", { 0, 4, F1, 8, 1 }, { 20, 2, F1, 9, 1 },
	       { 30, 5, F2, 0, 2 }, { 35, 3, F1, 11, 1 }, { 38, 2, F2, 8, 2 });
	/* duplicating an address nobody maps changes nothing elsewhere */
	CHECK(mg_reg_mremap_locked(pg(50), 0, pg(60), 3 * P, false) == 0);
	EXPECT("duplicate of an untracked mapping to free space", { 0, 4, F1, 8, 1 }, { 20, 2, F1, 9, 1 },
	       { 30, 5, F2, 0, 2 }, { 35, 3, F1, 11, 1 }, { 38, 2, F2, 8, 2 });

	/* MREMAP_DONTUNMAP: the source stays mapped (to the same file pages), the destination too */
	reset();
	ins(wtag(0, 4, F1, 0, 1));
	ins(wtag(10, 6, F2, 0, 2));
	CHECK(mg_reg_mremap_locked(pg(0), 4 * P, pg(12), 4 * P, true) == 0);
	EXPECT("dontunmap", { 0, 4, F1, 0, 1 }, { 10, 2, F2, 0, 2 }, { 12, 4, F1, 0, 1 });
	CHECK_U64(mg_reg_endangered_locked(F1, 0, 4 * P, 0, NULL, 0), 2);

	/* an untracked mapping (anonymous) moved over tracked windows replaces them */
	reset();
	ins(wtag(10, 4, F1, 0, 1));
	CHECK(mg_reg_mremap_locked(pg(0), 2 * P, pg(11), 2 * P, false) == 0);
	EXPECT("untracked mapping moved over a window", { 10, 1, F1, 0, 1 }, { 13, 1, F1, 3, 1 });
	CHECK(mg_reg_mremap_locked(pg(0), 2 * P, pg(9), 6 * P, false) == 0);
	expect_empty("untracked mapping moved over everything");
}

/*
 * mremap(old, 0, len, MREMAP_MAYMOVE|MREMAP_FIXED, neu) where old is an untracked shared mapping
 * (MAP_SHARED|MAP_ANONYMOUS, or a file the guard does not track) and neu overlaps tracked
 * windows: the kernel replaces whatever was at [neu, neu+len) with the duplicate, so the tracked
 * windows there are gone. The wrapper calls mg_reg_mremap_locked for exactly this case (the
 * destination overlaps), so the registry must forget them, as it does for oldlen > 0.
 */
static void test_mremap_dup_untracked_over_window(void)
{
	reset();
	ins(wtag(10, 4, F1, 0, 1));
	CHECK(mg_reg_mremap_locked(pg(0), 0, pg(11), 2 * P, false) == 0);
	EXPECT("mremap(untracked, 0, 2 pages) onto pages 11-12 of a tracked window",
	       { 10, 1, F1, 0, 1 }, { 13, 1, F1, 3, 1 });
}

static void test_files(void)
{
	reset();
	/* Inserted in decreasing address order, so per-file lists are not in address order. */
	ins(wtag(40, 8, F3, 0, 5));             /* F3: file pages [0, 8) */
	ins(wtag(30, 4, F2, 0, 4));             /* F2: [0, 4) */
	ins(wtag(20, 1, F1, 2, 3));             /* F1: [2, 3) */
	ins(wtag(10, 2, F1, 8, 2));             /* F1: [8, 10) */
	ins(wtag(0, 4, F1, 0, 1));              /* F1: [0, 4) */
	CHECK_U64(mg_reg_nfiles(), 3);
	CHECK_U64(mg_reg_nmaps(), 5);
	struct mg_window out[8];
	memset(out, 0, sizeof out);

	/* EOF inside the last page of [8, 10): nothing */
	CHECK_U64(mg_reg_endangered_locked(F1, 0, 10 * P, 9 * P + 1, out, 8), 0);
	CHECK_U64(mg_reg_endangered_locked(F1, 0, 10 * P, 10 * P - 1, out, 8), 0);
	/* one page of [8, 10) */
	CHECK_U64(mg_reg_endangered_locked(F1, 0, 10 * P, 9 * P, out, 8), 1);
	CHECK(out[0].start == pg(10) && out[0].end == pg(12) && out[0].offset == 8 * P);
	check_meta(&out[0], 2);
	/* [0, 4) and [8, 10), not [2, 3) */
	CHECK_U64(mg_reg_endangered_locked(F1, 0, 10 * P, 3 * P, out, 8), 2);
	CHECK(out[0].start == pg(0) && out[1].start == pg(10), "address order");
	/* all three, in address order */
	CHECK_U64(mg_reg_endangered_locked(F1, 0, 10 * P, 0, out, 8), 3);
	CHECK(out[0].start == pg(0) && out[1].start == pg(10) && out[2].start == pg(20));
	check_meta(&out[0], 1);
	check_meta(&out[2], 3);
	/* max: the lowest addresses, the total still counted */
	memset(out, 0, sizeof out);
	CHECK_U64(mg_reg_endangered_locked(F1, 0, 10 * P, 0, out, 1), 3);
	CHECK(out[0].start == pg(0) && out[1].start == 0, "max 1 wrote more than one window");
	CHECK_U64(mg_reg_endangered_locked(F1, 0, 10 * P, 0, out, 2), 3);
	CHECK(out[0].start == pg(0) && out[1].start == pg(10) && out[2].start == 0);
	memset(out, 0, sizeof out);
	CHECK_U64(mg_reg_endangered_locked(F1, 0, 10 * P, 0, out, 0), 3);
	CHECK(out[0].start == 0, "max 0 wrote a window");
	CHECK_U64(mg_reg_endangered_locked(F1, 0, 10 * P, 0, NULL, 0), 3);
	/* growing or keeping the size: nothing */
	CHECK_U64(mg_reg_endangered_locked(F1, 0, 0, 100 * P, out, 8), 0);
	CHECK_U64(mg_reg_endangered_locked(F1, 0, 10 * P, 10 * P, out, 8), 0);
	CHECK_U64(mg_reg_endangered_locked(F1, 0, 3 * P, 100 * P, out, 8), 0);
	/* old size smaller than the windows: [8, 10) was beyond EOF already */
	CHECK_U64(mg_reg_endangered_locked(F1, 0, 3 * P + 1, 3 * P, out, 8), 1);
	CHECK(out[0].start == pg(0), "only the page [3, 4) goes from backed to unbacked");
	CHECK_U64(mg_reg_endangered_locked(F1, 0, 9 * P, 8 * P, out, 8), 1);
	CHECK(out[0].start == pg(10));
	CHECK_U64(mg_reg_endangered_locked(F1, 0, 8 * P, 4 * P, out, 8), 0, "pages [4, 8) are mapped by nobody");
	CHECK_U64(mg_reg_endangered_locked(F1, 0, 0, 0, out, 8), 0, "empty file");
	/* identity is (dev, ino): F3 has F1's inode number on another device */
	CHECK_U64(mg_reg_endangered_locked(F3, 0, 8 * P, 0, out, 8), 1);
	CHECK(out[0].start == pg(40) && out[0].dev == 2 && out[0].ino == 10);
	CHECK_U64(mg_reg_endangered_locked(F3, 0, 8 * P, 7 * P, out, 8), 1);
	CHECK_U64(mg_reg_endangered_locked(F3, 0, 8 * P, 7 * P + 1, out, 8), 0);
	CHECK_U64(mg_reg_endangered_locked(F2, 0, 4 * P, 3 * P + 1, out, 8), 0);
	CHECK_U64(mg_reg_endangered_locked(F2, 0, 4 * P, 3 * P, out, 8), 1);
	CHECK_U64(mg_reg_endangered_locked(3, 10, 0, 8 * P, 0, out, 8), 0, "unknown device");
	CHECK_U64(mg_reg_endangered_locked(1, 12, 0, 8 * P, 0, out, 8), 0, "unknown inode");
	/* all windows */
	CHECK_U64(mg_reg_windows_locked(F1, out, 8), 3);
	CHECK(out[0].start == pg(0) && out[1].start == pg(10) && out[2].start == pg(20));
	CHECK_U64(mg_reg_windows_locked(F2, out, 8), 1);
	CHECK_U64(mg_reg_windows_locked(3, 10, out, 8), 0);
	/* safe sizes: one byte into the last mapped page */
	CHECK_U64(mg_reg_safe_size_locked(F1), 9 * P + 1);
	CHECK_U64(mg_reg_safe_size_locked(F2), 3 * P + 1);
	CHECK_U64(mg_reg_safe_size_locked(F3), 7 * P + 1);
	CHECK_U64(mg_reg_safe_size_locked(3, 10), 0);
	/* the safe size cuts nothing, one byte less cuts something */
	CHECK_U64(mg_reg_endangered_locked(F1, 0, 100 * P, mg_reg_safe_size_locked(F1), NULL, 0), 0);
	CHECK_U64(mg_reg_endangered_locked(F1, 0, 100 * P, mg_reg_safe_size_locked(F1) - 1, NULL, 0), 1);

	/* the counters go back to 0 as windows go */
	mg_reg_remove_locked(pg(30), pg(34));
	CHECK(!mg_reg_file_tracked_locked(F2));
	CHECK_U64(mg_reg_nfiles(), 2);
	CHECK_U64(mg_reg_nmaps(), 4);
	CHECK_U64(mg_reg_safe_size_locked(F2), 0);
	mg_reg_remove_locked(pg(10), pg(12));
	CHECK_U64(mg_reg_safe_size_locked(F1), 3 * P + 1);
	CHECK_U64(mg_reg_nfiles(), 2);
	mg_reg_remove_locked(pg(0), pg(4));
	mg_reg_remove_locked(pg(20), pg(21));
	CHECK(!mg_reg_file_tracked_locked(F1));
	CHECK(mg_reg_file_tracked_locked(F3));
	CHECK_U64(mg_reg_nfiles(), 1);
	mg_reg_remove_locked(pg(40), pg(48));
	expect_empty("removing every window one by one");

	/* out[] with a small max and windows inserted in random address order */
	uint64_t seed = mg_unit_seed(0xf11e5);
	mg_rng_seed(seed);
	mg_unit_context("random insertion order, seed 0x%" PRIx64 " (MG_UNIT_SEED)", seed);
	int order[64];
	for (int i = 0; i < 64; i++)
		order[i] = i;
	for (int i = 63; i > 0; i--) {
		int j = (int)mg_rng_below((uint64_t)i + 1), t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	for (int i = 0; i < 64; i++)
		ins(wtag(2 * (uint64_t)order[i], 1, F1, 100 - (uint64_t)order[i], order[i]));
	struct mg_window all[70];
	for (size_t max = 0; max <= 66; max++) {
		memset(all, 0, sizeof all);
		CHECK_U64(mg_reg_windows_locked(F1, all, max), 64);
		for (size_t k = 0; k < 70; k++) {
			if (k < max && k < 64) {
				CHECK(all[k].start == pg(2 * k) && all[k].offset == (100 - k) * P, "max %zu #%zu", max, k);
				check_meta(&all[k], (int)k);
			} else {
				CHECK(all[k].start == 0, "max %zu: out[%zu] written", max, k);
			}
		}
		/* endangered by a cut to file page 70: windows at offsets >= 70, i.e. k <= 30 */
		memset(all, 0, sizeof all);
		CHECK_U64(mg_reg_endangered_locked(F1, 0, 200 * P, 70 * P, all, max), 31);
		for (size_t k = 0; k < 70; k++) {
			if (k < max && k < 31)
				CHECK(all[k].start == pg(2 * k), "endangered, max %zu #%zu", max, k);
			else
				CHECK(all[k].start == 0, "endangered, max %zu: out[%zu] written", max, k);
		}
	}
	check_invariants();
}

static void shuffle(uint32_t *a, size_t n)
{
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = (size_t)mg_rng_below(i + 1);
		uint32_t t = a[i];
		a[i] = a[j];
		a[j] = t;
	}
}

/*
 * overlayfs: a lower layer's file and its copy share (dev, ino); a cut of the copy (its birth
 * known) endangers only windows of that birth or of none known.
 */
static void test_births(void)
{
	reset();
	struct mg_window lower = mkwin(0, 4, F1, 0), copy = mkwin(10, 4, F1, 0), unknown = mkwin(20, 2, F1, 0);
	lower.birth = 1000;
	copy.birth = 2000;
	ins(lower);
	ins(copy);
	ins(unknown);
	struct mg_window out[8];
	memset(out, 0, sizeof out);
	CHECK_U64(mg_reg_endangered_locked(F1, 0, 4 * P, 0, out, 8), 3, "no birth known for the cut: all");
	CHECK_U64(mg_reg_endangered_locked(F1, 2000, 4 * P, 0, out, 8), 2, "the copy's and the unknown one");
	CHECK(out[0].start == pg(10) && out[1].start == pg(20));
	CHECK_U64(mg_reg_endangered_locked(F1, 1000, 4 * P, 0, out, 8), 2, "the lower file's and the unknown one");
	CHECK(out[0].start == pg(0) && out[1].start == pg(20));
	CHECK_U64(mg_reg_endangered_locked(F1, 3000, 4 * P, 1 * P, out, 8), 1, "only the unknown one");
	CHECK(out[0].start == pg(20) && out[0].birth == 0);
	CHECK_U64(mg_reg_windows_locked(F1, out, 8), 3, "a reopen names every window");
}

static void test_many(void)
{
	enum { N = 100000, NF = 1000 };
	uint64_t seed = mg_unit_seed(0x3a11);
	mg_rng_seed(seed);
	mg_unit_context("test_many seed 0x%" PRIx64, seed);
	reset();
	uint32_t *order = malloc(N * sizeof *order);
	CHECK(order != NULL);
	for (uint32_t i = 0; i < N; i++)
		order[i] = i;
	shuffle(order, N);
	/* window i: page 2i (gaps between), file i % NF, file page i / NF */
	for (size_t k = 0; k < N; k++) {
		uint32_t i = order[k];
		ins(mkwin(2 * (uint64_t)i, 1, 5, i % NF, i / NF));
	}
	CHECK_U64(mg_reg_nmaps(), N);
	CHECK_U64(mg_reg_nfiles(), NF);
	check_invariants();
	struct mg_window w, out[8];
	for (int k = 0; k < 10000; k++) {
		uint64_t i = mg_rng_below(N);
		CHECK(mg_reg_find_locked(pg(2 * i) + mg_rng_below(P), &w) && w.start == pg(2 * i) &&
		      w.ino == i % NF && w.offset == i / NF * P, "window %" PRIu64, i);
		CHECK(!mg_reg_find_locked(pg(2 * i + 1) + mg_rng_below(P), &w), "gap after window %" PRIu64, i);
	}
	/* file f holds pages i/NF for i = f, f+NF, ...: 100 windows, file pages 0..99 */
	for (ino_t f = 0; f < NF; f += 97) {
		CHECK_U64(mg_reg_endangered_locked(5, f, 0, 100 * P, 50 * P, out, 8), 50);
		for (int k = 0; k < 8; k++)
			CHECK(out[k].start == pg(2 * (50 * NF + f + (uint64_t)k * NF)), "file %lu #%d", (unsigned long)f, k);
		CHECK_U64(mg_reg_safe_size_locked(5, f), 99 * P + 1);
	}
	/* remove in random order, some through ranges covering several windows */
	shuffle(order, N);
	size_t removed = 0;
	for (size_t k = 0; k < N; k++) {
		uint32_t i = order[k];
		if (!mg_reg_find_locked(pg(2 * (uint64_t)i), NULL))
			continue;       /* already gone with a wider range */
		if (k % 7 == 0) {
			/* [2i - 1, 2i + 4): window i and window i+1 if still there */
			size_t before = mg_reg_nmaps();
			mg_reg_remove_locked(pg(2 * (uint64_t)i) - P, pg(2 * (uint64_t)i + 4));
			removed += before - mg_reg_nmaps();
		} else {
			mg_reg_remove_locked(pg(2 * (uint64_t)i), pg(2 * (uint64_t)i + 1));
			removed++;
		}
		CHECK(!mg_reg_find_locked(pg(2 * (uint64_t)i), NULL));
		CHECK_U64(mg_reg_nmaps(), N - removed);
		if (k % 20000 == 0)
			check_invariants();
	}
	expect_empty("removing 100000 windows in random order");

	/* 100000 adjacent windows of one file, in random order; the 8 lowest of a cut; punched out */
	shuffle(order, N);
	for (size_t k = 0; k < N; k++)
		ins(mkwin(order[k], 1, F2, order[k]));
	CHECK_U64(mg_reg_nmaps(), N);
	CHECK_U64(mg_reg_nfiles(), 1);
	CHECK_U64(mg_reg_endangered_locked(F2, 0, (uint64_t)N * P, 0, out, 8), N);
	for (int k = 0; k < 8; k++)
		CHECK(out[k].start == pg((uint64_t)k) && out[k].offset == (uint64_t)k * P);
	CHECK_U64(mg_reg_endangered_locked(F2, 0, (uint64_t)N * P, (uint64_t)(N - 10) * P + 1, out, 8), 9);
	CHECK(out[0].start == pg(N - 9));
	CHECK_U64(mg_reg_safe_size_locked(F2), (uint64_t)(N - 1) * P + 1);
	/* one MAP_FIXED over the middle half replaces 50000 windows */
	ins(mkwin(N / 4, N / 2, F1, 0));
	CHECK_U64(mg_reg_nmaps(), N / 2 + 1);
	CHECK_U64(mg_reg_nfiles(), 2);
	check_invariants();
	shuffle(order, N);
	for (size_t k = 0; k < N; k++)
		mg_reg_remove_locked(pg(order[k]), pg(order[k] + 1));
	expect_empty("punching out every page");
	free(order);
}

/* The lock-free reader: exact when nobody writes, uncertain while the lock is held. */
static void test_signal_safe(void)
{
	reset();
	ins(wtag(10, 4, F1, 3, 1));
	ins(wtag(20, 1, F2, 0, 2));
	mg_reg_unlock();
	struct mg_window w;
	CHECK(mg_reg_find_signal_safe(pg(10), &w) == MG_FIND_EXACT && w.start == pg(10) && w.offset == 3 * P);
	check_meta(&w, 1);
	CHECK(mg_reg_find_signal_safe(pg(14) - 1, &w) == MG_FIND_EXACT && w.start == pg(10));
	CHECK(mg_reg_find_signal_safe(pg(20) + 5, &w) == MG_FIND_EXACT && w.ino == 11);
	CHECK(mg_reg_find_signal_safe(pg(14), &w) == MG_FIND_NONE);
	CHECK(mg_reg_find_signal_safe(pg(9), &w) == MG_FIND_NONE);
	CHECK(mg_reg_find_signal_safe(pg(21), &w) == MG_FIND_NONE);
	CHECK(mg_reg_find_signal_safe(0, &w) == MG_FIND_NONE);
	mg_reg_lock();
	/* a writer holds the lock (this thread): the answer cannot be confirmed */
	CHECK(mg_reg_find_signal_safe(pg(11), &w) == MG_FIND_UNCERTAIN && w.start == pg(10));
	CHECK(mg_reg_find_signal_safe(pg(15), &w) == MG_FIND_NONE);
}

/* fork handlers: prepare takes the lock, parent and child release it. */
static void test_atfork(void)
{
	reset();
	ins(wtag(0, 2, F1, 0, 1));
	mg_reg_unlock();
	mg_reg_atfork_prepare();
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		mg_reg_atfork_child(mg_thread_tid());
		mg_reg_lock();
		int ok = mg_reg_nmaps() == 1 && mg_reg_find_locked(pg(1), NULL);
		struct mg_window w = mkwin(5, 1, F2, 0);
		ok = ok && mg_reg_insert_locked(&w) == 0 && mg_reg_nmaps() == 2;
		mg_reg_unlock();
		struct mg_window f;
		ok = ok && mg_reg_find_signal_safe(pg(5), &f) == MG_FIND_EXACT;
		_exit(ok ? 0 : 1);
	}
	mg_reg_atfork_parent();
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: registry unusable after fork (status 0x%x)",
	      status);
	mg_reg_lock();
	EXPECT("fork (the child's insert is its own)", { 0, 2, F1, 0, 1 });
}

static void *lock_and_vanish(void *arg)
{
	(void)arg;
	mg_reg_lock();          /* never released: the thread is gone, as in a _Fork child */
	return NULL;
}

/*
 * A child cloned off while another thread held the lock (no fork handler ran) starts with an empty
 * registry: nothing of the old tree may be used again, not even the windows an insert starts from.
 */
static void test_child_of_a_held_lock(void)
{
	reset();
	ins(wtag(20, 2, F1, 0, 1));
	ins(wtag(18, 2, F1, 2, 2));     /* the last insert, and the lowest window */
	ins(wtag(30, 2, F2, 0, 3));     /* the highest */
	mg_reg_unlock();
	pthread_t t;
	CHECK(pthread_create(&t, NULL, lock_and_vanish, NULL) == 0 && pthread_join(t, NULL) == 0);
	mg_reg_atfork_child(mg_thread_tid());
	mg_reg_lock();
	expect_empty("a child of a lock held by a thread that is gone");
	ins(wtag(16, 2, F1, 4, 4));     /* just below the old last insert */
	ins(wtag(40, 2, F2, 2, 5));     /* above the old highest */
	ins(wtag(14, 2, F1, 6, 6));
	EXPECT("inserts after the fresh start", { 14, 2, F1, 6, 6 }, { 16, 2, F1, 4, 4 }, { 40, 2, F2, 2, 5 });
}

/*
 * What a munmap/mremap/MAP_FIXED without the lock detaches before its system call: released when
 * the call succeeded, put back exactly (one window again, not pieces) when it failed.
 */
static void test_detach_restore(void)
{
	reset();
	ins(wtag(0, 10, F1, 0, 1));
	ins(wtag(10, 2, F1, 10, 3));            /* the same file, continuing: another call's window */
	ins(wtag(20, 4, F2, 0, 2));
	struct mg_pieces *gone;
	/* the middle of a window, and a failed call: restored as the one window it was */
	CHECK(mg_reg_detach_locked(pg(3), pg(5), false, &gone) == 0 && gone);
	EXPECT("detach of a window's middle", { 0, 3, F1, 0, 1 }, { 5, 5, F1, 5, 1 }, { 10, 2, F1, 10, 3 },
	       { 20, 4, F2, 0, 2 });
	mg_reg_restore_locked(gone);
	EXPECT("restore", { 0, 10, F1, 0, 1 }, { 10, 2, F1, 10, 3 }, { 20, 4, F2, 0, 2 });
	/* across two windows and a gap: each comes back whole, and they stay two */
	CHECK(mg_reg_detach_locked(pg(8), pg(22), false, &gone) == 0 && gone);
	EXPECT("detach across windows", { 0, 8, F1, 0, 1 }, { 22, 2, F2, 2, 2 });
	mg_reg_restore_locked(gone);
	EXPECT("restore across windows", { 0, 10, F1, 0, 1 }, { 10, 2, F1, 10, 3 }, { 20, 4, F2, 0, 2 });
	/* exactly one whole window; a success releases it */
	CHECK(mg_reg_detach_locked(pg(20), pg(24), false, &gone) == 0 && gone);
	EXPECT("detach of a whole window", { 0, 10, F1, 0, 1 }, { 10, 2, F1, 10, 3 });
	mg_reg_release_locked(gone);
	/* nothing there: nothing detached */
	CHECK(mg_reg_detach_locked(pg(30), pg(40), false, &gone) == 0 && !gone);
	/* copied: the tree stays */
	CHECK(mg_reg_detach_locked(pg(2), pg(4), true, &gone) == 0 && gone);
	EXPECT("copy", { 0, 10, F1, 0, 1 }, { 10, 2, F1, 10, 3 });
	mg_reg_release_locked(gone);
	/* moved: a grown mremap of [0, 10) to 40 */
	CHECK(mg_reg_detach_locked(pg(0), pg(10), false, &gone) == 0 && gone);
	CHECK(mg_reg_moved_locked(gone, pg(0), 10 * P, pg(40), 12 * P) == 0);
	EXPECT("moved", { 10, 2, F1, 10, 3 }, { 40, 12, F1, 0, 1 });
}

/* Which whole-window unmaps may count as a VMA gone (mapcount.h): only a window nothing adjoins. */
static void whole_alone(uintptr_t a, uintptr_t b, bool want, const char *what)
{
	struct mg_pieces *gone;
	CHECK(mg_reg_detach_locked(a, b, false, &gone) == 0 && gone, "%s: detached", what);
	CHECK(mg_reg_pieces_whole_alone(gone, a, b) == want, "%s: whole and alone %d", what, !want);
	mg_reg_release_locked(gone);
}

static void test_whole_alone(void)
{
	reset();
	ins(wtag(0, 4, F1, 0, 1));
	ins(wtag(4, 4, F1, 4, 2));      /* the next offset, right after: the kernel may merge them */
	ins(wtag(10, 4, F1, 8, 3));     /* the next offset, after a gap */
	ins(wtag(14, 4, F1, 0, 4));     /* right after, but not the next offset */
	ins(wtag(18, 4, F2, 4, 5));     /* right after, another file */
	whole_alone(pg(10), pg(14), true, "a window after a gap");
	whole_alone(pg(14), pg(18), true, "a window after one at another offset");
	whole_alone(pg(18), pg(22), true, "a window of another file");
	whole_alone(pg(0), pg(4), false, "a window followed by the next offset");
	whole_alone(pg(4), pg(8), false, "a window that came after it (its neighbour is gone: still no)");
	/* one that comes later, adjoining, takes it from the older one */
	ins(wtag(30, 4, F1, 0, 6));
	ins(wtag(26, 4, F3, 0, 7));
	ins(wtag(34, 4, F1, 4, 8));
	whole_alone(pg(26), pg(30), true, "a window before one of another file");
	whole_alone(pg(30), pg(34), false, "a window a later one adjoins");
	/* a part of a window, or more than one, or a copy: never */
	ins(wtag(40, 4, F1, 0, 9));
	ins(wtag(50, 4, F1, 0, 10));
	struct mg_pieces *gone;
	CHECK(mg_reg_detach_locked(pg(40), pg(42), false, &gone) == 0 && gone);
	CHECK(!mg_reg_pieces_whole_alone(gone, pg(40), pg(42)), "a part of a window");
	mg_reg_restore_locked(gone);
	CHECK(mg_reg_detach_locked(pg(40), pg(54), false, &gone) == 0 && gone);
	CHECK(!mg_reg_pieces_whole_alone(gone, pg(40), pg(54)), "two windows");
	mg_reg_restore_locked(gone);
	CHECK(mg_reg_detach_locked(pg(50), pg(54), true, &gone) == 0 && gone);
	CHECK(!mg_reg_pieces_whole_alone(gone, pg(50), pg(54)), "a copy");
	mg_reg_release_locked(gone);
	check_invariants();
}

/*
 * Many windows of one file over few distinct ends (a page mapped again and again): the file's
 * largest end must follow every insert, removal, trim and split, whichever window of an end goes.
 */
static void test_same_ends(void)
{
	reset();
	enum { N = 240, ENDS = 5 };
	uint32_t x = 12345;
	for (uint64_t i = 0; i < N; i++) {
		x = x * 1103515245u + 12345u;
		ins(wtag(3 * i, 2, F1, (x >> 16) % ENDS, (int)i + 1));
	}
	ins(wtag(3 * N, 2, F2, 7, N + 1));
	check_invariants();
	bool gone[N] = { false };
	for (int left = N; left > 0;) {
		x = x * 1103515245u + 12345u;
		uint64_t i = (x >> 16) % N;
		if (gone[i])
			continue;
		switch ((x >> 8) % 4) {
		case 0:         /* its tail: the window's end moves */
			mg_reg_remove_locked(pg(3 * i + 1), pg(3 * i + 2));
			ins(wtag(3 * i + 1, 1, F1, (x >> 20) % ENDS, (int)i + 1));
			break;
		default:
			mg_reg_remove_locked(pg(3 * i), pg(3 * i + 2));
			gone[i] = true;
			left--;
		}
		check_invariants();
	}
	CHECK(!mg_reg_file_tracked_locked(F1));
	CHECK_U64(mg_reg_safe_size_locked(F2), 8 * P + 1);   /* its last page must exist */
	mg_reg_remove_locked(pg(3 * N), pg(3 * N + 2));
	expect_empty("removing the last");
}

int main(void)
{
	P = mg_page_size();
	printf("unit_registry (sanitizers: %s, page size %zu)\n", mg_unit_sanitizers(), P);
	CHECK(P >= 4096 && (P & (P - 1)) == 0, "page size %zu", P);
	CHECK(P == (size_t)sysconf(_SC_PAGESIZE));
	mg_reg_lock();
	RUN(test_empty);
	RUN(test_insert_remove);
	RUN(test_insert_over);
	RUN(test_mremap);
	RUN(test_detach_restore);
	RUN(test_whole_alone);
	RUN(test_same_ends);
	RUN(test_files);
	RUN(test_births);
	RUN(test_many);
	RUN(test_signal_safe);
	RUN(test_atfork);
	RUN(test_child_of_a_held_lock);
	/* last: a known registry bug; everything above must pass on its own */
	RUN(test_mremap_dup_untracked_over_window);
	mg_reg_clear_locked();
	mg_reg_unlock();
	printf("unit_registry: all passed\n");
	return 0;
}

/* Helpers shared by the registry unit tests: windows in pages, snapshots, invariant checks. */
#ifndef MG_REG_UTIL_H
#define MG_REG_UTIL_H

#include "registry.h"
#include "thread.h"
#include "unit.h"

#include <sys/mman.h>

/* Addresses are never touched by the registry: any page-aligned numbers do. */
#define BASE ((uintptr_t)0x7f0000000000ull)

static size_t P;        /* page size */

static inline uintptr_t pg(uint64_t n) { return BASE + (uintptr_t)(n * P); }

/* A window of npages at page index `at`, file (dev, ino), file offset in pages. */
static inline struct mg_window mkwin(uint64_t at, uint64_t npages, dev_t dev, ino_t ino, uint64_t offpages)
{
	struct mg_window w;
	memset(&w, 0, sizeof w);
	w.start = pg(at);
	w.end = pg(at + npages);
	w.offset = offpages * P;
	w.dev = dev;
	w.ino = ino;
	w.prot = PROT_READ;
	w.shared = true;
	return w;
}

struct snap {
	struct mg_window *w;
	size_t n, cap;
};

static void snap_add(const struct mg_window *w, void *arg)
{
	struct snap *s = arg;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->w = realloc(s->w, s->cap * sizeof *s->w);
		CHECK(s->w != NULL);
	}
	s->w[s->n++] = *w;
}

/* Every window, in address order (caller holds the lock). */
static inline struct snap snapshot(void)
{
	struct snap s = { 0 };
	mg_reg_foreach_locked(snap_add, &s);
	return s;
}

static int cmp_key(dev_t d1, ino_t i1, dev_t d2, ino_t i2)
{
	if (d1 != d2)
		return d1 < d2 ? -1 : 1;
	if (i1 != i2)
		return i1 < i2 ? -1 : 1;
	return 0;
}

static int same_file(const struct mg_window *x, const struct mg_window *y)
{
	return cmp_key(x->dev, x->ino, y->dev, y->ino) == 0;
}

/* By file, then by address. */
static int cmp_win_file(const void *a, const void *b)
{
	const struct mg_window *x = a, *y = b;
	int c = cmp_key(x->dev, x->ino, y->dev, y->ino);
	return c ? c : x->start < y->start ? -1 : x->start > y->start;
}

/*
 * Structural invariants: address order, no overlap, page alignment, non-empty windows, the
 * counters, and every per-file answer consistent with the address-ordered view.
 */
static inline void check_invariants(void)
{
	const char *broken = mg_reg_audit_locked();
	CHECK(broken == NULL, "registry shape: %s", broken);
	struct snap s = snapshot();
	CHECK_U64(mg_reg_nmaps(), s.n, "nmaps vs windows visited");
	for (size_t i = 0; i < s.n; i++) {
		const struct mg_window *w = &s.w[i];
		CHECK(w->start < w->end, "empty window at 0x%lx", (unsigned long)w->start);
		CHECK(w->start % P == 0 && w->end % P == 0 && w->offset % P == 0,
		      "unaligned window [0x%lx, 0x%lx) offset 0x%lx", (unsigned long)w->start,
		      (unsigned long)w->end, (unsigned long)w->offset);
		if (i)
			CHECK(s.w[i - 1].end <= w->start, "windows [0x%lx,0x%lx) and [0x%lx,0x%lx) overlap or are unordered",
			      (unsigned long)s.w[i - 1].start, (unsigned long)s.w[i - 1].end,
			      (unsigned long)w->start, (unsigned long)w->end);
		struct mg_window f;
		CHECK(mg_reg_find_locked(w->start, &f) && f.start == w->start && f.end == w->end);
		CHECK(mg_reg_find_locked(w->end - 1, &f) && f.start == w->start);
		CHECK(mg_reg_overlaps_locked(w->start, w->end));
		/* the lock-free hint: under the lock it answers from the span of all windows alone */
		CHECK(mg_reg_maybe_overlaps(w->start, w->end), "window [0x%lx, 0x%lx) outside the span of all windows",
		      (unsigned long)w->start, (unsigned long)w->end);
		CHECK(mg_reg_file_tracked_locked(w->dev, w->ino));
	}
	/* per file: windows_locked returns exactly this file's windows, sorted by address */
	struct mg_window *byfile = malloc((s.n + 1) * sizeof *byfile);
	CHECK(byfile != NULL);
	if (s.n)
		memcpy(byfile, s.w, s.n * sizeof *byfile);
	qsort(byfile, s.n, sizeof *byfile, cmp_win_file);
	size_t nfiles = 0;
	struct mg_window *out = malloc((s.n + 1) * sizeof *out);
	CHECK(out != NULL);
	for (size_t i = 0; i < s.n;) {
		size_t j = i;
		uint64_t safe = 0;
		while (j < s.n && same_file(&byfile[i], &byfile[j])) {
			uint64_t last = byfile[j].offset + (byfile[j].end - byfile[j].start) - P;
			if (last + 1 > safe)
				safe = last + 1;
			j++;
		}
		nfiles++;
		dev_t dev = byfile[i].dev;
		ino_t ino = byfile[i].ino;
		/* all of them (quadratic in the windows of one file: keep those lists short) */
		size_t total = mg_reg_windows_locked(dev, ino, out, j - i <= 2000 ? s.n + 1 : 8);
		CHECK_U64(total, j - i, "windows of file (%lu,%lu)", (unsigned long)dev, (unsigned long)ino);
		for (size_t k = 0; k < (j - i <= 2000 ? j - i : 8); k++)
			CHECK(out[k].start == byfile[i + k].start && out[k].end == byfile[i + k].end &&
			      out[k].offset == byfile[i + k].offset,
			      "windows_locked order/content, file (%lu,%lu) #%zu", (unsigned long)dev,
			      (unsigned long)ino, k);
		CHECK_U64(mg_reg_safe_size_locked(dev, ino), safe);
		CHECK_U64(mg_reg_windows_locked(dev, ino, NULL, 0), j - i);
		i = j;
	}
	CHECK_U64(mg_reg_nfiles(), nfiles, "nfiles vs distinct files");
	free(out);
	free(byfile);
	free(s.w);
}

#endif

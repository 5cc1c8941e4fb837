/*
 * Randomized model check of the registry. The reference model is a plain array: for each page of
 * a small address range, which file (if any) it maps, at which file page, and which insert made
 * it (its metadata). Thousands of random inserts (MAP_FIXED), removes (munmap; also detached,
 * then released or restored and joined, as a munmap run without the lock does) and mremaps
 * (move, grow/shrink in place, old_size 0 duplicates, MREMAP_DONTUNMAP) are applied to both;
 * after every step the whole registry is compared with the model page by page (the registry may
 * split adjacent windows of one file differently), and so are the per-file answers: endangered
 * windows for random old/new sizes, all windows, safe size, counters, lookups.
 *
 * Environment: MG_UNIT_SEED (first round's seed), MG_UNIT_ROUNDS, MG_UNIT_STEPS. A failure prints
 * the round's seed: MG_UNIT_SEED=<seed> MG_UNIT_ROUNDS=1 repeats exactly that round.
 * MG_MODEL_NO_UNTRACKED_DUP=1 leaves out mremap(old, 0, ...) of an untracked source (a known
 * registry bug while it is open: see test_mremap_dup_untracked_over_window in unit_registry.c),
 * so that everything else can still be checked.
 */
#define _GNU_SOURCE
#include "reg_util.h"

#define NP 96           /* pages of the modelled range */
#define NFILES 4

static const struct { dev_t dev; ino_t ino; } files[NFILES] = { { 1, 1 }, { 1, 2 }, { 2, 1 }, { 3, 7 } };

struct mpage {
	int file;       /* -1: nothing tracked */
	uint64_t off;   /* file page */
	int tag;        /* the insert that made it: window metadata */
};

static struct mpage model[NP];

static struct mg_window twin(uint64_t at, uint64_t n, int file, uint64_t off, int tag)
{
	struct mg_window w = mkwin(at, n, files[file].dev, files[file].ino, off);
	w.tid = tag;
	w.prot = tag % 3 == 0 ? PROT_READ : PROT_READ | PROT_WRITE;
	w.shared = tag % 2;
	w.created.tv_sec = tag;
	/* The depot keeps ~180,000 distinct stacks per process: tags past that share them (the other
	 * fields still tell every insert apart), so that any number of rounds runs. */
	struct mg_stack st = { .n = 1, .ip = { (uintptr_t)(tag % 65536) + 1 } };
	w.stack = mg_depot_intern(&st);
	snprintf(w.thread_name, sizeof w.thread_name, "t%d", tag);
	return w;
}

static int file_of(const struct mg_window *w)
{
	for (int f = 0; f < NFILES; f++)
		if (files[f].dev == w->dev && files[f].ino == w->ino)
			return f;
	return -1;
}

/* ---- operations on both ---------------------------------------------------------------------- */

static void op_insert(uint64_t at, uint64_t n, int file, uint64_t off, int tag)
{
	struct mg_window w = twin(at, n, file, off, tag);
	CHECK(mg_reg_insert_locked(&w) == 0);
	for (uint64_t i = 0; i < n; i++)
		model[at + i] = (struct mpage){ file, off + i, tag };
}

static void op_remove(uint64_t at, uint64_t n)
{
	CHECK(mg_reg_remove_locked(pg(at), pg(at + n)) == 0);
	for (uint64_t i = 0; i < n; i++)
		model[at + i].file = -1;
}

/*
 * A munmap run without the lock: the windows of the range are detached, then released (the call
 * succeeded) or restored and joined to the neighbours they were split from (it failed).
 */
static void op_detach(uint64_t at, uint64_t n, bool ok)
{
	struct mg_pieces *gone;
	CHECK(mg_reg_detach_locked(pg(at), pg(at + n), false, &gone) == 0);
	if (!ok) {
		mg_reg_restore_locked(gone);
		return;
	}
	mg_reg_release_locked(gone);
	for (uint64_t i = 0; i < n; i++)
		model[at + i].file = -1;
}

/*
 * mremap(old, oldlen, newlen) -> neu, as the kernel does it: the pages of [old, old+oldlen) move
 * to neu (their file pages with them), a grown tail continues the file pages of the last page,
 * whatever was mapped at [neu, neu+newlen) before is replaced, and the source is unmapped unless
 * MREMAP_DONTUNMAP. oldlen 0: a new mapping of the pages starting at old (old stays).
 * What replaces a destination whose source is not tracked is not tracked either.
 */
static void op_mremap(uint64_t old, uint64_t oldlen, uint64_t neu, uint64_t newlen, bool dontunmap)
{
	CHECK(mg_reg_mremap_locked(pg(old), oldlen * P, pg(neu), newlen * P, dontunmap) == 0);
	struct mpage src[NP];
	if (oldlen == 0) {
		for (uint64_t i = 0; i < newlen; i++) {
			src[i] = model[old];
			src[i].off += i;
		}
	} else {
		for (uint64_t i = 0; i < oldlen; i++)
			src[i] = model[old + i];
		for (uint64_t i = oldlen; i < newlen; i++) {
			src[i] = src[oldlen - 1];
			src[i].off += i - (oldlen - 1);
		}
		if (!dontunmap)
			for (uint64_t i = 0; i < oldlen; i++)
				model[old + i].file = -1;
	}
	for (uint64_t i = 0; i < newlen; i++)
		model[neu + i] = src[i];
}

/* ---- comparison ------------------------------------------------------------------------------ */

struct regpage {
	int file;
	uint64_t off;
	int tag;
	size_t win;     /* index in the snapshot */
};

static void compare(void)
{
	check_invariants();
	struct snap s = snapshot();
	struct regpage reg[NP];
	for (int i = 0; i < NP; i++)
		reg[i].file = -1;
	for (size_t k = 0; k < s.n; k++) {
		const struct mg_window *w = &s.w[k];
		CHECK(w->start >= pg(0) && w->end <= pg(NP), "window [0x%lx, 0x%lx) outside the modelled range",
		      (unsigned long)w->start, (unsigned long)w->end);
		int f = file_of(w);
		CHECK(f >= 0, "window of an unknown file (%lu,%lu)", (unsigned long)w->dev, (unsigned long)w->ino);
		struct mg_window t = twin(0, 1, f, 0, w->tid);
		CHECK(w->prot == t.prot && w->shared == t.shared && w->created.tv_sec == t.created.tv_sec &&
		      mg_win_stack(w)->n == 1 && mg_win_stack(w)->ip[0] == mg_win_stack(&t)->ip[0] &&
		      strcmp(w->thread_name, t.thread_name) == 0,
		      "metadata of the window at page %lu is not the one of insert %d",
		      (unsigned long)((w->start - BASE) / P), w->tid);
		for (uintptr_t a = w->start; a < w->end; a += P) {
			size_t i = (a - BASE) / P;
			CHECK(reg[i].file < 0, "page %zu in two windows", i);
			reg[i] = (struct regpage){ f, (w->offset + (a - w->start)) / P, w->tid, k };
		}
	}
	int used[NFILES] = { 0 };
	for (int i = 0; i < NP; i++) {
		const struct mpage *m = &model[i];
		if (m->file < 0) {
			CHECK(reg[i].file < 0, "page %d: registry says file %d page %" PRIu64 ", model says unmapped",
			      i, reg[i].file, reg[i].off);
			continue;
		}
		used[m->file] = 1;
		CHECK(reg[i].file == m->file && reg[i].off == m->off && reg[i].tag == m->tag,
		      "page %d: registry says file %d page %" PRIu64 " (insert %d), model says file %d page %" PRIu64
		      " (insert %d)", i, reg[i].file, reg[i].off, reg[i].tag, m->file, m->off, m->tag);
	}
	size_t nfiles = 0;
	for (int f = 0; f < NFILES; f++)
		nfiles += used[f];
	CHECK_U64(mg_reg_nfiles(), nfiles);
	CHECK_U64(mg_reg_nmaps(), s.n);

	/* lookups */
	for (int k = 0; k < 8; k++) {
		uint64_t i = mg_rng_below(NP);
		struct mg_window w;
		bool hit = mg_reg_find_locked(pg(i) + mg_rng_below(P), &w);
		CHECK(hit == (model[i].file >= 0), "find at page %" PRIu64, i);
		if (hit)
			CHECK(w.start == s.w[reg[i].win].start && w.end == s.w[reg[i].win].end);
		uint64_t a = mg_rng_below(NP), n = mg_rng_below(NP - a + 1);
		bool any = false;
		for (uint64_t j = a; j < a + n; j++)
			any |= model[j].file >= 0;
		CHECK(mg_reg_overlaps_locked(pg(a), pg(a + n)) == any, "overlaps [%" PRIu64 ", +%" PRIu64 ")", a, n);
	}

	/* per file */
	for (int f = 0; f < NFILES; f++) {
		dev_t dev = files[f].dev;
		ino_t ino = files[f].ino;
		CHECK(mg_reg_file_tracked_locked(dev, ino) == (used[f] != 0), "file %d tracked", f);
		struct mg_window out[NP + 1];
		/* all windows: exactly the file's windows of the snapshot, in address order */
		size_t total = mg_reg_windows_locked(dev, ino, out, NP + 1);
		size_t k = 0;
		uint64_t safe = 0;
		for (size_t j = 0; j < s.n; j++) {
			if (file_of(&s.w[j]) != f)
				continue;
			CHECK(k < total && out[k].start == s.w[j].start && out[k].end == s.w[j].end &&
			      out[k].offset == s.w[j].offset, "windows of file %d, #%zu", f, k);
			k++;
		}
		CHECK_U64(total, k, "windows of file %d", f);
		for (int i = 0; i < NP; i++)
			if (model[i].file == f && model[i].off * P + 1 > safe)
				safe = model[i].off * P + 1;    /* one byte into the last mapped page */
		CHECK_U64(mg_reg_safe_size_locked(dev, ino), safe, "safe size of file %d", f);

		/* endangered windows for random sizes (in bytes, often inside a page) */
		for (int q = 0; q < 3; q++) {
			uint64_t old = mg_rng_below(64 * P), neu = mg_rng_below(64 * P);
			if (mg_rng_below(4) == 0)
				old = (old / P) * P;
			if (mg_rng_below(4) == 0)
				neu = (neu / P) * P;
			if (q == 0 && safe) {
				/* around the safe size */
				old = safe + mg_rng_below(4 * P);
				neu = safe - mg_rng_below(2);
			}
			bool cut[NP];
			size_t ncut = 0;
			for (int i = 0; i < NP; i++) {
				uint64_t o = model[i].off * P;
				cut[i] = model[i].file == f && o < old && !(o < neu);
				ncut += cut[i];
			}
			size_t n = mg_reg_endangered_locked(dev, ino, 0, old, neu, out, NP + 1);
			bool covered[NP] = { false };
			for (size_t j = 0; j < n; j++) {
				CHECK(j == 0 || out[j - 1].start < out[j].start, "endangered not in address order");
				size_t first = (out[j].start - BASE) / P;
				CHECK(out[j].start >= pg(0) && out[j].end <= pg(NP) && reg[first].file == f &&
				      s.w[reg[first].win].start == out[j].start && s.w[reg[first].win].end == out[j].end,
				      "endangered window #%zu is not a window of file %d", j, f);
				bool any = false;
				for (size_t i = first; i < (out[j].end - BASE) / P; i++) {
					any |= cut[i];
					covered[i] = true;
				}
				CHECK(any, "file %d, %" PRIu64 " -> %" PRIu64 ": window at page %zu reported but no page of it is cut",
				      f, old, neu, first);
			}
			for (int i = 0; i < NP; i++)
				CHECK(!cut[i] || covered[i], "file %d, %" PRIu64 " -> %" PRIu64 ": page %d (file page %" PRIu64
				      ") is cut but no reported window holds it", f, old, neu, i, model[i].off);
			CHECK(ncut == 0 || n > 0);
			CHECK_U64(mg_reg_endangered_locked(dev, ino, 0, old, neu, NULL, 0), n);
			/* a smaller max keeps the lowest addresses */
			struct mg_window few[5];
			memset(few, 0, sizeof few);
			size_t max = (size_t)mg_rng_below(5);
			CHECK_U64(mg_reg_endangered_locked(dev, ino, 0, old, neu, few, max), n);
			for (size_t j = 0; j < 5; j++) {
				if (j < max && j < n)
					CHECK(few[j].start == out[j].start && few[j].end == out[j].end, "max %zu #%zu", max, j);
				else
					CHECK(few[j].start == 0, "max %zu: out[%zu] written", max, j);
			}
		}
	}
	free(s.w);
}

/* ---- the driver ------------------------------------------------------------------------------ */

static bool no_untracked_dup;

static uint64_t rnd_len(uint64_t at, uint64_t maxlen)
{
	uint64_t room = NP - at;
	uint64_t m = room < maxlen ? room : maxlen;
	return 1 + mg_rng_below(m);
}

/* A start page that is mapped, if any (mremap sources are mostly real mappings). */
static uint64_t mapped_page(void)
{
	for (int tries = 0; tries < 32; tries++) {
		uint64_t i = mg_rng_below(NP);
		if (model[i].file >= 0)
			return i;
	}
	return mg_rng_below(NP);
}

static uint64_t last_at, last_n;        /* the last insert */

static void step(int tag, char *desc, size_t cap)
{
	uint64_t r = mg_rng_below(100);
	if (r < 35) {
		uint64_t at = mg_rng_below(NP), n = rnd_len(at, 16);
		/* Half of them next to the last insert, below or above it (as the kernel places
		 * mappings), a page or two away, or overlapping it by one. */
		if (last_n && mg_rng_below(2)) {
			uint64_t gap = mg_rng_below(4);        /* 3: one page of overlap */
			n = 1 + mg_rng_below(8);
			if (mg_rng_below(2))
				at = last_at + last_n + (gap < 3 ? gap : 0) - (gap == 3);
			else
				at = last_at - n - (gap < 3 ? gap : 0) + (gap == 3);
			if (at >= NP || at + n > NP)
				at = mg_rng_below(NP), n = rnd_len(at, 16);
		}
		last_at = at;
		last_n = n;
		int f = (int)mg_rng_below(NFILES);
		uint64_t off = mg_rng_below(40);
		snprintf(desc, cap, "insert [%" PRIu64 ", +%" PRIu64 ") file %d page %" PRIu64, at, n, f, off);
		op_insert(at, n, f, off, tag);
	} else if (r < 48) {
		uint64_t at = mg_rng_below(NP), n = rnd_len(at, 24);
		snprintf(desc, cap, "remove [%" PRIu64 ", +%" PRIu64 ")", at, n);
		op_remove(at, n);
	} else if (r < 55) {
		uint64_t at = mg_rng_below(NP), n = rnd_len(at, 24);
		bool ok = mg_rng_below(2) == 0;
		snprintf(desc, cap, "detach [%" PRIu64 ", +%" PRIu64 ") and %s", at, n, ok ? "release" : "restore");
		op_detach(at, n, ok);
	} else if (r < 70) {
		/* move, possibly resizing, to a destination that does not overlap the source */
		uint64_t old = mapped_page(), oldlen = rnd_len(old, 12);
		bool dontunmap = mg_rng_below(5) == 0;
		uint64_t newlen = dontunmap ? oldlen : 1 + mg_rng_below(12);
		uint64_t neu;
		for (int tries = 0;; tries++) {
			neu = mg_rng_below(NP - newlen + 1);
			if (neu + newlen <= old || neu >= old + oldlen || tries > 50)
				break;
		}
		if (!(neu + newlen <= old || neu >= old + oldlen)) {
			snprintf(desc, cap, "(no room for a move)");
			return;
		}
		snprintf(desc, cap, "mremap [%" PRIu64 ", +%" PRIu64 ") -> [%" PRIu64 ", +%" PRIu64 ")%s", old,
			 oldlen, neu, newlen, dontunmap ? " DONTUNMAP" : "");
		op_mremap(old, oldlen, neu, newlen, dontunmap);
	} else if (r < 82) {
		/* in place: shrink or grow */
		uint64_t old = mapped_page(), oldlen = rnd_len(old, 12), newlen = rnd_len(old, 16);
		snprintf(desc, cap, "mremap in place [%" PRIu64 ", +%" PRIu64 ") -> +%" PRIu64, old, oldlen, newlen);
		op_mremap(old, oldlen, old, newlen, false);
	} else if (r < 92) {
		/* old_size 0: duplicate of the pages at old */
		uint64_t old = mapped_page();
		uint64_t newlen = 1 + mg_rng_below(8);
		uint64_t neu = mg_rng_below(NP - newlen + 1);
		if (model[old].file < 0 && no_untracked_dup) {
			snprintf(desc, cap, "(untracked dup left out)");
			return;
		}
		snprintf(desc, cap, "mremap dup page %" PRIu64 " (%s) -> [%" PRIu64 ", +%" PRIu64 ")", old,
			 model[old].file >= 0 ? "tracked" : "untracked", neu, newlen);
		op_mremap(old, 0, neu, newlen, false);
	} else if (r < 97) {
		/* anything: overlapping source and destination, untracked sources */
		uint64_t old = mg_rng_below(NP), oldlen = rnd_len(old, 12);
		uint64_t newlen = 1 + mg_rng_below(12), neu = mg_rng_below(NP - newlen + 1);
		snprintf(desc, cap, "mremap (any) [%" PRIu64 ", +%" PRIu64 ") -> [%" PRIu64 ", +%" PRIu64 ")", old,
			 oldlen, neu, newlen);
		op_mremap(old, oldlen, neu, newlen, false);
	} else {
		snprintf(desc, cap, "remove everything");
		op_remove(0, NP);
	}
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *s = getenv(name);
	return s && *s ? strtoull(s, NULL, 0) : dflt;
}

int main(void)
{
	P = mg_page_size();
	uint64_t seed0 = mg_unit_seed(0x6d6f64656c);
	no_untracked_dup = env_u64("MG_MODEL_NO_UNTRACKED_DUP", 0) != 0;
	uint64_t rounds = env_u64("MG_UNIT_ROUNDS", 200), steps = env_u64("MG_UNIT_STEPS", 1000);
	printf("unit_registry_model (sanitizers: %s): %" PRIu64 " rounds of %" PRIu64 " steps, first seed 0x%" PRIx64
	       "\n", mg_unit_sanitizers(), rounds, steps, seed0);
	fflush(stdout);
	mg_reg_lock();
	uint64_t counts = 0;
	for (uint64_t round = 0; round < rounds; round++) {
		uint64_t seed = seed0 + round;
		mg_rng_seed(seed);
		mg_reg_clear_locked();
		for (int i = 0; i < NP; i++)
			model[i].file = -1;
		last_n = 0;
		mg_unit_context("seed 0x%" PRIx64 " (MG_UNIT_SEED=0x%" PRIx64 " MG_UNIT_ROUNDS=1), before the first step",
				seed, seed);
		compare();
		for (uint64_t k = 0; k < steps; k++) {
			char desc[160];
			step((int)(round * steps + k + 1), desc, sizeof desc);
			mg_unit_context("seed 0x%" PRIx64 " (MG_UNIT_SEED=0x%" PRIx64 " MG_UNIT_ROUNDS=1), step %" PRIu64 ": %s",
					seed, seed, k, desc);
			compare();
			counts++;
		}
	}
	mg_reg_clear_locked();
	CHECK_U64(mg_reg_nmaps(), 0);
	CHECK_U64(mg_reg_nfiles(), 0);
	mg_reg_unlock();
	printf("unit_registry_model: %" PRIu64 " random operations matched the model\n", counts);
	return 0;
}

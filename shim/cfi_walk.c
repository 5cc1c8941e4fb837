/*
 * The wrappers' stack walk (cfi_walk.h).
 *
 * Rules come from cfi.c, one per return address, kept in a table of 4096 slots with a sequence
 * counter each (a seqlock: readers take no lock and retry nothing, a slot being written is a miss;
 * a signal handler that interrupts a writer of the same slot misses too, and does not wait). A
 * slot also holds the code generation it was computed in: dlclose starts a new one, so no rule
 * outlives the code it was read from. A rule "not followed" is cached like any other, so a stack
 * through a signal frame or a realigned function costs one lookup before libunwind walks it.
 *
 * Stack memory is read only where a rule says, and only inside a range of this thread's stack
 * known mapped (mincore, once per page: the pages above a running frame stay mapped while it
 * runs). A rule pointing outside, or a frame that does not move up the stack, ends the walk as
 * "not walked", as libunwind's checked reads would stop it.
 */
#define _GNU_SOURCE
#include "cfi_walk.h"
#include "cfi.h"
#include "depot.h"
#include "real.h"
#include "stack.h"

#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>

#define SLOTS 4096
#define PAGE 4096u
#define STACK_SPAN ((uintptr_t)1 << 28)   /* a walk reads at most 256 MiB above its start */

struct slot {
	unsigned seq;           /* odd: being written */
	unsigned gen;           /* the code generation of the rule */
	uintptr_t pc;
	uint64_t rule;          /* struct mg_cfi_rule */
};

_Static_assert(sizeof(struct mg_cfi_rule) == sizeof(uint64_t), "a rule is one word");

static struct slot cache[SLOTS];
static unsigned gen = 1;        /* slots of generation 0 are empty */

void mg_cfi_forget(void) { __atomic_add_fetch(&gen, 1, __ATOMIC_ACQ_REL); }

static inline struct slot *slot_of(uintptr_t pc)
{
	return &cache[(pc * 0x9e3779b97f4a7c15ull) >> 52];
}

static inline bool cache_get(uintptr_t pc, unsigned g, struct mg_cfi_rule *out)
{
	struct slot *s = slot_of(pc);
	unsigned q = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
	uintptr_t p = __atomic_load_n(&s->pc, __ATOMIC_RELAXED);
	unsigned sg = __atomic_load_n(&s->gen, __ATOMIC_RELAXED);
	uint64_t r = __atomic_load_n(&s->rule, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if ((q & 1) || __atomic_load_n(&s->seq, __ATOMIC_RELAXED) != q || p != pc || sg != g)
		return false;
	memcpy(out, &r, sizeof r);
	return true;
}

static void cache_put(uintptr_t pc, unsigned g, struct mg_cfi_rule rule)
{
	struct slot *s = slot_of(pc);
	unsigned q = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);
	if ((q & 1) || !__atomic_compare_exchange_n(&s->seq, &q, q + 1, false, __ATOMIC_RELAXED,
						    __ATOMIC_RELAXED))
		return;         /* another writer: this rule is simply not kept */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	uint64_t r;
	memcpy(&r, &rule, sizeof r);
	__atomic_store_n(&s->pc, pc, __ATOMIC_RELAXED);
	__atomic_store_n(&s->gen, g, __ATOMIC_RELAXED);
	__atomic_store_n(&s->rule, r, __ATOMIC_RELAXED);
	__atomic_store_n(&s->seq, q + 2, __ATOMIC_RELEASE);
}

/* [ok_lo, ok_hi): this thread's stack, known mapped. */
static MG_TLS uintptr_t ok_lo, ok_hi;

static bool extend(uintptr_t a, uintptr_t start)
{
	/* The range is this walk's stack's, unless a signal handler's walk on another stack moved
	 * it meanwhile: then this walk reads no further. */
	if (start < ok_lo || start >= ok_hi || a < ok_lo || a - start >= STACK_SPAN)
		return false;
	uintptr_t want = (a + 8 + PAGE - 1) & ~(uintptr_t)(PAGE - 1);
	while (ok_hi < want) {
		unsigned char vec[64];
		uintptr_t len = want - ok_hi;
		if (len > sizeof vec * PAGE)
			len = sizeof vec * PAGE;
		if (MG_SYS3(SYS_mincore, ok_hi, len, vec) != 0)
			return false;
		ok_hi += len;
	}
	return true;
}

/*
 * A walk starting at sp outside the known range: the page of sp is the running frame's. A walk
 * deeper down the same stack (within 1 MiB) extends the range down by one mincore; anywhere else
 * (another stack: a coroutine, a signal stack) the range starts again at sp's page.
 */
static void known_from(uintptr_t sp)
{
	uintptr_t page = sp & ~(uintptr_t)(PAGE - 1);
	if (ok_hi > ok_lo && page < ok_lo && ok_lo - page <= ((uintptr_t)1 << 20)) {
		unsigned char vec[256];
		if (MG_SYS3(SYS_mincore, page, ok_lo - page, vec) == 0) {
			ok_lo = page;
			return;
		}
	}
	ok_lo = page;
	ok_hi = page + PAGE;
}

/* A word of the stack; not instrumented: sanitizers would see another frame's slots. */
__attribute__((no_sanitize("address", "thread"))) static inline uintptr_t peek(uintptr_t a)
{
	return *(const uintptr_t *)a;
}

static inline bool read_word(uintptr_t a, uintptr_t start, uintptr_t *out)
{
	if (mg_unlikely((a & 7) || a < ok_lo || a + 8 > ok_hi) && !extend(a, start))
		return false;
	*out = peek(a);
	return true;
}

/*
 * Walks repeat: a loop that maps files calls from the same place at the same depth. A walk is a
 * function of where it starts (the return address, sp and rbp of this file's frame), the code
 * generation, and the stack words it read and used: the return addresses, and a saved rbp only
 * where a later frame's CFA was computed from it (a program built without frame pointers keeps
 * any value in rbp, and a walk that never uses it must not depend on it). So a walk is kept with
 * the addresses and values of those words, and a later walk from the same start whose words
 * still hold the same values has the same answer without running the rules again.
 * Kept in a table of slots with a sequence counter each, like the rules; a walk records into its
 * slot as it goes (odd while it does), so nothing of it is on the wrappers' stacks.
 */
#define TRACES 128
#define TRACE_MAX (MG_STACK_MAX + 8)
#define CHECKS (2 * TRACE_MAX)

struct trace {
	unsigned seq, gen;
	int max, nchk;
	uintptr_t ip0, sp0, rbp0;
	uintptr_t span;                 /* the words checked are in [sp0, sp0 + 8 * span) */
	const struct mg_stack *stk;     /* the stack it gave (frames outside the shim), in the depot */
	uint16_t chk_at[CHECKS];        /* the words the walk read and used: sp0 + 8 * chk_at[i] */
	uintptr_t chk_val[CHECKS];      /* and their values */
};
#define CHK_SPAN ((uintptr_t)UINT16_MAX + 1)    /* words above sp0 a kept walk may check */

static struct trace traces[TRACES];

#define LD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define ST(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

static inline struct trace *trace_of(uintptr_t ip0, uintptr_t sp0)
{
	return &traces[((ip0 ^ (sp0 << 7)) * 0x9e3779b97f4a7c15ull) >> 57];
}

/*
 * The kept walk from this start, if its words still hold what it read. Another thread may be
 * writing the slot meanwhile (the sequence then says so, and the answer is dropped), so nothing
 * read from the slot is trusted as an address: the words compared are sp0 + 8 * min(offset, last),
 * with last the highest word of the known-mapped range above sp0, whatever offset a writer left
 * there. (Not a mask of a power of two: that would leave out the top of the range, where a walk
 * reaching main's frames reads, for about every other stack position.)
 */
__attribute__((no_sanitize("address", "thread")))
static const struct mg_stack *trace_get(struct trace *t, uintptr_t ip0, uintptr_t sp0,
					uintptr_t rbp0, unsigned g, int max)
{
	unsigned q = __atomic_load_n(&t->seq, __ATOMIC_ACQUIRE);
	int nchk = LD(t->nchk);
	uintptr_t span = LD(t->span);
	const struct mg_stack *stk = LD(t->stk);
	if ((q & 1) || LD(t->ip0) != ip0 || LD(t->sp0) != sp0 || LD(t->rbp0) != rbp0 ||
	    LD(t->gen) != g || LD(t->max) != max || !stk || nchk <= 0 || nchk > CHECKS ||
	    sp0 < ok_lo || sp0 >= ok_hi)
		return NULL;
	uintptr_t words = (ok_hi - sp0) / 8;    /* >= 1: sp0 is 8-aligned below ok_hi */
	uintptr_t last = words - 1;
	if (span > words)
		return NULL;
	/* Every word is read, a difference or not: one branch at the end instead of one a word
	 * (all of them lie in the known-mapped range, so reading past a difference is safe). */
	uintptr_t diff = 0;
#pragma GCC unroll 4
	for (int i = 0; i < nchk; i++) {
		uintptr_t w = LD(t->chk_at[i]);
		diff |= peek(sp0 + 8 * (w < last ? w : last)) ^ LD(t->chk_val[i]);
	}
	if (diff)
		return NULL;
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (__atomic_load_n(&t->seq, __ATOMIC_RELAXED) != q)
		return NULL;
	return stk;     /* a depot entry whatever the race: immutable, never freed */
}

static inline struct mg_cfi_rule rule_of(uintptr_t pc, unsigned g)
{
	struct mg_cfi_rule r;
	if (!cache_get(pc, g, &r)) {
		r = mg_cfi_rule_at(pc);
		cache_put(pc, g, r);
	}
	return r;
}

struct rec {
	struct trace *t;        /* NULL: the walk is not kept */
	uintptr_t sp0;
	int nchk;
	uintptr_t span;
};

static inline void rec_check(struct rec *k, uintptr_t at, uintptr_t val)
{
	if (!k->t)
		return;
	uintptr_t w = (at - k->sp0) / 8;
	if (k->nchk == CHECKS || at < k->sp0 || (at & 7) || w >= CHK_SPAN) {
		k->t = NULL;    /* at most two words a frame, above the start; a deeper one is walked */
		return;
	}
	ST(k->t->chk_at[k->nchk], (uint16_t)w);
	ST(k->t->chk_val[k->nchk], val);
	k->nchk++;
	if (w + 1 > k->span)
		k->span = w + 1;
}

/* The walk by the rules, frames in [skip_lo, skip_hi) not kept; false: not walked. */
__attribute__((no_sanitize("address", "thread")))
static bool walk(uintptr_t ip, uintptr_t sp, uintptr_t rbp, unsigned g, int max,
		 uintptr_t skip_lo, uintptr_t skip_hi, struct mg_stack *st, struct rec *k)
{
	const uintptr_t start = sp;
	int rbp_from = -1;              /* the frame whose saved rbp rbp now is; -1: the start's */
	uintptr_t rbp_at = 0;           /* where it was read */
	bool rbp_known = true;
	st->n = 0;
	for (int n = 1;; n++) {
		if ((ip < skip_lo || ip >= skip_hi) && st->n < MG_STACK_MAX)
			st->ip[st->n++] = ip;
		struct mg_cfi_rule r = rule_of(ip - 1, g);
		if (!r.ok || (r.cfa_rbp && !rbp_known))
			return false;
		if (r.end || n == max)
			return true;
		if (r.cfa_rbp && rbp_from >= 0) {       /* that saved rbp is used */
			rec_check(k, rbp_at, rbp);
			rbp_from = -1;
		}
		uintptr_t cfa = (r.cfa_rbp ? rbp : sp) + (uintptr_t)(intptr_t)r.cfa_off;
		uintptr_t ra_at = cfa + (uintptr_t)(intptr_t)r.ra_off, next;
		if (cfa <= sp || !read_word(ra_at, start, &next))
			return false;
		rec_check(k, ra_at, next);
		if (r.rbp == MG_CFI_RBP_SAVED) {
			uintptr_t at = cfa + (uintptr_t)(intptr_t)r.rbp_off;
			if (!read_word(at, start, &rbp))
				return false;
			rbp_from = n - 1;
			rbp_at = at;
		} else if (r.rbp == MG_CFI_RBP_LOST) {
			rbp_known = false;
		}
		sp = cfa;
		ip = next;
		if (!ip)
			return true;
	}
}

__attribute__((noinline, no_sanitize("address", "thread")))
int mg_cfi_walk(struct mg_stack *st, const struct mg_stack **ref, int max, uintptr_t skip_lo,
		uintptr_t skip_hi)
{
	/* This file is built with frame pointers: rbp is this frame's, and says where it returns. */
	const uintptr_t *fp = __builtin_frame_address(0);
	uintptr_t rbp0 = fp[0], ip0 = fp[1], sp0 = (uintptr_t)(fp + 2);
	unsigned g = __atomic_load_n(&gen, __ATOMIC_ACQUIRE);
	st->n = 0;
	st->pc_first = 0;
	*ref = NULL;
	if (max > TRACE_MAX)
		max = TRACE_MAX;
	if (max <= 0 || !ip0) {
		if (max > 0)
			return -1;
		*ref = &mg_stack_none;
		return 0;
	}
	if (!(sp0 >= ok_lo && sp0 < ok_hi))
		known_from(sp0);
	struct trace *t = trace_of(ip0, sp0);
	if ((*ref = trace_get(t, ip0, sp0, rbp0, g, max)))
		return 0;
	struct rec k = { .t = t, .sp0 = sp0 };
	bool ok;
	unsigned q = __atomic_load_n(&t->seq, __ATOMIC_RELAXED);
	if ((q & 1) || !__atomic_compare_exchange_n(&t->seq, &q, q + 1, false, __ATOMIC_RELAXED,
						    __ATOMIC_RELAXED)) {
		k.t = NULL;
		ok = walk(ip0, sp0, rbp0, g, max, skip_lo, skip_hi, st, &k);
		if (ok)
			*ref = mg_depot_intern(st);
	} else {
		__atomic_thread_fence(__ATOMIC_RELEASE);
		ok = walk(ip0, sp0, rbp0, g, max, skip_lo, skip_hi, st, &k);
		if (ok)
			*ref = mg_depot_intern(st);
		/* no checks, or a stack the depot had no room for: never taken */
		ST(t->nchk, ok && k.t && *ref != &mg_stack_lost ? k.nchk : 0);
		ST(t->stk, *ref);
		ST(t->span, k.span);
		ST(t->ip0, ip0);
		ST(t->sp0, sp0);
		ST(t->rbp0, rbp0);
		ST(t->gen, g);
		ST(t->max, max);
		__atomic_store_n(&t->seq, q + 2, __ATOMIC_RELEASE);
	}
	if (!ok)
		st->n = 0;      /* a part of a stack is no stack: libunwind walks it whole */
	return ok ? 0 : -1;
}

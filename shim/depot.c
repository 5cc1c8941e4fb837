/*
 * The stack depot (depot.h): an open-addressing table of pointers to immutable entries.
 *
 * A slot goes from NULL to an entry once, by compare-and-swap, and never changes again; an entry
 * is filled before it is published. So a reader needs no lock and no sequence: it follows a slot,
 * compares, and either has its stack or probes on. Two threads interning the same new stack at
 * once may both fill an entry; the one that loses the slot probes on, finds the winner's entry
 * and returns it (its own entry is left unused: at most one per such race).
 *
 * Memory: the table (2^18 slots, 2 MiB) and entry chunks (1 MiB, ~5,200 entries each) are
 * anonymous mappings made with the raw system call on first need, never unmapped. At most
 * MAX_CHUNKS chunks (~180,000 distinct stacks, ~36 MiB); past that, or past MAX_PROBE probes, a
 * new stack is not kept and its windows show mg_stack_lost (mg_depot_lost counts them).
 */
#define _GNU_SOURCE
#include "depot.h"
#include "arena.h"

#include <stdint.h>
#include <string.h>

#define TABLE_BITS 18
#define TABLE_SLOTS (1u << TABLE_BITS)
#define TABLE_BYTES ((size_t)TABLE_SLOTS * sizeof(uintptr_t))  /* slots are pointers */
_Static_assert(sizeof(uintptr_t) == sizeof(const struct mg_stack *), "a slot is a pointer");
#define MAX_PROBE 64
#define CHUNK_BYTES ((size_t)1 << 20)
#define PER_CHUNK (CHUNK_BYTES / sizeof(struct mg_stack))
#define MAX_CHUNKS 36

const struct mg_stack mg_stack_none = { 0 };
const struct mg_stack mg_stack_lost = { 0 };

/* Installed once each (pages_once); typed where they are used. */
static void *table_mem;
static void *chunk_mem[MAX_CHUNKS];
static unsigned long next_entry, lost;

/* Install *where from NULL to fresh pages of size bytes, or take what another thread installed. */
static void *pages_once(void **where, size_t size)
{
	void *p = __atomic_load_n(where, __ATOMIC_ACQUIRE);
	if (p)
		return p;
	void *mine = mg_pages_alloc(size);
	if (!mine)
		return NULL;
	void *expected = NULL;
	if (__atomic_compare_exchange_n(where, &expected, mine, false, __ATOMIC_ACQ_REL,
					__ATOMIC_ACQUIRE))
		return mine;
	mg_pages_free(mine, size);
	return expected;
}

static struct mg_stack *entry_new(void)
{
	unsigned long i = __atomic_fetch_add(&next_entry, 1, __ATOMIC_RELAXED);
	if (i >= (unsigned long)MAX_CHUNKS * PER_CHUNK)
		return NULL;
	struct mg_stack *c = pages_once(&chunk_mem[i / PER_CHUNK], CHUNK_BYTES);
	return c ? &c[i % PER_CHUNK] : NULL;
}

static uint64_t hash_of(const struct mg_stack *st, unsigned n)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ ((uint64_t)n << 1 | st->pc_first);
	for (unsigned i = 0; i < n; i++) {
		h ^= st->ip[i];
		h *= 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	return h;
}

static bool same(const struct mg_stack *e, const struct mg_stack *st, unsigned n)
{
	return e->n == n && e->pc_first == st->pc_first &&
	       memcmp(e->ip, st->ip, n * sizeof st->ip[0]) == 0;
}

const struct mg_stack *mg_depot_intern(const struct mg_stack *st)
{
	unsigned n = st->n < MG_STACK_MAX ? st->n : MG_STACK_MAX;
	if (n == 0)
		return &mg_stack_none;
	const struct mg_stack **t = pages_once(&table_mem, TABLE_BYTES);
	if (!t)
		goto no_room;
	uint64_t h = hash_of(st, n);
	struct mg_stack *mine = NULL;
	for (unsigned p = 0; p < MAX_PROBE; p++) {
		const struct mg_stack **slot = &t[(h + p) & (TABLE_SLOTS - 1)];
		const struct mg_stack *e = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
		if (!e) {
			if (!mine) {
				mine = entry_new();
				if (!mine)
					goto no_room;
				mine->n = (uint16_t)n;  /* fresh zeroed pages, never reused */
				mine->pc_first = st->pc_first;
				memcpy(mine->ip, st->ip, n * sizeof st->ip[0]);
			}
			const struct mg_stack *other = NULL;
			if (__atomic_compare_exchange_n(slot, &other, mine, false, __ATOMIC_RELEASE,
							__ATOMIC_ACQUIRE))
				return mine;
			if (other && same(other, st, n))        /* another thread's entry took it */
				return other;
		} else if (same(e, st, n)) {
			return e;
		}
	}
no_room:
	__atomic_add_fetch(&lost, 1, __ATOMIC_RELAXED);
	return &mg_stack_lost;
}

unsigned long mg_depot_count(void)
{
	unsigned long n = __atomic_load_n(&next_entry, __ATOMIC_RELAXED);
	unsigned long max = (unsigned long)MAX_CHUNKS * PER_CHUNK;
	return n < max ? n : max;
}

unsigned long mg_depot_lost(void) { return __atomic_load_n(&lost, __ATOMIC_RELAXED); }

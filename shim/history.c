#define _GNU_SOURCE
#include "history.h"

#include <stddef.h>
#include <string.h>

#define SLOTS 64
#define CALL_SIZE 24

struct slot {
	unsigned seq;                   /* odd while being written */
	char call[CALL_SIZE];           /* a copy of r.call: a core holds no read-only page */
	struct mg_trunc_record r;
};

struct mg_state {
	struct mg_state_layout layout;
	unsigned next_slot;
	struct slot ring[SLOTS];
};

#define SLOT_AT(field) ((uint32_t)offsetof(struct slot, field))

/* Initialized data (not .bss), so that the magic is in memory from the start. */
static struct mg_state state = {
	.layout = {
		.magic = MG_STATE_MAGIC,
		.version = MG_STATE_VERSION,
		.header_size = sizeof(struct mg_state_layout),
		.slots = SLOTS,
		.slot_size = sizeof(struct slot),
		.slots_offset = offsetof(struct mg_state, ring),
		.stack_max = MG_STACK_MAX,
		.call_size = CALL_SIZE,
		.seq_offset = SLOT_AT(seq),
		.call_offset = SLOT_AT(call),
		.dev_offset = SLOT_AT(r.dev),
		.ino_offset = SLOT_AT(r.ino),
		.size_before_offset = SLOT_AT(r.size_before),
		.size_after_offset = SLOT_AT(r.size_after),
		.tid_offset = SLOT_AT(r.tid),
		.thread_name_offset = SLOT_AT(r.thread_name),
		.time_offset = SLOT_AT(r.time),
		.stack_n_offset = SLOT_AT(r.stack.n),
		.stack_ip_offset = SLOT_AT(r.stack.ip),
	},
};
/* The name a core reader finds in the dynamic symbol table; the guard itself uses `state`. */
extern struct mg_state mmapguard_state __attribute__((alias("state"), visibility("default")));

_Static_assert(sizeof(dev_t) == 8 && sizeof(ino_t) == 8 && sizeof(pid_t) == 4 &&
	       sizeof(struct timespec) == 16 && sizeof(uintptr_t) == 8,
	       "layout version 1 is for 64-bit Linux");

void mg_history_add(const struct mg_trunc_record *r)
{
	struct slot *s = &state.ring[__atomic_fetch_add(&state.next_slot, 1, __ATOMIC_RELAXED) % SLOTS];
	__atomic_add_fetch(&s->seq, 1, __ATOMIC_ACQ_REL);
	memcpy(&s->r, r, sizeof *r);
	size_t i = 0;
	for (; r->call && r->call[i] && i < CALL_SIZE - 1; i++)
		s->call[i] = r->call[i];
	s->call[i] = 0;
	__atomic_add_fetch(&s->seq, 1, __ATOMIC_RELEASE);
}

bool mg_history_find(dev_t dev, ino_t ino, const struct timespec *not_before, uint64_t page_at,
		     uint64_t page_size, struct mg_trunc_record *out)
{
	bool found = false;
	struct timespec best = { 0, 0 };
	struct mg_trunc_record tmp;
	for (int i = 0; i < SLOTS; i++) {
		struct slot *s = &state.ring[i];
		unsigned s1 = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
		if (s1 == 0 || (s1 & 1))
			continue;
		memcpy(&tmp, &s->r, sizeof tmp);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&s->seq, __ATOMIC_RELAXED) != s1)
			continue;
		if (tmp.dev != dev || tmp.ino != ino || mg_time_before(&tmp.time, not_before) ||
		    !mg_cut_unbacks(tmp.size_after, page_at, page_size))
			continue;
		if (!found || tmp.time.tv_sec > best.tv_sec ||
		    (tmp.time.tv_sec == best.tv_sec && tmp.time.tv_nsec > best.tv_nsec)) {
			*out = tmp;
			best = tmp.time;
			found = true;
		}
	}
	return found;
}

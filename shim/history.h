/*
 * Recent truncations this process made of mapped files (reported, and allowed to proceed), kept
 * so that a later SIGBUS can name its cause. A fixed ring; each slot has its own sequence counter so
 * the signal handler reads it without a lock.
 *
 * The ring is also readable from a core file (`mmapguard explain`): it lives in the exported object
 * `mmapguard_state`, which starts with the magic "mmapguard-state" and a table of its own layout
 * (struct mg_state_layout below; docs/DESIGN.md "The guard's state in a core file").
 */
#ifndef MG_HISTORY_H
#define MG_HISTORY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include "guard.h"
#include "stack.h"

struct mg_trunc_record {
	dev_t dev;
	ino_t ino;
	const char *call;               /* static string */
	uint64_t size_before, size_after;
	pid_t pid;                      /* another pid: a vfork child, which shares our memory */
	pid_t tid;
	char thread_name[16];
	struct timespec time;
	struct mg_stack stack;
};

/*
 * Version 1 of the layout a reader of a core file relies on: the object starts with this header;
 * slot i starts at slots_offset + i * slot_size; the *_offset fields are byte offsets inside a
 * slot. Sizes: seq 4 (even and non-zero: the slot holds a record), call a NUL-terminated name in
 * call_size bytes, dev, ino, size_before, size_after 8 each, tid 4, thread_name 16, time two
 * 8-byte words (seconds, nanoseconds, CLOCK_REALTIME), stack_n 2, stack_ip stack_max 8-byte
 * return addresses (frame 0 is the truncating call's caller).
 */
#define MG_STATE_MAGIC "mmapguard-state"
#define MG_STATE_VERSION 1
struct mg_state_layout {
	char magic[16];
	uint32_t version, header_size;
	uint32_t slots, slot_size, slots_offset, stack_max, call_size;
	uint32_t seq_offset, call_offset, dev_offset, ino_offset, size_before_offset,
		size_after_offset, tid_offset, thread_name_offset, time_offset, stack_n_offset,
		stack_ip_offset;
};

void mg_history_add(const struct mg_trunc_record *r) MG_HIDDEN;
/*
 * The most recent truncation of (dev, ino) made at or after *not_before (a window's creation: an
 * older cut cannot have cut that window) whose new size leaves the file page at offset `page_at`
 * unbacked, copied into *out. Async-signal-safe.
 */
bool mg_history_find(dev_t dev, ino_t ino, const struct timespec *not_before, uint64_t page_at,
		     uint64_t page_size, struct mg_trunc_record *out) MG_HIDDEN;

/* t is before *not_before. */
static inline bool mg_time_before(const struct timespec *t, const struct timespec *not_before)
{
	return t->tv_sec < not_before->tv_sec ||
	       (t->tv_sec == not_before->tv_sec && t->tv_nsec < not_before->tv_nsec);
}

/* A new size of size_after leaves the file page at offset page_at (page-aligned) unbacked. */
static inline bool mg_cut_unbacks(uint64_t size_after, uint64_t page_at, uint64_t page_size)
{
	return size_after <= page_at || (size_after - 1) / page_size < page_at / page_size;
}

#endif

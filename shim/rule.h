/*
 * The rule: when does a change of file size cut a mapped window?
 * A window covers file bytes [off, off + len). The page holding the new EOF stays readable; pages
 * wholly beyond it fault. A page that was already beyond the old EOF was not backed before the call
 * either, so only pages going from backed to unbacked count.
 */
#ifndef MG_RULE_H
#define MG_RULE_H

#include <stdint.h>

static inline uint64_t mg_round_up(uint64_t v, uint64_t page)
{
	return (v + page - 1) / page * page;
}

static inline uint64_t mg_min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }
static inline uint64_t mg_max_u64(uint64_t a, uint64_t b) { return a > b ? a : b; }

/* Pages of the window that the size change old_size -> new_size turns from backed to faulting. */
static inline uint64_t mg_rule_pages_cut(uint64_t off, uint64_t len, uint64_t old_size,
					 uint64_t new_size, uint64_t page)
{
	uint64_t end = off + len;
	uint64_t new_limit = mg_max_u64(mg_round_up(new_size, page), off);
	uint64_t old_limit = mg_min_u64(mg_round_up(old_size, page), end);
	return new_limit < old_limit ? (old_limit - new_limit) / page : 0;
}

/* Pages of the window wholly beyond a file size (they fault on access). */
static inline uint64_t mg_rule_pages_beyond(uint64_t off, uint64_t len, uint64_t size, uint64_t page)
{
	uint64_t end = off + len;
	uint64_t limit = mg_max_u64(mg_round_up(size, page), off);
	return limit < end ? (end - limit) / page : 0;
}

/* Smallest size that keeps every byte of the window backed. */
static inline uint64_t mg_rule_safe_size(uint64_t off, uint64_t len, uint64_t page)
{
	return len ? off + len - page + 1 : 0;
}

#endif

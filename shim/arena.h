/*
 * Memory for the registry: size classes carved from anonymous mappings made with the raw syscall.
 * Never the host's malloc (it may be jemalloc calling back into our mmap wrapper while holding its
 * own lock). Not thread-safe: callers hold the registry lock. Memory is never returned to the
 * kernel, so a lock-free reader (the SIGBUS handler) can never touch an unmapped page.
 */
#ifndef MG_ARENA_H
#define MG_ARENA_H

#include <stddef.h>
#include "guard.h"

void *mg_arena_alloc(size_t size) MG_HIDDEN;          /* zeroed; NULL when the kernel says no */
void *mg_arena_alloc_raw(size_t size) MG_HIDDEN;      /* not zeroed */
void mg_arena_free(void *p, size_t size) MG_HIDDEN;
/* A child whose free lists may be half changed: start from fresh chunks (the old ones leak). */
void mg_arena_forget(void) MG_HIDDEN;
void *mg_pages_alloc(size_t size) MG_HIDDEN;          /* raw anonymous pages, thread-safe */
void mg_pages_free(void *p, size_t size) MG_HIDDEN;

#endif

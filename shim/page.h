/* The page size, read once from the auxiliary vector. */
#ifndef MG_PAGE_H
#define MG_PAGE_H

#include <stddef.h>
#include "guard.h"

extern size_t mg_page_size_cached MG_HIDDEN;
size_t mg_page_size_load(void) MG_HIDDEN;

static inline size_t mg_page_size(void)
{
	size_t p = __atomic_load_n(&mg_page_size_cached, __ATOMIC_RELAXED);
	return mg_likely(p) ? p : mg_page_size_load();
}

#endif

#define _GNU_SOURCE
#include "page.h"

#include <sys/auxv.h>

size_t mg_page_size_cached;

size_t mg_page_size_load(void)
{
	size_t p = getauxval(AT_PAGESZ);
	if (!p)
		p = 4096;
	__atomic_store_n(&mg_page_size_cached, p, __ATOMIC_RELAXED);
	return p;
}

/*
 * The library the dlmaps tests load and cut in place: a few pages of read-only data, so that a
 * cut leaves mapped pages beyond the end of the file.
 */
#include <stddef.h>

#define TABLE_PAGES 16

const unsigned char dlm_table[TABLE_PAGES * 4096] = { 1, 2, 3 };

/* Reads the table `page` pages in: a SIGBUS once the file no longer reaches that page. */
int dlm_read(size_t page)
{
	return ((const volatile unsigned char *)dlm_table)[(page % TABLE_PAGES) * 4096];
}

int dlm_answer(void) { return 42; }

/*
 * "suppressed" records: calls a suppression excused. The guard writes one at the 1st, 2nd, 4th,
 * 8th... call of each site in a process, with the running count, so the calls of a site are the
 * largest count seen per process, summed over processes.
 */
#ifndef MGC_SUPPRESSED_H
#define MGC_SUPPRESSED_H

#include <stdbool.h>
#include <stdio.h>
#include "json.h"

struct suppressed;

struct suppressed *suppressed_new(void);
void suppressed_free(struct suppressed *s);
void suppressed_add(struct suppressed *s, const struct jdoc *d, const struct jnode *r, int pid);
/* Calls suppressed, over all processes. */
unsigned long suppressed_calls(const struct suppressed *s);
void suppressed_print_text(const struct suppressed *s, FILE *out);
void suppressed_print_json(const struct suppressed *s, FILE *out);

#endif

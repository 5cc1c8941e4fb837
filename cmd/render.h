/* A JSON record rendered as the guard's human-readable text block. */
#ifndef MGC_RENDER_H
#define MGC_RENDER_H

#include "json.h"
#include "util.h"

struct symbolizer;

/*
 * sym: names the creation stacks of other processes' windows (their records carry module+offset
 * only); NULL: the record's own symbols.
 */
void render_record_text(struct sbuf *b, const struct jdoc *d, const struct jnode *record,
			struct symbolizer *sym);

/* sigbus, lease_break, lease_unavailable, lease_signal as the guard writes them; false: another kind. */
bool render_fault_text(struct sbuf *b, const struct jdoc *d, const struct jnode *record,
		       struct symbolizer *sym);

#endif

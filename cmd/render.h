/* A JSON record rendered as the guard's human-readable text block. */
#ifndef MGC_RENDER_H
#define MGC_RENDER_H

#include "json.h"
#include "util.h"

void render_record_text(struct sbuf *b, const struct jdoc *d, const struct jnode *record);

#endif

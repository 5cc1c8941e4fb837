/* The pieces of the guard's text blocks, rebuilt from a JSON record (render.c, render_fault.c). */
#ifndef MGC_RENDER_PARTS_H
#define MGC_RENDER_PARTS_H

#include "json.h"
#include "util.h"

struct symbolizer;

/* The string at key, made safe for a terminal, or dflt. */
const char *render_str(const struct jdoc *d, const struct jnode *o, const char *key, const char *dflt);
/* The number (or string) at key as it is written, '?' when missing. */
void render_num(struct sbuf *b, const struct jdoc *d, const struct jnode *o, const char *key);
/* A backtrace array with the record's own symbols: one "#N  symbol (module+offset) ip" line each. */
void render_stack(struct sbuf *b, const struct jdoc *d, const struct jnode *arr, const char *indent);
/* 'TID "NAME" of pid PID at TIME:' and the record's backtrace under it. */
void render_thread(struct sbuf *b, const struct jdoc *d, const struct jnode *r);
/* Another process's stack, named by sym (function, file:line) when it can, else as recorded. */
void render_victim_stack(struct sbuf *b, const struct jdoc *d, const struct jnode *arr,
			 struct symbolizer *sym);
/* 'TID "NAME" [of pid MADE] at TIME:' for mapping m of process owner, and the fork line. */
void render_maker(struct sbuf *b, const struct jdoc *d, const struct jnode *m, const struct jnode *owner,
		  const char *indent);

#endif

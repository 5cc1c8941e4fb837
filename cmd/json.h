/*
 * A small JSON reader for one line (one record) at a time. The text is decoded in place: strings
 * and keys become NUL-terminated C strings inside the caller's buffer, which must stay alive (and
 * unchanged) while the nodes are used. Nodes live in a pool reused from line to line.
 */
#ifndef MGC_JSON_H
#define MGC_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum jtype { J_NULL, J_FALSE, J_TRUE, J_NUM, J_STR, J_ARR, J_OBJ };

#define J_NONE UINT32_MAX

struct jnode {
	uint8_t type;
	uint32_t len;                   /* J_STR: bytes; J_NUM: text length; J_ARR/J_OBJ: children */
	uint32_t child;                 /* first child, J_NONE if none */
	uint32_t next;                  /* next sibling, J_NONE if last */
	const char *key;                /* member name inside an object, else NULL */
	const char *s;                  /* J_STR: the string; J_NUM: its text (not terminated) */
};

struct jdoc {
	struct jnode *n;
	size_t used, cap;
	const char *error;              /* why the last parse failed */
};

void jdoc_free(struct jdoc *d);
/* Parse text[0..len) (text[len] must be writable; it is set to 0). Returns the root or NULL. */
const struct jnode *json_parse(struct jdoc *d, char *text, size_t len);

static inline const struct jnode *jchild(const struct jdoc *d, const struct jnode *n)
{
	return n && n->child != J_NONE ? &d->n[n->child] : NULL;
}
static inline const struct jnode *jnext(const struct jdoc *d, const struct jnode *n)
{
	return n->next != J_NONE ? &d->n[n->next] : NULL;
}
/* Member of an object, NULL if absent (or if o is not an object). */
const struct jnode *jget(const struct jdoc *d, const struct jnode *o, const char *key);
/* The string of a member, NULL if absent or not a string. */
const char *jget_str(const struct jdoc *d, const struct jnode *o, const char *key);
/* Numbers: decimal integers; hex strings "0x..." are accepted too. false if absent/invalid. */
bool jnum_u64(const struct jnode *n, uint64_t *out);
bool jnum_i64(const struct jnode *n, int64_t *out);
bool jget_u64(const struct jdoc *d, const struct jnode *o, const char *key, uint64_t *out);

#endif

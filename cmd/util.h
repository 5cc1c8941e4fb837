/* Small helpers for the mmapguard command: allocation, an arena, a hash map, a string buffer. */
#ifndef MGC_UTIL_H
#define MGC_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

/* Bump allocator; everything is freed at once. */
struct arena {
	struct arena_block *blocks;
	char *cur, *end;
};
void *arena_alloc(struct arena *a, size_t n);           /* 16-byte aligned */
char *arena_strndup(struct arena *a, const char *s, size_t n);
void arena_free(struct arena *a);

uint64_t hash_bytes(const void *p, size_t n);

/* Open-addressing hash map from a byte string (copied into the arena) to a pointer. */
struct hmap_entry {
	uint64_t hash;
	const void *key;                /* NULL: empty slot */
	size_t klen;
	void *val;
};
struct hmap {
	struct hmap_entry *t;
	size_t cap, n;
	struct arena *arena;            /* where keys are copied */
};
void hmap_init(struct hmap *m, struct arena *a);
void hmap_free(struct hmap *m);
/* Slot of key (created with val NULL when absent); the pointer is valid until the next put. */
void **hmap_put(struct hmap *m, const void *key, size_t klen);
void *hmap_get(const struct hmap *m, const void *key, size_t klen);

/* Interned strings: equal strings give the same pointer. */
struct strtab {
	struct hmap map;
};
void strtab_init(struct strtab *t, struct arena *a);
const char *intern(struct strtab *t, const char *s, size_t n);
static inline const char *intern_cstr(struct strtab *t, const char *s)
{
	return s ? intern(t, s, strlen(s)) : NULL;
}

/* Growable string. */
struct sbuf {
	char *p;
	size_t len, cap;
};
void sb_reserve(struct sbuf *b, size_t more);
void sb_putn(struct sbuf *b, const char *s, size_t n);
void sb_puts(struct sbuf *b, const char *s);
void sb_putc(struct sbuf *b, char c);
void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_json_str(struct sbuf *b, const char *s);        /* quoted and escaped; null for NULL */
/* For text output: controls as \n or \xNN, backslash as \\ (as the guard's text reports do). */
void sb_text(struct sbuf *b, const char *s);
bool text_needs_escape(const char *s);
/* s itself, or an escaped copy (valid until 32 more calls) when it holds controls or backslashes. */
const char *text_safe(const char *s);
void sb_free(struct sbuf *b);
static inline void sb_clear(struct sbuf *b) { b->len = 0; if (b->p) b->p[0] = 0; }

/* Growable vector of ints. */
struct ivec {
	int *v;
	size_t n, cap;
};
void ivec_push(struct ivec *v, int x);
void ivec_sort_unique(struct ivec *v);

/* Write all of b to fd, ignoring errors (EPIPE and the like). */
void write_all_fd(int fd, const char *p, size_t n);

#endif

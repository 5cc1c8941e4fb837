#define _GNU_SOURCE
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void oom(void)
{
	static const char msg[] = "mmapguard: out of memory\n";
	write_all_fd(2, msg, sizeof msg - 1);
	exit(125);
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom();
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		oom();
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom();
	return p;
}

char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	return memcpy(xmalloc(n), s, n);
}

/* ---- arena ---------------------------------------------------------------------------------- */

struct arena_block {
	struct arena_block *next;
	max_align_t align[];
};

#define ARENA_BLOCK (1u << 20)

void *arena_alloc(struct arena *a, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	if ((size_t)(a->end - a->cur) < n) {
		size_t sz = n > ARENA_BLOCK / 4 ? n : ARENA_BLOCK;
		struct arena_block *b = xmalloc(sizeof *b + sz + 16);
		b->next = a->blocks;
		a->blocks = b;
		char *start = (char *)b->align;
		start = (char *)(((uintptr_t)start + 15) & ~(uintptr_t)15);
		if (n > ARENA_BLOCK / 4) {
			/* A large object gets its own block; the current block stays in use. */
			return start;
		}
		a->cur = start;
		a->end = start + sz;
	}
	void *p = a->cur;
	a->cur += n;
	return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
	char *p = arena_alloc(a, n + 1);
	memcpy(p, s, n);
	p[n] = 0;
	return p;
}

void arena_free(struct arena *a)
{
	struct arena_block *b = a->blocks;
	while (b) {
		struct arena_block *next = b->next;
		free(b);
		b = next;
	}
	a->blocks = NULL;
	a->cur = a->end = NULL;
}

/* ---- hashing -------------------------------------------------------------------------------- */

uint64_t hash_bytes(const void *p, size_t n)
{
	/* FNV-1a over 8-byte words, then a final mix; keys are short. */
	const unsigned char *s = p;
	uint64_t h = 0xcbf29ce484222325ull ^ n;
	while (n >= 8) {
		uint64_t w;
		memcpy(&w, s, 8);
		h = (h ^ w) * 0x100000001b3ull;
		h ^= h >> 29;
		s += 8;
		n -= 8;
	}
	while (n--)
		h = (h ^ *s++) * 0x100000001b3ull;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

void hmap_init(struct hmap *m, struct arena *a)
{
	m->cap = 64;
	m->n = 0;
	m->t = xcalloc(m->cap, sizeof *m->t);
	m->arena = a;
}

void hmap_free(struct hmap *m)
{
	free(m->t);
	m->t = NULL;
	m->cap = m->n = 0;
}

static struct hmap_entry *find(struct hmap_entry *t, size_t cap, uint64_t h, const void *key,
			       size_t klen)
{
	size_t i = (size_t)h & (cap - 1);
	for (;;) {
		struct hmap_entry *e = &t[i];
		if (!e->key || (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0))
			return e;
		i = (i + 1) & (cap - 1);
	}
}

void **hmap_put(struct hmap *m, const void *key, size_t klen)
{
	if ((m->n + 1) * 4 > m->cap * 3) {
		size_t ncap = m->cap * 2;
		struct hmap_entry *nt = xcalloc(ncap, sizeof *nt);
		for (size_t i = 0; i < m->cap; i++)
			if (m->t[i].key)
				*find(nt, ncap, m->t[i].hash, m->t[i].key, m->t[i].klen) = m->t[i];
		free(m->t);
		m->t = nt;
		m->cap = ncap;
	}
	uint64_t h = hash_bytes(key, klen);
	struct hmap_entry *e = find(m->t, m->cap, h, key, klen);
	if (!e->key) {
		char *k = arena_alloc(m->arena, klen + 1);
		memcpy(k, key, klen);
		k[klen] = 0;
		e->key = k;
		e->klen = klen;
		e->hash = h;
		e->val = NULL;
		m->n++;
	}
	return &e->val;
}

void *hmap_get(const struct hmap *m, const void *key, size_t klen)
{
	struct hmap_entry *e = find(m->t, m->cap, hash_bytes(key, klen), key, klen);
	return e->key ? e->val : NULL;
}

void strtab_init(struct strtab *t, struct arena *a) { hmap_init(&t->map, a); }

const char *intern(struct strtab *t, const char *s, size_t n)
{
	void **slot = hmap_put(&t->map, s, n);
	if (!*slot) {
		/* The key copy is NUL-terminated: it is the interned string. */
		struct hmap_entry *e = (struct hmap_entry *)((char *)slot - offsetof(struct hmap_entry, val));
		*slot = (void *)e->key;
	}
	return *slot;
}

/* ---- sbuf ----------------------------------------------------------------------------------- */

void sb_reserve(struct sbuf *b, size_t more)
{
	if (b->len + more + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + more + 1)
			cap *= 2;
		b->p = xrealloc(b->p, cap);
		b->cap = cap;
	}
}

void sb_putn(struct sbuf *b, const char *s, size_t n)
{
	sb_reserve(b, n);
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

void sb_puts(struct sbuf *b, const char *s) { sb_putn(b, s, strlen(s)); }

void sb_putc(struct sbuf *b, char c)
{
	sb_reserve(b, 1);
	b->p[b->len++] = c;
	b->p[b->len] = 0;
}

void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char small[256];
	int n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof small) {
		sb_putn(b, small, (size_t)n);
		return;
	}
	sb_reserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* Length of the valid UTF-8 sequence at p (lead byte >= 0x80), 0 if invalid. */
static size_t utf8_len(const unsigned char *p)
{
	size_t n;
	uint32_t cp;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp < 0xe000))) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

void sb_json_str(struct sbuf *b, const char *s)
{
	if (!s) {
		sb_puts(b, "null");
		return;
	}
	sb_reserve(b, strlen(s) + 2);
	sb_putc(b, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"': sb_puts(b, "\\\""); break;
		case '\\': sb_puts(b, "\\\\"); break;
		case '\n': sb_puts(b, "\\n"); break;
		case '\t': sb_puts(b, "\\t"); break;
		case '\r': sb_puts(b, "\\r"); break;
		default:
			if (*p < 0x20) {
				sb_printf(b, "\\u%04x", *p);
			} else if (*p < 0x80) {
				sb_putc(b, (char)*p);
			} else {
				/* Keep valid UTF-8; anything else becomes U+FFFD (the output must be UTF-8). */
				size_t n = utf8_len(p);
				if (n) {
					sb_putn(b, (const char *)p, n);
					p += n - 1;
				} else {
					sb_puts(b, "\xef\xbf\xbd");
				}
			}
		}
	}
	sb_putc(b, '"');
}

bool text_needs_escape(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f || *p == '\\')
			return true;
	return false;
}

void sb_text(struct sbuf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '\\') {
			sb_puts(b, "\\\\");
		} else if (*p == '\n') {
			sb_puts(b, "\\n");
		} else if (*p < 0x20 || *p == 0x7f) {
			char esc[4] = { '\\', 'x', hex[*p >> 4], hex[*p & 15] };
			sb_putn(b, esc, 4);
		} else {
			sb_putc(b, (char)*p);
		}
	}
}

const char *text_safe(const char *s)
{
	static struct sbuf ring[32];
	static unsigned next;
	if (!s || !text_needs_escape(s))
		return s;
	struct sbuf *b = &ring[next++ % 32];
	sb_clear(b);
	sb_text(b, s);
	return b->p;
}

void sb_free(struct sbuf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/* ---- ivec ----------------------------------------------------------------------------------- */

void ivec_push(struct ivec *v, int x)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 4;
		v->v = xrealloc(v->v, v->cap * sizeof *v->v);
	}
	v->v[v->n++] = x;
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

void ivec_sort_unique(struct ivec *v)
{
	if (v->n < 2)
		return;
	qsort(v->v, v->n, sizeof *v->v, cmp_int);
	size_t w = 1;
	for (size_t i = 1; i < v->n; i++)
		if (v->v[i] != v->v[w - 1])
			v->v[w++] = v->v[i];
	v->n = w;
}

void write_all_fd(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t r = write(fd, p, n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		p += r;
		n -= (size_t)r;
	}
}

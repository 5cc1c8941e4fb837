#define _GNU_SOURCE
#include "json.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64

struct parser {
	struct jdoc *d;
	char *p, *end;
	int depth;
};

void jdoc_free(struct jdoc *d)
{
	free(d->n);
	d->n = NULL;
	d->used = d->cap = 0;
}

static uint32_t new_node(struct jdoc *d, uint8_t type)
{
	if (d->used == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 256;
		d->n = xrealloc(d->n, d->cap * sizeof *d->n);
	}
	struct jnode *n = &d->n[d->used];
	n->type = type;
	n->len = 0;
	n->child = n->next = J_NONE;
	n->key = NULL;
	n->s = NULL;
	return (uint32_t)d->used++;
}

static inline void skip_ws(struct parser *ps)
{
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\r' || *ps->p == '\n'))
		ps->p++;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

static bool read_u4(const char *p, const char *end, unsigned *out)
{
	if (end - p < 4)
		return false;
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		int h = hexval(p[i]);
		if (h < 0)
			return false;
		v = v * 16 + (unsigned)h;
	}
	*out = v;
	return true;
}

static char *put_utf8(char *w, unsigned cp)
{
	if (cp < 0x80) {
		*w++ = (char)cp;
	} else if (cp < 0x800) {
		*w++ = (char)(0xc0 | (cp >> 6));
		*w++ = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		*w++ = (char)(0xe0 | (cp >> 12));
		*w++ = (char)(0x80 | ((cp >> 6) & 0x3f));
		*w++ = (char)(0x80 | (cp & 0x3f));
	} else {
		*w++ = (char)(0xf0 | (cp >> 18));
		*w++ = (char)(0x80 | ((cp >> 12) & 0x3f));
		*w++ = (char)(0x80 | ((cp >> 6) & 0x3f));
		*w++ = (char)(0x80 | (cp & 0x3f));
	}
	return w;
}

/* At the opening quote. Decodes in place; returns the start, *len the decoded length. */
static char *parse_string(struct parser *ps, uint32_t *len)
{
	char *start = ++ps->p, *w = start;
	/* Fast path: copy-free scan, 8 bytes at a time, up to a quote, a backslash or a control. */
	char *r = start;
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
	while (ps->end - r >= 8) {
		uint64_t w;
		memcpy(&w, r, 8);
		uint64_t q = w ^ (ones * '"'), bs = w ^ (ones * '\\');
		uint64_t hit = ((q - ones) & ~q) | ((bs - ones) & ~bs) | ((w - ones * 0x20) & ~w);
		hit &= highs;
		if (hit) {
			/* The lowest flagged byte is a real match (false positives only lie above one). */
			r += __builtin_ctzll(hit) / 8;
			break;
		}
		r += 8;
	}
	while (r < ps->end) {
		unsigned char c = (unsigned char)*r;
		if (c == '"' || c == '\\' || c < 0x20)
			break;
		r++;
	}
	w = r;
	while (r < ps->end) {
		unsigned char c = (unsigned char)*r;
		if (c == '"') {
			*w = 0;
			*len = (uint32_t)(w - start);
			ps->p = r + 1;
			return start;
		}
		if (c < 0x20) {
			ps->d->error = "control character in a string";
			return NULL;
		}
		if (c != '\\') {
			*w++ = (char)c;
			r++;
			continue;
		}
		if (r + 1 >= ps->end)
			break;
		char e = r[1];
		r += 2;
		switch (e) {
		case '"': *w++ = '"'; break;
		case '\\': *w++ = '\\'; break;
		case '/': *w++ = '/'; break;
		case 'b': *w++ = '\b'; break;
		case 'f': *w++ = '\f'; break;
		case 'n': *w++ = '\n'; break;
		case 'r': *w++ = '\r'; break;
		case 't': *w++ = '\t'; break;
		case 'u': {
			unsigned cp;
			if (!read_u4(r, ps->end, &cp)) {
				ps->d->error = "bad \\u escape";
				return NULL;
			}
			r += 4;
			if (cp >= 0xd800 && cp < 0xdc00) {
				unsigned lo;
				if (r + 1 < ps->end && r[0] == '\\' && r[1] == 'u' && read_u4(r + 2, ps->end, &lo) &&
				    lo >= 0xdc00 && lo < 0xe000) {
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
					r += 6;
				} else {
					cp = 0xfffd;
				}
			} else if ((cp >= 0xdc00 && cp < 0xe000) || cp == 0) {
				cp = 0xfffd;    /* lone low surrogate; NUL cannot live in a C string */
			}
			w = put_utf8(w, cp);
			break;
		}
		default:
			ps->d->error = "bad escape in a string";
			return NULL;
		}
	}
	ps->d->error = "unterminated string";
	return NULL;
}

static bool parse_number(struct parser *ps, uint32_t idx)
{
	char *s = ps->p, *p = s;
	if (p < ps->end && *p == '-')
		p++;
	if (p >= ps->end || *p < '0' || *p > '9')
		goto bad;
	if (*p == '0')
		p++;
	else
		while (p < ps->end && *p >= '0' && *p <= '9')
			p++;
	if (p < ps->end && *p == '.') {
		p++;
		if (p >= ps->end || *p < '0' || *p > '9')
			goto bad;
		while (p < ps->end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < ps->end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < ps->end && (*p == '+' || *p == '-'))
			p++;
		if (p >= ps->end || *p < '0' || *p > '9')
			goto bad;
		while (p < ps->end && *p >= '0' && *p <= '9')
			p++;
	}
	ps->d->n[idx].s = s;
	ps->d->n[idx].len = (uint32_t)(p - s);
	ps->p = p;
	return true;
bad:
	ps->d->error = "bad number";
	return false;
}

static bool literal(struct parser *ps, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0) {
		ps->d->error = "unexpected character";
		return false;
	}
	ps->p += n;
	return true;
}

static uint32_t parse_value(struct parser *ps);

static uint32_t parse_container(struct parser *ps, bool object)
{
	if (++ps->depth > MAX_DEPTH) {
		ps->d->error = "nested too deeply";
		return J_NONE;
	}
	uint32_t idx = new_node(ps->d, object ? J_OBJ : J_ARR);
	uint32_t last = J_NONE, count = 0;
	char close = object ? '}' : ']';
	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == close) {
		ps->p++;
		ps->depth--;
		return idx;
	}
	for (;;) {
		const char *key = NULL;
		skip_ws(ps);
		if (object) {
			uint32_t klen;
			if (ps->p >= ps->end || *ps->p != '"') {
				ps->d->error = "expected a member name";
				return J_NONE;
			}
			key = parse_string(ps, &klen);
			if (!key)
				return J_NONE;
			skip_ws(ps);
			if (ps->p >= ps->end || *ps->p != ':') {
				ps->d->error = "expected ':'";
				return J_NONE;
			}
			ps->p++;
		}
		uint32_t v = parse_value(ps);
		if (v == J_NONE)
			return J_NONE;
		ps->d->n[v].key = key;
		if (last == J_NONE)
			ps->d->n[idx].child = v;
		else
			ps->d->n[last].next = v;
		last = v;
		count++;
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (ps->p < ps->end && *ps->p == close) {
			ps->p++;
			break;
		}
		ps->d->error = object ? "expected ',' or '}'" : "expected ',' or ']'";
		return J_NONE;
	}
	ps->d->n[idx].len = count;
	ps->depth--;
	return idx;
}

static uint32_t parse_value(struct parser *ps)
{
	skip_ws(ps);
	if (ps->p >= ps->end) {
		ps->d->error = "unexpected end of line";
		return J_NONE;
	}
	uint32_t idx;
	switch (*ps->p) {
	case '{':
		return parse_container(ps, true);
	case '[':
		return parse_container(ps, false);
	case '"': {
		uint32_t len;
		char *s = parse_string(ps, &len);
		if (!s)
			return J_NONE;
		idx = new_node(ps->d, J_STR);
		ps->d->n[idx].s = s;
		ps->d->n[idx].len = len;
		return idx;
	}
	case 't':
		return literal(ps, "true") ? new_node(ps->d, J_TRUE) : J_NONE;
	case 'f':
		return literal(ps, "false") ? new_node(ps->d, J_FALSE) : J_NONE;
	case 'n':
		return literal(ps, "null") ? new_node(ps->d, J_NULL) : J_NONE;
	default:
		idx = new_node(ps->d, J_NUM);
		return parse_number(ps, idx) ? idx : J_NONE;
	}
}

const struct jnode *json_parse(struct jdoc *d, char *text, size_t len)
{
	struct parser ps = { .d = d, .p = text, .end = text + len, .depth = 0 };
	text[len] = 0;
	d->used = 0;
	d->error = NULL;
	uint32_t root = parse_value(&ps);
	if (root == J_NONE)
		return NULL;
	skip_ws(&ps);
	if (ps.p != ps.end) {
		d->error = "trailing characters after the value";
		return NULL;
	}
	return &d->n[root];
}

const struct jnode *jget(const struct jdoc *d, const struct jnode *o, const char *key)
{
	if (!o || o->type != J_OBJ)
		return NULL;
	for (const struct jnode *c = jchild(d, o); c; c = jnext(d, c))
		if (c->key[0] == key[0] && strcmp(c->key, key) == 0)
			return c;
	return NULL;
}

const char *jget_str(const struct jdoc *d, const struct jnode *o, const char *key)
{
	const struct jnode *n = jget(d, o, key);
	return n && n->type == J_STR ? n->s : NULL;
}

bool jnum_u64(const struct jnode *n, uint64_t *out)
{
	if (!n)
		return false;
	const char *s;
	size_t len;
	int base = 10;
	if (n->type == J_NUM) {
		s = n->s;
		len = n->len;
	} else if (n->type == J_STR && n->len > 2 && n->s[0] == '0' && (n->s[1] == 'x' || n->s[1] == 'X')) {
		s = n->s + 2;
		len = n->len - 2;
		base = 16;
	} else {
		return false;
	}
	if (len == 0 || len > 20)
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		int dgt = base == 16 ? hexval(s[i]) : (s[i] >= '0' && s[i] <= '9' ? s[i] - '0' : -1);
		if (dgt < 0)
			return false;
		v = v * (uint64_t)base + (uint64_t)dgt;
	}
	*out = v;
	return true;
}

bool jnum_i64(const struct jnode *n, int64_t *out)
{
	if (n && n->type == J_NUM && n->len > 1 && n->s[0] == '-') {
		struct jnode pos = *n;
		pos.s++;
		pos.len--;
		uint64_t v;
		if (!jnum_u64(&pos, &v) || v > (uint64_t)INT64_MAX)
			return false;
		*out = -(int64_t)v;
		return true;
	}
	uint64_t v;
	if (!jnum_u64(n, &v) || v > (uint64_t)INT64_MAX)
		return false;
	*out = (int64_t)v;
	return true;
}

bool jget_u64(const struct jdoc *d, const struct jnode *o, const char *key, uint64_t *out)
{
	return jnum_u64(jget(d, o, key), out);
}

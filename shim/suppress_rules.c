#include "suppress_rules.h"

#include <string.h>

/* ---- glob ----------------------------------------------------------------------------------- */

/*
 * fnmatch(3) without flags, byte by byte: '*', '?', '[...]' ('!' or '^' negates, ranges), '\'
 * quotes. Our own because glibc's fnmatch may allocate in a multibyte locale, and this runs inside
 * the host at the moment of its call.
 */
static bool glob_class(const char **pp, unsigned char c)
{
	const unsigned char *p = (const unsigned char *)*pp + 1;      /* after '[' */
	bool neg = *p == '!' || *p == '^', hit = false;
	if (neg)
		p++;
	bool first = true;
	while (*p && (first || *p != ']')) {
		unsigned char lo = *p++;
		if (lo == '\\' && *p)
			lo = *p++;
		unsigned char hi = lo;
		if (*p == '-' && p[1] && p[1] != ']') {
			hi = p[1];
			p += 2;
			if (hi == '\\' && *p)
				hi = *p++;
		}
		if (c >= lo && c <= hi)
			hit = true;
		first = false;
	}
	if (*p != ']')
		return false;   /* unterminated: fnmatch treats '[' literally; handled by the caller */
	*pp = (const char *)p + 1;
	return hit != neg;
}

static bool class_closed(const char *p)
{
	p++;
	if (*p == '!' || *p == '^')
		p++;
	if (*p == ']')
		p++;
	for (; *p; p++) {
		if (*p == '\\' && p[1])
			p++;
		else if (*p == ']')
			return true;
	}
	return false;
}

static bool glob_match(const char *p, const char *s)
{
	const char *star_p = NULL, *star_s = NULL;
	for (;;) {
		if (*p == '*') {
			while (*p == '*')
				p++;
			star_p = p;
			star_s = s;
			continue;
		}
		if (*s) {
			const char *q = p;
			bool ok = false;
			if (*q == '?') {
				ok = true;
				q++;
			} else if (*q == '[' && class_closed(q)) {
				ok = glob_class(&q, (unsigned char)*s);
			} else if (*q == '\\') {
				if (!q[1])
					return false;   /* a trailing backslash matches nothing (fnmatch) */
				ok = q[1] == *s;
				q += 2;
			} else if (*q) {
				ok = *q == *s;
				q++;
			}
			if (ok) {
				p = q;
				s++;
				continue;
			}
		} else if (!*p) {
			return true;
		}
		if (!star_p || !*star_s)
			return false;
		p = star_p;
		s = ++star_s;
	}
}

/* ---- parsing -------------------------------------------------------------------------------- */

static void *take(struct mg_supp_set *s, size_t n)
{
	size_t at = (s->used + 15) & ~(size_t)15;
	if (at > s->cap || s->cap - at < n)
		return NULL;
	s->used = at + n;
	memset(s->mem + at, 0, n);
	return s->mem + at;
}

static const char *take_str(struct mg_supp_set *s, const char *p, size_t n)
{
	char *d = take(s, n + 1);
	if (d)
		memcpy(d, p, n);
	return d;
}

void mg_supp_init(struct mg_supp_set *s, void *mem, size_t cap)
{
	memset(s, 0, sizeof *s);
	s->mem = mem;
	s->cap = cap;
	s->tail = &s->rules;
}

struct msg {
	char b[320];
	size_t n;
};

static void put(struct msg *m, const char *t, size_t n)
{
	if (n > sizeof m->b - 1 - m->n)
		n = sizeof m->b - 1 - m->n;
	memcpy(m->b + m->n, t, n);
	m->n += n;
	m->b[m->n] = 0;
}

static void puts_(struct msg *m, const char *t) { put(m, t, strlen(t)); }

struct line {
	const char *p, *end;
};

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* The next whitespace-separated token of *l, or false. */
static bool token(struct line *l, const char **t, size_t *n)
{
	while (l->p < l->end && is_space(*l->p))
		l->p++;
	if (l->p == l->end)
		return false;
	*t = l->p;
	while (l->p < l->end && !is_space(*l->p))
		l->p++;
	*n = (size_t)(l->p - *t);
	return true;
}

static bool tok_is(const char *t, size_t n, const char *word)
{
	return strlen(word) == n && memcmp(t, word, n) == 0;
}

/* "0x1a2b" -> value; false if not hex. */
static bool parse_hex(const char *t, size_t n, uint64_t *v)
{
	if (n < 3 || t[0] != '0' || (t[1] != 'x' && t[1] != 'X') || n > 18)
		return false;
	uint64_t x = 0;
	for (size_t i = 2; i < n; i++) {
		char c = t[i];
		unsigned d;
		if (c >= '0' && c <= '9') d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f') d = (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F') d = (unsigned)(c - 'A' + 10);
		else return false;
		x = x * 16 + d;
	}
	*v = x;
	return true;
}

/* One FRAME token. Returns NULL on success, else why it is malformed. */
static const char *parse_frame(struct mg_supp_set *s, const char *t, size_t n, struct mg_frame_pat *f)
{
	memset(f, 0, sizeof *f);
	if (tok_is(t, n, "...")) {
		f->ellipsis = true;
		return NULL;
	}
	if (tok_is(t, n, "*"))
		return NULL;
	const char *colon = memchr(t, ':', n);
	size_t mlen = colon ? (size_t)(colon - t) : n;
	if (colon) {
		size_t slen = n - mlen - 1;
		if (slen == 0)
			return "a frame ends in ':' without a symbol glob";
		if (!tok_is(colon + 1, slen, "*") && !(f->symbol = take_str(s, colon + 1, slen)))
			return "out of memory";
	} else {
		/* MODULE+0xOFFSET: the last '+' followed by a hex number */
		for (size_t i = n; i-- > 0;) {
			if (t[i] != '+')
				continue;
			if (parse_hex(t + i + 1, n - i - 1, &f->offset)) {
				f->has_offset = true;
				mlen = i;
			}
			break;
		}
	}
	if (mlen == 0 && !colon)
		return "a frame has an empty module glob";
	if (mlen && !tok_is(t, mlen, "*") && !(f->module = take_str(s, t, mlen)))
		return "out of memory";
	return NULL;
}

static const char *parse_stack(struct mg_supp_set *s, struct line *l, struct mg_stack_pat **out)
{
	struct line probe = *l;
	const char *t;
	size_t n, count = 0;
	while (token(&probe, &t, &n))
		count++;
	if (count == 0)
		return "no frames given";
	if (count > 256)
		return "more than 256 frames";
	struct mg_stack_pat *p = take(s, sizeof *p + count * sizeof p->f[0]);
	if (!p)
		return "out of memory";
	while (token(l, &t, &n)) {
		const char *why = parse_frame(s, t, n, &p->f[p->n]);
		if (why)
			return why;
		p->n++;
	}
	*out = p;
	return NULL;
}

static const char *parse_events(struct line *l, unsigned *events)
{
	const char *t;
	size_t n;
	unsigned ev = 0;
	bool any = false;
	while (token(l, &t, &n)) {
		const char *end = t + n;
		while (t < end) {
			const char *c = memchr(t, ',', (size_t)(end - t));
			size_t k = c ? (size_t)(c - t) : (size_t)(end - t);
			if (k) {
				if (tok_is(t, k, "truncate"))
					ev |= MG_SUPP_TRUNCATE;
				else if (tok_is(t, k, "reopen"))
					ev |= MG_SUPP_REOPEN;
				else
					return "unknown event kind (accepted: truncate, reopen)";
				any = true;
			}
			t += k + (c ? 1 : 0);
		}
	}
	if (!any)
		return "no event kind given (accepted: truncate, reopen)";
	*events = ev;
	return NULL;
}

static void complain(struct mg_supp_set *s, const char *file, unsigned lineno,
		     const struct mg_supp_rule *r, const char *why, const char *word, size_t wlen)
{
	s->nbad++;
	if (!s->err)
		return;
	struct msg m = { .n = 0 };
	m.b[0] = 0;
	puts_(&m, why);
	if (word) {
		puts_(&m, ": '");
		put(&m, word, wlen > 80 ? 80 : wlen);
		puts_(&m, "'");
	}
	if (r) {
		puts_(&m, "; rule ");
		puts_(&m, r->name);
		puts_(&m, " (line ");
		char num[12];
		int k = 0;
		unsigned v = r->line;
		char rev[12];
		do rev[k++] = (char)('0' + v % 10); while ((v /= 10) && k < 11);
		int j = 0;
		while (k)
			num[j++] = rev[--k];
		put(&m, num, (size_t)j);
		puts_(&m, ") is ignored");
	}
	s->err(s->err_ctx, file, lineno, m.b);
}

int mg_supp_parse(struct mg_supp_set *s, const char *file, const char *text, size_t len)
{
	const char *fname = take_str(s, file, strlen(file));
	if (!fname)
		return -1;
	unsigned lineno = 0;
	int bad = 0;
	struct mg_supp_rule *cur = NULL;
	const char *p = text, *end = text + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		struct line l = { p, nl ? nl : end };
		p = nl ? nl + 1 : end;
		lineno++;
		/* a '#' after white space starts a comment */
		for (const char *c = l.p + 1; c < l.end; c++)
			if (*c == '#' && is_space(c[-1])) {
				l.end = c;
				break;
			}
		const char *kw;
		size_t kn;
		if (!token(&l, &kw, &kn) || kw[0] == '#')
			continue;
		const char *why = NULL;
		if (tok_is(kw, kn, "suppress")) {
			const char *name;
			size_t nn;
			struct mg_supp_rule *r = take(s, sizeof *r);
			if (!r)
				return -1;
			r->file = fname;
			r->line = lineno;
			r->events = MG_SUPP_TRUNCATE | MG_SUPP_REOPEN;
			r->reach = MG_REACH_SELF;
			const char *extra;
			size_t en;
			if (!token(&l, &name, &nn)) {
				r->name = "(unnamed)";
				why = "'suppress' needs a rule name";
			} else {
				r->name = take_str(s, name, nn);
				if (!r->name)
					return -1;
				if (token(&l, &extra, &en))
					why = "a rule name is one word";
			}
			cur = r;
			*s->tail = r;
			s->tail = &r->next;
			s->nrules++;
			if (why) {
				r->bad = true;
				complain(s, fname, lineno, r, why, NULL, 0);
				bad++;
			}
			continue;
		}
		if (!cur) {
			complain(s, fname, lineno, NULL,
				 "outside a rule (a rule starts with 'suppress NAME')", kw, kn);
			bad++;
			continue;
		}
		if (tok_is(kw, kn, "events")) {
			why = parse_events(&l, &cur->events);
		} else if (tok_is(kw, kn, "path")) {
			/* the rest of the line, trimmed: a glob may contain spaces */
			while (l.p < l.end && is_space(*l.p))
				l.p++;
			const char *e = l.end;
			while (e > l.p && is_space(e[-1]))
				e--;
			if (e == l.p)
				why = "'path' needs a glob";
			else if (cur->npaths == MG_SUPP_PATHS)
				why = "more than 8 path lines in one rule";
			else if (!(cur->paths[cur->npaths++] = take_str(s, l.p, (size_t)(e - l.p))))
				return -1;
		} else if (tok_is(kw, kn, "cutter")) {
			if (cur->cutter)
				why = "a rule has one 'cutter' line";
			else
				why = parse_stack(s, &l, &cur->cutter);
		} else if (tok_is(kw, kn, "creator")) {
			struct mg_stack_pat *c = NULL;
			why = parse_stack(s, &l, &c);
			if (!why) {
				struct mg_stack_pat **t = &cur->creators;
				while (*t)
					t = &(*t)->next;
				*t = c;
			}
		} else if (tok_is(kw, kn, "reach")) {
			const char *v;
			size_t vn;
			const char *extra;
			size_t en;
			if (!token(&l, &v, &vn))
				why = "'reach' needs self or any";
			else if (tok_is(v, vn, "self"))
				cur->reach = MG_REACH_SELF;
			else if (tok_is(v, vn, "any"))
				cur->reach = MG_REACH_ANY;
			else
				why = "unknown reach (accepted: self, any)";
			if (!why && token(&l, &extra, &en))
				why = "'reach' takes one word";
		} else {
			complain(s, fname, lineno, cur,
				 "unknown keyword (accepted: suppress, events, path, cutter, creator, reach)",
				 kw, kn);
			cur->bad = true;
			bad++;
			continue;
		}
		if (why) {
			if (strcmp(why, "out of memory") == 0)
				return -1;
			cur->bad = true;
			complain(s, fname, lineno, cur, why, NULL, 0);
			bad++;
		}
	}
	return bad;
}

/* ---- matching ------------------------------------------------------------------------------- */

static bool frame_ok(const struct mg_frame_pat *p, const struct mg_frame_info *f)
{
	if (p->module && !glob_match(p->module, f->module ? f->module : ""))
		return false;
	if (p->has_offset && f->offset != p->offset)
		return false;
	if (p->symbol && !glob_match(p->symbol, f->symbol ? f->symbol : ""))
		return false;
	return true;
}

static bool match_from(const struct mg_frame_pat *p, unsigned np, const struct mg_stack_src *st,
		       size_t i)
{
	for (;;) {
		if (np == 0)
			return true;
		if (p->ellipsis) {
			while (np && p->ellipsis) {
				p++;
				np--;
			}
			if (np == 0)
				return true;
			for (size_t j = i; j < st->n; j++)
				if (match_from(p, np, st, j))
					return true;
			return false;
		}
		if (i >= st->n)
			return false;
		const struct mg_frame_info *f = st->frame(st->ctx, i);
		if (!f || !frame_ok(p, f))
			return false;
		p++;
		np--;
		i++;
	}
}

bool mg_supp_stack_matches(const struct mg_stack_pat *p, const struct mg_stack_src *st)
{
	return match_from(p->f, p->n, st, 0);
}

static bool rule_applies(const struct mg_supp_rule *r, const struct mg_supp_query *q)
{
	if (r->bad || !(r->events & q->event))
		return false;
	if (q->other_processes && r->reach == MG_REACH_SELF)
		return false;
	if (r->npaths) {
		bool hit = false;
		for (unsigned i = 0; i < r->npaths && !hit; i++)
			hit = glob_match(r->paths[i], q->path ? q->path : "");
		if (!hit)
			return false;
	}
	if (r->cutter && !mg_supp_stack_matches(r->cutter, &q->cutter))
		return false;
	if (r->creators) {
		/* every endangered window must be one the rule knows: unseen windows are not excused,
		 * and a cut with no window of this process has no creation stack to match */
		if (q->nwindows < q->nwindows_total || q->nwindows == 0)
			return false;
		for (size_t w = 0; w < q->nwindows; w++) {
			bool hit = false;
			for (const struct mg_stack_pat *c = r->creators; c && !hit; c = c->next)
				hit = mg_supp_stack_matches(c, &q->windows[w]);
			if (!hit)
				return false;
		}
	}
	return true;
}

const struct mg_supp_rule *mg_supp_match(const struct mg_supp_set *s, const struct mg_supp_query *q)
{
	for (const struct mg_supp_rule *r = s->rules; r; r = r->next)
		if (rule_applies(r, q))
			return r;
	return NULL;
}

unsigned mg_supp_event(const char *name)
{
	if (name && strcmp(name, "truncate") == 0)
		return MG_SUPP_TRUNCATE;
	if (name && strcmp(name, "reopen") == 0)
		return MG_SUPP_REOPEN;
	return 0;
}

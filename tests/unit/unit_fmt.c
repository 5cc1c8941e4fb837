/*
 * shim/fmt.c and the parsers of shim/config.c.
 * Buffers: a result is always a prefix of what an unbounded buffer would hold, NUL-terminated,
 * with the truncation flag set exactly when something did not fit, and no byte at or past cap
 * is ever written (the buffer sits between guard bytes, inputs are exact-size heap copies so
 * ASan sees any over-read).
 * JSON: expected strings written out by hand from RFC 8259 (controls as \uXXXX or \n \t \r,
 * quote and backslash escaped, DEL escaped, valid UTF-8 kept as is, each byte that does not
 * start a valid sequence replaced by \ufffd), and every output also decoded by an independent
 * JSON string decoder below.
 */
#define _GNU_SOURCE
#include "config.h"
#include "fmt.h"
#include "real.h"
#include "unit.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define GUARD 64
#define GUARD_BYTE 0xa5

/* Heap copy of exactly n bytes + NUL: an over-read is an ASan error. */
static char *dup_exact(const char *s, size_t n)
{
	char *p = malloc(n + 1);
	CHECK(p != NULL);
	memcpy(p, s, n);
	p[n] = 0;
	return p;
}

enum op_kind { OP_PUTS, OP_PUTC, OP_PUTN, OP_U64, OP_I64, OP_HEX, OP_JSON, OP_JSTR, OP_TEXT, OP_TIME };

struct op {
	enum op_kind kind;
	const char *s;          /* PUTS, PUTN, JSON, JSTR, TEXT (may be NULL for JSTR) */
	size_t n;               /* PUTN */
	char c;
	uint64_t u;
	int64_t i;
	struct timespec ts;
};

static void apply(struct mg_buf *b, const struct op *o)
{
	char *copy = o->s ? dup_exact(o->s, o->kind == OP_PUTN ? o->n : strlen(o->s)) : NULL;
	switch (o->kind) {
	case OP_PUTS: mg_buf_puts(b, copy); break;
	case OP_PUTC: mg_buf_putc(b, o->c); break;
	case OP_PUTN: mg_buf_putn(b, copy, o->n); break;
	case OP_U64: mg_buf_u64(b, o->u); break;
	case OP_I64: mg_buf_i64(b, o->i); break;
	case OP_HEX: mg_buf_hex(b, o->u); break;
	case OP_JSON: mg_buf_json(b, copy); break;
	case OP_JSTR: mg_buf_jstr(b, copy); break;
	case OP_TEXT: mg_buf_text(b, copy); break;
	case OP_TIME: mg_buf_time(b, &o->ts); break;
	}
	free(copy);
}

/* Run ops into a buffer of capacity cap placed between guard bytes; check the invariants against
 * the full output `full` (length full_len). */
static void run_capped(const struct op *ops, size_t nops, size_t cap, const char *full, size_t full_len)
{
	unsigned char *mem = malloc(cap + 2 * GUARD);
	CHECK(mem != NULL);
	memset(mem, GUARD_BYTE, cap + 2 * GUARD);
	struct mg_buf b;
	mg_buf_init(&b, (char *)mem + GUARD, cap);
	CHECK(b.len == 0 && b.truncated == 0, "fresh buffer");
	for (size_t i = 0; i < nops; i++)
		apply(&b, &ops[i]);
	for (size_t i = 0; i < GUARD; i++) {
		CHECK(mem[i] == GUARD_BYTE, "byte %zu before the buffer was written (cap %zu)", GUARD - i, cap);
		CHECK(mem[GUARD + cap + i] == GUARD_BYTE, "byte cap+%zu written (cap %zu)", i, cap);
	}
	size_t fit = cap ? cap - 1 : 0;
	size_t want = full_len < fit ? full_len : fit;
	/* JSON output is cut only between whole characters and escapes (at most 6 bytes each). */
	bool json = false;
	for (size_t i = 0; i < nops; i++)
		json |= ops[i].kind == OP_JSON || ops[i].kind == OP_JSTR;
	if (json)
		CHECK(b.len <= want && b.len + 6 > want, "cap %zu: %zu bytes of \"%s\"", cap, b.len, full);
	else
		CHECK_U64(b.len, want, "cap %zu, full output \"%s\"", cap, full);
	want = b.len;
	CHECK(memcmp(b.p, full, want) == 0, "cap %zu: \"%.*s\" is not a prefix of \"%s\"", cap,
	      (int)b.len, b.p, full);
	if (cap)
		CHECK(b.p[b.len] == 0, "not NUL-terminated (cap %zu)", cap);
	CHECK_U64(b.truncated, full_len > fit ? 1 : 0, "truncation flag, cap %zu, output \"%s\"", cap, full);
	CHECK(b.p == (char *)mem + GUARD && b.cap == cap);
	free(mem);
}

/* Output of ops with plenty of room; then every capacity from 1 to len+2 (and 0: see below). */
static void check_ops(const struct op *ops, size_t nops, const char *expected)
{
	size_t big = 1 << 16;
	char *mem = malloc(big);
	CHECK(mem != NULL);
	struct mg_buf b;
	mg_buf_init(&b, mem, big);
	for (size_t i = 0; i < nops; i++)
		apply(&b, &ops[i]);
	CHECK(!b.truncated);
	if (expected) {
		CHECK_U64(b.len, strlen(expected), "output \"%s\"", b.p);
		CHECK_STR(b.p, expected);
	}
	for (size_t cap = 1; cap <= b.len + 2; cap++)
		run_capped(ops, nops, cap, b.p, b.len);
	free(mem);
}

static void check_one(struct op o, const char *expected)
{
	check_ops(&o, 1, expected);
}

#define PUTS(x) ((struct op){ .kind = OP_PUTS, .s = (x) })
#define PUTN(x, k) ((struct op){ .kind = OP_PUTN, .s = (x), .n = (k) })
#define PUTC(x) ((struct op){ .kind = OP_PUTC, .c = (x) })
#define U64(x) ((struct op){ .kind = OP_U64, .u = (x) })
#define I64(x) ((struct op){ .kind = OP_I64, .i = (x) })
#define HEX(x) ((struct op){ .kind = OP_HEX, .u = (x) })
#define JSON(x) ((struct op){ .kind = OP_JSON, .s = (x) })
#define JSTR(x) ((struct op){ .kind = OP_JSTR, .s = (x) })
#define TEXT(x) ((struct op){ .kind = OP_TEXT, .s = (x) })

static void test_buf_basic(void)
{
	check_one(PUTS(""), "");
	check_one(PUTS("hello"), "hello");
	check_one(PUTC('x'), "x");
	check_one(PUTN("abcdef", 3), "abc");
	check_one(PUTN("abc", 0), "");
	/* putn copies bytes, embedded NULs included */
	{
		struct op o = PUTN("a\0b", 3);
		char mem[16];
		struct mg_buf b;
		mg_buf_init(&b, mem, sizeof mem);
		apply(&b, &o);
		CHECK_U64(b.len, 3);
		CHECK(memcmp(mem, "a\0b\0", 4) == 0);
	}
	struct op seq[] = { PUTS("mmapguard: "), U64(42), PUTC(' '), HEX(0xdeadbeef), PUTC(' '),
			    I64(-17), PUTS(" done") };
	check_ops(seq, sizeof seq / sizeof seq[0], "mmapguard: 42 0xdeadbeef -17 done");

	/* Once full, nothing more goes in, even a single character, and the flag stays set. */
	char mem[8];
	struct mg_buf b;
	mg_buf_init(&b, mem, sizeof mem);
	mg_buf_puts(&b, "1234567");
	CHECK_U64(b.len, 7);
	CHECK(!b.truncated, "exactly cap-1 bytes fit");
	mg_buf_puts(&b, "");
	CHECK(!b.truncated, "an empty string always fits");
	mg_buf_putc(&b, 'x');
	CHECK(b.truncated);
	CHECK_STR(mem, "1234567");
	mg_buf_putn(&b, "", 0);
	CHECK(b.truncated, "the flag stays set");
	CHECK_U64(b.len, 7);

	/* mg_buf_init on cap 1: room for the NUL only */
	char one[1] = { 'z' };
	mg_buf_init(&b, one, 1);
	CHECK(one[0] == 0 && b.len == 0 && !b.truncated);
	mg_buf_putc(&b, 'a');
	CHECK(b.truncated && one[0] == 0 && b.len == 0);
}

static void test_numbers(void)
{
	check_one(U64(0), "0");
	check_one(U64(9), "9");
	check_one(U64(10), "10");
	check_one(U64(4096), "4096");
	check_one(U64(UINT32_MAX), "4294967295");
	check_one(U64((uint64_t)1 << 63), "9223372036854775808");
	check_one(U64(UINT64_MAX), "18446744073709551615");
	check_one(I64(0), "0");
	check_one(I64(-1), "-1");
	check_one(I64(1), "1");
	check_one(I64(-10), "-10");
	check_one(I64(INT64_MAX), "9223372036854775807");
	check_one(I64(INT64_MIN), "-9223372036854775808");
	check_one(I64(INT64_MIN + 1), "-9223372036854775807");
	check_one(HEX(0), "0x0");
	check_one(HEX(0xf), "0xf");
	check_one(HEX(0x10), "0x10");
	check_one(HEX(0xabcdef), "0xabcdef");
	check_one(HEX(0x7fffffffffffffffull), "0x7fffffffffffffff");
	check_one(HEX(UINT64_MAX), "0xffffffffffffffff");
	/* against snprintf, for powers of ten and two and their neighbours, and random values */
	uint64_t vals[200];
	size_t nv = 0;
	for (uint64_t p = 1; nv < 60; p *= 10) {
		vals[nv++] = p - 1;
		vals[nv++] = p;
		vals[nv++] = p + 1;
		if (p > UINT64_MAX / 10)
			break;
	}
	for (int k = 0; k < 64; k++)
		vals[nv++] = (uint64_t)1 << k;
	mg_rng_seed(mg_unit_seed(0xf00d));
	while (nv < sizeof vals / sizeof vals[0])
		vals[nv++] = mg_rng() >> mg_rng_below(64);
	for (size_t k = 0; k < nv; k++) {
		char want[64];
		mg_unit_context("value %" PRIu64, vals[k]);
		snprintf(want, sizeof want, "%" PRIu64, vals[k]);
		check_one(U64(vals[k]), want);
		snprintf(want, sizeof want, "0x%" PRIx64, vals[k]);
		check_one(HEX(vals[k]), want);
		snprintf(want, sizeof want, "%" PRId64, (int64_t)vals[k]);
		check_one(I64((int64_t)vals[k]), want);
		snprintf(want, sizeof want, "%" PRId64, -(int64_t)(vals[k] >> 1));
		check_one(I64(-(int64_t)(vals[k] >> 1)), want);
	}
}

/*
 * An independent decoder of a JSON string body (RFC 8259 section 7): returns the decoded bytes
 * (code points as UTF-8) or fails the test if the body is not valid JSON.
 */
static void put_utf8(char *out, size_t *n, unsigned cp)
{
	if (cp < 0x80) {
		out[(*n)++] = (char)cp;
	} else if (cp < 0x800) {
		out[(*n)++] = (char)(0xc0 | cp >> 6);
		out[(*n)++] = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		out[(*n)++] = (char)(0xe0 | cp >> 12);
		out[(*n)++] = (char)(0x80 | (cp >> 6 & 0x3f));
		out[(*n)++] = (char)(0x80 | (cp & 0x3f));
	} else {
		out[(*n)++] = (char)(0xf0 | cp >> 18);
		out[(*n)++] = (char)(0x80 | (cp >> 12 & 0x3f));
		out[(*n)++] = (char)(0x80 | (cp >> 6 & 0x3f));
		out[(*n)++] = (char)(0x80 | (cp & 0x3f));
	}
}

static unsigned hex4(const char *s)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		char c = s[i];
		unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0')
			   : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
			   : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10) : 99;
		CHECK(d < 16, "bad \\u escape in \"%s\"", s);
		v = v * 16 + d;
	}
	return v;
}

static size_t json_decode(const char *in, char *out)
{
	size_t n = 0;
	const unsigned char *s = (const unsigned char *)in;
	while (*s) {
		unsigned c = *s;
		CHECK(c >= 0x20, "raw control character 0x%02x in JSON output", c);
		CHECK(c != '"', "unescaped quote in JSON output \"%s\"", in);
		if (c == '\\') {
			s++;
			switch (*s) {
			case '"': out[n++] = '"'; s++; break;
			case '\\': out[n++] = '\\'; s++; break;
			case '/': out[n++] = '/'; s++; break;
			case 'b': out[n++] = '\b'; s++; break;
			case 'f': out[n++] = '\f'; s++; break;
			case 'n': out[n++] = '\n'; s++; break;
			case 'r': out[n++] = '\r'; s++; break;
			case 't': out[n++] = '\t'; s++; break;
			case 'u': {
				unsigned cp = hex4((const char *)s + 1);
				s += 5;
				if (cp >= 0xd800 && cp <= 0xdbff) {
					CHECK(s[0] == '\\' && s[1] == 'u', "lone high surrogate in \"%s\"", in);
					unsigned lo = hex4((const char *)s + 2);
					CHECK(lo >= 0xdc00 && lo <= 0xdfff, "bad low surrogate in \"%s\"", in);
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
					s += 6;
				} else {
					CHECK(!(cp >= 0xdc00 && cp <= 0xdfff), "lone low surrogate in \"%s\"", in);
				}
				put_utf8(out, &n, cp);
				break;
			}
			default:
				CHECK(0, "invalid escape \\%c in JSON output \"%s\"", *s, in);
			}
			continue;
		}
		/* raw bytes must be valid UTF-8 */
		int len = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
			: c >= 0xf0 && c <= 0xf4 ? 4 : 0;
		CHECK(len > 0, "invalid UTF-8 lead byte 0x%02x in JSON output", c);
		unsigned cp = len == 1 ? c : c & (0x7fu >> len);
		for (int i = 1; i < len; i++) {
			CHECK((s[i] & 0xc0) == 0x80, "invalid UTF-8 continuation in JSON output");
			cp = cp << 6 | (s[i] & 0x3f);
		}
		static const unsigned min[] = { 0, 0, 0x80, 0x800, 0x10000 };
		CHECK(cp >= min[len] && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff),
		      "overlong, surrogate or too large code point U+%X in JSON output", cp);
		memcpy(out + n, s, (size_t)len);
		n += (size_t)len;
		s += len;
	}
	out[n] = 0;
	return n;
}

/* in -> exact JSON body; decoded must equal `decoded` (the input with each bad byte -> U+FFFD). */
static void check_json(const char *in, size_t in_len, const char *expected, const char *decoded)
{
	char *input = dup_exact(in, in_len);
	mg_unit_context("mg_buf_json of %zu bytes, expected \"%s\"", in_len, expected);
	check_one(JSON(input), expected);
	char mem[4096], dec[4096];
	struct mg_buf b;
	mg_buf_init(&b, mem, sizeof mem);
	mg_buf_json(&b, input);
	size_t n = json_decode(mem, dec);
	CHECK_U64(n, strlen(decoded));
	CHECK(memcmp(dec, decoded, n) == 0, "decoded JSON differs for \"%s\"", expected);
	/* mg_buf_jstr: the same between quotes */
	char quoted[4200];
	snprintf(quoted, sizeof quoted, "\"%s\"", expected);
	check_one(JSTR(input), quoted);
	free(input);
}

#define J(lit, expected, decoded) check_json(lit, sizeof(lit) - 1, expected, decoded)
#define FFFD "\xef\xbf\xbd"

static void test_json(void)
{
	J("", "", "");
	J("plain /tmp/file.dat", "plain /tmp/file.dat", "plain /tmp/file.dat");
	J("a\"b", "a\\\"b", "a\"b");
	J("a\\b", "a\\\\b", "a\\b");
	J("\\\"\\", "\\\\\\\"\\\\", "\\\"\\");
	J("/", "/", "/");
	J("\n", "\\n", "\n");
	J("\t", "\\t", "\t");
	J("\r", "\\r", "\r");
	J("\x01", "\\u0001", "\x01");
	J("\x08\x0c", "\\u0008\\u000c", "\x08\x0c");
	J("\x1f", "\\u001f", "\x1f");
	J("\x1b[31m", "\\u001b[31m", "\x1b[31m");
	J("\x7f", "\\u007f", "\x7f");
	J(" ~", " ~", " ~");
	/* every control character */
	for (unsigned c = 1; c < 0x20; c++) {
		char in[2] = { (char)c, 0 }, want[8];
		if (c == '\n')
			strcpy(want, "\\n");
		else if (c == '\t')
			strcpy(want, "\\t");
		else if (c == '\r')
			strcpy(want, "\\r");
		else
			snprintf(want, sizeof want, "\\u%04x", c);
		check_json(in, 1, want, in);
	}
	/* every printable ASCII character but quote and backslash passes unchanged */
	for (unsigned c = 0x20; c < 0x7f; c++) {
		if (c == '"' || c == '\\')
			continue;
		char in[2] = { (char)c, 0 };
		check_json(in, 1, in, in);
	}
	/* valid UTF-8 is kept byte for byte, including the boundaries of each length */
	J("\xc2\x80", "\xc2\x80", "\xc2\x80");                          /* U+0080 */
	J("caf\xc3\xa9", "caf\xc3\xa9", "caf\xc3\xa9");                 /* é */
	J("\xdf\xbf", "\xdf\xbf", "\xdf\xbf");                          /* U+07FF */
	J("\xe0\xa0\x80", "\xe0\xa0\x80", "\xe0\xa0\x80");              /* U+0800 */
	J("\xe2\x82\xac", "\xe2\x82\xac", "\xe2\x82\xac");              /* € */
	J("\xed\x9f\xbf", "\xed\x9f\xbf", "\xed\x9f\xbf");              /* U+D7FF */
	J("\xee\x80\x80", "\xee\x80\x80", "\xee\x80\x80");              /* U+E000 */
	J("\xef\xbf\xbd", "\xef\xbf\xbd", "\xef\xbf\xbd");              /* U+FFFD itself */
	J("\xef\xbf\xbf", "\xef\xbf\xbf", "\xef\xbf\xbf");              /* U+FFFF */
	J("\xf0\x90\x80\x80", "\xf0\x90\x80\x80", "\xf0\x90\x80\x80");  /* U+10000 */
	J("\xf0\x9d\x84\x9e", "\xf0\x9d\x84\x9e", "\xf0\x9d\x84\x9e");  /* 𝄞 */
	J("\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf");  /* U+10FFFF */
	J("\xe6\x97\xa5\xe6\x9c\xac/\"x\"", "\xe6\x97\xa5\xe6\x9c\xac/\\\"x\\\"", "\xe6\x97\xa5\xe6\x9c\xac/\"x\"");
	/* lone continuation bytes */
	J("\x80", "\\ufffd", FFFD);
	J("\xbf", "\\ufffd", FFFD);
	J("a\x80\x80z", "a\\ufffd\\ufffdz", "a" FFFD FFFD "z");
	/* overlong encodings: each byte replaced */
	J("\xc0\x80", "\\ufffd\\ufffd", FFFD FFFD);                     /* overlong NUL */
	J("\xc0\xaf", "\\ufffd\\ufffd", FFFD FFFD);                     /* overlong '/' */
	J("\xc1\xbf", "\\ufffd\\ufffd", FFFD FFFD);
	J("\xe0\x80\xaf", "\\ufffd\\ufffd\\ufffd", FFFD FFFD FFFD);
	J("\xe0\x9f\xbf", "\\ufffd\\ufffd\\ufffd", FFFD FFFD FFFD);     /* U+07FF in 3 bytes */
	J("\xf0\x80\x80\xaf", "\\ufffd\\ufffd\\ufffd\\ufffd", FFFD FFFD FFFD FFFD);
	J("\xf0\x8f\xbf\xbf", "\\ufffd\\ufffd\\ufffd\\ufffd", FFFD FFFD FFFD FFFD); /* U+FFFF in 4 */
	/* surrogates (CESU-8 halves) */
	J("\xed\xa0\x80", "\\ufffd\\ufffd\\ufffd", FFFD FFFD FFFD);     /* U+D800 */
	J("\xed\xbf\xbf", "\\ufffd\\ufffd\\ufffd", FFFD FFFD FFFD);     /* U+DFFF */
	J("\xed\xa0\xbd\xed\xb8\x80", "\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd",
	  FFFD FFFD FFFD FFFD FFFD FFFD);
	/* beyond U+10FFFF */
	J("\xf4\x90\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd", FFFD FFFD FFFD FFFD);
	/* truncated sequences, in the middle and at the very end of the string */
	J("\xc3", "\\ufffd", FFFD);
	J("\xc3z", "\\ufffdz", FFFD "z");
	J("\xe2\x82", "\\ufffd\\ufffd", FFFD FFFD);
	J("\xe2\x82z", "\\ufffd\\ufffdz", FFFD FFFD "z");
	J("\xf0\x9d\x84", "\\ufffd\\ufffd\\ufffd", FFFD FFFD FFFD);
	J("\xf0\x9d\x84\"", "\\ufffd\\ufffd\\ufffd\\\"", FFFD FFFD FFFD "\"");
	J("\xe2\x82\xac\xe2\x82", "\xe2\x82\xac\\ufffd\\ufffd", "\xe2\x82\xac" FFFD FFFD);
	/* a truncated sequence followed by a valid one */
	J("\xe2\xc3\xa9", "\\ufffd\xc3\xa9", FFFD "\xc3\xa9");
	/* bytes that never appear in UTF-8 */
	for (unsigned c = 0xf5; c <= 0xff; c++) {
		char in[4] = { (char)c, 'x', 0 };
		check_json(in, 2, "\\ufffdx", FFFD "x");
		char in2[6] = { (char)c, (char)0x80, (char)0x80, (char)0x80, 0 };
		check_json(in2, 4, "\\ufffd\\ufffd\\ufffd\\ufffd", FFFD FFFD FFFD FFFD);
	}
	/* a mix: control, quote, invalid, valid, backslash */
	J("\x01\"\xff\xc3\xa9\\\x7f", "\\u0001\\\"\\ufffd\xc3\xa9\\\\\\u007f", "\x01\"" FFFD "\xc3\xa9\\\x7f");
	/* jstr of NULL is "" */
	check_one(JSTR(NULL), "\"\"");

	/* Every 1- and 2-byte string, and random strings: the output always decodes, and a valid
	 * input decodes to itself. */
	char in[8], mem[256], dec[256];
	struct mg_buf b;
	for (unsigned x = 1; x < 256; x++)
		for (unsigned y = 0; y < 256; y++) {
			in[0] = (char)x;
			in[1] = (char)y;
			in[2] = 0;
			mg_unit_context("bytes %02x %02x", x, y);
			char *input = dup_exact(in, y ? 2 : 1);
			mg_buf_init(&b, mem, sizeof mem);
			mg_buf_json(&b, input);
			CHECK(!b.truncated);
			json_decode(mem, dec);
			free(input);
		}
	mg_rng_seed(mg_unit_seed(0x15011));
	for (int it = 0; it < 20000; it++) {
		size_t n = 1 + mg_rng_below(7);
		for (size_t i = 0; i < n; i++) {
			static const unsigned char pool[] = { 'a', '"', '\\', 0x01, 0x7f, 0x80, 0xbf, 0xc2,
							      0xc3, 0xe0, 0xe2, 0xed, 0xf0, 0xf4, 0xf5, 0xff,
							      0x9f, 0xa0, 0x8f, 0x90 };
			in[i] = (char)(mg_rng_below(3) ? pool[mg_rng_below(sizeof pool)] : 1 + mg_rng_below(255));
		}
		in[n] = 0;
		n = strlen(in);
		mg_unit_context("random json input, it %d", it);
		char *input = dup_exact(in, n);
		mg_buf_init(&b, mem, sizeof mem);
		mg_buf_json(&b, input);
		json_decode(mem, dec);
		free(input);
	}
}

static void test_text(void)
{
	check_one(TEXT(""), "");
	check_one(TEXT("/tmp/plain file"), "/tmp/plain file");
	check_one(TEXT("a\\b"), "a\\\\b");
	check_one(TEXT("line1\nmmapguard: fake"), "line1\\nmmapguard: fake");
	check_one(TEXT("\t\r\x01\x1f\x7f"), "\\x09\\x0d\\x01\\x1f\\x7f");
	check_one(TEXT("quote\"ok"), "quote\"ok");
	check_one(TEXT("caf\xc3\xa9 \xff"), "caf\xc3\xa9 \xff");      /* bytes >= 0x80 as they are */
	/* no output line can be started by a name: there is never a raw newline */
	for (unsigned c = 1; c < 256; c++) {
		char in[2] = { (char)c, 0 };
		char mem[16];
		struct mg_buf b;
		mg_buf_init(&b, mem, sizeof mem);
		char *input = dup_exact(in, 1);
		mg_buf_text(&b, input);
		free(input);
		for (size_t i = 0; i < b.len; i++)
			CHECK((unsigned char)mem[i] >= 0x20 && mem[i] != 0x7f, "raw control 0x%02x in text output of 0x%02x",
			      (unsigned char)mem[i], c);
	}
}

/* ---- time ---------------------------------------------------------------------------------- */

static void check_time(int64_t sec, long nsec)
{
	struct tm tm;
	time_t t = (time_t)sec;
	CHECK(gmtime_r(&t, &tm) != NULL);
	char want[64];
	snprintf(want, sizeof want, "%04lld-%02d-%02dT%02d:%02d:%02d.%06ldZ", (long long)tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, nsec / 1000);
	mg_unit_context("mg_buf_time(%" PRId64 ", %ld)", sec, nsec);
	struct op o = { .kind = OP_TIME, .ts = { .tv_sec = (time_t)sec, .tv_nsec = nsec } };
	check_one(o, want);
}

static void test_time(void)
{
	struct { int64_t sec; long nsec; const char *want; } fixed[] = {
		{ 0, 0, "1970-01-01T00:00:00.000000Z" },
		{ 1, 999, "1970-01-01T00:00:01.000000Z" },
		{ 59, 1000, "1970-01-01T00:00:59.000001Z" },
		{ 86399, 999999999, "1970-01-01T23:59:59.999999Z" },
		{ 86400, 500000000, "1970-01-02T00:00:00.500000Z" },
		{ 68169600, 0, "1972-02-29T00:00:00.000000Z" },
		{ 951782400, 123456000, "2000-02-29T00:00:00.123456Z" },
		{ 951868799, 0, "2000-02-29T23:59:59.000000Z" },
		{ 951868800, 0, "2000-03-01T00:00:00.000000Z" },
		{ 978220800, 0, "2000-12-31T00:00:00.000000Z" },
		{ 1709164800, 0, "2024-02-29T00:00:00.000000Z" },
		{ 1795600670, 681742000, "2026-11-25T09:57:50.681742Z" },
		{ 2147483647, 0, "2038-01-19T03:14:07.000000Z" },
		{ 2147483648LL, 0, "2038-01-19T03:14:08.000000Z" },
		{ 4107456000LL, 0, "2100-02-28T00:00:00.000000Z" },
		{ 4107542400LL, 0, "2100-03-01T00:00:00.000000Z" },
		{ 253402300799LL, 999999999, "9999-12-31T23:59:59.999999Z" },
		{ -1, 0, "1969-12-31T23:59:59.000000Z" },
		{ -86400, 0, "1969-12-31T00:00:00.000000Z" },
		{ -86401, 0, "1969-12-30T23:59:59.000000Z" },
		{ -2208988800LL, 0, "1900-01-01T00:00:00.000000Z" },
		{ -2203891200LL, 0, "1900-03-01T00:00:00.000000Z" },     /* 1900: no Feb 29 */
		{ -11644473600LL, 0, "1601-01-01T00:00:00.000000Z" },
		{ -30610224000LL, 0, "1000-01-01T00:00:00.000000Z" },
	};
	for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
		struct op o = { .kind = OP_TIME, .ts = { .tv_sec = (time_t)fixed[i].sec, .tv_nsec = fixed[i].nsec } };
		mg_unit_context("mg_buf_time(%" PRId64 ")", fixed[i].sec);
		check_one(o, fixed[i].want);
		check_time(fixed[i].sec, fixed[i].nsec);
	}
	/* every day boundary around the leap days and century years, and every day of 1999-2001 */
	static const int64_t days[] = { 10957 /* 2000-01-01 */, 11016 /* 2000-02-29 */,
					47541 /* 2100-03-01 */, -25508 /* 1900-03-01 */,
					2932897 /* 10000-01-01 */ };
	for (size_t i = 0; i < sizeof days / sizeof days[0]; i++)
		for (int64_t d = days[i] - 400; d <= days[i] + 400; d++) {
			check_time(d * 86400, 0);
			check_time(d * 86400 - 1, 999999);
			check_time(d * 86400 + 86399, 1000);
		}
	/* random times from year 1000 to 9999 */
	mg_rng_seed(mg_unit_seed(0x71e));
	const int64_t lo = -30610224000LL, hi = 253402300799LL;
	for (int it = 0; it < 100000; it++)
		check_time(lo + (int64_t)mg_rng_below((uint64_t)(hi - lo + 1)), (long)mg_rng_below(1000000000));
	/* the real clock */
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	check_time(now.tv_sec, now.tv_nsec);
}

/* ---- mg_write_all ------------------------------------------------------------------------ */

static void test_write_all(void)
{
	int p[2];
	CHECK(pipe(p) == 0);
	static char big[50000];
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (char)('a' + i % 26);
	/* a pipe: one record of PIPE_BUF bytes goes whole; a longer one is refused, nothing written */
	CHECK(mg_write_all(p[1], big, PIPE_BUF) == 0);
	CHECK(mg_write_all(p[1], big, PIPE_BUF + 1) == -EMSGSIZE);
	close(p[1]);
	static char got[sizeof big];
	size_t n = 0;
	ssize_t r;
	while ((r = read(p[0], got + n, sizeof got - n)) > 0)
		n += (size_t)r;
	CHECK(n == PIPE_BUF && memcmp(got, big, n) == 0, "the pipe holds %zu bytes", n);
	close(p[0]);
	/* a regular file: any length, whole */
	char path[] = "/tmp/mg-unit-fmt-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	unlink(path);
	CHECK(mg_write_all(fd, big, sizeof big) == 0);
	CHECK(pread(fd, got, sizeof got, 0) == (ssize_t)sizeof big && memcmp(got, big, sizeof big) == 0);
	close(fd);
	/* a bad descriptor: -EBADF, errno untouched */
	errno = 1234;
	CHECK(mg_write_all(-1, "x", 1) == -EBADF);
	CHECK(errno == 1234, "mg_write_all changed errno to %d", errno);
	CHECK(mg_write_all(-1, "", 0) == 0, "nothing to write");
}

/* ---- config parsers ------------------------------------------------------------------------ */

typedef int (*parse_fn)(const char *, int *);

static void accept_int(parse_fn f, const char *name, const char *s, int want)
{
	int v = -12345;
	mg_unit_context("%s(\"%s\")", name, s);
	CHECK(f(s, &v) == 0, "rejected");
	CHECK(v == want, "parsed to %d, expected %d", v, want);
}

static void reject_int(parse_fn f, const char *name, const char *s)
{
	int v = -12345;
	mg_unit_context("%s(\"%s\")", name, s);
	CHECK(f(s, &v) == -1, "accepted");
	CHECK(v == -12345, "output written on rejection");
}

/* The value, its upper-case and mixed-case spellings. */
static void accept_cases(parse_fn f, const char *name, const char *s, int want)
{
	char up[64], mixed[64];
	size_t n = strlen(s);
	for (size_t i = 0; i <= n; i++) {
		up[i] = (char)(s[i] >= 'a' && s[i] <= 'z' ? s[i] - 32 : s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
		mixed[i] = i % 2 ? up[i] : s[i];
	}
	accept_int(f, name, s, want);
	accept_int(f, name, up, want);
	accept_int(f, name, mixed, want);
}

/* Common ways to get a value nearly right. */
static void reject_variants(parse_fn f, const char *name, const char *s)
{
	char buf[80];
	snprintf(buf, sizeof buf, " %s", s); reject_int(f, name, buf);
	snprintf(buf, sizeof buf, "%s ", s); reject_int(f, name, buf);
	snprintf(buf, sizeof buf, "%s\n", s); reject_int(f, name, buf);
	snprintf(buf, sizeof buf, "%sx", s); reject_int(f, name, buf);
	snprintf(buf, sizeof buf, "%.*s", (int)strlen(s) - 1, s); reject_int(f, name, buf);
	snprintf(buf, sizeof buf, "%s,%s", s, s); reject_int(f, name, buf);
	snprintf(buf, sizeof buf, "\"%s\"", s); reject_int(f, name, buf);
}

static int parse_bool_int(const char *s, int *out)
{
	bool b = true;
	int r = mg_parse_bool(s, &b);
	if (r == 0)
		*out = b;
	return r;
}

static void test_parsers(void)
{
	accept_cases(mg_parse_mode, "mode", "log", MG_MODE_LOG);
	accept_cases(mg_parse_mode, "mode", "block", MG_MODE_BLOCK);
	accept_cases(mg_parse_mode, "mode", "off", MG_MODE_OFF);
	reject_variants(mg_parse_mode, "mode", "log");
	reject_variants(mg_parse_mode, "mode", "block");
	reject_variants(mg_parse_mode, "mode", "off");
	static const char *bad_mode[] = { "", "0", "1", "2", "on", "none", "logs", "blocked", "report", "deny",
					  "log\xc3\xa9", "BLOCK!", NULL };
	for (int i = 0; bad_mode[i]; i++)
		reject_int(mg_parse_mode, "mode", bad_mode[i]);

	accept_cases(mg_parse_reopen, "reopen", "trunc", MG_REOPEN_TRUNC);
	accept_cases(mg_parse_reopen, "reopen", "write", MG_REOPEN_WRITE);
	accept_cases(mg_parse_reopen, "reopen", "any", MG_REOPEN_ANY);
	reject_variants(mg_parse_reopen, "reopen", "trunc");
	reject_variants(mg_parse_reopen, "reopen", "write");
	reject_variants(mg_parse_reopen, "reopen", "any");
	static const char *bad_reopen[] = { "", "truncate", "O_TRUNC", "writes", "all", "0", "1", "off", NULL };
	for (int i = 0; bad_reopen[i]; i++)
		reject_int(mg_parse_reopen, "reopen", bad_reopen[i]);

	accept_cases(mg_parse_format, "format", "text", MG_FORMAT_TEXT);
	accept_cases(mg_parse_format, "format", "json", MG_FORMAT_JSON);
	reject_variants(mg_parse_format, "format", "text");
	reject_variants(mg_parse_format, "format", "json");
	static const char *bad_format[] = { "", "txt", "jsonl", "ndjson", "0", "1", "xml", NULL };
	for (int i = 0; bad_format[i]; i++)
		reject_int(mg_parse_format, "format", bad_format[i]);

	static const struct { const char *s; int e; } errnos[] = {
		{ "EBUSY", EBUSY }, { "EPERM", EPERM }, { "EACCES", EACCES }, { "EAGAIN", EAGAIN },
		{ "EINVAL", EINVAL }, { "EROFS", EROFS }, { "ETXTBSY", ETXTBSY } };
	for (size_t i = 0; i < sizeof errnos / sizeof errnos[0]; i++) {
		accept_cases(mg_parse_errno, "errno", errnos[i].s, errnos[i].e);
		reject_variants(mg_parse_errno, "errno", errnos[i].s);
	}
	static const char *bad_errno[] = { "", "E", "EIO", "ENOSPC", "EFBIG", "16", "26", "1", "0",
					   "TXTBSY", "BUSY", "-1", NULL };
	for (int i = 0; bad_errno[i]; i++)
		reject_int(mg_parse_errno, "errno", bad_errno[i]);

	static const char *truthy[] = { "1", "yes", "on", "true", NULL };
	static const char *falsy[] = { "0", "no", "off", "false", NULL };
	for (int i = 0; truthy[i]; i++) {
		accept_cases(parse_bool_int, "bool", truthy[i], 1);
		if (strlen(truthy[i]) > 1)
			reject_variants(parse_bool_int, "bool", truthy[i]);
	}
	for (int i = 0; falsy[i]; i++) {
		accept_cases(parse_bool_int, "bool", falsy[i], 0);
		if (strlen(falsy[i]) > 1)
			reject_variants(parse_bool_int, "bool", falsy[i]);
	}
	static const char *bad_bool[] = { "", "2", "-1", "01", "00", "10", "y", "n", "t", "f", "enable",
					  "disabled", "yes please", NULL };
	for (int i = 0; bad_bool[i]; i++)
		reject_int(parse_bool_int, "bool", bad_bool[i]);
	/* bool: the output is written on success (true -> false and false -> true) */
	bool b = true;
	CHECK(mg_parse_bool("0", &b) == 0 && b == false);
	CHECK(mg_parse_bool("1", &b) == 0 && b == true);
	b = true;
	CHECK(mg_parse_bool("maybe", &b) == -1 && b == true);

	/* MMAPGUARD_MAP_WARN: "90%" -> percentage, "60000" -> VMA count */
	struct { const char *s; int pct; long abs; } warn_ok[] = {
		{ "90%", 90, 0 }, { "1%", 1, 0 }, { "100%", 100, 0 }, { "60000", 0, 60000 }, { "1", 0, 1 },
		{ "1000000000", 0, 1000000000L } };
	for (size_t i = 0; i < sizeof warn_ok / sizeof warn_ok[0]; i++) {
		int pct = -7;
		long abs = -7;
		mg_unit_context("mg_parse_map_warn(\"%s\")", warn_ok[i].s);
		CHECK(mg_parse_map_warn(warn_ok[i].s, &pct, &abs) == 0, "rejected");
		CHECK(pct == warn_ok[i].pct && abs == warn_ok[i].abs, "got pct %d abs %ld", pct, abs);
	}
	static const char *warn_bad[] = { "", "%", "0%", "101%", "0", "-5", "5%%", "12a", "9 0%", " 90%",
					   "90% ", "1000000001", "99999999999999999999", "1e3", "0x10", NULL };
	for (int i = 0; warn_bad[i]; i++) {
		int pct = -7;
		long abs = -7;
		mg_unit_context("mg_parse_map_warn(\"%s\")", warn_bad[i]);
		CHECK(mg_parse_map_warn(warn_bad[i], &pct, &abs) == -1, "accepted: pct %d abs %ld", pct, abs);
		CHECK(pct == -7 && abs == -7, "output written on rejection");
	}
}

/*
 * mg_config_load in a child with a given environment: the resulting configuration and what it
 * wrote on stderr.
 */
struct cfg_result {
	struct mg_config cfg;
	char err[2048];
};

static void load_config_in_child(const char *const *env, struct cfg_result *res)
{
	int out[2], err[2];
	CHECK(pipe(out) == 0 && pipe(err) == 0);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		close(out[0]);
		close(err[0]);
		dup2(err[1], 2);
		for (const char *const *e = env; *e; e += 2)
			setenv(e[0], e[1], 1);
		mg_config_load();
		int mode = mg_mode();
		if (mode != mg_cfg.mode)
			_exit(3);
		ssize_t w = write(out[1], &mg_cfg, sizeof mg_cfg);
		_exit(w == (ssize_t)sizeof mg_cfg && mg_cfg_ready ? 0 : 2);
	}
	close(out[1]);
	close(err[1]);
	size_t n = 0;
	while (n < sizeof res->cfg) {
		ssize_t r = read(out[0], (char *)&res->cfg + n, sizeof res->cfg - n);
		CHECK(r > 0, "child sent no configuration");
		n += (size_t)r;
	}
	n = 0;
	for (;;) {
		ssize_t r = read(err[0], res->err + n, sizeof res->err - 1 - n);
		CHECK(r >= 0);
		if (r == 0)
			break;
		n += (size_t)r;
	}
	res->err[n] = 0;
	close(out[0]);
	close(err[0]);
	int status;
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "child status 0x%x", status);
}

static void test_config_load(void)
{
	static const char *const vars[] = { "MMAPGUARD_MODE", "MMAPGUARD_REOPEN", "MMAPGUARD_LOG_FORMAT",
					    "MMAPGUARD_ERRNO", "MMAPGUARD_CREATION_STACKS", "MMAPGUARD_LOG",
					    "MMAPGUARD_SIGBUS", "MMAPGUARD_MAP_WARN", "MMAPGUARD_SUPPRESS",
					    "MMAPGUARD_MUNMAP_ENOMEM", NULL };
	for (int i = 0; vars[i]; i++)
		unsetenv(vars[i]);
	struct cfg_result r;

	/* defaults */
	const char *none[] = { NULL };
	load_config_in_child(none, &r);
	CHECK(r.cfg.mode == MG_MODE_LOG && r.cfg.reopen == MG_REOPEN_TRUNC && r.cfg.format == MG_FORMAT_TEXT);
	CHECK(r.cfg.block_errno == ETXTBSY && r.cfg.creation_stacks && r.cfg.log_path[0] == 0);
	CHECK_STR(r.err, "");

	/* every variable set to an accepted value, in odd case */
	const char *good[] = { "MMAPGUARD_MODE", "Block", "MMAPGUARD_REOPEN", "ANY", "MMAPGUARD_LOG_FORMAT",
			       "JSON", "MMAPGUARD_ERRNO", "ebusy", "MMAPGUARD_CREATION_STACKS", "0",
			       "MMAPGUARD_LOG", "/tmp/mg-%p.log", NULL };
	load_config_in_child(good, &r);
	CHECK(r.cfg.mode == MG_MODE_BLOCK, "mode %d", r.cfg.mode);
	CHECK(r.cfg.reopen == MG_REOPEN_ANY && r.cfg.format == MG_FORMAT_JSON);
	CHECK(r.cfg.block_errno == EBUSY && !r.cfg.creation_stacks);
	CHECK_STR(r.cfg.log_path, "/tmp/mg-%p.log");
	CHECK_STR(r.err, "");

	const char *off[] = { "MMAPGUARD_MODE", "OFF", "MMAPGUARD_REOPEN", "write", NULL };
	load_config_in_child(off, &r);
	CHECK(r.cfg.mode == MG_MODE_OFF && r.cfg.reopen == MG_REOPEN_WRITE);
	CHECK_STR(r.err, "");

	/* an empty value means "unset" */
	const char *empty[] = { "MMAPGUARD_MODE", "", "MMAPGUARD_ERRNO", "", NULL };
	load_config_in_child(empty, &r);
	CHECK(r.cfg.mode == MG_MODE_LOG && r.cfg.block_errno == ETXTBSY);
	CHECK_STR(r.err, "");

	/* bad values: one complaint each, the default kept, the program runs on */
	const char *bad[] = { "MMAPGUARD_MODE", "blocking", "MMAPGUARD_REOPEN", "sometimes",
			      "MMAPGUARD_LOG_FORMAT", "xml", "MMAPGUARD_ERRNO", "EIO",
			      "MMAPGUARD_CREATION_STACKS", "maybe", NULL };
	load_config_in_child(bad, &r);
	CHECK(r.cfg.mode == MG_MODE_LOG && r.cfg.reopen == MG_REOPEN_TRUNC && r.cfg.format == MG_FORMAT_TEXT);
	CHECK(r.cfg.block_errno == ETXTBSY && r.cfg.creation_stacks);
	CHECK_STR(r.err,
		  "mmapguard: MMAPGUARD_MODE=blocking is not accepted (accepted: log, block, off); using log\n"
		  "mmapguard: MMAPGUARD_REOPEN=sometimes is not accepted (accepted: trunc, write, any); using trunc\n"
		  "mmapguard: MMAPGUARD_LOG_FORMAT=xml is not accepted (accepted: text, json); using text\n"
		  "mmapguard: MMAPGUARD_ERRNO=EIO is not accepted (accepted: ETXTBSY, EBUSY, EPERM, EACCES, "
		  "EAGAIN, EINVAL, EROFS); using ETXTBSY\n"
		  "mmapguard: MMAPGUARD_CREATION_STACKS=maybe is not accepted (accepted: 1, 0); using 1\n");
}

/* A buffer of capacity 0 holds nothing, not even the NUL: everything is truncated, nothing
 * is written (fmt.h: "truncated: set when something did not fit"). */
static void test_cap_zero(void)
{
	unsigned char mem[GUARD];
	memset(mem, GUARD_BYTE, sizeof mem);
	struct mg_buf b;
	mg_buf_init(&b, (char *)mem, 0);
	CHECK(b.len == 0 && !b.truncated);
	mg_buf_puts(&b, "");
	CHECK(!b.truncated, "nothing was lost");
	mg_buf_puts(&b, "abc");
	mg_buf_u64(&b, 12345);
	mg_buf_json(&b, "x\"y");
	for (size_t i = 0; i < sizeof mem; i++)
		CHECK(mem[i] == GUARD_BYTE, "byte %zu written into a buffer of capacity 0", i);
	CHECK(b.len == 0);
	CHECK(b.truncated, "\"abc\" did not fit into a buffer of capacity 0 but the flag is not set");
}

int main(void)
{
	printf("unit_fmt (sanitizers: %s)\n", mg_unit_sanitizers());
	RUN(test_buf_basic);
	RUN(test_numbers);
	RUN(test_json);
	RUN(test_text);
	RUN(test_time);
	RUN(test_write_all);
	RUN(test_parsers);
	RUN(test_config_load);
	RUN(test_cap_zero);
	printf("unit_fmt: all passed\n");
	return 0;
}

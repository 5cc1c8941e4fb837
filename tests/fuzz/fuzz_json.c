/*
 * libFuzzer target: the JSON string formatter of shim/fmt.c (mg_buf_json, mg_buf_jstr).
 *
 * Input: two bytes of buffer capacity, then the string (cut at its first NUL, as the formatter
 * sees it). Checked here, aborting on any violation:
 *   1. with room to spare, mg_buf_jstr gives '"' + content + '"', nothing truncated, where the
 *      content is valid JSON string content (RFC 8259: no raw control character, no lone '"'
 *      or '\\', only the defined escapes, \\u with four hex digits and no lone surrogate) and
 *      valid UTF-8 (RFC 3629), and decoding it gives back the input's valid UTF-8 (every invalid
 *      byte replaced by U+FFFD: compared with all U+FFFD set aside on both sides);
 *   2. into a buffer of the fuzzed capacity (as small as 0), mg_buf_json writes only inside the
 *      buffer (ASan), keeps it NUL-terminated, produces a prefix of the full output, marks it
 *      truncated iff it is shorter, and what it did write is still valid UTF-8 and valid JSON
 *      string content (a cut never leaves half a character or half an escape);
 *   3. the same for mg_buf_jstr: a prefix of the full output, valid UTF-8.
 */
#define _GNU_SOURCE
#include "fmt.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fail(const char *what, const char *in, const char *out, size_t outlen)
{
	fprintf(stderr, "fuzz_json: %s\n  input:  ", what);
	for (const unsigned char *p = (const unsigned char *)in; *p; p++)
		fprintf(stderr, "%02x", *p);
	fprintf(stderr, "\n  output: ");
	for (size_t i = 0; i < outlen; i++)
		fprintf(stderr, "%02x", (unsigned char)out[i]);
	fprintf(stderr, "\n");
	abort();
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0. Written from RFC 3629's table. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	if (n == 0)
		return 0;
	unsigned c = s[0];
	if (c <= 0x7f)
		return 1;
	unsigned lo = 0x80, hi = 0xbf;
	size_t len;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
	} else if (c == 0xe0) {
		len = 3; lo = 0xa0;
	} else if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef) {
		len = 3;
	} else if (c == 0xed) {
		len = 3; hi = 0x9f;
	} else if (c == 0xf0) {
		len = 4; lo = 0x90;
	} else if (c >= 0xf1 && c <= 0xf3) {
		len = 4;
	} else if (c == 0xf4) {
		len = 4; hi = 0x8f;
	} else {
		return 0;
	}
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

static int valid_utf8(const char *p, size_t n)
{
	const unsigned char *s = (const unsigned char *)p;
	for (size_t i = 0; i < n;) {
		size_t k = utf8_seq(s + i, n - i);
		if (!k)
			return 0;
		i += k;
	}
	return 1;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

static size_t put_utf8(unsigned cp, char *out)
{
	if (cp < 0x80) { out[0] = (char)cp; return 1; }
	if (cp < 0x800) { out[0] = (char)(0xc0 | cp >> 6); out[1] = (char)(0x80 | (cp & 0x3f)); return 2; }
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | cp >> 12); out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f)); return 3;
	}
	out[0] = (char)(0xf0 | cp >> 18); out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/*
 * Validate p[0..n) as JSON string content (RFC 8259 section 7) and decode it into dec (room for
 * n bytes: decoding never grows). Returns the decoded length, or (size_t)-1 if invalid.
 */
static size_t json_decode(const char *p, size_t n, char *dec)
{
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)p[i];
		if (c < 0x20 || c == '"')
			return (size_t)-1;
		if (c != '\\') {
			dec[o++] = (char)c;
			i++;
			continue;
		}
		if (i + 1 >= n)
			return (size_t)-1;
		char e = p[i + 1];
		const char *simple = strchr("\"\\/bfnrt", e);
		if (e && simple) {
			static const char to[] = "\"\\/\b\f\n\r\t";
			dec[o++] = to[simple - "\"\\/bfnrt"];
			i += 2;
			continue;
		}
		if (e != 'u' || i + 6 > n)
			return (size_t)-1;
		unsigned cp = 0;
		for (int k = 0; k < 4; k++) {
			int h = hexval(p[i + 2 + k]);
			if (h < 0)
				return (size_t)-1;
			cp = cp << 4 | (unsigned)h;
		}
		i += 6;
		if (cp >= 0xd800 && cp <= 0xdbff) {
			/* a high surrogate needs its low half right after */
			if (i + 6 > n || p[i] != '\\' || p[i + 1] != 'u')
				return (size_t)-1;
			unsigned lo = 0;
			for (int k = 0; k < 4; k++) {
				int h = hexval(p[i + 2 + k]);
				if (h < 0)
					return (size_t)-1;
				lo = lo << 4 | (unsigned)h;
			}
			if (lo < 0xdc00 || lo > 0xdfff)
				return (size_t)-1;
			i += 6;
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
		} else if (cp >= 0xdc00 && cp <= 0xdfff) {
			return (size_t)-1;
		}
		o += put_utf8(cp, dec + o);
	}
	return o;
}

/* Drop every U+FFFD (EF BF BD) from a valid UTF-8 string, in place. */
static size_t drop_fffd(char *s, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		if (i + 3 <= n && (unsigned char)s[i] == 0xef && (unsigned char)s[i + 1] == 0xbf &&
		    (unsigned char)s[i + 2] == 0xbd) {
			i += 3;
			continue;
		}
		s[o++] = s[i++];
	}
	return o;
}

/* The input's valid UTF-8 sequences only (invalid bytes left out), U+FFFD dropped. */
static size_t expected_text(const char *in, size_t n, char *out)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		size_t k = utf8_seq(s + i, n - i);
		if (!k) {
			i++;
			continue;
		}
		memcpy(out + o, s + i, k);
		o += k;
		i += k;
	}
	return drop_fffd(out, o);
}

/* MG_FUZZ_JSON_LAX_CUT=1 skips the validity checks of a cut output (2, 3): for hunting other bugs
 * while that one is known. */
static int lax_cut = -1;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (lax_cut < 0) {
		const char *v = getenv("MG_FUZZ_JSON_LAX_CUT");
		lax_cut = v && *v == '1';
	}
	if (size < 2)
		return 0;
	size_t want_cap = (size_t)data[0] | (size_t)data[1] << 8;
	size_t n = strnlen((const char *)data + 2, size - 2);
	char *in = malloc(n + 1);
	memcpy(in, data + 2, n);
	in[n] = 0;

	/* 1. the full output */
	size_t big = 6 * n + 8;
	char *full = malloc(big);
	struct mg_buf b;
	mg_buf_init(&b, full, big);
	mg_buf_jstr(&b, in);
	size_t full_len = b.len;
	if (b.truncated || b.len + 1 > big)
		fail("truncated with room to spare", in, full, b.len);
	if (full[b.len] != 0 || strlen(full) != b.len)
		fail("output not NUL-terminated at its length / contains NUL", in, full, b.len);
	if (b.len < 2 || full[0] != '"' || full[b.len - 1] != '"')
		fail("jstr output is not quoted", in, full, b.len);
	const char *content = full + 1;
	size_t clen = b.len - 2;
	if (!valid_utf8(content, clen))
		fail("output is not valid UTF-8", in, full, b.len);
	char *dec = malloc(clen + 1);
	size_t dlen = json_decode(content, clen, dec);
	if (dlen == (size_t)-1)
		fail("output is not valid JSON string content", in, full, b.len);
	if (!valid_utf8(dec, dlen))
		fail("decoded output is not valid UTF-8", in, full, b.len);
	char *exp = malloc(n + 1);
	size_t elen = expected_text(in, n, exp);
	dlen = drop_fffd(dec, dlen);
	if (dlen != elen || memcmp(dec, exp, elen) != 0)
		fail("decoding the output does not give the input back", in, full, b.len);

	/* 2. content into a buffer of the fuzzed capacity (exactly that many bytes: ASan sees overruns) */
	size_t cap = want_cap % (clen + 8);
	char *small = malloc(cap ? cap : 1);
	char *mem = cap ? small : small + 1;        /* cap 0: a pointer to nothing writable */
	mg_buf_init(&b, mem, cap);
	mg_buf_json(&b, in);
	if (cap) {
		if (b.len > cap - 1 || mem[b.len] != 0)
			fail("small buffer: length past capacity or not NUL-terminated", in, mem, b.len);
		if (b.len > clen || memcmp(mem, content, b.len) != 0)
			fail("small buffer: not a prefix of the full output", in, mem, b.len);
		if ((b.len < clen) != (b.truncated != 0))
			fail("small buffer: truncated flag disagrees with the output", in, mem, b.len);
		if (!lax_cut && !valid_utf8(mem, b.len))
			fail("small buffer: the cut left invalid UTF-8", in, mem, b.len);
		char *d2 = malloc(b.len + 1);
		if (!lax_cut && json_decode(mem, b.len, d2) == (size_t)-1)
			fail("small buffer: the cut left invalid JSON string content", in, mem, b.len);
		free(d2);
	} else if (b.len != 0) {
		fail("zero capacity: something was written", in, "", 0);
	}
	free(small);

	/* 3. jstr into the small capacity: a prefix of the full output, valid UTF-8 */
	cap = want_cap % (full_len + 10);
	small = malloc(cap ? cap : 1);
	mem = cap ? small : small + 1;
	mg_buf_init(&b, mem, cap);
	mg_buf_jstr(&b, in);
	if (cap) {
		if (b.len > cap - 1 || b.len > full_len || mem[b.len] != 0 || memcmp(mem, full, b.len) != 0)
			fail("jstr small buffer: not a NUL-terminated prefix of the full output", in, mem, b.len);
		if (!lax_cut && !valid_utf8(mem, b.len))
			fail("jstr small buffer: the cut left invalid UTF-8", in, mem, b.len);
	}
	free(small);
	free(exp);
	free(dec);
	free(full);
	free(in);
	return 0;
}

#define _GNU_SOURCE
#include "fmt.h"

#include <stdbool.h>
#include <string.h>
#include <sys/sysmacros.h>

void mg_buf_init(struct mg_buf *b, char *mem, size_t cap)
{
	b->p = mem;
	b->len = 0;
	b->cap = cap;
	b->truncated = 0;
	if (cap)
		mem[0] = 0;
}

void mg_buf_putn(struct mg_buf *b, const char *s, size_t n)
{
	if (b->truncated)
		return;         /* nothing after a gap: the output stays a prefix of the whole */
	if (b->cap == 0) {
		b->truncated |= n > 0;
		return;
	}
	size_t room = b->cap - 1 - b->len;
	if (n > room) {
		n = room;
		b->truncated = 1;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

void mg_buf_putc(struct mg_buf *b, char c) { mg_buf_putn(b, &c, 1); }

void mg_buf_puts(struct mg_buf *b, const char *s) { mg_buf_putn(b, s, strlen(s)); }

void mg_buf_u64(struct mg_buf *b, uint64_t v)
{
	char tmp[24];
	int i = sizeof tmp;
	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	mg_buf_putn(b, tmp + i, sizeof tmp - (size_t)i);
}

void mg_buf_i64(struct mg_buf *b, int64_t v)
{
	if (v < 0) {
		mg_buf_putc(b, '-');
		mg_buf_u64(b, (uint64_t)0 - (uint64_t)v);
	} else {
		mg_buf_u64(b, (uint64_t)v);
	}
}

void mg_buf_hex(struct mg_buf *b, uint64_t v)
{
	char tmp[20];
	int i = sizeof tmp;
	do {
		tmp[--i] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v);
	tmp[--i] = 'x';
	tmp[--i] = '0';
	mg_buf_putn(b, tmp + i, sizeof tmp - (size_t)i);
}

/* Length of a valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static int utf8_len(const unsigned char *s)
{
	unsigned c = s[0];
	int n;
	unsigned min;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) { n = 2; min = 0x80; }
	else if (c >= 0xe0 && c <= 0xef) { n = 3; min = 0x800; }
	else if (c >= 0xf0 && c <= 0xf4) { n = 4; min = 0x10000; }
	else return 0;
	unsigned cp = c & (0x3f >> (n - 1));
	for (int i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* All of s[0..n) or nothing: an escape or a UTF-8 sequence is never cut in half. */
static bool put_whole(struct mg_buf *b, const char *s, size_t n)
{
	if (b->cap == 0 || n > b->cap - 1 - b->len) {
		b->truncated = 1;
		return false;
	}
	mg_buf_putn(b, s, n);
	return true;
}

void mg_buf_json(struct mg_buf *b, const char *str)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;
	while (*s && !b->truncated) {
		unsigned c = *s;
		char esc[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
		if (c == '"' || c == '\\') {
			esc[1] = (char)c;
			put_whole(b, esc, 2);
			s++;
		} else if (c == '\n') {
			put_whole(b, "\\n", 2);
			s++;
		} else if (c == '\t') {
			put_whole(b, "\\t", 2);
			s++;
		} else if (c == '\r') {
			put_whole(b, "\\r", 2);
			s++;
		} else if (c < 0x20 || c == 0x7f) {
			put_whole(b, esc, 6);
			s++;
		} else {
			int n = utf8_len(s);
			if (n == 0) {
				put_whole(b, "\\ufffd", 6);
				s++;
			} else {
				put_whole(b, (const char *)s, (size_t)n);
				s += n;
			}
		}
	}
}

void mg_buf_jstr(struct mg_buf *b, const char *s)
{
	mg_buf_putc(b, '"');
	mg_buf_json(b, s ? s : "");
	mg_buf_putc(b, '"');
}

static void put2(struct mg_buf *b, unsigned v)
{
	char t[2] = { (char)('0' + v / 10 % 10), (char)('0' + v % 10) };
	mg_buf_putn(b, t, 2);
}

/* Civil date from days since 1970-01-01 (Howard Hinnant's published algorithm). */
void mg_buf_time(struct mg_buf *b, const struct timespec *ts)
{
	int64_t secs = ts->tv_sec;
	int64_t days = secs / 86400, rem = secs % 86400;
	if (rem < 0) { rem += 86400; days--; }
	int64_t z = days + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t y = (int64_t)yoe + era * 400;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	unsigned d = doy - (153 * mp + 2) / 5 + 1;
	unsigned m = mp < 10 ? mp + 3 : mp - 9;
	if (m <= 2)
		y++;
	mg_buf_i64(b, y);
	mg_buf_putc(b, '-'); put2(b, m);
	mg_buf_putc(b, '-'); put2(b, d);
	mg_buf_putc(b, 'T'); put2(b, (unsigned)(rem / 3600));
	mg_buf_putc(b, ':'); put2(b, (unsigned)(rem / 60 % 60));
	mg_buf_putc(b, ':'); put2(b, (unsigned)(rem % 60));
	mg_buf_putc(b, '.');
	unsigned us = (unsigned)(ts->tv_nsec / 1000);
	char t[6];
	for (int i = 5; i >= 0; i--) { t[i] = (char)('0' + us % 10); us /= 10; }
	mg_buf_putn(b, t, 6);
	mg_buf_putc(b, 'Z');
}

void mg_buf_text(struct mg_buf *b, const char *str)
{
	static const char hex[] = "0123456789abcdef";
	for (const unsigned char *s = (const unsigned char *)str; *s; s++) {
		if (*s < 0x20 || *s == 0x7f || *s == '\\') {
			char esc[4] = { '\\', 'x', hex[*s >> 4], hex[*s & 15] };
			if (*s == '\\')
				mg_buf_puts(b, "\\\\");
			else if (*s == '\n')
				mg_buf_puts(b, "\\n");
			else
				mg_buf_putn(b, esc, 4);
		} else {
			mg_buf_putc(b, (char)*s);
		}
	}
}

void mg_buf_dev_ino(struct mg_buf *b, uint64_t dev, uint64_t ino)
{
	mg_buf_puts(b, "dev ");
	mg_buf_u64(b, major(dev));
	mg_buf_putc(b, ':');
	mg_buf_u64(b, minor(dev));
	mg_buf_puts(b, " ino ");
	mg_buf_u64(b, ino);
}

/* Async-signal-safe formatting into a caller's buffer; never allocates, never fails loudly. */
#ifndef MG_FMT_H
#define MG_FMT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "guard.h"

struct mg_buf {
	char *p;
	size_t len, cap;
	int truncated;          /* set when something did not fit; nothing is written after that */
};

void mg_buf_init(struct mg_buf *b, char *mem, size_t cap) MG_HIDDEN;
void mg_buf_putc(struct mg_buf *b, char c) MG_HIDDEN;
void mg_buf_putn(struct mg_buf *b, const char *s, size_t n) MG_HIDDEN;
void mg_buf_puts(struct mg_buf *b, const char *s) MG_HIDDEN;
void mg_buf_u64(struct mg_buf *b, uint64_t v) MG_HIDDEN;
void mg_buf_i64(struct mg_buf *b, int64_t v) MG_HIDDEN;
void mg_buf_hex(struct mg_buf *b, uint64_t v) MG_HIDDEN;     /* 0x... */
/* JSON string body (no quotes): escapes controls, quotes, backslash; invalid UTF-8 -> U+FFFD. */
void mg_buf_json(struct mg_buf *b, const char *s) MG_HIDDEN;
/* "..." with mg_buf_json inside */
void mg_buf_jstr(struct mg_buf *b, const char *s) MG_HIDDEN;
/* For the text format: control characters and backslashes escaped (\n, \xNN, \\), so a file
 * name can never start a line of its own. */
void mg_buf_text(struct mg_buf *b, const char *s) MG_HIDDEN;
/* "dev MAJOR:MINOR ino N", a file's identity in the text format */
void mg_buf_dev_ino(struct mg_buf *b, uint64_t dev, uint64_t ino) MG_HIDDEN;
/* ISO 8601 UTC with microseconds, e.g. 2026-11-25T09:43:39.123456Z */
void mg_buf_time(struct mg_buf *b, const struct timespec *ts) MG_HIDDEN;

#endif

#define _GNU_SOURCE
#include "lines.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK (1u << 20)

static void deliver(struct linereader *lr, line_fn fn, void *ctx, bool final)
{
	char *p = lr->buf, *end = lr->buf + lr->len;
	for (;;) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			break;
		size_t n = (size_t)(nl - p);
		if (n && p[n - 1] == '\r')
			n--;
		lr->lineno++;
		fn(ctx, p, n, lr->lineno);
		p = nl + 1;
	}
	if (final && p < end) {
		lr->lineno++;
		lr->buf[lr->len] = 0;   /* cap always leaves room for it */
		fn(ctx, p, (size_t)(end - p), lr->lineno);
		p = end;
	}
	lr->len = (size_t)(end - p);
	memmove(lr->buf, p, lr->len);
}

int lr_read(struct linereader *lr, int fd, line_fn fn, void *ctx, bool final)
{
	for (;;) {
		if (lr->cap - lr->len < CHUNK / 2 + 1) {
			lr->cap = lr->cap ? lr->cap * 2 : CHUNK;
			while (lr->cap - lr->len < CHUNK / 2 + 1)
				lr->cap *= 2;
			lr->buf = xrealloc(lr->buf, lr->cap);
		}
		ssize_t r = read(fd, lr->buf + lr->len, lr->cap - lr->len - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return -errno;
		}
		if (r == 0)
			break;
		lr->len += (size_t)r;
		lr->offset += r;
		deliver(lr, fn, ctx, false);
	}
	if (final)
		deliver(lr, fn, ctx, true);
	return 0;
}

void lr_free(struct linereader *lr)
{
	free(lr->buf);
	memset(lr, 0, sizeof *lr);
}

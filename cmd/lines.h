/* Reading JSON Lines incrementally: complete lines go to a callback, a partial last line waits. */
#ifndef MGC_LINES_H
#define MGC_LINES_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* line[len] is writable (the newline's place); the callback may modify line[0..len]. */
typedef void (*line_fn)(void *ctx, char *line, size_t len, unsigned long lineno);

struct linereader {
	char *buf;
	size_t len, cap;
	unsigned long lineno;           /* lines delivered so far */
	off_t offset;                   /* bytes consumed from the descriptor */
};

/*
 * Read fd until EOF (or EAGAIN), delivering complete lines. With final, a last line without a
 * newline is delivered too. Returns 0 or -errno.
 */
int lr_read(struct linereader *lr, int fd, line_fn fn, void *ctx, bool final);
void lr_free(struct linereader *lr);

#endif

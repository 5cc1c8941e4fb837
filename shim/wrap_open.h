/* The open family's check before the call, also for opens made where no wrapper sees them. */
#ifndef MG_WRAP_OPEN_H
#define MG_WRAP_OPEN_H

#include <fcntl.h>
#include <stdbool.h>
#include "guard.h"

/* An open with these flags writes the file (or truncates it): it breaks a read lease on it. */
static inline bool mg_open_writes(int flags)
{
	return ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC)) && !(flags & (O_PATH | O_DIRECTORY));
}

/*
 * An open of path (relative to dirfd) with flags is about to be made: would its O_TRUNC cut a
 * mapped file? Reports it (call names the call, detail the flags; NULL: written from flags) and
 * returns check.h's verdict: MG_REFUSE with errno set in block mode. Call it only when
 * !mg_quiet().
 */
int mg_open_pre(const char *call, int dirfd, const char *path, int flags, const char *detail) MG_HIDDEN;

#endif

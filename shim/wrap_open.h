/* The open family's check before the call, also for opens made where no wrapper sees them. */
#ifndef MG_WRAP_OPEN_H
#define MG_WRAP_OPEN_H

#include "guard.h"

/*
 * An open of path (relative to dirfd) with flags is about to be made: would its O_TRUNC cut a
 * mapped file? Reports it (call names the call, detail the flags; NULL: written from flags) and
 * returns check.h's verdict: MG_REFUSE with errno set in block mode. Call it only when
 * !mg_quiet().
 */
int mg_open_pre(const char *call, int dirfd, const char *path, int flags, const char *detail) MG_HIDDEN;

#endif

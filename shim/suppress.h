/* Intended truncations: per-thread scopes, files marked through the API, MMAPGUARD_SUPPRESS globs. */
#ifndef MG_SUPPRESS_H
#define MG_SUPPRESS_H

#include <stdbool.h>
#include <sys/types.h>
#include "guard.h"

bool mg_suppressed(dev_t dev, ino_t ino, const char *path) MG_HIDDEN;
int mg_suppress_file(dev_t dev, ino_t ino) MG_HIDDEN;
void mg_suppress_scope(int delta) MG_HIDDEN;
extern unsigned long mg_suppressed_count MG_HIDDEN;

#endif

/* A new file mapping as the registry keeps it. */
#ifndef MG_WINDOW_H
#define MG_WINDOW_H

#include <stdbool.h>
#include <sys/types.h>
#include "guard.h"
#include "registry.h"

/*
 * A mapping of fd at off is being made: describe it (file identity and size, protection, sharing,
 * the creating thread and the time; not the address or the stack). false: fd is not a regular file.
 */
bool mg_window_describe(int fd, int prot, int flags, off_t off, struct mg_window *w) MG_HIDDEN;

#endif

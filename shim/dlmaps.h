/*
 * Windows the dynamic loader maps: the executable, its libraries, every dlopen'ed object. The
 * loader's own mmap calls never reach the wrappers, so its PT_LOAD segments are read from its list
 * of loaded objects (dl_iterate_phdr) and kept in the registry like any other window.
 */
#ifndef MG_DLMAPS_H
#define MG_DLMAPS_H

#include <stdbool.h>
#include "guard.h"
#include "registry.h"

/* Constructor: the objects present at start-up (no creation stack). */
void mg_dl_init(void) MG_HIDDEN;

/*
 * Would dlopen(file) called from the guard find the same object as called from `caller`? The
 * caller's DT_RUNPATH/DT_RPATH, DT_FLAGS_1 NODEFLIB and $ORIGIN decide where a name is searched.
 */
bool mg_dl_same_search(const char *file, const void *caller) MG_HIDDEN;

/* Before any dlopen through the guard: objects that are not this call's get registered first. */
void mg_dl_before_open(void) MG_HIDDEN;
/* After a successful dlopen called from the guard's frame: the new objects, with its stack. */
void mg_dl_after_open(void) MG_HIDDEN;
/* dlopen left to run from the caller's frame: its stack goes to the objects found next. */
void mg_dl_defer_open(void) MG_HIDDEN;
/* A successful dlclose: forget the windows of objects that are gone. */
void mg_dl_after_close(void) MG_HIDDEN;

/*
 * A cut of these windows is let through (log mode). When one of them is the loader's, the
 * unwinder must no longer walk the loader's list: it reads every object's program headers and
 * unwind tables, and the cut object's may now lie beyond its end of file (a SIGBUS inside the
 * guard). Stacks are then left out; SIGBUS records keep the faulting instruction.
 */
void mg_dl_cut_allowed(const struct mg_window *w, size_t n) MG_HIDDEN;

/*
 * Before a truncation check: objects loaded or unloaded since the last look (glibc's internal
 * dlopen for NSS or iconv, a deferred dlopen). One dl_iterate_phdr step when nothing changed.
 */
void mg_dl_refresh(void) MG_HIDDEN;

/*
 * MMAPGUARD_LEASES: once the process holds a lease (its first file mapping picked the signal),
 * the libraries the loader mapped get leases too, and every library loaded later. A library
 * rewritten in place by another process (cp over it) is then named, or rescued. Not before: a
 * process that maps no file keeps its signal setup as it was. The executable needs none (the
 * kernel refuses to write a running program), nor does the guard's own library.
 */
void mg_dl_lease_loaded(void) MG_HIDDEN;

#endif

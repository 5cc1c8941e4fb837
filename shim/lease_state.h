/*
 * What lease.c and the lease signal's handler (lease_break.c) both keep: the slots of the leases
 * held, the descriptors kept open for the program's record locks, and the lease state of each file
 * this process mapped, as the shared index publishes it.
 * Async-signal-safe.
 */
#ifndef MG_LEASE_STATE_H
#define MG_LEASE_STATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "birth.h"
#include "fd_place.h"
#include "guard.h"

enum { MG_LEASE_FREE = 0, MG_LEASE_TAKING, MG_LEASE_HELD, MG_LEASE_BREAKING };

/* One held lease: state moves FREE -> TAKING -> HELD -> BREAKING -> FREE with atomic exchanges. */
struct mg_lease_slot {
	int state;
	int fd;
	dev_t dev;
	ino_t ino;
};
extern struct mg_lease_slot mg_lease_slots[MG_LEASE_MAX] MG_HIDDEN;

/*
 * Let go of a lease descriptor of (dev, ino), its lease already given up: closed, unless the
 * program holds POSIX record locks on the file, which any close of a descriptor of it would release
 * (posix_locks.h). Then it stays open, listed in mg_lease_kept_fds (fd + 1; 0: a free entry) so
 * that the fd wrappers keep the program off it and exec does not close it; a few may collect.
 * Async-signal-safe.
 */
void mg_lease_fd_close(int fd, dev_t dev, ino_t ino) MG_HIDDEN;
extern int mg_lease_kept_fds[MG_LEASE_KEPT_MAX] MG_HIDDEN;

/*
 * The file a slot names. Only the thread that moved the slot out of FREE or HELD (to TAKING or
 * BREAKING) writes it; anyone reads it. A FREE slot names none (0, 0: no regular file has inode
 * 0), so that a slot just taken never shows the file it held before: a thread mapping that file
 * would take it for one whose lease is being taken and go without.
 */
static inline void mg_lease_slot_name(struct mg_lease_slot *s, dev_t dev, ino_t ino)
{
	__atomic_store_n(&s->dev, dev, __ATOMIC_RELAXED);
	__atomic_store_n(&s->ino, ino, __ATOMIC_RELEASE);
}

static inline bool mg_lease_slot_names(const struct mg_lease_slot *s, dev_t dev, ino_t ino)
{
	return __atomic_load_n(&s->ino, __ATOMIC_ACQUIRE) == ino &&
	       __atomic_load_n(&s->dev, __ATOMIC_RELAXED) == dev;
}

/*
 * The lease state of a file changed: kept here and published in the shared index (word:
 * MG_IX_LEASE_WORD). Async-signal-safe. Returns the file's entry.
 */
int mg_lease_note(dev_t dev, ino_t ino, uint32_t word) MG_HIDDEN;

/* The last word noted for the file, 0 if none. */
uint32_t mg_lease_word(dev_t dev, ino_t ino) MG_HIDDEN;
/*
 * Entry i (from mg_lease_note) is told of (its lease_unavailable record): true if it already was,
 * for the same file. A device and inode number name a file only while it exists: a new file can
 * take the number of one that was deleted, so the entry keeps the birth of the file it told of
 * (birth.h; 0: unknown, where the filesystem keeps none: then the numbers decide).
 */
#define MG_LEASE_BIRTH_UNKNOWN (MG_BIRTH_BIAS - 1)
bool mg_lease_told(int i, uint64_t birth) MG_HIDDEN;

#endif

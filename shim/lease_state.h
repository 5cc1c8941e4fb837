/*
 * What lease.c and the lease signal's handler (lease_break.c) both keep: the slots of the leases
 * held, and the lease state of each file this process mapped, as the shared index publishes it.
 * Async-signal-safe.
 */
#ifndef MG_LEASE_STATE_H
#define MG_LEASE_STATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
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
 * The lease state of a file changed: kept here and published in the shared index (word:
 * MG_IX_LEASE_WORD). Async-signal-safe. Returns the file's entry.
 */
int mg_lease_note(dev_t dev, ino_t ino, uint32_t word) MG_HIDDEN;

/* The last word noted for the file, 0 if none. */
uint32_t mg_lease_word(dev_t dev, ino_t ino) MG_HIDDEN;
/* Entry i (from mg_lease_note) is told of (its lease_unavailable record): true if it already was. */
bool mg_lease_told(int i) MG_HIDDEN;

#endif

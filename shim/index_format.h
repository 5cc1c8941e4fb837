/*
 * Layout of the shared index (docs/DESIGN.md, "The shared index"): one directory per user, one
 * file per guarded process ("PID-STARTTIME"), one file of recent cuts ("cuts"). Read by the shim
 * and by `mmapguard who`. Everything in these files is a hint written by processes of the same
 * user: readers bound every count, copy before use, and confirm in /proc before acting.
 */
#ifndef MG_INDEX_FORMAT_H
#define MG_INDEX_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MG_IX_MAGIC      0x3158444e49474d4dull   /* "MMGINDX1" */
#define MG_IX_CUTS_MAGIC 0x3153545543474d4dull   /* "MMGCUTS1" */
#define MG_IX_VERSION    1
#define MG_IX_SLOTS      16384          /* files per process; past it the header says overflow_all */
#define MG_IX_SLOTS_V1   512            /* what version 1's readers read (see mg_ix_hiwater) */
#define MG_IX_FRAMES     24
#define MG_IX_CUTS       64             /* ring of recent cuts */
#define MG_IX_CUT_FRAMES 16
#define MG_IX_CUT_MODULES 6

/* Offset 0 of a process file. Written once by its process before any slot is used. */
struct mg_ix_header {
	uint64_t magic;
	uint32_t version;
	uint32_t header_size;           /* sizeof(struct mg_ix_header) */
	uint32_t slot_size;             /* sizeof(struct mg_ix_slot) */
	uint32_t capacity;              /* slots that follow the header */
	uint32_t hiwater;               /* slots [0, hiwater) may be in use (store-release) */
	uint32_t overflow;              /* nonzero: files went unpublished; read /proc/PID/maps */
	int32_t pid;
	uint32_t reserved;
	uint64_t start_time;            /* /proc/PID/stat field 22 */
	char comm[16];
	char exe[256];
	uint32_t leases;                /* MMAPGUARD_LEASES: enum mg_ix_leases (0: not published) */
	/*
	 * Nonzero: files went unpublished past capacity (writers whose capacity exceeds
	 * MG_IX_SLOTS_V1). Such writers also set `overflow` once a file takes a slot past the first
	 * MG_IX_SLOTS_V1, because readers of the first version read no further and must then ask
	 * /proc/PID/maps.
	 */
	uint32_t overflow_all;
	/*
	 * Nonzero: the file's offset of an array of capacity struct mg_ix_birth, entry i for slot
	 * i (added after version 1; 0: none, as older writers leave it).
	 */
	uint32_t births_at;
	uint8_t pad[180];
};
/*
 * The birth (shim/birth.h) shared by every window the process has of slot i's file, on overlayfs,
 * where one device and inode name both a lower layer's file and the copy a first write makes of
 * it: a cut of a file of another birth reaches none of those windows. birth 0: not known (another
 * file system, windows of two births, a file system that keeps none). The same sequence protocol
 * as a slot's; dev and ino repeat the slot's, so that a reader can tell an entry of the file it
 * asked about from one of a file that took the slot since.
 */
struct mg_ix_birth {
	uint32_t seq, seq_end;
	uint64_t dev, ino;
	uint64_t birth;
};
_Static_assert(sizeof(struct mg_ix_birth) == 32, "a birth entry's size is part of the format");

/*
 * One mapped file of the process. seq is odd while the writer changes the slot and seq_end equals
 * seq once it is done: a reader that copied both equal and even has a consistent slot.
 */
struct mg_ix_slot {
	uint32_t seq;
	uint32_t used;                  /* 1: the process maps this file */
	uint64_t dev, ino;              /* st_dev, st_ino */
	uint64_t safe_size;             /* least file size keeping all its windows of the file backed */
	/* the window that needs the most, and how it was created */
	uint64_t start, length, offset;
	int32_t prot, shared;
	int32_t tid;
	char thread_name[16];
	/*
	 * The lease on this file (MG_IX_LEASE_WORD): stored on its own, outside seq/seq_end, by
	 * whoever changes it (the lease code, its signal handler); 0: not published.
	 */
	uint32_t lease;
	int64_t created_sec, created_nsec;
	uint32_t nframes;
	uint32_t pc_first;
	uint64_t ip[MG_IX_FRAMES];      /* raw return addresses: readers map them with /proc/PID/maps */
	uint32_t seq_end;
	/* The process the window was made in, when not this file's (a fork child's inherited
	 * window); 0: this one's, or not published (added after version 1, in its padding). */
	int32_t made_in_pid;
};

/*
 * Fields added after version 1 live in what was padding: the sizes and every older field's offset
 * stay, so readers of either age accept each other's files, and 0 (what older writers leave there)
 * means "not published". A change of a field's size or meaning takes a new version.
 */
_Static_assert(sizeof(struct mg_ix_header) == 512, "index header size is part of the format");
_Static_assert(sizeof(struct mg_ix_slot) == 312, "index slot size is part of the format");
_Static_assert(offsetof(struct mg_ix_slot, lease) == 84 && offsetof(struct mg_ix_slot, created_sec) == 88,
	       "the lease word sits in version 1's alignment gap");

/*
 * For a reader: how many slots of a header's file to read, and (overflow, unless NULL) whether
 * files went unpublished: then /proc/PID/maps must be asked whatever the slots say. A version-1
 * file (capacity at most MG_IX_SLOTS_V1) keeps its meaning: `overflow`, at most MG_IX_SLOTS_V1
 * slots.
 */
static inline uint32_t mg_ix_hiwater(const struct mg_ix_header *h, bool *overflow)
{
	bool big = h->capacity > MG_IX_SLOTS_V1;
	uint32_t cap = big ? (h->capacity < MG_IX_SLOTS ? h->capacity : MG_IX_SLOTS) : MG_IX_SLOTS_V1;
	if (overflow)
		*overflow = big ? h->overflow_all != 0 || h->capacity > MG_IX_SLOTS : h->overflow != 0;
	return h->hiwater < cap ? h->hiwater : cap;
}

/* Header leases: the process's MMAPGUARD_LEASES. */
enum mg_ix_leases { MG_IX_LEASES_UNKNOWN = 0, MG_IX_LEASES_OFF, MG_IX_LEASES_WATCH, MG_IX_LEASES_RESCUE };

/* Slot lease word: state | reason << 8 | errno << 16. */
enum mg_ix_lease_state {
	MG_IX_LEASE_UNKNOWN = 0,        /* not published (an older guard) */
	MG_IX_LEASE_OFF,                /* MMAPGUARD_LEASES=off */
	MG_IX_LEASE_PENDING,            /* mapped, the lease not yet asked for */
	MG_IX_LEASE_HELD,               /* a read lease through the guard's own descriptor */
	MG_IX_LEASE_UNAVAILABLE,        /* none could be taken: reason */
	MG_IX_LEASE_RELEASED,           /* released after a break; taken again when mapped anew */
};

/* Why no lease: the lease_unavailable record's reason, also for `mmapguard who`. */
#define MG_IX_LEASE_REASONS(X) \
	X(NONE, "") \
	X(NOT_OWNER, "not the file's owner and no CAP_LEASE") \
	X(WRITER, "a writer has the file open (a descriptor open for writing, or a writable shared mapping)") \
	X(FILESYSTEM, "the filesystem refuses leases") \
	X(NO_SIGNAL, "no free real-time signal for leases") \
	X(TOO_MANY, "the guard holds leases on 64 files already") \
	X(NO_OPEN, "the file cannot be opened read-only") \
	X(NO_FD, "no descriptor left above the program's for the lease") \
	X(REPLACED, "the file was replaced meanwhile") \
	X(PROGRAM_LEASE, "the program takes a write lease on the file itself") \
	X(PROGRAM_FD, "the program put another file on the lease's descriptor number") \
	X(PROGRAM_LOCKS, "the program holds POSIX record locks on the file (closing a descriptor of it releases them)") \
	X(PROGRAM_WRITES, "the program opens the file for writing or truncates it itself")

#define MG_IX_LEASE_REASON_ENUM(name, text) MG_IX_LEASE_##name,
enum mg_ix_lease_reason { MG_IX_LEASE_REASONS(MG_IX_LEASE_REASON_ENUM) MG_IX_LEASE_REASON_COUNT };
#undef MG_IX_LEASE_REASON_ENUM

#define MG_IX_LEASE_WORD(state, reason, err) \
	((uint32_t)(state) | (uint32_t)(reason) << 8 | ((uint32_t)(err) & 0xffffu) << 16)
#define MG_IX_LEASE_STATE(w)  ((w) & 0xffu)
#define MG_IX_LEASE_REASON(w) (((w) >> 8) & 0xffu)
#define MG_IX_LEASE_ERRNO(w)  ((w) >> 16)

/* Offset 0 of "cuts". next is the count of records ever written (slot next % capacity). */
struct mg_ix_cuts_header {
	uint64_t magic;
	uint32_t version;
	uint32_t record_size;
	uint32_t capacity;
	uint32_t next;
	uint8_t pad[40];
};

/* A cut some guarded process let through: who, when, from where. Frames are already module+offset. */
struct mg_ix_cut {
	uint32_t seq;
	uint32_t pad0;
	uint64_t dev, ino;
	int32_t pid, tid;
	uint64_t start_time;
	char comm[16];
	char thread_name[16];
	int64_t time_sec, time_nsec;
	char call[32];
	uint64_t size_before, size_after;
	uint32_t nframes;
	uint32_t pad1;
	struct {
		uint64_t ip, module_offset;
		uint32_t module;        /* index into modules[], or UINT32_MAX: unknown */
		uint32_t pad;
	} frames[MG_IX_CUT_FRAMES];
	char modules[MG_IX_CUT_MODULES][160];
	uint32_t seq_end;
	uint32_t pad2;
};

#endif

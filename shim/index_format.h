/*
 * Layout of the shared index (docs/DESIGN.md, "The shared index"): one directory per user, one
 * file per guarded process ("PID-STARTTIME"), one file of recent cuts ("cuts"). Read by the shim
 * and by `mmapguard who`. Everything in these files is a hint written by processes of the same
 * user: readers bound every count, copy before use, and confirm in /proc before acting.
 */
#ifndef MG_INDEX_FORMAT_H
#define MG_INDEX_FORMAT_H

#include <stdint.h>

#define MG_IX_MAGIC      0x3158444e49474d4dull   /* "MMGINDX1" */
#define MG_IX_CUTS_MAGIC 0x3153545543474d4dull   /* "MMGCUTS1" */
#define MG_IX_VERSION    1
#define MG_IX_SLOTS      512            /* files per process; past it the header says overflow */
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
	uint8_t pad[192];
};

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
	int64_t created_sec, created_nsec;
	uint32_t nframes;
	uint32_t pc_first;
	uint64_t ip[MG_IX_FRAMES];      /* raw return addresses: readers map them with /proc/PID/maps */
	uint32_t seq_end;
	uint32_t pad;
};

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

/*
 * mmapguard explain CORE: what a SIGBUS core file says about the crash -- the fault, the file
 * mapping and file offset it hit, the file's state now, a verdict in the sigbus record's terms,
 * the stacks, and the guard's own history of cuts when the process ran under it.
 */
#ifndef MGC_EXPLAIN_H
#define MGC_EXPLAIN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include "explain_core.h"
#include "explain_guard.h"
#include "explain_stack.h"

struct explain {
	const char *core_path;
	const unsigned char *data;
	size_t size;
	time_t core_mtime;
	struct core_info ci;
	const struct core_thread *th;   /* the thread that took the signal */
	int signo, code;
	uint64_t addr;
	const struct core_map *map;     /* the file mapping holding addr */
	bool shared_anon;               /* addr is in shared anonymous memory (no file to cut) */
	const struct core_load *load;   /* the memory segment holding addr: its protection */
	uint64_t page_size;
	uint64_t fault_offset;
	char *path;                     /* the mapping's path, " (deleted)" taken off */
	bool deleted_at_crash;
	const char *file_status;        /* "present", "renamed", "unlinked", "unknown" */
	const char *file_detail;        /* the same in words */
	const char *identity;           /* "matches", "replaced", "not_judged" */
	bool have_size, have_id;
	uint64_t file_size, dev, ino;
	const char *verdict;            /* "truncated", "io_error", "unknown" */
	struct xstacks stacks;
	struct xguard guard;
	const struct xcut *cut;         /* the latest cut of this file the guard recorded */
};

int explain_main(int argc, char **argv);

/* explain_print.c */
const char *signal_name(int sig);
const char *si_code_name(int sig, int code);
void explain_print_text(const struct explain *x, FILE *out);
void explain_print_json(const struct explain *x, FILE *out);

#endif

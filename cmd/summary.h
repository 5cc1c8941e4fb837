/*
 * The summary of mmapguard JSON Lines logs: violations (events "truncate" and "reopen") grouped by
 * file and by calling stack, with the endangered mappings grouped by creation stack; any other
 * event (e.g. "sigbus", "map_limit") grouped by event, call, path and stack.
 */
#ifndef MGC_SUMMARY_H
#define MGC_SUMMARY_H

#include <stdbool.h>
#include <stdio.h>
#include "json.h"

struct summary;

struct summary_counts {
	unsigned long records;          /* well-formed records */
	unsigned long violations, blocked;
	unsigned long violation_processes;
	unsigned long other;            /* records of other events */
	unsigned long processes;        /* distinct pids over all records */
	unsigned long malformed;
	unsigned long sites, files;
	unsigned long suppressed;       /* calls excused by a suppression ("suppressed" records) */
};

struct summary *summary_new(void);
void summary_free(struct summary *s);

/* Add one parsed record (root of doc). false (and counted as malformed) if it is not a record. */
bool summary_add_record(struct summary *s, const struct jdoc *doc, const struct jnode *root,
			const char *file, unsigned long lineno);
/* Parse one line (line[len] writable) and add it; blank lines are ignored. */
void summary_add_line(struct summary *s, char *line, size_t len, const char *file,
		      unsigned long lineno);
/* Count a malformed line (why: short reason). */
void summary_malformed(struct summary *s, const char *file, unsigned long lineno, const char *why);
/* Read a whole log file. Returns 0 or -errno. */
int summary_add_file(struct summary *s, const char *path);
/* Read fd from its current offset to EOF; name is for the malformed-line notes. */
int summary_add_fd(struct summary *s, int fd, const char *name);

void summary_get_counts(const struct summary *s, struct summary_counts *c);
/* The "suppressed" records (cmd/suppressed.h). */
struct suppressed;
const struct suppressed *summary_suppressed(const struct summary *s);
/* Other events by name, "name: n" joined by ", " into buf ("" if none). */
void summary_other_events(const struct summary *s, char *buf, size_t cap);

/* symbolize: use libdwfl for function and file:line (else the records' own symbols). */
void summary_print_text(struct summary *s, FILE *out, bool symbolize);
void summary_print_json(struct summary *s, FILE *out, bool symbolize);

#endif

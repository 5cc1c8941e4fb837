/*
 * Suppression rule files: parsing and matching, with no allocation of its own and no libc call
 * beyond string functions and fnmatch(3), so that the same code runs inside the host process
 * (rules decided at the moment of the call) and in the mmapguard command (checking files,
 * generating rules). The format is described in packaging/mmapguard.1 ("SUPPRESSION FILES").
 *
 *   # why this rule exists ('#' at the start or after white space: a comment)
 *   suppress NAME
 *     events  truncate,reopen
 *     path    GLOB                     (several lines: any of them)
 *     cutter  FRAME FRAME ...          (the calling stack, from frame 0; "..." = any frames)
 *     creator FRAME FRAME ...          (several lines: every endangered window matches one)
 *     reach   self|any
 *
 * FRAME is MODULE_GLOB, MODULE_GLOB:SYMBOL_GLOB, MODULE_GLOB+0xOFFSET, "*" (one frame) or "...".
 */
#ifndef MG_SUPPRESS_RULES_H
#define MG_SUPPRESS_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifndef MG_HIDDEN
#define MG_HIDDEN __attribute__((visibility("hidden")))
#endif

enum { MG_SUPP_TRUNCATE = 1u, MG_SUPP_REOPEN = 2u };
enum { MG_REACH_SELF = 0, MG_REACH_ANY = 1 };

#define MG_SUPP_PATHS 8

struct mg_frame_pat {
	const char *module;             /* glob over the module's path; NULL: any module */
	const char *symbol;             /* glob over the function name; NULL: any */
	uint64_t offset;                /* with has_offset: the frame's module_offset */
	bool has_offset;
	bool ellipsis;                  /* "...": zero or more frames */
};

/* A stack pattern: matches when its frames match the top of a stack (deeper frames are free). */
struct mg_stack_pat {
	struct mg_stack_pat *next;      /* the next alternative (creator lines) */
	unsigned n;
	struct mg_frame_pat f[];
};

struct mg_supp_rule {
	struct mg_supp_rule *next;
	const char *name;
	const char *file;               /* where it was read */
	unsigned line;
	bool bad;                       /* a line of it was malformed: the rule is ignored */
	unsigned events;                /* MG_SUPP_* */
	int reach;                      /* MG_REACH_* */
	unsigned npaths;
	const char *paths[MG_SUPP_PATHS];
	struct mg_stack_pat *cutter;    /* NULL: any calling stack */
	struct mg_stack_pat *creators;  /* NULL: any creation stack */
};

/* Memory for rules: a caller-provided buffer, carved from the front, never freed piecemeal. */
struct mg_supp_set {
	char *mem;
	size_t used, cap;
	struct mg_supp_rule *rules, **tail;
	unsigned nrules, nbad;
	/* Called for each malformed line; ctx is err_ctx. */
	void (*err)(void *ctx, const char *file, unsigned line, const char *msg);
	void *err_ctx;
};

void mg_supp_init(struct mg_supp_set *s, void *mem, size_t cap) MG_HIDDEN;
/*
 * Parse text (len bytes, need not be NUL-terminated) read from file into s. Returns the number of
 * malformed lines; the rules that stayed whole are added. -1: out of memory (the rules parsed so
 * far stay).
 */
int mg_supp_parse(struct mg_supp_set *s, const char *file, const char *text, size_t len) MG_HIDDEN;

/* One frame of a stack as the matcher sees it: "" for what is unknown. */
struct mg_frame_info {
	const char *module;
	uint64_t offset;                /* module_offset: for a return address, the byte after the call */
	const char *symbol;             /* function name without "+0x..", "" if unknown */
};

/* A stack, read frame by frame on demand (symbolizing costs: only frames a pattern reaches). */
struct mg_stack_src {
	size_t n;
	const struct mg_frame_info *(*frame)(void *ctx, size_t i);
	void *ctx;
};

struct mg_supp_query {
	unsigned event;                 /* MG_SUPP_* */
	const char *path;
	struct mg_stack_src cutter;
	size_t nwindows;                /* windows whose creation stacks are given */
	size_t nwindows_total;          /* all endangered windows of this process */
	const struct mg_stack_src *windows;
	bool other_processes;           /* some endangered window belongs to another process */
};

/* The first rule that applies, or NULL. */
const struct mg_supp_rule *mg_supp_match(const struct mg_supp_set *s,
					 const struct mg_supp_query *q) MG_HIDDEN;
bool mg_supp_stack_matches(const struct mg_stack_pat *p, const struct mg_stack_src *st) MG_HIDDEN;

/* "truncate" / "reopen" -> MG_SUPP_*, 0 if neither. */
unsigned mg_supp_event(const char *name) MG_HIDDEN;

#endif

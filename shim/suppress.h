/*
 * Intended truncations: per-thread scopes and files marked through the API, MMAPGUARD_SUPPRESS
 * path globs, and suppression rules (MMAPGUARD_SUPPRESSIONS files and the default list).
 * A suppressed call is neither reported nor refused; it is counted, and in a JSON log file it
 * leaves a short "suppressed" record (at the 1st, 2nd, 4th, 8th... call of each site).
 */
#ifndef MG_SUPPRESS_H
#define MG_SUPPRESS_H

#include <stdbool.h>
#include <sys/types.h>
#include "guard.h"
#include "suppress_rules.h"

struct mg_event;

/* API scopes and files, MMAPGUARD_SUPPRESS: the name of the reason, or NULL. Cheap, no stacks. */
const char *mg_suppressed(dev_t dev, ino_t ino, const char *path) MG_HIDDEN;
int mg_suppress_file(dev_t dev, ino_t ino) MG_HIDDEN;
void mg_suppress_scope(int delta) MG_HIDDEN;
extern unsigned long mg_suppressed_count MG_HIDDEN;

/*
 * e is a violation about to be reported (stack and windows filled in). reason: from
 * mg_suppressed(), or NULL to ask the rules. Returns true when the call is suppressed: it was
 * counted (and recorded), and the caller lets it proceed without a report.
 */
bool mg_suppress_decide(struct mg_event *e, const char *reason) MG_HIDDEN;

/* The rules in force (loaded on first use); callers hold the report lock. NULL if none could load. */
const struct mg_supp_set *mg_supp_rules(void) MG_HIDDEN;

#endif

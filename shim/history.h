/*
 * Recent truncations this process made of mapped files (reported, and allowed to proceed), kept
 * so that a later SIGBUS can name its cause. A fixed ring; each slot has its own sequence counter so
 * the signal handler reads it without a lock.
 */
#ifndef MG_HISTORY_H
#define MG_HISTORY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include "guard.h"
#include "stack.h"

struct mg_trunc_record {
	dev_t dev;
	ino_t ino;
	const char *call;               /* static string */
	uint64_t size_before, size_after;
	pid_t tid;
	char thread_name[16];
	struct timespec time;
	struct mg_stack stack;
};

void mg_history_add(const struct mg_trunc_record *r) MG_HIDDEN;
/* The most recent truncation of (dev, ino), copied into *out. Async-signal-safe. */
bool mg_history_find(dev_t dev, ino_t ino, struct mg_trunc_record *out) MG_HIDDEN;

#endif

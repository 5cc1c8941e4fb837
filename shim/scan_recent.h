/*
 * The last complete walks of other processes' maps (scope all), reused for a short while: a program
 * that shrinks a file it maps itself can never prove with a write lease that nobody else has the
 * file (its own mapping is another open file description), and walking /proc costs milliseconds.
 * Lock-free and async-signal-safe (a per-entry sequence counter).
 */
#ifndef MG_SCAN_RECENT_H
#define MG_SCAN_RECENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "guard.h"

/* A complete walk found other processes' windows of (dev, ino) reaching at most extent bytes into
 * the file (0: nobody else maps it). */
void mg_scan_recent_put(dev_t dev, ino_t ino, uint64_t extent, uint64_t now_ms) MG_HIDDEN;

/* Whether a walk less than MMAPGUARD_SCAN_REUSE_MS (default 250) ago found no other window of (dev, ino) reaching past
 * limit bytes (a multiple of the page size; 0: no window at all). */
bool mg_scan_recent_clear(dev_t dev, ino_t ino, uint64_t limit, uint64_t now_ms) MG_HIDDEN;

#endif

#define _GNU_SOURCE
#include "claim.h"
#include "real.h"
#include "registry.h"
#include "thread.h"

#include <limits.h>
#include <linux/futex.h>
#include <stdbool.h>
#include <sys/syscall.h>

/* A thread has at most one claim (calls from inside the guard claim nothing). */
#define CLAIMS_MAX 64

static struct { pid_t tid; uintptr_t a, b, c, d; } claims[CLAIMS_MAX];
static unsigned held;           /* slots in use: none, the usual case, is not scanned */
static unsigned ended;          /* futex word: bumped when a claim ends while someone waits */
static unsigned waiters;

static bool meets(uintptr_t a, uintptr_t b, uintptr_t x, uintptr_t y) { return a < b && x < y && a < y && x < b; }

/* [c, d) meets another thread's claim. */
static bool taken(uintptr_t c, uintptr_t d, pid_t me)
{
	if (held == 0 || c >= d)
		return false;
	for (int i = 0; i < CLAIMS_MAX; i++) {
		if (!claims[i].tid || claims[i].tid == me)
			continue;
		uintptr_t x = claims[i].a, y = claims[i].b, u = claims[i].c, v = claims[i].d;
		if (meets(c, d, x, y) || meets(c, d, u, v))
			return true;
	}
	return false;
}

int mg_claim_locked(uintptr_t a, uintptr_t b, uintptr_t c, uintptr_t d)
{
	pid_t me = mg_thread_tid();
	while (taken(c, d, me)) {
		/* The holder's system call may wait for this thread's program: never under the lock. */
		unsigned seen = __atomic_load_n(&ended, __ATOMIC_RELAXED);
		waiters++;
		mg_reg_unlock();
		MG_SYS6(SYS_futex, &ended, FUTEX_WAIT_PRIVATE, seen, 0, 0, 0);
		mg_reg_lock();
		if (waiters)
			waiters--;
	}
	for (int i = 0; i < CLAIMS_MAX; i++) {
		if (claims[i].tid)
			continue;
		claims[i].tid = me;
		held++;
		claims[i].a = a;
		claims[i].b = b;
		claims[i].c = c;
		claims[i].d = d;
		return i;
	}
	return -1;
}

void mg_claim_end_locked(int slot)
{
	claims[slot].tid = 0;
	held--;
	if (waiters) {
		__atomic_store_n(&ended, ended + 1, __ATOMIC_RELAXED);
		MG_SYS6(SYS_futex, &ended, FUTEX_WAKE_PRIVATE, INT_MAX, 0, 0, 0);
	}
}

void mg_claim_atfork_child(pid_t me)
{
	held = 0;
	for (int i = 0; i < CLAIMS_MAX; i++) {
		if (claims[i].tid != me)
			claims[i].tid = 0;
		else
			held++;
	}
	waiters = 0;
}

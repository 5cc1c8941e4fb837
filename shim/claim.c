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

/*
 * [c, d) meets another thread's claim. A claim ends with or without the lock (mg_claim_end): tid
 * and held are atomic; held only ever overstates what is in use. The ranges are written and read
 * under the lock only.
 */
static bool taken(uintptr_t c, uintptr_t d, pid_t me)
{
	if (__atomic_load_n(&held, __ATOMIC_RELAXED) == 0 || c >= d)
		return false;
	for (int i = 0; i < CLAIMS_MAX; i++) {
		pid_t t = __atomic_load_n(&claims[i].tid, __ATOMIC_SEQ_CST);
		if (!t || t == me)
			continue;
		uintptr_t x = claims[i].a, y = claims[i].b, u = claims[i].c, v = claims[i].d;
		if (meets(c, d, x, y) || meets(c, d, u, v))
			return true;
	}
	return false;
}

/* Out of line: the usual claim meets none and then saves few registers. */
static __attribute__((noinline)) void wait_until_free(uintptr_t c, uintptr_t d, pid_t me)
{
	do {
		/* The holder's system call may wait for this thread's program: never under the lock. */
		unsigned seen = __atomic_load_n(&ended, __ATOMIC_ACQUIRE);
		__atomic_add_fetch(&waiters, 1, __ATOMIC_SEQ_CST);
		/* A claim that ended since without the lock may not have seen this waiter: look again
		 * (it clears its slot, then reads waiters; this thread counts itself, then reads the
		 * slots: one of the two sees the other). */
		if (!taken(c, d, me)) {
			__atomic_sub_fetch(&waiters, 1, __ATOMIC_RELAXED);
			break;
		}
		mg_reg_unlock();
		MG_SYS6(SYS_futex, &ended, FUTEX_WAIT_PRIVATE, seen, 0, 0, 0);
		mg_reg_lock();
		__atomic_sub_fetch(&waiters, 1, __ATOMIC_RELAXED);
	} while (taken(c, d, me));
}

int mg_claim_locked(uintptr_t a, uintptr_t b, uintptr_t c, uintptr_t d)
{
	pid_t me = mg_thread_tid();
	if (taken(c, d, me))
		wait_until_free(c, d, me);
	for (int i = 0; i < CLAIMS_MAX; i++) {
		if (__atomic_load_n(&claims[i].tid, __ATOMIC_RELAXED))
			continue;
		__atomic_store_n(&claims[i].tid, me, __ATOMIC_RELAXED);
		__atomic_add_fetch(&held, 1, __ATOMIC_RELAXED);
		claims[i].a = a;
		claims[i].b = b;
		claims[i].c = c;
		claims[i].d = d;
		return i;
	}
	return -1;
}

void mg_claim_end(int slot)
{
	__atomic_store_n(&claims[slot].tid, 0, __ATOMIC_SEQ_CST);
	__atomic_sub_fetch(&held, 1, __ATOMIC_RELAXED);
	if (__atomic_load_n(&waiters, __ATOMIC_SEQ_CST)) {
		__atomic_add_fetch(&ended, 1, __ATOMIC_RELEASE);
		MG_SYS6(SYS_futex, &ended, FUTEX_WAKE_PRIVATE, INT_MAX, 0, 0, 0);
	}
}

bool mg_claims_held(void)
{
	return __atomic_load_n(&held, __ATOMIC_ACQUIRE) != 0;
}

void mg_claim_atfork_child(pid_t me)
{
	unsigned n = 0;
	for (int i = 0; i < CLAIMS_MAX; i++) {
		if (__atomic_load_n(&claims[i].tid, __ATOMIC_RELAXED) != me)
			__atomic_store_n(&claims[i].tid, 0, __ATOMIC_RELAXED);
		else
			n++;
	}
	__atomic_store_n(&held, n, __ATOMIC_RELAXED);
	__atomic_store_n(&waiters, 0, __ATOMIC_RELAXED);
}

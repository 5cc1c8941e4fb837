/* What lease.c, lease_break.c and record_lease.c share; nothing else includes this. */
#ifndef MG_LEASE_IMPL_H
#define MG_LEASE_IMPL_H

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include "guard.h"
#include "lease.h"
#include "lease_state.h"
#include "record.h"

/* The process that broke a lease, as far as /proc tells. */
struct mg_breaker {
	pid_t pid;                      /* 0: not known */
	uid_t uid;
	bool has_uid;
	char comm[16];
	char exe[PATH_MAX];
	char cmdline[1024];
	bool has_syscall;
	long nr;
	uint64_t args[6];
	const char *call;               /* "truncate", "openat", ... or "" */
	bool cuts;                      /* the call shrinks the file (O_TRUNC, truncate) */
	bool known_size;                /* size_after known */
	uint64_t size_after;
};

/*
 * The process breaking the lease on (dev, ino) and its system call (lease_breaker.c); 0 and an
 * empty *br when none waits. Then its command, executable and uid: both while it still waits.
 */
pid_t mg_breaker_find(dev_t dev, ino_t ino, struct mg_breaker *br) MG_HIDDEN;
void mg_breaker_describe(struct mg_breaker *br) MG_HIDDEN;
/* The thread running the handler (uc: its interrupted context, may be NULL) is breaking the lease
 * on (dev, ino) itself, in a call the signal interrupted. */
bool mg_breaker_is_this_thread(const void *uc, dev_t dev, ino_t ino) MG_HIDDEN;

/* One of this process's windows of the file, from /proc/self/maps, and what the break cuts of it. */
struct mg_lease_win {
	uintptr_t start, end;
	uint64_t offset;
	int prot;
	bool shared;
	uintptr_t cut_from;             /* first address the call unbacks */
	uintptr_t cut_to;               /* end of the part that was backed before */
	bool rescued;
};
#define MG_LEASE_WIN_MAX 32

/* lease_break.c */
void mg_lease_handler(int sig, siginfo_t *si, void *uc) MG_HIDDEN;
void mg_lease_handler_atfork_child(void) MG_HIDDEN;

/* The facts of the lease records (record_lease.c formats them). */
struct mg_lease_break_facts {
	const struct mg_breaker *br;
	dev_t dev;
	ino_t ino;
	const char *path;
	uint64_t size_before;
	const struct mg_lease_win *wins;
	size_t nwins, total, nrescued;
	bool rescue_mode;
	uint64_t held_us;               /* how long the breaker waited on this process */
	uint64_t page_size;
	struct mg_who who;
};

struct mg_lease_unavailable_facts {
	dev_t dev;
	ino_t ino;
	const char *path, *reason;
	int err;
	struct mg_who who;
};

struct mg_lease_signal_facts {
	int from, to;                   /* to <= 0: leases given up */
	const char *reason;             /* static: what the program did with the signal */
	struct mg_who who;
};

void mg_format_lease_break(struct mg_buf *b, bool json, const void *facts, mg_symbolize_fn sym) MG_HIDDEN;
void mg_format_lease_unavailable(struct mg_buf *b, bool json, const void *facts,
				 mg_symbolize_fn sym) MG_HIDDEN;
void mg_format_lease_signal(struct mg_buf *b, bool json, const void *facts, mg_symbolize_fn sym) MG_HIDDEN;

#endif

#define _GNU_SOURCE
#include "lease_state.h"
#include "index.h"
#include "posix_locks.h"
#include "real.h"

#include <sys/syscall.h>

struct mg_lease_slot mg_lease_slots[MG_LEASE_MAX];
int mg_lease_kept_fds[MG_LEASE_KEPT_MAX];

void mg_lease_fd_close(int fd, dev_t dev, ino_t ino)
{
	if (!mg_posix_locked(dev, ino)) {
		MG_SYS1(SYS_close, fd);
		return;
	}
	for (int i = 0; i < MG_LEASE_KEPT_MAX; i++) {   /* for exec (mg_lease_before_exec) */
		int expect = 0;
		if (__atomic_compare_exchange_n(&mg_lease_kept_fds[i], &expect, fd + 1, false,
						__ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
			return;
	}
}

/*
 * The lease state of files this process mapped, as the shared index publishes it (word:
 * MG_IX_LEASE_WORD), and whether a lease_unavailable record was written (one per file): told holds
 * the birth of the file it was written for (mg_lease_told), 0 when none was.
 */
static struct { dev_t dev; ino_t ino; uint32_t word; uint64_t told; } files[MG_LEASE_MAX + 64];
static unsigned files_next;

#define NFILES (sizeof files / sizeof files[0])

static int file_entry(dev_t dev, ino_t ino)
{
	for (unsigned i = 0; i < NFILES; i++)
		if (files[i].dev == dev && files[i].ino == ino)
			return (int)i;
	return -1;
}

/* Plain stores and atomics: also from the lease signal handler. */
int mg_lease_note(dev_t dev, ino_t ino, uint32_t word)
{
	int i = file_entry(dev, ino);
	if (i < 0) {
		i = (int)(__atomic_fetch_add(&files_next, 1, __ATOMIC_RELAXED) % NFILES);
		__atomic_store_n(&files[i].told, 0, __ATOMIC_RELAXED);
		files[i].dev = dev;
		files[i].ino = ino;
	}
	__atomic_store_n(&files[i].word, word, __ATOMIC_RELEASE);
	mg_index_lease_note(dev, ino, word);
	return i;
}

uint32_t mg_lease_word(dev_t dev, ino_t ino)
{
	int i = file_entry(dev, ino);
	return i >= 0 ? __atomic_load_n(&files[i].word, __ATOMIC_ACQUIRE) : 0;
}

bool mg_lease_told(int i, uint64_t birth)
{
	uint64_t mine = birth ? birth : MG_LEASE_BIRTH_UNKNOWN;
	uint64_t was = __atomic_exchange_n(&files[i].told, mine, __ATOMIC_ACQ_REL);
	/* An unknown birth on either side: taken for the same file, as a device and inode say. */
	return was != 0 && (was == mine || was == MG_LEASE_BIRTH_UNKNOWN || mine == MG_LEASE_BIRTH_UNKNOWN);
}

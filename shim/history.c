#define _GNU_SOURCE
#include "history.h"

#include <string.h>

#define SLOTS 64

static struct slot {
	unsigned seq;                   /* odd while being written */
	struct mg_trunc_record r;
} ring[SLOTS];
static unsigned next_slot;

void mg_history_add(const struct mg_trunc_record *r)
{
	struct slot *s = &ring[__atomic_fetch_add(&next_slot, 1, __ATOMIC_RELAXED) % SLOTS];
	__atomic_add_fetch(&s->seq, 1, __ATOMIC_ACQ_REL);
	memcpy(&s->r, r, sizeof *r);
	__atomic_add_fetch(&s->seq, 1, __ATOMIC_RELEASE);
}

bool mg_history_find(dev_t dev, ino_t ino, struct mg_trunc_record *out)
{
	bool found = false;
	struct timespec best = { 0, 0 };
	struct mg_trunc_record tmp;
	for (int i = 0; i < SLOTS; i++) {
		unsigned s1 = __atomic_load_n(&ring[i].seq, __ATOMIC_ACQUIRE);
		if (s1 == 0 || (s1 & 1))
			continue;
		memcpy(&tmp, &ring[i].r, sizeof tmp);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&ring[i].seq, __ATOMIC_RELAXED) != s1)
			continue;
		if (tmp.dev != dev || tmp.ino != ino)
			continue;
		if (!found || tmp.time.tv_sec > best.tv_sec ||
		    (tmp.time.tv_sec == best.tv_sec && tmp.time.tv_nsec > best.tv_nsec)) {
			*out = tmp;
			best = tmp.time;
			found = true;
		}
	}
	return found;
}

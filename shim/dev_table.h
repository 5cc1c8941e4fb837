/*
 * A small table of answers kept per device number (a device's file system does not change while
 * it is mounted): written once per device, read without a lock, from signal handlers too. An
 * entry's state is 0 free, 1 being written, 2 kept; a full table keeps nothing more (the question
 * is asked again).
 */
#ifndef MG_DEV_TABLE_H
#define MG_DEV_TABLE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define MG_DEV_TABLE_SIZE 16

struct mg_dev_table {
	struct { dev_t dev; uint64_t value; int state; } e[MG_DEV_TABLE_SIZE];
};

/* What was kept for dev, into *value; false if nothing was. */
static inline bool mg_dev_table_get(const struct mg_dev_table *t, dev_t dev, uint64_t *value)
{
	for (int i = 0; i < MG_DEV_TABLE_SIZE; i++)
		if (__atomic_load_n(&t->e[i].state, __ATOMIC_ACQUIRE) == 2 && t->e[i].dev == dev) {
			*value = t->e[i].value;
			return true;
		}
	return false;
}

static inline void mg_dev_table_put(struct mg_dev_table *t, dev_t dev, uint64_t value)
{
	for (int i = 0; i < MG_DEV_TABLE_SIZE; i++) {
		int expect = 0;
		if (__atomic_compare_exchange_n(&t->e[i].state, &expect, 1, false, __ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED)) {
			t->e[i].dev = dev;
			t->e[i].value = value;
			__atomic_store_n(&t->e[i].state, 2, __ATOMIC_RELEASE);
			return;
		}
	}
}

#endif

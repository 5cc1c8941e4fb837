#define _GNU_SOURCE
#include "explain_guard.h"
#include "util.h"

#include <elf.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC "mmapguard-state"         /* 16 bytes with its NUL (shim/history.h) */
#define VERSION 1

struct layout {                         /* shim/history.h, struct mg_state_layout */
	char magic[16];
	uint32_t version, header_size;
	uint32_t slots, slot_size, slots_offset, stack_max, call_size;
	uint32_t seq, call, dev, ino, size_before, size_after, tid, thread_name, time, stack_n,
		stack_ip;
};

static bool field_ok(const struct layout *l, uint32_t off, uint64_t size)
{
	return off <= l->slot_size && size <= l->slot_size - off;
}

static const char *check_layout(const struct layout *l)
{
	if (memcmp(l->magic, MAGIC, sizeof l->magic) != 0)
		return "no magic at the symbol's address";
	if (l->version != VERSION)
		return "a layout version this mmapguard does not know";
	if (l->header_size < sizeof *l || l->slots == 0 || l->slots > 4096 || l->slot_size == 0 ||
	    l->slot_size > 65536 || l->slots_offset < l->header_size || l->stack_max > 4096 ||
	    l->call_size == 0 || l->call_size > 4096)
		return "a damaged layout header";
	if (!field_ok(l, l->seq, 4) || !field_ok(l, l->call, l->call_size) || !field_ok(l, l->dev, 8) ||
	    !field_ok(l, l->ino, 8) || !field_ok(l, l->size_before, 8) ||
	    !field_ok(l, l->size_after, 8) || !field_ok(l, l->tid, 4) ||
	    !field_ok(l, l->thread_name, 16) || !field_ok(l, l->time, 16) ||
	    !field_ok(l, l->stack_n, 2) || !field_ok(l, l->stack_ip, (uint64_t)l->stack_max * 8))
		return "a layout whose fields lie outside its slots";
	return NULL;
}

static uint64_t u64_at(const unsigned char *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static uint32_t u32_at(const unsigned char *p) { uint32_t v; memcpy(&v, p, 4); return v; }

static int cmp_cut(const void *a, const void *b)
{
	const struct xcut *x = a, *y = b;
	if (x->sec != y->sec)
		return x->sec < y->sec ? -1 : 1;
	return x->nsec < y->nsec ? -1 : x->nsec > y->nsec;
}

/* Read the state at addr; false (with g->problem) if it is not one. */
static bool read_state(struct xguard *g, const struct core_info *ci, const unsigned char *data,
		       uint64_t addr)
{
	struct layout l;
	if (!core_read(ci, data, addr, &l, sizeof l)) {
		g->problem = xstrdup("its memory is not in the core (no cut was recorded: the page "
				     "was never written)");
		return false;
	}
	if (memcmp(l.magic, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16) == 0) {
		g->problem = xstrdup("its page is empty in the core (no cut was recorded)");
		return false;
	}
	const char *bad = check_layout(&l);
	if (bad) {
		g->problem = xstrdup(bad);
		return false;
	}
	g->found = true;
	g->addr = addr;
	g->version = l.version;
	unsigned char *slot = xmalloc(l.slot_size);
	for (uint32_t i = 0; i < l.slots; i++) {
		if (!core_read(ci, data, addr + l.slots_offset + (uint64_t)i * l.slot_size, slot,
			       l.slot_size))
			continue;               /* a page never written: an empty slot */
		uint32_t seq = u32_at(slot + l.seq);
		if (seq == 0)
			continue;
		if (seq & 1) {
			g->writing++;
			continue;
		}
		g->cuts = xrealloc(g->cuts, (g->ncuts + 1) * sizeof *g->cuts);
		struct xcut *c = &g->cuts[g->ncuts++];
		memset(c, 0, sizeof *c);
		size_t cn = l.call_size < sizeof c->call ? l.call_size : sizeof c->call - 1;
		memcpy(c->call, slot + l.call, cn);
		c->call[cn < sizeof c->call ? cn : sizeof c->call - 1] = 0;
		c->call[sizeof c->call - 1] = 0;
		c->dev = u64_at(slot + l.dev);
		c->ino = u64_at(slot + l.ino);
		c->size_before = u64_at(slot + l.size_before);
		c->size_after = u64_at(slot + l.size_after);
		c->tid = (int)u32_at(slot + l.tid);
		memcpy(c->thread_name, slot + l.thread_name, 16);
		c->thread_name[16] = 0;
		c->sec = (int64_t)u64_at(slot + l.time);
		c->nsec = (int64_t)u64_at(slot + l.time + 8);
		uint16_t n;
		memcpy(&n, slot + l.stack_n, 2);
		if (n > l.stack_max)
			n = (uint16_t)l.stack_max;
		if (n > XCUT_STACK_MAX)
			n = XCUT_STACK_MAX;
		c->nstack = n;
		for (unsigned k = 0; k < n; k++)
			c->ip[k] = u64_at(slot + l.stack_ip + 8 * k);
	}
	free(slot);
	qsort(g->cuts, g->ncuts, sizeof *g->cuts, cmp_cut);
	return true;
}

struct found {
	uint64_t addr;
	char *module;
	bool any;
};

static void on_symbol(uint64_t addr, uint64_t size, const char *module, void *arg)
{
	(void)size;
	struct found *f = arg;
	if (f->any)
		return;                 /* a second copy of the guard passes everything through */
	f->any = true;
	f->addr = addr;
	f->module = xstrdup(module ? module : "");
}

/* The magic, 8-byte aligned, in the writable memory the core holds. */
static bool scan_magic(const struct core_info *ci, const unsigned char *data, uint64_t *addr)
{
	for (size_t i = 0; i < ci->nloads; i++) {
		const struct core_load *ld = &ci->loads[i];
		if (!(ld->flags & PF_W) || ld->filesz < 16)
			continue;
		const unsigned char *p = data + ld->offset, *end = p + ld->filesz;
		while (p < end) {
			const unsigned char *m = memmem(p, (size_t)(end - p), MAGIC, sizeof MAGIC);
			if (!m)
				break;
			uint64_t a = ld->vaddr + (uint64_t)(m - (data + ld->offset));
			struct layout l;
			if (a % 8 == 0 && core_read(ci, data, a, &l, sizeof l) && !check_layout(&l)) {
				*addr = a;
				return true;
			}
			p = m + 1;
		}
	}
	return false;
}

void xguard_read(struct xguard *g, const struct core_info *ci, const unsigned char *data,
		 const struct xstacks *stacks)
{
	memset(g, 0, sizeof *g);
	struct found f = { 0 };
	xstacks_find_symbol(stacks, "mmapguard_state", on_symbol, &f);
	if (f.any) {
		g->loaded = true;
		g->how = "symbol";
		g->module = f.module;
		if (read_state(g, ci, data, f.addr))
			return;
	}
	uint64_t a;
	if (scan_magic(ci, data, &a)) {
		free(g->problem);
		g->problem = NULL;
		g->loaded = true;
		g->how = "magic";
		read_state(g, ci, data, a);
	}
}

void xguard_free(struct xguard *g)
{
	free(g->module);
	free(g->problem);
	free(g->cuts);
	memset(g, 0, sizeof *g);
}

#define _GNU_SOURCE
#include "registry.h"
#include "arena.h"
#include "birth.h"
#include "index.h"
#include "lock.h"
#include "rule.h"
#include "real.h"
#include "thread.h"

#include <errno.h>
#include <stddef.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>

struct file_key {
	dev_t dev;
	ino_t ino;
};

/* One multiply mixes the 16-byte key: a third of uthash's default (Jenkins) on every mapping. */
static inline unsigned file_key_hash(const void *p)
{
	const struct file_key *k = p;
	uint64_t h = ((uint64_t)k->ino ^ ((uint64_t)k->dev << 40 | (uint64_t)k->dev >> 24)) *
		     0x9e3779b97f4a7c15ull;
	return (unsigned)(h >> 32);
}

/* uthash allocates from the arena (called with the registry lock held) and never exits. */
static int reg_oom;
#define HASH_NONFATAL_OOM 1
#define HASH_FUNCTION(keyptr, keylen, hashv) ((hashv) = file_key_hash(keyptr))
#define uthash_malloc(sz) mg_arena_alloc(sz)
#define uthash_free(ptr, sz) mg_arena_free(ptr, sz)
#define uthash_nonfatal_oom(obj) do { reg_oom = 1; } while (0)
#include <uthash.h>

struct mg_file;

/*
 * A node is four cache lines, laid out by who touches them. A descent of the treap by address, and
 * the links an erase rewrites in other nodes (up), are in the first line with the keys (w.start,
 * w.end); a descent of a file's treap by end offset, and the links unlinking a window rewrites in
 * its neighbours there, are in the last. With tens of thousands of windows the nodes an unmap
 * touches besides its own are cache misses: their stores are what the unlock waits for.
 */
struct node {
	struct node *left, *right;      /* treap by w.start */
	struct node *up;                /* its parent there: erased without a descent */
	uint32_t prio;
	/*
	 * No other tracked window of the file adjoins it with the next file offset (prot and flags
	 * aside): the kernel cannot have merged its VMA with another's, so a munmap of exactly this
	 * window removes at least one VMA (mapcount.h). Set when it goes in by the one descent;
	 * cleared for good when a neighbour that could merge comes.
	 */
	bool alone;
	struct mg_window w;
	/* The file's windows: a treap by fend (its first node of each fend), each node heading the
	 * list of the others with that fend. */
	struct node *eleft __attribute__((aligned(64))), *eright;
	struct node *eparent;           /* erased without a descent */
	struct node *snext, *sprev;     /* the file's windows of the same fend, its head first; snext
					 * also chains free nodes */
	struct mg_file *file;
	uint64_t fend;                  /* w.offset + w.end - w.start, while in the file's treap */
	uint32_t eprio;                 /* priority in the file's treap (a node taking another's
					 * place there takes its priority too) */
	bool erep;                      /* in the file's treap; else behind one there, in its list */
};
_Static_assert(offsetof(struct node, w.end) + sizeof(uintptr_t) <= 64, "descent keys in one line");
_Static_assert(offsetof(struct node, erep) / 64 == offsetof(struct node, eleft) / 64,
	       "a file's links in one line");

struct mg_file {
	struct file_key key;
	struct node *by_end;            /* root of the windows' treap by end offset in the file */
	struct node *top;               /* its greatest node: the window that needs the largest size */
	size_t nwindows;
	uint64_t max_end;               /* >= offset + length of every window (never lowered) */
	int32_t ix_slot;                /* slot in the shared index, -1: none */
	/* What the slot holds: the window (a linked node's content changes only with its range). */
	const struct node *pub;
	uintptr_t pub_start, pub_end;
	/* The birth of its windows (birth.h), from the first; mixed: one came with another. */
	uint64_t birth, pub_birth;
	bool mixed;
	UT_hash_handle hh;
};

/*
 * The lock-free readers (mg_reg_find_signal_safe, mg_reg_maybe_overlaps) may walk nodes while the
 * holder of the lock changes them, or read a node that was just removed and is being reused: every
 * field they touch (the tree links and the window) is stored and loaded with relaxed atomic
 * accesses, so that the race is a defined one (and ThreadSanitizer can check the rest). The
 * sequence counter says whether what they read was consistent. Node memory only ever holds nodes
 * (a pool of its own: the arena would hand it to uthash).
 */
#define SET(field, v) __atomic_store_n(&(field), (v), __ATOMIC_RELAXED)
#define GET(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

typedef uint64_t __attribute__((may_alias)) win_word;
_Static_assert(sizeof(struct mg_window) % sizeof(win_word) == 0, "window copied by words");

/* The creation stack is a pointer into the depot: a window is a few words, copied whole. */
static void win_set(struct mg_window *dst, const struct mg_window *src)
{
	win_word *d = (win_word *)dst;
	const win_word *s = (const win_word *)src;
	#pragma GCC unroll 64
	for (size_t i = 0; i < sizeof *dst / sizeof *d; i++)
		__atomic_store_n(&d[i], s[i], __ATOMIC_RELAXED);
}

static void win_get(struct mg_window *dst, const struct mg_window *src)
{
	win_word *d = (win_word *)dst;
	const win_word *s = (const win_word *)src;
	#pragma GCC unroll 64
	for (size_t i = 0; i < sizeof *dst / sizeof *d; i++)
		d[i] = __atomic_load_n(&s[i], __ATOMIC_RELAXED);
}

static struct node *node_pool;          /* free nodes, chained through snext */
/* Nodes given back without the lock (mg_reg_release), chained through snext: the next node_alloc
 * takes them all at once (pushes and one exchange: no ABA). */
static struct node *node_returned;
static char *node_cur, *node_end;       /* the pool's current chunk */
#define NODE_SIZE ((sizeof(struct node) + 63) & ~(size_t)63)
#define NODE_CHUNK ((size_t)64 << 10)

static struct node *node_alloc(void)
{
	struct node *n = node_pool;
	if (!n)
		n = __atomic_exchange_n(&node_returned, NULL, __ATOMIC_ACQUIRE);
	if (n) {
		node_pool = n->snext;
		return n;
	}
	if ((size_t)(node_end - node_cur) < NODE_SIZE) {
		char *c = mg_pages_alloc(NODE_CHUNK);   /* page aligned */
		if (!c)
			return NULL;
		node_cur = c;
		node_end = c + NODE_CHUNK;
	}
	n = (struct node *)(void *)node_cur;
	node_cur += NODE_SIZE;
	return n;
}

static void node_free(struct node *n)
{
	n->snext = node_pool;
	node_pool = n;
}

static struct node *root;
/* The window inserted last, while it is in the tree (node_detach forgets it), and the windows of
 * the lowest and the highest start: treap_insert_near starts from them. */
static struct node *finger, *lowest, *highest;
static struct mg_file *files;
/*
 * The last file to lose its last window stays in the table, empty: a program that maps and unmaps
 * the same file in a loop does not add and delete its entry every time.
 */
static struct mg_file *spare_file;
/* The file found last: programs map, unmap and check the same file again and again. */
static struct mg_file *last_file;
size_t mg_reg_n_maps;                   /* windows: read lock-free by mg_reg_nmaps() */
#define n_maps mg_reg_n_maps
static size_t n_files;                  /* files with at least one window */
static uint64_t all_max_end;            /* >= offset + length of every window; 0 when none */
/* Every window lies inside [addr_lo, addr_hi) (never narrowed but when the last one goes). */
static uintptr_t addr_lo = UINTPTR_MAX, addr_hi;
static uint32_t prio_state = 0x9e3779b9u;
/* Odd while the tree is being changed: lets a signal handler read without the lock. 64 bits: a
 * value seen once is never seen again (mg_reg_seen). */
static uint64_t reg_seq;

/*
 * Ranges a signal handler stopped being file mappings (a lease rescue): queued without a lock,
 * forgotten by the next thread that takes it.
 */
#define DEFERRED_MAX 64
static struct { uintptr_t a, b; } deferred[DEFERRED_MAX];
static unsigned deferred_n;

void mg_reg_remove_deferred(uintptr_t a, uintptr_t b)
{
	unsigned i = __atomic_fetch_add(&deferred_n, 1, __ATOMIC_ACQ_REL);
	if (i < DEFERRED_MAX) {
		__atomic_store_n(&deferred[i].a, a, __ATOMIC_RELAXED);
		__atomic_store_n(&deferred[i].b, b, __ATOMIC_RELEASE);
	}
}

/* Out of line: mg_reg_lock itself then needs no registers saved. */
static __attribute__((noinline)) void drain_deferred(void)
{
	unsigned n = __atomic_exchange_n(&deferred_n, 0, __ATOMIC_ACQ_REL);
	for (unsigned i = 0; i < n && i < DEFERRED_MAX; i++) {
		uintptr_t b = __atomic_load_n(&deferred[i].b, __ATOMIC_ACQUIRE);
		uintptr_t a = __atomic_load_n(&deferred[i].a, __ATOMIC_RELAXED);
		if (b > a)
			mg_reg_remove_locked(a, b);
		deferred[i].b = 0;
	}
	/* The tree may have changed since this lock was taken: what was seen before is stale. */
	__atomic_store_n(&reg_seq, reg_seq + 2, __ATOMIC_RELAXED);
}

/*
 * The guard is raised while the lock is held: a signal handler that interrupts the holder and
 * calls ftruncate/close/... (async-signal-safe in libc) goes straight through instead of waiting
 * for a lock its own thread holds.
 */
void mg_reg_lock(void)
{
	mg_lock(&mg_registry_lock);
	/* Only the holder writes the counter: plain stores, ordered by fences (free on x86). */
	__atomic_store_n(&reg_seq, reg_seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	if (mg_unlikely(__atomic_load_n(&deferred_n, __ATOMIC_ACQUIRE)))
		drain_deferred();
}

void mg_reg_unlock(void)
{
	__atomic_store_n(&reg_seq, reg_seq + 1, __ATOMIC_RELEASE);
	mg_unlock(&mg_registry_lock);
}

bool mg_reg_lock_mine(void) { return mg_lock_mine(&mg_registry_lock); }

void mg_reg_atfork_prepare(void)
{
	bool mine = mg_lock_mine(&mg_registry_lock);
	mg_lock_prepare(&mg_registry_lock);
	if (!mine)
		__atomic_store_n(&reg_seq, reg_seq + 1, __ATOMIC_RELAXED);
}

void mg_reg_atfork_parent(void)
{
	if (mg_registry_lock.forking == mg_thread_tid())
		__atomic_store_n(&reg_seq, reg_seq + 1, __ATOMIC_RELEASE);
	mg_lock_parent(&mg_registry_lock);
}

void mg_reg_atfork_child(pid_t me)
{
	/* The child's only thread is this one; its mappings are the parent's, and still its own. */
	bool mine = mg_registry_lock.forking != me && __atomic_load_n(&mg_registry_lock.owner,
								     __ATOMIC_RELAXED) == me;
	if (mg_lock_child(&mg_registry_lock, me)) {
		/* Another thread was changing the tree when this process was cloned off (no fork
		 * handler ran): start empty rather than walk a half-rotated treap. */
		root = NULL;
		finger = lowest = highest = NULL;
		files = NULL;
		spare_file = NULL;
		last_file = NULL;
		node_pool = NULL;
		__atomic_store_n(&node_returned, NULL, __ATOMIC_RELAXED);
		__atomic_store_n(&n_maps, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&n_files, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&all_max_end, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&addr_lo, UINTPTR_MAX, __ATOMIC_RELAXED);
		__atomic_store_n(&addr_hi, 0, __ATOMIC_RELAXED);
		mg_arena_forget();
	}
	/* Even again, and past every value seen before the fork: an interrupted munmap's
	 * mg_reg_seen must never match after the tree changed. */
	if (!mine)
		__atomic_store_n(&reg_seq, (reg_seq | 1) + 1, __ATOMIC_RELAXED);
}


size_t mg_reg_nfiles(void) { return __atomic_load_n(&n_files, __ATOMIC_RELAXED); }
uint64_t mg_reg_max_end(void) { return __atomic_load_n(&all_max_end, __ATOMIC_RELAXED); }

/* ---- treap ---------------------------------------------------------------------------------- */

static uint32_t next_prio(void)
{
	uint32_t x = prio_state;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	prio_state = x;
	return x;
}

/*
 * Iterative, and nothing on the path above the new node is written: down the nodes of higher
 * priority, then the subtree found there is split by key into the new node's two children.
 */
static void treap_split_into(struct node **link, struct node *up, struct node *n)
{
	if (!lowest || n->w.start < lowest->w.start)
		lowest = n;
	if (!highest || n->w.start > highest->w.start)
		highest = n;
	struct node *t = *link, **l = &n->left, **r = &n->right, *lp = n, *rp = n;
	n->up = up;
	while (t) {
		if (t->w.start < n->w.start) {
			SET(*l, t);
			t->up = lp;
			lp = t;
			l = &t->right;
			t = t->right;
		} else {
			SET(*r, t);
			t->up = rp;
			rp = t;
			r = &t->left;
			t = t->left;
		}
	}
	SET(*l, NULL);
	SET(*r, NULL);
	SET(*link, n);
}

static void treap_insert(struct node *n)
{
	struct node **link = &root, *up = NULL;
	while (*link && (*link)->prio >= n->prio) {
		up = *link;
		link = n->w.start < up->w.start ? &up->left : &up->right;
	}
	treap_split_into(link, up, n);
}

/* l ends where r starts, in the same file at the next offset: the kernel may have merged them. */
static bool adjoins(const struct node *l, const struct node *r)
{
	return l->w.end == r->w.start && l->w.dev == r->w.dev && l->w.ino == r->w.ino &&
	       l->w.offset + (l->w.end - l->w.start) == r->w.offset;
}

/* The link that points at n in the treap by address: its parent's, or the root. */
static struct node **link_to(struct node *n)
{
	struct node *up = n->up;
	return !up ? &root : up->left == n ? &up->left : &up->right;
}

/* n went in between lo and hi: which of them the kernel may have merged it with. */
static void note_neighbours(struct node *n, struct node *lo, struct node *hi)
{
	bool lo_joins = lo && adjoins(lo, n), hi_joins = hi && adjoins(n, hi);
	n->alone = !lo_joins && !hi_joins;
	if (lo_joins)
		lo->alone = false;
	if (hi_joins)
		hi->alone = false;
}

/*
 * n goes in unless a window overlaps it (false: nothing changed). One descent tells: the search
 * path for n's start passes the place n takes, and its last turns are n's two neighbours.
 */
static bool treap_insert_free(struct node *n)
{
	uintptr_t key = n->w.start;
	struct node **link = &root, *up = NULL, *lo = NULL, *hi = NULL;
	/* down the nodes of higher priority to the place n takes, then on to a leaf */
	while (*link && (*link)->prio >= n->prio) {
		up = *link;
		if (up->w.start < key) {
			lo = up;
			link = &up->right;
		} else {
			hi = up;
			link = &up->left;
		}
	}
	struct node **at = link, *at_up = up;
	for (struct node *t = *link; t;) {
		if (t->w.start < key) {
			lo = t;
			t = t->right;
		} else {
			hi = t;
			t = t->left;
		}
	}
	if ((lo && lo->w.end > key) || (hi && hi->w.start < n->w.end))
		return false;
	treap_split_into(at, at_up, n);
	note_neighbours(n, lo, hi);
	return true;
}

/* The windows just before and just after t, through the parent links. */
static struct node *prev_node(struct node *t)
{
	if (t->left) {
		for (t = t->left; t->right; t = t->right)
			;
		return t;
	}
	while (t->up && t->up->left == t)
		t = t->up;
	return t->up;
}

static struct node *next_node(struct node *t)
{
	if (t->right) {
		for (t = t->right; t->left; t = t->left)
			;
		return t;
	}
	while (t->up && t->up->right == t)
		t = t->up;
	return t->up;
}

/*
 * The kernel places mappings one below the other: the next window usually goes in the free gap
 * just below (or above) the last one. Its place is found from there, not by a descent from the
 * root: the leaf link where the descent for its start would end is the last window's empty child
 * link on that side, else its neighbour's; up from there while the parent ranks below n, n takes
 * the place of the highest such node (the descent stops at the same one: priorities only grow
 * going up). false: it is not in that gap (nothing changed).
 */
static bool treap_insert_near(struct node *n)
{
	struct node *f = finger, *lo, *hi, *up, **link;
	if (!f)
		return false;
	if (n->w.end <= f->w.start) {
		hi = up = f;
		link = &f->left;
		if (f->left) {          /* the greatest below f: its right link is empty */
			for (lo = f->left; lo->right; lo = lo->right)
				;
			up = lo;
			link = &lo->right;
		} else {
			lo = f == lowest ? NULL : prev_node(f);    /* not up the whole left spine */
		}
		if (lo && (lo->w.start >= n->w.start || lo->w.end > n->w.start))
			return false;
	} else if (n->w.start >= f->w.end) {
		lo = up = f;
		link = &f->right;
		if (f->right) {
			for (hi = f->right; hi->left; hi = hi->left)
				;
			up = hi;
			link = &hi->left;
		} else {
			hi = f == highest ? NULL : next_node(f);
		}
		if (hi && hi->w.start < n->w.end)
			return false;
	} else {
		return false;
	}
	while (up && up->prio < n->prio) {
		link = link_to(up);
		up = up->up;
	}
	treap_split_into(link, up, n);
	note_neighbours(n, lo, hi);
	return true;
}

/* Out of the tree through its parent link: its two subtrees (all of the left's keys below the
 * right's) are merged into that link, top down. */
static void treap_erase(struct node *n)
{
	if (n == lowest)
		lowest = next_node(n);
	if (n == highest)
		highest = prev_node(n);
	struct node *up = n->up;
	struct node **link = link_to(n);
	struct node *a = n->left, *b = n->right;
	while (a && b) {
		if (a->prio > b->prio) {
			SET(*link, a);
			a->up = up;
			up = a;
			link = &a->right;
			a = a->right;
		} else {
			SET(*link, b);
			b->up = up;
			up = b;
			link = &b->left;
			b = b->left;
		}
	}
	struct node *c = a ? a : b;
	SET(*link, c);
	if (c)
		c->up = up;
}

/* Greatest start <= key. */
static struct node *floor_node(uintptr_t key)
{
	struct node *t = root, *best = NULL;
	while (t) {
		if (t->w.start <= key) {
			best = t;
			t = t->right;
		} else {
			t = t->left;
		}
	}
	return best;
}

/* Smallest start >= key. */
static struct node *ceil_node(uintptr_t key)
{
	struct node *t = root, *best = NULL;
	while (t) {
		if (t->w.start >= key) {
			best = t;
			t = t->left;
		} else {
			t = t->right;
		}
	}
	return best;
}

/*
 * First window overlapping [a, b), or NULL. One descent finds both the window starting at or
 * before a and the first one starting after it (with many windows each level is a cache miss).
 */
static struct node *first_overlap(uintptr_t a, uintptr_t b)
{
	struct node *t = root, *lo = NULL, *hi = NULL;
	while (t) {
		if (t->w.start <= a) {
			lo = t;
			t = t->right;
		} else {
			hi = t;
			t = t->left;
		}
	}
	if (lo && lo->w.end > a)
		return lo;
	return (hi && hi->w.start < b) ? hi : NULL;
}

/* ---- files ---------------------------------------------------------------------------------- */

static struct mg_file *file_find(dev_t dev, ino_t ino)
{
	struct mg_file *f = last_file;
	if (f && f->key.dev == dev && f->key.ino == ino)
		return f;
	struct file_key key;
	memset(&key, 0, sizeof key);
	key.dev = dev;
	key.ino = ino;
	f = NULL;
	HASH_FIND(hh, files, &key, sizeof key, f);
	if (f)
		last_file = f;
	return f;
}

/*
 * Each file's windows are kept by their end in the file, so that the window that needs the largest
 * file size is found in O(1) and kept in O(log d), d the number of distinct ends (a walk of a list
 * of the file's windows on every change cost O(n) per mapping, O(n^2) for n windows of one file),
 * and a cut visits only the windows that end past the new size. This is the file's only list of
 * its windows: another would rewrite a neighbour's cold line on every unmap. The ends are a treap;
 * each node in it heads the list of the windows with its end, so that many windows of few distinct
 * ends (pages of one file mapped again and again) cost a short descent and a list link, not a
 * descent among all of them. A new window goes right behind the head: the treap's nodes stay the
 * same (their lines stay in the cache, the file's top and its slot in the shared index stay as they
 * are) until a head goes. The greatest end's head is the file's top. Only the registry lock's
 * holder reads it. A window's end changes only while it is out of it.
 */

/* n takes old's place in the treap (same fend), with its priority and links. */
static void by_end_replace(struct mg_file *f, struct node *old, struct node *n)
{
	n->eleft = old->eleft;
	n->eright = old->eright;
	n->eparent = old->eparent;
	n->eprio = old->eprio;
	n->erep = true;
	old->erep = false;
	if (n->eleft)
		n->eleft->eparent = n;
	if (n->eright)
		n->eright->eparent = n;
	struct node *up = n->eparent;
	if (!up)
		f->by_end = n;
	else if (up->eleft == old)
		up->eleft = n;
	else
		up->eright = n;
	if (f->top == old)
		f->top = n;
}

static void by_end_insert(struct mg_file *f, struct node *n)
{
	const uint64_t e = n->w.offset + (n->w.end - n->w.start);
	n->fend = e;
	n->sprev = NULL;
	struct node *t = f->by_end;
	while (t && t->fend != e)
		t = e < t->fend ? t->eleft : t->eright;
	if (t) {                /* that end is there: n goes right behind the head of its list */
		n->erep = false;
		n->sprev = t;
		n->snext = t->snext;
		if (t->snext)
			t->snext->sprev = n;
		t->snext = n;
		return;
	}
	n->snext = NULL;
	n->erep = true;
	n->eprio = n->prio;
	struct node **link = &f->by_end, *up = NULL;
	while (*link && (*link)->eprio >= n->eprio) {
		up = *link;
		link = e < up->fend ? &up->eleft : &up->eright;
	}
	n->eparent = up;
	struct node **l = &n->eleft, **r = &n->eright, *lp = n, *rp = n;
	t = *link;
	while (t) {
		if (t->fend < e) {
			*l = t;
			t->eparent = lp;
			lp = t;
			l = &t->eright;
			t = t->eright;
		} else {
			*r = t;
			t->eparent = rp;
			rp = t;
			r = &t->eleft;
			t = t->eleft;
		}
	}
	*l = NULL;
	*r = NULL;
	*link = n;
	if (!f->top || f->top->fend < e)
		f->top = n;
}

static void by_end_erase(struct mg_file *f, struct node *n)
{
	if (!n->erep) {         /* behind the head of its end's list */
		n->sprev->snext = n->snext;
		if (n->snext)
			n->snext->sprev = n->sprev;
		return;
	}
	if (n->snext) {         /* the next of that end takes its place */
		struct node *s = n->snext;
		s->sprev = NULL;
		by_end_replace(f, n, s);
		return;
	}
	n->erep = false;
	if (f->top == n) {
		/* The greatest node's predecessor: the greatest of its left subtree, else its parent
		 * (it lies on the right spine). */
		struct node *p = n->eleft;
		if (p)
			while (p->eright)
				p = p->eright;
		f->top = p ? p : n->eparent;
	}
	struct node *up = n->eparent;
	struct node **link = !up ? &f->by_end : up->eleft == n ? &up->eleft : &up->eright;
	/* Merge the two subtrees (all of a's keys below b's) into the link, iteratively. */
	struct node *a = n->eleft, *b = n->eright;
	while (a && b) {
		if (a->eprio > b->eprio) {
			*link = a;
			a->eparent = up;
			up = a;
			link = &a->eright;
			a = a->eright;
		} else {
			*link = b;
			b->eparent = up;
			up = b;
			link = &b->eleft;
			b = b->eleft;
		}
	}
	*link = a ? a : b;
	if (*link)
		(*link)->eparent = up;
}

static const struct node *by_end_max(const struct mg_file *f) { return f->top; }

/* The node of the next smaller end offset in t's file treap (in order, through the parent links). */
static const struct node *by_end_prev(const struct node *t)
{
	if (t->eleft) {
		t = t->eleft;
		while (t->eright)
			t = t->eright;
		return t;
	}
	while (t->eparent && t->eparent->eleft == t)
		t = t->eparent;
	return t->eparent;
}

/* A linked window's end moves: out of the file's treap and back in. */
static void node_set_end(struct node *n, uintptr_t end)
{
	by_end_erase(n->file, n);
	SET(n->w.end, end);
	by_end_insert(n->file, n);
}

/* The file's windows changed: tell the shared index (plain stores into a shared mapping). */
static void file_publish(struct mg_file *f)
{
	if (mg_likely(!__atomic_load_n(&mg_index_on, __ATOMIC_RELAXED)))
		return;
	const struct node *best = by_end_max(f);
	if (f->nwindows == 0 || !best) {
		mg_index_drop_locked(&f->ix_slot);
		return;
	}
	/* Unchanged (a window added or removed that does not need the largest size): no rewrite. */
	uint64_t birth = f->mixed ? 0 : f->birth;
	if (f->ix_slot >= 0 && best == f->pub && best->w.start == f->pub_start && best->w.end == f->pub_end &&
	    birth == f->pub_birth)
		return;
	uint64_t safe = mg_rule_safe_size(best->w.offset, best->w.end - best->w.start, mg_page_size());
	mg_index_put_locked(&f->ix_slot, f->key.dev, f->key.ino, safe, &best->w, birth);
	f->pub_birth = birth;
	f->pub = best;
	f->pub_start = best->w.start;
	f->pub_end = best->w.end;
}

static void file_drop(struct mg_file *f)
{
	if (last_file == f)
		last_file = NULL;
	HASH_DEL(files, f);
	mg_arena_free(f, sizeof *f);
}

/* f has no window left: it becomes the spare, and the previous spare goes. */
static void file_emptied(struct mg_file *f)
{
	f->max_end = 0;
	if (spare_file && spare_file != f)
		file_drop(spare_file);
	spare_file = f;
}

static struct mg_file *file_get(dev_t dev, ino_t ino)
{
	struct mg_file *f = file_find(dev, ino);
	if (f) {
		if (f == spare_file)
			spare_file = NULL;
		return f;
	}
	f = mg_arena_alloc(sizeof *f);
	if (!f)
		return NULL;
	f->key.dev = dev;
	f->key.ino = ino;
	f->ix_slot = -1;
	reg_oom = 0;
	HASH_ADD(hh, files, key, sizeof f->key, f);
	if (reg_oom) {
		mg_arena_free(f, sizeof *f);
		return NULL;
	}
	return f;
}

static void file_link(struct mg_file *f, struct node *n)
{
	if (f->nwindows == 0) {
		__atomic_store_n(&n_files, n_files + 1, __ATOMIC_RELAXED);
		f->birth = n->w.birth;
		f->mixed = false;
	} else if (n->w.birth != f->birth) {
		f->mixed = true;
	}
	n->file = f;
	f->nwindows++;
	by_end_insert(f, n);
	uint64_t end = n->w.offset + (n->w.end - n->w.start);
	if (end > f->max_end)
		f->max_end = end;
	if (end > all_max_end)
		__atomic_store_n(&all_max_end, end, __ATOMIC_RELAXED);
	file_publish(f);
}

static void file_unlink(struct node *n)
{
	struct mg_file *f = n->file;
	f->nwindows--;
	by_end_erase(f, n);
	file_publish(f);
	if (f->nwindows == 0) {
		__atomic_store_n(&n_files, n_files - 1, __ATOMIC_RELAXED);
		file_emptied(f);
	}
}

/* ---- windows -------------------------------------------------------------------------------- */

/* A node for w, not linked anywhere yet. */
static struct node *node_make(const struct mg_window *w)
{
	struct node *n = node_alloc();
	if (!n)
		return NULL;
	win_set(&n->w, w);
	SET(n->left, NULL);
	SET(n->right, NULL);
	n->prio = next_prio();
	n->alone = false;
	return n;
}

/* Before a window goes into the tree: the span of all windows covers it. */
static void span_cover(const struct node *n)
{
	if (n->w.start < addr_lo)
		__atomic_store_n(&addr_lo, n->w.start, __ATOMIC_RELEASE);
	if (n->w.end > addr_hi)
		__atomic_store_n(&addr_hi, n->w.end, __ATOMIC_RELEASE);
}

/* n, in the tree, joins f's windows. */
static void node_link(struct node *n, struct mg_file *f)
{
	file_link(f, n);
	__atomic_store_n(&n_maps, n_maps + 1, __ATOMIC_RELAXED);
}

/* Out of the tree and its file's; the memory stays the caller's. */
static void node_detach(struct node *n)
{
	/* Its neighbours of the same end offset: their lines come while the erase runs. */
	__builtin_prefetch(n->snext, 1);
	__builtin_prefetch(n->sprev, 1);
	treap_erase(n);
	file_unlink(n);
	n->file = NULL;
	if (finger == n)
		finger = NULL;
	__atomic_store_n(&n_maps, n_maps - 1, __ATOMIC_RELAXED);
	if (n_maps == 0) {
		__atomic_store_n(&all_max_end, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&addr_lo, UINTPTR_MAX, __ATOMIC_RELAXED);
		__atomic_store_n(&addr_hi, 0, __ATOMIC_RELAXED);
	}
}

static void node_delete(struct node *n)
{
	node_detach(n);
	node_free(n);
}

/* Move a window's start (its treap key) to new_start, keeping file offsets consistent. */
static void node_move_start(struct node *n, uintptr_t new_start)
{
	treap_erase(n);
	SET(n->left, NULL);
	SET(n->right, NULL);
	SET(n->w.offset, n->w.offset + (new_start - n->w.start));
	SET(n->w.start, new_start);
	treap_insert(n);
	file_publish(n->file);
}

bool mg_reg_overlaps_locked(uintptr_t a, uintptr_t b)
{
	return a < b && first_overlap(a, b) != NULL;
}

/*
 * A hole [a, b) in the middle of n: n keeps the head, the tail becomes a new window. Out of line:
 * the copy of a window is large, and removal runs in wrappers called from signal handlers.
 */
static __attribute__((noinline)) int split(struct node *n, uintptr_t a, uintptr_t b)
{
	struct mg_window tail = n->w;
	tail.start = b;
	tail.offset += b - n->w.start;
	node_set_end(n, a);
	struct node *t = node_make(&tail);
	if (!t)
		return -ENOMEM;
	span_cover(t);
	treap_insert(t);
	node_link(t, n->file);
	return 0;
}

int mg_reg_remove_locked(uintptr_t a, uintptr_t b)
{
	int ret = 0;
	struct node *n = a < b ? first_overlap(a, b) : NULL;
	while (n && n->w.start < b) {
		struct node *next = ceil_node(n->w.start + 1);
		uintptr_t s = n->w.start, e = n->w.end;
		if (a <= s && e <= b) {
			node_delete(n);
		} else if (s < a && b < e) {
			if (split(n, a, b) < 0)
				ret = -ENOMEM;  /* the tail is forgotten: never a false report */
			file_publish(n->file);
		} else if (s < a) {
			node_set_end(n, a);
			file_publish(n->file);
		} else {
			node_move_start(n, b);
		}
		n = next;
	}
	return ret;
}

int mg_reg_insert_locked(const struct mg_window *w)
{
	if (w->start >= w->end)
		return 0;
	struct node *n = node_make(w);
	if (!n) {
		mg_reg_remove_locked(w->start, w->end);
		return -ENOMEM;
	}
	/* Usually nothing is there: the descent that places the node tells. */
	span_cover(n);
	if (!treap_insert_near(n) && !treap_insert_free(n)) {
		mg_reg_remove_locked(w->start, w->end);
		span_cover(n);          /* the removal may have emptied the registry */
		treap_insert(n);
	}
	/* After the removal: it may empty this very file. */
	struct mg_file *f = file_get(w->dev, w->ino);
	if (!f) {
		treap_erase(n);
		node_free(n);
		return -ENOMEM;
	}
	node_link(n, f);
	finger = n;
	return 0;
}

/* Copies of the windows' parts inside [a, b), in address order, chained through ->left. */
static int collect_pieces(uintptr_t a, uintptr_t b, struct node **out)
{
	struct node *pieces = NULL, **tail = &pieces;
	for (struct node *n = first_overlap(a, b); n && n->w.start < b; n = ceil_node(n->w.start + 1)) {
		struct node *p = node_alloc();
		if (!p) {
			*out = pieces;
			return -ENOMEM;
		}
		struct mg_window w = n->w;
		if (w.start < a) {
			w.offset += a - w.start;
			w.start = a;
		}
		if (w.end > b)
			w.end = b;
		win_set(&p->w, &w);
		p->alone = false;
		SET(p->left, NULL);
		SET(*tail, p);
		tail = &p->left;
	}
	*out = pieces;
	return 0;
}

void mg_reg_release_locked(struct mg_pieces *list)
{
	for (struct node *p = (struct node *)list, *next; p; p = next) {
		next = p->left;
		node_free(p);
	}
}

void mg_reg_release(struct mg_pieces *list)
{
	struct node *first = (struct node *)list, *last = first;
	if (!first)
		return;
	for (struct node *p = first; p; p = p->snext) {
		p->snext = GET(p->left);
		last = p;
	}
	struct node *head = __atomic_load_n(&node_returned, __ATOMIC_RELAXED);
	do
		last->snext = head;
	while (!__atomic_compare_exchange_n(&node_returned, &head, first, true, __ATOMIC_RELEASE,
					    __ATOMIC_RELAXED));
}

/*
 * The first window overlapping [a, b): the one seen without the lock when the tree has not changed
 * since (the only lock taken since is the caller's) and it holds a, else a descent.
 */
static struct node *first_overlap_seen(uintptr_t a, uintptr_t b, const struct mg_reg_seen *seen)
{
	if (seen && seen->last && seen->seq + 1 == reg_seq) {
		struct node *n = (struct node *)seen->last;
		if (n->w.start <= a && a < n->w.end)
			return n;
	}
	return a < b ? first_overlap(a, b) : NULL;
}

/* Parts of windows, or several: copies go out, and the registry forgets the range unless copy. */
static __attribute__((noinline)) int detach_pieces(uintptr_t a, uintptr_t b, bool copy,
						    struct mg_pieces **out)
{
	struct node *pieces;
	if (collect_pieces(a, b, &pieces) < 0) {
		mg_reg_release_locked((struct mg_pieces *)pieces);
		return -ENOMEM;
	}
	if (!copy)
		mg_reg_remove_locked(a, b);
	*out = (struct mg_pieces *)pieces;
	return 0;
}

int mg_reg_detach_locked(uintptr_t a, uintptr_t b, bool copy, struct mg_pieces **out)
{
	return mg_reg_detach_seen_locked(a, b, copy, NULL, out);
}

int mg_reg_detach_seen_locked(uintptr_t a, uintptr_t b, bool copy, const struct mg_reg_seen *seen,
			      struct mg_pieces **out)
{
	*out = NULL;
	struct node *n = a < b ? first_overlap_seen(a, b, seen) : NULL;
	if (!n)
		return 0;
	/* Windows do not overlap: when n ends at b, no other one starts before b. */
	struct node *next = n->w.end >= b ? NULL : ceil_node(n->w.start + 1);
	if (!copy && a <= n->w.start && n->w.end <= b && !(next && next->w.start < b)) {
		/* The usual munmap: exactly one whole window. The node itself is the piece. */
		node_detach(n);
		SET(n->left, NULL);
		*out = (struct mg_pieces *)n;
		return 0;
	}
	return detach_pieces(a, b, copy, out);
}

bool mg_reg_pieces_whole_alone(const struct mg_pieces *list, uintptr_t a, uintptr_t b)
{
	const struct node *p = (const struct node *)list;
	return p && !GET(p->left) && p->alone && p->w.start == a && p->w.end == b;
}

/* One mapping cut in two by the registry only: l ends where r starts, and both came from one call. */
static bool one_mapping(const struct mg_window *l, const struct mg_window *r)
{
	return l->end == r->start && l->dev == r->dev && l->ino == r->ino &&
	       l->offset + (l->end - l->start) == r->offset && l->prot == r->prot &&
	       l->shared == r->shared && l->origin == r->origin && l->tid == r->tid &&
	       l->created.tv_sec == r->created.tv_sec && l->created.tv_nsec == r->created.tv_nsec &&
	       l->size_at_map == r->size_at_map && mg_win_stack(l) == mg_win_stack(r) &&
	       memcmp(l->thread_name, r->thread_name, sizeof l->thread_name) == 0;
}

/* The window at start was put back: join it to the neighbours it was split from. */
static void join_at(uintptr_t start)
{
	struct node *n = floor_node(start);
	if (!n || n->w.start != start)
		return;
	struct node *l = start ? floor_node(start - 1) : NULL;
	if (l && one_mapping(&l->w, &n->w)) {
		node_set_end(l, n->w.end);
		node_delete(n);
		file_publish(l->file);
		n = l;
	}
	struct node *r = ceil_node(n->w.end);
	if (r && one_mapping(&n->w, &r->w)) {
		node_set_end(n, r->w.end);
		node_delete(r);
		file_publish(n->file);
	}
}

void mg_reg_restore_locked(struct mg_pieces *list)
{
	for (struct node *p = (struct node *)list; p; p = p->left) {
		mg_reg_insert_locked(&p->w);
		join_at(p->w.start);
	}
	mg_reg_release_locked(list);
}

int mg_reg_moved_locked(struct mg_pieces *list, uintptr_t old, size_t oldlen, uintptr_t neu,
			size_t newlen)
{
	size_t page = mg_page_size();
	oldlen = mg_round_up(oldlen, page);
	newlen = mg_round_up(newlen, page);
	int ret = 0;
	for (struct node *p = (struct node *)list, *next; p; p = next) {
		next = p->left;
		struct mg_window w = p->w;
		bool reaches_end = w.end == old + oldlen;
		w.start = neu + (w.start - old);
		w.end = neu + (w.end - old);
		if (reaches_end && newlen > oldlen)
			w.end = neu + newlen;       /* growing extends the last window */
		if (w.end > neu + newlen)
			w.end = neu + newlen;       /* shrinking cuts it */
		if (w.start < w.end && mg_reg_insert_locked(&w) < 0)
			ret = -ENOMEM;
		node_free(p);
	}
	return ret;
}

int mg_reg_mremap_locked(uintptr_t old, size_t oldlen, uintptr_t neu, size_t newlen, bool dontunmap)
{
	size_t page = mg_page_size();
	oldlen = mg_round_up(oldlen, page);
	newlen = mg_round_up(newlen, page);

	if (oldlen == 0) {
		/* mremap(old, 0, ...) makes a second mapping of the same shared pages. */
		struct node *n = floor_node(old);
		if (!n || n->w.end <= old)
			return mg_reg_remove_locked(neu, neu + newlen);     /* an untracked source */
		struct mg_window w = n->w;
		w.offset += old - w.start;
		w.start = neu;
		w.end = neu + newlen;
		return mg_reg_insert_locked(&w);
	}

	/* Collect the moved pieces first: the source and destination may overlap. */
	struct node *pieces;
	int ret = collect_pieces(old, old + oldlen, &pieces);
	if (!dontunmap)
		mg_reg_remove_locked(old, old + oldlen);
	mg_reg_remove_locked(neu, neu + newlen);
	if (mg_reg_moved_locked((struct mg_pieces *)pieces, old, oldlen, neu, newlen) < 0)
		ret = -ENOMEM;
	return ret;
}

bool mg_reg_find_locked(uintptr_t addr, struct mg_window *out)
{
	struct node *n = floor_node(addr);
	if (!n || n->w.end <= addr)
		return false;
	if (out)
		*out = n->w;
	return true;
}

/*
 * Lock-free lookup for the SIGBUS handler. Nodes are never unmapped, so a racing read is memory-safe;
 * the sequence counter says whether the copy is consistent. Steps are bounded because a concurrent
 * rotation can briefly send a reader the wrong way.
 */
int mg_reg_find_signal_safe(uintptr_t addr, struct mg_window *out)
{
	for (int attempt = 0; attempt < 2000; attempt++) {
		uint64_t s1 = __atomic_load_n(&reg_seq, __ATOMIC_ACQUIRE);
		bool last = attempt == 1999;
		if ((s1 & 1) && !last) {
			if (attempt > 100)
				MG_SYS0(SYS_sched_yield);
			continue;
		}
		struct node *t = __atomic_load_n(&root, __ATOMIC_ACQUIRE), *best = NULL;
		for (int steps = 0; t && steps < 256; steps++) {
			if (GET(t->w.start) <= addr) {
				best = t;
				t = __atomic_load_n(&t->right, __ATOMIC_RELAXED);
			} else {
				t = __atomic_load_n(&t->left, __ATOMIC_RELAXED);
			}
		}
		bool hit = false;
		if (best) {
			win_get(out, &best->w);
			hit = out->start <= addr && addr < out->end;
		}
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		uint64_t s2 = __atomic_load_n(&reg_seq, __ATOMIC_RELAXED);
		if (s1 == s2 && !(s1 & 1))
			return hit ? MG_FIND_EXACT : MG_FIND_NONE;
		if (last)
			return hit ? MG_FIND_UNCERTAIN : MG_FIND_NONE;
	}
	return MG_FIND_NONE;
}

bool mg_reg_maybe_overlaps_seen(uintptr_t a, uintptr_t b, struct mg_reg_seen *seen)
{
	seen->last = NULL;
	/* Outside the span of all windows (an allocator's memory, usually): no tree walk. */
	if (b <= __atomic_load_n(&addr_lo, __ATOMIC_ACQUIRE) ||
	    a >= __atomic_load_n(&addr_hi, __ATOMIC_ACQUIRE))
		return false;
	uint64_t s1 = __atomic_load_n(&reg_seq, __ATOMIC_ACQUIRE);
	if (s1 & 1)
		return true;
	bool hit = false;
	struct node *t = __atomic_load_n(&root, __ATOMIC_ACQUIRE), *best = NULL;
	/* the last window starting before b: it overlaps [a, b) exactly when it ends after a */
	for (int steps = 0; t && steps < 256; steps++) {
		if (__atomic_load_n(&t->w.start, __ATOMIC_RELAXED) < b) {
			best = t;
			t = __atomic_load_n(&t->right, __ATOMIC_RELAXED);
		} else {
			t = __atomic_load_n(&t->left, __ATOMIC_RELAXED);
		}
		if (steps == 255)
			return true;
	}
	if (best)
		hit = __atomic_load_n(&best->w.end, __ATOMIC_RELAXED) > a;
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (__atomic_load_n(&reg_seq, __ATOMIC_RELAXED) != s1)
		return true;
	if (hit) {
		seen->seq = s1;
		seen->last = best;
		/* An unmap of it reads and rewrites these next, after its system call (which takes
		 * long enough for the lines to come; a prefetch never faults, whatever the node). */
		__builtin_prefetch(&best->eleft, 1);
		__builtin_prefetch(__atomic_load_n(&best->left, __ATOMIC_RELAXED), 1);
		__builtin_prefetch(__atomic_load_n(&best->right, __ATOMIC_RELAXED), 1);
	}
	return hit;
}

bool mg_reg_maybe_overlaps(uintptr_t a, uintptr_t b)
{
	struct mg_reg_seen seen;
	return mg_reg_maybe_overlaps_seen(a, b, &seen);
}

bool mg_reg_file_tracked_locked(dev_t dev, ino_t ino)
{
	struct mg_file *f = file_find(dev, ino);
	return f && f->nwindows;
}

/* Keep the max lowest-addressed windows in out, sorted by address. */
static void keep_sorted(struct mg_window *out, size_t max, size_t have, const struct mg_window *w)
{
	size_t i = have < max ? have : max;
	if (i == max && (max == 0 || w->start > out[max - 1].start))
		return;
	if (i == max)
		i--;
	while (i > 0 && out[i - 1].start > w->start) {
		out[i] = out[i - 1];
		i--;
	}
	out[i] = *w;
}

static size_t file_windows(dev_t dev, ino_t ino, uint64_t birth, bool all, uint64_t old_size,
			   uint64_t new_size, struct mg_window *out, size_t max)
{
	struct mg_file *f = file_find(dev, ino);
	uint64_t page = mg_page_size();
	size_t total = 0;
	if (!f || (!all && mg_round_up(new_size, page) >= f->max_end))
		return 0;       /* the new EOF page lies past every window: nothing to scan */
	/* From the greatest end offset down: a window ending at or before the new EOF page loses none. */
	uint64_t keep = all ? 0 : mg_round_up(new_size, page);
	for (const struct node *t = by_end_max(f); t && t->fend > keep; t = by_end_prev(t)) {
		for (const struct node *n = t; n; n = n->snext) {
			if (!all && (n->w.origin == MG_ORIGIN_EXE ||
				     !mg_birth_same(n->w.birth, birth) ||
				     !mg_rule_pages_cut(n->w.offset, n->w.end - n->w.start, old_size,
							new_size, page)))
				continue;
			if (out)
				keep_sorted(out, max, total, &n->w);
			total++;
		}
	}
	return total;
}

size_t mg_reg_endangered_locked(dev_t dev, ino_t ino, uint64_t birth, uint64_t old_size,
				uint64_t new_size, struct mg_window *out, size_t max)
{
	return file_windows(dev, ino, birth, false, old_size, new_size, out, max);
}

size_t mg_reg_windows_locked(dev_t dev, ino_t ino, struct mg_window *out, size_t max)
{
	return file_windows(dev, ino, 0, true, 0, 0, out, max);
}

uint64_t mg_reg_safe_size_locked(dev_t dev, ino_t ino)
{
	struct mg_file *f = file_find(dev, ino);
	const struct node *n = f ? by_end_max(f) : NULL;
	return n ? mg_rule_safe_size(n->w.offset, n->w.end - n->w.start, mg_page_size()) : 0;
}

static void visit(struct node *t, void (*fn)(const struct mg_window *, void *), void *arg)
{
	if (!t)
		return;
	visit(t->left, fn, arg);
	fn(&t->w, arg);
	visit(t->right, fn, arg);
}

void mg_reg_foreach_locked(void (*fn)(const struct mg_window *, void *), void *arg)
{
	visit(root, fn, arg);
}

void mg_reg_republish(void)
{
	mg_reg_lock();
	for (struct mg_file *f = files; f; f = f->hh.next) {
		f->ix_slot = -1;
		if (f->nwindows)
			file_publish(f);
	}
	mg_reg_unlock();
}

void mg_reg_clear_locked(void)
{
	for (struct node *n = ceil_node(0), *next; n; n = next) {
		next = ceil_node(n->w.start + 1);
		node_delete(n);
	}
}

/* ---- audit (unit tests) ---------------------------------------------------------------------- */

/* Both treaps' shape: key order, heap order of priorities, parent links; the counts. */
static const char *audit_tree(const struct node *t, const struct node *up, uintptr_t lo, uintptr_t hi,
			      size_t *count, int depth)
{
	if (!t)
		return NULL;
	if (depth > 1000)
		return "treap deeper than 1000";
	if (t->up != up)
		return "treap: parent link";
	if (up && t->prio > up->prio)
		return "treap: priority above its parent's";
	if (t->w.start < lo || t->w.start > hi)
		return "treap: address order";
	if (!t->file)
		return "treap: a window without a file";
	++*count;
	const char *e = audit_tree(t->left, t, lo, t->w.start - 1, count, depth + 1);
	return e ? e : audit_tree(t->right, t, t->w.start + 1, hi, count, depth + 1);
}

static const char *audit_ends(const struct mg_file *f, const struct node *t, const struct node *up,
			      uint64_t lo, uint64_t hi, size_t *count, const struct node **max, int depth)
{
	if (!t)
		return NULL;
	if (depth > 1000)
		return "file treap deeper than 1000";
	if (t->eparent != up || !t->erep || t->sprev)
		return "file treap: parent link or head flag";
	if (up && t->eprio > up->eprio)
		return "file treap: priority above its parent's";
	if (t->fend < lo || t->fend > hi)
		return "file treap: end order";
	if (!*max || t->fend > (*max)->fend)
		*max = t;
	for (const struct node *s = t; s; s = s->snext) {
		if (s->file != f || s->fend != t->fend || s->fend != s->w.offset + (s->w.end - s->w.start))
			return "file treap: a window of another file or end in a list";
		if (s != t && (s->erep || !s->sprev || s->sprev->snext != s))
			return "file treap: list links";
		++*count;
	}
	const char *e = audit_ends(f, t->eleft, t, lo, t->fend - 1, count, max, depth + 1);
	return e ? e : audit_ends(f, t->eright, t, t->fend + 1, hi, count, max, depth + 1);
}

const char *mg_reg_audit_locked(void)
{
	size_t n = 0, in_files = 0;
	const char *e = audit_tree(root, NULL, 0, UINTPTR_MAX, &n, 0);
	if (e)
		return e;
	if (n != n_maps)
		return "treap: count";
	for (const struct mg_file *f = files; f; f = f->hh.next) {
		size_t k = 0;
		const struct node *max = NULL;
		if ((e = audit_ends(f, f->by_end, NULL, 0, UINT64_MAX, &k, &max, 0)))
			return e;
		if (k != f->nwindows || max != f->top)
			return "file treap: count or greatest end";
		in_files += k;
	}
	if (in_files != n_maps)
		return "files: count";
	if (finger && (!finger->file || floor_node(finger->w.start) != finger))
		return "the last insert is not in the tree";
	if (lowest != ceil_node(0) || highest != floor_node(UINTPTR_MAX))
		return "the lowest or highest window";
	return NULL;
}

/*
 * The loader's windows. Every object in dl_iterate_phdr's list is registered once: one window per
 * PT_LOAD segment's file-backed pages (private, at the segment's file offset), identified by one
 * stat of the object's path. The list is read again only when the loader's load or unload counter
 * (dlpi_adds, dlpi_subs) has moved since the last look. An object already known is recognised by
 * its list entry alone: its memory is not read again, since its file may have been cut since.
 */
#define _GNU_SOURCE
#include "dlmaps.h"
#include "arena.h"
#include "backtrace.h"
#include "config.h"
#include "lease.h"
#include "mapcount.h"
#include "real.h"
#include "rule.h"
#include "thread.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stddef.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#define MAX_SEGS 16

struct seg {
	uintptr_t a, b;
	uint64_t off;
	int prot;
};

/* A loaded object as last seen. Only the scan in progress (one per process) touches the table. */
struct object {
	uintptr_t addr;                 /* dlpi_addr and dlpi_phdr name a loaded object */
	const void *phdr;
	dev_t dev;
	ino_t ino;
	bool file;                      /* registered (the vDSO has no file) */
	bool rpath;                     /* has DT_RPATH */
	bool seen;
	unsigned nsegs;
	uintptr_t seg_start[MAX_SEGS];
};

/* Room for a small program's objects without a system call; grown with mg_pages_alloc. */
static struct object first_objs[16];
static struct object *objs = first_objs;
static size_t nobjs, capobjs = sizeof first_objs / sizeof first_objs[0];

static unsigned long long seen_adds, seen_subs; /* the loader's counters at the last scan */
static bool leasing;                            /* loaded objects get leases (mg_dl_lease_loaded) */
static bool started;                            /* the start-up objects are registered */
static pid_t scanner;                           /* tid of the thread scanning, 0 if none */
static bool rpath_elsewhere;                    /* an object other than the executable has DT_RPATH */
static int self_search = -1;                    /* the guard's object has its own search path */
/*
 * The executable's identity costs a stat of /proc/self/exe, about half of the start-up scan (the
 * process's first /proc lookup): its windows are registered at the first check, dlopen or query
 * instead. The kernel keeps it from being written, so no cut can be missed meanwhile.
 */
static struct stat exe_st;
static bool exe_known, exe_pending;
static uintptr_t rtld_base;                     /* ld.so, the kernel's executable if AT_BASE is 0 */
static dev_t own_dev;                           /* this library's file (never leased: a lease on */
static ino_t own_ino;                           /* it would only hold up rebuilding the guard) */
static bool rtld_is_exe;
/* A dlopen left to run from its caller's frame: its stack is given to the next objects found.
 * Both under the registry lock. */
static const struct mg_stack *pending;
static bool pending_set;

struct scan {
	bool add;               /* register new objects (not with MMAPGUARD_MODE=off) */
	bool defer_exe;         /* start-up: the executable later */
	bool unloads;           /* an object may have gone: check known objects' files again */
	bool first;
	unsigned long long adds, subs;
	bool counters;
	bool rpath;
	bool used_template;
	unsigned vmas;          /* upper bound of the VMAs the new objects added */
	struct mg_window tmpl;  /* creator, time and stack of what is registered now */
	/* new objects to lease once the loader's list is let go (MMAPGUARD_LEASES, once the process
	 * holds a lease: see mg_dl_lease_loaded) */
	bool lease;
	unsigned nlease;
	int lease_fd[MG_LEASE_OBJECTS];
};

static void search_tags(const Elf64_Dyn *d, bool *rpath, bool *runpath, bool *nodeflib)
{
	for (; d && d->d_tag != DT_NULL; d++) {
		if (d->d_tag == DT_RPATH)
			*rpath = true;
		else if (d->d_tag == DT_RUNPATH)
			*runpath = true;
		else if (d->d_tag == DT_FLAGS_1 && (d->d_un.d_val & DF_1_NODEFLIB))
			*nodeflib = true;
	}
}

static int prot_of(Elf64_Word flags)
{
	return ((flags & PF_R) ? PROT_READ : 0) | ((flags & PF_W) ? PROT_WRITE : 0) |
	       ((flags & PF_X) ? PROT_EXEC : 0);
}

static struct object *object_find(uintptr_t addr, const void *phdr)
{
	for (size_t i = 0; i < nobjs; i++)
		if (objs[i].addr == addr && objs[i].phdr == phdr)
			return &objs[i];
	return NULL;
}

static struct object *object_new(void)
{
	if (nobjs == capobjs) {
		size_t cap = capobjs * 2;
		struct object *n = mg_pages_alloc(cap * sizeof *n);
		if (!n)
			return NULL;
		memcpy(n, objs, nobjs * sizeof *n);
		if (objs != first_objs)
			mg_pages_free(objs, capobjs * sizeof *n);
		objs = n;
		capobjs = cap;
	}
	struct object *o = &objs[nobjs++];
	memset(o, 0, sizeof *o);
	return o;
}

/* Forget the windows of an object the loader no longer has (or that is another file now). */
static void forget(const struct object *o)
{
	struct mg_window cur;
	mg_reg_lock();
	for (unsigned i = 0; i < o->nsegs; i++)
		if (mg_reg_find_locked(o->seg_start[i], &cur) && cur.origin != MG_ORIGIN_MMAP &&
		    cur.start == o->seg_start[i] && cur.dev == o->dev && cur.ino == o->ino)
			mg_reg_remove_locked(cur.start, cur.end);
	mg_reg_unlock();
}

/* The file-backed pages of each PT_LOAD segment; the rest of their memory (.bss) is anonymous. */
static unsigned read_segments(const struct dl_phdr_info *info, struct object *o, bool first,
			      struct seg *segs)
{
	size_t page = mg_page_size();
	uintptr_t prev = 0;
	unsigned n = 0;
	for (unsigned i = 0; i < info->dlpi_phnum && n < MAX_SEGS; i++) {
		const Elf64_Phdr *ph = &info->dlpi_phdr[i];
		if (ph->p_type == PT_DYNAMIC && !first) {
			bool runpath = false, nodeflib = false;
			search_tags((const Elf64_Dyn *)(info->dlpi_addr + ph->p_vaddr), &o->rpath,
				    &runpath, &nodeflib);
		}
		if (ph->p_type != PT_LOAD || ph->p_filesz == 0 || (ph->p_vaddr - ph->p_offset) % page)
			continue;
		uintptr_t a = (info->dlpi_addr + ph->p_vaddr) & ~(uintptr_t)(page - 1);
		uintptr_t b = mg_round_up(info->dlpi_addr + ph->p_vaddr + ph->p_filesz, page);
		uint64_t off = ph->p_offset & ~(uint64_t)(page - 1);
		if (a < prev) {         /* shares its first page with the segment before */
			off += prev - a;
			a = prev;
		}
		if (a >= b)
			continue;
		prev = b;
		o->seg_start[n] = a;
		segs[n++] = (struct seg){ a, b, off, prot_of(ph->p_flags) };
	}
	o->nsegs = n;
	return n;
}

/* The program the kernel mapped: listed first, without a name. */
static bool is_kernel_exe(const struct dl_phdr_info *info, bool first)
{
	return (first && !info->dlpi_name[0]) || (rtld_is_exe && info->dlpi_addr == rtld_base);
}

/* Identity of the object's file; false for the vDSO or a path that no longer names a file. */
static bool object_stat(const struct dl_phdr_info *info, bool first, struct stat *st)
{
	const char *path = info->dlpi_name;
	if (first && !path[0]) {
		if (!exe_known && mg_fstatat(AT_FDCWD, "/proc/self/exe", &exe_st, 0) == 0 &&
		    S_ISREG(exe_st.st_mode))
			exe_known = true;
		*st = exe_st;
		return exe_known;
	}
	if (!strchr(path, '/'))
		return false;   /* the vDSO: no file behind it */
	return mg_fstatat(AT_FDCWD, path, st, 0) == 0 && S_ISREG(st->st_mode);
}

static void insert_object(struct scan *s, const struct seg *segs, unsigned n, const struct stat *st,
			  bool exe)
{
	struct mg_window *w = &s->tmpl;
	const struct mg_stack *saved = w->stack;
	if (exe)
		w->stack = &mg_stack_none;      /* mapped before anything ran */
	w->dev = st->st_dev;
	w->ino = st->st_ino;
	w->size_at_map = (uint64_t)st->st_size;
	w->origin = exe ? MG_ORIGIN_EXE : MG_ORIGIN_LOADER;
	mg_reg_lock();
	for (unsigned i = 0; i < n; i++) {
		w->start = segs[i].a;
		w->end = segs[i].b;
		w->offset = segs[i].off;
		w->prot = segs[i].prot;
		mg_reg_insert_locked(w);
	}
	mg_reg_unlock();
	w->stack = saved;
	s->used_template |= !exe;
}

/*
 * A library another process may rewrite in place (cp over it): a descriptor of its file now, for a
 * lease once the loader's list is let go (the lease code takes locks and may write a record). The
 * executable needs none: the kernel refuses to write a running program (ETXTBSY).
 */
static void lease_later(struct scan *s, const char *path, const struct stat *st)
{
	if (!s->lease || s->nlease == sizeof s->lease_fd / sizeof s->lease_fd[0])
		return;
	long fd = MG_SYS4(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0);
	if (fd < 0)
		return;
	struct stat now;
	if (MG_SYS2(SYS_fstat, fd, &now) < 0 || now.st_dev != st->st_dev || now.st_ino != st->st_ino) {
		MG_SYS1(SYS_close, fd);         /* the path names another file by now */
		return;
	}
	s->lease_fd[s->nlease++] = (int)fd;
}

static void lease_now(struct scan *s)
{
	for (unsigned i = 0; i < s->nlease; i++) {
		struct stat st;
		if (MG_SYS2(SYS_fstat, s->lease_fd[i], &st) == 0)
			mg_lease_track_object(s->lease_fd[i], st.st_dev, st.st_ino, st.st_uid);
		MG_SYS1(SYS_close, s->lease_fd[i]);
	}
	s->nlease = 0;
}

/* Called with the loader's list locked: stat is a raw system call, the registry lock a leaf. */
static int scan_object(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct scan *s = arg;
	bool first = s->first;
	s->first = false;
	if (first && size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
		s->adds = info->dlpi_adds;
		s->subs = info->dlpi_subs;
		s->counters = true;
	}
	struct stat st;
	struct object *o = object_find(info->dlpi_addr, info->dlpi_phdr);
	if (o && s->unloads && o->file) {
		/* After an unload the same address may hold another object. */
		if (!object_stat(info, first, &st) || st.st_dev != o->dev || st.st_ino != o->ino) {
			forget(o);
			*o = objs[--nobjs];
			o = NULL;
		}
	}
	if (o) {
		o->seen = true;
		s->rpath |= o->rpath && !first;
		return 0;
	}
	if (!s->add)
		return 0;
	if (first && !info->dlpi_name[0] && s->defer_exe) {
		__atomic_store_n(&exe_pending, true, __ATOMIC_RELAXED);
		return 0;
	}
	if (first && !info->dlpi_name[0])
		__atomic_store_n(&exe_pending, false, __ATOMIC_RELAXED);
	o = object_new();
	if (!o)
		return 0;
	o->addr = info->dlpi_addr;
	o->phdr = info->dlpi_phdr;
	o->seen = true;
	/* Each PT_LOAD: its file pages, its .bss and a gap before it; RELRO splits one more. */
	for (unsigned i = 0; i < info->dlpi_phnum; i++)
		s->vmas += info->dlpi_phdr[i].p_type == PT_LOAD ? 3 : 0;
	s->vmas += 1;
	struct seg segs[MAX_SEGS];
	unsigned n = read_segments(info, o, first, segs);
	s->rpath |= o->rpath;
	if (n && object_stat(info, first, &st)) {
		o->file = true;
		o->dev = st.st_dev;
		o->ino = st.st_ino;
		bool exe = is_kernel_exe(info, first);
		insert_object(s, segs, n, &st, exe);
		if (!exe && !first && !(st.st_dev == own_dev && st.st_ino == own_ino))
			lease_later(s, info->dlpi_name, &st);
	}
	return 0;
}

static int read_counters(struct dl_phdr_info *info, size_t size, void *arg)
{
	unsigned long long *c = arg;
	if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
		c[0] = info->dlpi_adds;
		c[1] = info->dlpi_subs;
		c[2] = 1;
	}
	return 1;               /* the first object carries the counters */
}

/*
 * One scan at a time per process. The thread named by the flag may not be ours: a fork child
 * inherits the flag of a parent's thread that was scanning (tgkill's test tells).
 */
static bool scan_begin(void)
{
	pid_t me = mg_thread_tid();
	for (;;) {
		pid_t cur = __atomic_load_n(&scanner, __ATOMIC_ACQUIRE);
		if (cur == me)
			return false;   /* a signal handler interrupted this thread's scan */
		if (cur && MG_SYS3(SYS_tgkill, MG_SYS0(SYS_getpid), cur, 0) != -ESRCH) {
			MG_SYS0(SYS_sched_yield);
			continue;
		}
		if (__atomic_compare_exchange_n(&scanner, &cur, me, false, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			return true;
	}
}

static void scan(const struct mg_stack *stack, bool unloads)
{
	if (!scan_begin())
		return;
	mg_enter();
	struct scan sc, *s = &sc;
	memset(s, 0, sizeof *s);
	s->add = mg_mode() != MG_MODE_OFF;
	s->defer_exe = !__atomic_load_n(&started, __ATOMIC_RELAXED);
	s->unloads = unloads;
	s->first = true;
	s->lease = mg_cfg.leases != MG_LEASES_OFF && __atomic_load_n(&leasing, __ATOMIC_ACQUIRE);
	struct mg_window *w = &s->tmpl;
	w->tid = mg_thread_tid();
	w->pid = mg_self_pid();
	/* Not mg_thread_name: its cache would hide a name the program sets right after start-up. */
	MG_SYS2(SYS_prctl, PR_GET_NAME, w->thread_name);
	clock_gettime(CLOCK_REALTIME, &w->created);
	bool from_pending = false;
	if (stack) {
		w->stack = stack;
	} else {
		mg_reg_lock();
		if (pending_set) {
			w->stack = pending;
			from_pending = true;
		}
		mg_reg_unlock();
	}
	for (size_t i = 0; i < nobjs; i++)
		objs[i].seen = false;
	mg_bt_loader_begin();
	dl_iterate_phdr(scan_object, s);
	mg_bt_loader_end();
	/* What the loader no longer lists, it has unmapped. */
	for (size_t i = 0; i < nobjs;) {
		if (objs[i].seen) {
			i++;
			continue;
		}
		if (objs[i].file)
			forget(&objs[i]);
		objs[i] = objs[--nobjs];
	}
	if (s->counters) {
		__atomic_store_n(&seen_adds, s->adds, __ATOMIC_RELAXED);
		__atomic_store_n(&seen_subs, s->subs, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&rpath_elsewhere, s->rpath, __ATOMIC_RELAXED);
	if (from_pending && s->used_template) {
		mg_reg_lock();
		pending_set = false;
		mg_reg_unlock();
	}
	__atomic_store_n(&started, true, __ATOMIC_RELEASE);
	mg_leave();
	__atomic_store_n(&scanner, 0, __ATOMIC_RELEASE);
	lease_now(s);
	/* The start-up objects are in the first exact count; later ones the loader mapped unseen. */
	if (s->vmas && !s->defer_exe)
		mg_mapcount_note(s->vmas);
}

/* Scan when the loader's counters moved since the last scan. */
static void update(bool capture)
{
	unsigned long long c[3] = { 0, 0, 0 };
	mg_enter();
	mg_bt_loader_begin();
	dl_iterate_phdr(read_counters, c);
	mg_bt_loader_end();
	mg_leave();
	if (!c[2])
		return;
	bool added = c[0] != __atomic_load_n(&seen_adds, __ATOMIC_RELAXED);
	bool removed = c[1] != __atomic_load_n(&seen_subs, __ATOMIC_RELAXED);
	if (!added && !removed) {
		if (__atomic_load_n(&exe_pending, __ATOMIC_RELAXED))
			scan(NULL, false);
		return;
	}
	const struct mg_stack *st = &mg_stack_none;
	if (capture && added && mg_cfg.creation_stacks) {
		mg_enter();
		st = mg_bt_capture_ref();
		mg_leave();
	}
	scan(capture ? st : NULL, removed);
}

void mg_dl_init(void)
{
	Dl_info di;
	struct stat own;
	if (dladdr((void *)mg_dl_init, &di) && di.dli_fname && mg_fstatat(AT_FDCWD, di.dli_fname, &own, 0) == 0) {
		own_dev = own.st_dev;
		own_ino = own.st_ino;
	}
	if (getauxval(AT_BASE) == 0 && dladdr(&_r_debug, &di) && di.dli_fbase) {
		rtld_base = (uintptr_t)di.dli_fbase;    /* ld.so run as the program: the kernel's */
		rtld_is_exe = true;
	}
	if (mg_mode() != MG_MODE_OFF && !__atomic_load_n(&started, __ATOMIC_ACQUIRE))
		scan(NULL, false);
}

/* The objects the loader lists now, for leases: every library's file that is registered. */
static int lease_object(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	struct scan *s = arg;
	bool first = s->first;
	s->first = false;
	struct object *o = object_find(info->dlpi_addr, info->dlpi_phdr);
	struct stat st;
	if (first || !o || !o->file || is_kernel_exe(info, false) || (o->dev == own_dev && o->ino == own_ino) ||
	    !object_stat(info, false, &st) || st.st_dev != o->dev || st.st_ino != o->ino)
		return 0;
	lease_later(s, info->dlpi_name, &st);
	return 0;
}

void mg_dl_lease_loaded(void)
{
	/* As mg_dl_refresh: not while the loader changes its list (a handler interrupting it). */
	if (mg_cfg.leases == MG_LEASES_OFF || __atomic_load_n(&leasing, __ATOMIC_ACQUIRE) ||
	    !__atomic_load_n(&mg_lease_ever_held, __ATOMIC_RELAXED) || mg_inside() ||
	    !__atomic_load_n(&started, __ATOMIC_ACQUIRE) || _r_debug.r_state != RT_CONSISTENT ||
	    !scan_begin())
		return;
	if (__atomic_exchange_n(&leasing, true, __ATOMIC_ACQ_REL)) {
		__atomic_store_n(&scanner, 0, __ATOMIC_RELEASE);
		return;
	}
	struct scan sc;
	memset(&sc, 0, sizeof sc);
	sc.lease = true;
	sc.first = true;
	mg_enter();
	mg_bt_loader_begin();
	dl_iterate_phdr(lease_object, &sc);
	mg_bt_loader_end();
	mg_leave();
	__atomic_store_n(&scanner, 0, __ATOMIC_RELEASE);
	lease_now(&sc);
}

void mg_dl_refresh(void)
{
	if (!__atomic_load_n(&started, __ATOMIC_ACQUIRE) || mg_inside())
		return;
	/* The loader is changing its list (this thread may be inside it, in a signal handler). */
	if (_r_debug.r_state != RT_CONSISTENT)
		return;
	update(false);
}

void mg_dl_before_open(void)
{
	if (!__atomic_load_n(&started, __ATOMIC_ACQUIRE))
		scan(NULL, false);      /* before the constructor: start-up objects are not this dlopen's */
	/* libunwind, loaded on first need, is not this dlopen's either. */
	mg_enter();
	mg_bt_load();
	mg_leave();
	update(false);
}

void mg_dl_after_open(void)
{
	update(true);
}

void mg_dl_defer_open(void)
{
	const struct mg_stack *st = &mg_stack_none;
	mg_enter();
	if (mg_cfg.creation_stacks)
		st = mg_bt_capture_ref();
	mg_leave();
	mg_reg_lock();
	pending = st;
	pending_set = true;
	mg_reg_unlock();
}

void mg_dl_after_close(void)
{
	if (__atomic_load_n(&started, __ATOMIC_ACQUIRE))
		update(false);
}

static bool own_search_path(void)
{
	int v = __atomic_load_n(&self_search, __ATOMIC_RELAXED);
	if (v < 0) {
		Dl_info di;
		struct link_map *lm = NULL;
		bool rp = false, rup = false, nodef = false;
		if (dladdr1((void *)own_search_path, &di, (void **)&lm, RTLD_DL_LINKMAP) && lm)
			search_tags(lm->l_ld, &rp, &rup, &nodef);
		else
			rp = true;
		v = rp || rup || nodef;
		__atomic_store_n(&self_search, v, __ATOMIC_RELAXED);
	}
	return v;
}

/*
 * glibc's dlopen takes the object that called it (its return address) as the loader: a name
 * without '/' is searched along that object's DT_RPATH, then the DT_RPATH of the objects that
 * needed it (DT_NEEDED, up to the executable), or only along its DT_RUNPATH if it has one;
 * $ORIGIN is its directory. Called from the guard instead, the loader is the guard (no search path
 * of its own, needed by the executable): the same answer whenever the caller and the objects that
 * needed it add nothing beyond the executable's DT_RPATH. Which objects needed it is not public:
 * any DT_RPATH outside the executable counts.
 */
bool mg_dl_same_search(const char *file, const void *caller)
{
	if (!file)
		return true;
	if (strchr(file, '$') || own_search_path())
		return false;
	struct link_map *main_map = _r_debug.r_map, *lm = NULL;
	Dl_info di;
	if (!dladdr1(caller, &di, (void **)&lm, RTLD_DL_LINKMAP) || !lm)
		lm = main_map;          /* code outside every object: glibc takes the executable */
	if (!lm)
		return false;
	bool rp = false, rup = false, nodef = false;
	search_tags(lm->l_ld, &rp, &rup, &nodef);
	if (lm != main_map && (rp || __atomic_load_n(&rpath_elsewhere, __ATOMIC_RELAXED)))
		return false;
	return strchr(file, '/') || (!rup && !nodef);
}

void mg_dl_cut_allowed(const struct mg_window *w, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (w[i].origin != MG_ORIGIN_MMAP) {
			mg_bt_disable();
			mg_bt_disable_signal_unwind();
			return;
		}
}

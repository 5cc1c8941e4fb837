#define _GNU_SOURCE
#include "backtrace.h"
#include "arena.h"
#include "config.h"
#include "fmt.h"
#include "lock.h"
#include "procmaps.h"
#include "real.h"
#include "thread.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <link.h>
#include <pthread.h>
#include <ucontext.h>
#include <string.h>
#define UNW_LOCAL_ONLY
#include <libunwind.h>

#ifndef MG_LIBUNWIND_SONAME
#define MG_LIBUNWIND_SONAME "libunwind.so.8"
#endif

typedef int (*init_local2_fn)(unw_cursor_t *, unw_context_t *, int);
typedef int (*step_fn)(unw_cursor_t *);
typedef int (*get_reg_fn)(unw_cursor_t *, int, unw_word_t *);

mg_bt_fn mg_bt_backtrace;
static init_local2_fn p_init_local2;
static step_fn p_step;
static get_reg_fn p_get_reg;
uintptr_t mg_bt_shim_lo, mg_bt_shim_hi;

static int find_self(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	uintptr_t me = (uintptr_t)arg;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
		if (me >= lo && me < hi) {
			mg_bt_shim_lo = lo;
			mg_bt_shim_hi = hi;
			return 1;
		}
	}
	return 0;
}

/*
 * libunwind (and liblzma behind it) cost a process about 0.2 ms to map and relocate, paid by every
 * process the preload reaches, most of which never map a file. So it is loaded on first need:
 * the first file mapping through the guard, or the first map-limit record. dlopen calls malloc
 * and takes the loader's lock, so it is only done from a wrapper called by the program, in a
 * process whose malloc is glibc's (not under another allocator's lock), not in a vfork child
 * (lazy_pid), and never from the SIGBUS handler (which then records the faulting instruction).
 * Processes with another malloc load it in the constructor.
 */
static int bt_tried;            /* dlopen attempted (loaded or failed: never retried) */
static int lazy_pid;            /* the process allowed to load later; 0: none */

static void load_libunwind(void)
{
	int saved = errno;      /* e.g. from fork's prepare handler: the program's errno stays */
	mg_enter();
	void *h = dlopen(MG_LIBUNWIND_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (h) {
		p_init_local2 = (init_local2_fn)dlsym(h, "_ULx86_64_init_local2");
		p_step = (step_fn)dlsym(h, "_ULx86_64_step");
		p_get_reg = (get_reg_fn)dlsym(h, "_ULx86_64_get_reg");
		__atomic_store_n(&mg_bt_backtrace, (mg_bt_fn)dlsym(h, "unw_backtrace"), __ATOMIC_RELEASE);
	}
	__atomic_store_n(&bt_tried, 1, __ATOMIC_RELEASE);
	mg_leave();
	errno = saved;
}

void mg_bt_init(bool eager)
{
	dl_iterate_phdr(find_self, (void *)(uintptr_t)mg_bt_init);
	if (eager)
		load_libunwind();
	else
		__atomic_store_n(&lazy_pid, (int)MG_SYS0(SYS_getpid), __ATOMIC_RELEASE);
}

void mg_bt_load(void)
{
	if (mg_likely(__atomic_load_n(&bt_tried, __ATOMIC_ACQUIRE)))
		return;
	int pid = __atomic_load_n(&lazy_pid, __ATOMIC_ACQUIRE);
	if (!pid || (int)MG_SYS0(SYS_getpid) != pid)
		return;         /* before the constructor, in a vfork child, or not allowed here */
	load_libunwind();       /* two threads may both dlopen: the loader serializes and counts */
}

bool mg_bt_in_shim(uintptr_t ip) { return ip >= mg_bt_shim_lo && ip < mg_bt_shim_hi; }

/*
 * libunwind takes its own lock inside unw_backtrace: a fork() while another thread holds it would
 * leave the child's copy locked forever. A capture counts itself in flight; fork's prepare handler
 * (one fork at a time: the fork gate) sets `forking` to its thread id and waits until no other
 * thread's capture is in flight. Other threads' captures that start meanwhile wait for the fork to
 * finish; the forking thread's own (from another library's fork handler, or a signal handler) go
 * ahead. A child whose copy of the counter shows another thread's capture in flight (a fork that
 * could not wait, _Fork, clone) never unwinds.
 */
static unsigned inflight;
static pid_t forking;
static MG_TLS unsigned capturing;       /* this thread's captures in flight (0, or 1 nested) */

static void quiesce_wait(void)
{
	__atomic_store_n(&forking, mg_thread_tid(), __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&inflight, __ATOMIC_SEQ_CST) > capturing)
		MG_SYS0(SYS_sched_yield);
}

/* Count this capture in flight, once no other thread is forking. */
static void capture_begin(void)
{
	/* Another capture in flight: in a clone() child that would be a thread that is gone. */
	if (mg_unlikely(__atomic_load_n(&inflight, __ATOMIC_RELAXED) > capturing))
		mg_lock_check_foreign();
	for (;;) {
		__atomic_add_fetch(&inflight, 1, __ATOMIC_SEQ_CST);
		pid_t f = __atomic_load_n(&forking, __ATOMIC_SEQ_CST);
		if (mg_likely(f == 0) || f == mg_thread_tid())
			break;
		__atomic_sub_fetch(&inflight, 1, __ATOMIC_SEQ_CST);
		while (__atomic_load_n(&forking, __ATOMIC_SEQ_CST))
			MG_SYS0(SYS_sched_yield);
	}
	capturing++;
}

static void capture_end(void)
{
	capturing--;
	__atomic_sub_fetch(&inflight, 1, __ATOMIC_RELEASE);
}

/* The guard's own walks of the loader's list take the loader's lock as libunwind does: the same
 * count keeps fork from copying that lock held. */
void mg_bt_loader_begin(void) { capture_begin(); }
void mg_bt_loader_end(void) { capture_end(); }

void mg_bt_atfork_prepare(bool may_load)
{
	/*
	 * glibc 2.36's fork does not hold the loader's lock: a child forked while another thread was
	 * inside dlopen could never dlopen. Load now, while it is safe, if the child might need to.
	 */
	if (may_load && mg_threads_started())
		mg_bt_load();
	quiesce_wait();
}

void mg_bt_atfork_parent(void) { __atomic_store_n(&forking, 0, __ATOMIC_SEQ_CST); }

void mg_bt_atfork_child(bool may_load)
{
	/* This process's memory is the parent's at the fork: the counter says who was unwinding. */
	if (__atomic_load_n(&inflight, __ATOMIC_RELAXED) > capturing)
		mg_bt_disable();        /* libunwind's lock may be held by a thread that is gone */
	__atomic_store_n(&inflight, capturing, __ATOMIC_RELAXED);
	__atomic_store_n(&forking, 0, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&lazy_pid, __ATOMIC_RELAXED))
		__atomic_store_n(&lazy_pid, may_load ? (int)MG_SYS0(SYS_getpid) : 0, __ATOMIC_RELAXED);
}

void mg_bt_disable(void) { __atomic_store_n(&mg_bt_backtrace, NULL, __ATOMIC_RELEASE); }

void mg_bt_capture_begin(void) { capture_begin(); }
void mg_bt_capture_end(void) { capture_end(); }

void mg_bt_keep(void *const *ips, int n, struct mg_stack *st)
{
	/* The wrapper frames on top, and the thread-start trampoline at the bottom. */
	for (int i = 0; i < n && st->n < MG_STACK_MAX; i++)
		if (!mg_bt_in_shim((uintptr_t)ips[i]))
			st->ip[st->n++] = (uintptr_t)ips[i];
}

/*
 * MMAPGUARD_UNWIND=libunwind: libunwind alone. =check: libunwind's stack is kept, and the CFI
 * walk's is compared with it; each difference is written to stderr (the first 16), and a summary
 * at exit (with how many of the CFI walk's answers came from a kept walk). Both walks start in
 * this frame, so that both see the same frames.
 */
static unsigned long chk_stacks, chk_walked, chk_kept, chk_diff;

static void put_stack(struct mg_buf *b, const char *what, const struct mg_stack *s)
{
	mg_buf_puts(b, what);
	for (int i = 0; i < s->n; i++) {
		mg_buf_putc(b, ' ');
		mg_buf_hex(b, s->ip[i]);
	}
	mg_buf_putc(b, '\n');
}

__attribute__((noinline)) void mg_bt_capture_other(struct mg_stack *st)
{
	void *b[MG_STACK_MAX + 8];
	struct mg_stack sa = { 0 };
	int walked = -1, nb = 0;
	bool kept = false;
	bool check = mg_cfg.unwind == MG_UNWIND_CHECK;
	capture_begin();
	mg_bt_fn bt = __atomic_load_n(&mg_bt_backtrace, __ATOMIC_ACQUIRE);
	if (bt) {
		const struct mg_stack *ref;
		if (check)
			walked = mg_cfi_walk(&sa, &ref, MG_STACK_MAX + 8, mg_bt_shim_lo, mg_bt_shim_hi);
		if (walked == 0) {
			kept = sa.n == 0;       /* no frames walked now: the kept walk's answer */
			mg_stack_copy(&sa, ref);
		}
		nb = bt(b, (int)(sizeof b / sizeof b[0]));
	}
	capture_end();
	if (nb > 0)
		mg_bt_keep(b, nb, st);
	if (!check || !bt)
		return;
	__atomic_add_fetch(&chk_stacks, 1, __ATOMIC_RELAXED);
	if (walked < 0)
		return;
	__atomic_add_fetch(&chk_walked, 1, __ATOMIC_RELAXED);
	if (kept)
		__atomic_add_fetch(&chk_kept, 1, __ATOMIC_RELAXED);
	if (sa.n == st->n && memcmp(sa.ip, st->ip, sa.n * sizeof sa.ip[0]) == 0)
		return;
	if (__atomic_add_fetch(&chk_diff, 1, __ATOMIC_RELAXED) > 16)
		return;
	char line[2 * MG_STACK_MAX * 20 + 128];
	struct mg_buf m;
	mg_buf_init(&m, line, sizeof line);
	put_stack(&m, "mmapguard: unwind check: cfi      ", &sa);
	put_stack(&m, "mmapguard: unwind check: libunwind", st);
	mg_write_all(2, m.p, m.len);
}

__attribute__((destructor)) static void check_summary(void)
{
	if (mg_cfg.unwind != MG_UNWIND_CHECK)
		return;
	char line[200];
	struct mg_buf m;
	mg_buf_init(&m, line, sizeof line);
	mg_buf_puts(&m, "mmapguard: unwind check: ");
	mg_buf_u64(&m, __atomic_load_n(&chk_stacks, __ATOMIC_RELAXED));
	mg_buf_puts(&m, " stacks, ");
	mg_buf_u64(&m, __atomic_load_n(&chk_walked, __ATOMIC_RELAXED));
	mg_buf_puts(&m, " walked by CFI (");
	mg_buf_u64(&m, __atomic_load_n(&chk_kept, __ATOMIC_RELAXED));
	mg_buf_puts(&m, " from a kept walk), ");
	mg_buf_u64(&m, __atomic_load_n(&chk_diff, __ATOMIC_RELAXED));
	mg_buf_puts(&m, " different\n");
	mg_write_all(2, m.p, m.len);
}

static bool signal_unwind_off;

void mg_bt_disable_signal_unwind(void) { __atomic_store_n(&signal_unwind_off, true, __ATOMIC_RELEASE); }

void mg_bt_capture_signal(void *ucontext, struct mg_stack *st)
{
	st->n = 0;
	/*
	 * libunwind's step takes its cache lock: counted in flight like any capture, so that a fork
	 * by another thread waits for it, and not at all where unwinding was stopped (a child whose
	 * copy of that lock may be held by a thread that is gone): the faulting instruction alone.
	 */
	bool stopped = p_init_local2 && !__atomic_load_n(&mg_bt_backtrace, __ATOMIC_ACQUIRE);
	if (ucontext && (stopped || __atomic_load_n(&signal_unwind_off, __ATOMIC_ACQUIRE))) {
		st->ip[st->n++] = (uintptr_t)((ucontext_t *)ucontext)->uc_mcontext.gregs[REG_RIP];
		st->pc_first = 1;
		return;
	}
	if (!p_init_local2 || !p_step || !p_get_reg || !ucontext)
		return;
	capture_begin();
	unw_cursor_t c;
	if (p_init_local2(&c, (unw_context_t *)ucontext, UNW_INIT_SIGNAL_FRAME) >= 0) {
		st->pc_first = 1;
		do {
			unw_word_t ip = 0;
			if (p_get_reg(&c, UNW_REG_IP, &ip) < 0 || ip == 0)
				break;
			st->ip[st->n++] = (uintptr_t)ip;
		} while (st->n < MG_STACK_MAX && p_step(&c) > 0);
	}
	capture_end();
}

/* Symbol names by address, cached (callers hold the report lock); the ELF reads are slow. */
#define SYMCACHE 512
struct sym_entry {
	uintptr_t ip;
	bool exact;
	struct mg_sym sym;
};
static struct sym_entry *symcache;

void mg_bt_symcache_forget(void) { symcache = NULL; }

void mg_bt_symbolize(uintptr_t ip, bool exact, struct mg_sym *out)
{
	if (!symcache)
		symcache = mg_pages_alloc(SYMCACHE * sizeof *symcache);
	struct sym_entry *e = symcache ? &symcache[(ip >> 2) % SYMCACHE] : NULL;
	if (e && e->ip == ip && e->exact == exact) {
		*out = e->sym;
		return;
	}
	mg_symbolize_signal_safe(ip, exact, out);
	if (e) {
		e->ip = ip;
		e->exact = exact;
		e->sym = *out;
	}
}

/*
 * module_offset is the address's offset in the module's ELF file (for PIE programs and shared
 * libraries the same as ip - load base), so it stays meaningful after the process is gone.
 * A return address is looked up as ip - 1, so a call at a function's end names the caller.
 */
void mg_symbolize_signal_safe(uintptr_t ip, bool exact, struct mg_sym *out)
{
	memset(out, 0, sizeof *out);
	uintptr_t q = ip && !exact ? ip - 1 : ip;
	struct mg_vma v = { .path = out->module, .path_cap = sizeof out->module };
	if (!mg_vma_find(q, &v) || v.path[0] != '/') {
		out->module[0] = 0;
		return;
	}
	uint64_t file_off = q - v.start + v.offset;
	out->module_offset = file_off + (q != ip);
	uint64_t off;
	/* the name straight into out->symbol, then "+0xoff" after it */
	if (mg_elf_symbol(v.path, file_off, out->symbol, sizeof out->symbol - 24, &off)) {
		struct mg_buf b;
		size_t used = strlen(out->symbol);
		mg_buf_init(&b, out->symbol + used, sizeof out->symbol - used);
		mg_buf_putc(&b, '+');
		mg_buf_hex(&b, off + (q != ip));
	}
}

#define _GNU_SOURCE
#include "backtrace.h"
#include "arena.h"
#include "fmt.h"
#include "procmaps.h"
#include "real.h"

#include <dlfcn.h>
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

typedef int (*bt_fn)(void **, int);
typedef int (*init_local2_fn)(unw_cursor_t *, unw_context_t *, int);
typedef int (*step_fn)(unw_cursor_t *);
typedef int (*get_reg_fn)(unw_cursor_t *, int, unw_word_t *);

static bt_fn p_backtrace;
static init_local2_fn p_init_local2;
static step_fn p_step;
static get_reg_fn p_get_reg;
static uintptr_t shim_lo, shim_hi;

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
			shim_lo = lo;
			shim_hi = hi;
			return 1;
		}
	}
	return 0;
}

void mg_bt_init(void)
{
	dl_iterate_phdr(find_self, (void *)(uintptr_t)mg_bt_init);
	void *h = dlopen(MG_LIBUNWIND_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return;
	p_init_local2 = (init_local2_fn)dlsym(h, "_ULx86_64_init_local2");
	p_step = (step_fn)dlsym(h, "_ULx86_64_step");
	p_get_reg = (get_reg_fn)dlsym(h, "_ULx86_64_get_reg");
	__atomic_store_n(&p_backtrace, (bt_fn)dlsym(h, "unw_backtrace"), __ATOMIC_RELEASE);
}

bool mg_bt_available(void) { return __atomic_load_n(&p_backtrace, __ATOMIC_ACQUIRE) != NULL; }

bool mg_bt_in_shim(uintptr_t ip) { return ip >= shim_lo && ip < shim_hi; }

/*
 * libunwind takes its own lock inside unw_backtrace: a fork() while another thread holds it would
 * leave the child's copy locked forever. Captures hold this read lock; fork's prepare handler takes
 * it for writing, so no capture is in flight when the address space is copied.
 */
static pthread_rwlock_t unwind_fork_lock = PTHREAD_RWLOCK_INITIALIZER;

void mg_bt_atfork_prepare(void) { pthread_rwlock_wrlock(&unwind_fork_lock); }
void mg_bt_atfork_parent(void) { pthread_rwlock_unlock(&unwind_fork_lock); }
void mg_bt_atfork_child(void) { pthread_rwlock_init(&unwind_fork_lock, NULL); }
bool mg_bt_try_quiesce(void) { return pthread_rwlock_trywrlock(&unwind_fork_lock) == 0; }
void mg_bt_disable(void) { __atomic_store_n(&p_backtrace, NULL, __ATOMIC_RELEASE); }

void mg_bt_capture(struct mg_stack *st)
{
	void *ips[MG_STACK_MAX + 8];
	bt_fn bt = __atomic_load_n(&p_backtrace, __ATOMIC_ACQUIRE);
	st->n = 0;
	st->pc_first = 0;
	if (!bt)
		return;
	pthread_rwlock_rdlock(&unwind_fork_lock);
	int n = bt(ips, (int)(sizeof ips / sizeof ips[0]));
	pthread_rwlock_unlock(&unwind_fork_lock);
	/* The wrapper frames on top, and the thread-start trampoline at the bottom. */
	for (int i = 0; i < n && st->n < MG_STACK_MAX; i++)
		if (!mg_bt_in_shim((uintptr_t)ips[i]))
			st->ip[st->n++] = (uintptr_t)ips[i];
}

static bool signal_unwind_off;

void mg_bt_disable_signal_unwind(void) { __atomic_store_n(&signal_unwind_off, true, __ATOMIC_RELEASE); }

void mg_bt_capture_signal(void *ucontext, struct mg_stack *st)
{
	st->n = 0;
	if (ucontext && __atomic_load_n(&signal_unwind_off, __ATOMIC_ACQUIRE)) {
		/* The faulting instruction alone, from the saved registers. */
		st->ip[st->n++] = (uintptr_t)((ucontext_t *)ucontext)->uc_mcontext.gregs[REG_RIP];
		st->pc_first = 1;
		return;
	}
	if (!p_init_local2 || !p_step || !p_get_reg || !ucontext)
		return;
	unw_cursor_t c;
	if (p_init_local2(&c, (unw_context_t *)ucontext, UNW_INIT_SIGNAL_FRAME) < 0)
		return;
	st->pc_first = 1;
	do {
		unw_word_t ip = 0;
		if (p_get_reg(&c, UNW_REG_IP, &ip) < 0 || ip == 0)
			break;
		st->ip[st->n++] = (uintptr_t)ip;
	} while (st->n < MG_STACK_MAX && p_step(&c) > 0);
}

/* Symbol names by address, cached (callers hold the report lock); the ELF reads are slow. */
#define SYMCACHE 512
struct sym_entry {
	uintptr_t ip;
	bool exact;
	struct mg_sym sym;
};
static struct sym_entry *symcache;

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
	struct mg_vma v;
	if (!mg_vma_find(q, &v) || v.path[0] != '/')
		return;
	size_t n = strnlen(v.path, sizeof out->module - 1);
	memcpy(out->module, v.path, n);
	out->module[n] = 0;
	uint64_t file_off = q - v.start + v.offset;
	out->module_offset = file_off + (q != ip);
	char name[128];
	uint64_t off;
	if (mg_elf_symbol(v.path, file_off, name, sizeof name, &off)) {
		struct mg_buf b;
		mg_buf_init(&b, out->symbol, sizeof out->symbol);
		mg_buf_puts(&b, name);
		mg_buf_putc(&b, '+');
		mg_buf_hex(&b, off + (q != ip));
	}
}

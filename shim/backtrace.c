#define _GNU_SOURCE
#include "backtrace.h"
#include "arena.h"
#include "fmt.h"

#include <dlfcn.h>
#include <link.h>
#include <string.h>
#define UNW_LOCAL_ONLY
#include <libunwind.h>

#ifndef MG_LIBUNWIND_SONAME
#define MG_LIBUNWIND_SONAME "libunwind.so.8"
#endif

typedef int (*bt_fn)(void **, int);
typedef int (*getcontext_fn)(unw_context_t *);
typedef int (*init_local_fn)(unw_cursor_t *, unw_context_t *);
typedef int (*set_reg_fn)(unw_cursor_t *, int, unw_word_t);
typedef int (*proc_name_fn)(unw_cursor_t *, char *, size_t, unw_word_t *);
typedef int (*init_local2_fn)(unw_cursor_t *, unw_context_t *, int);
typedef int (*step_fn)(unw_cursor_t *);
typedef int (*get_reg_fn)(unw_cursor_t *, int, unw_word_t *);

static bt_fn p_backtrace;
static getcontext_fn p_getcontext;
static init_local_fn p_init_local;
static set_reg_fn p_set_reg;
static proc_name_fn p_proc_name;
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
	p_getcontext = (getcontext_fn)dlsym(h, "_Ux86_64_getcontext");
	p_init_local = (init_local_fn)dlsym(h, "_ULx86_64_init_local");
	p_set_reg = (set_reg_fn)dlsym(h, "_ULx86_64_set_reg");
	p_proc_name = (proc_name_fn)dlsym(h, "_ULx86_64_get_proc_name");
	p_init_local2 = (init_local2_fn)dlsym(h, "_ULx86_64_init_local2");
	p_step = (step_fn)dlsym(h, "_ULx86_64_step");
	p_get_reg = (get_reg_fn)dlsym(h, "_ULx86_64_get_reg");
	__atomic_store_n(&p_backtrace, (bt_fn)dlsym(h, "unw_backtrace"), __ATOMIC_RELEASE);
}

bool mg_bt_available(void) { return __atomic_load_n(&p_backtrace, __ATOMIC_ACQUIRE) != NULL; }

bool mg_bt_in_shim(uintptr_t ip) { return ip >= shim_lo && ip < shim_hi; }

void mg_bt_capture(struct mg_stack *st)
{
	void *ips[MG_STACK_MAX + 8];
	bt_fn bt = __atomic_load_n(&p_backtrace, __ATOMIC_ACQUIRE);
	st->n = 0;
	if (!bt)
		return;
	int n = bt(ips, (int)(sizeof ips / sizeof ips[0]));
	int i = 0;
	while (i < n && mg_bt_in_shim((uintptr_t)ips[i]))
		i++;
	for (; i < n && st->n < MG_STACK_MAX; i++)
		st->ip[st->n++] = (uintptr_t)ips[i];
}

void mg_bt_capture_signal(void *ucontext, struct mg_stack *st)
{
	st->n = 0;
	if (!p_init_local2 || !p_step || !p_get_reg || !ucontext)
		return;
	unw_cursor_t c;
	if (p_init_local2(&c, (unw_context_t *)ucontext, UNW_INIT_SIGNAL_FRAME) < 0)
		return;
	do {
		unw_word_t ip = 0;
		if (p_get_reg(&c, UNW_REG_IP, &ip) < 0 || ip == 0)
			break;
		st->ip[st->n++] = (uintptr_t)ip;
	} while (st->n < MG_STACK_MAX && p_step(&c) > 0);
}

/* Symbol names by address, looked up once per report lock holder; the ELF reads are slow. */
#define SYMCACHE 512
struct sym_entry {
	uintptr_t ip;
	struct mg_sym sym;
};
static struct sym_entry *symcache;

void mg_bt_symbolize(uintptr_t ip, struct mg_sym *out)
{
	memset(out, 0, sizeof *out);
	if (!symcache)
		symcache = mg_pages_alloc(SYMCACHE * sizeof *symcache);
	struct sym_entry *e = symcache ? &symcache[(ip >> 2) % SYMCACHE] : NULL;
	if (e && e->ip == ip) {
		*out = e->sym;
		return;
	}
	/* ip is a return address: look up ip - 1 so a call at a function's end names the caller */
	uintptr_t q = ip ? ip - 1 : 0;
	Dl_info di;
	if (dladdr((void *)q, &di) && di.dli_fname) {
		size_t len = strlen(di.dli_fname);
		if (len >= sizeof out->module)
			len = sizeof out->module - 1;
		memcpy(out->module, di.dli_fname, len);
		out->module[len] = 0;
		out->module_offset = ip - (uintptr_t)di.dli_fbase;
	}
	char name[128] = "";
	unw_word_t off = 0;
	bool named = false;
	if (p_getcontext && p_init_local && p_set_reg && p_proc_name) {
		unw_context_t uc;
		unw_cursor_t c;
		if (p_getcontext(&uc) == 0 && p_init_local(&c, &uc) == 0 &&
		    p_set_reg(&c, UNW_REG_IP, (unw_word_t)q) == 0 &&
		    p_proc_name(&c, name, sizeof name, &off) == 0 && name[0])
			named = true;
	}
	if (!named && di.dli_sname && (uintptr_t)di.dli_saddr <= q) {
		size_t len = strlen(di.dli_sname);
		if (len >= sizeof name)
			len = sizeof name - 1;
		memcpy(name, di.dli_sname, len);
		name[len] = 0;
		off = q - (uintptr_t)di.dli_saddr;
		named = true;
	}
	if (named) {
		struct mg_buf b;
		mg_buf_init(&b, out->symbol, sizeof out->symbol);
		mg_buf_puts(&b, name);
		mg_buf_putc(&b, '+');
		mg_buf_hex(&b, off + 1);
	}
	if (e) {
		e->ip = ip;
		e->sym = *out;
	}
}

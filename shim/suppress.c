#define _GNU_SOURCE
#include "suppress.h"
#include "scan.h"
#include "backtrace.h"
#include "config.h"
#include "lock.h"
#include "own_stack.h"
#include "real.h"
#include "record.h"
#include "report.h"

#include <errno.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#define MAX_FILES 256

static MG_TLS int scope_depth;
/* files[] is guarded by mg_files_lock (taken by fork). */
static struct { dev_t dev; ino_t ino; } files[MAX_FILES];
static int nfiles;
unsigned long mg_suppressed_count;

void mg_suppress_scope(int delta)
{
	scope_depth += delta;
	if (scope_depth < 0)
		scope_depth = 0;
}

int mg_suppress_file(dev_t dev, ino_t ino)
{
	int r = 0;
	mg_lock(&mg_files_lock);
	bool have = false;
	for (int i = 0; i < nfiles; i++)
		have |= files[i].dev == dev && files[i].ino == ino;
	if (!have) {
		if (nfiles < MAX_FILES) {
			files[nfiles].dev = dev;
			files[nfiles].ino = ino;
			nfiles++;
		} else {
			r = -ENOSPC;
		}
	}
	mg_unlock(&mg_files_lock);
	return r;
}

/* MMAPGUARD_SUPPRESS=glob,glob,...: fnmatch(3) against the absolute path the call named. */
static bool glob_match(const char *path)
{
	const char *list = mg_cfg.suppress;
	char pat[PATH_MAX];
	while (*list) {
		const char *end = strchr(list, ',');
		size_t n = end ? (size_t)(end - list) : strlen(list);
		if (n > 0 && n < sizeof pat) {
			memcpy(pat, list, n);
			pat[n] = 0;
			if (fnmatch(pat, path, 0) == 0)
				return true;
		}
		list += n + (end ? 1 : 0);
	}
	return false;
}

const char *mg_suppressed(dev_t dev, ino_t ino, const char *path)
{
	if (scope_depth > 0)
		return "mmapguard_suppress_begin";
	bool s = false;
	if (__atomic_load_n(&nfiles, __ATOMIC_RELAXED)) {
		mg_lock(&mg_files_lock);
		for (int i = 0; i < nfiles && !s; i++)
			s = files[i].dev == dev && files[i].ino == ino;
		mg_unlock(&mg_files_lock);
	}
	if (s)
		return "mmapguard_suppress_path";
	if (mg_cfg.suppress[0] && path && glob_match(path))
		return "MMAPGUARD_SUPPRESS";
	return NULL;
}

/* ---- rules: the stacks as the matcher sees them ------------------------------------------- */

/*
 * Frames are symbolized only when a pattern reaches them, through the report lock's symbol cache
 * (mg_bt_symbolize: /proc/self/maps and the ELF symbol table, read with raw system calls).
 */
struct memo {
	bool done;
	struct mg_sym sym;
	char name[sizeof ((struct mg_sym *)0)->symbol];
	struct mg_frame_info fi;
};

struct stack_ctx {
	const struct mg_stack *st;
	struct memo *memo;
};

/* Under the report lock: the cutter's stack, then each listed window's creation stack. */
static struct memo memos[1 + MG_REPORT_WINDOWS][MG_STACK_MAX];

static const struct mg_frame_info *frame_at(void *ctx, size_t i)
{
	struct stack_ctx *c = ctx;
	struct memo *m = &c->memo[i];
	if (!m->done) {
		mg_bt_symbolize(c->st->ip[i], i == 0 && c->st->pc_first, &m->sym);
		/* "name+0xoff" -> "name" */
		size_t n = strnlen(m->sym.symbol, sizeof m->sym.symbol - 1);
		const char *plus = NULL;
		for (size_t k = n; k-- > 0;)
			if (m->sym.symbol[k] == '+') {
				plus = m->sym.symbol + k;
				break;
			}
		if (plus)
			n = (size_t)(plus - m->sym.symbol);
		memcpy(m->name, m->sym.symbol, n);
		m->name[n] = 0;
		m->fi.module = m->sym.module;
		m->fi.offset = m->sym.module_offset;
		m->fi.symbol = m->name;
		m->done = true;
	}
	return &m->fi;
}

static const struct mg_supp_rule *match_rules(const struct mg_event *e)
{
	const struct mg_supp_set *s = mg_supp_rules();
	if (!s || !s->rules)
		return NULL;
	struct stack_ctx ctx[1 + MG_REPORT_WINDOWS];
	struct mg_stack_src win[MG_REPORT_WINDOWS];
	for (size_t w = 0; w <= e->nwindows; w++) {
		ctx[w].st = w == 0 ? &e->stack : mg_win_stack(&e->windows[w - 1]);
		ctx[w].memo = memos[w];
		for (size_t i = 0; i < ctx[w].st->n; i++)
			memos[w][i].done = false;
		if (w)
			win[w - 1] = (struct mg_stack_src){ ctx[w].st->n, frame_at, &ctx[w] };
	}
	struct mg_supp_query q = {
		.event = mg_supp_event(e->event),
		.path = e->path,
		.cutter = { e->stack.n, frame_at, &ctx[0] },
		.nwindows = e->nwindows,
		.nwindows_total = e->nwindows_total,
		.windows = win,
		/* Windows of other processes the cut would leave unbacked (scope guarded or all). */
		.other_processes = e->victims && e->victims->total,
	};
	return mg_supp_match(s, &q);
}

/* ---- counting and the "suppressed" record ------------------------------------------------- */

/*
 * Per call site (reason, file, stack), how many calls were suppressed in this process. A record
 * is written at the 1st, 2nd, 4th, 8th... call of a site, carrying the running count and the
 * site's key, so a program that cuts on purpose in a loop leaves a logarithmic trail; at exit a
 * short tally ({"site", "count"}) completes the count of each site whose last call was not
 * recorded. Under the report lock. The table belongs to one process: a forked child starts its
 * own (its calls are its own; the parent's were counted by the parent).
 */
#define SITES 256
static struct { uint64_t key; unsigned long count, recorded; } sites[SITES];
static unsigned long overflow;
static int sites_pid;

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v;
	h *= 0x100000001b3ull;
	return h ^ (h >> 29);
}

static unsigned long count_site(const struct mg_event *e, const char *rule, uint64_t *key)
{
	uint64_t h = 0xcbf29ce484222325ull;
	h = mix(h, (uint64_t)(uintptr_t)rule);
	h = mix(h, (uint64_t)e->dev);
	h = mix(h, (uint64_t)e->ino);
	h = mix(h, (uint64_t)(uintptr_t)e->call);
	for (unsigned i = 0; i < e->stack.n; i++)
		h = mix(h, e->stack.ip[i]);
	h |= 1;         /* 0 marks a free slot */
	int pid = (int)MG_SYS0(SYS_getpid);
	if (pid != sites_pid) {
		memset(sites, 0, sizeof sites);
		overflow = 0;
		sites_pid = pid;
	}
	*key = h;
	for (unsigned i = 0; i < SITES; i++) {
		unsigned k = (unsigned)((h + i) % SITES);
		if (sites[k].key == h || sites[k].key == 0) {
			sites[k].key = h;
			unsigned long n = ++sites[k].count;
			if ((n & (n - 1)) == 0)
				sites[k].recorded = n;
			return n;
		}
	}
	return ++overflow;      /* a full table: counted, recorded at powers of two, no tally */
}

static bool json_file_log(void) { return mg_cfg.format == MG_FORMAT_JSON && mg_cfg.log_path[0]; }

__attribute__((destructor)) static void tally(void)
{
	if (!__atomic_load_n(&mg_suppressed_count, __ATOMIC_RELAXED) || !json_file_log())
		return;
	int pid = (int)MG_SYS0(SYS_getpid);
	mg_report_lock();
	for (unsigned k = 0; pid == sites_pid && k < SITES; k++) {
		if (!sites[k].key || sites[k].count == sites[k].recorded)
			continue;
		struct mg_suppressed_tally t = { .site = sites[k].key, .count = sites[k].count, .pid = pid };
		clock_gettime(CLOCK_REALTIME, &t.time);
		if (mg_report_write_locked(mg_format_suppressed_tally, &t) == 0)
			sites[k].recorded = sites[k].count;
	}
	mg_report_unlock();
}

static void write_record(struct mg_event *e, const char *rule, const char *file, unsigned long count,
			 uint64_t key)
{
	mg_who_now(&e->who);
	struct mg_suppressed s = { .e = e, .rule = rule, .rule_file = file, .count = count, .site = key };
	mg_report_write_locked(mg_format_suppressed, &s);
}

struct decide_args {
	struct mg_event *e;
	const char *reason;
	bool suppressed;
};

static void decide_locked(void *p)
{
	struct decide_args *a = p;
	mg_report_lock();
	const char *rule = a->reason, *file = NULL;
	if (!rule) {
		const struct mg_supp_rule *r = match_rules(a->e);
		if (r) {
			rule = r->name;
			file = r->file;
		}
	}
	if (rule) {
		__atomic_add_fetch(&mg_suppressed_count, 1, __ATOMIC_RELAXED);
		uint64_t key;
		unsigned long n = count_site(a->e, rule, &key);
		/* Only a JSON log file gets it: the program's stderr stays as it is without the guard. */
		if ((n & (n - 1)) == 0 && json_file_log())
			write_record(a->e, rule, file, n, key);
	}
	mg_report_unlock();
	a->suppressed = rule != NULL;
}

#define DECIDE_STACK (64u << 10)

bool mg_suppress_decide(struct mg_event *e, const char *reason)
{
	if (!reason && !mg_cfg.suppressions[0] && !mg_cfg.default_suppressions)
		return false;
	int oldstate;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &oldstate);
	/* Loading the rules, symbolizing the stacks to match them and writing the record run deep: on
	 * a stack of the guard's own when pages can be had, as reports are (report.c). */
	struct decide_args a = { e, reason, false };
	if (!mg_run_on_own_stack(decide_locked, &a, DECIDE_STACK))
		decide_locked(&a);
	pthread_setcancelstate(oldstate, NULL);
	return a.suppressed;
}

/*
 * SIGBUS forensics. When a thread faults in a tracked file mapping, say where, in which file, at
 * which file offset, how large the file is now, whether that is a truncation or an I/O error, and
 * which earlier call of this process cut the file. (The handler that calls this, and what happens
 * to the signal afterwards, are in wrap_signal.c.)
 *
 * Everything here is async-signal-safe: the registry is read through its
 * sequence counter, the truncation history through per-slot counters, /proc and ELF files with raw
 * syscalls, the record formatted into fresh pages from a raw mmap and written with one write().
 */
#define _GNU_SOURCE
#include "sigbus.h"
#include "arena.h"
#include "backtrace.h"
#include "config.h"
#include "fmt.h"
#include "history.h"
#include "lease.h"
#include "own_stack.h"
#include "index.h"
#include "page.h"
#include "procmaps.h"
#include "real.h"
#include "record.h"
#include "registry.h"
#include "report.h"
#include "rule.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

static bool same_file(const struct stat *st, const struct mg_window *w)
{
	return st->st_dev == w->dev && st->st_ino == w->ino;
}

/* An open descriptor of this process on the file: works for unlinked files, unprivileged. */
static bool stat_from_fds(const struct mg_window *w, struct stat *out)
{
	long dir = MG_SYS4(SYS_openat, AT_FDCWD, "/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (dir < 0)
		return false;
	char buf[2048];
	bool found = false;
	long n;
	while (!found && (n = MG_SYS3(SYS_getdents64, dir, buf, sizeof buf)) > 0) {
		for (long pos = 0; pos < n && !found;) {
			struct { uint64_t ino; int64_t off; unsigned short reclen; unsigned char type; char name[]; }
				*d = (void *)(buf + pos);
			pos += d->reclen;
			if (d->name[0] < '0' || d->name[0] > '9')
				continue;
			struct stat st;
			if (mg_fstatat((int)dir, d->name, &st, 0) == 0 && same_file(&st, w)) {
				*out = st;
				found = true;
			}
		}
	}
	MG_SYS1(SYS_close, dir);
	return found;
}

static void find_file_size(struct mg_fault *f)
{
	f->file_status = "unknown";
	struct stat st;
	if (f->have_vma) {
		/* /proc/self/map_files needs CAP_SYS_ADMIN; try it, then the path, then our fds. */
		char mf[96];
		struct mg_buf b;
		mg_buf_init(&b, mf, sizeof mf);
		mg_buf_puts(&b, "/proc/self/map_files/");
		char hex[40];
		struct mg_buf hb;
		mg_buf_init(&hb, hex, sizeof hex);
		mg_buf_hex(&hb, f->vma.start);
		mg_buf_puts(&b, hex + 2);
		mg_buf_putc(&b, '-');
		mg_buf_init(&hb, hex, sizeof hex);
		mg_buf_hex(&hb, f->vma.end);
		mg_buf_puts(&b, hex + 2);
		bool deleted = false;
		size_t len = strlen(f->vma.path);
		static const char del[] = " (deleted)";
		if (len > sizeof del - 1 && strcmp(f->vma.path + len - (sizeof del - 1), del) == 0)
			deleted = true;
		/*
		 * The file's status by its identity, never by the shape of its name: the path names
		 * it (present, whatever the name looks like), or it has no link left (unlinked), or
		 * it is linked under another name the maps line does not show (renamed).
		 */
		bool have_links = (mg_fstatat(AT_FDCWD, mf, &st, 0) == 0 && same_file(&st, &f->w)) ||
				  stat_from_fds(&f->w, &st);
		nlink_t links = 0;
		if (have_links) {
			f->have_size = true;
			f->size = (uint64_t)st.st_size;
			links = st.st_nlink;
		}
		if (mg_fstatat(AT_FDCWD, f->vma.path, &st, 0) == 0 && same_file(&st, &f->w)) {
			f->file_status = "present";
			if (!f->have_size) {
				f->have_size = true;
				f->size = (uint64_t)st.st_size;
			}
		} else if (have_links) {
			f->file_status = links == 0 ? "unlinked" : "renamed";
		} else {
			/* the kernel marks a name whose file was unlinked (we found no link count) */
			f->file_status = deleted ? "unlinked" : "renamed";
		}
	}
	struct stat st2;
	if (!f->have_size && stat_from_fds(&f->w, &st2)) {
		f->have_size = true;
		f->size = (uint64_t)st2.st_size;
	}
}

/*
 * Who cut the file under the fault: only cuts made after the window was (an older one cut an
 * earlier incarnation of the file, which was then written again and mapped) whose new size leaves
 * the faulting page unbacked; of those, the latest left the file as the fault found it.
 */
static void find_cause(struct mg_fault *f)
{
	const struct timespec *made = &f->w.created;
	uint64_t page = f->page_size, at = f->fault_offset & ~(page - 1);
	f->have_trunc = mg_history_find(f->w.dev, f->w.ino, made, at, page, &f->trunc);
	f->have_cut_by = mg_lease_find_cut(f->w.dev, f->w.ino, made, at, page, &f->cut_by);
	f->have_cut = mg_cfg.scope != MG_SCOPE_PROCESS &&
		      mg_index_find_cut(f->w.dev, f->w.ino, made, at, page, &f->cut);
	/* a vfork child's cut is in both the shared history and the index: one cut */
	if (f->have_trunc && f->have_cut && f->cut.pid == f->trunc.pid && f->cut.tid == f->trunc.tid &&
	    f->cut.time_sec == f->trunc.time.tv_sec && f->cut.time_nsec == f->trunc.time.tv_nsec)
		f->have_cut = false;
	/* A guarded cutter's open for writing breaks a lease too: its record (made just before the
	 * call, with its thread and stack) and the break (during the call) are one cut. */
	if (f->have_cut && f->have_cut_by && f->cut.pid == f->cut_by.pid) {
		struct timespec t = { f->cut.time_sec + 1, f->cut.time_nsec };
		if (mg_time_before(&f->cut_by.time, &t))
			f->have_cut_by = false;
	}
	/* the latest; on a tie this process's own record, then a guarded cutter's (it has a stack) */
	struct timespec latest = { 0, 0 };
	f->cause = MG_CAUSE_NONE;
	if (f->have_trunc) {
		f->cause = MG_CAUSE_OWN;
		latest = f->trunc.time;
	}
	if (f->have_cut) {
		struct timespec t = { f->cut.time_sec, f->cut.time_nsec };
		if (f->cause == MG_CAUSE_NONE || mg_time_before(&latest, &t)) {
			f->cause = MG_CAUSE_GUARDED;
			latest = t;
		}
	}
	if (f->have_cut_by) {
		if (f->cause == MG_CAUSE_NONE || mg_time_before(&latest, &f->cut_by.time))
			f->cause = MG_CAUSE_LEASE;
		if (f->have_cut && f->cause != MG_CAUSE_LEASE)
			f->have_cut_by = false;         /* cut_by names one process: the later */
		else
			f->have_cut = false;
	}
}

static void gather(struct mg_fault *f, siginfo_t *si, void *uc)
{
	f->addr = (uintptr_t)si->si_addr;
	f->code = si->si_code;
	mg_who_now(&f->who);
	f->fault_offset = f->w.offset + (f->addr - f->w.start);
	f->vma.path = f->vma_path;
	f->vma.path_cap = sizeof f->vma_path;
	f->have_vma = mg_vma_find(f->addr, &f->vma);
	find_file_size(f);
	uint64_t page = mg_page_size();
	f->page_size = page;
	if (!f->have_size)
		f->verdict = "unknown";
	else if (f->fault_offset < mg_round_up(f->size, page))
		f->verdict = "io_error";
	else
		f->verdict = "truncated";
	find_cause(f);
	f->action = "reported";
	/* The page was already past EOF when the mapping was made, and no cut of ours is known:
	 * do not call it a truncation. */
	if (f->have_size && !f->have_trunc && !f->have_cut_by && !f->have_cut &&
	    f->fault_offset >= mg_round_up(f->w.size_at_map, page))
		f->verdict = "beyond_eof_at_map";
	/* The unwinder would read the cut object's tables (and fault again, with SIGBUS blocked). */
	if (f->w.origin != MG_ORIGIN_MMAP)
		mg_bt_disable_signal_unwind();
	mg_bt_capture_signal(uc, &f->stack);
}

#define SCRATCH (64u << 10)

/*
 * MMAPGUARD_SIGBUS=survive: a fault past the end of file in a tracked window that /proc/self/maps
 * confirms (same file) is answered the way a journal reader answers it: the window's pages past the
 * page holding the end of file become private zero pages with the same protection, and the access
 * is retried. Never for an I/O error (the bytes exist; zeros would be silent corruption), for a
 * fault the guard cannot explain, or in a library or the executable.
 */
static bool survive(struct mg_fault *f)
{
	/* Zero pages in a loaded object would be run as code or read as its data: never there. */
	if (!mg_cfg.sigbus_survive || f->w.origin != MG_ORIGIN_MMAP || !f->have_size || !f->have_vma ||
	    f->vma.dev != f->w.dev || f->vma.ino != f->w.ino ||
	    (strcmp(f->verdict, "truncated") != 0 && strcmp(f->verdict, "beyond_eof_at_map") != 0))
		return false;
	uint64_t page = mg_page_size(), eof = mg_round_up(f->size, page);
	uintptr_t a = f->w.start, b = f->w.end;
	if (eof > f->w.offset)
		a += (uintptr_t)(eof - f->w.offset);
	if (a > (f->addr & ~(uintptr_t)(page - 1)) || a >= b)
		return false;
	long r = MG_SYS6(SYS_mmap, a, b - a, f->w.prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (r != (long)a)
		return false;
	mg_reg_remove_deferred(a, b);
	f->action = "survived";
	return true;
}

#define OWN_STACK (64u << 10)

struct report_args {
	siginfo_t *si;
	void *uc;
	struct mg_window w;
	int found;
	bool survived;
};

static void report_on_own_stack(void *p)
{
	struct report_args *a = p;
	/* The record and its buffer live in fresh pages (a raw mmap is async-signal-safe). */
	struct mg_fault *f = mg_pages_alloc(SCRATCH);
	if (!f)
		return;
	f->registry = a->found;
	f->w = a->w;
	gather(f, a->si, a->uc);
	a->survived = survive(f);
	mg_report_emit_signal(mg_format_fault, f, (char *)(f + 1), SCRATCH - sizeof *f);
	mg_pages_free(f, SCRATCH);
}

/*
 * The handler runs on the stack the program's own handler would have (wrap_signal.c), maybe a small
 * one: the record is made on a stack of the guard's own, with a guard page below it.
 */
bool mg_sigbus_report(siginfo_t *si, void *uc)
{
	struct report_args a = { si, uc, { 0 }, 0, false };
	a.found = mg_reg_find_signal_safe((uintptr_t)si->si_addr, &a.w);
	if (a.found != MG_FIND_NONE)
		mg_run_on_own_stack(report_on_own_stack, &a, OWN_STACK);
	return a.survived;
}

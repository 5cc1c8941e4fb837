/*
 * SIGBUS forensics. When a thread faults in a tracked file mapping, say where, in which file, at
 * which file offset, how large the file is now, whether that is a truncation or an I/O error, and
 * which earlier call of this process cut the file. (The handler that calls this, and what happens
 * to the signal afterwards, are in wrap_signal.c.)
 *
 * Everything here is async-signal-safe: the registry is read through its
 * sequence counter, the truncation history through per-slot counters, /proc and ELF files with raw
 * syscalls, the record formatted into a stack buffer and written with one write().
 */
#define _GNU_SOURCE
#include "arena.h"
#include "backtrace.h"
#include "config.h"
#include "fmt.h"
#include "history.h"
#include "lease.h"
#include "log.h"
#include "procmaps.h"
#include "real.h"
#include "registry.h"
#include "report.h"
#include "rule.h"
#include "sigbus.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

/* ---- the facts ------------------------------------------------------------------------------ */

struct fault {
	uintptr_t addr;
	int code;
	int registry;                   /* MG_FIND_EXACT / MG_FIND_UNCERTAIN */
	struct mg_window w;
	struct mg_vma vma;
	bool have_vma;
	uint64_t fault_offset;
	bool have_size;
	uint64_t size;
	const char *file_status;        /* "present", "renamed", "unlinked", "unknown" */
	const char *verdict;            /* "truncated", "beyond_eof_at_map", "io_error", "unknown" */
	bool have_trunc;
	struct mg_trunc_record trunc;
	bool have_cut_by;               /* another process announced the cut (a lease break) */
	struct mg_lease_cut cut_by;
	const char *action;             /* "reported", or "survived" (MMAPGUARD_SIGBUS=survive) */
	pid_t pid, tid;
	char thread_name[16];
	struct timespec time;
	struct mg_stack stack;
};

static const char *code_name(int code)
{
	switch (code) {
	case BUS_ADRALN: return "BUS_ADRALN";
	case BUS_ADRERR: return "BUS_ADRERR";
	case BUS_OBJERR: return "BUS_OBJERR";
	case BUS_MCEERR_AR: return "BUS_MCEERR_AR";
	case BUS_MCEERR_AO: return "BUS_MCEERR_AO";
	default: return "?";
	}
}

static bool same_file(const struct stat *st, const struct mg_window *w)
{
	return st->st_dev == w->dev && st->st_ino == w->ino;
}

/* An open descriptor of this process on the file: works for unlinked files, unprivileged. */
static bool size_from_fds(const struct mg_window *w, uint64_t *size)
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
				*size = (uint64_t)st.st_size;
				found = true;
			}
		}
	}
	MG_SYS1(SYS_close, dir);
	return found;
}

static void find_file_size(struct fault *f)
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
		if (mg_fstatat(AT_FDCWD, mf, &st, 0) == 0 && same_file(&st, &f->w)) {
			f->have_size = true;
			f->size = (uint64_t)st.st_size;
		}
		if (deleted) {
			f->file_status = "unlinked";
		} else if (mg_fstatat(AT_FDCWD, f->vma.path, &st, 0) == 0) {
			if (same_file(&st, &f->w)) {
				f->file_status = "present";
				if (!f->have_size) {
					f->have_size = true;
					f->size = (uint64_t)st.st_size;
				}
			} else {
				f->file_status = "renamed";     /* the path now names another file */
			}
		} else {
			f->file_status = "renamed";
		}
	}
	if (!f->have_size && size_from_fds(&f->w, &f->size))
		f->have_size = true;
}

static void gather(struct fault *f, siginfo_t *si, void *uc)
{
	f->addr = (uintptr_t)si->si_addr;
	f->code = si->si_code;
	f->pid = (pid_t)MG_SYS0(SYS_getpid);
	f->tid = (pid_t)MG_SYS0(SYS_gettid);
	MG_SYS2(SYS_prctl, PR_GET_NAME, f->thread_name);
	clock_gettime(CLOCK_REALTIME, &f->time);
	f->fault_offset = f->w.offset + (f->addr - f->w.start);
	f->have_vma = mg_vma_find(f->addr, &f->vma);
	find_file_size(f);
	uint64_t page = mg_page_size();
	if (!f->have_size)
		f->verdict = "unknown";
	else if (f->fault_offset < mg_round_up(f->size, page))
		f->verdict = "io_error";
	else
		f->verdict = "truncated";
	f->have_trunc = mg_history_find(f->w.dev, f->w.ino, &f->trunc);
	f->have_cut_by = mg_lease_find_cut(f->w.dev, f->w.ino, &f->cut_by);
	f->action = "reported";
	/* The page was already past EOF when the mapping was made, and no cut of ours is known:
	 * do not call it a truncation. */
	if (f->have_size && !f->have_trunc && !f->have_cut_by &&
	    f->fault_offset >= mg_round_up(f->w.size_at_map, page))
		f->verdict = "beyond_eof_at_map";
	/* The unwinder would read the cut object's tables (and fault again, with SIGBUS blocked). */
	if (f->w.origin != MG_ORIGIN_MMAP)
		mg_bt_disable_signal_unwind();
	mg_bt_capture_signal(uc, &f->stack);
}

/* ---- the record ----------------------------------------------------------------------------- */

static const char no_trunc_note[] =
	"no truncation of this file by this process is known: it was changed by another process "
	"or by a call the guard cannot see (raw syscall, static helper, io_uring)";
static const char beyond_note[] =
	"this page lay beyond the end of the file when the mapping was created: it was never backed "
	"(the mapping is longer than the file), unless the file grew and was then cut by another "
	"process or by a call the guard cannot see";
static const char io_note[] =
	"the faulting offset is inside the file: not a truncation; an I/O error (disk full on a "
	"sparse file, a failed network filesystem, a media or memory error)";

static const char *path_of(const struct fault *f)
{
	return f->have_vma ? f->vma.path : "";
}

static void format_json(struct mg_buf *b, const struct fault *f)
{
	const struct mg_window *w = &f->w;
	mg_buf_puts(b, "{\"event\":\"sigbus\",\"action\":");
	mg_buf_jstr(b, f->action);
	mg_buf_puts(b, ",\"fault_addr\":\"");
	mg_buf_hex(b, f->addr);
	mg_buf_puts(b, "\",\"si_code\":");
	mg_buf_i64(b, f->code);
	mg_buf_puts(b, ",\"si_code_name\":");
	mg_buf_jstr(b, code_name(f->code));
	mg_buf_puts(b, ",\"path\":");
	mg_buf_jstr(b, path_of(f));
	mg_buf_puts(b, ",\"file_status\":");
	mg_buf_jstr(b, f->file_status);
	mg_buf_puts(b, ",\"dev\":");
	mg_buf_u64(b, (uint64_t)w->dev);
	mg_buf_puts(b, ",\"ino\":");
	mg_buf_u64(b, (uint64_t)w->ino);
	mg_buf_puts(b, ",\"fault_offset\":");
	mg_buf_u64(b, f->fault_offset);
	mg_buf_puts(b, ",\"file_size\":");
	if (f->have_size)
		mg_buf_u64(b, f->size);
	else
		mg_buf_puts(b, "null");
	mg_buf_puts(b, ",\"size_at_map\":");
	mg_buf_u64(b, w->size_at_map);
	mg_buf_puts(b, ",\"verdict\":");
	mg_buf_jstr(b, f->verdict);
	mg_buf_puts(b, ",\"registry\":");
	mg_buf_jstr(b, f->registry == MG_FIND_EXACT ? "exact" : "uncertain");
	mg_buf_puts(b, ",\"pid\":");
	mg_buf_i64(b, f->pid);
	mg_buf_puts(b, ",\"tid\":");
	mg_buf_i64(b, f->tid);
	mg_buf_puts(b, ",\"thread_name\":");
	mg_buf_jstr(b, f->thread_name);
	mg_buf_puts(b, ",\"time\":\"");
	mg_buf_time(b, &f->time);
	mg_buf_puts(b, "\",\"page_size\":");
	mg_buf_u64(b, mg_page_size());
	mg_buf_puts(b, ",\"backtrace\":");
	mg_report_json_stack(b, &f->stack, mg_symbolize_signal_safe);
	mg_buf_puts(b, ",\"mappings\":[");
	uint64_t beyond = f->have_size
		? mg_rule_pages_beyond(w->offset, w->end - w->start, f->size, mg_page_size()) : 0;
	mg_report_json_window(b, w, beyond, path_of(f), mg_symbolize_signal_safe);
	mg_buf_puts(b, "],\"mappings_total\":1,\"truncation\":");
	if (f->have_trunc) {
		const struct mg_trunc_record *t = &f->trunc;
		mg_buf_puts(b, "{\"call\":");
		mg_buf_jstr(b, t->call);
		mg_buf_puts(b, ",\"time\":\"");
		mg_buf_time(b, &t->time);
		mg_buf_puts(b, "\",\"tid\":");
		mg_buf_i64(b, t->tid);
		mg_buf_puts(b, ",\"thread_name\":");
		mg_buf_jstr(b, t->thread_name);
		mg_buf_puts(b, ",\"size_before\":");
		mg_buf_u64(b, t->size_before);
		mg_buf_puts(b, ",\"size_after\":");
		mg_buf_u64(b, t->size_after);
		mg_buf_puts(b, ",\"backtrace\":");
		mg_report_json_stack(b, &t->stack, mg_symbolize_signal_safe);
		mg_buf_puts(b, "}");
	} else {
		mg_buf_puts(b, "null");
	}
	mg_buf_puts(b, ",\"cut_by\":");
	if (f->have_cut_by) {
		const struct mg_lease_cut *c = &f->cut_by;
		mg_buf_puts(b, "{\"pid\":");
		mg_buf_i64(b, c->pid);
		mg_buf_puts(b, ",\"comm\":");
		mg_buf_jstr(b, c->comm);
		mg_buf_puts(b, ",\"cmdline\":");
		mg_buf_jstr(b, c->cmdline);
		mg_buf_puts(b, ",\"tid\":null,\"thread_name\":null,\"time\":\"");
		mg_buf_time(b, &c->time);
		mg_buf_puts(b, "\",\"call\":");
		mg_buf_jstr(b, c->call);
		mg_buf_puts(b, ",\"size_before\":");
		mg_buf_u64(b, c->size_before);
		mg_buf_puts(b, ",\"size_after\":");
		if (c->has_size)
			mg_buf_u64(b, c->size_after);
		else
			mg_buf_puts(b, "null");
		mg_buf_puts(b, ",\"backtrace\":[],\"seen_by\":\"lease\"}");
	} else {
		mg_buf_puts(b, "null");
	}
	mg_buf_puts(b, ",\"note\":");
	if (strcmp(f->verdict, "io_error") == 0)
		mg_buf_jstr(b, io_note);
	else if (strcmp(f->verdict, "beyond_eof_at_map") == 0)
		mg_buf_jstr(b, beyond_note);
	else if (f->have_trunc)
		mg_buf_jstr(b, "this process truncated the file earlier (see truncation)");
	else if (f->have_cut_by)
		mg_buf_jstr(b, "another process cut the file (see cut_by; it broke this process's lease)");
	else
		mg_buf_jstr(b, no_trunc_note);
	mg_buf_puts(b, "}\n");
}

static void format_text(struct mg_buf *b, const struct fault *f)
{
	const struct mg_window *w = &f->w;
	mg_buf_puts(b, "mmapguard: SIGBUS (");
	mg_buf_puts(b, code_name(f->code));
	mg_buf_puts(b, ") at ");
	mg_buf_hex(b, f->addr);
	mg_buf_puts(b, " in a mapping of ");
	mg_buf_text(b, path_of(f));
	mg_buf_puts(b, "\nmmapguard:   verdict: ");
	mg_buf_puts(b, f->verdict);
	mg_buf_puts(b, ": file offset ");
	mg_buf_u64(b, f->fault_offset);
	if (f->have_size) {
		mg_buf_puts(b, ", file size now ");
		mg_buf_u64(b, f->size);
	} else {
		mg_buf_puts(b, ", file size unknown");
	}
	mg_buf_puts(b, " (file ");
	mg_buf_puts(b, f->file_status);
	mg_buf_puts(b, ", ");
	mg_buf_dev_ino(b, w->dev, w->ino);
	mg_buf_puts(b, ")\nmmapguard:   faulting thread ");
	mg_report_text_thread(b, f->tid, f->thread_name, f->pid, &f->time, &f->stack,
			      mg_symbolize_signal_safe, "    ");
	mg_buf_puts(b, "mmapguard:   mapping ");
	mg_buf_hex(b, w->start);
	mg_buf_putc(b, '-');
	mg_buf_hex(b, w->end);
	mg_buf_puts(b, " (file offset ");
	mg_buf_u64(b, w->offset);
	mg_buf_puts(b, ", ");
	mg_report_put_prot(b, w->prot);
	mg_buf_puts(b, w->shared ? ", MAP_SHARED" : ", MAP_PRIVATE");
	mg_buf_puts(b, ") mapped by thread ");
	mg_report_text_thread(b, w->tid, w->thread_name, 0, &w->created, &w->stack,
			      mg_symbolize_signal_safe, "      ");
	if (strcmp(f->verdict, "io_error") == 0 || strcmp(f->verdict, "beyond_eof_at_map") == 0) {
		mg_buf_puts(b, "mmapguard:   ");
		mg_buf_puts(b, f->verdict[0] == 'i' ? io_note : beyond_note);
		mg_buf_putc(b, '\n');
	} else if (f->have_trunc) {
		const struct mg_trunc_record *t = &f->trunc;
		mg_buf_puts(b, "mmapguard:   this process cut the file earlier: ");
		mg_buf_puts(b, t->call);
		mg_buf_puts(b, "() ");
		mg_buf_u64(b, t->size_before);
		mg_buf_puts(b, " -> ");
		mg_buf_u64(b, t->size_after);
		mg_buf_puts(b, " bytes by thread ");
		mg_report_text_thread(b, t->tid, t->thread_name, 0, &t->time, &t->stack,
				      mg_symbolize_signal_safe, "      ");
	} else if (f->have_cut_by) {
		const struct mg_lease_cut *c = &f->cut_by;
		mg_buf_puts(b, "mmapguard:   process ");
		mg_buf_i64(b, c->pid);
		mg_buf_puts(b, " \"");
		mg_buf_text(b, c->comm);
		mg_buf_puts(b, "\" cut the file at ");
		mg_buf_time(b, &c->time);
		mg_buf_puts(b, ": ");
		mg_buf_puts(b, c->call[0] ? c->call : "a call");
		mg_buf_puts(b, "() ");
		mg_buf_u64(b, c->size_before);
		if (c->has_size) {
			mg_buf_puts(b, " -> ");
			mg_buf_u64(b, c->size_after);
		}
		mg_buf_puts(b, " bytes (it broke this process's lease)\nmmapguard:     command: ");
		mg_buf_text(b, c->cmdline);
		mg_buf_putc(b, '\n');
	} else {
		mg_buf_puts(b, "mmapguard:   ");
		mg_buf_puts(b, no_trunc_note);
		mg_buf_putc(b, '\n');
	}
	if (strcmp(f->action, "survived") == 0)
		mg_buf_puts(b, "mmapguard:   survived (MMAPGUARD_SIGBUS=survive): the pages of the mapping past the "
			    "end of file now read as zeros and no longer follow the file\n");
}

#define SCRATCH (64u << 10)

/*
 * MMAPGUARD_SIGBUS=survive: a fault past the end of file in a tracked window that /proc/self/maps
 * confirms (same file) is answered the way a journal reader answers it: the window's pages past the
 * page holding the end of file become private zero pages with the same protection, and the access
 * is retried. Never for an I/O error (the bytes exist; zeros would be silent corruption), nor for a
 * fault the guard cannot explain.
 */
static bool survive(struct fault *f)
{
	if (!mg_cfg.sigbus_survive || !f->have_size || !f->have_vma ||
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

bool mg_sigbus_report(siginfo_t *si, void *uc)
{
	struct mg_window w;
	int found = mg_reg_find_signal_safe((uintptr_t)si->si_addr, &w);
	/* The record and its buffer live in fresh pages (a raw mmap is async-signal-safe):
	 * the faulting thread may have a small stack and no alternate one. */
	struct fault *f = found != MG_FIND_NONE ? mg_pages_alloc(SCRATCH) : NULL;
	if (!f)
		return false;
	f->registry = found;
	f->w = w;
	gather(f, si, uc);
	bool survived = survive(f);
	struct mg_buf b;
	mg_buf_init(&b, (char *)(f + 1), SCRATCH - sizeof *f);
	if (mg_cfg.format == MG_FORMAT_JSON)
		format_json(&b, f);
	else
		format_text(&b, f);
	mg_log_write_signal(b.p, b.len);
	mg_pages_free(f, SCRATCH);
	return survived;
}

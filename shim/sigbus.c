/*
 * SIGBUS forensics. When a thread faults in a tracked file mapping, say where, in which file, at
 * which file offset, how large the file is now, whether that is a truncation or an I/O error, and
 * which earlier call of this process cut the file -- then die as the program would have, or hand
 * the signal to the program's own handler.
 *
 * Everything reachable from the handler is async-signal-safe: the registry is read through its
 * sequence counter, the truncation history through per-slot counters, /proc and ELF files with raw
 * syscalls, the record formatted into a stack buffer and written with one write().
 */
#define _GNU_SOURCE
#include "arena.h"
#include "backtrace.h"
#include "check.h"
#include "config.h"
#include "fmt.h"
#include "history.h"
#include "log.h"
#include "procmaps.h"
#include "real.h"
#include "registry.h"
#include "report.h"
#include "rule.h"
#include "sigbus.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define ALTSTACK_SIZE (128u << 10)

static bool installed;                  /* the guard answers sigaction(SIGBUS) for the program */
static bool kernel_ignores;             /* the program chose SIG_IGN: the kernel holds that */
static struct sigaction ours;
static struct sigaction app_action;     /* what the program installed (or found at load) */
static unsigned app_seq;                /* odd while app_action is being changed */

static MG_TLS bool thread_has_stack;
static pthread_key_t stack_key;

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
	/* The page was already past EOF when the mapping was made, and no cut of ours is known:
	 * do not call it a truncation. */
	if (f->have_size && !f->have_trunc && f->fault_offset >= mg_round_up(f->w.size_at_map, page))
		f->verdict = "beyond_eof_at_map";
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
	mg_buf_puts(b, "{\"event\":\"sigbus\",\"action\":\"reported\",\"fault_addr\":\"");
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
	mg_buf_puts(b, ",\"note\":");
	if (strcmp(f->verdict, "io_error") == 0)
		mg_buf_jstr(b, io_note);
	else if (strcmp(f->verdict, "beyond_eof_at_map") == 0)
		mg_buf_jstr(b, beyond_note);
	else if (f->have_trunc)
		mg_buf_jstr(b, "this process truncated the file earlier (see truncation)");
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
	} else {
		mg_buf_puts(b, "mmapguard:   ");
		mg_buf_puts(b, no_trunc_note);
		mg_buf_putc(b, '\n');
	}
}

/* ---- dispositions --------------------------------------------------------------------------- */

static void read_app_action(struct sigaction *out)
{
	for (;;) {
		unsigned s1 = __atomic_load_n(&app_seq, __ATOMIC_ACQUIRE);
		if (s1 & 1)
			continue;
		memcpy(out, &app_action, sizeof *out);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&app_seq, __ATOMIC_RELAXED) == s1)
			return;
	}
}

static void write_app_action(const struct sigaction *in)
{
	__atomic_add_fetch(&app_seq, 1, __ATOMIC_ACQ_REL);
	memcpy(&app_action, in, sizeof *in);
	__atomic_add_fetch(&app_seq, 1, __ATOMIC_RELEASE);
}

/*
 * An ignored SIGBUS must stay ignored across execve, which only the kernel's own disposition
 * does: while the program ignores SIGBUS the kernel holds SIG_IGN (a fault then kills the process
 * as it would without the guard, unreported).
 */
static void sync_kernel(const struct sigaction *app)
{
	mg_sigaction_fn real = MG_REAL(sigaction);
	bool ign = !(app->sa_flags & SA_SIGINFO) && app->sa_handler == SIG_IGN;
	if (!real || ign == kernel_ignores)
		return;
	if (ign) {
		struct sigaction a;
		memset(&a, 0, sizeof a);
		a.sa_handler = SIG_IGN;
		real(SIGBUS, &a, NULL);
	} else {
		real(SIGBUS, &ours, NULL);
	}
	kernel_ignores = ign;
}

static void set_default(void)
{
	struct sigaction dfl;
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	mg_sigaction_fn real = MG_REAL(sigaction);
	if (real)
		real(SIGBUS, &dfl, NULL);
	__atomic_store_n(&installed, false, __ATOMIC_RELEASE);
}

/* Hand the signal to the program's handler, as the kernel would have. */
static bool chain(int sig, siginfo_t *si, void *uc)
{
	struct sigaction a;
	read_app_action(&a);
	if (a.sa_handler == SIG_DFL || (a.sa_handler == SIG_IGN && si && si->si_code > 0))
		return false;           /* an ignored fault is fatal anyway: the kernel forces it */
	if (a.sa_handler == SIG_IGN)
		return true;
	sigset_t old;
	sigset_t mask = a.sa_mask;
	if (!(a.sa_flags & SA_NODEFER))
		sigaddset(&mask, sig);
	pthread_sigmask(SIG_BLOCK, &mask, &old);
	if (a.sa_flags & SA_RESETHAND) {
		struct sigaction dfl;
		memset(&dfl, 0, sizeof dfl);
		dfl.sa_handler = SIG_DFL;
		write_app_action(&dfl);
	}
	if (a.sa_flags & SA_SIGINFO)
		a.sa_sigaction(sig, si, uc);
	else
		a.sa_handler(sig);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return true;
}

#define SCRATCH (64u << 10)

static void handler(int sig, siginfo_t *si, void *uc)
{
	int saved = errno;
	mg_enter();
	struct mg_window w;
	if (si && si->si_code > 0 && mg_reg_nmaps()) {
		int found = mg_reg_find_signal_safe((uintptr_t)si->si_addr, &w);
		/* The record and its buffer live in fresh pages (a raw mmap is async-signal-safe):
		 * the faulting thread may have a small stack and no alternate one. */
		struct fault *f = found != MG_FIND_NONE ? mg_pages_alloc(SCRATCH) : NULL;
		if (f) {
			f->registry = found;
			f->w = w;
			gather(f, si, uc);
			struct mg_buf b;
			mg_buf_init(&b, (char *)(f + 1), SCRATCH - sizeof *f);
			if (mg_cfg.format == MG_FORMAT_JSON)
				format_json(&b, f);
			else
				format_text(&b, f);
			mg_log_write_signal(b.p, b.len);
			mg_pages_free(f, SCRATCH);
		}
	}
	mg_leave();
	if (chain(sig, si, uc)) {
		errno = saved;
		return;
	}
	/*
	 * Die as without the guard: for a fault, returning re-executes the access with the default
	 * disposition (original si_addr, core dump); a sent signal is sent again.
	 */
	set_default();
	if (!si || si->si_code <= 0)
		MG_SYS3(SYS_tgkill, MG_SYS0(SYS_getpid), MG_SYS0(SYS_gettid), sig);
	errno = saved;
}

/* ---- alternate stacks ----------------------------------------------------------------------- */

static void free_stack(void *p)
{
	stack_t off = { .ss_flags = SS_DISABLE };
	stack_t cur;
	if (sigaltstack(NULL, &cur) == 0 && cur.ss_sp == p && !(cur.ss_flags & SS_ONSTACK))
		sigaltstack(&off, NULL);
	mg_pages_free(p, ALTSTACK_SIZE);
}

void mg_sigbus_thread_setup(void)
{
	if (thread_has_stack || !__atomic_load_n(&installed, __ATOMIC_ACQUIRE))
		return;
	thread_has_stack = true;
	stack_t cur;
	if (sigaltstack(NULL, &cur) < 0 || !(cur.ss_flags & SS_DISABLE))
		return;                 /* the thread has its own: keep it */
	void *mem = mg_pages_alloc(ALTSTACK_SIZE);
	if (!mem)
		return;
	stack_t ss = { .ss_sp = mem, .ss_size = ALTSTACK_SIZE, .ss_flags = 0 };
	if (sigaltstack(&ss, NULL) < 0) {
		mg_pages_free(mem, ALTSTACK_SIZE);
		return;
	}
	pthread_setspecific(stack_key, mem);
}

void mg_sigbus_init(void)
{
	if (!mg_cfg.sigbus || mg_cfg.mode == MG_MODE_OFF)
		return;
	mg_sigaction_fn real = MG_REAL(sigaction);
	if (!real)
		return;
	struct sigaction prev;
	memset(&ours, 0, sizeof ours);
	ours.sa_sigaction = handler;
	ours.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
	sigemptyset(&ours.sa_mask);
	if (real(SIGBUS, &ours, &prev) < 0)
		return;
	write_app_action(&prev);
	__atomic_store_n(&installed, true, __ATOMIC_RELEASE);
	sync_kernel(&prev);
	pthread_key_create(&stack_key, free_stack);
	/* The main thread gets its alternate stack with its first file mapping, not here: most
	 * processes never map a file, and its own stack is the large one. */
}

/* ---- the program's view of SIGBUS ----------------------------------------------------------- */

MG_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	mg_sigaction_fn real = MG_REAL(sigaction);
	if (sig != SIGBUS || mg_inside() || !__atomic_load_n(&installed, __ATOMIC_ACQUIRE)) {
		if (real)
			return real(sig, act, old);
		errno = ENOSYS;
		return -1;
	}
	/* The kernel keeps our handler; the program sees and changes only its own. */
	if (old)
		read_app_action(old);
	if (act) {
		write_app_action(act);
		sync_kernel(act);
	}
	return 0;
}

/* signal(), bsd_signal(), sysv_signal(), sigset(): glibc reaches its internal sigaction. */
static __sighandler_t emulate(__sighandler_t h, int flags, bool unblock)
{
	struct sigaction a, old;
	memset(&a, 0, sizeof a);
	a.sa_handler = h;
	a.sa_flags = flags;
	read_app_action(&old);
	write_app_action(&a);
	sync_kernel(&a);
	if (unblock) {
		sigset_t set;
		sigemptyset(&set);
		sigaddset(&set, SIGBUS);
		pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	}
	return old.sa_handler;
}

static bool emulating(int sig)
{
	return sig == SIGBUS && !mg_inside() && __atomic_load_n(&installed, __ATOMIC_ACQUIRE);
}

MG_EXPORT __sighandler_t signal(int sig, __sighandler_t h)
{
	mg_signal_fn real = MG_REAL(signal);
	if (!emulating(sig))
		return real ? real(sig, h) : SIG_ERR;
	return emulate(h, SA_RESTART, false);    /* glibc's signal() has BSD semantics */
}

MG_EXPORT __sighandler_t bsd_signal(int sig, __sighandler_t h)
{
	if (!emulating(sig)) {
		mg_bsd_signal_fn real = MG_REAL(bsd_signal);
		return real ? real(sig, h) : SIG_ERR;
	}
	return emulate(h, SA_RESTART, false);
}

MG_EXPORT __sighandler_t sysv_signal(int sig, __sighandler_t h)
{
	if (!emulating(sig)) {
		mg_sysv_signal_fn real = MG_REAL(sysv_signal);
		return real ? real(sig, h) : SIG_ERR;
	}
	return emulate(h, SA_RESETHAND | SA_NODEFER, false);
}

MG_EXPORT __sighandler_t sigset(int sig, __sighandler_t h)
{
	if (!emulating(sig) || h == SIG_HOLD) {
		mg_sigset_fn real = MG_REAL(sigset);
		return real ? real(sig, h) : SIG_ERR;
	}
	sigset_t cur;
	pthread_sigmask(SIG_BLOCK, NULL, &cur);
	__sighandler_t old = emulate(h, 0, true);
	return sigismember(&cur, SIGBUS) ? SIG_HOLD : old;
}

/* ---- threads: an alternate signal stack from their first instruction ------------------------ */

struct start {
	void *(*fn)(void *);
	void *arg;
};

static void *thread_start(void *p)
{
	struct start s = *(struct start *)p;
	free(p);
	mg_sigbus_thread_setup();
	return s.fn(s.arg);
}

MG_EXPORT int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
	mg_pthread_create_fn real = MG_REAL(pthread_create);
	if (!real)
		return EAGAIN;
	mg_bt_note_thread();
	if (mg_inside() || !__atomic_load_n(&installed, __ATOMIC_ACQUIRE))
		return real(t, attr, fn, arg);
	struct start *s = malloc(sizeof *s);
	if (!s)
		return real(t, attr, fn, arg);
	s->fn = fn;
	s->arg = arg;
	int r = real(t, attr, thread_start, s);
	if (r != 0)
		free(s);
	return r;
}

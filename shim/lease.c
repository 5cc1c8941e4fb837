/*
 * Read leases on mapped files. With MMAPGUARD_LEASES=watch or rescue, the first mapping of a file
 * takes a read lease through a descriptor of the guard's own (a new open file description, read-only,
 * close-on-exec, kept at a high number). Another process's open for writing, or its truncate(2),
 * then breaks the lease: the kernel holds that process inside its system call and sends this one
 * the lease signal, which lease_break.c answers. This file takes leases, keeps their descriptors,
 * moves the signal when the program wants it, and gives children leases of their own.
 */
#define _GNU_SOURCE
#include "arena.h"
#include "birth.h"
#include "claim.h"
#include "config.h"
#include "fmt.h"
#include "fd_place.h"
#include "index.h"
#include "lease_impl.h"
#include "lock.h"
#include "procfile.h"
#include "real.h"
#include "registry.h"
#include "report.h"
#include "shown_dev.h"
#include "sigmask_flag.h"
#include "signalfds.h"
#include "log.h"
#include "posix_locks.h"
#include "thread.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#define DEFAULT_SIGNAL_FROM_MAX 4       /* SIGRTMAX-4 */

static int lease_sig;                   /* 0 until the first lease; -1: none free */
static int sig_lock;
/*
 * A fork child's lease_signal record waits (under sig_lock) until the child maps a file or calls
 * exit(): a child that resets every signal and then execs or _exits (a spawn helper, git's
 * run-command) would only write noise; one that goes on living hears of the move then.
 */
static bool quiet_child;                /* a fork child that has mapped no file since the fork */
static bool record_waits;
static struct mg_lease_signal_facts waiting_record;
int mg_lease_ever_held;                 /* a slot was HELD once: the program's writes are worth a look */

#define REASON_TEXT(name, text) text,
static const char *const reason_text[] = { MG_IX_LEASE_REASONS(REASON_TEXT) };
#undef REASON_TEXT

static bool signal_free(int sig)
{
	struct sigaction cur;
	mg_sigaction_fn real = MG_REAL(sigaction);
	if (!real || real(sig, NULL, &cur) < 0)
		return false;
	if (cur.sa_handler != SIG_DFL && cur.sa_sigaction != mg_lease_handler)
		return false;
	sigset_t mask;
	mg_pthread_sigmask_fn mask_fn = MG_REAL(pthread_sigmask);
	if (!mask_fn || mask_fn(SIG_BLOCK, NULL, &mask) != 0)
		return false;
	/*
	 * A signal blocked on its own may be read with sigwait or a signalfd. One blocked with every
	 * real-time signal (a daemon that blocks everything at start and reads what it wants from
	 * a signalfd) is not in use: this thread lets it in once it is picked (mg_sigmask_let_in).
	 */
	return sigismember(&mask, sig) != 1 || !mg_sigmask_names_few(&mask);
}

static bool install(int sig)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = mg_lease_handler;
	sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
	sigfillset(&sa.sa_mask);
	mg_sigaction_fn real = MG_REAL(sigaction);
	return real && real(sig, &sa, NULL) == 0;
}

/* A free real-time signal at or below from (the configured one first), installed; 0 if none. */
static int pick_signal(int from, int avoid)
{
	for (int s = from; s >= SIGRTMIN; s--)
		if (s != avoid && signal_free(s) && mg_signalfds_yield(s) && install(s))
			return s;
	return 0;
}

static int lease_signal(void)
{
	int s = __atomic_load_n(&lease_sig, __ATOMIC_ACQUIRE);
	if (s)
		return s;
	while (__atomic_exchange_n(&sig_lock, 1, __ATOMIC_ACQUIRE))
		__builtin_ia32_pause();
	s = lease_sig;
	if (!s) {
		int want = mg_cfg.lease_signal ? mg_cfg.lease_signal : SIGRTMAX - DEFAULT_SIGNAL_FROM_MAX;
		s = pick_signal(want, 0);
		if (s > 0)
			mg_lease_let_in_here(s);
		__atomic_store_n(&lease_sig, s ? s : -1, __ATOMIC_RELEASE);
	}
	__atomic_store_n(&sig_lock, 0, __ATOMIC_RELEASE);
	return s;
}

int mg_lease_signal_now(void)
{
	int s = __atomic_load_n(&lease_sig, __ATOMIC_ACQUIRE);
	return s > 0 && mg_cfg.leases != MG_LEASES_OFF ? s : 0;
}

/* A new slot's lease word in the shared index: held, what the last attempt said, or pending. */
static uint32_t ix_word(dev_t dev, ino_t ino)
{
	for (int i = 0; i < MG_LEASE_MAX; i++)
		if (__atomic_load_n(&mg_lease_slots[i].state, __ATOMIC_ACQUIRE) == MG_LEASE_HELD &&
		    mg_lease_slot_names(&mg_lease_slots[i], dev, ino))
			return MG_IX_LEASE_WORD(MG_IX_LEASE_HELD, 0, 0);
	uint32_t w = mg_lease_word(dev, ino);
	return w ? w : MG_IX_LEASE_WORD(MG_IX_LEASE_PENDING, 0, 0);
}

/*
 * No lease on fd's file (dev, ino): noted, and said once per file. The path is looked up only
 * then, into pages of the guard's own: a wrapper keeps its stack use small.
 */
static void unavailable(dev_t dev, ino_t ino, int fd, enum mg_ix_lease_reason reason, int err,
			bool quiet)
{
	int i = mg_lease_note(dev, ino, MG_IX_LEASE_WORD(MG_IX_LEASE_UNAVAILABLE, reason, err));
	if (quiet)
		return;
	/* An unlinked file (a temporary file, O_TMPFILE) has no name another process could open it
	 * by: nobody to be warned about. Noted all the same (`mmapguard who`). */
	struct statx sx;
	uint64_t birth = 0;
	if (MG_SYS6(SYS_statx, fd, "", AT_EMPTY_PATH, STATX_NLINK | STATX_BTIME, &sx, 0) == 0) {
		if ((sx.stx_mask & STATX_NLINK) && sx.stx_nlink == 0)
			return;
		birth = mg_birth_of(&sx);
	}
	if (mg_lease_told(i, birth))
		return;
	char *path = mg_pages_alloc(PATH_MAX);
	if (path)
		mg_fd_path(fd, path, PATH_MAX);
	struct mg_lease_unavailable_facts f = { .dev = dev, .ino = ino, .path = path ? path : "",
						 .reason = reason_text[reason], .err = err };
	mg_who_now(&f.who);
	mg_report_emit(mg_format_lease_unavailable, &f);
	if (path)
		mg_pages_free(path, PATH_MAX);
}

static enum mg_ix_lease_reason reason_of(int err)
{
	switch (err) {
	case EAGAIN: return MG_IX_LEASE_WRITER;
	case EACCES: return MG_IX_LEASE_NOT_OWNER;
	case ESTALE: return MG_IX_LEASE_REPLACED;
	default: return MG_IX_LEASE_FILESYSTEM;
	}
}

/*
 * Every slot in use: take over, for (dev, ino), the slot of a file this process no longer maps (its
 * lease was kept, so that a file mapped and unmapped in a loop costs no system call for its lease
 * each time). Under the registry lock, so that no thread maps that file between the check and the
 * release: one that maps it after finds the slot naming the new file, no lease on the old one, and
 * takes one. While a munmap, mremap or MAP_FIXED is in flight its windows may be out of the
 * registry though the kernel still maps them: then nothing is taken over (the new file goes
 * without a lease this time; its next mapping tries again). The slot is BREAKING while its
 * descriptor is closed (the guard's, for the fd wrappers) and comes back TAKING, or NULL.
 */
static struct mg_lease_slot *reclaim_unmapped(dev_t dev, ino_t ino)
{
	mg_reg_lock();
	for (int i = 0; i < MG_LEASE_FILES && !mg_claims_held(); i++) {
		struct mg_lease_slot *s = &mg_lease_slots[i];
		int expect = MG_LEASE_HELD;
		if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != MG_LEASE_HELD ||
		    mg_reg_file_tracked_locked(__atomic_load_n(&s->dev, __ATOMIC_RELAXED),
					       __atomic_load_n(&s->ino, __ATOMIC_RELAXED)) ||
		    !__atomic_compare_exchange_n(&s->state, &expect, MG_LEASE_BREAKING, false, __ATOMIC_ACQ_REL,
						 __ATOMIC_RELAXED))
			continue;
		MG_SYS3(SYS_fcntl, s->fd, F_SETLEASE, F_UNLCK);
		mg_lease_fd_close(s->fd, s->dev, s->ino);
		mg_lease_note(s->dev, s->ino, MG_IX_LEASE_WORD(MG_IX_LEASE_RELEASED, 0, 0));
		mg_lease_slot_name(s, dev, ino);
		__atomic_store_n(&s->state, MG_LEASE_TAKING, __ATOMIC_RELEASE);
		mg_reg_unlock();
		return s;
	}
	mg_reg_unlock();
	return NULL;
}

/* The fork child is no longer quiet: its lease_signal record, if one waits, is written now. */
static void write_waiting_record(void)
{
	while (__atomic_exchange_n(&sig_lock, 1, __ATOMIC_ACQUIRE))
		__builtin_ia32_pause();
	__atomic_store_n(&quiet_child, false, __ATOMIC_RELAXED);
	bool waits = record_waits;
	struct mg_lease_signal_facts f = waiting_record;
	record_waits = false;
	__atomic_store_n(&sig_lock, 0, __ATOMIC_RELEASE);
	if (waits)
		mg_report_emit(mg_format_lease_signal, &f);
}

static void after_child_dropped(void);
static bool dropped_in_vfork_child(dev_t dev, ino_t ino);

/*
 * A read lease on fd, owned by the process. F_SETLEASE makes the calling thread the owner of the
 * descriptor's signal, and the kernel finds an owner by its thread id when a break comes: once a
 * thread that took a lease ends (a worker that mapped a file), the break signals nobody, and every
 * writer of the file waits lease-break-time, unanswered. F_SETOWN to the process's id after it
 * makes the break signal the process's: any thread that lets it in answers. 0 or -errno.
 */
static long set_read_lease(long fd)
{
	long r = MG_SYS3(SYS_fcntl, fd, F_SETLEASE, F_RDLCK);
	if (r == 0)
		r = MG_SYS3(SYS_fcntl, fd, F_SETOWN, MG_SYS0(SYS_getpid));
	return r;
}

/* object: a loaded object's file (quiet: no lease_unavailable record). */
static void track(int fd, dev_t dev, ino_t ino, bool object)
{
	after_child_dropped();
	if (mg_unlikely(__atomic_load_n(&quiet_child, __ATOMIC_RELAXED)))
		write_waiting_record();         /* the fork child maps files: it goes on living */
	mg_index_lease_source(ix_word);
	for (int i = 0; i < MG_LEASE_MAX; i++) {
		int st = __atomic_load_n(&mg_lease_slots[i].state, __ATOMIC_ACQUIRE);
		if ((st == MG_LEASE_HELD || st == MG_LEASE_TAKING) && mg_lease_slot_names(&mg_lease_slots[i], dev, ino))
			return;
	}
	/* only now: a file already leased (every later mapping of it) costs no system call here */
	mg_shown_dev(fd, -1, NULL, dev);        /* the break's handler reads the maps by it */
	char self[64];
	mg_proc_self_fd(self, sizeof self, fd);
	/* a descriptor of its own would have to be closed some day: the program's locks would go */
	if (mg_posix_locked(dev, ino)) {
		unavailable(dev, ino, fd, MG_IX_LEASE_PROGRAM_LOCKS, 0, object);
		return;
	}
	/* The program's own descriptor is open for writing: the kernel refuses a read lease while any
	 * writer exists (EAGAIN), so the attempt (seven system calls) is spared. A database mapping
	 * windows of the file it writes maps it again and again. */
	long fl = MG_SYS2(SYS_fcntl, fd, F_GETFL);
	if (fl >= 0 && (fl & O_ACCMODE) != O_RDONLY) {        /* (an O_PATH one maps nothing) */
		unavailable(dev, ino, fd, MG_IX_LEASE_WRITER, EAGAIN, object);
		return;
	}
	int sig = lease_signal();
	if (sig <= 0) {
		unavailable(dev, ino, fd, MG_IX_LEASE_NO_SIGNAL, 0, object);
		return;
	}
	/* Each thread that takes a lease and blocked everything before the pick answers too: one
	 * system call (the mask), a lease costs several; the more threads answer, the later the
	 * last one ends. */
	if (!mg_sigmask_flag)
		mg_lease_let_in_here(sig);
	struct mg_lease_slot *s = NULL;
	/* the program's files and the loader's objects have slots of their own */
	for (int i = object ? MG_LEASE_FILES : 0; i < (object ? MG_LEASE_MAX : MG_LEASE_FILES) && !s; i++) {
		int expect = MG_LEASE_FREE;
		if (__atomic_compare_exchange_n(&mg_lease_slots[i].state, &expect, MG_LEASE_TAKING, false, __ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED)) {
			s = &mg_lease_slots[i];
			mg_lease_slot_name(s, dev, ino);
		}
	}
	if (!s && !object)
		s = reclaim_unmapped(dev, ino);
	if (!s) {
		unavailable(dev, ino, fd, MG_IX_LEASE_TOO_MANY, 0, object);
		return;
	}
	int err = 0;
	enum mg_ix_lease_reason why = MG_IX_LEASE_NONE;
	long lfd = mg_sys_open(self, O_RDONLY);
	if (lfd < 0) {
		err = (int)-lfd;
		why = MG_IX_LEASE_NO_OPEN;
	} else {
		long high = mg_fd_place_copy((int)lfd, true);
		MG_SYS1(SYS_close, lfd);
		if (high >= 0)
			mg_guard_fd_note((int)high);
		if (high < 0) {
			err = (int)-high;
			why = MG_IX_LEASE_NO_FD;
		} else {
			lfd = high;
			struct stat st;
			long r = MG_SYS2(SYS_fstat, lfd, &st);
			if (r == 0 && (st.st_dev != dev || st.st_ino != ino))
				r = -ESTALE;
			if (r == 0)
				r = MG_SYS3(SYS_fcntl, lfd, F_SETSIG, sig);
			if (r == 0)
				r = set_read_lease(lfd);
			if (r < 0) {
				err = (int)-r;
				why = reason_of(err);
				mg_lease_fd_close((int)lfd, dev, ino);
			}
		}
	}
	if (why != MG_IX_LEASE_NONE) {
		mg_lease_slot_name(s, 0, 0);
		__atomic_store_n(&s->state, MG_LEASE_FREE, __ATOMIC_RELEASE);
		unavailable(dev, ino, fd, why, err, object);
		return;
	}
	s->fd = (int)lfd;
	__atomic_store_n(&mg_lease_ever_held, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&s->state, MG_LEASE_HELD, __ATOMIC_RELEASE);
	mg_lease_note(dev, ino, MG_IX_LEASE_WORD(MG_IX_LEASE_HELD, 0, 0));
}

void mg_lease_track(int fd, dev_t dev, ino_t ino)
{
	if (mg_likely(mg_cfg.leases == MG_LEASES_OFF))
		return;
	track(fd, dev, ino, false);
}

void mg_lease_track_object(int fd, dev_t dev, ino_t ino, uid_t owner)
{
	if (mg_cfg.leases == MG_LEASES_OFF)
		return;
	/* The kernel leases a file to its owner or to a holder of CAP_LEASE (taken to be root):
	 * the system's libraries are root's, and only root can write them. */
	uid_t me = (uid_t)MG_SYS0(SYS_geteuid);
	if (me != 0 && me != owner)
		return;
	track(fd, dev, ino, true);
}

bool mg_lease_fd_owned(int fd)
{
	if (fd < 0)
		return false;
	for (int i = 0; i < MG_LEASE_KEPT_MAX; i++)
		if (__atomic_load_n(&mg_lease_kept_fds[i], __ATOMIC_ACQUIRE) == fd + 1)
			return true;
	for (int i = 0; i < MG_LEASE_MAX; i++) {
		int st = __atomic_load_n(&mg_lease_slots[i].state, __ATOMIC_ACQUIRE);
		if ((st == MG_LEASE_HELD || st == MG_LEASE_BREAKING) && mg_lease_slots[i].fd == fd)
			return true;
	}
	return false;
}

static void put_sorted(int *out, int *n, int fd)
{
	int j = (*n)++;
	while (j > 0 && out[j - 1] > fd) {
		out[j] = out[j - 1];
		j--;
	}
	out[j] = fd;
}

int mg_lease_fds_owned(int *out, int max)
{
	int n = 0;
	for (int i = 0; i < MG_LEASE_MAX && n < max; i++) {
		int st = __atomic_load_n(&mg_lease_slots[i].state, __ATOMIC_ACQUIRE);
		if (st == MG_LEASE_HELD || st == MG_LEASE_BREAKING)
			put_sorted(out, &n, mg_lease_slots[i].fd);
	}
	/* kept open for the program's record locks: its close_range must pass them by too */
	for (int i = 0; i < MG_LEASE_KEPT_MAX && n < max; i++) {
		int fd = __atomic_load_n(&mg_lease_kept_fds[i], __ATOMIC_ACQUIRE) - 1;
		if (fd >= 0)
			put_sorted(out, &n, fd);
	}
	return n;
}

void mg_lease_fd_release(int fd)
{
	for (int i = 0; i < MG_LEASE_MAX; i++) {
		struct mg_lease_slot *s = &mg_lease_slots[i];
		int expect = MG_LEASE_HELD;
		if (s->fd == fd &&
		    __atomic_compare_exchange_n(&s->state, &expect, MG_LEASE_BREAKING, false, __ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED)) {
			mg_lease_note(s->dev, s->ino,
				      MG_IX_LEASE_WORD(MG_IX_LEASE_UNAVAILABLE, MG_IX_LEASE_PROGRAM_FD, 0));
			mg_lease_slot_name(s, 0, 0);
			__atomic_store_n(&s->state, MG_LEASE_FREE, __ATOMIC_RELEASE);
			return;
		}
	}
}

/* ---- the program's own signals, leases and writes --------------------------------------------- */

/* A slot this thread moved from HELD to BREAKING: let its lease go, note why, free the slot. */
static void give_up(struct mg_lease_slot *s, enum mg_ix_lease_reason why)
{
	MG_SYS3(SYS_fcntl, s->fd, F_SETLEASE, F_UNLCK);
	mg_lease_fd_close(s->fd, s->dev, s->ino);
	mg_lease_note(s->dev, s->ino, MG_IX_LEASE_WORD(MG_IX_LEASE_UNAVAILABLE, why, 0));
	mg_lease_slot_name(s, 0, 0);
	__atomic_store_n(&s->state, MG_LEASE_FREE, __ATOMIC_RELEASE);
}

/*
 * A slot moved to BREAKING for nothing goes back to HELD. A break of its lease signalled meanwhile
 * found it BREAKING and passed it by: it is answered now.
 */
static void put_back_held(struct mg_lease_slot *s)
{
	__atomic_store_n(&s->state, MG_LEASE_HELD, __ATOMIC_RELEASE);
	int sig = __atomic_load_n(&lease_sig, __ATOMIC_ACQUIRE);
	if (sig > 0 && MG_SYS3(SYS_fcntl, s->fd, F_GETLEASE, 0) != F_RDLCK)
		mg_lease_handler(sig, NULL, NULL);
}

/* Move the slot holding the lease on (dev, ino) from HELD to BREAKING; NULL if none does. */
static struct mg_lease_slot *take_held(dev_t dev, ino_t ino)
{
	for (int i = 0; i < MG_LEASE_MAX; i++) {
		struct mg_lease_slot *s = &mg_lease_slots[i];
		int expect = MG_LEASE_HELD;
		if (!mg_lease_slot_names(s, dev, ino) ||
		    !__atomic_compare_exchange_n(&s->state, &expect, MG_LEASE_BREAKING, false, __ATOMIC_ACQ_REL,
						 __ATOMIC_RELAXED))
			continue;
		/* Freed and taken for another file between the look and the exchange: not this one. */
		if (mg_lease_slot_names(s, dev, ino))
			return s;
		put_back_held(s);
	}
	return NULL;
}

/* Move the leases to a free signal; repick false: give them up (no signal, leases off). */
static void move_signal(int sig, const char *reason, bool repick)
{
	if (mg_cfg.leases == MG_LEASES_OFF || sig != __atomic_load_n(&lease_sig, __ATOMIC_ACQUIRE))
		return;
	/*
	 * A clone() child without CLONE_VM in which no fork handler ran still shares the parent's lease
	 * descriptors: it takes leases of its own first (as on its first contended lock), and then
	 * moves those.
	 */
	mg_lock_check_foreign();
	/*
	 * A vfork child (or posix_spawn's clone(CLONE_VM) one) resetting the lease signal before exec:
	 * the slots and lease_sig are the parent's memory, and the lease descriptors share the parent's
	 * open file descriptions, so F_SETSIG (or F_UNLCK) on them would move (or drop) the parent's
	 * leases while the new handler went into the child's signal table only: the parent would die
	 * of its next break. The program's call goes through alone, and the child loses nothing: a
	 * lease signals its owner, the parent that took it (F_SETLEASE sets F_SETOWN), never the
	 * child, and exec closes the child's copies (close-on-exec) and resets its handlers anyway.
	 * Without kcmp a clone() child without CLONE_VM is taken for one and left alone too.
	 */
	if (mg_not_self_process())
		return;
	struct mg_lease_signal_facts f = { .from = sig, .reason = reason };
	mg_who_now(&f.who);
	while (__atomic_exchange_n(&sig_lock, 1, __ATOMIC_ACQUIRE))
		__builtin_ia32_pause();
	int to = repick ? pick_signal(SIGRTMAX, sig) : 0;
	if (to > 0)
		mg_lease_let_in_here(to);
	for (int i = 0; i < MG_LEASE_MAX; i++) {
		if (__atomic_load_n(&mg_lease_slots[i].state, __ATOMIC_ACQUIRE) != MG_LEASE_HELD)
			continue;
		if (to > 0) {
			MG_SYS3(SYS_fcntl, mg_lease_slots[i].fd, F_SETSIG, to);
		} else {
			int expect = MG_LEASE_HELD;
			if (__atomic_compare_exchange_n(&mg_lease_slots[i].state, &expect, MG_LEASE_BREAKING, false,
							__ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
				give_up(&mg_lease_slots[i], MG_IX_LEASE_NO_SIGNAL);
		}
	}
	/* A break signalled on the old number meanwhile: answer it now. */
	if (to > 0)
		mg_lease_handler(to, NULL, NULL);
	__atomic_store_n(&lease_sig, to > 0 ? to : -1, __ATOMIC_RELEASE);
	f.to = to;
	bool quiet = __atomic_load_n(&quiet_child, __ATOMIC_RELAXED);
	if (quiet && record_waits) {
		waiting_record.to = to;         /* moved again: one record, from the first to the last */
	} else if (quiet) {
		waiting_record = f;
		record_waits = true;
	}
	__atomic_store_n(&sig_lock, 0, __ATOMIC_RELEASE);
	if (!quiet)
		mg_report_emit(mg_format_lease_signal, &f);
}

/* Called from the program's signal calls (sigaction, the masks, the waits): errno as it was. */
void mg_lease_program_signal(int sig, const char *reason)
{
	int saved = errno;
	move_signal(sig, reason, true);
	errno = saved;
}

/*
 * The threads the guard let the lease signal in (a program that blocked everything before the
 * first mapping): when one ends and no other thread lets the signal in (read from
 * /proc/self/task/TID/status, SigBlk; threads that have ended aside), a break would reach nobody
 * and every writer of a leased file wait lease-break-time. The leases are given up then, for good
 * (a lease_signal record to null), as when no signal is free.
 */
static pthread_key_t answerer_key;
static bool answerer_key_made;
static pthread_once_t answerer_once = PTHREAD_ONCE_INIT;

struct answer_scan {
	int sig;
	long self;
	bool found;
	char buf[4096];
};

static bool task_lets_in(char *name, void *arg)
{
	struct answer_scan *a = arg;
	if (name[0] < '0' || name[0] > '9')
		return true;
	const char *p = name;
	if ((long)mg_parse_num(&p, 10) == a->self)
		return true;
	char path[64];
	struct mg_buf b;
	mg_buf_init(&b, path, sizeof path);
	mg_buf_puts(&b, "/proc/self/task/");
	mg_buf_puts(&b, name);
	mg_buf_puts(&b, "/status");
	if (mg_proc_read(path, a->buf, sizeof a->buf) <= 0)
		return true;
	const char *state = strstr(a->buf, "\nState:"), *blk = strstr(a->buf, "\nSigBlk:");
	if (!state || !blk)
		return true;
	state = mg_skip_ws(state + 7);
	if (*state == 'Z' || *state == 'X')
		return true;            /* ended: it answers nothing */
	blk = mg_skip_ws(blk + 8);
	uint64_t bits = mg_parse_num(&blk, 16);
	if (bits & (1ull << (a->sig - 1)))
		return true;
	a->found = true;
	return false;
}

static void answerer_ends(void *unused)
{
	(void)unused;
	int sig = mg_lease_signal_now();
	if (sig <= 0 || mg_not_self_process())
		return;
	struct answer_scan a = { .sig = sig, .self = (long)MG_SYS0(SYS_gettid) };
	long dfd = mg_sys_open("/proc/self/task", O_RDONLY | O_DIRECTORY);
	if (dfd < 0)
		return;
	char dents[2048];
	mg_dir_each(dfd, dents, sizeof dents, task_lets_in, &a);
	MG_SYS1(SYS_close, dfd);
	if (!a.found)
		move_signal(sig, "no thread lets the lease signal in any more (the program blocked every "
			    "signal; the last thread the guard let it in has ended)", false);
}

static void make_answerer_key(void)
{
	answerer_key_made = pthread_key_create(&answerer_key, answerer_ends) == 0;
}

void mg_lease_let_in_here(int sig)
{
	if (!mg_sigmask_let_in(sig))
		return;
	pthread_once(&answerer_once, make_answerer_key);
	if (answerer_key_made)
		pthread_setspecific(answerer_key, (void *)1);
}

/*
 * The program execs: a descriptor of the guard's of a file the program holds record locks on must
 * not be closed by close-on-exec either (that releases the locks the program keeps across exec).
 * Its lease is given up (the new image would not answer its signal) and close-on-exec cleared: the
 * new image inherits a descriptor it does not know, the lesser harm. If exec fails the descriptor
 * stays open without close-on-exec.
 */
void mg_lease_before_exec(void)
{
	/* a vfork child holds no locks, and the slots are its parent's */
	if (!mg_posix_locks_any() || mg_not_self_process())
		return;
	for (int i = 0; i < MG_LEASE_MAX; i++) {
		struct mg_lease_slot *s = &mg_lease_slots[i];
		int expect = MG_LEASE_HELD;
		if (!mg_posix_locked(__atomic_load_n(&s->dev, __ATOMIC_RELAXED),
				     __atomic_load_n(&s->ino, __ATOMIC_RELAXED)) ||
		    !__atomic_compare_exchange_n(&s->state, &expect, MG_LEASE_BREAKING, false, __ATOMIC_ACQ_REL,
						 __ATOMIC_RELAXED))
			continue;
		if (!mg_posix_locked(s->dev, s->ino)) {         /* taken for another file meanwhile */
			put_back_held(s);
			continue;
		}
		give_up(s, MG_IX_LEASE_PROGRAM_LOCKS);          /* kept open: locked */
	}
	for (int i = 0; i < MG_LEASE_KEPT_MAX; i++) {
		int fd = __atomic_load_n(&mg_lease_kept_fds[i], __ATOMIC_ACQUIRE) - 1;
		if (fd >= 0)
			MG_SYS3(SYS_fcntl, fd, F_SETFD, 0);
	}
}

void mg_lease_fini(void)
{
	/* exit() (not exec or _exit): the fork child lived on after all */
	if (__atomic_load_n(&quiet_child, __ATOMIC_RELAXED) &&
	    !mg_not_self_process())
		write_waiting_record();
}

void mg_lease_program_wrlease(int fd)
{
	if (mg_cfg.leases == MG_LEASES_OFF)
		return;
	struct stat st;
	if (MG_SYS2(SYS_fstat, fd, &st) < 0)
		return;
	if (dropped_in_vfork_child(st.st_dev, st.st_ino))
		return;
	struct mg_lease_slot *s;
	while ((s = take_held(st.st_dev, st.st_ino)))
		give_up(s, MG_IX_LEASE_PROGRAM_LEASE);
}

bool mg_lease_held_now(void)
{
	for (int i = 0; i < MG_LEASE_MAX; i++)
		if (__atomic_load_n(&mg_lease_slots[i].state, __ATOMIC_ACQUIRE) == MG_LEASE_HELD)
			return true;
	return false;
}

/*
 * A vfork child (its memory is the parent's, its descriptors copies sharing the parent's open file
 * descriptions): the lease is let go on the shared description, so the child's call does not wait,
 * and the slot is left to the parent, which closes its own descriptor (mg_lease_track looks).
 */
static int child_dropped;               /* a vfork child let a lease go: the parent checks its slots */

static bool dropped_in_vfork_child(dev_t dev, ino_t ino)
{
	if (!mg_not_self_process())
		return false;
	for (int i = 0; i < MG_LEASE_MAX; i++) {
		struct mg_lease_slot *s = &mg_lease_slots[i];
		if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) == MG_LEASE_HELD &&
		    mg_lease_slot_names(s, dev, ino)) {
			MG_SYS3(SYS_fcntl, s->fd, F_SETLEASE, F_UNLCK);
			__atomic_store_n(&child_dropped, 1, __ATOMIC_RELEASE);
		}
	}
	return true;
}

/* The parent, after a vfork child let leases go: a slot whose lease is gone is given up here. */
static void after_child_dropped(void)
{
	if (mg_likely(!__atomic_load_n(&child_dropped, __ATOMIC_ACQUIRE)) ||
	    mg_not_self_process() ||
	    !__atomic_exchange_n(&child_dropped, 0, __ATOMIC_ACQ_REL))
		return;
	for (int i = 0; i < MG_LEASE_MAX; i++) {
		struct mg_lease_slot *s = &mg_lease_slots[i];
		int expect = MG_LEASE_HELD;
		if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != MG_LEASE_HELD ||
		    MG_SYS3(SYS_fcntl, s->fd, F_GETLEASE, 0) == F_RDLCK ||
		    !__atomic_compare_exchange_n(&s->state, &expect, MG_LEASE_BREAKING, false, __ATOMIC_ACQ_REL,
						 __ATOMIC_RELAXED))
			continue;
		give_up(s, MG_IX_LEASE_PROGRAM_WRITES);
	}
}

/*
 * The kernel does not tell the lease holder's own opens from anyone else's: the program's open for
 * writing would wait for the guard's handler (a few ms spent naming a breaker that is the program
 * itself), or, with the lease signal blocked (a signalfd daemon), for lease-break-time. The lease
 * is let go before the call instead; the file's next mapping asks for one again, which the kernel
 * refuses (lease_unavailable, "a writer has the file open") while the program's writable
 * descriptor is open. A thread mapping the file between this and the program's call may take a
 * lease the call then breaks: the handler answers it quietly (lease_break.c).
 */
void mg_lease_program_writes(dev_t dev, ino_t ino)
{
	if (dropped_in_vfork_child(dev, ino))
		return;
	struct mg_lease_slot *s;
	while ((s = take_held(dev, ino)))
		give_up(s, MG_IX_LEASE_PROGRAM_WRITES);
}

/*
 * A forked child shares the parent's lease descriptors (one open file description): the parent
 * answers their breaks. The child takes leases of its own, through new open file descriptions,
 * for the mappings it inherited, and drops the shared ones, so that each break is answered by a
 * live process whichever of the two exits first.
 */
void mg_lease_atfork_child(void)
{
	mg_lease_handler_atfork_child();
	sig_lock = 0;
	quiet_child = true;
	record_waits = false;           /* a record the parent held back is the parent's */
	for (int i = 0; i < MG_LEASE_KEPT_MAX; i++)      /* the child holds none of the parent's locks */
		mg_lease_kept_fds[i] = 0;
	int sig = __atomic_load_n(&lease_sig, __ATOMIC_ACQUIRE);
	for (int i = 0; i < MG_LEASE_MAX; i++) {
		struct mg_lease_slot *s = &mg_lease_slots[i];
		int st = s->state;
		if (st == MG_LEASE_TAKING) {
			mg_lease_slot_name(s, 0, 0);
			s->state = MG_LEASE_FREE;        /* the parent's thread was taking it; the child has none */
			continue;
		}
		if (st != MG_LEASE_HELD && st != MG_LEASE_BREAKING)
			continue;
		char self[64];
		mg_proc_self_fd(self, sizeof self, s->fd);
		long nfd = st == MG_LEASE_HELD && sig > 0 ? mg_sys_open(self, O_RDONLY) : -1;
		long r = nfd;
		if (nfd >= 0) {
			r = MG_SYS3(SYS_dup3, nfd, s->fd, O_CLOEXEC);
			MG_SYS1(SYS_close, nfd);
			if (r >= 0)
				r = MG_SYS3(SYS_fcntl, s->fd, F_SETSIG, sig);
			if (r >= 0)
				r = set_read_lease(s->fd);
			if (r >= 0)
				continue;
		}
		MG_SYS1(SYS_close, s->fd);
		s->state = MG_LEASE_FREE;
		/* what the child's index says of it (a break the parent was answering: released) */
		if (st == MG_LEASE_BREAKING)
			mg_lease_note(s->dev, s->ino, MG_IX_LEASE_WORD(MG_IX_LEASE_RELEASED, 0, 0));
		else if (sig <= 0)
			mg_lease_note(s->dev, s->ino, MG_IX_LEASE_WORD(MG_IX_LEASE_UNAVAILABLE, MG_IX_LEASE_NO_SIGNAL, 0));
		else
			mg_lease_note(s->dev, s->ino,
				      MG_IX_LEASE_WORD(MG_IX_LEASE_UNAVAILABLE,
						       nfd < 0 ? MG_IX_LEASE_NO_OPEN : reason_of((int)-r), (int)-r));
		mg_lease_slot_name(s, 0, 0);
	}
}

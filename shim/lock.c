#define _GNU_SOURCE
#include "lock.h"
#include "real.h"
#include "thread.h"

#include <errno.h>
#include <linux/futex.h>
#include <linux/kcmp.h>
#include <sys/syscall.h>

struct mg_lock mg_fork_gate = MG_LOCK_INITIALIZER;
struct mg_lock mg_cb_lock = MG_LOCK_INITIALIZER;
struct mg_lock mg_files_lock = MG_LOCK_INITIALIZER;
struct mg_lock mg_app_sig_lock = MG_LOCK_INITIALIZER;
struct mg_lock mg_registry_lock = MG_LOCK_INITIALIZER;
struct mg_lock mg_report_lock_ = MG_LOCK_INITIALIZER;

void (*mg_fork_foreign_child)(void);
/* The lock this thread is acquiring: a signal handler that interrupts it counts it as held. */
static MG_TLS struct mg_lock *acquiring;

/*
 * A lock is taken: if this process is not the one the locks belong to, and does not share its
 * memory with it (a vfork child does: there another thread of the parent really holds it), it is
 * a clone() child without CLONE_VM, where no fork handler ran.
 */
void mg_lock_check_foreign(void)
{
	int cached = __atomic_load_n(&mg_thread_pid_cached, __ATOMIC_RELAXED);   /* thread.h */
	if (!cached)
		return;
	int pid = (int)MG_SYS0(SYS_getpid);
	if (pid == cached)
		return;
	long same = MG_SYS6(SYS_kcmp, pid, cached, KCMP_VM, 0, 0, 0);
	if ((same > 0 || same == -ESRCH) && mg_fork_foreign_child) /* another address space, or the
									 * parent is gone */
		mg_fork_foreign_child();
}

#ifdef MG_LOCK_PTHREAD
static inline bool word_try(struct mg_lock *l) { return pthread_mutex_trylock(&l->m) == 0; }
static inline void word_wait(struct mg_lock *l) { pthread_mutex_lock(&l->m); }
static inline void word_release(struct mg_lock *l) { pthread_mutex_unlock(&l->m); }
static inline void word_init(struct mg_lock *l) { pthread_mutex_init(&l->m, NULL); }
#else
static inline bool word_try(struct mg_lock *l)
{
	unsigned free_ = 0;
	return __atomic_compare_exchange_n(&l->word, &free_, 1, false, __ATOMIC_ACQUIRE,
					   __ATOMIC_RELAXED);
}

/* Contended: say so (2), and sleep while another holds it. */
static void word_wait(struct mg_lock *l)
{
	while (__atomic_exchange_n(&l->word, 2, __ATOMIC_ACQUIRE) != 0)
		MG_SYS6(SYS_futex, &l->word, FUTEX_WAIT_PRIVATE, 2, 0, 0, 0);
}

static inline void word_release(struct mg_lock *l)
{
	if (__atomic_exchange_n(&l->word, 0, __ATOMIC_RELEASE) == 2)
		MG_SYS6(SYS_futex, &l->word, FUTEX_WAKE_PRIVATE, 1, 0, 0, 0);
}

static inline void word_init(struct mg_lock *l) { __atomic_store_n(&l->word, 0, __ATOMIC_RELAXED); }
#endif

void mg_lock(struct mg_lock *l)
{
	mg_enter();
	acquiring = l;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	if (mg_unlikely(!word_try(l))) {
		mg_lock_check_foreign();
		word_wait(l);
	}
	__atomic_store_n(&l->owner, mg_thread_tid(), __ATOMIC_RELAXED);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	acquiring = NULL;
}

bool mg_trylock(struct mg_lock *l)
{
	mg_enter();
	if (!word_try(l)) {
		mg_leave();
		return false;
	}
	__atomic_store_n(&l->owner, mg_thread_tid(), __ATOMIC_RELAXED);
	return true;
}

void mg_unlock(struct mg_lock *l)
{
	__atomic_store_n(&l->owner, 0, __ATOMIC_RELAXED);
	word_release(l);
	mg_leave();
}

bool mg_lock_mine(const struct mg_lock *l)
{
	return acquiring == l || __atomic_load_n(&l->owner, __ATOMIC_RELAXED) == mg_thread_tid();
}

void mg_lock_prepare(struct mg_lock *l)
{
	if (mg_lock_mine(l))
		return;                 /* the interrupted code of this thread holds it */
	mg_lock(l);
	l->forking = mg_thread_tid();
}

void mg_lock_parent(struct mg_lock *l)
{
	if (l->forking && l->forking == mg_thread_tid()) {
		l->forking = 0;
		mg_unlock(l);
	}
}

bool mg_lock_child(struct mg_lock *l, pid_t me)
{
	bool prepared = l->forking == me && me;
	l->forking = 0;
	if (prepared) {
		word_init(l);
		__atomic_store_n(&l->owner, 0, __ATOMIC_RELAXED);
		mg_leave();
		return false;
	}
	pid_t o = __atomic_load_n(&l->owner, __ATOMIC_RELAXED);
	if (o == 0 || o == me) {
		if (o == 0)
			word_init(l);        /* a holder may be between unlock steps */
		return false;
	}
	word_init(l);
	__atomic_store_n(&l->owner, 0, __ATOMIC_RELAXED);
	return true;
}

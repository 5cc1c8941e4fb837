/*
 * This process's file in the shared index: a MAP_SHARED file whose slots the registry updates
 * under its lock with plain stores (a per-slot sequence counter tells readers in other processes
 * whether their copy is whole). Made with the first published mapping; raw system calls only.
 */
#define _GNU_SOURCE
#include "index.h"
#include "config.h"
#include "fmt.h"
#include "real.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

int mg_index_on;

enum { IX_NONE = 0, IX_READY = 1, IX_FAILED = -1 };
static int ix_state;
static struct mg_ix_header *ix;
static size_t ix_size;
static pid_t ix_pid;
static char ix_name[48];
static uint32_t (*lease_word)(dev_t dev, ino_t ino);     /* lease.c's, once it takes leases */
/* Free slots below hiwater: private memory, only the writer needs it. */
static int32_t free_slots[MG_IX_SLOTS];
static uint32_t n_free;
/* The slots whose birth entry holds a birth (private): only those are written with none; any: one
 * ever did (off overlayfs none does, and publication skips the entries at once). */
static uint8_t had_birth[MG_IX_SLOTS / 8];
static bool any_birth;

static inline struct mg_ix_slot *slot_at(int32_t i)
{
	return (struct mg_ix_slot *)((char *)ix + sizeof *ix) + i;
}

#define BIRTHS_AT (sizeof(struct mg_ix_header) + MG_IX_SLOTS * sizeof(struct mg_ix_slot))

static inline struct mg_ix_birth *birth_at(int32_t i)
{
	return (struct mg_ix_birth *)((char *)ix + BIRTHS_AT) + i;
}

int mg_index_dir_open(char *path_out)
{
	char path[PATH_MAX];
	struct mg_buf b;
	mg_buf_init(&b, path, sizeof path);
	uid_t uid = (uid_t)MG_SYS0(SYS_geteuid);
	if (mg_cfg.index_dir[0]) {
		mg_buf_puts(&b, mg_cfg.index_dir);
	} else {
		mg_buf_puts(&b, "/dev/shm/mmapguard-");
		mg_buf_u64(&b, uid);
	}
	if (b.truncated)
		return -ENAMETOOLONG;
	path[b.len] = 0;
	long r = MG_SYS3(SYS_mkdirat, AT_FDCWD, path, 0700);
	if (r < 0 && r != -EEXIST)
		return (int)r;
	int fd = mg_index_dir_of(path, uid);
	if (fd >= 0 && path_out)
		memcpy(path_out, path, b.len + 1);
	return fd;
}

int mg_index_dir_of(const char *path, uid_t uid)
{
	long fd = MG_SYS4(SYS_openat, AT_FDCWD, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
	if (fd < 0)
		return (int)fd;
	struct stat st;
	/* Someone else's directory, or one others may write to, is not the user's to trust. */
	if (MG_SYS2(SYS_fstat, fd, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != uid ||
	    (st.st_mode & 077)) {
		MG_SYS1(SYS_close, fd);
		return -EPERM;
	}
	return (int)fd;
}

uint64_t mg_proc_start_time(pid_t pid)
{
	char path[48], buf[1024];
	struct mg_buf b;
	mg_buf_init(&b, path, sizeof path);
	mg_buf_puts(&b, "/proc/");
	mg_buf_u64(&b, (uint64_t)pid);
	mg_buf_puts(&b, "/stat");
	path[b.len] = 0;
	long fd = MG_SYS4(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	long n = MG_SYS3(SYS_read, fd, buf, sizeof buf - 1);
	MG_SYS1(SYS_close, fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	/* comm may hold spaces and parentheses: fields are counted from the last ')' (field 2). */
	char *p = NULL;
	for (long i = n - 1; i >= 0; i--)
		if (buf[i] == ')') {
			p = buf + i + 1;
			break;
		}
	if (!p)
		return 0;
	for (int field = 3; field < 22 && *p; field++) {
		while (*p == ' ')
			p++;
		while (*p && *p != ' ')
			p++;
	}
	while (*p == ' ')
		p++;
	uint64_t v = 0;
	while (*p >= '0' && *p <= '9')
		v = v * 10 + (uint64_t)(*p++ - '0');
	return v;
}

void mg_proc_text(pid_t pid, const char *leaf, char *out, size_t cap, bool link)
{
	char path[64];
	struct mg_buf b;
	mg_buf_init(&b, path, sizeof path);
	mg_buf_puts(&b, "/proc/");
	if (pid > 0)
		mg_buf_u64(&b, (uint64_t)pid);
	else
		mg_buf_puts(&b, "self");
	mg_buf_putc(&b, '/');
	mg_buf_puts(&b, leaf);
	path[b.len < sizeof path ? b.len : sizeof path - 1] = 0;
	long n = -1;
	if (link) {
		n = MG_SYS4(SYS_readlinkat, AT_FDCWD, path, out, cap - 1);
	} else {
		long fd = MG_SYS4(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
		if (fd >= 0) {
			n = MG_SYS3(SYS_read, fd, out, cap - 1);
			MG_SYS1(SYS_close, fd);
		}
		while (n > 0 && out[n - 1] == '\n')
			n--;
	}
	out[n > 0 ? n : 0] = 0;
}

/*
 * Files of processes that are gone (killed before their destructor ran): removed when a process
 * makes its own. One kill(pid, 0) per entry; a reused pid is left to the cutters' scans.
 */
static void reclaim_dead(int dfd)
{
	char dents[2048];
	long n;
	while ((n = MG_SYS3(SYS_getdents64, dfd, dents, sizeof dents)) > 0) {
		for (long off = 0; off < n;) {
			struct linux_dirent64 *d = (struct linux_dirent64 *)(dents + off);
			off += d->d_reclen;
			long pid = 0;
			const char *p = d->d_name;
			while (*p >= '0' && *p <= '9' && pid < 1L << 31)
				pid = pid * 10 + (*p++ - '0');
			if (*p == '-' && pid > 0 && pid < 1L << 31 && MG_SYS2(SYS_kill, pid, 0) == -ESRCH)
				MG_SYS3(SYS_unlinkat, dfd, d->d_name, 0);
		}
	}
}

/* Under the registry lock; the only time publication makes system calls. */
static void create_locked(void)
{
	ix_state = IX_FAILED;
	int dfd = mg_index_dir_open(NULL);
	if (dfd < 0)
		return;
	pid_t pid = (pid_t)MG_SYS0(SYS_getpid);
	uint64_t start = mg_proc_start_time(pid);
	struct mg_buf b;
	mg_buf_init(&b, ix_name, sizeof ix_name);
	mg_buf_u64(&b, (uint64_t)pid);
	mg_buf_putc(&b, '-');
	mg_buf_u64(&b, start);
	ix_name[b.len] = 0;
	size_t size = BIRTHS_AT + MG_IX_SLOTS * sizeof(struct mg_ix_birth);
	/* After exec the new image takes the old image's file over (same pid and start time). */
	long fd = MG_SYS4(SYS_openat, dfd, ix_name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK,
			  0600);
	reclaim_dead(dfd);
	MG_SYS1(SYS_close, dfd);
	if (fd < 0)
		return;
	struct stat st;
	long m = -EINVAL;
	if (MG_SYS2(SYS_fstat, fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    st.st_uid == (uid_t)MG_SYS0(SYS_geteuid) && MG_SYS2(SYS_ftruncate, fd, 0) == 0 &&
	    MG_SYS2(SYS_ftruncate, fd, size) == 0)
		m = MG_SYS6(SYS_mmap, 0, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	MG_SYS1(SYS_close, fd);
	if (m == 0 || (m < 0 && m > -4096))
		return;
	struct mg_ix_header *p = (struct mg_ix_header *)m;
	ix = p;
	ix_size = size;
	ix_pid = pid;
	ix->version = MG_IX_VERSION;
	ix->header_size = sizeof *ix;
	ix->slot_size = sizeof(struct mg_ix_slot);
	ix->capacity = MG_IX_SLOTS;
	ix->births_at = BIRTHS_AT;
	ix->pid = pid;
	ix->start_time = start;
	ix->leases = mg_cfg.leases == MG_LEASES_RESCUE ? MG_IX_LEASES_RESCUE
		     : mg_cfg.leases == MG_LEASES_WATCH ? MG_IX_LEASES_WATCH : MG_IX_LEASES_OFF;
	mg_proc_text(0, "comm", ix->comm, sizeof ix->comm, false);
	mg_proc_text(0, "exe", ix->exe, sizeof ix->exe, true);
	__atomic_store_n(&ix->magic, MG_IX_MAGIC, __ATOMIC_RELEASE);
	n_free = 0;
	memset(had_birth, 0, sizeof had_birth);
	any_birth = false;
	__atomic_store_n(&ix_state, IX_READY, __ATOMIC_RELEASE);
}

static int32_t slot_alloc(void)
{
	if (n_free)
		return free_slots[--n_free];
	uint32_t hw = ix->hiwater;
	if (hw >= MG_IX_SLOTS) {
		__atomic_store_n(&ix->overflow_all, 1, __ATOMIC_RELEASE);
		__atomic_store_n(&ix->overflow, 1, __ATOMIC_RELEASE);
		return -1;
	}
	if (hw >= MG_IX_SLOTS_V1)       /* first-version readers stop there: they ask /proc */
		__atomic_store_n(&ix->overflow, 1, __ATOMIC_RELEASE);
	__atomic_store_n(&ix->hiwater, hw + 1, __ATOMIC_RELEASE);
	return (int32_t)hw;
}

static inline uint32_t write_begin(struct mg_ix_slot *s)
{
	uint32_t q = s->seq | 1;       /* odd: being written */
	__atomic_store_n(&s->seq, q, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	return q + 1;
}

static inline void write_end(struct mg_ix_slot *s, uint32_t q)
{
	__atomic_store_n(&s->seq_end, q, __ATOMIC_RELEASE);
	__atomic_store_n(&s->seq, q, __ATOMIC_RELEASE);
}

/*
 * Inside slot i's write: its file's birth, under the same protocol. Away from overlayfs no birth
 * is ever known, and the entries are never touched (nor their pages allocated).
 */
static __attribute__((noinline)) void birth_write(int32_t i, dev_t dev, ino_t ino, uint64_t birth)
{
	uint8_t bit = (uint8_t)(1u << (i & 7));
	if (!birth && !(had_birth[i >> 3] & bit))
		return;
	any_birth = true;
	if (birth)
		had_birth[i >> 3] |= bit;
	else
		had_birth[i >> 3] &= (uint8_t)~bit;
	struct mg_ix_birth *b = birth_at(i);
	uint32_t q = b->seq | 1;
	__atomic_store_n(&b->seq, q, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	b->dev = (uint64_t)dev;
	b->ino = (uint64_t)ino;
	b->birth = birth;
	__atomic_store_n(&b->seq_end, q + 1, __ATOMIC_RELEASE);
	__atomic_store_n(&b->seq, q + 1, __ATOMIC_RELEASE);
}

static inline void birth_put(int32_t i, dev_t dev, ino_t ino, uint64_t birth)
{
	if (mg_unlikely(birth || any_birth))
		birth_write(i, dev, ino, birth);
}

void mg_index_put_locked(int32_t *slot, dev_t dev, ino_t ino, uint64_t safe_size,
			 const struct mg_window *w, uint64_t birth)
{
	if (mg_unlikely(ix_state != IX_READY)) {
		if (ix_state != IX_NONE || !__atomic_load_n(&mg_index_on, __ATOMIC_RELAXED))
			return;
		create_locked();
		if (ix_state != IX_READY)
			return;
	}
	int32_t i = *slot;
	bool fresh = i < 0 || i >= MG_IX_SLOTS;
	if (fresh) {
		i = slot_alloc();
		if (i < 0)
			return;
		*slot = i;
	}
	struct mg_ix_slot *s = slot_at(i);
	uint32_t q = write_begin(s);
	if (fresh) {
		uint32_t (*fn)(dev_t, ino_t) = __atomic_load_n(&lease_word, __ATOMIC_ACQUIRE);
		uint32_t lw = fn ? fn(dev, ino)
			      : MG_IX_LEASE_WORD(mg_cfg.leases != MG_LEASES_OFF ? MG_IX_LEASE_PENDING : MG_IX_LEASE_OFF, 0, 0);
		__atomic_store_n(&s->lease, lw, __ATOMIC_RELAXED);
	}
	s->used = 1;
	s->dev = (uint64_t)dev;
	s->ino = (uint64_t)ino;
	s->safe_size = safe_size;
	s->start = w->start;
	s->length = w->end - w->start;
	s->offset = w->offset;
	s->prot = w->prot;
	s->shared = w->shared;
	s->tid = w->tid;
	s->made_in_pid = mg_win_made_in(w, ix_pid);
	memcpy(s->thread_name, w->thread_name, sizeof s->thread_name);
	s->created_sec = w->created.tv_sec;
	s->created_nsec = w->created.tv_nsec;
	const struct mg_stack *st = mg_win_stack(w);
	uint32_t n = st->n < MG_IX_FRAMES ? st->n : MG_IX_FRAMES;
	s->nframes = n;
	s->pc_first = st->pc_first;
	memcpy(s->ip, st->ip, n * sizeof s->ip[0]);
	birth_put(i, dev, ino, birth);
	write_end(s, q);
}

void mg_index_drop_locked(int32_t *slot)
{
	int32_t i = *slot;
	*slot = -1;
	if (i < 0 || i >= MG_IX_SLOTS || ix_state != IX_READY)
		return;
	struct mg_ix_slot *s = slot_at(i);
	uint32_t q = write_begin(s);
	s->used = 0;
	birth_put(i, 0, 0, 0);
	write_end(s, q);
	if (n_free < MG_IX_SLOTS)
		free_slots[n_free++] = i;
}

void mg_index_lease_source(uint32_t (*fn)(dev_t dev, ino_t ino))
{
	__atomic_store_n(&lease_word, fn, __ATOMIC_RELEASE);
}

void mg_index_lease_note(dev_t dev, ino_t ino, uint32_t word)
{
	/* a fork child still sees its parent's file until it makes its own */
	if (__atomic_load_n(&ix_state, __ATOMIC_ACQUIRE) != IX_READY || ix_pid != (pid_t)MG_SYS0(SYS_getpid))
		return;
	uint32_t hw = __atomic_load_n(&ix->hiwater, __ATOMIC_ACQUIRE);
	for (uint32_t i = 0; i < hw && i < MG_IX_SLOTS; i++) {
		struct mg_ix_slot *s = slot_at((int32_t)i);
		if (__atomic_load_n(&s->used, __ATOMIC_ACQUIRE) && s->dev == (uint64_t)dev && s->ino == (uint64_t)ino)
			__atomic_store_n(&s->lease, word, __ATOMIC_RELEASE);
	}
}

bool mg_index_init(void)
{
	bool on = mg_cfg.scope != MG_SCOPE_PROCESS && mg_cfg.mode != MG_MODE_OFF;
	__atomic_store_n(&mg_index_on, on, __ATOMIC_RELAXED);
	return on;
}

bool mg_index_atfork_child(void)
{
	/* The parent's file stays the parent's: the child starts its own. */
	if (ix)
		MG_SYS2(SYS_munmap, ix, ix_size);
	ix = NULL;
	ix_state = IX_NONE;
	n_free = 0;
	return __atomic_load_n(&mg_index_on, __ATOMIC_RELAXED);
}

void mg_index_fini(void)
{
	if (ix_state != IX_READY || ix_pid != (pid_t)MG_SYS0(SYS_getpid))
		return;
	int dfd = mg_index_dir_open(NULL);
	if (dfd < 0)
		return;
	MG_SYS3(SYS_unlinkat, dfd, ix_name, 0);
	MG_SYS1(SYS_close, dfd);
}

bool mg_index_owns(uintptr_t addr)
{
	uintptr_t lo = (uintptr_t)__atomic_load_n(&ix, __ATOMIC_RELAXED);
	return lo && addr >= lo && addr < lo + ix_size;
}

void mg_index_abandon(void)
{
	__atomic_store_n(&mg_index_on, 0, __ATOMIC_RELAXED);
	if (ix)
		MG_SYS6(SYS_mmap, ix, ix_size, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	ix_state = IX_FAILED;
}

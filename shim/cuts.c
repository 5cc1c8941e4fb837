/*
 * The per-user ring of cuts guarded processes let through ("cuts" in the index directory), so
 * that a SIGBUS in another process can name who cut its file. Written with pwrite, read with
 * pread: a forged or truncated file can make a record wrong, never fault the reader.
 */
#define _GNU_SOURCE
#include "index.h"
#include "backtrace.h"
#include "history.h"
#include "real.h"

#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>

static const char cuts_name[] = "cuts";

/*
 * An open cuts file made usable: regular, owned by owner, one link, the header whole (written
 * first when create finds it empty). The descriptor, or -1 (closed).
 */
static long cuts_check(long fd, bool create, uid_t owner, struct mg_ix_cuts_header *h)
{
	struct stat st;
	uint64_t size = sizeof *h + (uint64_t)MG_IX_CUTS * sizeof(struct mg_ix_cut);
	if (MG_SYS2(SYS_fstat, fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != owner ||
	    st.st_nlink != 1)
		goto bad;
	if (create && st.st_size == 0) {
		struct mg_ix_cuts_header fresh;
		memset(&fresh, 0, sizeof fresh);
		fresh.magic = MG_IX_CUTS_MAGIC;
		fresh.version = MG_IX_VERSION;
		fresh.record_size = sizeof(struct mg_ix_cut);
		fresh.capacity = MG_IX_CUTS;
		if (MG_SYS2(SYS_ftruncate, fd, size) < 0 ||
		    MG_SYS4(SYS_pwrite64, fd, &fresh, sizeof fresh, 0) != (long)sizeof fresh)
			goto bad;
	}
	if (MG_SYS4(SYS_pread64, fd, h, sizeof *h, 0) != (long)sizeof *h || h->magic != MG_IX_CUTS_MAGIC ||
	    h->version != MG_IX_VERSION || h->record_size != sizeof(struct mg_ix_cut) ||
	    h->capacity != MG_IX_CUTS)
		goto bad;
	return fd;
bad:
	MG_SYS1(SYS_close, fd);
	return -1;
}

/* name in the index directory dfd, checked as above. */
static long cuts_open_in(int dfd, const char *name, bool create, uid_t owner, mode_t mode,
			 struct mg_ix_cuts_header *h)
{
	long fd = MG_SYS4(SYS_openat, dfd, name,
			  (create ? O_RDWR | O_CREAT : O_RDONLY) | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, mode);
	if (fd < 0)
		return fd;
	return cuts_check(fd, create, owner, h);
}

/* This user's cuts file. -errno or -1 if it cannot be used. */
static long cuts_open(bool create, struct mg_ix_cuts_header *h)
{
	int dfd = mg_index_dir_open(NULL);
	if (dfd < 0)
		return dfd;
	long fd = cuts_open_in(dfd, cuts_name, create, (uid_t)MG_SYS0(SYS_geteuid), 0600, h);
	MG_SYS1(SYS_close, dfd);
	return fd;
}

/*
 * Root's cuts of another user's files live in that user's index directory (the victim's maps name
 * it) as "cuts-root", owned by root and readable by the user (whose guard trusts no other owner).
 * The directory must belong to that user and be private; the file must be root's, with one link.
 */
static const char root_cuts_name[] = "cuts-root";

static long root_cuts_open_in(const char *dir, uid_t uid, struct mg_ix_cuts_header *h)
{
	int dfd = mg_index_dir_of(dir, uid);
	if (dfd < 0)
		return -1;
	long fd = cuts_open_in(dfd, root_cuts_name, true, 0, 0644, h);
	MG_SYS1(SYS_close, dfd);
	if (fd >= 0)
		MG_SYS2(SYS_fchmod, fd, 0644);   /* whatever the umask: the user must read it */
	return fd;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = strnlen(src, cap - 1);
	memcpy(dst, src, n);
	dst[n] = 0;
}

/* One symbol at a time under the report lock: a PATH_MAX module name stays off the program's stack. */
static struct mg_sym cut_sym;

static void cut_write(long fd, const struct mg_ix_cuts_header *h, struct mg_ix_cut *c)
{
	/* Concurrent cutters may pick the same slot: one record is lost, never half of two (seq). */
	uint32_t idx = h->next;
	uint32_t next = idx + 1;
	MG_SYS4(SYS_pwrite64, fd, &next, sizeof next, offsetof(struct mg_ix_cuts_header, next));
	c->seq = c->seq_end = (idx + 1) * 2;
	MG_SYS4(SYS_pwrite64, fd, c, sizeof *c,
		sizeof *h + (uint64_t)(idx % MG_IX_CUTS) * sizeof(struct mg_ix_cut));
	MG_SYS1(SYS_close, fd);
}

static struct mg_ix_cut cut_rec;

void mg_index_record_cut(const struct mg_trunc_record *r, const struct mg_cut_reader *readers,
			 size_t nreaders)
{
	if (!__atomic_load_n(&mg_index_on, __ATOMIC_RELAXED))
		return;
	struct mg_ix_cuts_header h;
	long fd = cuts_open(true, &h);
	if (fd < 0 && !nreaders)
		return;
	struct mg_ix_cut *cp = &cut_rec;
	memset(cp, 0, sizeof *cp);
	cp->dev = (uint64_t)r->dev;
	cp->ino = (uint64_t)r->ino;
	cp->pid = (pid_t)MG_SYS0(SYS_getpid);
	cp->tid = r->tid;
	cp->start_time = mg_proc_start_time(cp->pid);
	char comm[16];
	mg_proc_text(0, "comm", comm, sizeof comm, false);
	copy_str(cp->comm, sizeof cp->comm, comm);
	copy_str(cp->thread_name, sizeof cp->thread_name, r->thread_name);
	cp->time_sec = r->time.tv_sec;
	cp->time_nsec = r->time.tv_nsec;
	copy_str(cp->call, sizeof cp->call, r->call ? r->call : "");
	cp->size_before = r->size_before;
	cp->size_after = r->size_after;
	uint32_t nmod = 0;
	for (uint32_t i = 0; i < r->stack.n && cp->nframes < MG_IX_CUT_FRAMES; i++) {
		struct mg_sym *s = &cut_sym;
		mg_bt_symbolize(r->stack.ip[i], i == 0 && r->stack.pc_first, s);
		uint32_t m = UINT32_MAX;
		for (uint32_t k = 0; k < nmod && s->module[0]; k++)
			if (strncmp(cp->modules[k], s->module, sizeof cp->modules[k] - 1) == 0)
				m = k;
		if (m == UINT32_MAX && s->module[0] && nmod < MG_IX_CUT_MODULES) {
			copy_str(cp->modules[nmod], sizeof cp->modules[nmod], s->module);
			m = nmod++;
		}
		cp->frames[cp->nframes].ip = r->stack.ip[i];
		cp->frames[cp->nframes].module_offset = s->module_offset;
		cp->frames[cp->nframes].module = m;
		cp->nframes++;
	}
	if (fd >= 0)
		cut_write(fd, &h, cp);
	/* root cutting other users' files: their guards read it from their own directories */
	for (size_t i = 0; i < nreaders; i++) {
		long ufd = root_cuts_open_in(readers[i].dir, readers[i].uid, &h);
		if (ufd >= 0)
			cut_write(ufd, &h, cp);
	}
}

/* The newest record of (dev, ino) in one cuts file, by another process, not before not_before. */
static bool find_in(long fd, const struct mg_ix_cuts_header *h, dev_t dev, ino_t ino,
		    const struct timespec *not_before, uint64_t page_at, uint64_t page_size,
		    struct mg_ix_cut *out, bool found)
{
	int32_t self = (int32_t)MG_SYS0(SYS_getpid);
	struct mg_ix_cut c;
	for (uint32_t i = 0; i < MG_IX_CUTS; i++) {
		if (MG_SYS4(SYS_pread64, fd, &c, sizeof c, sizeof *h + (uint64_t)i * sizeof c) != (long)sizeof c)
			break;
		if (c.seq == 0 || c.seq != c.seq_end || (c.seq & 1) || c.dev != (uint64_t)dev ||
		    c.ino != (uint64_t)ino || c.pid == self ||
		    mg_time_before(&(struct timespec){ c.time_sec, c.time_nsec }, not_before) ||
		    !mg_cut_unbacks(c.size_after, page_at, page_size))
			continue;
		if (found && (c.time_sec < out->time_sec ||
			      (c.time_sec == out->time_sec && c.time_nsec <= out->time_nsec)))
			continue;
		*out = c;
		found = true;
	}
	MG_SYS1(SYS_close, fd);
	return found;
}

bool mg_index_find_cut(dev_t dev, ino_t ino, const struct timespec *not_before, uint64_t page_at,
		       uint64_t page_size, struct mg_ix_cut *out)
{
	struct mg_ix_cuts_header h;
	bool found = false;
	long fd = cuts_open(false, &h);
	if (fd >= 0)
		found = find_in(fd, &h, dev, ino, not_before, page_at, page_size, out, found);
	/* cuts root made of this user's files (see root_cuts_open_for) */
	if ((uid_t)MG_SYS0(SYS_geteuid) != 0) {
		int dfd = mg_index_dir_open(NULL);
		if (dfd >= 0) {
			fd = cuts_open_in(dfd, root_cuts_name, false, 0, 0, &h);
			MG_SYS1(SYS_close, dfd);
			if (fd >= 0)
				found = find_in(fd, &h, dev, ino, not_before, page_at, page_size, out, found);
		}
	}
	if (!found)
		return false;
	/* Whatever the file said: bounded counts, terminated strings. */
	out->comm[sizeof out->comm - 1] = 0;
	out->thread_name[sizeof out->thread_name - 1] = 0;
	out->call[sizeof out->call - 1] = 0;
	if (out->nframes > MG_IX_CUT_FRAMES)
		out->nframes = MG_IX_CUT_FRAMES;
	for (uint32_t k = 0; k < MG_IX_CUT_MODULES; k++)
		out->modules[k][sizeof out->modules[k] - 1] = 0;
	for (uint32_t i = 0; i < out->nframes; i++)
		if (out->frames[i].module >= MG_IX_CUT_MODULES)
			out->frames[i].module = UINT32_MAX;
	return true;
}

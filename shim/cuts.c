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

/* The cuts file, checked (regular, ours, whole). -errno if it cannot be used. */
static long cuts_open(bool create, struct mg_ix_cuts_header *h)
{
	int dfd = mg_index_dir_open(NULL);
	if (dfd < 0)
		return dfd;
	long fd = MG_SYS4(SYS_openat, dfd, cuts_name,
			  (create ? O_RDWR | O_CREAT : O_RDONLY) | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0600);
	MG_SYS1(SYS_close, dfd);
	if (fd < 0)
		return fd;
	struct stat st;
	uint64_t size = sizeof *h + (uint64_t)MG_IX_CUTS * sizeof(struct mg_ix_cut);
	if (MG_SYS2(SYS_fstat, fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_uid != (uid_t)MG_SYS0(SYS_geteuid))
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

static void copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = strnlen(src, cap - 1);
	memcpy(dst, src, n);
	dst[n] = 0;
}

/* One symbol at a time under the report lock: a PATH_MAX module name stays off the program's stack. */
static struct mg_sym cut_sym;

void mg_index_record_cut(const struct mg_trunc_record *r)
{
	if (!__atomic_load_n(&mg_index_on, __ATOMIC_RELAXED))
		return;
	struct mg_ix_cuts_header h;
	long fd = cuts_open(true, &h);
	if (fd < 0)
		return;
	struct mg_ix_cut c;
	memset(&c, 0, sizeof c);
	c.dev = (uint64_t)r->dev;
	c.ino = (uint64_t)r->ino;
	c.pid = (pid_t)MG_SYS0(SYS_getpid);
	c.tid = r->tid;
	c.start_time = mg_proc_start_time(c.pid);
	char comm[16];
	mg_proc_text(0, "comm", comm, sizeof comm, false);
	copy_str(c.comm, sizeof c.comm, comm);
	copy_str(c.thread_name, sizeof c.thread_name, r->thread_name);
	c.time_sec = r->time.tv_sec;
	c.time_nsec = r->time.tv_nsec;
	copy_str(c.call, sizeof c.call, r->call ? r->call : "");
	c.size_before = r->size_before;
	c.size_after = r->size_after;
	uint32_t nmod = 0;
	for (uint32_t i = 0; i < r->stack.n && c.nframes < MG_IX_CUT_FRAMES; i++) {
		struct mg_sym *s = &cut_sym;
		mg_bt_symbolize(r->stack.ip[i], i == 0 && r->stack.pc_first, s);
		uint32_t m = UINT32_MAX;
		for (uint32_t k = 0; k < nmod && s->module[0]; k++)
			if (strncmp(c.modules[k], s->module, sizeof c.modules[k] - 1) == 0)
				m = k;
		if (m == UINT32_MAX && s->module[0] && nmod < MG_IX_CUT_MODULES) {
			copy_str(c.modules[nmod], sizeof c.modules[nmod], s->module);
			m = nmod++;
		}
		c.frames[c.nframes].ip = r->stack.ip[i];
		c.frames[c.nframes].module_offset = s->module_offset;
		c.frames[c.nframes].module = m;
		c.nframes++;
	}
	/* Concurrent cutters may pick the same slot: one record is lost, never half of two (seq). */
	uint32_t idx = h.next;
	uint32_t next = idx + 1;
	MG_SYS4(SYS_pwrite64, fd, &next, sizeof next, offsetof(struct mg_ix_cuts_header, next));
	c.seq = c.seq_end = (idx + 1) * 2;
	MG_SYS4(SYS_pwrite64, fd, &c, sizeof c,
		sizeof h + (uint64_t)(idx % MG_IX_CUTS) * sizeof(struct mg_ix_cut));
	MG_SYS1(SYS_close, fd);
}

bool mg_index_find_cut(dev_t dev, ino_t ino, const struct timespec *not_before,
		       struct mg_ix_cut *out)
{
	int32_t self = (int32_t)MG_SYS0(SYS_getpid);
	struct mg_ix_cuts_header h;
	long fd = cuts_open(false, &h);
	if (fd < 0)
		return false;
	struct mg_ix_cut c;
	bool found = false;
	for (uint32_t i = 0; i < MG_IX_CUTS; i++) {
		if (MG_SYS4(SYS_pread64, fd, &c, sizeof c, sizeof h + (uint64_t)i * sizeof c) != (long)sizeof c)
			break;
		if (c.seq == 0 || c.seq != c.seq_end || (c.seq & 1) || c.dev != (uint64_t)dev ||
		    c.ino != (uint64_t)ino || c.pid == self || c.time_sec < not_before->tv_sec ||
		    (c.time_sec == not_before->tv_sec && c.time_nsec < not_before->tv_nsec))
			continue;
		if (found && (c.time_sec < out->time_sec ||
			      (c.time_sec == out->time_sec && c.time_nsec <= out->time_nsec)))
			continue;
		*out = c;
		found = true;
	}
	MG_SYS1(SYS_close, fd);
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

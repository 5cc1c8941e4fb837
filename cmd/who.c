/*
 * mmapguard who: for each file, the processes that map it. /proc/PID/maps is the truth (every
 * process this user may read; all of them as root); a process that maps its own file of the shared
 * index (shim/index_format.h) is guarded, and that file gives the creation stack of its window
 * that needs the most, and the lease the guard holds on the file (MMAPGUARD_LEASES), which
 * /proc/locks confirms.
 */
#define _GNU_SOURCE
#include "who.h"
#include "symbolize.h"
#include "util.h"
#include "../shim/index_format.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

struct vma {
	uint64_t start, end, offset;
	char perms[5];
	dev_t dev;
	ino_t ino;
	char *path;
};

struct maps {
	struct vma *v;
	size_t n, cap;
};

static void maps_free(struct maps *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i].path);
	free(m->v);
	memset(m, 0, sizeof *m);
}

/* -errno when unreadable (another user's process, or gone). */
static int maps_read(int pid, struct maps *m)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/maps", pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, f) > 0) {
		struct vma v = { 0 };
		unsigned maj, min;
		unsigned long long ino;
		int used = 0;
		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %4s %" SCNx64 " %x:%x %llu %n", &v.start, &v.end,
			   v.perms, &v.offset, &maj, &min, &ino, &used) < 7)
			continue;
		v.dev = makedev(maj, min);
		v.ino = (ino_t)ino;
		char *p = line + used;
		p[strcspn(p, "\n")] = 0;
		v.path = xstrdup(p);
		if (m->n == m->cap) {
			m->cap = m->cap ? m->cap * 2 : 64;
			m->v = xrealloc(m->v, m->cap * sizeof *m->v);
		}
		m->v[m->n++] = v;
	}
	int err = ferror(f) ? -EIO : 0;
	free(line);
	fclose(f);
	return m->n || !err ? 0 : err;
}

static void read_line(int pid, const char *leaf, char *out, size_t cap)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/%s", pid, leaf);
	out[0] = 0;
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	if (fgets(out, (int)cap, f))
		out[strcspn(out, "\n")] = 0;
	fclose(f);
}

struct target {
	const char *arg;
	struct stat st;
	dev_t shown;                    /* its device number as /proc/PID/maps and /proc/locks show it */
	struct sbuf out;                /* what to print for it */
	int nproc;
};

struct creation {
	bool have;
	uint32_t leases;                /* the header's enum mg_ix_leases */
	struct mg_ix_slot slot;
};

/* The leases /proc/locks lists (read once, on the first guarded process). */
struct lease_line {
	int pid;
	unsigned maj, min;
	uint64_t ino;
	char state[16], access[8];
};

static struct {
	bool read;
	int err;                        /* errno of opening /proc/locks, 0: read */
	struct lease_line *v;
	size_t n;
} locks;

static void locks_read(void)
{
	if (locks.read)
		return;
	locks.read = true;
	FILE *f = fopen("/proc/locks", "re");
	if (!f) {
		locks.err = errno ? errno : EIO;
		return;
	}
	char *line = NULL;
	size_t cap = 0, room = 0;
	while (getline(&line, &cap, f) > 0) {
		struct lease_line l = { 0 };
		char type[16];
		unsigned long long ino;
		/* "1: LEASE  ACTIVE    READ 12345 fe:00:1234 0 EOF"; waiters ("1: -> LEASE ...") are skipped */
		if (sscanf(line, "%*d: %15s %15s %7s %d %x:%x:%llu", type, l.state, l.access, &l.pid, &l.maj,
			   &l.min, &ino) != 7 || strcmp(type, "LEASE") != 0)
			continue;
		l.ino = ino;
		if (locks.n == room) {
			room = room ? room * 2 : 16;
			locks.v = xrealloc(locks.v, room * sizeof *locks.v);
		}
		locks.v[locks.n++] = l;
	}
	free(line);
	fclose(f);
}

/*
 * The device number /proc/PID/maps and /proc/locks show for path's file: its file system's, which
 * is not always stat's st_dev (btrfs numbers each subvolume for stat). From statx's mount id and
 * that mount's line of /proc/self/mountinfo; st_dev when it cannot be told.
 */
static dev_t shown_dev(const char *path, dev_t dev)
{
	struct statx sx;
	if (statx(AT_FDCWD, path, 0, STATX_MNT_ID, &sx) < 0 || !(sx.stx_mask & STATX_MNT_ID) ||
	    makedev(sx.stx_dev_major, sx.stx_dev_minor) != dev)
		return dev;
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return dev;
	char *line = NULL;
	size_t cap = 0;
	dev_t shown = dev;
	while (getline(&line, &cap, f) > 0) {
		unsigned long long id;
		unsigned maj, min;
		if (sscanf(line, "%llu %*u %u:%u", &id, &maj, &min) == 3 && id == sx.stx_mnt_id) {
			shown = makedev(maj, min);
			break;
		}
	}
	free(line);
	fclose(f);
	return shown;
}

/*
 * pid's mapping v shows t's file. Where the shown number differs from st_dev (btrfs), a line with
 * the shown number and the inode may be another subvolume's file: the mapping itself is asked
 * (/proc/PID/map_files, for CAP_SYS_ADMIN), else its path; it counts when neither can say.
 */
static bool vma_is(const struct vma *v, int pid, const struct target *t)
{
	if (v->ino != t->st.st_ino)
		return false;
	if (v->dev == t->st.st_dev)
		return true;
	if (v->dev != t->shown)
		return false;
	char link[96];
	snprintf(link, sizeof link, "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, pid, v->start, v->end);
	struct stat st;
	if (stat(link, &st) == 0 || (v->path[0] == '/' && !strstr(v->path, " (deleted)") &&
				     stat(v->path, &st) == 0))
		return st.st_dev == t->st.st_dev && st.st_ino == t->st.st_ino;
	return true;
}

/* The lease pid holds on the file per /proc/locks, or NULL. */
static const struct lease_line *lease_of(int pid, const struct stat *st, dev_t shown)
{
	for (size_t i = 0; i < locks.n; i++) {
		const struct lease_line *l = &locks.v[i];
		if (l->pid == pid && l->ino == (uint64_t)st->st_ino && l->maj == major(shown) &&
		    l->min == minor(shown))
			return l;
	}
	return NULL;
}

/* The process's own index file, as its maps name it: "DIR/PID-STARTTIME", mapped shared. */
static const struct vma *index_vma(int pid, const struct maps *m)
{
	char prefix[32];
	int n = snprintf(prefix, sizeof prefix, "%d-", pid);
	for (size_t i = 0; i < m->n; i++) {
		const struct vma *v = &m->v[i];
		const char *base = strrchr(v->path, '/');
		if (!base || v->perms[3] != 's' || strncmp(base + 1, prefix, (size_t)n) != 0)
			continue;
		const char *d = base + 1 + n;
		if (!*d || strspn(d, "0123456789") != strlen(d))
			continue;
		return v;
	}
	return NULL;
}

/* Guarded? Then the slot of (dev, ino), if the index has one. Everything read is a hint. */
static bool read_index(int pid, const struct vma *iv, const struct stat *st, struct creation *c)
{
	int fd = open(iv->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return false;
	struct stat is;
	struct mg_ix_header h;
	bool ok = fstat(fd, &is) == 0 && S_ISREG(is.st_mode) &&
		  (is.st_dev == iv->dev || shown_dev(iv->path, is.st_dev) == iv->dev) &&
		  is.st_ino == iv->ino && pread(fd, &h, sizeof h, 0) == (ssize_t)sizeof h &&
		  h.magic == MG_IX_MAGIC && h.version == MG_IX_VERSION && h.header_size == sizeof h &&
		  h.slot_size == sizeof(struct mg_ix_slot) && h.pid == pid;
	if (ok) {
		c->leases = h.leases;
		uint32_t hw = mg_ix_hiwater(&h, NULL);
		for (uint32_t i = 0; i < hw && !c->have; i++) {
			struct mg_ix_slot s;
			if (pread(fd, &s, sizeof s, (off_t)(sizeof h + i * sizeof s)) != (ssize_t)sizeof s)
				break;
			if (s.used && s.seq == s.seq_end && !(s.seq & 1) && s.dev == (uint64_t)st->st_dev &&
			    s.ino == (uint64_t)st->st_ino) {
				c->have = true;
				c->slot = s;
				c->slot.thread_name[sizeof c->slot.thread_name - 1] = 0;
				if (c->slot.nframes > MG_IX_FRAMES)
					c->slot.nframes = MG_IX_FRAMES;
			}
		}
	}
	close(fd);
	return ok;
}

static const struct vma *module_of(const struct maps *m, uint64_t ip)
{
	for (size_t i = 0; i < m->n; i++)
		if (ip >= m->v[i].start && ip < m->v[i].end && m->v[i].path[0] == '/')
			return &m->v[i];
	return NULL;
}

static void put_time(struct sbuf *b, int64_t sec, int64_t nsec)
{
	struct tm tm;
	time_t t = (time_t)sec;
	gmtime_r(&t, &tm);
	char buf[64];
	strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
	sb_printf(b, "%s.%06ldZ", buf, (long)((nsec >= 0 && nsec < 1000000000 ? nsec : 0) / 1000));
}

static void put_prot(struct sbuf *b, const char *perms)
{
	const char *sep = "";
	if (perms[0] == 'r') { sb_puts(b, "PROT_READ"); sep = "|"; }
	if (perms[1] == 'w') { sb_printf(b, "%sPROT_WRITE", sep); sep = "|"; }
	if (perms[2] == 'x') { sb_printf(b, "%sPROT_EXEC", sep); sep = "|"; }
	if (!*sep)
		sb_puts(b, "PROT_NONE");
}

static void put_stack(struct sbuf *b, bool json, const struct creation *c, const struct maps *m,
		      struct symbolizer *sym)
{
	if (json)
		sb_putc(b, '[');
	for (uint32_t i = 0; i < c->slot.nframes; i++) {
		uint64_t ip = c->slot.ip[i];
		const struct vma *mv = module_of(m, ip);
		uint64_t off = mv ? ip - mv->start + mv->offset : 0;
		struct sym_result r = { 0 };
		bool have = mv && sym && symbolize(sym, mv->path, off, !(i == 0 && c->slot.pc_first), &r) &&
			    r.function[0];
		if (json) {
			if (i)
				sb_putc(b, ',');
			sb_printf(b, "{\"ip\":\"0x%" PRIx64 "\",\"module\":", ip);
			sb_json_str(b, mv ? mv->path : "");
			sb_printf(b, ",\"module_offset\":\"0x%" PRIx64 "\",\"symbol\":", off);
			if (have) {
				char s[300];
				snprintf(s, sizeof s, "%s+0x%" PRIx64, r.function, r.function_offset);
				sb_json_str(b, s);
			} else {
				sb_puts(b, "null");
			}
			sb_putc(b, '}');
		} else {
			sb_printf(b, "        #%-2u %s", i, have ? r.function : "??");
			if (have && r.file[0])
				sb_printf(b, " (%s:%d)", text_safe(r.file), r.line);
			sb_printf(b, " (%s+0x%" PRIx64 ") 0x%" PRIx64 "\n", mv ? text_safe(mv->path) : "?", off, ip);
		}
	}
	if (json)
		sb_putc(b, ']');
}

#define REASON_TEXT(name, text) text,
static const char *const lease_reasons[] = { MG_IX_LEASE_REASONS(REASON_TEXT) };
#undef REASON_TEXT

/*
 * The lease coverage of a guarded process's file: what its index entry says, and for a held lease
 * whether /proc/locks lists it (the index is a hint).
 */
static void put_lease(struct sbuf *b, bool json, int pid, const struct target *t, const struct creation *c)
{
	static const char *const modes[] = { NULL, "off", "watch", "rescue" };
	static const char *const states[] = { "unknown", "off", "pending", "held", "unavailable", "released" };
	uint32_t w = c->have ? c->slot.lease : 0;
	uint32_t st = MG_IX_LEASE_STATE(w), reason = MG_IX_LEASE_REASON(w), err = MG_IX_LEASE_ERRNO(w);
	const char *mode = c->leases < sizeof modes / sizeof modes[0] ? modes[c->leases] : NULL;
	if (c->leases == MG_IX_LEASES_OFF && st == MG_IX_LEASE_UNKNOWN)
		st = MG_IX_LEASE_OFF;   /* leases off: no entry needed to say so */
	if (st >= sizeof states / sizeof states[0])
		st = MG_IX_LEASE_UNKNOWN;
	const char *why = st == MG_IX_LEASE_UNAVAILABLE && reason && reason < MG_IX_LEASE_REASON_COUNT
			  ? lease_reasons[reason] : NULL;
	const char *ename = st == MG_IX_LEASE_UNAVAILABLE && err ? strerrorname_np((int)err) : NULL;
	locks_read();
	const struct lease_line *l = locks.err ? NULL : lease_of(pid, &t->st, t->shown);
	bool held = st == MG_IX_LEASE_HELD;
	if (json) {
		sb_printf(b, ",\"lease\":{\"state\":\"%s\",\"mode\":", states[st]);
		sb_json_str(b, mode);
		sb_puts(b, ",\"reason\":");
		sb_json_str(b, why);
		sb_puts(b, ",\"errno\":");
		sb_json_str(b, ename);
		if (locks.err)
			sb_puts(b, ",\"in_proc_locks\":null");
		else
			sb_printf(b, ",\"in_proc_locks\":%s", l ? "true" : "false");
		if (!held || locks.err)
			sb_puts(b, ",\"confirmed\":null");    /* nothing to confirm, or could not */
		else
			sb_printf(b, ",\"confirmed\":%s", l ? "true" : "false");
		sb_puts(b, ",\"proc_locks_error\":");
		sb_json_str(b, locks.err ? strerror(locks.err) : NULL);
		sb_putc(b, '}');
		return;
	}
	sb_puts(b, "    lease: ");
	switch (st) {
	case MG_IX_LEASE_OFF:
		sb_puts(b, "off (MMAPGUARD_LEASES=off)\n");
		return;
	case MG_IX_LEASE_PENDING:
		sb_printf(b, "being taken (MMAPGUARD_LEASES=%s)\n", mode ? mode : "?");
		return;
	case MG_IX_LEASE_UNAVAILABLE:
		sb_printf(b, "unavailable (MMAPGUARD_LEASES=%s): %s", mode ? mode : "?", why ? why : "reason not known");
		if (ename)
			sb_printf(b, " (%s)", ename);
		sb_putc(b, '\n');
		return;
	case MG_IX_LEASE_RELEASED:
		sb_printf(b, "released after a break (MMAPGUARD_LEASES=%s): taken again when the file is mapped anew\n",
			  mode ? mode : "?");
		return;
	case MG_IX_LEASE_HELD:
		sb_printf(b, "held (MMAPGUARD_LEASES=%s), ", mode ? mode : "?");
		if (locks.err)
			sb_printf(b, "not confirmed: /proc/locks cannot be read (%s)\n", strerror(locks.err));
		else if (l)
			sb_printf(b, "confirmed by /proc/locks (%s %s)\n", l->access, l->state);
		else
			sb_puts(b, "not confirmed: the index says so, but /proc/locks lists no lease of this process "
				   "on the file\n");
		return;
	default:
		sb_puts(b, c->have ? "unknown (this guard does not publish its lease state)\n"
				   : "unknown (the index has no entry for this file)\n");
		return;
	}
}

static uint64_t safe_size(const struct vma *v, uint64_t page)
{
	uint64_t len = v->end - v->start;
	return len ? v->offset + len - page + 1 : 0;
}

/* One process's part for one file, if it maps it. */
static void describe(struct target *t, bool json, int pid, const struct maps *m,
		     struct symbolizer *sym)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), need = 0;
	size_t nwin = 0;
	for (size_t i = 0; i < m->n; i++)
		if (vma_is(&m->v[i], pid, t)) {
			nwin++;
			uint64_t s = safe_size(&m->v[i], page);
			need = s > need ? s : need;
		}
	if (!nwin)
		return;
	char comm[64], exe[4096];
	read_line(pid, "comm", comm, sizeof comm);
	char link[64];
	snprintf(link, sizeof link, "/proc/%d/exe", pid);
	ssize_t n = readlink(link, exe, sizeof exe - 1);
	exe[n > 0 ? n : 0] = 0;
	struct creation c = { 0 };
	const struct vma *iv = index_vma(pid, m);
	bool guarded = iv && read_index(pid, iv, &t->st, &c);
	struct sbuf *b = &t->out;
	if (json) {
		if (t->nproc)
			sb_putc(b, ',');
		sb_printf(b, "{\"pid\":%d,\"comm\":", pid);
		sb_json_str(b, comm);
		sb_puts(b, ",\"exe\":");
		sb_json_str(b, exe);
		sb_printf(b, ",\"guarded\":%s,\"safe_size\":%" PRIu64, guarded ? "true" : "false", need);
		if (guarded)
			put_lease(b, true, pid, t, &c);
		else
			sb_puts(b, ",\"lease\":null");
		sb_puts(b, ",\"windows\":[");
	} else {
		sb_printf(b, "  pid %d \"%s\" (%s), %s: keeps its pages backed down to %" PRIu64 " bytes\n",
			  pid, text_safe(comm), exe[0] ? text_safe(exe) : "?",
			  guarded ? "guarded" : "not guarded", need);
		if (guarded)
			put_lease(b, false, pid, t, &c);
	}
	size_t k = 0;
	for (size_t i = 0; i < m->n; i++) {
		const struct vma *v = &m->v[i];
		if (!vma_is(v, pid, t))
			continue;
		bool here = c.have && c.slot.start == v->start && c.slot.length == v->end - v->start;
		/* made in another process, inherited through fork */
		int made = here && c.slot.made_in_pid > 0 && c.slot.made_in_pid != pid ? c.slot.made_in_pid : 0;
		if (json) {
			sb_printf(b, "%s{\"addr\":\"0x%" PRIx64 "\",\"length\":%" PRIu64 ",\"offset\":%" PRIu64
				  ",\"prot\":\"", k ? "," : "", v->start, v->end - v->start, v->offset);
			put_prot(b, v->perms);
			sb_printf(b, "\",\"shared\":%s,\"safe_size\":%" PRIu64, v->perms[3] == 's' ? "true" : "false",
				  safe_size(v, page));
			if (here) {
				if (made)
					sb_printf(b, ",\"mapped_in_pid\":%d", made);
				sb_printf(b, ",\"tid\":%d,\"thread_name\":", c.slot.tid);
				sb_json_str(b, c.slot.thread_name);
				sb_puts(b, ",\"time\":\"");
				put_time(b, c.slot.created_sec, c.slot.created_nsec);
				sb_putc(b, '"');
			}
			sb_puts(b, ",\"backtrace\":");
			if (here)
				put_stack(b, true, &c, m, sym);
			else
				sb_puts(b, "[]");
			sb_putc(b, '}');
		} else {
			sb_printf(b, "    0x%" PRIx64 "-0x%" PRIx64 " (%" PRIu64 " bytes at file offset %" PRIu64 ", ",
				  v->start, v->end, v->end - v->start, v->offset);
			put_prot(b, v->perms);
			sb_puts(b, v->perms[3] == 's' ? ", MAP_SHARED)\n" : ", MAP_PRIVATE)\n");
			if (here) {
				sb_printf(b, "      mapped by thread %d \"%s\" ", c.slot.tid,
					  text_safe(c.slot.thread_name));
				if (made)
					sb_printf(b, "of pid %d ", made);
				sb_puts(b, "at ");
				put_time(b, c.slot.created_sec, c.slot.created_nsec);
				sb_puts(b, ":\n");
				if (made)
					sb_printf(b, "        (pid %d inherited the mapping through fork: it was made in pid %d)\n",
						  pid, made);
				put_stack(b, false, &c, m, sym);
			}
		}
		k++;
	}
	if (json)
		sb_puts(b, "]}");
	t->nproc++;
}

int who_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "no-symbols", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool json = false, symbols = true;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j': json = true; break;
		case 'n': symbols = false; break;
		case 'h':
			printf("Usage: mmapguard who [--json] [--no-symbols] FILE...\n"
			       "Every process that maps FILE: its windows, the least size that keeps them\n"
			       "backed, and for guarded processes the stack that created the mapping and\n"
			       "the lease the guard holds on the file (MMAPGUARD_LEASES; checked in /proc/locks).\n"
			       "Exit status: 0 nobody maps any FILE, 1 someone does, 2 an error.\n");
			return 0;
		default:
			fprintf(stderr, "Try 'mmapguard --help'.\n");
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "mmapguard who: no file given\nTry 'mmapguard --help'.\n");
		return 2;
	}
	int nt = argc - optind, rc = 0;
	struct target *t = xcalloc((size_t)nt, sizeof *t);
	for (int i = 0; i < nt; i++) {
		t[i].arg = argv[optind + i];
		if (stat(t[i].arg, &t[i].st) < 0) {
			fprintf(stderr, "mmapguard who: %s: %s\n", t[i].arg, strerror(errno));
			t[i].arg = NULL;
			rc = 2;
		} else {
			t[i].shown = shown_dev(t[i].arg, t[i].st.st_dev);
		}
	}
	struct symbolizer *sym = symbols ? symbolizer_new() : NULL;
	DIR *d = opendir("/proc");
	if (!d) {
		fprintf(stderr, "mmapguard who: /proc: %s\n", strerror(errno));
		return 2;
	}
	int self = (int)getpid(), unreadable = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		int pid = atoi(de->d_name);
		if (pid == self)
			continue;
		struct maps m = { 0 };
		if (maps_read(pid, &m) < 0) {
			unreadable++;
			continue;
		}
		for (int i = 0; i < nt; i++)
			if (t[i].arg)
				describe(&t[i], json, pid, &m, sym);
		maps_free(&m);
	}
	closedir(d);
	struct sbuf out = { 0 };
	if (json)
		sb_puts(&out, "{\"files\":[");
	bool first = true;
	for (int i = 0; i < nt; i++) {
		if (!t[i].arg)
			continue;
		if (t[i].nproc && rc == 0)
			rc = 1;
		if (json) {
			sb_printf(&out, "%s{\"path\":", first ? "" : ",");
			sb_json_str(&out, t[i].arg);
			sb_printf(&out, ",\"dev\":%" PRIu64 ",\"ino\":%" PRIu64 ",\"size\":%" PRIu64 ",\"processes\":[",
				  (uint64_t)t[i].st.st_dev, (uint64_t)t[i].st.st_ino, (uint64_t)t[i].st.st_size);
			if (t[i].out.p)
				sb_puts(&out, t[i].out.p);
			sb_printf(&out, "],\"processes_total\":%d}", t[i].nproc);
		} else {
			sb_printf(&out, "%s (dev %u:%u ino %" PRIu64 ", %" PRIu64 " bytes): ", text_safe(t[i].arg),
				  major(t[i].st.st_dev), minor(t[i].st.st_dev), (uint64_t)t[i].st.st_ino,
				  (uint64_t)t[i].st.st_size);
			if (t[i].nproc)
				sb_printf(&out, "mapped by %d process%s\n", t[i].nproc, t[i].nproc == 1 ? "" : "es");
			else
				sb_puts(&out, "nobody maps it\n");
			if (t[i].out.p)
				sb_puts(&out, t[i].out.p);
		}
		first = false;
		sb_free(&t[i].out);
	}
	if (json)
		sb_printf(&out, "],\"unreadable_processes\":%d}\n", unreadable);
	if (out.p)
		fputs(out.p, stdout);
	sb_free(&out);
	if (unreadable && !json && geteuid() != 0)
		fprintf(stderr, "mmapguard who: %d process(es) of other users could not be read (root sees all)\n",
			unreadable);
	if (sym)
		symbolizer_free(sym);
	free(locks.v);
	free(t);
	if (fflush(stdout) != 0)
		return 2;
	return rc;
}

#define _GNU_SOURCE
#include "explain.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define MAX_FRAMES 64

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: mmapguard explain CORE [--exe PROGRAM] [--json]\n"
		"\n"
		"Explain a SIGBUS core dump: the fault, the file mapping and file offset it hit, the\n"
		"file's state now, a verdict (truncated, io_error, unknown), the stacks, and the cuts\n"
		"the process itself made when it ran under the guard.\n"
		"  --exe PROGRAM  the crashed program, when the core's path to it no longer works\n"
		"  --json         one JSON record with the sigbus record's field names\n"
		"Exit status: 0 explained, 1 not a SIGBUS fault in a file mapping, 2 not a core\n"
		"(or a damaged one). From systemd-coredump: coredumpctl dump PID -o core.\n");
}

/* Refuse a file that is not a core: 2. */
static int load(struct explain *x, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "mmapguard explain: %s: %s\n", path, strerror(errno));
		return 2;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		fprintf(stderr, "mmapguard explain: %s: not a regular file\n", path);
		close(fd);
		return 2;
	}
	x->core_mtime = st.st_mtime;
	x->size = (size_t)st.st_size;
	if (x->size == 0) {
		fprintf(stderr, "mmapguard explain: %s: not a core file: the file is empty\n", path);
		close(fd);
		return 2;
	}
	void *p = mmap(NULL, x->size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		fprintf(stderr, "mmapguard explain: %s: %s\n", path, strerror(errno));
		return 2;
	}
	x->data = p;
	char err[256];
	int r = core_parse(x->data, x->size, &x->ci, err, sizeof err);
	if (r == CORE_OK)
		return 0;
	if (r == CORE_NOT_ELF || r == CORE_NOT_CORE)
		fprintf(stderr, "mmapguard explain: %s: not a core file: %s\n", path, err);
	else
		fprintf(stderr, "mmapguard explain: %s: a damaged or incomplete core file: %s\n", path, err);
	return 2;
}

/* The signal, when it is not a SIGBUS fault in a file mapping: say what it is, exit 1. */
static int not_ours(const struct explain *x, bool json)
{
	const struct core_thread *t = x->th;
	struct sbuf why = { 0 };
	if (x->signo == 0) {
		sb_puts(&why, "the core records no signal (a snapshot of a running process, e.g. gcore): "
			"nothing to explain");
	} else if (x->signo != SIGBUS) {
		sb_printf(&why, "not a SIGBUS: the process was killed by %s", signal_name(x->signo));
		if (t->have_siginfo) {
			sb_printf(&why, " (%s", si_code_name(x->signo, x->code));
			if (x->code > 0 && (x->signo == SIGSEGV || x->signo == SIGILL || x->signo == SIGFPE))
				sb_printf(&why, ", address 0x%" PRIx64, x->addr);
			sb_puts(&why, ")");
		}
		sb_puts(&why, "; mmapguard explain reads SIGBUS cores only");
	} else if (!t->have_siginfo) {
		sb_puts(&why, "SIGBUS, but the core has no siginfo (NT_SIGINFO): the fault address is unknown");
	} else if (x->code <= 0) {
		sb_printf(&why, "SIGBUS sent by a process (%s, from pid %d, uid %d), not a fault: no memory "
			  "access failed, nothing was truncated under a mapping",
			  si_code_name(x->signo, x->code), t->sender_pid, t->sender_uid);
	} else {
		sb_printf(&why, "SIGBUS (%s) at 0x%" PRIx64 ", which is not in a file mapping (%s): not a "
			  "truncated file", si_code_name(x->signo, x->code), x->addr,
			  x->shared_anon ? "shared anonymous memory" :
			  x->load ? "an anonymous mapping" : "no mapping the core knows");
	}
	if (json) {
		struct sbuf b = { 0 };
		sb_puts(&b, "{\"event\":\"core\",\"action\":\"not_explained\",\"core\":");
		sb_json_str(&b, x->core_path);
		sb_printf(&b, ",\"pid\":%d,\"tid\":%d,\"signo\":%d,\"signal\":", x->ci.pid ? x->ci.pid : t->tid, t->tid, x->signo);
		sb_json_str(&b, x->signo ? signal_name(x->signo) : NULL);
		if (t->have_siginfo) {
			sb_printf(&b, ",\"si_code\":%d,\"si_code_name\":", x->code);
			sb_json_str(&b, si_code_name(x->signo, x->code));
			sb_printf(&b, ",\"fault_addr\":\"0x%" PRIx64 "\"", x->addr);
		}
		sb_puts(&b, ",\"reason\":");
		sb_json_str(&b, why.p);
		sb_puts(&b, "}\n");
		fputs(b.p, stdout);
		sb_free(&b);
	} else {
		printf("%s: %s\n", x->core_path, why.p);
	}
	sb_free(&why);
	return 1;
}

static uint64_t round_up(uint64_t v, uint64_t page)
{
	return (v + page - 1) / page * page;
}

static void file_now(struct explain *x)
{
	static const char del[] = " (deleted)";
	size_t n = strlen(x->map->path);
	x->path = xstrdup(x->map->path);
	if (n > sizeof del - 1 && strcmp(x->path + n - (sizeof del - 1), del) == 0) {
		x->path[n - (sizeof del - 1)] = 0;
		x->deleted_at_crash = true;
	}
	x->identity = "not_judged";
	if (x->deleted_at_crash) {
		x->file_status = "unlinked";
		x->file_detail = "unlinked before the crash (the core names it \"(deleted)\")";
		return;
	}
	struct statx sx;
	if (statx(AT_FDCWD, x->path, 0, STATX_BASIC_STATS | STATX_BTIME, &sx) != 0) {
		x->file_status = errno == ENOENT ? "unlinked" : "unknown";
		x->file_detail = errno == ENOENT ? "no file at this path now: deleted or renamed since"
						 : "the path cannot be examined now";
		return;
	}
	x->have_id = true;
	x->dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
	x->ino = sx.stx_ino;
	/* Born after the core was written: another file now has the name. */
	if ((sx.stx_mask & STATX_BTIME) && sx.stx_btime.tv_sec > x->core_mtime) {
		x->identity = "replaced";
		x->file_status = "renamed";
		x->file_detail = "the path now names another file, created after the crash";
		return;
	}
	/* oldest first: the last match is the latest; a cut that left the faulting page inside
	 * the file did not cause this fault */
	for (size_t i = 0; i < x->guard.ncuts; i++)
		if (x->guard.cuts[i].dev == x->dev && x->guard.cuts[i].ino == x->ino) {
			x->identity = "matches";
			if (x->fault_offset >= round_up(x->guard.cuts[i].size_after, x->page_size))
				x->cut = &x->guard.cuts[i];
		}
	x->file_status = "present";
	x->file_detail = "present at the same path";
	x->have_size = true;
	x->file_size = sx.stx_size;
}

static int explain_core(struct explain *x, const char *exe, bool json)
{
	x->th = &x->ci.threads[0];
	x->signo = x->th->have_siginfo ? x->th->si_signo : x->th->cursig;
	x->code = x->th->si_code;
	x->addr = x->th->fault_addr;
	x->page_size = 4096;
	long pg = sysconf(_SC_PAGESIZE);
	if (pg > 0)
		x->page_size = (uint64_t)pg;
	if (x->signo == SIGBUS && x->th->have_siginfo && x->code > 0) {
		x->map = core_find_map(&x->ci, x->addr);
		x->load = core_find_load(&x->ci, x->addr);
		/* Shared anonymous memory and System V segments are listed as files of the kernel's
		 * internal filesystem: no file of the user's was cut there. */
		if (x->map && (strncmp(x->map->path, "/dev/zero", 9) == 0 ||
			       strncmp(x->map->path, "/SYSV", 5) == 0)) {
			x->map = NULL;
			x->shared_anon = true;
		}
	}
	if (!x->map)
		return not_ours(x, json);
	x->fault_offset = x->map->offset + (x->addr - x->map->start);

	xstacks_read(&x->stacks, x->core_path, exe, MAX_FRAMES);
	xguard_read(&x->guard, &x->ci, x->data, &x->stacks);
	file_now(x);
	if (!x->have_size)
		x->verdict = "unknown";
	else if (x->fault_offset < round_up(x->file_size, x->page_size))
		x->verdict = "io_error";
	else
		x->verdict = "truncated";
	if (json)
		explain_print_json(x, stdout);
	else
		explain_print_text(x, stdout);
	return 0;
}

int explain_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "exe", required_argument, NULL, 'e' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *exe = NULL;
	bool json = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'e': exe = optarg; break;
		case 'j': json = true; break;
		case 'h': usage(stdout); return 0;
		default:
			fprintf(stderr, "Try 'mmapguard explain --help'.\n");
			return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "mmapguard explain: %s\nTry 'mmapguard explain --help'.\n",
			optind >= argc ? "no core file given" : "one core file at a time");
		return 2;
	}
	struct explain x;
	memset(&x, 0, sizeof x);
	x.core_path = argv[optind];
	int rc = load(&x, x.core_path);
	if (rc != 0)
		return rc;
	if (exe && access(exe, R_OK) != 0) {
		fprintf(stderr, "mmapguard explain: --exe %s: %s\n", exe, strerror(errno));
		return 2;
	}
	rc = explain_core(&x, exe, json);
	xguard_free(&x.guard);
	xstacks_free(&x.stacks);
	free(x.path);
	core_info_free(&x.ci);
	munmap((void *)x.data, x.size);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "mmapguard explain: writing the explanation: %s\n", strerror(errno));
		return 2;
	}
	return rc;
}

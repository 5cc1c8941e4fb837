/*
 * `mmapguard [options] PROGRAM [ARGS...]`: run PROGRAM with the guard preloaded, pass its exit
 * status through, and end with a one-line summary when anything was reported.
 *
 * Without --log the guard writes JSON Lines to a private directory (one file per process,
 * log.<pid>) and this process follows those files while the program runs (inotify, or polling when
 * inotify is unavailable), printing each record on stderr as the guard's usual text block (or as
 * the JSON line itself with --json) and adding it to the summary. The directory is kept when
 * something was reported (the summary line names it) and removed otherwise.
 *
 * With --log FILE the guard writes FILE itself, in text (or JSON with --json); nothing is echoed,
 * and at the end the part of the file(s) written during the run is read back for the summary.
 */
#define _GNU_SOURCE
#include "run.h"
#include "inspect.h"
#include "lines.h"
#include "render.h"
#include "summary.h"
#include "symbolize.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef MG_REL_LIBDIR
#define MG_REL_LIBDIR "../lib"
#endif

#define LIBNAME "libmmapguard.so"

/* ---- the library ---------------------------------------------------------------------------- */

static bool try_lib(const char *dir, const char *rel, char *out, size_t cap)
{
	char path[PATH_MAX * 2];
	snprintf(path, sizeof path, "%s%s%s/" LIBNAME, dir, rel[0] ? "/" : "", rel);
	if (access(path, R_OK) != 0)
		return false;
	char real[PATH_MAX];
	if (!realpath(path, real))
		return false;
	snprintf(out, cap, "%s", real);
	return true;
}

/* Next to the binary (build tree), else at the installed relative place. */
static int find_library(char *out, size_t cap)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0) {
		fprintf(stderr, "mmapguard: cannot read /proc/self/exe (%s): is /proc mounted?\n", strerror(errno));
		return -1;
	}
	exe[n] = 0;
	char *slash = strrchr(exe, '/');
	if (slash)
		*slash = 0;
	static const char *const rels[] = { "", MG_REL_LIBDIR, "../lib", "../lib64", NULL };
	for (size_t i = 0; rels[i]; i++)
		if (try_lib(exe, rels[i], out, cap))
			return 0;
	fprintf(stderr, "mmapguard: cannot find the guard library: neither %s/" LIBNAME " nor %s/%s/" LIBNAME
		" is readable (is mmapguard installed completely?)\n", exe, exe, MG_REL_LIBDIR);
	return -1;
}

/* ---- following the private log directory --------------------------------------------------- */

struct tail {
	struct tail *next;
	char *name;
	struct linereader lr;
};

struct follower {
	const char *dir;
	struct tail *tails;
	struct hmap by_name;
	struct arena arena;
	struct summary *summary;
	bool json_echo;
	struct symbolizer *sym;         /* other processes' creation stacks in the text */
	struct jdoc doc;
	struct sbuf out;
	unsigned long files;
	const char *cur_name;
	char last_file[PATH_MAX];
};

static void follow_line(void *ctx, char *line, size_t len, unsigned long lineno)
{
	struct follower *fl = ctx;
	size_t i = 0;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (i == len)
		return;
	sb_clear(&fl->out);
	if (fl->json_echo) {
		sb_putn(&fl->out, line, len);
		sb_putc(&fl->out, '\n');
	}
	const struct jnode *root = json_parse(&fl->doc, line, len);
	const char *ev = root && root->type == J_OBJ ? jget_str(&fl->doc, root, "event") : NULL;
	if (ev && strcmp(ev, "suppressed") == 0) {
		/* excused: counted in the summary line, never shown as it happens */
		summary_add_record(fl->summary, &fl->doc, root, fl->cur_name, lineno);
		return;
	}
	if (!root) {
		if (!fl->json_echo) {
			/* Not a record (shouldn't happen): show it as it is. */
			line[len] = 0;
			sb_printf(&fl->out, "%s\n", line);
		}
		summary_malformed(fl->summary, fl->cur_name, lineno, fl->doc.error ? fl->doc.error : "not JSON");
	} else {
		if (!fl->json_echo)
			render_record_text(&fl->out, &fl->doc, root, fl->sym);
		summary_add_record(fl->summary, &fl->doc, root, fl->cur_name, lineno);
	}
	write_all_fd(2, fl->out.p, fl->out.len);
}

static void follow_file(struct follower *fl, const char *name, bool final)
{
	if (strncmp(name, "log.", 4) != 0)
		return;
	void **slot = hmap_put(&fl->by_name, name, strlen(name));
	struct tail *t = *slot;
	if (!t) {
		t = xcalloc(1, sizeof *t);
		t->name = xstrdup(name);
		t->next = fl->tails;
		fl->tails = t;
		fl->files++;
		*slot = t;
	}
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/%s", fl->dir, name);
	snprintf(fl->last_file, sizeof fl->last_file, "%s", path);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return;
	if (lseek(fd, t->lr.offset, SEEK_SET) == t->lr.offset) {
		fl->cur_name = path;
		lr_read(&t->lr, fd, follow_line, fl, final);
		fl->cur_name = NULL;
	}
	close(fd);
}

static void follow_all(struct follower *fl, bool final)
{
	DIR *d = opendir(fl->dir);
	if (!d)
		return;
	struct dirent *e;
	/* Names first: following a file must not race with readdir's buffer. */
	char **names = NULL;
	size_t n = 0, cap = 0;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, "log.", 4) != 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			names = xrealloc(names, cap * sizeof *names);
		}
		names[n++] = xstrdup(e->d_name);
	}
	closedir(d);
	for (size_t i = 0; i < n; i++) {
		follow_file(fl, names[i], final);
		free(names[i]);
	}
	free(names);
}

static void follower_free(struct follower *fl)
{
	struct tail *t = fl->tails;
	while (t) {
		struct tail *next = t->next;
		lr_free(&t->lr);
		free(t->name);
		free(t);
		t = next;
	}
	hmap_free(&fl->by_name);
	arena_free(&fl->arena);
	jdoc_free(&fl->doc);
	sb_free(&fl->out);
}

/* ---- --log FILE: what was written during the run --------------------------------------------- */

struct logfile {
	char *path;
	off_t start;
};

struct logset {
	char pattern[PATH_MAX];         /* absolute, %p as given */
	char glob[PATH_MAX];            /* %p -> * */
	struct logfile *v;
	size_t n;
};

static void logset_scan(struct logset *ls, bool before)
{
	if (!strstr(ls->pattern, "%p")) {
		struct stat st;
		off_t size = stat(ls->pattern, &st) == 0 && S_ISREG(st.st_mode) ? st.st_size : 0;
		if (before) {
			ls->v = xcalloc(1, sizeof *ls->v);
			ls->v[0].path = xstrdup(ls->pattern);
			ls->v[0].start = size;
			ls->n = 1;
		} else if (size < ls->v[0].start) {
			ls->v[0].start = 0;     /* replaced or truncated meanwhile */
		}
		return;
	}
	glob_t g;
	if (glob(ls->glob, GLOB_NOSORT, NULL, &g) != 0)
		return;
	for (size_t i = 0; i < g.gl_pathc; i++) {
		struct stat st;
		if (stat(g.gl_pathv[i], &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		size_t j;
		for (j = 0; j < ls->n; j++)
			if (strcmp(ls->v[j].path, g.gl_pathv[i]) == 0)
				break;
		if (j == ls->n) {
			ls->v = xrealloc(ls->v, (ls->n + 1) * sizeof *ls->v);
			ls->v[ls->n].path = xstrdup(g.gl_pathv[i]);
			ls->v[ls->n].start = before ? st.st_size : 0;
			ls->n++;
		} else if (st.st_size < ls->v[j].start) {
			ls->v[j].start = 0;
		}
	}
	globfree(&g);
}

struct textcount {
	unsigned long violations, blocked;
	struct hmap pids;
	struct arena arena;
};

/* The guard's text blocks: a header line per record, "BLOCKED:" and "of pid N at" lines. */
static void text_line(void *ctx, char *line, size_t len, unsigned long lineno)
{
	struct textcount *tc = ctx;
	(void)lineno;
	line[len] = 0;
	if (strncmp(line, "mmapguard: ", 11) != 0)
		return;
	const char *rest = line + 11;
	if (rest[0] != ' ') {
		if (strstr(rest, ") would cut a memory-mapped file short: ") ||
		    strstr(rest, ") reopens a memory-mapped file: "))
			tc->violations++;
		return;
	}
	if (strncmp(rest, "  BLOCKED:", 10) == 0) {
		tc->blocked++;
		return;
	}
	const char *p = strstr(rest, "\" of pid ");
	if (strncmp(rest, "  called by thread ", 19) == 0 && p) {
		int pid = atoi(p + 9);
		if (pid > 0)
			*hmap_put(&tc->pids, &pid, sizeof pid) = (void *)1;
	}
}

/* ---- the child ------------------------------------------------------------------------------ */

static volatile sig_atomic_t child_pid, pending_signal;
static int wake_pipe[2] = { -1, -1 };

static void on_chld(int sig)
{
	int e = errno;
	char c = (char)sig;
	if (write(wake_pipe[1], &c, 1) < 0) {
		/* full pipe: a wake-up is pending anyway */
	}
	errno = e;
}

static void forward(int sig)
{
	if (child_pid > 0)
		kill((pid_t)child_pid, sig);
	else
		pending_signal = sig;   /* forwarded as soon as the child exists */
}

static const int forwarded[] = { SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, 0 };
static const int ignored[] = { SIGINT, SIGQUIT, 0 };

static void set_env(const char *name, const char *value)
{
	if (setenv(name, value, 1) != 0) {
		fprintf(stderr, "mmapguard: cannot set %s: %s\n", name, strerror(errno));
		_exit(125);
	}
}

/* In the child: environment, signal dispositions back to default, exec. Reports errno on fd. */
/* The dispositions mmapguard found, restored in the child: the program inherits them as if run
 * directly (an ignored SIGPIPE stays ignored, a default one is default). */
static const int touched[] = { SIGCHLD, SIGPIPE, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGINT, SIGQUIT, 0 };
static struct sigaction original[sizeof touched / sizeof touched[0]];

/* Loaded ahead of the guard in the child (a sanitizer runtime the program needs first), or "". */
static char preload_first[64];

/* Warn about programs the guard cannot be loaded into; find what must be preloaded first. */
static void inspect(const char *argv0)
{
	struct program_info pi;
	program_inspect(argv0, &pi);
	if (pi.elf && pi.is_static)
		fprintf(stderr, "mmapguard: %s is statically linked: the guard cannot be loaded into it, "
			"nothing will be reported; running it anyway\n", pi.path);
	else if (pi.setid)
		fprintf(stderr, "mmapguard: %s is setuid/setgid: the dynamic loader ignores LD_PRELOAD for "
			"it, the guard will not be loaded and nothing will be reported; running it anyway\n",
			pi.path);
	snprintf(preload_first, sizeof preload_first, "%s", pi.first);
}

static void child(const struct run_options *o, const char *lib, const char *log_value, int errfd,
		  const sigset_t *oldmask)
{
	for (size_t i = 0; touched[i]; i++)
		sigaction(touched[i], &original[i], NULL);
	sigprocmask(SIG_SETMASK, oldmask, NULL);

	const char *old = getenv("LD_PRELOAD");
	if (preload_first[0]) {
		/* a sanitizer runtime that must be the first object loaded (ASan checks it) */
		char *v = xmalloc(strlen(preload_first) + strlen(lib) + 2);
		sprintf(v, "%s:%s", preload_first, lib);
		lib = v;
	}
	size_t liblen = strlen(lib);
	if (old && old[0] && !(strncmp(old, lib, liblen) == 0 && (old[liblen] == 0 || old[liblen] == ':' ||
								   old[liblen] == ' '))) {
		char *v = xmalloc(liblen + strlen(old) + 2);
		sprintf(v, "%s:%s", lib, old);
		set_env("LD_PRELOAD", v);
	} else if (!old || !old[0]) {
		set_env("LD_PRELOAD", lib);
	}
	if (o->mode)
		set_env("MMAPGUARD_MODE", o->mode);
	if (o->reopen)
		set_env("MMAPGUARD_REOPEN", o->reopen);
	if (o->scope)
		set_env("MMAPGUARD_SCOPE", o->scope);
	if (o->leases)
		set_env("MMAPGUARD_LEASES", o->leases);
	if (o->sigbus)
		set_env("MMAPGUARD_SIGBUS", o->sigbus);
	if (o->suppressions) {
		const char *was = getenv("MMAPGUARD_SUPPRESSIONS");
		if (was && was[0]) {
			char *v = xmalloc(strlen(o->suppressions) + strlen(was) + 2);
			sprintf(v, "%s:%s", o->suppressions, was);
			set_env("MMAPGUARD_SUPPRESSIONS", v);
		} else {
			set_env("MMAPGUARD_SUPPRESSIONS", o->suppressions);
		}
	}
	set_env("MMAPGUARD_LOG", log_value);
	set_env("MMAPGUARD_LOG_FORMAT", o->json || !o->log ? "json" : "text");

	execvp(o->argv[0], o->argv);
	int e = errno;
	if (write(errfd, &e, sizeof e) < 0) {
		/* the parent will see no error and a 127 exit */
	}
	_exit(127);
}

static int exit_status(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 125;
}

static const char *plural(unsigned long n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

/* Absolute version of a --log path (the program may chdir before its first report). */
static void absolute(const char *path, char *out, size_t cap)
{
	if (path[0] == '/') {
		snprintf(out, cap, "%s", path);
		return;
	}
	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof cwd)) {
		snprintf(out, cap, "%s", path);
		return;
	}
	if ((size_t)snprintf(out, cap, "%s/%s", cwd, path) >= cap)
		snprintf(out, cap, "%s", path);
}

static void glob_of(const char *pattern, char *out, size_t cap)
{
	size_t w = 0;
	for (const char *p = pattern; *p && w + 2 < cap; p++) {
		if (p[0] == '%' && p[1] == 'p') {
			out[w++] = '*';
			p++;
		} else {
			out[w++] = *p;
		}
	}
	out[w] = 0;
}

/* The guard would name an unusable log on stderr and write there: say now what that means here. */
static void check_log_dir(const char *pattern)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s", pattern);
	char *slash = strrchr(dir, '/');
	if (!slash)
		return;
	*slash = 0;
	struct stat st;
	const char *why = NULL;
	if (stat(dir[0] ? dir : "/", &st) != 0)
		why = strerror(errno);
	else if (!S_ISDIR(st.st_mode))
		why = "not a directory";
	else if (access(dir[0] ? dir : "/", W_OK | X_OK) != 0)
		why = strerror(errno);
	if (why)
		fprintf(stderr, "mmapguard: the log %s cannot be created (%s: %s): the reports will go "
			"to stderr and no summary can be made\n", pattern, dir[0] ? dir : "/", why);
}

/* The log: a private directory of per-process JSON files, or --log FILE (noting what it held). */
static int prepare_log(const struct run_options *o, char *tmpdir, size_t tmpcap, char *log_value,
		       size_t logcap, struct logset *ls)
{
	if (!o->log) {
		const char *base = getenv("TMPDIR");
		if (!base || base[0] != '/' || strlen(base) > PATH_MAX - 64)
			base = "/tmp";
		snprintf(tmpdir, tmpcap, "%s/mmapguard.XXXXXX", base);
		if (!mkdtemp(tmpdir)) {
			fprintf(stderr, "mmapguard: cannot create a private log directory %s: %s\n", tmpdir,
				strerror(errno));
			tmpdir[0] = 0;
			return -1;
		}
		snprintf(log_value, logcap, "%s/log.%%p", tmpdir);
	} else {
		absolute(o->log, ls->pattern, sizeof ls->pattern);
		glob_of(ls->pattern, ls->glob, sizeof ls->glob);
		snprintf(log_value, logcap, "%s", ls->pattern);
		logset_scan(ls, true);
		check_log_dir(ls->pattern);
	}
	return 0;
}

/*
 * Signals: SIGCHLD wakes the loop; terminal signals reach the program (same process group)
 * and are ignored here; termination requests are forwarded. SIGCHLD stays blocked (oldmask: the
 * mask before) until the child runs.
 */
static int prepare_signals(sigset_t *oldmask)
{
	if (pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
		fprintf(stderr, "mmapguard: pipe: %s\n", strerror(errno));
		return -1;
	}
	for (size_t i = 0; touched[i]; i++)
		sigaction(touched[i], NULL, &original[i]);
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGCHLD);
	sigprocmask(SIG_BLOCK, &block, oldmask);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_flags = SA_RESTART;
	sa.sa_handler = on_chld;
	sigaction(SIGCHLD, &sa, NULL);
	sa.sa_handler = forward;
	for (size_t i = 0; forwarded[i]; i++)
		sigaction(forwarded[i], &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

/* fork and exec the program; *exec_errno is set (and true returned in *exec_failed) when exec
 * failed. -1: no child. */
static pid_t start_child(const struct run_options *o, const char *lib, const char *log_value,
			 const sigset_t *oldmask, int *exec_errno, bool *exec_failed)
{
	int errpipe[2];
	if (pipe2(errpipe, O_CLOEXEC) != 0) {
		fprintf(stderr, "mmapguard: pipe: %s\n", strerror(errno));
		return -1;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "mmapguard: fork: %s\n", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		close(errpipe[0]);
		child(o, lib, log_value, errpipe[1], oldmask);
	}
	child_pid = pid;
	if (pending_signal)
		kill(pid, pending_signal);
	for (size_t i = 0; ignored[i]; i++)
		signal(ignored[i], SIG_IGN);
	close(errpipe[1]);
	*exec_errno = 0;
	ssize_t got;
	do
		got = read(errpipe[0], exec_errno, sizeof *exec_errno);
	while (got < 0 && errno == EINTR);
	close(errpipe[0]);
	sigprocmask(SIG_SETMASK, oldmask, NULL);
	*exec_failed = got == (ssize_t)sizeof *exec_errno;
	return pid;
}

/* Wait for the program, showing the records of the private directory as they are written. */
static int wait_following(pid_t pid, const char *tmpdir, struct follower *fl, bool watch)
{
	int ifd = -1;
	if (watch) {
		ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
		if (ifd >= 0 && inotify_add_watch(ifd, tmpdir, IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE) < 0) {
			close(ifd);
			ifd = -1;
		}
	}
	int status = 0;
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid || (w < 0 && errno == ECHILD))
			break;
		struct pollfd pfd[2] = { { .fd = wake_pipe[0], .events = POLLIN }, { .fd = ifd, .events = POLLIN } };
		int timeout = tmpdir[0] && ifd < 0 ? 200 : -1;
		int r = poll(pfd, ifd >= 0 ? 2 : 1, timeout);
		if (r < 0 && errno != EINTR)
			break;
		if (pfd[0].revents) {
			char drain[64];
			while (read(wake_pipe[0], drain, sizeof drain) > 0) {
			}
		}
		if (!tmpdir[0])
			continue;
		if (ifd < 0) {
			follow_all(fl, false);
			continue;
		}
		if (ifd >= 0 && (pfd[1].revents & POLLIN)) {
			char ev[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
			ssize_t n;
			while ((n = read(ifd, ev, sizeof ev)) > 0) {
				for (char *p = ev; p < ev + n;) {
					struct inotify_event *ie = (struct inotify_event *)p;
					if (ie->mask & IN_Q_OVERFLOW)
						follow_all(fl, false);
					else if (ie->len)
						follow_file(fl, ie->name, false);
					p += sizeof *ie + ie->len;
				}
			}
		}
	}
	if (ifd >= 0)
		close(ifd);
	return status;
}

/* What --log FILE received during the run (from the offsets noted before it): JSON records. */
static void count_json_log(struct logset *ls, struct summary *sum)
{
	logset_scan(ls, false);
	for (size_t i = 0; i < ls->n; i++) {
		int fd = open(ls->v[i].path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (lseek(fd, ls->v[i].start, SEEK_SET) == ls->v[i].start)
			summary_add_fd(sum, fd, ls->v[i].path);
		close(fd);
	}
}

/* The same for text records: violations, blocked ones, processes. */
static void count_text_log(struct logset *ls, struct summary_counts *c)
{
	struct textcount tc;
	memset(&tc, 0, sizeof tc);
	hmap_init(&tc.pids, &tc.arena);
	logset_scan(ls, false);
	for (size_t i = 0; i < ls->n; i++) {
		int fd = open(ls->v[i].path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		struct linereader lr = { 0 };
		if (lseek(fd, ls->v[i].start, SEEK_SET) == ls->v[i].start)
			lr_read(&lr, fd, text_line, &tc, true);
		lr_free(&lr);
		close(fd);
	}
	memset(c, 0, sizeof *c);
	c->violations = tc.violations;
	c->blocked = tc.blocked;
	c->violation_processes = tc.pids.n;
	hmap_free(&tc.pids);
	arena_free(&tc.arena);
}

static void print_summary_line(const struct summary_counts *c, struct summary *sum, const char *where)
{
	if (!(c->violations || c->other || c->malformed || c->suppressed))
		return;
	char other[512] = "";
	if (c->other) {
		char ev[400];
		summary_other_events(sum, ev, sizeof ev);
		snprintf(other, sizeof other, ", %s", ev);
	}
	if (c->suppressed) {
		size_t k = strlen(other);
		snprintf(other + k, sizeof other - k, ", %lu suppressed", c->suppressed);
	}
	unsigned long procs = c->violation_processes ? c->violation_processes : c->processes;
	fprintf(stderr, "mmapguard: %lu %s (%lu blocked)%s in %lu %s; log: %s\n", c->violations,
		plural(c->violations, "violation", "violations"), c->blocked, other, procs,
		plural(procs, "process", "processes"), where);
}

static void logset_free(struct logset *ls)
{
	for (size_t i = 0; i < ls->n; i++)
		free(ls->v[i].path);
	free(ls->v);
}

int run_program(const struct run_options *o)
{
	char lib[PATH_MAX];
	if (find_library(lib, sizeof lib) < 0)
		return 125;
	if (strpbrk(lib, ": \t\n")) {
		fprintf(stderr, "mmapguard: the library path %s contains a space or a colon, which LD_PRELOAD "
			"cannot express\n", lib);
		return 125;
	}

	inspect(o->argv[0]);

	char tmpdir[PATH_MAX] = "";
	char log_value[PATH_MAX + 16];
	struct logset ls;
	memset(&ls, 0, sizeof ls);
	if (prepare_log(o, tmpdir, sizeof tmpdir, log_value, sizeof log_value, &ls) < 0)
		return 125;
	sigset_t oldmask;
	int exec_errno;
	bool exec_failed;
	pid_t pid = -1;
	if (prepare_signals(&oldmask) == 0)
		pid = start_child(o, lib, log_value, &oldmask, &exec_errno, &exec_failed);
	if (pid < 0) {
		if (tmpdir[0])
			rmdir(tmpdir);
		logset_free(&ls);
		return 125;
	}

	struct summary *sum = summary_new();
	struct follower fl;
	memset(&fl, 0, sizeof fl);
	fl.dir = tmpdir;
	fl.summary = sum;
	fl.json_echo = o->json;
	if (!o->json)
		fl.sym = symbolizer_new();
	hmap_init(&fl.by_name, &fl.arena);

	int rc = exit_status(wait_following(pid, tmpdir, &fl, tmpdir[0] && !exec_failed));
	if (exec_failed) {
		const char *prog = o->argv[0];
		if (exec_errno == ENOENT && !strchr(prog, '/'))
			fprintf(stderr, "mmapguard: %s: command not found\n", prog);
		else
			fprintf(stderr, "mmapguard: cannot run %s: %s\n", prog, strerror(exec_errno));
		rc = exec_errno == ENOENT ? 127 : 126;
	}

	/* Everything written so far, including grandchildren that exited with the program. */
	struct summary_counts c;
	char where[PATH_MAX + 64] = "";
	if (tmpdir[0]) {
		follow_all(&fl, true);
		summary_get_counts(sum, &c);
		if (fl.files == 1)
			snprintf(where, sizeof where, "%s", fl.last_file);
		else
			snprintf(where, sizeof where, "%s/log.*", tmpdir);
		if (fl.files == 0)
			rmdir(tmpdir);  /* nothing was reported: leave nothing behind */
	} else {
		if (o->json) {
			count_json_log(&ls, sum);
			summary_get_counts(sum, &c);
		} else {
			count_text_log(&ls, &c);
		}
		snprintf(where, sizeof where, "%s", strstr(ls.pattern, "%p") ? ls.glob : ls.pattern);
	}
	print_summary_line(&c, sum, where);
	logset_free(&ls);
	follower_free(&fl);
	symbolizer_free(fl.sym);
	summary_free(sum);
	return rc;
}

#define _GNU_SOURCE
/*
 * A reader of a mapped file, for the lease tests and the benchmark: maps FILE read-only and shared,
 * says "ready", then for each line read from stdin answers with the sum of every byte of the
 * mapping -- or, for a line "remap", maps the file anew (a new lease) and says "ready" again;
 * "unmap": unmaps FILE ("unmapped"); "cycle PREFIX N": maps and unmaps N new one-page files
 * PREFIX0 .. PREFIX<N-1>, one after the other ("cycled N"); "fill PREFIX N": the same, each kept
 * mapped ("filled N"); "map PATH": maps PATH whole and keeps it ("mapped"); "move_and_map PATH":
 * maps FILE anew, privately (userfaultfd wants a mapping that may be written), in place of its
 * shared mapping, moves that with mremap and, while the call is held in the kernel (a userfaultfd
 * remap event nobody has read yet: FILE must be on tmpfs), maps PATH; then lets the move finish
 * ("moved", or "unsupported ERRNO" when userfaultfd cannot be had here); "openw [nonblock|raw]":
 * opens FILE itself for appending (O_NONBLOCK: the kernel fails with EWOULDBLOCK at once instead of
 * waiting for a lease it would have to break; raw: through syscall(2), past the guard's wrappers),
 * writes one byte, closes it ("openw ERRNO", 0 on success); "fopenw": the same with fopen(FILE, "a")
 * ("fopenw ERRNO"); "grow": truncate(FILE) to one byte more ("grow ERRNO").
 *   lease_victim FILE [--handler SIG] [--fork]
 * --handler SIG: after mapping, install a handler of its own for SIG (and say "handler SIG").
 * --wrlease: after mapping, take a write lease on its own descriptor and say "wrlease ERRNO"
 *   (0 on success), then give it up.
 * --exec PROG: after mapping, say "ready" and exec PROG (which no longer maps the file).
 * --fork: after mapping, fork; the child waits until the parent exits, the parent answers.
 * --fork-reset: the same, and the child first sets every real-time signal to SIG_DFL, then maps
 *   FILE once more (a child that goes on living and mapping files).
 * --spawn MODE: after mapping, run /bin/true from a child made with vfork() or fork() (MODE
 *   "vfork", "fork", "vfork-blocked" or "fork-blocked": every signal blocked around it, as Python's
 *   _posixsubprocess does), or with a bare clone() system call ("clone": no fork handler runs),
 *   that sets every real-time signal to SIG_DFL before execve, as spawn code does ("fork-exit":
 *   then calls exit() instead; "vfork-write": a vfork child that only opens FILE for writing and
 *   _exits); wait for it and say "spawned STATUS". "fds": says "fds N", the descriptors open.
 * --block: after mapping, block every signal (as a daemon reading them from a signalfd does).
 * --spin: after mapping, a thread that changes its mask without end (raw system calls): when the
 *   kernel wakes a waiting thread for the process's lease signal, the spinning one often takes it
 *   first (the way a thread that starts or changes its mask then does).
 * --block-first: block every signal before anything else, mapping included.
 * --block-first --signalfd: the same, and a signalfd for every signal (non-blocking) made before
 *   mapping, as a daemon does at start; "sigfd [new]": say "waiting sigfd", then poll that signalfd
 *   ("new": one made now, for every signal) and stdin until a line comes on stdin; say "sigfd got N
 *   empty M", N the signals read from the signalfd, M the times poll said it was readable and a
 *   read found nothing.
 * --map-in-thread: FILE is mapped by a second thread, which then ends; --map-in-kept-thread: the
 * thread lives on until the command "endthread" ("ended").
 * "mask": the blocked signals as this thread reads them back ("mask HEX", bit N-1 for signal N);
 * "threadmask": the same read in a new thread ("threadmask HEX"); "execmask": the SigBlk line of
 * a child exec'd after fork ("execmask HEX", from /proc/self/status) and of one exec'd after
 * vfork ("vforkmask HEX"), on one line; "spawnmask": the same of a child started by posix_spawnp
 * ("spawnmask HEX"). "spawnw": posix_spawn /bin/true with a file action that opens FILE for
 * appending, wait for it ("spawnw STATUS").
 * "wait KIND": with every signal blocked, say "waiting KIND" and wait until SIGUSR1 comes, the way
 * KIND names: "sigsuspend", "ppoll", "pselect", "epoll_pwait" (with a mask that lets SIGUSR1 alone
 * in; a handler of its own sets a flag, and a call another handled signal ends is made again), or
 * "sigwait", "sigwaitinfo", "sigtimedwait" (for every signal, until one is SIGUSR1); then say
 * "woke KIND others N", N the signals other than SIGUSR1 that the wait returned.
 * "waitone SIG": block SIG alone, say "waiting SIG", sigwait() for SIG alone; "woke SIG".
 * "waitall KIND": with every signal blocked, also for the wait, say "waiting KIND" and wait once:
 * "ppoll", "pselect", "epoll_pwait", "poll", "select", "epoll_wait" for a line on stdin (read,
 * not taken as a command), "sigwaitinfo", "sigtimedwait" for SIGUSR1, "nanosleep",
 * "clock_nanosleep", "usleep" for about a second, "sleep" for two, "sem_timedwait" for a
 * semaphore nobody posts, a second; "semop", "msgrcv" (System V) and "recv" (a socket with a
 * receive timeout of a minute) for a semaphore, message or byte that a second thread posts
 * when a line comes on stdin; say "woke KIND RESULT ERRNO" (ERRNO 0 on success).
 * "waitopen KIND": the same with no signal blocked (no handler of its own either, unless a
 * command before installed one).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/socket.h>
#include <sys/select.h>
#include <sys/signalfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t own_signals;

static unsigned long long mask_bits(const sigset_t *m)
{
	unsigned long long bits = 0;
	for (int sig = 1; sig <= 64; sig++)
		if (sigismember(m, sig) == 1)
			bits |= 1ull << (sig - 1);
	return bits;
}

static void *read_mask(void *out)
{
	sigset_t m;
	pthread_sigmask(SIG_BLOCK, NULL, &m);
	*(unsigned long long *)out = mask_bits(&m);
	return NULL;
}

/* The hex value of a SigBlk line read into buf (n bytes; room for one more). */
static void sigblk_value(char *buf, ssize_t n, char *out, size_t cap)
{
	if (n <= 0)
		return;
	buf[n] = 0;
	char *v = strchr(buf, ':');
	if (v)
		snprintf(out, cap, "%llx", strtoull(v + 1, NULL, 16));
}

/* The SigBlk line of a child that posix_spawnp starts: grep on its own status. */
static void spawn_mask(char *out, size_t cap)
{
	int p[2];
	snprintf(out, cap, "none");
	if (pipe(p) != 0)
		return;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	char *const argv[] = { "grep", "-h", "SigBlk", "/proc/self/status", NULL };
	pid_t pid;
	int err = posix_spawnp(&pid, "grep", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	char buf[128];
	ssize_t n = err ? -1 : read(p[0], buf, sizeof buf - 1);
	close(p[0]);
	if (!err)
		waitpid(pid, NULL, 0);
	sigblk_value(buf, n, out, cap);
}

/* The SigBlk line of a child that execs grep on its own status, after fork or vfork. */
static void exec_mask(bool use_vfork, char *out, size_t cap)
{
	int p[2];
	snprintf(out, cap, "none");
	if (pipe(p) != 0)
		return;
	char *const argv[] = { "grep", "-h", "SigBlk", "/proc/self/status", NULL };
	pid_t pid = use_vfork ? vfork() : fork();
	if (pid == 0) {
		dup2(p[1], 1);
		execvp("grep", argv);
		_exit(127);
	}
	close(p[1]);
	char buf[128];
	ssize_t n = pid < 0 ? -1 : read(p[0], buf, sizeof buf - 1);
	close(p[0]);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	sigblk_value(buf, n, out, cap);
}

static void own(int sig) { (void)sig; own_signals++; }

/* What spawn code does in its child before exec: every real-time signal back to SIG_DFL. */
static void reset_rt_signals(void)
{
	struct sigaction dfl;
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	for (int s = SIGRTMIN; s <= SIGRTMAX; s++)
		sigaction(s, &dfl, NULL);
}

/* --spawn MODE: the child's wait status, or -1. */
static volatile sig_atomic_t woken;
static void wake(int sig) { (void)sig; woken = 1; }

static int wait_for_usr1(const char *kind)
{
	sigset_t all, old, in;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	in = all;
	sigdelset(&in, SIGUSR1);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = wake;
	sigaction(SIGUSR1, &sa, NULL);
	woken = 0;
	int ep = strcmp(kind, "epoll_pwait") == 0 ? epoll_create1(0) : -1;
	int others = 0;
	printf("waiting %s\n", kind);
	fflush(stdout);
	while (!woken) {
		int sig = 0;
		siginfo_t si;
		struct timespec t = { 60, 0 };
		struct epoll_event ev;
		if (strcmp(kind, "sigsuspend") == 0)
			sigsuspend(&in);
		else if (strcmp(kind, "ppoll") == 0)
			ppoll(NULL, 0, NULL, &in);
		else if (strcmp(kind, "pselect") == 0)
			pselect(0, NULL, NULL, NULL, NULL, &in);
		else if (ep >= 0)
			epoll_pwait(ep, &ev, 1, -1, &in);
		else if (strcmp(kind, "sigwait") == 0)
			sigwait(&all, &sig);
		else if (strcmp(kind, "sigwaitinfo") == 0)
			sig = sigwaitinfo(&all, &si);
		else if (strcmp(kind, "sigtimedwait") == 0)
			sig = sigtimedwait(&all, &si, &t);
		else
			return 2;
		if (sig == SIGUSR1)
			woken = 1;
		else if (sig > 0)
			others++;
	}
	if (ep >= 0)
		close(ep);
	sigprocmask(SIG_SETMASK, &old, NULL);
	printf("woke %s others %d\n", kind, others);
	fflush(stdout);
	return 0;
}

static int sem_wait_a_second(void)
{
	sem_t s;
	struct timespec end;
	if (sem_init(&s, 0, 0) != 0 || clock_gettime(CLOCK_REALTIME, &end) != 0)
		return -2;
	end.tv_sec += 1;
	int r = sem_timedwait(&s, &end);
	int err = errno;
	sem_destroy(&s);
	errno = err;
	return r;
}

/* Each change of the mask makes the kernel look at the process's pending signals again (the way
 * a new thread's first unblocking does), and take one this thread lets in. */
static void *spin(void *arg)
{
	sigset_t one, none;
	sigemptyset(&none);
	sigemptyset(&one);
	sigaddset(&one, SIGUSR2);
	for (;;) {
		syscall(SYS_rt_sigprocmask, SIG_BLOCK, &one, NULL, _NSIG / 8);
		syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, _NSIG / 8);
	}
	return arg;
}

/* What a second thread posts, for the waits that wait for it (kinds semop, msgrcv, recv). */
struct posted {
	const char *kind;
	int semid, msqid, sv[2];
};

static void *post_on_line(void *arg)
{
	struct posted *p = arg;
	char line[64];
	if (!fgets(line, sizeof line, stdin))
		return NULL;
	struct sembuf up = { 0, 1, 0 };
	struct { long type; char c; } msg = { 1, 'x' };
	if (strcmp(p->kind, "semop") == 0)
		semop(p->semid, &up, 1);
	else if (strcmp(p->kind, "msgrcv") == 0)
		msgsnd(p->msqid, &msg, 1, 0);
	else
		send(p->sv[1], "x", 1, 0);
	return NULL;
}

static bool posted_kind(const char *kind)
{
	return strcmp(kind, "semop") == 0 || strcmp(kind, "msgrcv") == 0 || strcmp(kind, "recv") == 0;
}

/* The wait of a posted kind, with its second thread; the result, errno set. */
static int wait_posted(const char *kind)
{
	struct posted p = { .kind = kind, .semid = -1, .msqid = -1, .sv = { -1, -1 } };
	struct timeval minute = { 60, 0 };
	if ((p.semid = semget(IPC_PRIVATE, 1, 0600)) < 0 ||
	    (p.msqid = msgget(IPC_PRIVATE, 0600)) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, p.sv) != 0 ||
	    setsockopt(p.sv[0], SOL_SOCKET, SO_RCVTIMEO, &minute, sizeof minute) != 0)
		return -2;
	pthread_t t;
	if (pthread_create(&t, NULL, post_on_line, &p) != 0)
		return -2;
	printf("waiting %s\n", kind);
	fflush(stdout);
	struct sembuf down = { 0, -1, 0 };
	struct { long type; char c; } msg;
	char c;
	int r;
	if (strcmp(kind, "semop") == 0)
		r = semop(p.semid, &down, 1);
	else if (strcmp(kind, "msgrcv") == 0)
		r = (int)msgrcv(p.msqid, &msg, 1, 0, 0);
	else
		r = (int)recv(p.sv[0], &c, 1, 0);
	int err = errno;
	pthread_join(t, NULL);
	semctl(p.semid, 0, IPC_RMID);
	msgctl(p.msqid, IPC_RMID, NULL);
	close(p.sv[0]);
	close(p.sv[1]);
	errno = err;
	return r;
}

static int wait_once(const char *kind, bool block)
{
	sigset_t all, old, usr1;
	sigfillset(&all);
	sigprocmask(block ? SIG_BLOCK : SIG_UNBLOCK, &all, &old);
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	struct pollfd p = { .fd = 0, .events = POLLIN };
	fd_set in;
	FD_ZERO(&in);
	FD_SET(0, &in);
	struct epoll_event ev = { .events = EPOLLIN };
	int ep = -1;
	if (strncmp(kind, "epoll_", 6) == 0 && ((ep = epoll_create1(0)) < 0 ||
						 epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev) != 0))
		return 2;
	struct timespec t = { 60, 0 }, second = { 1, 0 };
	siginfo_t si;
	if (!posted_kind(kind)) {
		printf("waiting %s\n", kind);
		fflush(stdout);
	}
	int r;
	if (posted_kind(kind))
		r = wait_posted(kind);
	else if (strcmp(kind, "ppoll") == 0)
		r = ppoll(&p, 1, NULL, &all);
	else if (strcmp(kind, "pselect") == 0)
		r = pselect(1, &in, NULL, NULL, NULL, &all);
	else if (strcmp(kind, "epoll_pwait") == 0)
		r = epoll_pwait(ep, &ev, 1, -1, &all);
	else if (strcmp(kind, "poll") == 0)
		r = poll(&p, 1, -1);
	else if (strcmp(kind, "select") == 0)
		r = select(1, &in, NULL, NULL, NULL);
	else if (ep >= 0)
		r = epoll_wait(ep, &ev, 1, -1);
	else if (strcmp(kind, "nanosleep") == 0)
		r = nanosleep(&second, NULL);
	else if (strcmp(kind, "clock_nanosleep") == 0)
		r = -clock_nanosleep(CLOCK_MONOTONIC, 0, &second, NULL);
	else if (strcmp(kind, "sleep") == 0)
		r = (int)sleep(2);  /* interrupted, it says how many seconds were left, rounded */
	else if (strcmp(kind, "usleep") == 0)
		r = usleep(999999);
	else if (strcmp(kind, "sem_timedwait") == 0)
		r = sem_wait_a_second();
	else if (strcmp(kind, "sigwaitinfo") == 0)
		r = sigwaitinfo(&usr1, &si);
	else if (strcmp(kind, "sigtimedwait") == 0)
		r = sigtimedwait(&usr1, &si, &t);
	else
		return 2;
	int err = r < 0 ? errno : 0;
	char line[64];
	if (r > 0 && strncmp(kind, "sig", 3) != 0 && strncmp(kind, "sem", 3) != 0 &&
	    strstr(kind, "sleep") == NULL && !posted_kind(kind) &&
	    !fgets(line, sizeof line, stdin))
		return 2;
	if (ep >= 0)
		close(ep);
	sigprocmask(SIG_SETMASK, &old, NULL);
	printf("woke %s %d %d\n", kind, r, err);
	fflush(stdout);
	return 0;
}

static int sigfd = -1;

static int poll_signalfd(bool fresh)
{
	sigset_t all;
	sigfillset(&all);
	int fd = fresh ? signalfd(-1, &all, SFD_NONBLOCK) : sigfd;
	if (fd < 0)
		return 2;
	printf("waiting sigfd\n");
	fflush(stdout);
	int got = 0, empty = 0;
	for (;;) {
		struct pollfd p[2] = { { fd, POLLIN, 0 }, { 0, POLLIN, 0 } };
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			return 2;
		if (p[0].revents) {
			struct signalfd_siginfo si;
			if (read(fd, &si, sizeof si) == (ssize_t)sizeof si)
				got++;
			else
				empty++;
		}
		if (p[1].revents)
			break;
	}
	char line[64];
	if (!fgets(line, sizeof line, stdin))
		return 2;
	if (fresh)
		close(fd);
	printf("sigfd got %d empty %d\n", got, empty);
	fflush(stdout);
	return 0;
}

static void wait_for_one(int sig)
{
	sigset_t one;
	sigemptyset(&one);
	sigaddset(&one, sig);
	sigprocmask(SIG_BLOCK, &one, NULL);
	printf("waiting %d\n", sig);
	fflush(stdout);
	int got = 0;
	while (got != sig)
		if (sigwait(&one, &got) != 0)
			break;
	sigprocmask(SIG_UNBLOCK, &one, NULL);
	printf("woke %d\n", got);
	fflush(stdout);
}

static const char *victim_file;

static int spawn(const char *mode)
{
	static char *const argv[] = { "true", NULL };
	bool use_vfork = strncmp(mode, "vfork", 5) == 0;
	bool blocked = strstr(mode, "-blocked") != NULL;
	sigset_t all, old;
	sigfillset(&all);
	if (blocked)
		sigprocmask(SIG_BLOCK, &all, &old);
	fflush(stdout);
	pid_t c = strcmp(mode, "clone") == 0 ? (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0)
		  : use_vfork ? vfork() : fork();
	if (c == 0) {
		if (strcmp(mode, "vfork-write") == 0)   /* the child writes the file itself */
			_exit(open(victim_file, O_WRONLY) < 0 ? 1 : 0);
		reset_rt_signals();
		if (strcmp(mode, "fork-exit") == 0)
			exit(0);        /* lives on after all: exit handlers and destructors run */
		execve("/bin/true", argv, environ);
		_exit(127);
	}
	if (blocked)
		sigprocmask(SIG_SETMASK, &old, NULL);
	int st;
	if (c < 0 || waitpid(c, &st, 0) != c)
		return -1;
	return st;
}

struct move { void *from, *to, *got; size_t len; };

static void *mover(void *arg)
{
	struct move *mv = arg;
	mv->got = mremap(mv->from, mv->len, mv->len, MREMAP_MAYMOVE | MREMAP_FIXED, mv->to);
	return NULL;
}

/* FILE's mapping moves; PATH is mapped while the mremap waits for its event to be read. */
static const unsigned char *move_and_map(const char *file, const unsigned char *shared, size_t len,
					 const char *path)
{
	int fd = open(file, O_RDONLY);
	const unsigned char *m = fd < 0 ? MAP_FAILED : mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
	if (m == MAP_FAILED)
		exit(2);
	close(fd);
	munmap((void *)shared, len);
	int uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);     /* poll wants it */
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_EVENT_REMAP };
	struct uffdio_register reg = { .range = { (unsigned long)m, len },
				       .mode = UFFDIO_REGISTER_MODE_MISSING };
	if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api) < 0 || ioctl(uffd, UFFDIO_REGISTER, &reg) < 0) {
		printf("unsupported %d\n", errno);
		if (uffd >= 0)
			close(uffd);
		return m;
	}
	struct move mv = { .from = (void *)m, .len = len };
	mv.to = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pthread_t t;
	if (mv.to == MAP_FAILED || pthread_create(&t, NULL, mover, &mv) != 0)
		exit(2);
	struct pollfd pfd = { .fd = uffd, .events = POLLIN };
	if (poll(&pfd, 1, -1) != 1)             /* the move is done; its call waits */
		exit(2);
	int f = open(path, O_RDONLY);
	struct stat fs;
	if (f < 0 || fstat(f, &fs) < 0 ||
	    mmap(NULL, (size_t)fs.st_size, PROT_READ, MAP_SHARED, f, 0) == MAP_FAILED)
		exit(2);
	close(f);
	struct uffd_msg msg;
	if (read(uffd, &msg, sizeof msg) != (ssize_t)sizeof msg || msg.event != UFFD_EVENT_REMAP ||
	    pthread_join(t, NULL) != 0 || mv.got != mv.to)
		exit(2);
	close(uffd);
	printf("moved\n");
	return mv.got;
}

struct mapper {
	int fd;
	size_t len;
	const unsigned char *m;
	int mapped[2], end[2];          /* kept: the thread says it mapped, then waits for the end */
};

static void *map_file(void *arg)
{
	struct mapper *mp = arg;
	mp->m = mmap(NULL, mp->len, PROT_READ, MAP_SHARED, mp->fd, 0);
	char c = 0;
	if (mp->mapped[1] >= 0 && (write(mp->mapped[1], &c, 1) != 1 || read(mp->end[0], &c, 1) < 0))
		mp->m = MAP_FAILED;
	return NULL;
}

static struct mapper keeper = { .mapped = { -1, -1 }, .end = { -1, -1 } };
static pthread_t keeper_thread;

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	victim_file = argv[1];
	bool in_thread = false, kept_thread = false;
	for (int i = 2; i < argc; i++) {
		in_thread |= strcmp(argv[i], "--map-in-thread") == 0;
		kept_thread |= strcmp(argv[i], "--map-in-kept-thread") == 0;
	}
	if (argc > 2 && strcmp(argv[2], "--block-first") == 0) {
		sigset_t all;
		sigfillset(&all);
		sigprocmask(SIG_BLOCK, &all, NULL);
		if (argc > 3 && strcmp(argv[3], "--signalfd") == 0 &&
		    (sigfd = signalfd(-1, &all, SFD_NONBLOCK)) < 0)
			return 2;
	}
	int fd = open(argv[1], O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size == 0) {
		perror(argv[1]);
		return 2;
	}
	size_t len = (size_t)st.st_size;
	const unsigned char *m;
	if (in_thread) {
		struct mapper mp = { .fd = fd, .len = len, .mapped = { -1, -1 }, .end = { -1, -1 } };
		pthread_t t;
		if (pthread_create(&t, NULL, map_file, &mp) != 0 || pthread_join(t, NULL) != 0)
			return 2;
		m = mp.m;
	} else if (kept_thread) {
		keeper.fd = fd;
		keeper.len = len;
		char c;
		if (pipe(keeper.mapped) != 0 || pipe(keeper.end) != 0 ||
		    pthread_create(&keeper_thread, NULL, map_file, &keeper) != 0 ||
		    read(keeper.mapped[0], &c, 1) != 1)
			return 2;
		m = keeper.m;
	} else {
		m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	}
	if (m == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	pid_t child = -1;
	int child_pipe = -1;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--handler") == 0 && i + 1 < argc) {
			int sig = atoi(argv[++i]);
			struct sigaction sa;
			memset(&sa, 0, sizeof sa);
			sa.sa_handler = own;
			if (sigaction(sig, &sa, NULL) != 0) {
				perror("sigaction");
				return 2;
			}
			printf("handler %d\n", sig);
		} else if (strcmp(argv[i], "--wrlease") == 0) {
			int r = fcntl(fd, F_SETLEASE, F_WRLCK);
			printf("wrlease %d\n", r == 0 ? 0 : errno);
			fcntl(fd, F_SETLEASE, F_UNLCK);
		} else if (strcmp(argv[i], "--exec") == 0 && i + 1 < argc) {
			close(fd);
			printf("ready %d\n", (int)getpid());
			fflush(stdout);
			execv(argv[i + 1], argv + i + 1);
			return 127;
		} else if (strcmp(argv[i], "--block-first") == 0 ||
			   strcmp(argv[i], "--map-in-thread") == 0 ||
			   strcmp(argv[i], "--map-in-kept-thread") == 0 ||
			   strcmp(argv[i], "--signalfd") == 0) {
			continue;
		} else if (strcmp(argv[i], "--spin") == 0) {
			pthread_t t;
			if (pthread_create(&t, NULL, spin, NULL) != 0)
				return 2;
		} else if (strcmp(argv[i], "--block") == 0) {
			sigset_t all;
			sigfillset(&all);
			sigprocmask(SIG_BLOCK, &all, NULL);
		} else if (strcmp(argv[i], "--spawn") == 0 && i + 1 < argc) {
			printf("spawned %d\n", spawn(argv[++i]));
		} else if (strcmp(argv[i], "--fork") == 0 || strcmp(argv[i], "--fork-reset") == 0) {
			bool reset = strcmp(argv[i], "--fork-reset") == 0;
			int p[2], up[2];
			if (pipe(p) != 0 || pipe(up) != 0)
				return 2;
			fflush(stdout);
			child = fork();
			if (child == 0) {
				char c = 'x';
				close(p[1]);
				if (reset) {
					reset_rt_signals();
					if (mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED)
						_exit(2);
				}
				if (write(up[1], &c, 1) != 1)   /* fork has returned here: set up */
					_exit(2);
				while (read(p[0], &c, 1) > 0)
					;
				_exit(0);
			}
			char c;
			close(p[0]);
			close(up[1]);
			child_pipe = p[1];
			if (read(up[0], &c, 1) != 1)
				return 2;
		}
	}
	close(fd);
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	char line[4200];
	while (fgets(line, sizeof line, stdin)) {
		line[strcspn(line, "\n")] = 0;
		if (strcmp(line, "fds") == 0) {           /* how many descriptors the process has */
			int n = 0;
			DIR *d = opendir("/proc/self/fd");
			for (struct dirent *e; d && (e = readdir(d));)
				n += e->d_name[0] != '.';
			if (d)
				closedir(d);
			printf("fds %d\n", n - 1);      /* not the directory's own */
			fflush(stdout);
			continue;
		}
		if (strncmp(line, "wait ", 5) == 0) {
			if (wait_for_usr1(line + 5) != 0)
				return 2;
			continue;
		}
		if (strncmp(line, "waitall ", 8) == 0 || strncmp(line, "waitopen ", 9) == 0) {
			bool block = line[4] == 'a';
			if (wait_once(line + (block ? 8 : 9), block) != 0)
				return 2;
			continue;
		}
		if (strncmp(line, "waitone ", 8) == 0) {
			wait_for_one(atoi(line + 8));
			continue;
		}
		if (strcmp(line, "sigfd") == 0 || strcmp(line, "sigfd new") == 0) {
			if (poll_signalfd(line[5] == ' ') != 0)
				return 2;
			continue;
		}
		if (strcmp(line, "endthread") == 0) {    /* --map-in-kept-thread */
			char c = 0;
			if (write(keeper.end[1], &c, 1) != 1 || pthread_join(keeper_thread, NULL) != 0)
				return 2;
			printf("ended\n");
			fflush(stdout);
			continue;
		}
		if (strcmp(line, "unmap") == 0) {
			munmap((void *)m, len);
			printf("unmapped\n");
			fflush(stdout);
			continue;
		}
		bool fill = strncmp(line, "fill ", 5) == 0;
		if (strncmp(line, "cycle ", 6) == 0 || fill) {
			char *sp = strrchr(line, ' ');
			int n = atoi(sp + 1);
			*sp = 0;
			char name[4200 + 16];
			static const char page[4096] = { 1 };
			for (int i = 0; i < n; i++) {
				snprintf(name, sizeof name, "%s%d", line + (fill ? 5 : 6), i);
				int f = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
				if (f < 0 || write(f, page, sizeof page) != (ssize_t)sizeof page || close(f) != 0)
					return 2;
				f = open(name, O_RDONLY);       /* no writer: a lease can be had */
				void *p = f < 0 ? MAP_FAILED : mmap(NULL, sizeof page, PROT_READ, MAP_SHARED, f, 0);
				if (p == MAP_FAILED)
					return 2;
				if (!fill)
					munmap(p, sizeof page);
				close(f);
			}
			printf("%s %d\n", fill ? "filled" : "cycled", n);
			fflush(stdout);
			continue;
		}
		if (strcmp(line, "mask") == 0 || strcmp(line, "threadmask") == 0) {
			unsigned long long bits = 0;
			pthread_t t;
			if (line[0] == 'm')
				read_mask(&bits);
			else if (pthread_create(&t, NULL, read_mask, &bits) != 0 || pthread_join(t, NULL) != 0)
				return 2;
			printf("%s %llx\n", line, bits);
			fflush(stdout);
			continue;
		}
		if (strcmp(line, "execmask") == 0) {
			char forked[32], vforked[32];
			exec_mask(false, forked, sizeof forked);
			exec_mask(true, vforked, sizeof vforked);
			printf("execmask %s vforkmask %s\n", forked, vforked);
			fflush(stdout);
			continue;
		}
		if (strcmp(line, "spawnmask") == 0) {
			char spawned[32];
			spawn_mask(spawned, sizeof spawned);
			printf("spawnmask %s\n", spawned);
			fflush(stdout);
			continue;
		}
		if (strcmp(line, "spawnw") == 0) {
			posix_spawn_file_actions_t fa;
			posix_spawn_file_actions_init(&fa);
			posix_spawn_file_actions_addopen(&fa, 3, argv[1], O_WRONLY | O_APPEND, 0);
			char *const targv[] = { "true", NULL };
			pid_t pid;
			int status = -1;
			int err = posix_spawn(&pid, "/bin/true", &fa, NULL, targv, environ);
			posix_spawn_file_actions_destroy(&fa);
			if (!err)
				waitpid(pid, &status, 0);
			printf("spawnw %d\n", err ? -err : status);
			fflush(stdout);
			continue;
		}
		if (strncmp(line, "map ", 4) == 0) {
			int f = open(line + 4, O_RDONLY);
			struct stat fs;
			if (f < 0 || fstat(f, &fs) < 0 ||
			    mmap(NULL, (size_t)fs.st_size, PROT_READ, MAP_SHARED, f, 0) == MAP_FAILED)
				return 2;
			close(f);
			printf("mapped\n");
			fflush(stdout);
			continue;
		}
		if (strncmp(line, "move_and_map ", 13) == 0) {
			m = move_and_map(argv[1], m, len, line + 13);
			fflush(stdout);
			continue;
		}
		if (strncmp(line, "openw", 5) == 0) {
			int flags = O_WRONLY | O_APPEND | (strstr(line, "nonblock") ? O_NONBLOCK : 0);
			int w = strstr(line, "raw") ? (int)syscall(SYS_openat, AT_FDCWD, argv[1], flags)
						    : open(argv[1], flags);
			int err = w < 0 ? errno : write(w, "x", 1) == 1 ? 0 : errno;
			if (w >= 0 && close(w) != 0 && !err)
				err = errno;
			printf("openw %d\n", err);
			fflush(stdout);
			continue;
		}
		if (strcmp(line, "fopenw") == 0) {
			FILE *f = fopen(argv[1], "a");
			int err = !f ? errno : fputc('x', f) == EOF ? errno : 0;
			if (f && fclose(f) != 0 && !err)
				err = errno;
			printf("fopenw %d\n", err);
			fflush(stdout);
			continue;
		}
		if (strcmp(line, "grow") == 0) {
			struct stat fs;
			int err = stat(argv[1], &fs) != 0 || truncate(argv[1], fs.st_size + 1) != 0 ? errno : 0;
			printf("grow %d\n", err);
			fflush(stdout);
			continue;
		}
		if (strncmp(line, "remap", 5) == 0) {
			munmap((void *)m, len);
			fd = open(argv[1], O_RDONLY);
			m = fd < 0 ? MAP_FAILED : mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
			if (m == MAP_FAILED)
				return 2;
			close(fd);
			printf("ready %d\n", (int)getpid());
			fflush(stdout);
			continue;
		}
		unsigned long sum = 0;
		for (size_t i = 0; i < len; i++)
			sum += m[i];
		printf("sum %lu own_signals %d\n", sum, (int)own_signals);
		fflush(stdout);
	}
	if (child > 0) {               /* the child ends when its pipe closes; wait for its records */
		close(child_pipe);
		waitpid(child, NULL, 0);
	}
	return 0;
}

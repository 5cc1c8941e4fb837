/*
 * mg_mapcalls: mapping calls that another thread of the program holds up inside the kernel. Each
 * mode prints what it observed and exits 0 iff every check held; a hang is caught by a watchdog
 * alarm. The interleavings are forced with real calls (a seccomp listener that holds a system call
 * before it runs, a userfaultfd whose events a call waits for), never with time.
 *
 *   mg_mapcalls into-unmap DIR fixed|mremap
 *       Thread A unmaps a mapped file (one whole window); a seccomp listener holds A's munmap
 *       before the kernel runs it. Meanwhile thread B maps another file over the same addresses
 *       (mmap MAP_FIXED, or mremap MREMAP_FIXED of a mapping of it). Then A's munmap runs. The
 *       guard's answer for B's file must be what the kernel really has mapped (printed as
 *       "kernel K guard G"), and B must not have mapped before A's munmap ran ("b before a 0").
 *   mg_mapcalls uffd-server DIR fixed|munmap|mremap|grow [fork]
 *       A mapped tmpfs file is registered with a userfaultfd that reports unmaps and moves; the
 *       kernel then makes the unmapping or moving call wait until the event is read. The thread
 *       serving the userfaultfd, once the event is queued, first maps and unmaps a file of its own,
 *       then reads the event. The main thread replaces a page of the mapping (MAP_FIXED), unmaps
 *       one page, or moves the mapping; or (grow) the mapping is locked and mremap grows it: the
 *       kernel fills the new pages, whose faults the server resolves. Prints "main returned" and
 *       the first event read ("event E").
 *       With "fork" after HOW, the server forks (the child exits at once) instead of mapping:
 *       fork's prepare handler takes the guard's locks.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mmapguard.h"

#define WATCHDOG 60     /* seconds: only a hang ever reaches it */
#define NPAGES 4

static long page;
static const char *dir;

static void die(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int e = errno;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	dprintf(1, "FAILED: %s (errno %d %s)\n", buf, e, strerror(e));
	_exit(1);
}

static int open_file(const char *name, long npages)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, npages * page) != 0)
		die("create %s", path);
	return fd;
}

static unsigned char *map_fd(int fd, long npages)
{
	unsigned char *p = mmap(NULL, (size_t)(npages * page), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap fd %d", fd);
	return p;
}

/* ---- into-unmap ----------------------------------------------------------------------------- */

static unsigned char *old_map;
static int listener = -1;
static int a_go[2];
static int a_result = -2;
static pid_t b_tid;
static int b_started, b_done;
static int new_fd;
static const char *b_how;

/* From this thread on, munmap(old_map, ...) waits for the listener's answer before it runs. */
static void hold_munmap_of(uintptr_t addr)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_munmap, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)addr, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof f / sizeof f[0], f };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		die("no_new_privs");
	int fd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
	if (fd < 0 && (errno == EINVAL || errno == ENOSYS)) {
		printf("no seccomp listener here\n");     /* before Linux 5.0, or seccomp off */
		exit(77);
	}
	if (fd < 0)
		die("seccomp listener");
	__atomic_store_n(&listener, fd, __ATOMIC_RELEASE);
}

static void *unmapper(void *arg)
{
	(void)arg;
	hold_munmap_of((uintptr_t)old_map);
	char c;
	if (read(a_go[0], &c, 1) != 1)
		die("read go");
	__atomic_store_n(&a_result, munmap(old_map, (size_t)(NPAGES * page)), __ATOMIC_RELEASE);
	return NULL;
}

static void *mapper(void *arg)
{
	(void)arg;
	__atomic_store_n(&b_tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
	void *src = NULL;
	if (strcmp(b_how, "mremap") == 0)
		src = map_fd(new_fd, NPAGES);
	__atomic_store_n(&b_started, 1, __ATOMIC_RELEASE);
	void *r;
	if (src)
		r = mremap(src, (size_t)(NPAGES * page), (size_t)(NPAGES * page),
			   MREMAP_MAYMOVE | MREMAP_FIXED, old_map);
	else
		r = mmap(old_map, (size_t)(NPAGES * page), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
			 new_fd, 0);
	if (r != old_map)
		die("%s into the unmapped range", b_how);
	__atomic_store_n(&b_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* B finished its call, or waits in the kernel for something (a futex: another thread's call). */
static int mapper_done_or_waiting(void)
{
	while (!__atomic_load_n(&b_started, __ATOMIC_ACQUIRE))
		sched_yield();
	char path[64], buf[128];
	snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)__atomic_load_n(&b_tid, __ATOMIC_ACQUIRE));
	for (;;) {
		if (__atomic_load_n(&b_done, __ATOMIC_ACQUIRE))
			return 1;
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
		if (fd >= 0)
			close(fd);
		if (n > 0) {
			buf[n] = 0;
			if (strncmp(buf, "202 ", 4) == 0)       /* futex */
				return 0;
		}
		sched_yield();
	}
}

static int into_unmap(const char *how)
{
	b_how = how;
	old_map = map_fd(open_file("old", NPAGES), NPAGES);
	new_fd = open_file("new", NPAGES);
	if (pipe(a_go) != 0)
		die("pipe");
	pthread_t a, b;
	pthread_create(&a, NULL, unmapper, NULL);
	while (__atomic_load_n(&listener, __ATOMIC_ACQUIRE) < 0)
		sched_yield();
	struct seccomp_notif req;
	struct seccomp_notif_resp resp;
	memset(&req, 0, sizeof req);
	if (write(a_go[1], "g", 1) != 1)
		die("write go");
	/* A is in munmap, held before the kernel runs it. */
	if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &req) != 0)
		die("NOTIF_RECV");
	pthread_create(&b, NULL, mapper, NULL);
	int b_first = mapper_done_or_waiting();
	memset(&resp, 0, sizeof resp);
	resp.id = req.id;
	resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
	if (ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp) != 0)
		die("NOTIF_SEND");
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	if (a_result != 0)
		die("munmap in thread A returned %d", a_result);
	unsigned char vec;
	int kernel = mincore(old_map, (size_t)page, &vec) == 0;
	int guard = mmapguard_fd_mapped_if_loaded(new_fd, NULL);
	printf("b before a %d\nkernel %d guard %d\n", b_first, kernel, guard);
	return kernel == guard && !b_first ? 0 : 1;
}

/* ---- uffd-server ---------------------------------------------------------------------------- */

static int uffd = -1;
static int own_fd;
static int done_pipe[2];
static int first_event = -1;
static int server_forks;

/*
 * Resolve missing pages by copying a page of ours into them. EAGAIN: the address space is
 * changing (an unread event), the fault waits until the events are read.
 */
static uint64_t pending[64];
static int npending;

static void serve_faults(void)
{
	static unsigned char src[65536] __attribute__((aligned(4096)));
	int left = 0;
	for (int i = 0; i < npending; i++) {
		struct uffdio_copy c = { .dst = pending[i], .src = (uintptr_t)src, .len = (uint64_t)page };
		if (ioctl(uffd, UFFDIO_COPY, &c) == 0 || errno == EEXIST)
			continue;
		if (errno != EAGAIN)
			die("UFFDIO_COPY");
		pending[left++] = pending[i];
	}
	npending = left;
}

static void *server(void *arg)
{
	(void)arg;
	struct pollfd pfd[2] = { { uffd, POLLIN, 0 }, { done_pipe[0], POLLIN, 0 } };
	while (poll(pfd, 1, -1) != 1)
		if (errno != EINTR)
			die("poll");
	/* Something is queued: the main thread's call waits for it to be read (or served). */
	if (server_forks) {
		pid_t pid = fork();
		if (pid < 0)
			die("fork");
		if (pid == 0)
			_exit(0);
		int st;
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			die("child of the server");
	} else {
		unsigned char *m = map_fd(own_fd, 1);
		if (munmap(m, (size_t)page) != 0)
			die("server munmap");
	}
	for (;;) {
		struct uffd_msg msg;
		ssize_t n;
		while ((n = read(uffd, &msg, sizeof msg)) == (ssize_t)sizeof msg) {
			if (first_event < 0)
				__atomic_store_n(&first_event, msg.event, __ATOMIC_RELEASE);
			if (msg.event == UFFD_EVENT_PAGEFAULT && npending < 64)
				pending[npending++] = msg.arg.pagefault.address & ~(uint64_t)(page - 1);
		}
		if (n >= 0 || errno != EAGAIN)
			die("read uffd");
		serve_faults();
		if (npending)
			continue;
		if (pfd[1].revents & POLLIN)
			return NULL;
		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			die("poll");
	}
}

static const char *event_name(int e)
{
	switch (e) {
	case UFFD_EVENT_UNMAP: return "unmap";
	case UFFD_EVENT_REMAP: return "remap";
	case UFFD_EVENT_REMOVE: return "remove";
	case UFFD_EVENT_PAGEFAULT: return "pagefault";
	default: return "other";
	}
}

static int uffd_server(const char *how)
{
	int grow = strcmp(how, "grow") == 0;
	int fd = (int)syscall(SYS_memfd_create, "served", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, 2 * NPAGES * page) != 0)
		die("memfd");
	/* Room after the mapping, for growing it in place (a move would hold the faults back until
	 * its own event is read, which comes after them). */
	unsigned char *p = mmap(NULL, (size_t)(2 * NPAGES * page), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED || mmap(p, (size_t)(NPAGES * page), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
				    fd, 0) != p)
		die("mmap served");
	/* grow: the mapping is locked, so the kernel populates what mremap adds to it. */
	if (grow && mlock(p, (size_t)(NPAGES * page)) != 0)
		die("mlock");
	own_fd = open_file("own", 1);
	int other = open_file("other", 1);
	if (pipe(done_pipe) != 0)
		die("pipe");

	uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uffd < 0)
		die("userfaultfd");
	struct uffdio_api api = { .api = UFFD_API,
		.features = UFFD_FEATURE_EVENT_UNMAP | UFFD_FEATURE_EVENT_REMAP | UFFD_FEATURE_MISSING_SHMEM };
	if (ioctl(uffd, UFFDIO_API, &api) != 0)
		die("UFFDIO_API");
	struct uffdio_register reg = { .range = { (uintptr_t)p, (uint64_t)(NPAGES * page) },
		.mode = UFFDIO_REGISTER_MODE_MISSING };
	if (ioctl(uffd, UFFDIO_REGISTER, &reg) != 0)
		die("UFFDIO_REGISTER");
	/* Where a move goes: memory of ours, replaced by it. */
	void *dst = mmap(NULL, (size_t)(NPAGES * page), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (dst == MAP_FAILED)
		die("mmap dst");

	pthread_t t;
	pthread_create(&t, NULL, server, NULL);
	if (strcmp(how, "fixed") == 0) {
		if (mmap(p + page, (size_t)page, PROT_READ, MAP_SHARED | MAP_FIXED, other, 0) != p + page)
			die("mmap MAP_FIXED");
	} else if (strcmp(how, "munmap") == 0) {
		if (munmap(p + page, (size_t)page) != 0)
			die("munmap");
	} else if (grow) {
		if (munmap(p + NPAGES * page, (size_t)(NPAGES * page)) != 0 ||
		    mremap(p, (size_t)(NPAGES * page), (size_t)(2 * NPAGES * page), 0) != p)
			die("mremap grow");
	} else {
		if (mremap(p, (size_t)(NPAGES * page), (size_t)(NPAGES * page), MREMAP_MAYMOVE | MREMAP_FIXED,
			   dst) != dst)
			die("mremap");
	}
	printf("main returned\n");
	fflush(stdout);
	if (write(done_pipe[1], "d", 1) != 1)
		die("write done");
	pthread_join(t, NULL);
	printf("event %s\n", event_name(__atomic_load_n(&first_event, __ATOMIC_ACQUIRE)));
	return 0;
}

int main(int argc, char **argv)
{
	page = sysconf(_SC_PAGESIZE);
	alarm(WATCHDOG);
	if (argc != 4 && !(argc == 5 && strcmp(argv[4], "fork") == 0)) {
		fprintf(stderr, "usage: mg_mapcalls into-unmap|uffd-server DIR HOW [fork]\n");
		return 2;
	}
	server_forks = argc == 5;
	dir = argv[2];
	if (strcmp(argv[1], "into-unmap") == 0)
		return into_unmap(argv[3]);
	if (strcmp(argv[1], "uffd-server") == 0)
		return uffd_server(argv[3]);
	fprintf(stderr, "unknown mode %s\n", argv[1]);
	return 2;
}

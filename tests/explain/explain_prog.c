/*
 * explain_prog SCENARIO DIR: a program that dies, for the tests of `mmapguard explain`. It writes
 * what it did as JSON lines to DIR/steps (not stdout: gdb shares that) before it dies.
 *
 *   truncated  maps DIR/data (16 pages) MAP_SHARED, cuts it to one page with ftruncate, reads page 8
 *   io_error   DIR is a small tmpfs: maps the sparse file DIR/sparse MAP_SHARED, fills the
 *              filesystem, then stores into a hole inside the file's size
 *   kill       kill(getpid(), SIGBUS)
 *   segv       a store through a null pointer
 *   align      (x86-64) a misaligned load from the heap with the alignment check flag on: a SIGBUS
 *              fault (BUS_ADRALN, reported without an address) that is not in a file mapping
 *
 * A second thread ("waiter") blocks on a pipe in every scenario, for the other threads' stacks.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PAGES 16

static int steps_fd = -1;
static long page;
static int waiter_pipe[2];
static int waiter_ready[2];

static void step(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void step(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
	va_end(ap);
	buf[n++] = '\n';
	if (write(steps_fd, buf, (size_t)n) != n)
		_exit(2);
}

static void die(const char *what)
{
	step("{\"step\":\"error\",\"what\":\"%s\",\"errno\":%d}", what, errno);
	_exit(2);
}

static void *waiter(void *arg)
{
	(void)arg;
	char c;
	if (write(waiter_ready[1], "r", 1) != 1)
		_exit(2);
	while (read(waiter_pipe[0], &c, 1) < 0 && errno == EINTR)
		;
	return NULL;
}

static void start_waiter(void)
{
	if (pipe(waiter_pipe) < 0 || pipe(waiter_ready) < 0)
		die("pipe");
	pthread_t t;
	if (pthread_create(&t, NULL, waiter, NULL) != 0)
		die("pthread_create");
	pthread_setname_np(t, "waiter");
	char c;
	if (read(waiter_ready[0], &c, 1) != 1)
		die("read");
	step("{\"step\":\"waiter\"}");
}

static void *map_file(int fd, size_t len, int prot)
{
	void *p = mmap(NULL, len, prot, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap");
	return p;
}

__attribute__((noinline)) static void cut(int fd, off_t size)
{
	if (ftruncate(fd, size) < 0)
		die("ftruncate");
}

__attribute__((noinline)) static int read_mapped_byte(const volatile unsigned char *p)
{
	return *p;      /* FAULT_READ */
}

__attribute__((noinline)) static void store_mapped_byte(volatile unsigned char *p)
{
	*p = 1;         /* FAULT_STORE */
}

static void mapped(const char *path, const void *addr, size_t len)
{
	struct stat st;
	if (stat(path, &st) < 0)
		die("stat");
	step("{\"step\":\"mapped\",\"path\":\"%s\",\"map_addr\":\"%p\",\"map_len\":%zu,\"dev\":%lu,"
	     "\"ino\":%lu,\"pid\":%d,\"tid\":%ld}", path, addr, len, (unsigned long)st.st_dev,
	     (unsigned long)st.st_ino, getpid(), (long)syscall(SYS_gettid));
}

static int truncated(const char *dir)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/data", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die("open");
	size_t len = (size_t)(PAGES * page);
	char *buf = malloc(len);
	memset(buf, 'd', len);
	if (write(fd, buf, len) != (ssize_t)len)
		die("write");
	free(buf);
	const unsigned char *p = map_file(fd, len, PROT_READ);
	mapped(path, p, len);
	cut(fd, page);
	const unsigned char *at = p + 8 * page + 123;
	step("{\"step\":\"fault\",\"fault_addr\":\"%p\",\"fault_offset\":%ld}", (const void *)at,
	     8 * page + 123);
	return read_mapped_byte(at);
}

static int io_error(const char *dir)
{
	char path[4096], fill[4096];
	snprintf(path, sizeof path, "%s/sparse", dir);
	snprintf(fill, sizeof fill, "%s/fill", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die("open");
	size_t len = (size_t)(PAGES * page);
	if (ftruncate(fd, (off_t)len) < 0)
		die("ftruncate");
	unsigned char *p = map_file(fd, len, PROT_READ | PROT_WRITE);
	mapped(path, p, len);
	/* fill the filesystem */
	int ff = open(fill, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (ff < 0)
		die("open fill");
	char *buf = calloc(1, (size_t)page);
	while (write(ff, buf, (size_t)page) == page)
		;
	if (errno != ENOSPC)
		die("fill");
	free(buf);
	step("{\"step\":\"full\"}");
	unsigned char *at = p + 5 * page + 7;
	step("{\"step\":\"fault\",\"fault_addr\":\"%p\",\"fault_offset\":%ld}", (void *)at, 5 * page + 7);
	store_mapped_byte(at);
	step("{\"step\":\"no_fault\"}");
	return 3;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: explain_prog truncated|io_error|kill|segv|align DIR\n");
		return 2;
	}
	page = sysconf(_SC_PAGESIZE);
	char sp[4096];
	snprintf(sp, sizeof sp, "%s/steps", argv[2]);
	steps_fd = open(sp, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (steps_fd < 0)
		return 2;
	start_waiter();
	if (strcmp(argv[1], "truncated") == 0)
		return truncated(argv[2]);
	if (strcmp(argv[1], "io_error") == 0)
		return io_error(argv[2]);
	if (strcmp(argv[1], "kill") == 0) {
		step("{\"step\":\"kill\",\"pid\":%d}", getpid());
		kill(getpid(), SIGBUS);
		return 3;
	}
	if (strcmp(argv[1], "segv") == 0) {
		step("{\"step\":\"segv\"}");
		*(volatile int *)(uintptr_t)16 = 1;
		return 3;
	}
	if (strcmp(argv[1], "shared_anon") == 0) {
		/* Shared anonymous memory grown past its object: a SIGBUS with no file behind it. */
		char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		char *q = p == MAP_FAILED ? MAP_FAILED : mremap(p, 4096, 8192, MREMAP_MAYMOVE);
		if (q == MAP_FAILED)
			return 2;
		step("{\"step\":\"fault\",\"fault_addr\":\"%p\"}", (void *)(q + 4096));
		return ((volatile char *)q)[4096];
	}
#if defined(__x86_64__)
	if (strcmp(argv[1], "align") == 0) {
		char *heap = malloc(64);
		volatile int *at = (volatile int *)(void *)(heap + 1);
		step("{\"step\":\"fault\",\"fault_addr\":\"%p\"}", (void *)at);
		__asm__ volatile("pushfq; orl $0x40000, (%%rsp); popfq" ::: "memory", "cc");
		return *at;
	}
#endif
	return 2;
}

/*
 * When the guard loads its unwinder (libunwind): not at start-up in a process with glibc's malloc,
 * on the first file mapping, before a fork of a threaded process, and at start-up under another
 * allocator. The program reports whether libunwind is in its address space at each step:
 *     STEP name=NAME unwind=0|1
 *   hard_lazy none             only the start
 *   hard_lazy file PATH        then maps PATH (MAP_SHARED, 2 pages) and cuts it to 0 (a record)
 *   hard_lazy threadfork       starts a thread, then fork()s: the child reports too
 * Built a second time with -DHARD_OWN_MALLOC (hard_lazy_own_malloc): the executable defines malloc
 * and free itself, as programs with a statically linked allocator do.
 */
#include "hard_common.h"

#include <pthread.h>
#include <sys/wait.h>

static int unwind_mapped(void)
{
	/* raw reads: stdio would allocate, and the question is about the guard's doing only */
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	static char buf[1 << 20];
	size_t len = 0;
	ssize_t n;
	while (len < sizeof buf - 1 && (n = read(fd, buf + len, sizeof buf - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	buf[len] = 0;
	return strstr(buf, "/libunwind.so") != NULL;
}

static void step(const char *name)
{
	hard_line("STEP name=%s unwind=%d\n", name, unwind_mapped());
}

#ifdef HARD_OWN_MALLOC
/* A bump allocator: enough for this program, its libc and the guard's dlopen. */
static char heap[8 << 20] __attribute__((aligned(64)));
static size_t heap_used;

void *malloc(size_t n)
{
	size_t at = __atomic_fetch_add(&heap_used, (n + 63) & ~(size_t)63, __ATOMIC_RELAXED);
	return at + n <= sizeof heap ? heap + at : NULL;
}

void free(void *p)
{
	(void)p;
}

void *calloc(size_t a, size_t b)
{
	return malloc(a * b);   /* the heap is zero and never reused */
}

void *realloc(void *p, size_t n)
{
	void *q = malloc(n);
	if (q && p)
		memcpy(q, p, n);        /* the bump heap is contiguous: reading past the old block is safe */
	return q;
}
#endif

static void *idle(void *arg)
{
	return arg;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	step("start");
	if (!strcmp(argv[1], "file") && argc > 2) {
		size_t page = hard_page();
		int fd = open(argv[2], O_RDWR | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || ftruncate(fd, (off_t)(2 * page)) != 0)
			return 3;
		char *p = mmap(NULL, 2 * page, PROT_READ, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED)
			return 4;
		step("mapped");
		hard_expect("ftruncate", argv[2], (long)(2 * page), 0);
		if (ftruncate(fd, 0) != 0)
			return 5;
		munmap(p, 2 * page);
		close(fd);
	} else if (!strcmp(argv[1], "threadfork")) {
		pthread_t t;
		if (pthread_create(&t, NULL, idle, NULL) != 0 || pthread_join(t, NULL) != 0)
			return 6;
		pid_t pid = fork();
		if (pid == 0) {
			step("child");
			_exit(0);
		}
		int st;
		if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
			return 7;
		step("parent");
	}
	hard_line("DONE\n");
	return 0;
}

/*
 * edge_handler CASE DIR: the program's own SIGBUS handler must run where, and as, it would without
 * the guard. Each case maps DIR/file, cuts it, touches it, and the program's handler recovers
 * with siglongjmp. Printed lines (compared bare and guarded):
 *   HANDLER stack=normal|altstack|other   where the handler's frame was
 *   MASK usr1=0|1 bus=0|1                 what the handler ran with blocked
 *   DEPTH bytes=N                         from the interrupted stack pointer to the handler's frame
 *                                         (kernel signal frame + whatever ran in between)
 *   ALTSTACK disabled=0|1                 sigaltstack() as a new thread, and the main thread after
 *                                         mapping a file, see it
 *
 *   plain      handler without SA_ONSTACK, no alternate stack; the handler uses a 160 KiB frame
 *   normal     the same, but the program has an alternate stack of its own
 *   onstack    the same handler with SA_ONSTACK: it runs on the program's alternate stack
 *   nodefer    SA_NODEFER, sa_mask = {SIGUSR1}
 *   threads    no handler: only the ALTSTACK lines
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#define ALT_SIZE (256u << 10)
#define BIG (160u << 10)

static sigjmp_buf back;
static char *alt;
static uintptr_t main_sp;
static volatile uintptr_t seen_at, seen_sp;
static volatile int seen_usr1, seen_bus;

static void handler(int sig, siginfo_t *si, void *ucv)
{
	(void)sig;
	(void)si;
	volatile char big[BIG];
	memset((char *)big, 0x5a, sizeof big);          /* a large frame, touched to its end */
	seen_at = (uintptr_t)&big[0];
	ucontext_t *uc = ucv;
#if defined(__x86_64__)
	seen_sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
	seen_sp = (uintptr_t)uc->uc_mcontext.sp;
#endif
	sigset_t cur;
	pthread_sigmask(SIG_BLOCK, NULL, &cur);
	seen_usr1 = sigismember(&cur, SIGUSR1);
	seen_bus = sigismember(&cur, SIGBUS);
	siglongjmp(back, 1);
}

static void *thread_altstack(void *arg)
{
	(void)arg;
	stack_t ss;
	sigaltstack(NULL, &ss);
	printf("ALTSTACK thread disabled=%d\n", (ss.ss_flags & SS_DISABLE) != 0);
	return NULL;
}

static volatile char *map_and_cut(const char *dir)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/file", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	if (fd < 0 || ftruncate(fd, (off_t)page) != 0) {
		printf("FAIL setup\n");
		exit(99);
	}
	volatile char *m = mmap(NULL, page, PROT_READ, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED || ftruncate(fd, 0) != 0) {
		printf("FAIL map\n");
		exit(99);
	}
	return m;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	const char *c = argv[1];
	volatile int here = 0;
	main_sp = (uintptr_t)&here;
	setvbuf(stdout, NULL, _IONBF, 0);
	if (strcmp(c, "threads") == 0) {
		volatile char *m = map_and_cut(argv[2]);
		(void)m;
		stack_t ss;
		sigaltstack(NULL, &ss);
		printf("ALTSTACK main disabled=%d\n", (ss.ss_flags & SS_DISABLE) != 0);
		pthread_t t;
		pthread_create(&t, NULL, thread_altstack, NULL);
		pthread_join(t, NULL);
		printf("DONE\n");
		return 0;
	}
	if (strcmp(c, "plain") == 0)
		goto install;
	alt = mmap(NULL, ALT_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	stack_t ss = { .ss_sp = alt, .ss_size = ALT_SIZE, .ss_flags = 0 };
	if (alt == MAP_FAILED || sigaltstack(&ss, NULL) != 0) {
		printf("FAIL altstack\n");
		return 99;
	}
install:;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (strcmp(c, "onstack") == 0)
		sa.sa_flags |= SA_ONSTACK;
	if (strcmp(c, "nodefer") == 0) {
		sa.sa_flags |= SA_NODEFER;
		sigaddset(&sa.sa_mask, SIGUSR1);
	}
	sigaction(SIGBUS, &sa, NULL);
	volatile char *m = map_and_cut(argv[2]);
	if (sigsetjmp(back, 1) == 0) {
		(void)m[0];
		printf("FAIL no SIGBUS\n");
		return 99;
	}
	const char *where = "other";
	if (alt && seen_at >= (uintptr_t)alt && seen_at < (uintptr_t)alt + ALT_SIZE)
		where = "altstack";
	else if (seen_at < main_sp && main_sp - seen_at < (8u << 20))
		where = "normal";
	printf("HANDLER stack=%s\n", where);
	printf("MASK usr1=%d bus=%d\n", seen_usr1, seen_bus);
	printf("DEPTH bytes=%ld\n", (long)(seen_sp - seen_at) - (long)BIG);
	printf("DONE\n");
	return 0;
}

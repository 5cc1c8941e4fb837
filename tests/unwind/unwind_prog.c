/*
 * Stacks for the creation-stack walk (shim/cfi_walk.c) to be compared with libunwind's, under
 * MMAPGUARD_UNWIND=check: unwind_prog FILE CASE. Built without frame pointers (the CMake file),
 * so that rbp holds whatever the compiler keeps there, except in the functions that use alloca.
 */
#define _GNU_SOURCE
#include <alloca.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int fd;
static volatile unsigned long sink;

__attribute__((noinline)) static void map_once(void)
{
	void *p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		exit(3);
	}
	munmap(p, 4096);
}

/* Recursion: the same call sites at many depths, past the 32 frames a walk reads. */
__attribute__((noinline)) static void deep(int d)
{
	if (d > 0)
		deep(d - 1);
	else
		map_once();
	sink++;
}

/* A frame whose CFA is rbp-based (alloca), with a size that varies between calls. */
__attribute__((noinline)) static void with_alloca(int k)
{
	char *b = alloca(16 + (size_t)k * 48);
	memset(b, k, 16);
	sink += (unsigned long)b[3];
	deep(k % 3);
}

/* The same leaf at the same depth from two callers of the same frame size. */
__attribute__((noinline)) static void via_g(int i) { deep(1); sink += (unsigned long)i; }
__attribute__((noinline)) static void via_h(int i) { deep(1); sink -= (unsigned long)i; }

/* rbp as a plain register: a loop counter kept there across the calls (no frame pointer). */
__attribute__((noinline)) static void rbp_counter(int n)
{
	for (register long i asm("rbp") = 0; i < n; i++) {
		asm volatile("" : "+r"(i));
		map_once();
	}
}

/*
 * The same calls from 64 stack positions, 128 bytes apart, 8 times each: a walk that reads up to
 * main's frames (map_once), and one that stops at the most frames a walk reads, well below them
 * (deep). Where a walk starts relative to the top of the stack varies between runs like this (the
 * kernel places the top at random).
 */
__attribute__((noinline)) static void at_depth(int s)
{
	char *b = alloca(16 + (size_t)s * 128);
	b[0] = (char)s;
	sink += (unsigned long)b[0];
	for (int i = 0; i < 8; i++)
		map_once();
	for (int i = 0; i < 8; i++)
		deep(60);
}

static void loop(int rounds)
{
	for (int r = 0; r < rounds; r++) {
		deep(r % 40);
		with_alloca(r % 7);
		if (r & 1)
			via_g(r);
		else
			via_h(r);
		rbp_counter(3);
	}
}

/* A window kept mapped from a chain of calls, then cut: the record's creation stack. */
__attribute__((noinline)) static void keep_map(int d)
{
	if (d > 0) {
		keep_map(d - 1);
		sink++;
		return;
	}
	char *b = alloca(64 + sink % 7);
	b[0] = 1;
	sink += (unsigned long)b[0];
	if (mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED)
		exit(3);
}

static void on_usr1(int sig)
{
	(void)sig;
	deep(2);
}

/* A caller without any CFI: code written into an executable page. */
static void no_cfi(void)
{
	/* sub $8,%rsp; call *%rdi; add $8,%rsp; ret */
	static const unsigned char code[] = { 0x48, 0x83, 0xec, 0x08, 0xff, 0xd7,
					      0x48, 0x83, 0xc4, 0x08, 0xc3 };
	void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memcpy(page, code, sizeof code);
	mprotect(page, 4096, PROT_READ | PROT_EXEC);
	void (*stub)(void (*)(void)) = (void (*)(void (*)(void)))page;
	stub(map_once);
	stub(map_once);
}

/* A caller whose CFA is a DWARF expression. */
void cfa_expr_call(void (*fn)(void));
asm(".text\n"
    ".globl cfa_expr_call\n"
    ".type cfa_expr_call,@function\n"
    "cfa_expr_call:\n"
    ".cfi_startproc\n"
    "  push %rbx\n"
    "  .cfi_adjust_cfa_offset 8\n"
    "  .cfi_offset %rbx, -16\n"
    "  mov %rsp, %rbx\n"
    /* CFA = rbx + 16, written as an expression: DW_OP_breg3 16 */
    "  .cfi_escape 0x0f, 0x02, 0x73, 0x10\n"
    "  and $-16, %rsp\n"
    "  call *%rdi\n"
    "  mov %rbx, %rsp\n"
    "  .cfi_def_cfa %rsp, 16\n"
    "  pop %rbx\n"
    "  .cfi_adjust_cfa_offset -8\n"
    "  ret\n"
    ".cfi_endproc\n"
    ".size cfa_expr_call, .-cfa_expr_call\n");

static void *thread_main(void *arg)
{
	loop((int)(intptr_t)arg);
	return NULL;
}

/* The return addresses of the calls from a library into map_keep, written by the callers. */
static void *lib_ra[4];

__attribute__((noinline)) static void map_keep(void)
{
	lib_ra[0] = __builtin_return_address(0);
	if (mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED)
		exit(3);
}

static int run_lib(const char *path)
{
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "dlopen %s: %s\n", dlerror(), path);
		return 3;
	}
	void (*run)(void (*)(void), void **) =
		(void (*)(void (*)(void), void **))dlsym(h, "unwind_lib_run");
	printf("lib %s %p\n", path, (void *)run);
	for (int i = 0; i < 5; i++)
		run(map_once, lib_ra);
	run(map_keep, lib_ra);
	printf("expect %p %p %p %p\n", lib_ra[0], lib_ra[1], lib_ra[2], lib_ra[3]);
	dlclose(h);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: unwind_prog FILE loop|depths|threads|signal|nocfi|expr|cut|libs LIB...\n");
		return 2;
	}
	fd = open(argv[1], strcmp(argv[2], "cut") && strcmp(argv[2], "libs") ? O_RDONLY : O_RDWR);
	if (fd < 0) {
		perror(argv[1]);
		return 3;
	}
	const char *c = argv[2];
	if (!strcmp(c, "loop")) {
		loop(100);
	} else if (!strcmp(c, "depths")) {
		for (int s = 0; s < 64; s++)
			at_depth(s);
	} else if (!strcmp(c, "threads")) {
		pthread_t t[4];
		for (int i = 0; i < 4; i++)
			pthread_create(&t[i], NULL, thread_main, (void *)(intptr_t)(30 + i));
		for (int i = 0; i < 4; i++)
			pthread_join(t[i], NULL);
	} else if (!strcmp(c, "signal")) {
		signal(SIGUSR1, on_usr1);
		for (int i = 0; i < 3; i++)
			raise(SIGUSR1);
		loop(2);
	} else if (!strcmp(c, "nocfi")) {
		no_cfi();
		loop(2);
	} else if (!strcmp(c, "expr")) {
		cfa_expr_call(map_once);
		cfa_expr_call(map_once);
		loop(2);
	} else if (!strcmp(c, "cut")) {
		loop(3);
		keep_map(6);
		if (ftruncate(fd, 0) != 0)
			return 3;
	} else if (!strcmp(c, "libs")) {
		/* each library loaded, used and closed in turn, and again: code replaced at the
		 * same addresses */
		for (int round = 0; round < 2; round++)
			for (int i = 3; i < argc; i++)
				if (run_lib(argv[i]))
					return 3;
		if (ftruncate(fd, 0) != 0)     /* the record lists the windows map_keep made */
			return 3;
	} else {
		return 2;
	}
	printf("ok %lu\n", sink);
	return 0;
}

/*
 * mgbench: micro benchmarks of the calls mmapguard intercepts. bench/run.py runs it bare, under
 * the preload and under strace, interleaved, and compares; it can be run by hand too:
 *
 *   mgbench WORKLOAD [options]        (one JSON line on stdout)
 *
 * Workloads (one "op" is what the per-op time counts):
 *   open_close          open(O_RDONLY) + close of a file                 (one other file mapped)
 *   fopen_fclose        fopen("r") + fclose                              (one other file mapped)
 *   mmap_file           mmap(1 page, PROT_READ, MAP_SHARED) of a file + munmap
 *   mmap_anon           anonymous mmap(1 page) + munmap                  (one file mapped)
 *   mmap_anon_empty     the same with nothing mapped (empty registry)
 *   ftrunc_unmapped     ftruncate of an unmapped file, 2 pages <-> 1 page (one other file mapped)
 *   ftrunc_unmapped_empty  the same with nothing mapped
 *   ftrunc_unmapped_zero   ftruncate of an unmapped file, 1 page <-> 0 (one other file mapped)
 *   ftrunc_grow         ftruncate growing a mapped file by one page per call
 *   otrunc_write        open(O_WRONLY|O_TRUNC) of a one-page file + write one page + close
 *   ftrunc_shared_zero  ftrunc_unmapped_zero while a child process holds the file open (it maps
 *                       nothing): no write lease is possible, the guard scans the other processes
 *   floor_fstat         no guard involved: "self" is fstat + mmap_file's pair, "bare" the pair
 *                       alone, both through libc: what knowing a mapping's file costs at least
 *   floor_fstat_ftrunc  the same for ftrunc_unmapped_zero: ftruncate, with an fstat first when the
 *                       new size is below the end of the mapped page, against ftruncate
 *   scale               --live N one-page file mappings, --layout merged|distinct; measures
 *                       mmap_pair (mmap+munmap of another file), ftrunc_other (shrink/grow of
 *                       another mapped file, cutting nothing), ftrunc_same (shrink/grow of the
 *                       file holding the N windows, cutting nothing)
 *   live                --live N one-page windows of a 64-page file, mapped one after the other where
 *                       the kernel puts them (offsets i % 64: no two neighbours merge, N VMAs), then
 *                       all unmapped in the same order; a batch is the N pairs, an op one window
 *                       mapped and unmapped. The guard's whole cost with N live mappings: registry,
 *                       stacks, the map-count checks (vm.max_map_count must exceed N)
 *   threads             --threads T threads, each looping open, mmap(file), munmap, close,
 *                       mmap(anon), munmap (op = one such iteration of 6 calls; wall time of
 *                       the group, and process CPU time as "cpu")
 *
 * Options:
 *   --dir DIR       scratch directory (files are created there and removed)   [/tmp]
 *   --batch-ms M    length of one timed batch, calibrated from a warm-up       [20]
 *   --warmup-ms W   length of the warm-up that calibrates the batch size        [30]
 *   --batches B     timed batches per mode                                     [9]
 *   --iters K       fixed ops per batch (no calibration; for callgrind)
 *   --ab            in-process interleaving: alternate batches that call libc directly (bare)
 *                   with batches that call through the dynamic symbols (the preload when present)
 *   --depth D       run the ops D call frames deeper than the benchmark's own frames, so that
 *                   stack captures walk a realistic stack                       [8]
 *   --live N, --layout merged|distinct, --threads T
 *
 * Times: per batch, thread CPU time (CLOCK_THREAD_CPUTIME_ID: kernel + user time of this thread,
 * excluding time the machine gave to others) and wall time; the JSON line has the median over the
 * batches of each mode, in ns per op. The threads workload's "cpu" is process CPU time.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* ---- the calls under test ------------------------------------------------------------------ */

struct ops {
	const char *name;
	int (*open)(const char *, int, ...);
	int (*close)(int);
	void *(*mmap)(void *, size_t, int, int, int, off_t);
	int (*munmap)(void *, size_t);
	int (*ftruncate)(int, off_t);
	FILE *(*fopen)(const char *, const char *);
	int (*fclose)(FILE *);
};

/* Through the dynamic symbols: the preload's wrappers when LD_PRELOAD names it, else libc. */
static struct ops dyn_ops = { "dyn", open, close, mmap, munmap, ftruncate, fopen, fclose };
/* libc's own definitions, looked up in libc.so.6 itself: bare even inside a preloaded process. */
static struct ops libc_ops = { "bare", 0, 0, 0, 0, 0, 0, 0 };

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "mgbench: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(2);
}

static void *libc_sym(void *h, const char *name)
{
	void *p = dlsym(h, name);
	if (!p)
		die("dlsym(libc.so.6, %s): %s", name, dlerror());
	return p;
}

static void load_libc_ops(void)
{
	void *h = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
	if (!h)
		die("dlopen(libc.so.6, RTLD_NOLOAD): %s", dlerror());
	libc_ops.open = (int (*)(const char *, int, ...))libc_sym(h, "open");
	libc_ops.close = (int (*)(int))libc_sym(h, "close");
	libc_ops.mmap = (void *(*)(void *, size_t, int, int, int, off_t))libc_sym(h, "mmap");
	libc_ops.munmap = (int (*)(void *, size_t))libc_sym(h, "munmap");
	libc_ops.ftruncate = (int (*)(int, off_t))libc_sym(h, "ftruncate");
	libc_ops.fopen = (FILE * (*)(const char *, const char *)) libc_sym(h, "fopen");
	libc_ops.fclose = (int (*)(FILE *))libc_sym(h, "fclose");
}

static size_t page;

/*
 * The fstat system call itself (glibc's fstat() goes through newfstatat with an empty path, which
 * costs more): the cheapest way to learn a descriptor's file, and the one the guard uses.
 */
static void fstat_or_die(int fd)
{
	struct stat st;
	if (syscall(SYS_fstat, fd, &st) != 0)
		die("fstat: %s", strerror(errno));
}

/* libc's mmap after an fstat of the descriptor: the least a guard that knows the file can do. */
static void *mmap_after_fstat(void *a, size_t l, int p, int f, int fd, off_t o)
{
	fstat_or_die(fd);
	return libc_ops.mmap(a, l, p, f, fd, o);
}

/*
 * A new size at or past the end of every mapped window (the other file's one mapped page) cuts
 * nothing whichever file fd is: only a smaller one needs to know the file.
 */
static int ftruncate_after_fstat(int fd, off_t len)
{
	if (len < (off_t)page)
		fstat_or_die(fd);
	return libc_ops.ftruncate(fd, len);
}

static struct ops floor_ops;
static bool opt_floor;          /* measure floor_ops against libc_ops instead of dyn_ops */

/* Is `open` as the program sees it someone else's than libc's (a preload)? */
static const char *dyn_provider(void)
{
	Dl_info di;
	if ((void *)dyn_ops.open == (void *)libc_ops.open)
		return "libc";
	if (dladdr((void *)dyn_ops.open, &di) && di.dli_fname)
		return di.dli_fname;
	return "?";
}

/* ---- options, scratch files ---------------------------------------------------------------- */

static const char *opt_dir = "/tmp";
static double opt_batch_ms = 20;
static double opt_warmup_ms = 30;
static int opt_batches = 9;
static long opt_iters = 0;
static bool opt_ab = false;
static int opt_depth = 8;
static long opt_live = 10;
static const char *opt_layout = "merged";
static int opt_threads = 1;

#define MAX_FILES 80
static char made_files[MAX_FILES][4096];
static int n_made;

static void cleanup(void)
{
	for (int i = 0; i < n_made; i++)
		unlink(made_files[i]);
}

/* A scratch file of `size` bytes (sparse); returns its path (static storage). */
static const char *make_file(const char *tag, off_t size)
{
	if (n_made == MAX_FILES)
		die("too many scratch files");
	char *p = made_files[n_made];
	snprintf(p, sizeof made_files[0], "%s/mgbench.%d.%s", opt_dir, (int)getpid(), tag);
	int fd = libc_ops.open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		die("create %s: %s", p, strerror(errno));
	n_made++;
	if (libc_ops.ftruncate(fd, size) < 0)
		die("ftruncate %s: %s", p, strerror(errno));
	libc_ops.close(fd);
	return p;
}

static int open_or_die(const char *path, int flags)
{
	int fd = dyn_ops.open(path, flags);
	if (fd < 0)
		die("open %s: %s", path, strerror(errno));
	return fd;
}

/* One page of a file mapped through the dynamic mmap (the guard tracks it when present). */
static void *map_page_or_die(int fd, off_t off)
{
	void *p = dyn_ops.mmap(NULL, page, PROT_READ, MAP_SHARED, fd, off);
	if (p == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	return p;
}

static long count_vmas(void)
{
	int fd = libc_ops.open("/proc/self/maps", O_RDONLY);
	if (fd < 0)
		return -1;
	char buf[65536];
	long lines = 0;
	ssize_t n;
	while ((n = read(fd, buf, sizeof buf)) > 0)
		for (ssize_t i = 0; i < n; i++)
			lines += buf[i] == '\n';
	libc_ops.close(fd);
	return lines;
}

/* ---- time ---------------------------------------------------------------------------------- */

static double now_ns(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	if (n <= 0)
		return 0;
	double *s = malloc(n * sizeof *s);
	memcpy(s, v, n * sizeof *s);
	qsort(s, n, sizeof *s, cmp_double);
	double m = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
	free(s);
	return m;
}

/* ---- running a batch some frames down ------------------------------------------------------ */

struct bench;
typedef void (*batch_fn)(struct bench *b, const struct ops *o, long k);

struct bench {
	const char *name;
	batch_fn run;                   /* k ops, timed */
	void (*after)(struct bench *b); /* untimed reset after a batch, or NULL */
	int fd, fd2;
	const char *path;
	off_t size_a, size_b;           /* the two sizes ftruncate alternates between */
	off_t grow_base;
	long counter;
	void **live;                    /* the live workload's windows */
};

struct deep_arg {
	struct bench *b;
	const struct ops *o;
	long k;
};

static __attribute__((noinline)) long deep(int d, struct deep_arg *a)
{
	if (d <= 0) {
		a->b->run(a->b, a->o, a->k);
		return 0;
	}
	long r = deep(d - 1, a);
	__asm__ volatile("" : "+r"(r) : : "memory");   /* not a tail call: the frame stays */
	return r + 1;
}

static void run_deep(struct bench *b, const struct ops *o, long k)
{
	struct deep_arg a = { b, o, k };
	deep(opt_depth, &a);
}

/* ---- the per-call workloads ---------------------------------------------------------------- */

static __attribute__((noinline)) void batch_open_close(struct bench *b, const struct ops *o, long k)
{
	for (long i = 0; i < k; i++) {
		int fd = o->open(b->path, O_RDONLY);
		if (fd < 0)
			die("open: %s", strerror(errno));
		o->close(fd);
	}
}

static __attribute__((noinline)) void batch_fopen_fclose(struct bench *b, const struct ops *o, long k)
{
	for (long i = 0; i < k; i++) {
		FILE *f = o->fopen(b->path, "r");
		if (!f)
			die("fopen: %s", strerror(errno));
		o->fclose(f);
	}
}

static __attribute__((noinline)) void batch_mmap_file(struct bench *b, const struct ops *o, long k)
{
	for (long i = 0; i < k; i++) {
		void *p = o->mmap(NULL, page, PROT_READ, MAP_SHARED, b->fd, 0);
		if (p == MAP_FAILED)
			die("mmap: %s", strerror(errno));
		o->munmap(p, page);
	}
}

static __attribute__((noinline)) void batch_mmap_anon(struct bench *b, const struct ops *o, long k)
{
	(void)b;
	for (long i = 0; i < k; i++) {
		void *p = o->mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			die("mmap: %s", strerror(errno));
		o->munmap(p, page);
	}
}

static __attribute__((noinline)) void batch_live(struct bench *b, const struct ops *o, long k)
{
	for (long i = 0; i < k; i++) {
		b->live[i] = o->mmap(NULL, page, PROT_READ, MAP_SHARED, b->fd, (off_t)(i % 64) * page);
		if (b->live[i] == MAP_FAILED)
			die("mmap %ld of %ld: %s (vm.max_map_count?)", i, k, strerror(errno));
	}
	for (long i = 0; i < k; i++)
		o->munmap(b->live[i], page);
}

/* Alternating between two sizes: half the calls shrink, half grow. */
static __attribute__((noinline)) void batch_ftrunc_alt(struct bench *b, const struct ops *o, long k)
{
	for (long i = 0; i < k; i++) {
		off_t s = (b->counter++ & 1) ? b->size_b : b->size_a;
		if (o->ftruncate(b->fd, s) < 0)
			die("ftruncate: %s", strerror(errno));
	}
}

/* A reload in place: O_TRUNC open of an existing non-empty file, its new contents, close. */
static __attribute__((noinline)) void batch_otrunc_write(struct bench *b, const struct ops *o, long k)
{
	static char buf[65536];
	for (long i = 0; i < k; i++) {
		int fd = o->open(b->path, O_WRONLY | O_TRUNC);
		if (fd < 0)
			die("open: %s", strerror(errno));
		if (write(fd, buf, page) != (ssize_t)page)
			die("write: %s", strerror(errno));
		o->close(fd);
	}
}

static __attribute__((noinline)) void batch_ftrunc_grow(struct bench *b, const struct ops *o, long k)
{
	for (long i = 0; i < k; i++) {
		b->counter += page;
		if (o->ftruncate(b->fd, b->counter) < 0)
			die("ftruncate: %s", strerror(errno));
	}
}

static void after_ftrunc_grow(struct bench *b)
{
	/* Shrinking back to the base size cuts no window (the window is the first page). */
	b->counter = b->grow_base;
	if (libc_ops.ftruncate(b->fd, b->counter) < 0)
		die("ftruncate: %s", strerror(errno));
}

/* ---- measuring ----------------------------------------------------------------------------- */

struct sample {
	double cpu, wall;               /* ns per op */
	double csw;                     /* context switches per op (threads workload) */
};

/* Runs k ops; returns the wall time they took (under strace most of it is not this thread's CPU). */
static double one_batch(struct bench *b, const struct ops *o, long k, struct sample *s)
{
	double w0 = now_ns(CLOCK_MONOTONIC), c0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
	run_deep(b, o, k);
	double c1 = now_ns(CLOCK_THREAD_CPUTIME_ID), w1 = now_ns(CLOCK_MONOTONIC);
	if (b->after)
		b->after(b);
	if (s) {
		s->cpu = (c1 - c0) / k;
		s->wall = (w1 - w0) / k;
		s->csw = 0;
	}
	return w1 - w0;
}

/* Ops per batch: fixed, or from a warm-up (wall time) of the slowest ops table in use. */
static long calibrate(struct bench *b, const struct ops *o)
{
	if (opt_iters > 0)
		return opt_iters;
	long k = 4, done = 0;
	double spent = 0;
	while (spent < opt_warmup_ms * 1e6 && done < 50000000) {
		spent += one_batch(b, o, k, NULL);
		done += k;
		if (k < 1 << 20)
			k *= 2;
	}
	double per_op = spent / done;
	long want = (long)(opt_batch_ms * 1e6 / (per_op > 1 ? per_op : 1));
	return want < 8 ? 8 : want;
}

static bool first_result = true;

static void print_result(const char *op, const char *mode, long k, struct sample *s, int n)
{
	double cpu[n], wall[n], csw[n];
	for (int i = 0; i < n; i++) {
		cpu[i] = s[i].cpu;
		wall[i] = s[i].wall;
		csw[i] = s[i].csw;
	}
	printf("%s{\"op\":\"%s\",\"mode\":\"%s\",\"iters\":%ld,\"batches\":%d,\"cpu_ns\":%.2f,"
	       "\"wall_ns\":%.2f,\"csw_per_op\":%.4f,\"cpu_batches\":[",
	       first_result ? "" : ",", op, mode, k, n, median(cpu, n), median(wall, n),
	       median(csw, n));
	for (int i = 0; i < n; i++)
		printf("%s%.2f", i ? "," : "", cpu[i]);
	printf("]}");
	first_result = false;
}

/* Measure one bench: B batches (each mode, alternating when --ab). */
static void measure(struct bench *b)
{
	if (opt_floor) {
		floor_ops = libc_ops;
		floor_ops.name = "floor";
		floor_ops.mmap = mmap_after_fstat;
		floor_ops.ftruncate = ftruncate_after_fstat;
	}
	const struct ops *self = opt_floor ? &floor_ops : &dyn_ops;
	const struct ops *modes[2] = { self, &libc_ops };
	int nmodes = opt_ab ? 2 : 1;
	long k = calibrate(b, self);         /* warm-up of the (slower) guarded path */
	if (opt_ab && opt_iters <= 0)
		one_batch(b, &libc_ops, k / 4 + 1, NULL);   /* warm the bare path too */
	struct sample s[2][opt_batches];
	for (int i = 0; i < opt_batches; i++)
		for (int j = 0; j < nmodes; j++) {
			int m = (i & 1) ? nmodes - 1 - j : j;      /* ABBAABBA... */
			one_batch(b, modes[m], k, &s[m][i]);
		}
	print_result(b->name, "self", k, s[0], opt_batches);
	if (opt_ab)
		print_result(b->name, "bare", k, s[1], opt_batches);
}

/* ---- workloads ----------------------------------------------------------------------------- */

static void *keep_mapping(void)
{
	const char *p = make_file("keep", 16 * page);
	int fd = open_or_die(p, O_RDONLY);
	void *m = map_page_or_die(fd, 0);
	dyn_ops.close(fd);
	return m;
}

/* A child that keeps path open (and maps nothing) until this process exits. */
static void hold_open_elsewhere(const char *path)
{
	int ready[2], hold[2];
	if (pipe(ready) < 0 || pipe(hold) < 0)
		die("pipe: %s", strerror(errno));
	pid_t pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		char c;
		int fd = open(path, O_RDONLY);
		close(hold[1]);
		(void)!write(ready[1], fd >= 0 ? "y" : "n", 1);
		while (read(hold[0], &c, 1) > 0)
			;
		_exit(0);
	}
	char c = 'n';
	close(hold[0]);
	close(ready[1]);
	if (read(ready[0], &c, 1) != 1 || c != 'y')
		die("the child could not open %s", path);
	close(ready[0]);
	/* hold[1] stays open: the child goes when this process does */
}

static void w_simple(const char *w)
{
	struct bench b = { .name = w, .fd = -1, .fd2 = -1 };
	bool keep = true;
	if (!strcmp(w, "open_close")) {
		b.run = batch_open_close;
		b.path = make_file("probe", 16 * page);
	} else if (!strcmp(w, "fopen_fclose")) {
		b.run = batch_fopen_fclose;
		b.path = make_file("probe", 16 * page);
	} else if (!strcmp(w, "mmap_file") || !strcmp(w, "floor_fstat")) {
		opt_floor = !strcmp(w, "floor_fstat");
		b.run = batch_mmap_file;
		b.path = make_file("probe", 16 * page);
		b.fd = open_or_die(b.path, O_RDONLY);
		keep = false;
	} else if (!strcmp(w, "mmap_anon") || !strcmp(w, "mmap_anon_empty")) {
		b.run = batch_mmap_anon;
		keep = !strcmp(w, "mmap_anon");
	} else if (!strcmp(w, "ftrunc_unmapped") || !strcmp(w, "ftrunc_unmapped_empty")) {
		b.run = batch_ftrunc_alt;
		b.path = make_file("probe", 2 * page);
		b.fd = open_or_die(b.path, O_RDWR);
		b.size_a = 2 * page;
		b.size_b = page;
		keep = !strcmp(w, "ftrunc_unmapped");
	} else if (!strcmp(w, "ftrunc_unmapped_zero") || !strcmp(w, "floor_fstat_ftrunc")) {
		opt_floor = !strcmp(w, "floor_fstat_ftrunc");
		b.run = batch_ftrunc_alt;
		b.path = make_file("probe", page);
		b.fd = open_or_die(b.path, O_RDWR);
		b.size_a = page;
		b.size_b = 0;
	} else if (!strcmp(w, "ftrunc_shared_zero")) {
		b.run = batch_ftrunc_alt;
		b.path = make_file("probe", page);
		b.fd = open_or_die(b.path, O_RDWR);
		b.size_a = page;
		b.size_b = 0;
		hold_open_elsewhere(b.path);
	} else if (!strcmp(w, "otrunc_write")) {
		b.run = batch_otrunc_write;
		b.path = make_file("probe", page);
	} else if (!strcmp(w, "ftrunc_grow")) {
		b.run = batch_ftrunc_grow;
		b.after = after_ftrunc_grow;
		b.path = make_file("probe", 2 * page);
		b.fd = open_or_die(b.path, O_RDWR);
		map_page_or_die(b.fd, 0);
		b.grow_base = b.counter = 2 * page;
		keep = false;
	} else {
		die("unknown workload %s", w);
	}
	if (keep)
		keep_mapping();
	printf("{\"workload\":\"%s\",\"provider\":\"%s\",\"depth\":%d,\"results\":[", w,
	       dyn_provider(), opt_depth);
	measure(&b);
	printf("]}\n");
}

static void w_scale(void)
{
	bool merged = !strcmp(opt_layout, "merged");
	if (!merged && strcmp(opt_layout, "distinct"))
		die("--layout merged|distinct");
	long n = opt_live;
	/*
	 * merged: N one-page MAP_FIXED mappings of one file at contiguous addresses and offsets; the
	 * kernel merges them into one VMA, the guard still holds one window per mmap call.
	 * distinct: pages alternate between two files, so no two neighbours merge: N VMAs.
	 */
	int nf = merged ? 1 : 2;
	long per_file = (n + nf - 1) / nf;
	off_t many_size = (off_t)(per_file + 1) * page;
	int fds[2];
	for (int f = 0; f < nf; f++) {
		char tag[16];
		snprintf(tag, sizeof tag, "many%d", f);
		fds[f] = open_or_die(make_file(tag, many_size), O_RDWR);
	}
	char *base = dyn_ops.mmap(NULL, (size_t)n * page, PROT_NONE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		die("reserve %ld pages: %s", n, strerror(errno));
	double t0 = now_ns(CLOCK_MONOTONIC);
	for (long i = 0; i < n; i++) {
		int f = (int)(i % nf);
		off_t off = (off_t)(i / nf) * page;
		void *p = dyn_ops.mmap(base + i * page, page, PROT_READ, MAP_SHARED | MAP_FIXED, fds[f], off);
		if (p == MAP_FAILED)
			die("mapping %ld of %ld: %s (vm.max_map_count?)", i, n, strerror(errno));
	}
	double setup_ms = (now_ns(CLOCK_MONOTONIC) - t0) / 1e6;
	long vmas = count_vmas();

	const char *probe = make_file("probe", 4 * page);
	int pfd = open_or_die(probe, O_RDWR);
	map_page_or_die(pfd, 0);        /* ftrunc_other's file has one window */

	printf("{\"workload\":\"scale\",\"provider\":\"%s\",\"depth\":%d,\"live\":%ld,"
	       "\"layout\":\"%s\",\"vmas\":%ld,\"setup_ms\":%.1f,\"results\":[",
	       dyn_provider(), opt_depth, n, opt_layout, vmas, setup_ms);
	struct bench mp = { .name = "mmap_pair", .run = batch_mmap_file, .fd = pfd };
	measure(&mp);
	struct bench fo = { .name = "ftrunc_other", .run = batch_ftrunc_alt, .fd = pfd,
			    .size_a = 3 * page, .size_b = 2 * page };
	measure(&fo);
	struct bench fs = { .name = "ftrunc_same", .run = batch_ftrunc_alt, .fd = fds[0],
			    .size_a = many_size + page, .size_b = many_size };
	measure(&fs);
	printf("]}\n");
}

static void w_live(void)
{
	struct bench b = { .name = "live", .run = batch_live, .fd2 = -1 };
	b.path = make_file("live", 64 * page);
	b.fd = open_or_die(b.path, O_RDONLY);
	b.live = calloc((size_t)opt_live, sizeof *b.live);
	if (!b.live)
		die("calloc");
	opt_iters = opt_live;
	printf("{\"workload\":\"live\",\"provider\":\"%s\",\"depth\":%d,\"live\":%ld,\"vmas_before\":%ld,"
	       "\"results\":[", dyn_provider(), opt_depth, opt_live, count_vmas());
	measure(&b);
	printf("]}\n");
}

/* ---- threads ------------------------------------------------------------------------------- */

static pthread_barrier_t bar_start, bar_end;
static volatile int thr_stop, thr_quit;
static const struct ops *volatile thr_ops;

struct thr {
	pthread_t t;
	const char *path;
	long iters;
};

static __attribute__((noinline)) void thr_loop(struct thr *t)
{
	const struct ops *o = thr_ops;
	long n = 0;
	while (!__atomic_load_n(&thr_stop, __ATOMIC_RELAXED)) {
		int fd = o->open(t->path, O_RDONLY);
		if (fd < 0)
			die("open: %s", strerror(errno));
		void *p = o->mmap(NULL, page, PROT_READ, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED)
			die("mmap: %s", strerror(errno));
		o->munmap(p, page);
		o->close(fd);
		void *q = o->mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (q == MAP_FAILED)
			die("mmap: %s", strerror(errno));
		o->munmap(q, page);
		n++;
	}
	t->iters = n;
}

static __attribute__((noinline)) long thr_deep(int d, struct thr *t)
{
	if (d <= 0) {
		thr_loop(t);
		return 0;
	}
	long r = thr_deep(d - 1, t);
	__asm__ volatile("" : "+r"(r) : : "memory");
	return r + 1;
}

static void *thr_main(void *arg)
{
	struct thr *t = arg;
	for (;;) {
		pthread_barrier_wait(&bar_start);
		if (thr_quit)
			break;
		thr_deep(opt_depth, t);
		pthread_barrier_wait(&bar_end);
	}
	return NULL;
}

/*
 * One batch: all threads loop for batch-ms. Per iteration of the whole group: wall time (throughput)
 * and process CPU time (the work, including any spinning; the main thread sleeps meanwhile).
 */
static void thr_run(struct thr *ts, int n, const struct ops *o, double ms, struct sample *s)
{
	thr_ops = o;
	thr_stop = 0;
	struct rusage ru0, ru1;
	getrusage(RUSAGE_SELF, &ru0);
	double c0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
	pthread_barrier_wait(&bar_start);
	double w0 = now_ns(CLOCK_MONOTONIC);
	struct timespec d = { (time_t)(ms / 1000), (long)((ms - (long)(ms / 1000) * 1000) * 1e6) };
	nanosleep(&d, NULL);
	__atomic_store_n(&thr_stop, 1, __ATOMIC_RELAXED);
	pthread_barrier_wait(&bar_end);
	double w1 = now_ns(CLOCK_MONOTONIC);
	double c1 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
	getrusage(RUSAGE_SELF, &ru1);
	long total = 0;
	for (int i = 0; i < n; i++)
		total += ts[i].iters;
	/* Voluntary switches: threads sleeping on a lock (the main thread's own sleep is ~2). */
	double csw = (double)(ru1.ru_nvcsw - ru0.ru_nvcsw);
	if (s) {
		s->wall = total ? (w1 - w0) / total : 0;
		s->cpu = total ? (c1 - c0) / total : 0;
		s->csw = total ? csw / total : 0;
	}
}

static void w_threads(void)
{
	int n = opt_threads;
	if (n < 1 || n > 64)
		die("--threads 1..64");
	struct thr ts[n];
	pthread_barrier_init(&bar_start, NULL, n + 1);
	pthread_barrier_init(&bar_end, NULL, n + 1);
	keep_mapping();
	for (int i = 0; i < n; i++) {
		char tag[16];
		snprintf(tag, sizeof tag, "thr%d", i);
		ts[i].path = make_file(tag, 16 * page);
		ts[i].iters = 0;
		if (pthread_create(&ts[i].t, NULL, thr_main, &ts[i]))
			die("pthread_create");
	}
	double ms = opt_iters > 0 ? 5 : opt_batch_ms;
	thr_run(ts, n, &dyn_ops, ms, NULL);        /* warm-up */
	if (opt_ab)
		thr_run(ts, n, &libc_ops, ms, NULL);
	const struct ops *modes[2] = { &dyn_ops, &libc_ops };
	int nmodes = opt_ab ? 2 : 1;
	struct sample s[2][opt_batches];
	for (int i = 0; i < opt_batches; i++)
		for (int j = 0; j < nmodes; j++) {
			int m = (i & 1) ? nmodes - 1 - j : j;
			thr_run(ts, n, modes[m], ms, &s[m][i]);
		}
	thr_quit = 1;
	pthread_barrier_wait(&bar_start);
	for (int i = 0; i < n; i++)
		pthread_join(ts[i].t, NULL);
	printf("{\"workload\":\"threads\",\"provider\":\"%s\",\"depth\":%d,\"threads\":%d,"
	       "\"results\":[", dyn_provider(), opt_depth, n);
	print_result("threads", "self", 0, s[0], opt_batches);
	if (opt_ab)
		print_result("threads", "bare", 0, s[1], opt_batches);
	printf("]}\n");
}

/* ---- main ---------------------------------------------------------------------------------- */

static void usage(void)
{
	fprintf(stderr,
		"usage: mgbench WORKLOAD [--dir DIR] [--batch-ms M] [--warmup-ms W] [--batches B]\n"
		"               [--iters K] [--ab]\n"
		"               [--depth D] [--live N] [--layout merged|distinct] [--threads T]\n"
		"workloads: open_close fopen_fclose mmap_file mmap_anon mmap_anon_empty ftrunc_unmapped\n"
		"           ftrunc_unmapped_empty ftrunc_unmapped_zero ftrunc_grow scale live threads\n");
	exit(2);
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	const char *w = argv[1];
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--ab")) {
			opt_ab = true;
			continue;
		}
		if (!v)
			usage();
		i++;
		if (!strcmp(a, "--dir"))
			opt_dir = v;
		else if (!strcmp(a, "--batch-ms"))
			opt_batch_ms = atof(v);
		else if (!strcmp(a, "--warmup-ms"))
			opt_warmup_ms = atof(v);
		else if (!strcmp(a, "--batches"))
			opt_batches = atoi(v);
		else if (!strcmp(a, "--iters"))
			opt_iters = atol(v);
		else if (!strcmp(a, "--depth"))
			opt_depth = atoi(v);
		else if (!strcmp(a, "--live"))
			opt_live = atol(v);
		else if (!strcmp(a, "--layout"))
			opt_layout = v;
		else if (!strcmp(a, "--threads"))
			opt_threads = atoi(v);
		else
			usage();
	}
	if (opt_batches < 1 || opt_batches > 1000 || opt_depth < 0 || opt_depth > 200 || opt_live < 1)
		usage();
	page = (size_t)sysconf(_SC_PAGESIZE);
	load_libc_ops();
	atexit(cleanup);
	if (!strcmp(w, "scale"))
		w_scale();
	else if (!strcmp(w, "threads"))
		w_threads();
	else if (!strcmp(w, "live"))
		w_live();
	else
		w_simple(w);
	fflush(stdout);
	return 0;
}

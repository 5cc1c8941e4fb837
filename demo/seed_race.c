/*
 * seed_race: the incident mmapguard was written for, in one small program.
 *
 * A long-running service maps its config file MAP_SHARED and a "reader" thread keeps reading all of
 * it. A "reload" thread rewrites the same file in place: open(path, O_WRONLY|O_TRUNC), a short
 * pause (as when the new config is still being produced), then the new contents. While the file is
 * short, every page of the mapping lies beyond end of file and the reader's next load raises
 * SIGBUS.
 *
 * Usage: seed_race CONFIG_PATH [ROUNDS [rename|wait]]
 *
 * With "rename", the reload is done the safe way: the new contents go to CONFIG_PATH.new, which
 * is then renamed over CONFIG_PATH. The mapping keeps the old file's pages, nothing is cut, and
 * the guard has nothing to say (the benchmark runs this form bare and guarded).
 *
 * With "wait", the service makes no reload itself: it reads until its standard input ends, while
 * another process does the reload (the demo's fourth act; ROUNDS is ignored).
 *
 * Bare, the process dies with SIGBUS at the first reload. Under mmapguard in block mode the
 * truncating open() fails with ETXTBSY: the reload is refused, the old config stays, and the program
 * finishes its ROUNDS reloads and exits 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CONFIG_SIZE (64 * 1024)
#define RELOAD_INTERVAL_MS 20
#define TRUNCATED_FOR_MS 5   /* how long the file stays empty while the new config is written */

static const char *config_path;
static const volatile unsigned char *config;   /* the live mapping */
static int stop_reading;                        /* atomic */
static int reader_started;                      /* atomic */
static unsigned long reader_passes;             /* atomic */
static unsigned applied, refused;
static int by_rename;
static int by_other;              /* "wait": another process reloads */

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* The file's contents for one generation: key=value lines padded to CONFIG_SIZE. */
static int write_config(int fd, unsigned generation)
{
	static char text[CONFIG_SIZE];
	size_t n = 0;
	while (n + 64 < sizeof text)
		n += (size_t)snprintf(text + n, sizeof text - n, "generation=%u key%zu=value%zu\n",
				      generation, n / 40, n);
	memset(text + n, '#', sizeof text - n);
	text[sizeof text - 1] = '\n';
	for (size_t done = 0; done < sizeof text;) {
		ssize_t w = write(fd, text + done, sizeof text - done);
		if (w < 0)
			return -1;
		done += (size_t)w;
	}
	return 0;
}

__attribute__((noinline)) static const unsigned char *map_config(const char *path)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0) {
		perror("seed_race: open config");
		exit(1);
	}
	void *p = mmap(NULL, CONFIG_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		perror("seed_race: mmap config");
		exit(1);
	}
	close(fd);    /* the mapping outlives its descriptor */
	return p;
}

/* The fix: a new file renamed over the old name; the old inode stays whole while it is mapped. */
static void reload_by_rename(unsigned generation)
{
	char tmp[4096];
	snprintf(tmp, sizeof tmp, "%s.new", config_path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write_config(fd, generation) < 0 || close(fd) < 0 || rename(tmp, config_path) < 0) {
		perror("seed_race: reload by rename");
		exit(1);
	}
	applied++;
}

/* The bug: rewriting in place truncates the file under the live mapping. */
__attribute__((noinline)) static void reload_config(unsigned generation)
{
	if (by_rename) {
		reload_by_rename(generation);
		return;
	}
	int fd = open(config_path, O_WRONLY | O_TRUNC);
	if (fd < 0) {
		if (errno == ETXTBSY) {
			fprintf(stderr, "seed_race: reload refused: file is mapped; keeping old config "
				"(round %u)\n", generation);
			refused++;
			return;
		}
		perror("seed_race: reload: open");
		exit(1);
	}
	sleep_ms(TRUNCATED_FOR_MS);
	if (write_config(fd, generation) < 0) {
		perror("seed_race: reload: write");
		exit(1);
	}
	close(fd);
	applied++;
}

static void *reload_thread(void *arg)
{
	unsigned rounds = *(unsigned *)arg;
	pthread_setname_np(pthread_self(), "reload");
	while (!__atomic_load_n(&reader_started, __ATOMIC_ACQUIRE))
		sleep_ms(1);
	if (by_other) {
		char c;
		while (read(0, &c, 1) > 0)
			;
		return NULL;
	}
	for (unsigned g = 1; g <= rounds; g++) {
		sleep_ms(RELOAD_INTERVAL_MS);
		reload_config(g);
	}
	return NULL;
}

static void *reader_thread(void *arg)
{
	(void)arg;
	unsigned long sum = 0;
	pthread_setname_np(pthread_self(), "reader");
	while (!__atomic_load_n(&stop_reading, __ATOMIC_RELAXED)) {
		for (size_t i = 0; i < CONFIG_SIZE; i += 64)
			sum += config[i];
		__atomic_add_fetch(&reader_passes, 1, __ATOMIC_RELAXED);
		__atomic_store_n(&reader_started, 1, __ATOMIC_RELEASE);
	}
	return (void *)sum;
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 4 ||
	    (argc == 4 && strcmp(argv[3], "rename") != 0 && strcmp(argv[3], "wait") != 0)) {
		fprintf(stderr, "usage: %s CONFIG_PATH [ROUNDS [rename|wait]]\n", argv[0]);
		return 2;
	}
	config_path = argv[1];
	unsigned rounds = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 20;
	by_rename = argc == 4 && strcmp(argv[3], "rename") == 0;
	by_other = argc == 4 && strcmp(argv[3], "wait") == 0;

	int fd = open(config_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);   /* nothing mapped yet */
	if (fd < 0 || write_config(fd, 0) < 0) {
		perror("seed_race: create config");
		return 1;
	}
	close(fd);
	config = map_config(config_path);

	pthread_t reader, reloader;
	if (pthread_create(&reader, NULL, reader_thread, NULL) ||
	    pthread_create(&reloader, NULL, reload_thread, &rounds)) {
		fprintf(stderr, "seed_race: pthread_create failed\n");
		return 1;
	}
	pthread_join(reloader, NULL);
	__atomic_store_n(&stop_reading, 1, __ATOMIC_RELAXED);
	pthread_join(reader, NULL);

	printf("seed_race: %u reload rounds: %u applied, %u refused; reader made %lu passes over "
	       "%d bytes without a fault\n", rounds, applied, refused,
	       __atomic_load_n(&reader_passes, __ATOMIC_RELAXED), CONFIG_SIZE);
	munmap((void *)config, CONFIG_SIZE);
	return 0;
}

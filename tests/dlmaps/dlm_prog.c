/*
 * Runs the steps named by its arguments, in order, and prints one line per step:
 *   load PATH       dlopen(PATH, RTLD_NOW): "loaded PATH_OF_OBJECT" or "load failed errno=N dlerror=..."
 *   close           dlclose of the last handle: "closed 0"
 *   cut PATH        open(O_WRONLY|O_TRUNC), write 16 bytes, close (what cp does): "cut ok" / "cut errno=N"
 *   call            dlm_answer() of the last handle: "answer 42"
 *   touch PAGE      dlm_read(PAGE) of the last handle: "read N" (or death by SIGBUS)
 *   needed-path     the path of the DT_NEEDED library (dlm_prog_needed only)
 *   mapped PATH     mmapguard_path_mapped(PATH): "mapped N"
 *   via LOADER NAME dlopen(LOADER), then its dlm_loader_open(NAME): the same lines as load
 *   wait            "waiting", then read one line from stdin (another process may act meanwhile)
 *   map PATH        mmap PATH's first page, shared, read-only, and keep it: "mapped-file 0" (or errno)
 *   quit            _exit(0): no destructor of a cut library runs
 * The dlopen is called from load_library(), the frame the tests look for in creation stacks.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "mmapguard.h"

#ifdef DLM_NEEDED
int dlm_answer(void);
#endif

static void *handle;

__attribute__((noinline)) void *load_library(const char *path)
{
	return dlopen(path, RTLD_NOW);
}

static void cut(const char *path)
{
	int fd = open(path, O_WRONLY | O_TRUNC);
	if (fd < 0) {
		printf("cut errno=%d\n", errno);
		return;
	}
	if (write(fd, "0123456789abcdef", 16) != 16)
		printf("cut write failed errno=%d\n", errno);
	close(fd);
	printf("cut ok\n");
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	for (int i = 1; i < argc; i++) {
		const char *op = argv[i];
		if (!strcmp(op, "load") && i + 1 < argc) {
			errno = 12345;
			void *h = load_library(argv[++i]);
			int e = errno;
			if (!h) {
				const char *msg = dlerror();
				printf("load failed errno=%d dlerror=%s\n", e, msg ? msg : "(null)");
				continue;
			}
			handle = h;
			Dl_info di;
			void *sym = dlsym(h, "dlm_answer");
			printf("loaded %s errno=%d\n", sym && dladdr(sym, &di) ? di.dli_fname : "?", e);
		} else if (!strcmp(op, "via") && i + 2 < argc) {
			void *loader = load_library(argv[++i]);
			void *(*open_fn)(const char *) =
				loader ? (void *(*)(const char *))dlsym(loader, "dlm_loader_open") : NULL;
			const char *name = argv[++i];
			void *h = open_fn ? open_fn(name) : NULL;
			if (!h) {
				const char *msg = dlerror();
				printf("load failed dlerror=%s\n", msg ? msg : "(null)");
				continue;
			}
			handle = h;
			Dl_info di;
			void *sym = dlsym(h, "dlm_answer");
			printf("loaded %s\n", sym && dladdr(sym, &di) ? di.dli_fname : "?");
		} else if (!strcmp(op, "quit")) {
			_exit(0);
		} else if (!strcmp(op, "map") && i + 1 < argc) {
			int fd = open(argv[++i], O_RDONLY);
			void *p = fd < 0 ? MAP_FAILED : mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
			printf("mapped-file %d\n", p == MAP_FAILED ? errno : 0);
			if (fd >= 0)
				close(fd);
		} else if (!strcmp(op, "wait")) {
			char line[64];
			printf("waiting\n");
			if (!fgets(line, sizeof line, stdin))
				return 3;
		} else if (!strcmp(op, "close")) {
			printf("closed %d\n", dlclose(handle));
			handle = NULL;
		} else if (!strcmp(op, "cut") && i + 1 < argc) {
			cut(argv[++i]);
		} else if (!strcmp(op, "call")) {
			int (*f)(void) = (int (*)(void))dlsym(handle, "dlm_answer");
			printf("answer %d\n", f ? f() : -1);
		} else if (!strcmp(op, "touch") && i + 1 < argc) {
			int (*f)(size_t) = (int (*)(size_t))dlsym(handle, "dlm_read");
			printf("read %d\n", f ? f(strtoul(argv[++i], NULL, 0)) : -1);
#ifdef DLM_NEEDED
		} else if (!strcmp(op, "needed-path")) {
			Dl_info di;
			printf("needed %s answer %d\n", dladdr((void *)dlm_answer, &di) ? di.dli_fname : "?",
			       dlm_answer());
#endif
		} else if (!strcmp(op, "mapped") && i + 1 < argc) {
			const char *p = argv[++i];
			printf("mapped %d\n", mmapguard_path_mapped ? mmapguard_path_mapped(p, NULL) : -1);
		} else {
			fprintf(stderr, "dlm_prog: bad step %s\n", op);
			return 2;
		}
	}
	return 0;
}

/*
 * A Linux ELF core file read from memory: its program headers (the memory it holds) and its notes
 * (threads from NT_PRSTATUS, the signal from NT_SIGINFO, file mappings from NT_FILE, the process
 * name from NT_PRPSINFO). Every offset and count is checked against the buffer: a corrupt or cut
 * core gives an error, never a read outside it (fuzzed: tests/fuzz/fuzz_core.c).
 */
#ifndef MGC_EXPLAIN_CORE_H
#define MGC_EXPLAIN_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct core_load {                      /* one PT_LOAD: memory the core holds (or says it had) */
	uint64_t vaddr, memsz;
	uint64_t offset, filesz;        /* filesz clipped to what the file really has */
	uint32_t flags;                 /* PF_R | PF_W | PF_X */
};

struct core_map {                       /* one NT_FILE entry */
	uint64_t start, end;
	uint64_t offset;                /* file offset of start, in bytes */
	const char *path;               /* inside the core buffer, NUL-terminated */
};

struct core_thread {                    /* one NT_PRSTATUS, with the NT_SIGINFO that follows it */
	int tid;
	int cursig;
	bool have_siginfo;
	int si_signo, si_errno, si_code;
	uint64_t fault_addr;             /* faults */
	int sender_pid, sender_uid;             /* sent signals */
};

struct core_info {
	uint16_t machine;
	struct core_load *loads;
	size_t nloads;
	struct core_map *maps;
	size_t nmaps;
	struct core_thread *threads;    /* threads[0] is the one that took the signal */
	size_t nthreads;
	bool have_psinfo;
	int pid;                        /* the process (NT_PRPSINFO), 0 if unknown */
	char fname[17];                 /* the executable's name (16 bytes at most) */
	char psargs[81];                /* the command line, first 80 bytes */
	uint64_t bytes_missing;         /* PT_LOAD bytes past the end of the file (a cut core) */
};

enum { CORE_OK = 0, CORE_NOT_ELF = -1, CORE_NOT_CORE = -2, CORE_CORRUPT = -3 };

/* Parse data[0..size). Returns CORE_OK or a negative CORE_* with a reason in err. */
int core_parse(const unsigned char *data, size_t size, struct core_info *ci, char *err, size_t errlen);
void core_info_free(struct core_info *ci);

const struct core_map *core_find_map(const struct core_info *ci, uint64_t addr);
const struct core_load *core_find_load(const struct core_info *ci, uint64_t addr);
/* Copy len bytes of the process's memory at addr; false if the core does not hold all of them. */
bool core_read(const struct core_info *ci, const unsigned char *data, uint64_t addr, void *out,
	       size_t len);

#endif

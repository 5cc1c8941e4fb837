/*
 * libFuzzer target: the core file reader of `mmapguard explain` (cmd/explain_core.c): ELF header,
 * program headers, and the notes (NT_PRSTATUS, NT_SIGINFO, NT_PRPSINFO, NT_FILE).
 *
 * The input is the core file. Checked here, aborting on any violation (ASan sees every read
 * outside the input, which is copied into a buffer of exactly its size):
 *   1. a parse that fails leaves nothing allocated and says why;
 *   2. a parse that succeeds has at least one thread; every NT_FILE path is a NUL-terminated
 *      string inside the input, every mapping has start <= end; every memory segment's bytes
 *      (offset, filesz) lie inside the input and filesz <= memsz;
 *   3. core_find_map / core_find_load only return entries that hold the address, and core_read
 *      of the fault address and of every segment's first and last bytes stays inside the input.
 */
#define _GNU_SOURCE
#include "explain_core.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_core: %s\n", what);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *copy = malloc(size ? size : 1);
	memcpy(copy, data, size);
	struct core_info ci;
	char err[256];
	err[0] = 0;
	int r = core_parse(copy, size, &ci, err, sizeof err);
	if (r != CORE_OK) {
		if (r != CORE_NOT_ELF && r != CORE_NOT_CORE && r != CORE_CORRUPT)
			fail("unknown result");
		if (!err[0] || !memchr(err, 0, sizeof err))
			fail("a failed parse without a reason");
		if (ci.loads || ci.maps || ci.threads || ci.nloads || ci.nmaps || ci.nthreads)
			fail("a failed parse left something allocated");
		free(copy);
		return 0;
	}
	if (ci.nthreads == 0)
		fail("a core without a thread was accepted");
	for (size_t i = 0; i < ci.nmaps; i++) {
		const struct core_map *m = &ci.maps[i];
		const unsigned char *p = (const unsigned char *)m->path;
		if (p < copy || p >= copy + size || !memchr(p, 0, (size_t)(copy + size - p)))
			fail("an NT_FILE path outside the input or not terminated");
		if (m->end < m->start)
			fail("a mapping ends before it starts");
		if (core_find_map(&ci, m->start) == NULL && m->end > m->start)
			fail("core_find_map misses a mapping's first byte");
	}
	unsigned char buf[64];
	for (size_t i = 0; i < ci.nloads; i++) {
		const struct core_load *l = &ci.loads[i];
		if (l->filesz > l->memsz || (l->filesz && (l->offset > size || l->filesz > size - l->offset)))
			fail("a memory segment outside the input");
		if (l->filesz) {
			size_t n = l->filesz < sizeof buf ? (size_t)l->filesz : sizeof buf;
			core_read(&ci, copy, l->vaddr, buf, n);
			core_read(&ci, copy, l->vaddr + l->filesz - n, buf, n);
		}
	}
	for (size_t i = 0; i < ci.nthreads; i++) {
		uint64_t a = ci.threads[i].fault_addr;
		const struct core_map *m = core_find_map(&ci, a);
		if (m && (a < m->start || a >= m->end))
			fail("core_find_map returned a mapping that does not hold the address");
		const struct core_load *l = core_find_load(&ci, a);
		if (l && (a < l->vaddr || a - l->vaddr >= l->memsz))
			fail("core_find_load returned a segment that does not hold the address");
		core_read(&ci, copy, a, buf, sizeof buf);
	}
	core_info_free(&ci);
	free(copy);
	return 0;
}

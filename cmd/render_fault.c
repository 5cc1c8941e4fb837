/*
 * SIGBUS and lease records back to the guard's own text (shim/record_sigbus.c, record_lease.c),
 * for `mmapguard PROGRAM`: the faulting thread, the mapping with its creation stack and the cut
 * that caused the fault, each with its stack, as the guard writes them without the command.
 */
#define _GNU_SOURCE
#include "render.h"
#include "render_parts.h"

#include <inttypes.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <sys/types.h>

static bool is_true(const struct jdoc *d, const struct jnode *o, const char *key)
{
	const struct jnode *n = jget(d, o, key);
	return n && n->type == J_TRUE;
}

static const struct jnode *object(const struct jdoc *d, const struct jnode *o, const char *key)
{
	const struct jnode *n = jget(d, o, key);
	return n && n->type == J_OBJ ? n : NULL;
}

static void dev_ino(struct sbuf *b, const struct jdoc *d, const struct jnode *r)
{
	uint64_t dev = 0;
	jget_u64(d, r, "dev", &dev);
	sb_printf(b, "dev %u:%u ino ", major((dev_t)dev), minor((dev_t)dev));
	render_num(b, d, r, "ino");
}

/* prefix and the number at key, when key holds a number (null: unknown); true if written. */
static bool num_if(struct sbuf *b, const struct jdoc *d, const struct jnode *o, const char *key,
		   const char *prefix)
{
	const struct jnode *n = jget(d, o, key);
	if (!n || n->type != J_NUM)
		return false;
	sb_puts(b, prefix);
	render_num(b, d, o, key);
	return true;
}

/* "0xA-0xB (file offset O, PROT, MAP_SHARED" as the guard writes a window's range. */
static void range(struct sbuf *b, const struct jdoc *d, const struct jnode *m)
{
	uint64_t addr = 0, len = 0;
	jget_u64(d, m, "addr", &addr);
	jget_u64(d, m, "length", &len);
	sb_printf(b, "0x%" PRIx64 "-0x%" PRIx64 " (file offset ", addr, addr + len);
	render_num(b, d, m, "offset");
	sb_printf(b, ", %s, %s", render_str(d, m, "prot", "?"),
		  is_true(d, m, "shared") ? "MAP_SHARED" : "MAP_PRIVATE");
}

/* "CALL() BEFORE -> AFTER bytes" of a cut record (after: null when unknown). */
static void cut_sizes(struct sbuf *b, const struct jdoc *d, const struct jnode *c)
{
	const char *call = render_str(d, c, "call", "");
	sb_printf(b, "%s() ", call[0] ? call : "a call");
	render_num(b, d, c, "size_before");
	num_if(b, d, c, "size_after", " -> ");
	sb_puts(b, " bytes");
}

static void own_cut(struct sbuf *b, const struct jdoc *d, const struct jnode *r, const struct jnode *t)
{
	uint64_t pid = 0, tpid = 0;
	jget_u64(d, r, "pid", &pid);
	if (jget_u64(d, t, "pid", &tpid) && tpid != pid)
		sb_printf(b, "mmapguard:   process %" PRIu64 ", a vfork child of this one (sharing its "
			  "memory), cut the file earlier: ", tpid);
	else
		sb_puts(b, "mmapguard:   this process cut the file earlier: ");
	cut_sizes(b, d, t);
	sb_puts(b, " by thread ");
	render_num(b, d, t, "tid");
	sb_printf(b, " \"%s\" at %s:\n", render_str(d, t, "thread_name", ""), render_str(d, t, "time", "?"));
	render_stack(b, d, jget(d, t, "backtrace"), "      ");
}

static void other_cut(struct sbuf *b, const struct jdoc *d, const struct jnode *c, struct symbolizer *sym)
{
	if (jget_str(d, c, "seen_by")) {        /* a lease break: the process is not guarded */
		sb_puts(b, "mmapguard:   process ");
		render_num(b, d, c, "pid");
		sb_printf(b, " \"%s\" cut the file at %s: ", render_str(d, c, "comm", ""),
			  render_str(d, c, "time", "?"));
		cut_sizes(b, d, c);
		sb_printf(b, " (it broke this process's lease)\nmmapguard:     command: %s\n",
			  render_str(d, c, "cmdline", ""));
		return;
	}
	sb_puts(b, "mmapguard:   cut by process ");
	render_num(b, d, c, "pid");
	sb_printf(b, " \"%s\": ", render_str(d, c, "comm", ""));
	cut_sizes(b, d, c);
	sb_puts(b, " by thread ");
	render_num(b, d, c, "tid");
	sb_printf(b, " \"%s\" at %s:\n", render_str(d, c, "thread_name", ""), render_str(d, c, "time", "?"));
	render_victim_stack(b, d, jget(d, c, "backtrace"), sym);
}

static void sigbus(struct sbuf *b, const struct jdoc *d, const struct jnode *r, struct symbolizer *sym)
{
	const char *verdict = render_str(d, r, "verdict", "?");
	sb_printf(b, "mmapguard: SIGBUS (%s) at %s in a mapping of %s\n", render_str(d, r, "si_code_name", "?"),
		  render_str(d, r, "fault_addr", "?"), render_str(d, r, "path", "?"));
	sb_printf(b, "mmapguard:   verdict: %s: file offset ", verdict);
	render_num(b, d, r, "fault_offset");
	if (!num_if(b, d, r, "file_size", ", file size now "))
		sb_puts(b, ", file size unknown");
	sb_printf(b, " (file %s, ", render_str(d, r, "file_status", "unknown"));
	dev_ino(b, d, r);
	sb_puts(b, ")\nmmapguard:   faulting thread ");
	render_thread(b, d, r);
	const struct jnode *maps = jget(d, r, "mappings");
	if (maps && maps->type == J_ARR)
		for (const struct jnode *m = jchild(d, maps); m; m = jnext(d, m)) {
			if (m->type != J_OBJ)
				continue;
			sb_puts(b, "mmapguard:   mapping ");
			range(b, d, m);
			sb_puts(b, ") mapped by thread ");
			render_maker(b, d, m, r, "      ");
			render_stack(b, d, jget(d, m, "backtrace"), "      ");
		}
	const struct jnode *own = object(d, r, "truncation"), *other = object(d, r, "cut_by");
	const char *note = render_str(d, r, "note", "");
	if (strcmp(verdict, "io_error") == 0 || strcmp(verdict, "beyond_eof_at_map") == 0 || (!own && !other)) {
		sb_printf(b, "mmapguard:   %s\n", note);
	} else if (own && (!other || strncmp(note, "another process", 15) != 0)) {
		own_cut(b, d, r, own);          /* the cause first (the note names it), then the other */
		if (other)
			other_cut(b, d, other, sym);
	} else {
		other_cut(b, d, other, sym);
		if (own)
			own_cut(b, d, r, own);
	}
	if (strcmp(render_str(d, r, "action", ""), "survived") == 0)
		sb_puts(b, "mmapguard:   survived (MMAPGUARD_SIGBUS=survive): the pages of the mapping past the "
			   "end of file now read as zeros and no longer follow the file\n");
}

static void lease_break(struct sbuf *b, const struct jdoc *d, const struct jnode *r, struct symbolizer *sym)
{
	(void)sym;
	const struct jnode *br = object(d, r, "breaker");
	sb_puts(b, "mmapguard: lease break: ");
	if (br) {
		sb_puts(b, "pid ");
		render_num(b, d, br, "pid");
		sb_printf(b, " \"%s\"", render_str(d, br, "comm", ""));
		if (num_if(b, d, br, "uid", " (uid "))
			sb_putc(b, ')');
	} else {
		sb_puts(b, "a process that could not be named");
	}
	sb_printf(b, " opens for writing or truncates a memory-mapped file: %s\nmmapguard:   file ",
		  render_str(d, r, "path", "?"));
	dev_ino(b, d, r);
	sb_puts(b, ", size ");
	render_num(b, d, r, "size_before");
	num_if(b, d, r, "size_after", " -> ");
	sb_puts(b, " bytes\n");
	if (br) {
		const char *exe = render_str(d, br, "exe", "");
		sb_printf(b, "mmapguard:   command: %s", render_str(d, br, "cmdline", ""));
		if (exe[0])
			sb_printf(b, " (%s)", exe);
		const struct jnode *sc = object(d, br, "syscall");
		sb_puts(b, "\nmmapguard:   system call: ");
		if (!sc)
			sb_puts(b, "not readable (another user's process)");
		else
			sb_printf(b, "%s (%s)", render_str(d, sc, "name", "?"),
				  is_true(d, sc, "cuts") ? "shrinks the file" : "does not shrink the file");
		sb_putc(b, '\n');
	}
	uint64_t total = 0, i = 0, rescued = 0;
	jget_u64(d, r, "mappings_total", &total);
	const struct jnode *maps = jget(d, r, "mappings");
	if (maps && maps->type == J_ARR)
		for (const struct jnode *m = jchild(d, maps); m; m = jnext(d, m))
			rescued += m->type == J_OBJ && is_true(d, m, "rescued");
	sb_puts(b, "mmapguard:   ");
	if (rescued)
		sb_printf(b, "%" PRIu64 " window(s) rescued: they now hold anonymous copies of their bytes and "
			  "no longer follow the file; ", rescued);
	sb_puts(b, "lease released after ");
	render_num(b, d, r, "held_us");
	sb_puts(b, " us\n");
	if (maps && maps->type == J_ARR)
		for (const struct jnode *m = jchild(d, maps); m; m = jnext(d, m)) {
			if (m->type != J_OBJ)
				continue;
			i++;
			sb_printf(b, "mmapguard:   endangered mapping %" PRIu64 " of %" PRIu64 ": ", i,
				  total > i ? total : i);
			range(b, d, m);
			sb_puts(b, is_true(d, m, "rescued") ? ") rescued\n" : ")\n");
			if (!jget(d, m, "tid"))
				continue;
			sb_puts(b, "mmapguard:     mapped by thread ");
			render_maker(b, d, m, r, "      ");
			render_stack(b, d, jget(d, m, "backtrace"), "      ");
		}
}

bool render_fault_text(struct sbuf *b, const struct jdoc *d, const struct jnode *r, struct symbolizer *sym)
{
	const char *event = render_str(d, r, "event", "");
	if (strcmp(event, "sigbus") == 0) {
		sigbus(b, d, r, sym);
	} else if (strcmp(event, "lease_break") == 0) {
		lease_break(b, d, r, sym);
	} else if (strcmp(event, "lease_unavailable") == 0) {
		sb_printf(b, "mmapguard: no lease on %s (", render_str(d, r, "path", "?"));
		dev_ino(b, d, r);
		sb_printf(b, "): %s; another process can cut it unseen\n", render_str(d, r, "reason", "?"));
	} else if (strcmp(event, "lease_signal") == 0) {
		sb_puts(b, "mmapguard: the program uses signal ");
		render_num(b, d, r, "from");
		if (num_if(b, d, r, "to", ": leases now signal with "))
			sb_putc(b, '\n');
		else
			sb_puts(b, " and no other real-time signal is free: leases given up\n");
	} else {
		return false;
	}
	return true;
}

/*
 * shim/record*.c without a process: each record kind's facts, fixed by hand, formatted as JSON and
 * as text through a symbolizer of the test's own, and written through a writer of the test's own.
 * The expected records are written out by hand from the record schema (README.md "JSON records",
 * "Map-count wall"; the text blocks as docs and the golden tests show them).
 */
#define _GNU_SOURCE
#include "record.h"
#include "unit.h"

#include <errno.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static const struct timespec T0 = { 1699999999, 1000 };         /* 2023-11-14T22:13:19.000001Z */
static const struct timespec T1 = { 1700000000, 123456000 };    /* 2023-11-14T22:13:20.123456Z */
static const struct timespec T2 = { 1700000001, 500000000 };    /* 2023-11-14T22:13:21.500000Z */
#define S0 "2023-11-14T22:13:19.000001Z"
#define S1 "2023-11-14T22:13:20.123456Z"
#define S2 "2023-11-14T22:13:21.500000Z"
#define FRAME_JSON "{\"ip\":\"0x1234\",\"module\":\"/bin/p\",\"module_offset\":\"0x234\",\"symbol\":\"main+0x4\"}"
#define FRAME_TEXT(indent) "mmapguard: " indent "#0  main+0x4 (/bin/p+0x234) 0x1234\n"
#define NO_STACK(indent) \
	"mmapguard: " indent "(no stack: libunwind unavailable or captured before the guard loaded)\n"

/* 0x1234 is main+0x4 in /bin/p; 0x2000 is glibc's free; anything else is unknown. */
static void sym(uintptr_t ip, bool exact, struct mg_sym *out)
{
	(void)exact;
	memset(out, 0, sizeof *out);
	if (ip == 0x1234) {
		strcpy(out->module, "/bin/p");
		out->module_offset = 0x234;
		strcpy(out->symbol, "main+0x4");
	} else if (ip == 0x2000) {
		strcpy(out->module, "/lib/libc.so.6");
		out->module_offset = 0x2000;
		strcpy(out->symbol, "free+0x10");
	}
}

static char out[1 << 16];

static const char *fmt(mg_format_fn f, bool json, const void *facts)
{
	struct mg_buf b;
	mg_buf_init(&b, out, sizeof out);
	f(&b, json, facts, sym);
	CHECK(!b.truncated);
	return out;
}

static void one_frame(struct mg_stack *st, uintptr_t ip)
{
	st->n = 1;
	st->ip[0] = ip;
}

static struct mg_window window(uintptr_t start, size_t len, uint64_t off, int prot)
{
	struct mg_window w;
	memset(&w, 0, sizeof w);
	w.start = start;
	w.end = start + len;
	w.offset = off;
	w.dev = makedev(8, 1);
	w.ino = 42;
	w.prot = prot;
	w.shared = true;
	w.tid = 100;
	strcpy(w.thread_name, "mapper");
	w.created = T0;
	return w;
}

static struct mg_who who(pid_t tid, const char *name, struct timespec t)
{
	struct mg_who w = { .pid = 100, .tid = tid, .time = t };
	strcpy(w.thread_name, name);
	return w;
}

/* ---- truncate, reopen ----------------------------------------------------------------------- */

static struct mg_event *truncate_event(void)
{
	static struct mg_event e;
	memset(&e, 0, sizeof e);
	e.event = "truncate";
	e.call = "open";
	e.detail = "O_WRONLY|O_TRUNC";
	strcpy(e.path, "/d/f");
	e.dev = makedev(8, 1);
	e.ino = 42;
	e.has_sizes = true;
	e.size_before = 20480;
	e.size_after = 4096;
	e.who = who(101, "cutter", T1);
	e.page_size = 4096;
	one_frame(&e.stack, 0x1234);
	e.nwindows = 1;
	e.nwindows_total = 2;
	e.windows[0] = window(0x10000, 20480, 0, PROT_READ | PROT_WRITE);
	strcpy(e.window_path[0], "/d/f");
	return &e;
}

static void test_truncate(void)
{
	struct mg_event *e = truncate_event();
	CHECK_STR(fmt(mg_format_event, true, e),
		  "{\"event\":\"truncate\",\"action\":\"logged\",\"call\":\"open\","
		  "\"flags\":\"O_WRONLY|O_TRUNC\",\"path\":\"/d/f\",\"dev\":2049,\"ino\":42,"
		  "\"size_before\":20480,\"size_after\":4096,\"pid\":100,\"tid\":101,"
		  "\"thread_name\":\"cutter\",\"time\":\"" S1 "\",\"page_size\":4096,"
		  "\"backtrace\":[" FRAME_JSON "],\"mappings\":[{\"addr\":\"0x10000\",\"length\":20480,"
		  "\"offset\":0,\"prot\":\"PROT_READ|PROT_WRITE\",\"shared\":true,\"pages_beyond_eof\":4,"
		  "\"pages_beyond_eof_total\":4,\"path\":\"/d/f\",\"tid\":100,\"thread_name\":\"mapper\",\"time\":\"" S0 "\","
		  "\"backtrace\":[]}],\"mappings_total\":2}\n");
	CHECK_STR(fmt(mg_format_event, false, e),
		  "mmapguard: open(O_WRONLY|O_TRUNC) would cut a memory-mapped file short: /d/f\n"
		  "mmapguard:   file dev 8:1 ino 42, size 20480 -> 4096 bytes\n"
		  "mmapguard:   logged: the call was allowed to proceed\n"
		  "mmapguard:   called by thread 101 \"cutter\" of pid 100 at " S1 ":\n"
		  FRAME_TEXT("    ")
		  "mmapguard:   endangered mapping 1 of 2: 0x10000-0x15000 (20480 bytes at file offset 0, "
		  "PROT_READ|PROT_WRITE, MAP_SHARED) /d/f\n"
		  "mmapguard:     4 page(s) of it lie beyond the new end of file: touching them raises SIGBUS\n"
		  "mmapguard:     mapped by thread 100 \"mapper\" at " S0 ":\n"
		  NO_STACK("      ")
		  "mmapguard:   ... and 1 more mapping(s) of this file\n");
	CHECK_U64(mg_event_pages_beyond(e, 0), 4);
}

static void test_reopen_blocked(void)
{
	struct mg_event *e = truncate_event();
	e->event = "reopen";
	e->call = "fopen";
	e->detail = "r+";
	e->has_sizes = false;
	e->blocked = true;
	e->err = ETXTBSY;
	e->stack.n = 0;
	e->nwindows_total = 1;
	e->windows[0].shared = false;
	CHECK_STR(fmt(mg_format_event, true, e),
		  "{\"event\":\"reopen\",\"action\":\"blocked\",\"call\":\"fopen\",\"flags\":\"r+\","
		  "\"path\":\"/d/f\",\"dev\":2049,\"ino\":42,\"pid\":100,\"tid\":101,"
		  "\"thread_name\":\"cutter\",\"time\":\"" S1 "\",\"errno\":26,\"errno_name\":\"ETXTBSY\","
		  "\"page_size\":4096,\"backtrace\":[],\"mappings\":[{\"addr\":\"0x10000\",\"length\":20480,"
		  "\"offset\":0,\"prot\":\"PROT_READ|PROT_WRITE\",\"shared\":false,\"pages_beyond_eof\":0,"
		  "\"pages_beyond_eof_total\":0,"
		  "\"path\":\"/d/f\",\"tid\":100,\"thread_name\":\"mapper\",\"time\":\"" S0 "\","
		  "\"backtrace\":[]}],\"mappings_total\":1}\n");
	CHECK_STR(fmt(mg_format_event, false, e),
		  "mmapguard: fopen(r+) reopens a memory-mapped file: /d/f\n"
		  "mmapguard:   file dev 8:1 ino 42\n"
		  "mmapguard:   BLOCKED: the call was refused with -1, errno ETXTBSY\n"
		  "mmapguard:   called by thread 101 \"cutter\" of pid 100 at " S1 ":\n"
		  NO_STACK("    ")
		  "mmapguard:   live mapping 1 of 1: 0x10000-0x15000 (20480 bytes at file offset 0, "
		  "PROT_READ|PROT_WRITE, MAP_PRIVATE) /d/f\n"
		  "mmapguard:     mapped by thread 100 \"mapper\" at " S0 ":\n"
		  NO_STACK("      "));
	CHECK_U64(mg_event_pages_beyond(e, 0), 0);
}

/* ---- sigbus --------------------------------------------------------------------------------- */

static struct mg_fault *fault(void)
{
	static struct mg_fault f;
	memset(&f, 0, sizeof f);
	f.addr = 0x12005;
	f.code = BUS_ADRERR;
	f.registry = MG_FIND_EXACT;
	f.w = window(0x10000, 16384, 8192, PROT_READ);
	f.w.size_at_map = 32768;
	f.have_vma = true;
	f.vma.path = f.vma_path;
	f.vma.path_cap = sizeof f.vma_path;
	strcpy(f.vma.path, "/d/f");
	f.fault_offset = 8192 + 0x2005;
	f.have_size = true;
	f.size = 1000;
	f.page_size = 4096;
	f.file_status = "present";
	f.verdict = "truncated";
	f.have_trunc = true;
	f.cause = MG_CAUSE_OWN;
	f.trunc.call = "ftruncate";
	f.trunc.time = T1;
	f.trunc.pid = 100;
	f.trunc.tid = 102;
	strcpy(f.trunc.thread_name, "cutter");
	f.trunc.size_before = 16484;
	f.trunc.size_after = 1000;
	f.action = "reported";
	f.who = who(103, "reader", T2);
	one_frame(&f.stack, 0x1234);
	f.stack.pc_first = 1;
	return &f;
}

static void test_sigbus(void)
{
	struct mg_fault *f = fault();
	CHECK_STR(fmt(mg_format_fault, true, f),
		  "{\"event\":\"sigbus\",\"action\":\"reported\",\"fault_addr\":\"0x12005\",\"si_code\":2,"
		  "\"si_code_name\":\"BUS_ADRERR\",\"path\":\"/d/f\",\"file_status\":\"present\","
		  "\"dev\":2049,\"ino\":42,\"fault_offset\":16389,\"file_size\":1000,\"size_at_map\":32768,"
		  "\"verdict\":\"truncated\",\"registry\":\"exact\",\"pid\":100,\"tid\":103,"
		  "\"thread_name\":\"reader\",\"time\":\"" S2 "\",\"page_size\":4096,"
		  "\"backtrace\":[" FRAME_JSON "],\"mappings\":[{\"addr\":\"0x10000\",\"length\":16384,"
		  "\"offset\":8192,\"prot\":\"PROT_READ\",\"shared\":true,\"pages_beyond_eof\":4,"
		  "\"pages_beyond_eof_total\":4,\"path\":\"/d/f\",\"tid\":100,\"thread_name\":\"mapper\",\"time\":\"" S0 "\","
		  "\"backtrace\":[]}],\"mappings_total\":1,\"truncation\":{\"call\":\"ftruncate\","
		  "\"time\":\"" S1 "\",\"pid\":100,\"tid\":102,\"thread_name\":\"cutter\",\"size_before\":16484,"
		  "\"size_after\":1000,\"backtrace\":[]},\"cut_by\":null,"
		  "\"note\":\"this process truncated the file earlier (see truncation)\"}\n");
	CHECK_STR(fmt(mg_format_fault, false, f),
		  "mmapguard: SIGBUS (BUS_ADRERR) at 0x12005 in a mapping of /d/f\n"
		  "mmapguard:   verdict: truncated: file offset 16389, file size now 1000 (file present, "
		  "dev 8:1 ino 42)\n"
		  "mmapguard:   faulting thread 103 \"reader\" of pid 100 at " S2 ":\n"
		  FRAME_TEXT("    ")
		  "mmapguard:   mapping 0x10000-0x14000 (file offset 8192, PROT_READ, MAP_SHARED) mapped by "
		  "thread 100 \"mapper\" at " S0 ":\n"
		  NO_STACK("      ")
		  "mmapguard:   this process cut the file earlier: ftruncate() 16484 -> 1000 bytes by thread "
		  "102 \"cutter\" at " S1 ":\n"
		  NO_STACK("      "));
}

static void test_sigbus_unknown_size(void)
{
	struct mg_fault *f = fault();
	f->have_size = false;
	f->have_trunc = false;
	f->cause = MG_CAUSE_NONE;
	f->verdict = "unknown";
	f->file_status = "unknown";
	f->have_vma = false;
	const char *j = fmt(mg_format_fault, true, f);
	CHECK(strstr(j, ",\"path\":\"\",\"file_status\":\"unknown\",") != NULL, "%s", j);
	CHECK(strstr(j, ",\"file_size\":null,\"size_at_map\":32768,") != NULL, "%s", j);
	CHECK(strstr(j, ",\"pages_beyond_eof\":0,") != NULL, "%s", j);
	CHECK(strstr(j, ",\"truncation\":null,\"cut_by\":null,\"note\":\"no truncation of this file by this process "
			"is known: ") != NULL, "%s", j);
	const char *t = fmt(mg_format_fault, false, f);
	CHECK(strstr(t, "mmapguard:   verdict: unknown: file offset 16389, file size unknown (file "
			"unknown, dev 8:1 ino 42)\n") != NULL, "%s", t);
}

/* ---- map_limit, map_count_high, map_limit_summary ------------------------------------------- */

static struct mg_limit_event limit_event(const char *event, const char *call)
{
	struct mg_limit_event ev = { .event = event, .call = call, .action = "logged", .addr = 0x20000,
		.len = 4096, .vmas = 65530, .limit = 65530, .explanation = "E", .remedy = "R" };
	ev.who = who(100, "mc", T1);
	return ev;
}

static void test_map_limit(void)
{
	struct mg_limit_event ev = limit_event("map_limit", "munmap");
	one_frame(&ev.stack, 0x1234);
	CHECK_STR(fmt(mg_format_limit, true, &ev),
		  "{\"event\":\"map_limit\",\"action\":\"logged\",\"call\":\"munmap\",\"addr\":\"0x20000\","
		  "\"length\":4096,\"errno\":12,\"errno_name\":\"ENOMEM\",\"vma_count\":65530,"
		  "\"max_map_count\":65530,\"pid\":100,\"tid\":100,\"thread_name\":\"mc\","
		  "\"time\":\"" S1 "\",\"explanation\":\"E\",\"remedy\":\"R\","
		  "\"backtrace\":[" FRAME_JSON "]}\n");
	CHECK_STR(fmt(mg_format_limit, false, &ev),
		  "mmapguard: map_limit: munmap(0x20000, 4096) failed with ENOMEM\n"
		  "mmapguard:   the process has 65530 memory mappings; vm.max_map_count is 65530\n"
		  "mmapguard:   E\n"
		  "mmapguard:   remedy: R\n"
		  "mmapguard:   thread 100 \"mc\" at " S1 ":\n"
		  FRAME_TEXT("    "));
}

/* A return address no loaded object holds (JIT code, a trampoline) says so, not "?+0x0". */
static void test_frame_outside_objects(void)
{
	struct mg_limit_event ev = limit_event("map_limit", "munmap");
	one_frame(&ev.stack, 0x5000);
	const char *t = fmt(mg_format_limit, false, &ev);
	CHECK(strstr(t, "mmapguard:     #0  ?? (not in a loaded object) 0x5000\n") != NULL, "%s", t);
	CHECK(strstr(t, "?+") == NULL, "%s", t);
}

static void test_map_limit_calls(void)
{
	struct mg_limit_event ev = limit_event("map_limit", "mmap");
	ev.arg3 = PROT_READ;
	ev.arg4 = MAP_PRIVATE | MAP_ANONYMOUS;
	const char *j = fmt(mg_format_limit, true, &ev);
	CHECK(strstr(j, ",\"length\":4096,\"prot\":1,\"flags\":34,\"errno\":12,") != NULL, "%s", j);
	ev.call = "mprotect";
	j = fmt(mg_format_limit, true, &ev);
	CHECK(strstr(j, ",\"length\":4096,\"prot\":1,\"errno\":12,") != NULL, "%s", j);
	ev.call = "mremap";
	ev.arg4 = 8192;
	j = fmt(mg_format_limit, true, &ev);
	CHECK(strstr(j, ",\"length\":4096,\"new_length\":8192,\"errno\":12,") != NULL, "%s", j);
	ev.call = "munmap";
	ev.action = "released";
	const char *t = fmt(mg_format_limit, false, &ev);
	static const char released[] = "mmapguard: map_limit: munmap(0x20000, 4096) failed with "
		"ENOMEM; memory released with MADV_DONTNEED, range left reserved\n";
	CHECK(strncmp(t, released, sizeof released - 1) == 0, "%s", t);
}

/* A munmap whose caller is glibc's free() leaked the block, whether or not the record knew it. */
static void test_map_limit_from_free(void)
{
	struct mg_limit_event ev = limit_event("map_limit", "munmap");
	one_frame(&ev.stack, 0x2000);
	const char *j = fmt(mg_format_limit, true, &ev);
	CHECK(strstr(j, ",\"max_map_count\":65530,\"from_free\":true,\"leaked_bytes\":0,\"pid\":100,")
	      != NULL, "%s", j);
	ev.stack.n = 0;
	ev.from_free = true;
	ev.leaked = 131088;
	const char *t = fmt(mg_format_limit, false, &ev);
	CHECK(strstr(t, "vm.max_map_count is 65530\nmmapguard:   this free() leaked 131088 bytes (glibc "
			"ignores munmap's failure)\nmmapguard:   E\n") != NULL, "%s", t);
}

static void test_map_count_high(void)
{
	struct mg_limit_event ev = limit_event("map_count_high", NULL);
	ev.vmas = 58980;
	ev.warn_at = 58977;
	one_frame(&ev.stack, 0x1234);
	CHECK_STR(fmt(mg_format_limit, true, &ev),
		  "{\"event\":\"map_count_high\",\"action\":\"logged\",\"vma_count\":58980,"
		  "\"max_map_count\":65530,\"threshold\":58977,\"pid\":100,\"tid\":100,"
		  "\"thread_name\":\"mc\",\"time\":\"" S1 "\",\"explanation\":\"E\",\"remedy\":\"R\","
		  "\"backtrace\":[" FRAME_JSON "]}\n");
	CHECK_STR(fmt(mg_format_limit, false, &ev),
		  "mmapguard: map_count_high\n"
		  "mmapguard:   the process has 58980 memory mappings; vm.max_map_count is 65530\n"
		  "mmapguard:   E\n"
		  "mmapguard:   remedy: R\n"
		  "mmapguard:   thread 100 \"mc\" at " S1 ":\n"
		  FRAME_TEXT("    "));
}

static void test_map_limit_summary(void)
{
	struct mg_limit_event ev = limit_event("map_limit_summary", NULL);
	ev.vmas = 65000;
	ev.failures = 3;
	ev.bytes_kept = 12288;
	CHECK_STR(fmt(mg_format_limit, true, &ev),
		  "{\"event\":\"map_limit_summary\",\"action\":\"logged\",\"vma_count\":65000,"
		  "\"max_map_count\":65530,\"failures\":3,\"bytes_not_returned\":12288,\"pid\":100,"
		  "\"tid\":100,\"thread_name\":\"mc\",\"time\":\"" S1 "\",\"explanation\":\"E\","
		  "\"remedy\":\"R\",\"backtrace\":[]}\n");
	CHECK_STR(fmt(mg_format_limit, false, &ev),
		  "mmapguard: map_limit_summary: 3 mapping call(s) refused; 12288 bytes were not returned "
		  "to the system\n"
		  "mmapguard:   the process has 65000 memory mappings; vm.max_map_count is 65530\n"
		  "mmapguard:   E\n"
		  "mmapguard:   remedy: R\n"
		  "mmapguard:   thread 100 \"mc\" at " S1 ":\n");
}

/* ---- suppressed ------------------------------------------------------------------------------ */

static void test_suppressed(void)
{
	struct mg_event *e = truncate_event();
	struct mg_suppressed s = { .e = e, .rule = "a-only", .rule_file = "/etc/app.supp", .count = 4,
				   .site = 0xabc1 };
	CHECK_STR(fmt(mg_format_suppressed, true, &s),
		  "{\"event\":\"suppressed\",\"kind\":\"truncate\",\"call\":\"open\","
		  "\"flags\":\"O_WRONLY|O_TRUNC\",\"path\":\"/d/f\",\"dev\":2049,\"ino\":42,"
		  "\"size_before\":20480,\"size_after\":4096,\"rule\":\"a-only\","
		  "\"rule_file\":\"/etc/app.supp\",\"count\":4,\"site\":\"0xabc1\",\"mappings_total\":2,"
		  "\"pid\":100,\"tid\":101,\"thread_name\":\"cutter\",\"time\":\"" S1 "\","
		  "\"backtrace\":[" FRAME_JSON "]}\n");
	/* A reopen has no sizes; a reason that is not a rule has no file; no text form. */
	e->event = "reopen";
	e->detail = "";
	e->has_sizes = false;
	e->stack.n = 0;
	s.rule = "MMAPGUARD_SUPPRESS";
	s.rule_file = NULL;
	CHECK_STR(fmt(mg_format_suppressed, true, &s),
		  "{\"event\":\"suppressed\",\"kind\":\"reopen\",\"call\":\"open\",\"path\":\"/d/f\","
		  "\"dev\":2049,\"ino\":42,\"rule\":\"MMAPGUARD_SUPPRESS\",\"rule_file\":null,\"count\":4,"
		  "\"site\":\"0xabc1\",\"mappings_total\":2,\"pid\":100,\"tid\":101,"
		  "\"thread_name\":\"cutter\",\"time\":\"" S1 "\",\"backtrace\":[]}\n");
	CHECK_STR(fmt(mg_format_suppressed, false, &s), "");
	struct mg_suppressed_tally t = { .site = 0xabc1, .count = 9, .pid = 100, .time = T2 };
	CHECK_STR(fmt(mg_format_suppressed_tally, true, &t),
		  "{\"event\":\"suppressed\",\"site\":\"0xabc1\",\"count\":9,\"final\":true,"
		  "\"pid\":100,\"time\":\"" S2 "\"}\n");
	CHECK_STR(fmt(mg_format_suppressed_tally, false, &t), "");
}

/* ---- the writer ----------------------------------------------------------------------------- */

static char written[1 << 16];
static size_t nwritten;
static int calls;

static int capture(const char *p, size_t n)
{
	calls++;
	CHECK(nwritten + n <= sizeof written);
	memcpy(written + nwritten, p, n);
	nwritten += n;
	return 0;
}

/* One record, one write, exactly the formatted bytes; a text record cut short by the buffer is
 * handed over as far as it goes (a prefix), never past the buffer; a JSON one is retried with fewer
 * frames and, when it still does not fit, not written at all (-EMSGSIZE: the caller counts it
 * dropped): never a broken line. */
static void test_write(void)
{
	char buf[4096];
	struct mg_buf b;
	mg_buf_init(&b, buf, sizeof buf);
	struct mg_limit_event ev = limit_event("map_limit", "munmap");
	calls = 0;
	nwritten = 0;
	CHECK(mg_record_write(&b, true, mg_format_limit, &ev, sym, capture) == 0);
	CHECK(calls == 1, "%d writes", calls);
	CHECK_U64(nwritten, b.len);
	CHECK(memcmp(written, fmt(mg_format_limit, true, &ev), nwritten) == 0);
	CHECK(written[nwritten - 1] == '\n');

	char small[64];
	mg_buf_init(&b, small, sizeof small);
	calls = 0;
	nwritten = 0;
	CHECK(mg_record_write(&b, false, mg_format_limit, &ev, sym, capture) == 0);
	CHECK(calls == 1 && b.truncated && nwritten == sizeof small - 1);
	CHECK(memcmp(written, "mmapguard: map_limit: munmap(0x20000, 4096) failed with ENOMEM\n", 63) == 0);

	mg_buf_init(&b, small, sizeof small);
	calls = 0;
	CHECK(mg_record_write(&b, true, mg_format_limit, &ev, sym, capture) == -EMSGSIZE);
	CHECK(calls == 0, "%d writes of a JSON record that does not fit", calls);
}

/* The calling thread, now: this process, this thread, a name, a time that moves forward. */
static void test_who(void)
{
	struct mg_who w;
	struct timespec before;
	clock_gettime(CLOCK_REALTIME, &before);
	mg_who_now(&w);
	CHECK(w.pid == getpid() && w.tid == gettid(), "pid %d tid %d", (int)w.pid, (int)w.tid);
	CHECK(strncmp(w.thread_name, "unit_record", 11) == 0, "%s", w.thread_name);
	CHECK(w.time.tv_sec > before.tv_sec ||
	      (w.time.tv_sec == before.tv_sec && w.time.tv_nsec >= before.tv_nsec));
}

int main(void)
{
	printf("unit_record (sanitizers: %s)\n", mg_unit_sanitizers());
	RUN(test_truncate);
	RUN(test_reopen_blocked);
	RUN(test_sigbus);
	RUN(test_sigbus_unknown_size);
	RUN(test_map_limit);
	RUN(test_frame_outside_objects);
	RUN(test_map_limit_calls);
	RUN(test_map_limit_from_free);
	RUN(test_map_count_high);
	RUN(test_map_limit_summary);
	RUN(test_suppressed);
	RUN(test_write);
	RUN(test_who);
	printf("unit_record: all passed\n");
	return 0;
}

/* The fields records share, written one way for every record kind. */
#define _GNU_SOURCE
#include "record.h"
#include "real.h"
#include "thread.h"

#include <errno.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

void mg_who_now(struct mg_who *w)
{
	w->pid = (pid_t)MG_SYS0(SYS_getpid);
	w->tid = (pid_t)MG_SYS0(SYS_gettid);
	w->thread_name[0] = 0;
	MG_SYS2(SYS_prctl, PR_GET_NAME, w->thread_name);
	clock_gettime(CLOCK_REALTIME, &w->time);
}

/*
 * Frames written per stack (-1: all) and frames left out, for the record this thread is formatting
 * (saved and restored around each record: a signal handler may format one in the middle).
 */
static MG_TLS int frame_cap = -1;
static MG_TLS unsigned frames_left_out;

static uint32_t frames_shown(const struct mg_stack *st)
{
	if (frame_cap < 0 || st->n <= (uint32_t)frame_cap)
		return st->n;
	frames_left_out += st->n - (uint32_t)frame_cap;
	return (uint32_t)frame_cap;
}

/*
 * Every record reaches the log whole, or is dropped whole (and counted by the caller): write
 * (mg_write_all underneath) refuses a record longer than PIPE_BUF on a pipe, FIFO or socket, where
 * only such a write is atomic. Then the record is formatted again with fewer stack frames and says
 * how many it left out; one that still does not fit is dropped. The same for a JSON record longer
 * than its buffer (a text record keeps the lines that fit).
 */
int mg_record_write(struct mg_buf *b, bool json, mg_format_fn fmt, const void *facts,
		    mg_symbolize_fn sym, mg_write_fn write)
{
	static const int caps[] = { -1, 8, 4, 2, 1, 0 };
	int saved_cap = frame_cap;
	unsigned saved_out = frames_left_out;
	char *mem = b->p;
	size_t cap = b->cap;
	int r = -EMSGSIZE;
	for (size_t i = 0; i < sizeof caps / sizeof caps[0] && r == -EMSGSIZE; i++) {
		frame_cap = caps[i];
		frames_left_out = 0;
		mg_buf_init(b, mem, cap);
		fmt(b, json, facts, sym);
		if (frames_left_out && json && b->len >= 2 && b->p[b->len - 2] == '}') {
			b->len -= 2;
			mg_json_u64(b, "frames_left_out", frames_left_out);
			mg_buf_puts(b, "}\n");
		} else if (frames_left_out && !json) {
			mg_buf_puts(b, "mmapguard:   (");
			mg_buf_u64(b, frames_left_out);
			mg_buf_puts(b, " stack frames left out: the log is a pipe, and a record must fit "
				     "in one write to it)\n");
		}
		/* A JSON record cut short by its buffer would be a broken line: fewer frames, or none. */
		r = json && b->truncated ? -EMSGSIZE : write(b->p, b->len);
	}
	frame_cap = saved_cap;
	frames_left_out = saved_out;
	return r;
}

/* ---- JSON ----------------------------------------------------------------------------------- */

void mg_json_begin(struct mg_buf *b, const char *event, const char *action)
{
	mg_buf_puts(b, "{\"event\":");
	mg_buf_jstr(b, event);
	mg_json_str(b, "action", action);
}

void mg_json_key(struct mg_buf *b, const char *key)
{
	mg_buf_puts(b, ",\"");
	mg_buf_puts(b, key);
	mg_buf_puts(b, "\":");
}

void mg_json_str(struct mg_buf *b, const char *key, const char *v)
{
	mg_json_key(b, key);
	mg_buf_jstr(b, v);
}

void mg_json_u64(struct mg_buf *b, const char *key, uint64_t v)
{
	mg_json_key(b, key);
	mg_buf_u64(b, v);
}

void mg_json_i64(struct mg_buf *b, const char *key, int64_t v)
{
	mg_json_key(b, key);
	mg_buf_i64(b, v);
}

void mg_json_hex(struct mg_buf *b, const char *key, uint64_t v)
{
	mg_json_key(b, key);
	mg_buf_putc(b, '"');
	mg_buf_hex(b, v);
	mg_buf_putc(b, '"');
}

void mg_json_time(struct mg_buf *b, const char *key, const struct timespec *ts)
{
	mg_json_key(b, key);
	mg_buf_putc(b, '"');
	mg_buf_time(b, ts);
	mg_buf_putc(b, '"');
}

void mg_json_who(struct mg_buf *b, const struct mg_who *w)
{
	mg_json_i64(b, "pid", w->pid);
	mg_json_i64(b, "tid", w->tid);
	mg_json_str(b, "thread_name", w->thread_name);
	mg_json_time(b, "time", &w->time);
}

static void json_frames(struct mg_buf *b, const struct mg_stack *st, mg_symbolize_fn sym)
{
	mg_buf_putc(b, '[');
	uint32_t n = frames_shown(st);
	for (uint32_t i = 0; i < n; i++) {
		struct mg_sym s;
		sym(st->ip[i], i == 0 && st->pc_first, &s);
		if (i)
			mg_buf_putc(b, ',');
		mg_buf_puts(b, "{\"ip\":\"");
		mg_buf_hex(b, st->ip[i]);
		mg_buf_putc(b, '"');
		mg_json_str(b, "module", s.module);
		mg_json_hex(b, "module_offset", s.module_offset);
		mg_json_key(b, "symbol");
		if (s.symbol[0])
			mg_buf_jstr(b, s.symbol);
		else
			mg_buf_puts(b, "null");
		mg_buf_putc(b, '}');
	}
	mg_buf_putc(b, ']');
}

void mg_json_stack(struct mg_buf *b, const char *key, const struct mg_stack *st, mg_symbolize_fn sym)
{
	mg_json_key(b, key);
	json_frames(b, st, sym);
}

void mg_json_bool(struct mg_buf *b, const char *key, bool v)
{
	mg_json_key(b, key);
	mg_buf_puts(b, v ? "true" : "false");
}

void mg_json_process(struct mg_buf *b, pid_t pid, const char *comm, const char *exe)
{
	mg_buf_puts(b, "{\"pid\":");
	mg_buf_i64(b, pid);
	mg_json_str(b, "comm", comm);
	mg_json_str(b, "exe", exe);
}

void mg_json_range(struct mg_buf *b, uintptr_t start, uintptr_t end, uint64_t offset, int prot,
		   bool shared)
{
	mg_buf_puts(b, "{\"addr\":\"");
	mg_buf_hex(b, start);
	mg_buf_putc(b, '"');
	mg_json_u64(b, "length", end - start);
	mg_json_u64(b, "offset", offset);
	mg_json_key(b, "prot");
	mg_buf_putc(b, '"');
	mg_text_prot(b, prot);
	mg_buf_putc(b, '"');
	mg_json_bool(b, "shared", shared);
}

void mg_json_window(struct mg_buf *b, const struct mg_window *w, uint64_t pages_cut,
		    uint64_t pages_beyond, const char *path, mg_symbolize_fn sym)
{
	mg_json_range(b, w->start, w->end, w->offset, w->prot, w->shared);
	mg_json_u64(b, "pages_beyond_eof", pages_cut);
	mg_json_u64(b, "pages_beyond_eof_total", pages_beyond);
	mg_json_str(b, "path", path);
	pid_t made = mg_win_made_in(w, mg_self_pid());
	if (made)
		mg_json_i64(b, "mapped_in_pid", made);
	mg_json_i64(b, "tid", w->tid);
	mg_json_str(b, "thread_name", w->thread_name);
	mg_json_time(b, "time", &w->created);
	mg_json_stack(b, "backtrace", mg_win_stack(w), sym);
	mg_buf_putc(b, '}');
}

void mg_json_end(struct mg_buf *b) { mg_buf_puts(b, "}\n"); }

/* ---- text ----------------------------------------------------------------------------------- */

void mg_text_prot(struct mg_buf *b, int prot)
{
	if (prot == PROT_NONE) {
		mg_buf_puts(b, "PROT_NONE");
		return;
	}
	const char *sep = "";
	if (prot & PROT_READ) { mg_buf_puts(b, "PROT_READ"); sep = "|"; }
	if (prot & PROT_WRITE) { mg_buf_puts(b, sep); mg_buf_puts(b, "PROT_WRITE"); sep = "|"; }
	if (prot & PROT_EXEC) { mg_buf_puts(b, sep); mg_buf_puts(b, "PROT_EXEC"); }
}

void mg_text_range(struct mg_buf *b, uintptr_t start, uintptr_t end, uint64_t offset, int prot,
		   bool shared, bool length)
{
	mg_buf_hex(b, start);
	mg_buf_putc(b, '-');
	mg_buf_hex(b, end);
	mg_buf_puts(b, " (");
	if (length) {
		mg_buf_u64(b, end - start);
		mg_buf_puts(b, " bytes at ");
	}
	mg_buf_puts(b, "file offset ");
	mg_buf_u64(b, offset);
	mg_buf_puts(b, ", ");
	mg_text_prot(b, prot);
	mg_buf_puts(b, shared ? ", MAP_SHARED" : ", MAP_PRIVATE");
}

void mg_text_sizes(struct mg_buf *b, uint64_t before, bool has_after, uint64_t after)
{
	mg_buf_u64(b, before);
	if (has_after) {
		mg_buf_puts(b, " -> ");
		mg_buf_u64(b, after);
	}
	mg_buf_puts(b, " bytes");
}

void mg_text_who(struct mg_buf *b, pid_t tid, const char *name, pid_t pid, const struct timespec *when)
{
	mg_buf_i64(b, tid);
	mg_buf_puts(b, " \"");
	mg_buf_text(b, name);
	mg_buf_putc(b, '"');
	if (pid > 0) {
		mg_buf_puts(b, " of pid ");
		mg_buf_i64(b, pid);
	}
	mg_buf_puts(b, " at ");
	mg_buf_time(b, when);
	mg_buf_puts(b, ":\n");
}

void mg_text_stack(struct mg_buf *b, const struct mg_stack *st, mg_symbolize_fn sym, const char *indent)
{
	uint32_t n = frames_shown(st);
	if (st->n == 0) {
		mg_buf_puts(b, "mmapguard: ");
		mg_buf_puts(b, indent);
		mg_buf_puts(b, "(no stack: libunwind unavailable or captured before the guard loaded)\n");
	}
	for (uint32_t i = 0; i < n; i++) {
		struct mg_sym s;
		sym(st->ip[i], i == 0 && st->pc_first, &s);
		mg_buf_puts(b, "mmapguard: ");
		mg_buf_puts(b, indent);
		mg_buf_putc(b, '#');
		mg_buf_u64(b, i);
		mg_buf_puts(b, i < 10 ? "  " : " ");
		mg_buf_text(b, s.symbol[0] ? s.symbol : "??");
		if (s.module[0]) {
			mg_buf_puts(b, " (");
			mg_buf_text(b, s.module);
			mg_buf_putc(b, '+');
			mg_buf_hex(b, s.module_offset);
			mg_buf_puts(b, ") ");
		} else {
			mg_buf_puts(b, " " MG_TEXT_NO_OBJECT " ");     /* JIT code, a trampoline */
		}
		mg_buf_hex(b, st->ip[i]);
		mg_buf_putc(b, '\n');
	}
}

void mg_text_inherited(struct mg_buf *b, pid_t made, pid_t here, const char *indent)
{
	mg_buf_puts(b, "mmapguard: ");
	mg_buf_puts(b, indent);
	mg_buf_puts(b, "(pid ");
	mg_buf_i64(b, here);
	mg_buf_puts(b, " inherited the mapping through fork: it was made in pid ");
	mg_buf_i64(b, made);
	mg_buf_puts(b, ")\n");
}

void mg_text_maker(struct mg_buf *b, const struct mg_window *w, mg_symbolize_fn sym, const char *indent)
{
	pid_t here = mg_self_pid();
	pid_t made = mg_win_made_in(w, here);
	mg_text_who(b, w->tid, w->thread_name, made, &w->created);
	if (made)
		mg_text_inherited(b, made, here, indent);
	mg_text_stack(b, mg_win_stack(w), sym, indent);
}

void mg_text_thread(struct mg_buf *b, pid_t tid, const char *name, pid_t pid,
		    const struct timespec *when, const struct mg_stack *st, mg_symbolize_fn sym,
		    const char *indent)
{
	mg_text_who(b, tid, name, pid, when);
	mg_text_stack(b, st, sym, indent);
}

/* The lease records: lease_break (from the lease signal's handler), lease_unavailable, lease_signal. */
#define _GNU_SOURCE
#include "backtrace.h"
#include "config.h"
#include "fmt.h"
#include "lease_impl.h"
#include "procfile.h"
#include "real.h"
#include "registry.h"
#include "log.h"
#include "report.h"
#include "thread.h"

#include <errno.h>
#include <string.h>
#include <sys/syscall.h>

static void emit_simple(const char *event, const char *json_rest, const char *text);

/* ---- the record ------------------------------------------------------------------------------ */

static char rec[64u << 10];
static struct mg_window regw;

static void put_cmdline_json(struct mg_buf *b, const char *s)
{
	mg_buf_jstr(b, s);
}

void mg_lease_report_break(const struct mg_breaker *br, dev_t dev, ino_t ino, const char *path,
			   uint64_t size_before, const struct mg_lease_win *wins, size_t nwins,
			   size_t total, bool rescue_mode, size_t nrescued, uint64_t held_us,
			   const struct timespec *now)
{
	struct mg_buf b;
	mg_buf_init(&b, rec, sizeof rec);
	pid_t pid = (pid_t)MG_SYS0(SYS_getpid), tid = (pid_t)MG_SYS0(SYS_gettid);
	const char *action = nrescued ? "rescued" : "released";
	if (mg_cfg.format == MG_FORMAT_JSON) {
		mg_buf_puts(&b, "{\"event\":\"lease_break\",\"action\":\"");
		mg_buf_puts(&b, action);
		mg_buf_puts(&b, "\",\"path\":");
		mg_buf_jstr(&b, path);
		mg_buf_puts(&b, ",\"dev\":");
		mg_buf_u64(&b, (uint64_t)dev);
		mg_buf_puts(&b, ",\"ino\":");
		mg_buf_u64(&b, (uint64_t)ino);
		mg_buf_puts(&b, ",\"size_before\":");
		mg_buf_u64(&b, size_before);
		mg_buf_puts(&b, ",\"size_after\":");
		if (br->known_size)
			mg_buf_u64(&b, br->size_after);
		else
			mg_buf_puts(&b, "null");
		mg_buf_puts(&b, ",\"breaker\":");
		if (br->pid) {
			mg_buf_puts(&b, "{\"pid\":");
			mg_buf_i64(&b, br->pid);
			mg_buf_puts(&b, ",\"comm\":");
			mg_buf_jstr(&b, br->comm);
			mg_buf_puts(&b, ",\"exe\":");
			mg_buf_jstr(&b, br->exe);
			mg_buf_puts(&b, ",\"cmdline\":");
			put_cmdline_json(&b, br->cmdline);
			mg_buf_puts(&b, ",\"uid\":");
			if (br->has_uid)
				mg_buf_u64(&b, br->uid);
			else
				mg_buf_puts(&b, "null");
			mg_buf_puts(&b, ",\"syscall\":");
			if (br->has_syscall) {
				mg_buf_puts(&b, "{\"nr\":");
				mg_buf_i64(&b, br->nr);
				mg_buf_puts(&b, ",\"name\":");
				mg_buf_jstr(&b, br->call);
				mg_buf_puts(&b, ",\"args\":[");
				for (int i = 0; i < 6; i++) {
					if (i)
						mg_buf_putc(&b, ',');
					mg_buf_putc(&b, '"');
					mg_buf_hex(&b, br->args[i]);
					mg_buf_putc(&b, '"');
				}
				mg_buf_puts(&b, "],\"cuts\":");
				mg_buf_puts(&b, br->cuts ? "true" : "false");
				mg_buf_putc(&b, '}');
			} else {
				mg_buf_puts(&b, "null");
			}
			mg_buf_putc(&b, '}');
		} else {
			mg_buf_puts(&b, "null");
		}
		mg_buf_puts(&b, ",\"held_us\":");
		mg_buf_u64(&b, held_us);
		mg_buf_puts(&b, ",\"pid\":");
		mg_buf_i64(&b, pid);
		mg_buf_puts(&b, ",\"tid\":");
		mg_buf_i64(&b, tid);
		mg_buf_puts(&b, ",\"time\":\"");
		mg_buf_time(&b, now);
		mg_buf_puts(&b, "\",\"page_size\":");
		mg_buf_u64(&b, mg_page_size());
		mg_buf_puts(&b, ",\"mappings\":[");
		for (size_t i = 0; i < nwins; i++) {
			const struct mg_lease_win *w = &wins[i];
			if (i)
				mg_buf_putc(&b, ',');
			if (mg_reg_find_signal_safe(w->start, &regw) == MG_FIND_NONE) {
				memset(&regw, 0, sizeof regw);
				regw.dev = dev;
				regw.ino = ino;
			}
			regw.start = w->start;
			regw.end = w->end;
			regw.offset = w->offset;
			regw.prot = w->prot;
			regw.shared = w->shared;
			size_t page = mg_page_size();
			mg_json_window(&b, &regw, (w->cut_to - w->cut_from) / page, path,
					      mg_symbolize_signal_safe);
			/* the window object is closed: add the rescue outcome as a sibling field */
			b.len--;
			mg_buf_puts(&b, ",\"rescued\":");
			mg_buf_puts(&b, w->rescued ? "true" : "false");
			mg_buf_putc(&b, '}');
		}
		mg_buf_puts(&b, "],\"mappings_total\":");
		mg_buf_u64(&b, total);
		mg_buf_puts(&b, ",\"note\":");
		if (!br->pid)
			mg_buf_jstr(&b, "the breaker could not be named: a non-blocking open (coreutils truncate "
				   "uses one) fails with EAGAIN at once and is gone before the guard looks");
		else if (nrescued)
			mg_buf_jstr(&b, "the rescued windows now hold anonymous copies of the bytes they showed; "
				   "they no longer follow the file");
		else if (rescue_mode && !br->cuts)
			mg_buf_jstr(&b, "the breaker's call does not shrink the file: nothing to rescue");
		else
			mg_buf_jstr(&b, "the lease was released; the call goes ahead");
		mg_buf_puts(&b, "}\n");
	} else {
		mg_buf_puts(&b, "mmapguard: lease break: ");
		if (br->pid) {
			mg_buf_puts(&b, "pid ");
			mg_buf_i64(&b, br->pid);
			mg_buf_puts(&b, " \"");
			mg_buf_text(&b, br->comm);
			mg_buf_puts(&b, "\"");
			if (br->has_uid) {
				mg_buf_puts(&b, " (uid ");
				mg_buf_u64(&b, br->uid);
				mg_buf_puts(&b, ")");
			}
		} else {
			mg_buf_puts(&b, "a process that could not be named");
		}
		mg_buf_puts(&b, " opens for writing or truncates a memory-mapped file: ");
		mg_buf_text(&b, path);
		mg_buf_puts(&b, "\nmmapguard:   file ");
		mg_buf_dev_ino(&b, (uint64_t)dev, (uint64_t)ino);
		mg_buf_puts(&b, ", size ");
		mg_buf_u64(&b, size_before);
		if (br->known_size) {
			mg_buf_puts(&b, " -> ");
			mg_buf_u64(&b, br->size_after);
		}
		mg_buf_puts(&b, " bytes\n");
		if (br->pid) {
			mg_buf_puts(&b, "mmapguard:   command: ");
			mg_buf_text(&b, br->cmdline);
			if (br->exe[0]) {
				mg_buf_puts(&b, " (");
				mg_buf_text(&b, br->exe);
				mg_buf_puts(&b, ")");
			}
			mg_buf_puts(&b, "\nmmapguard:   system call: ");
			if (br->has_syscall) {
				mg_buf_puts(&b, br->call[0] ? br->call : "number ");
				if (!br->call[0])
					mg_buf_i64(&b, br->nr);
				mg_buf_puts(&b, br->cuts ? " (shrinks the file)" : " (does not shrink the file)");
			} else {
				mg_buf_puts(&b, "not readable (another user's process)");
			}
			mg_buf_putc(&b, '\n');
		}
		mg_buf_puts(&b, "mmapguard:   ");
		if (nrescued) {
			mg_buf_u64(&b, nrescued);
			mg_buf_puts(&b, " window(s) rescued: they now hold anonymous copies of their bytes and no "
				    "longer follow the file; ");
		}
		mg_buf_puts(&b, "lease released after ");
		mg_buf_u64(&b, held_us);
		mg_buf_puts(&b, " us\n");
		for (size_t i = 0; i < nwins; i++) {
			const struct mg_lease_win *w = &wins[i];
			mg_buf_puts(&b, "mmapguard:   endangered mapping ");
			mg_buf_u64(&b, i + 1);
			mg_buf_puts(&b, " of ");
			mg_buf_u64(&b, total);
			mg_buf_puts(&b, ": ");
			mg_buf_hex(&b, w->start);
			mg_buf_putc(&b, '-');
			mg_buf_hex(&b, w->end);
			mg_buf_puts(&b, " (file offset ");
			mg_buf_u64(&b, w->offset);
			mg_buf_puts(&b, ", ");
			mg_text_prot(&b, w->prot);
			mg_buf_puts(&b, w->shared ? ", MAP_SHARED)" : ", MAP_PRIVATE)");
			mg_buf_puts(&b, w->rescued ? " rescued\n" : "\n");
			if (mg_reg_find_signal_safe(w->start, &regw) != MG_FIND_NONE) {
				mg_buf_puts(&b, "mmapguard:     mapped by thread ");
				mg_text_thread(&b, regw.tid, regw.thread_name, 0, &regw.created,
						      &regw.stack, mg_symbolize_signal_safe, "      ");
			}
		}
	}
	if (b.truncated) {
		/* Too large for the buffer: the record must stay whole; say what it is without the stacks. */
		mg_buf_init(&b, rec, sizeof rec);
		mg_buf_puts(&b, mg_cfg.format == MG_FORMAT_JSON
			    ? "{\"event\":\"lease_break\",\"action\":\"" : "mmapguard: lease break (record too large), ");
		mg_buf_puts(&b, action);
		mg_buf_puts(&b, mg_cfg.format == MG_FORMAT_JSON ? "\",\"truncated\":true}\n" : "\n");
	}
	mg_log_write_signal(b.p, b.len);
}

void mg_lease_report_unavailable(dev_t dev, ino_t ino, const char *path, const char *reason, int err)
{
	char json[PATH_MAX * 2 + 512], text[PATH_MAX * 2 + 512];
	struct mg_buf j, t;
	mg_buf_init(&j, json, sizeof json);
	mg_buf_puts(&j, "\"path\":");
	mg_buf_jstr(&j, path);
	mg_buf_puts(&j, ",\"dev\":");
	mg_buf_u64(&j, (uint64_t)dev);
	mg_buf_puts(&j, ",\"ino\":");
	mg_buf_u64(&j, (uint64_t)ino);
	mg_buf_puts(&j, ",\"reason\":");
	mg_buf_jstr(&j, reason);
	mg_buf_puts(&j, ",\"errno\":");
	mg_buf_jstr(&j, err ? strerrorname_np(err) : "");
	mg_buf_init(&t, text, sizeof text);
	mg_buf_puts(&t, "mmapguard: no lease on ");
	mg_buf_text(&t, path);
	mg_buf_puts(&t, " (");
	mg_buf_dev_ino(&t, (uint64_t)dev, (uint64_t)ino);
	mg_buf_puts(&t, "): ");
	mg_buf_puts(&t, reason);
	mg_buf_puts(&t, "; another process can cut it unseen\n");
	emit_simple("lease_unavailable", json, text);
}

void mg_lease_report_signal(int from, int to)
{
	char json[256], text[256];
	struct mg_buf j, t;
	mg_buf_init(&j, json, sizeof json);
	mg_buf_puts(&j, "\"from\":");
	mg_buf_i64(&j, from);
	mg_buf_puts(&j, ",\"to\":");
	if (to > 0)
		mg_buf_i64(&j, to);
	else
		mg_buf_puts(&j, "null");
	mg_buf_puts(&j, ",\"reason\":\"the program installed a handler for the lease signal\"");
	mg_buf_init(&t, text, sizeof text);
	mg_buf_puts(&t, "mmapguard: the program uses signal ");
	mg_buf_i64(&t, from);
	if (to > 0) {
		mg_buf_puts(&t, ": leases now signal with ");
		mg_buf_i64(&t, to);
	} else {
		mg_buf_puts(&t, " and no other real-time signal is free: leases given up");
	}
	mg_buf_putc(&t, '\n');
	emit_simple("lease_signal", json, text);
}

/* ---- records from normal context ------------------------------------------------------------- */

static void emit_simple(const char *event, const char *json_rest, const char *text)
{
	static char buf[PATH_MAX * 2 + 1024];
	struct mg_buf b;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	mg_enter();
	mg_report_lock();
	mg_buf_init(&b, buf, sizeof buf);
	if (mg_cfg.format == MG_FORMAT_JSON) {
		mg_buf_puts(&b, "{\"event\":\"");
		mg_buf_puts(&b, event);
		mg_buf_puts(&b, "\",\"action\":\"reported\",\"pid\":");
		mg_buf_i64(&b, (int64_t)MG_SYS0(SYS_getpid));
		mg_buf_puts(&b, ",\"tid\":");
		mg_buf_i64(&b, mg_thread_tid());
		mg_buf_puts(&b, ",\"time\":\"");
		mg_buf_time(&b, &now);
		mg_buf_puts(&b, "\",");
		mg_buf_puts(&b, json_rest);
		mg_buf_puts(&b, "}\n");
	} else {
		mg_buf_puts(&b, text);
	}
	if (!b.truncated)
		mg_log_write(b.p, b.len);
	mg_report_unlock();
	mg_leave();
}

/* The suppressed record of an excused call, and the tally at exit (JSON only). */
#include "record.h"

void mg_format_suppressed(struct mg_buf *b, bool json, const void *facts, mg_symbolize_fn sym)
{
	const struct mg_suppressed *s = facts;
	const struct mg_event *e = s->e;
	if (!json)
		return;
	mg_buf_puts(b, "{\"event\":\"suppressed\"");
	mg_json_str(b, "kind", e->event);
	mg_json_event_call(b, e);
	mg_json_str(b, "rule", s->rule);
	mg_json_key(b, "rule_file");
	if (s->rule_file)
		mg_buf_jstr(b, s->rule_file);
	else
		mg_buf_puts(b, "null");
	mg_json_u64(b, "count", s->count);
	mg_json_hex(b, "site", s->site);
	mg_json_u64(b, "mappings_total", e->nwindows_total);
	mg_json_who(b, &e->who);
	mg_json_stack(b, "backtrace", &e->stack, sym);
	mg_json_end(b);
}

void mg_format_suppressed_tally(struct mg_buf *b, bool json, const void *facts, mg_symbolize_fn sym)
{
	const struct mg_suppressed_tally *t = facts;
	(void)sym;
	if (!json)
		return;
	mg_buf_puts(b, "{\"event\":\"suppressed\"");
	mg_json_hex(b, "site", t->site);
	mg_json_u64(b, "count", t->count);
	mg_json_key(b, "final");
	mg_buf_puts(b, "true");
	mg_json_i64(b, "pid", t->pid);
	mg_json_time(b, "time", &t->time);
	mg_json_end(b);
}

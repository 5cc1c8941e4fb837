/*
 * Suppression rules (shim/suppress_rules.c) without the preload: the shipped default list parses
 * without a malformed line and every rule has a comment saying why; path globs agree with
 * fnmatch(3); frame patterns ("...", "*", module, module:symbol, module+0xoffset) against
 * synthetic stacks; creators, events, reach; malformed lines and the memory limit.
 */
#include "suppress_rules.h"
#include "unit.h"

#include <fnmatch.h>

static char mem[1 << 20];
static int nerr;
static unsigned err_lines[16];

static void on_err(void *ctx, const char *file, unsigned line, const char *msg)
{
	(void)ctx;
	(void)file;
	(void)msg;
	if (nerr < 16)
		err_lines[nerr] = line;
	nerr++;
}

static struct mg_supp_set *parse(const char *text)
{
	static struct mg_supp_set s;
	mg_supp_init(&s, mem, sizeof mem);
	s.err = on_err;
	nerr = 0;
	mg_supp_parse(&s, "t.supp", text, strlen(text));
	return &s;
}

struct fake {
	size_t n;
	struct mg_frame_info f[8];
};

static const struct mg_frame_info *fake_frame(void *ctx, size_t i)
{
	return &((struct fake *)ctx)->f[i];
}

static struct mg_stack_src src(struct fake *f) { return (struct mg_stack_src){ f->n, fake_frame, f }; }

static struct fake sqlite_cut = { 3, {
	{ "/usr/lib/x86_64-linux-gnu/libsqlite3.so.0.8.6", 0xaaec5, "" },
	{ "/usr/lib/x86_64-linux-gnu/libsqlite3.so.0.8.6", 0xb1b85, "sqlite3PagerCommitPhaseTwo" },
	{ "/usr/bin/sqlite3", 0x200c4, "" } } };
static struct fake sqlite_map = { 2, {
	{ "/usr/lib/x86_64-linux-gnu/libsqlite3.so.0.8.6", 0xabd92, "" },
	{ "/usr/bin/sqlite3", 0x1000, "main" } } };
static struct fake app_cut = { 2, {
	{ "/usr/bin/app", 0x1234, "reload" }, { "/usr/bin/app", 0x2000, "main" } } };

static const struct mg_supp_rule *ask(struct mg_supp_set *s, unsigned ev, const char *path,
				      struct fake *cut, struct fake *win, bool other)
{
	struct mg_stack_src w = src(win);
	struct mg_supp_query q = { .event = ev, .path = path, .cutter = src(cut), .nwindows = 1,
				   .nwindows_total = 1, .windows = &w, .other_processes = other };
	return mg_supp_match(s, &q);
}

static void test_default_list(void)
{
	FILE *f = fopen(MG_SOURCE_DIR "/packaging/default.supp", "r");
	CHECK(f != NULL, "cannot open packaging/default.supp");
	static char text[1 << 16];
	size_t n = fread(text, 1, sizeof text - 1, f);
	fclose(f);
	text[n] = 0;
	struct mg_supp_set *s = parse(text);
	CHECK(nerr == 0, "default.supp has %d malformed line(s), first at line %u", nerr, err_lines[0]);
	CHECK(s->nrules >= 4, "default.supp has %u rules", s->nrules);
	/* every rule: a comment line right above it, and self reach */
	for (const struct mg_supp_rule *r = s->rules; r; r = r->next) {
		const char *p = text;
		for (unsigned l = 1; l + 1 < r->line; l++)
			p = strchr(p, '\n') + 1;
		CHECK(p[0] == '#', "rule %s (line %u) has no comment above it", r->name, r->line);
		CHECK(r->reach == MG_REACH_SELF, "default rule %s reaches other processes", r->name);
	}
	CHECK_STR(ask(s, MG_SUPP_TRUNCATE, "/x/db", &sqlite_cut, &sqlite_map, false)->name,
		  "sqlite-self-shrink");
	CHECK(!ask(s, MG_SUPP_TRUNCATE, "/x/db", &sqlite_cut, &sqlite_map, true),
	      "a cut endangering another process's window was suppressed");
	CHECK(!ask(s, MG_SUPP_TRUNCATE, "/x/db", &app_cut, &sqlite_map, false),
	      "another library's cut of a SQLite window was suppressed");
	CHECK(!ask(s, MG_SUPP_TRUNCATE, "/x/db", &sqlite_cut, &app_cut, false),
	      "SQLite cutting a window it did not map was suppressed");
	CHECK(!ask(s, MG_SUPP_REOPEN, "/x/db", &sqlite_cut, &sqlite_map, false),
	      "a reopen was suppressed by a truncate rule");
}

static void test_glob_like_fnmatch(void)
{
	static const char *pats[] = { "*", "a*", "*b", "a?c", "a[bc]d", "a[!bc]d", "a[^b]d", "a[b-d]e",
		"\\*x", "a\\?c", "a[]]b", "a[x", "*.db", "/tmp/*/x.*", "**a**", "a*b*c", "[a-c]*[0-9]",
		"x\\", "", "?", "a[!]]b", NULL };
	static const char *strs[] = { "", "a", "ab", "abc", "abd", "acd", "aed", "ace", "*x", "ax",
		"a?c", "a]b", "a[x", "f.db", "/tmp/q/x.1", "/tmp/q/r/x.1", "aXbYc", "b77", "x\\",
		"bba", "a!b", NULL };
	char text[256];
	for (int i = 0; pats[i]; i++) {
		snprintf(text, sizeof text, "suppress g\n  path %s\n", pats[i]);
		struct mg_supp_set *s = parse(text);
		if (!pats[i][0]) {
			CHECK(nerr == 1, "an empty path glob was accepted");
			continue;
		}
		for (int j = 0; strs[j]; j++) {
			mg_unit_context("pattern '%s' string '%s'", pats[i], strs[j]);
			bool want = fnmatch(pats[i], strs[j], 0) == 0;
			bool got = ask(s, MG_SUPP_TRUNCATE, strs[j], &app_cut, &app_cut, false) != NULL;
			CHECK(got == want, "glob says %d, fnmatch says %d", got, want);
		}
	}
	mg_unit_context("%s", "");
}

static void test_frames(void)
{
	static const struct { const char *cutter; bool want; } t[] = {
		{ "*/libsqlite3.so*", true },
		{ "*/libsqlite3.so* */libsqlite3.so*:sqlite3Pager*", true },
		{ "*/libsqlite3.so*:*", true },
		{ "*/libsqlite3.so*:?*", false },              /* frame 0 has no symbol */
		{ "* *:sqlite3PagerCommitPhaseTwo", true },
		{ "*:sqlite3PagerCommitPhaseTwo", false },     /* that is frame 1, not 0 */
		{ "... *:sqlite3PagerCommitPhaseTwo", true },
		{ "... /usr/bin/sqlite3", true },
		{ "... /usr/bin/sqlite3 *", false },            /* no frame below the last */
		{ "... /usr/bin/sqlite3 ...", true },
		{ "*/libsqlite3.so.0.8.6+0xaaec5", true },
		{ "*/libsqlite3.so.0.8.6+0xaaec6", false },
		{ "... ... */libsqlite3.so.0.8.6+0xb1b85 ...", true },
		{ "* * * ", true },
		{ "* * * *", false },
		{ "*/libc.so*", false },
	};
	char text[512];
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		snprintf(text, sizeof text, "suppress f\n  cutter %s\n", t[i].cutter);
		struct mg_supp_set *s = parse(text);
		mg_unit_context("cutter %s", t[i].cutter);
		CHECK(nerr == 0, "malformed");
		bool got = ask(s, MG_SUPP_TRUNCATE, "/x/db", &sqlite_cut, &sqlite_map, false) != NULL;
		CHECK(got == t[i].want, "matched %d, want %d", got, t[i].want);
	}
	mg_unit_context("%s", "");
}

static void test_creators_events_reach(void)
{
	struct mg_supp_set *s = parse("suppress c\n  events reopen\n  creator */app\n  creator *:main\n"
				      "  reach any\n");
	CHECK(nerr == 0, "malformed");
	CHECK(ask(s, MG_SUPP_REOPEN, "/x", &sqlite_cut, &app_cut, true) != NULL, "creator alternative 1");
	CHECK(ask(s, MG_SUPP_REOPEN, "/x", &sqlite_cut, &sqlite_map, true) == NULL, "sqlite map is no creator");
	CHECK(ask(s, MG_SUPP_TRUNCATE, "/x", &sqlite_cut, &app_cut, false) == NULL, "events reopen only");
	/* windows the record does not list are never excused by a creator rule */
	struct mg_stack_src w = src(&app_cut);
	struct mg_supp_query q = { .event = MG_SUPP_REOPEN, .path = "/x", .cutter = src(&app_cut),
				   .nwindows = 1, .nwindows_total = 9, .windows = &w };
	CHECK(mg_supp_match(s, &q) == NULL, "unlisted windows excused");
	q.nwindows = q.nwindows_total = 0;
	CHECK(mg_supp_match(s, &q) == NULL, "a creator rule excused a cut without windows here");
}

static void test_malformed(void)
{
	struct mg_supp_set *s = parse("path *\n"                  /* 1: outside a rule */
				      "suppress a b\n"            /* 2: two-word name */
				      "suppress ok1\n"
				      "  cutter */x\n"
				      "suppress bad\n"
				      "  events truncate,frob\n"  /* 6 */
				      "  cutter\n"                /* 7 */
				      "  cutter *:\n"             /* 8 */
				      "  reach\n"                 /* 9 */
				      "  path\n"                  /* 10 */
				      "  bogus 1\n"               /* 11 */
				      "suppress\n"                /* 12 */
				      "   # indented comment\n"
				      "suppress ok2 # trailing comment\n\tcutter\t*/y #*/z\n"
				      "  path /a#b  # the glob is /a#b\n");
	static const unsigned want[] = { 1, 2, 6, 7, 8, 9, 10, 11, 12 };
	CHECK(nerr == (int)(sizeof want / sizeof want[0]), "%d malformed lines", nerr);
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		CHECK_U64(err_lines[i], want[i], "malformed line %zu", i);
	unsigned good = 0;
	for (const struct mg_supp_rule *r = s->rules; r; r = r->next)
		good += !r->bad;
	CHECK_U64(good, 2, "whole rules");
	const struct mg_supp_rule *last = s->rules;
	while (last->next)
		last = last->next;
	CHECK_STR(last->name, "ok2");
	CHECK(last->cutter && last->cutter->n == 1, "a trailing comment was taken for frames");
	CHECK(last->npaths == 1 && strcmp(last->paths[0], "/a#b") == 0, "path '%s'", last->paths[0]);

	/* too little memory: -1, what was parsed stays usable */
	static char small[600];
	struct mg_supp_set t;
	mg_supp_init(&t, small, sizeof small);
	int r = mg_supp_parse(&t, "t.supp", "suppress a\n cutter */a\nsuppress b\n cutter */b */b */b */b"
			      " */b */b */b */b */b */b */b */b */b */b */b */b */b */b */b\n", 95 + 60);
	CHECK(r == -1, "parse into 600 bytes returned %d", r);
	CHECK(t.rules && !t.rules->bad && strcmp(t.rules->name, "a") == 0, "first rule lost");
}

int main(void)
{
	test_default_list();
	test_glob_like_fnmatch();
	test_frames();
	test_creators_events_reach();
	test_malformed();
	printf("unit_supp_rules: ok\n");
	return 0;
}

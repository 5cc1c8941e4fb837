/*
 * libFuzzer target: the MMAPGUARD_* value parsers of shim/config.c (mg_parse_*).
 *
 * The input, cut at its first NUL, is given to every parser. Besides ASan/UBSan's checks, each
 * result is compared with an oracle written here from the documented accepted values:
 *   - a parser accepts exactly the documented spellings (case-insensitive), nothing else, and
 *     then stores the documented value;
 *   - a parser that refuses leaves its output untouched.
 * Any disagreement aborts (a crash for libFuzzer, with the input saved as an artifact).
 */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SENTINEL 0x5a5a5a5a

static void fail(const char *what, const char *s)
{
	fprintf(stderr, "fuzz_config: %s (input \"", what);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		fprintf(stderr, (*p >= 0x20 && *p < 0x7f && *p != '"') ? "%c" : "\\x%02x", *p);
	fprintf(stderr, "\")\n");
	abort();
}

struct spelling {
	const char *name;
	int value;
};

/* Which documented spelling is s (case-insensitive)? */
static const struct spelling *oracle(const struct spelling *t, const char *s)
{
	for (; t->name; t++)
		if (strcasecmp(t->name, s) == 0)
			return t;
	return NULL;
}

static void check_int(const char *what, int (*parse)(const char *, int *),
		      const struct spelling *accepted, const char *s)
{
	int out = SENTINEL;
	int r = parse(s, &out);
	const struct spelling *want = oracle(accepted, s);
	if (r != 0 && r != -1)
		fail("parser returned neither 0 nor -1", s);
	if (want && r != 0) {
		fprintf(stderr, "%s: ", what);
		fail("a documented value was refused", s);
	}
	if (!want && r == 0) {
		fprintf(stderr, "%s: ", what);
		fail("an undocumented value was accepted", s);
	}
	if (want && out != want->value) {
		fprintf(stderr, "%s: ", what);
		fail("accepted value stored the wrong setting", s);
	}
	if (!want && out != SENTINEL) {
		fprintf(stderr, "%s: ", what);
		fail("a refused value changed the output", s);
	}
}

static const struct spelling modes[] = {
	{ "log", MG_MODE_LOG }, { "block", MG_MODE_BLOCK }, { "off", MG_MODE_OFF }, { 0, 0 } };
static const struct spelling reopens[] = {
	{ "trunc", MG_REOPEN_TRUNC }, { "write", MG_REOPEN_WRITE }, { "any", MG_REOPEN_ANY }, { 0, 0 } };
static const struct spelling formats[] = {
	{ "text", MG_FORMAT_TEXT }, { "json", MG_FORMAT_JSON }, { 0, 0 } };
static const struct spelling errnos[] = {
	{ "ETXTBSY", ETXTBSY }, { "EBUSY", EBUSY }, { "EPERM", EPERM }, { "EACCES", EACCES },
	{ "EAGAIN", EAGAIN }, { "EINVAL", EINVAL }, { "EROFS", EROFS }, { 0, 0 } };
/* MMAPGUARD_CREATION_STACKS / MMAPGUARD_SIGBUS: 1/0 and the usual words */
static const struct spelling bools[] = {
	{ "1", 1 }, { "yes", 1 }, { "on", 1 }, { "true", 1 },
	{ "0", 0 }, { "no", 0 }, { "off", 0 }, { "false", 0 }, { 0, 0 } };

static void check_bool(const char *s)
{
	for (int init = 0; init < 2; init++) {
		bool out = init;
		int r = mg_parse_bool(s, &out);
		const struct spelling *want = oracle(bools, s);
		if ((r == 0) != (want != NULL))
			fail(want ? "bool: documented value refused" : "bool: undocumented value accepted", s);
		if (want && out != (want->value != 0))
			fail("bool: wrong value", s);
		if (!want && out != (bool)init)
			fail("bool: a refused value changed the output", s);
	}
}

#ifdef MG_FUZZ_HAVE_MAP_WARN
/* MMAPGUARD_MAP_WARN: "N%" (1..100) or a positive count N; digits only, no sign or blanks. */
static void check_map_warn(const char *s)
{
	int pct = SENTINEL;
	long abs = SENTINEL;
	int r = mg_parse_map_warn(s, &pct, &abs);
	size_t nd = strspn(s, "0123456789");
	int want_ok = 0, want_pct = 0;
	long want_abs = 0;
	if (nd > 0) {
		long v = 0;     /* saturating: any value above 10^9 is refused anyway */
		for (size_t i = 0; i < nd; i++)
			v = v > 2000000000L ? v : v * 10 + (s[i] - '0');
		if (strcmp(s + nd, "%") == 0 && v >= 1 && v <= 100) {
			want_ok = 1;
			want_pct = (int)v;
		} else if (s[nd] == 0 && v > 0 && v <= 1000000000L) {
			want_ok = 1;
			want_abs = v;
		}
	}
	if ((r == 0) != want_ok)
		fail(want_ok ? "map_warn: valid value refused" : "map_warn: invalid value accepted", s);
	if (want_ok && (pct != want_pct || abs != want_abs))
		fail("map_warn: wrong value", s);
	if (!want_ok && (pct != SENTINEL || abs != SENTINEL))
		fail("map_warn: a refused value changed the output", s);
}
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = 0;            /* the parsers see a C string: up to the first NUL */
	check_int("mode", mg_parse_mode, modes, s);
	check_int("reopen", mg_parse_reopen, reopens, s);
	check_int("format", mg_parse_format, formats, s);
	check_int("errno", mg_parse_errno, errnos, s);
	check_bool(s);
#ifdef MG_FUZZ_HAVE_MAP_WARN
	check_map_warn(s);
#endif
	free(s);
	return 0;
}

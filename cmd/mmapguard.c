/*
 * mmapguard: run a program under the guard, or summarize the guard's JSON Lines logs.
 *
 *   mmapguard [--mode log|block|off] [--reopen trunc|write|any] [--scope process|guarded|all]
 *             [--leases off|watch|rescue] [--sigbus 1|0|survive] [--log FILE] [--json]
 *             [--suppressions FILE] [--] PROGRAM [ARGS...]
 *   mmapguard report [--json] [--no-symbols] [--suppressed | --suppressions] FILE...
 *   mmapguard explain CORE [--exe PROGRAM] [--json]
 *   mmapguard who [--json] [--no-symbols] FILE...
 *
 * See mmapguard(1) (packaging/mmapguard.1).
 */
#define _GNU_SOURCE
#include "explain.h"
#include "run.h"
#include "summary.h"
#include "suppress_gen.h"
#include "suppressed.h"
#include "who.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifndef MG_VERSION
#define MG_VERSION "unknown"
#endif

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: mmapguard [OPTIONS] [--] PROGRAM [ARGS...]\n"
		"       mmapguard report [--json] [--no-symbols] [--suppressed | --suppressions] FILE...\n"
		"       mmapguard explain CORE [--exe PROGRAM] [--json]\n"
		"       mmapguard who [--json] [--no-symbols] FILE...\n"
		"\n"
		"Run PROGRAM with the mmapguard library preloaded: every call that would truncate a file\n"
		"under a live memory mapping (the cause of SIGBUS) is reported, or refused.\n"
		"\n"
		"Options:\n"
		"  --mode log|block|off       report and let the call proceed (default), report and refuse\n"
		"                             it, or do nothing (MMAPGUARD_MODE)\n"
		"  --reopen trunc|write|any   which opens of a mapped file are reported (MMAPGUARD_REOPEN)\n"
		"  --scope process|guarded|all  which processes a cut is checked against: this one,\n"
		"                             also the guarded ones, also every readable one (default)\n"
		"                             (MMAPGUARD_SCOPE)\n"
		"  --leases off|watch|rescue  hold a read lease on each mapped file: name a process that\n"
		"                             is not guarded when it cuts one (watch), and first copy the\n"
		"                             pages it would cut (rescue) (MMAPGUARD_LEASES)\n"
		"  --sigbus 1|0|survive       report a SIGBUS in a mapped file, then die as without the\n"
		"                             guard (1, default); no handler (0); zero pages past the end\n"
		"                             of file and go on (survive) (MMAPGUARD_SIGBUS)\n"
		"  --log FILE                 write the reports to FILE (%%p: the pid) instead of stderr\n"
		"  --json                     reports in JSON Lines instead of text\n"
		"  --suppressions FILE        suppression rules (repeatable; MMAPGUARD_SUPPRESSIONS);\n"
		"                             MMAPGUARD_DEFAULT_SUPPRESSIONS=0 turns the default list off\n"
		"  -h, --help                 this help\n"
		"  -V, --version              the version\n"
		"\n"
		"Without --log the reports are shown on stderr as the program runs and kept in a private\n"
		"directory /tmp/mmapguard.XXXXXX (one JSON file per process) for `mmapguard report`.\n"
		"At the end one line counts what was reported. The exit status is the program's\n"
		"(128+N when it was killed by signal N); 127: program not found, 126: not executable,\n"
		"125: mmapguard itself failed.\n"
		"\n"
		"report: summarize JSON Lines logs (several processes, '-' for stdin): violations grouped\n"
		"by file and by calling stack with counts, times, pids, the actions taken and the\n"
		"endangered mappings with their creation stacks; other events grouped by kind.\n"
		"  --json        the summary as one JSON document\n"
		"  --no-symbols  do not read debug information (show the records' own symbols)\n"
		"  --suppressed  list the calls a suppression excused, by rule and call site\n"
		"  --suppressions  print a suppression rule for each reported call site\n"
		"\n"
		"explain: explain a SIGBUS core dump (see `mmapguard explain --help`).\n"
		"\n"
		"who: every process that maps FILE (from /proc; root sees all users), its windows, the\n"
		"least file size that keeps them backed, and for guarded processes the creation stack\n"
		"and the lease coverage (MMAPGUARD_LEASES: off, held, unavailable and why, released).\n"
		"Exit status 0: nobody maps any FILE; 1: someone does; 2: an error.\n");
}

static int check_choice(const char *opt, const char *v, const char *const *accepted)
{
	for (size_t i = 0; accepted[i]; i++)
		if (strcasecmp(v, accepted[i]) == 0)
			return 0;
	fprintf(stderr, "mmapguard: %s %s is not accepted (accepted:", opt, v);
	for (size_t i = 0; accepted[i]; i++)
		fprintf(stderr, "%s %s", i ? "," : "", accepted[i]);
	fprintf(stderr, ")\nTry 'mmapguard --help'.\n");
	return -1;
}

/* report --suppressions: rules on stdout. */
static int generate_rules(int n, char **files)
{
	struct supp_gen *g = supp_gen_new();
	int rc = 0;
	for (int i = 0; i < n; i++) {
		int r = supp_gen_add_file(g, files[i]);
		if (r < 0) {
			fprintf(stderr, "mmapguard report: %s: %s\n", files[i], strerror(-r));
			rc = 1;
		}
	}
	if (supp_gen_print(g, stdout) == 0)
		fprintf(stderr, "mmapguard report: no violation in the log(s): no rule to write\n");
	supp_gen_free(g);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "mmapguard report: writing the rules: %s\n", strerror(errno));
		return 1;
	}
	return rc;
}

static int report_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "no-symbols", no_argument, NULL, 'n' },
		{ "suppressed", no_argument, NULL, 's' },
		{ "suppressions", no_argument, NULL, 'g' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool json = false, symbols = true, list_suppressed = false, gen = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j': json = true; break;
		case 'n': symbols = false; break;
		case 's': list_suppressed = true; break;
		case 'g': gen = true; break;
		case 'h': usage(stdout); return 0;
		default:
			fprintf(stderr, "Try 'mmapguard --help'.\n");
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "mmapguard report: no log file given\nTry 'mmapguard --help'.\n");
		return 2;
	}
	if (gen && list_suppressed) {
		fprintf(stderr, "mmapguard report: --suppressed and --suppressions do not go together\n");
		return 2;
	}
	if (gen)
		return generate_rules(argc - optind, argv + optind);
	struct summary *s = summary_new();
	int rc = 0;
	for (int i = optind; i < argc; i++) {
		struct summary_counts before, after;
		summary_get_counts(s, &before);
		int r = summary_add_file(s, argv[i]);
		summary_get_counts(s, &after);
		if (r < 0) {
			fprintf(stderr, "mmapguard report: %s: %s\n", argv[i], strerror(-r));
			rc = 1;
		} else if (after.records == before.records && after.malformed > before.malformed) {
			/* a text log (the default of MMAPGUARD_LOG), or not a log at all */
			fprintf(stderr, "mmapguard report: %s is not a JSON log: this command reads the JSON "
				"Lines logs written with --json (MMAPGUARD_LOG_FORMAT=json), or the private "
				"logs of `mmapguard PROGRAM`\n", argv[i]);
			rc = 1;
		}
	}
	struct summary_counts counts;
	summary_get_counts(s, &counts);
	if (list_suppressed && json)
		suppressed_print_json(summary_suppressed(s), stdout);
	else if (list_suppressed)
		suppressed_print_text(summary_suppressed(s), stdout);
	else if (json)
		summary_print_json(s, stdout, symbols);
	else
		summary_print_text(s, stdout, symbols);
	if (!list_suppressed && !json && counts.suppressed)
		printf("\n%lu suppressed %s (mmapguard report --suppressed lists them)\n", counts.suppressed,
		       counts.suppressed == 1 ? "call" : "calls");
	if (counts.malformed)
		fprintf(stderr, "mmapguard report: note: %lu malformed line(s) skipped\n", counts.malformed);
	summary_free(s);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "mmapguard report: writing the summary: %s\n", strerror(errno));
		return 1;
	}
	return rc;
}

/* --suppressions FILE: readable now (the guard reads it in the program), joined with ':'. */
static int add_suppressions(char **list, const char *file)
{
	if (!file[0] || strchr(file, ':')) {
		fprintf(stderr, "mmapguard: --suppressions needs a file name without ':'\n");
		return -1;
	}
	char abs[PATH_MAX];
	if (!realpath(file, abs) || access(abs, R_OK) != 0) {
		fprintf(stderr, "mmapguard: --suppressions %s: %s\n", file, strerror(errno));
		return -1;
	}
	size_t old = *list ? strlen(*list) : 0;
	char *v = realloc(*list, old + strlen(abs) + 2);
	if (!v) {
		fprintf(stderr, "mmapguard: out of memory\n");
		return -1;
	}
	if (old)
		v[old++] = ':';
	strcpy(v + old, abs);
	*list = v;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "report") == 0)
		return report_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "explain") == 0)
		return explain_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "who") == 0)
		return who_main(argc - 1, argv + 1);

	static const struct option longopts[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "reopen", required_argument, NULL, 'r' },
		{ "scope", required_argument, NULL, 'S' },
		{ "leases", required_argument, NULL, 'L' },
		{ "sigbus", required_argument, NULL, 'B' },
		{ "log", required_argument, NULL, 'l' },
		{ "json", no_argument, NULL, 'j' },
		{ "suppressions", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const modes[] = { "log", "block", "off", NULL };
	static const char *const reopens[] = { "trunc", "write", "any", NULL };
	static const char *const scopes[] = { "process", "guarded", "all", NULL };
	static const char *const leases[] = { "off", "watch", "rescue", NULL };
	static const char *const sigbus[] = { "1", "0", "survive", NULL };
	struct run_options o = { 0 };
	/* The options that take one of a few words: checked alike, passed on as given. */
	const struct {
		int c;
		const char *name;
		const char *const *accepted;
		const char **dest;
	} choices[] = {
		{ 'm', "--mode", modes, &o.mode },
		{ 'r', "--reopen", reopens, &o.reopen },
		{ 'S', "--scope", scopes, &o.scope },
		{ 'L', "--leases", leases, &o.leases },
		{ 'B', "--sigbus", sigbus, &o.sigbus },
	};
	char *supp = NULL;
	int c;
	/* '+': options end at PROGRAM, whose own options are left alone. */
	while ((c = getopt_long(argc, argv, "+hV", longopts, NULL)) != -1) {
		size_t k = 0;
		while (k < sizeof choices / sizeof choices[0] && choices[k].c != c)
			k++;
		if (k < sizeof choices / sizeof choices[0]) {
			if (check_choice(choices[k].name, optarg, choices[k].accepted) < 0)
				return 125;
			*choices[k].dest = optarg;
			continue;
		}
		switch (c) {
		case 'l':
			if (!optarg[0]) {
				fprintf(stderr, "mmapguard: --log needs a file name\n");
				return 125;
			}
			o.log = optarg;
			break;
		case 'j':
			o.json = true;
			break;
		case 's':
			if (add_suppressions(&supp, optarg) < 0)
				return 125;
			o.suppressions = supp;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("mmapguard %s\n", MG_VERSION);
			return 0;
		default:
			fprintf(stderr, "Try 'mmapguard --help'.\n");
			return 125;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "mmapguard: no program given\nTry 'mmapguard --help'.\n");
		return 125;
	}
	o.argv = argv + optind;
	return run_program(&o);
}

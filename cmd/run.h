/* Running a program under the guard. */
#ifndef MGC_RUN_H
#define MGC_RUN_H

#include <stdbool.h>

struct run_options {
	const char *mode;               /* NULL: leave MMAPGUARD_MODE as it is */
	const char *reopen;             /* NULL: leave MMAPGUARD_REOPEN as it is */
	const char *scope;              /* NULL: leave MMAPGUARD_SCOPE as it is */
	const char *leases;             /* NULL: leave MMAPGUARD_LEASES as it is */
	const char *sigbus;             /* NULL: leave MMAPGUARD_SIGBUS as it is */
	const char *log;                /* NULL: private JSON logs, echoed as text on stderr */
	bool json;
	const char *suppressions;       /* --suppressions files joined with ':', NULL if none */
	char **argv;                    /* PROGRAM ARGS..., NULL-terminated */
};

/* Returns the exit status for mmapguard: the program's, 128+signal, or 125-127 for errors. */
int run_program(const struct run_options *o);

#endif

/* mmapguard who [--json] FILE...: every process that maps the files, from /proc and the index. */
#ifndef MGC_WHO_H
#define MGC_WHO_H

#include <stdbool.h>

/* Exit status: 0 nobody maps any of the files, 1 someone does, 2 an error. */
int who_main(int argc, char **argv);

#endif

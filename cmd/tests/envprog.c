/*
 * envprog: prints what the program sees: LD_PRELOAD, the MMAPGUARD_* variables, whether the guard
 * and the test marker library are loaded (dlsym), and the guard's mode through the header helper.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include "mmapguard.h"

static void show(const char *name)
{
	const char *v = getenv(name);
	printf("%s=%s\n", name, v ? v : "(unset)");
}

int main(void)
{
	show("LD_PRELOAD");
	show("MMAPGUARD_MODE");
	show("MMAPGUARD_REOPEN");
	show("MMAPGUARD_SCOPE");
	show("MMAPGUARD_LEASES");
	show("MMAPGUARD_SIGBUS");
	show("MMAPGUARD_LOG");
	show("MMAPGUARD_LOG_FORMAT");
	printf("guard_loaded=%d\n", dlsym(RTLD_DEFAULT, "mmapguard_get_mode") != NULL);
	printf("marker_loaded=%d\n", dlsym(RTLD_DEFAULT, "mgc_marker_value") != NULL);
	printf("mode=%d\n", mmapguard_mode_if_loaded());
	return 0;
}

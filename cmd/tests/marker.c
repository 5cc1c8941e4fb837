/* A library for the LD_PRELOAD chaining test: proves it was loaded alongside the guard. */
#include <stdio.h>
#include <unistd.h>

int mgc_marker_value(void) { return 42; }

__attribute__((constructor)) static void hello(void)
{
	static const char msg[] = "mgc-marker: loaded\n";
	if (write(2, msg, sizeof msg - 1) < 0) {
		/* nothing to do */
	}
}

/* exitprog code N | exitprog signal N: exit with N, or die from signal N (no core file). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: exitprog code|signal N\n");
		return 100;
	}
	int n = atoi(argv[2]);
	if (strcmp(argv[1], "code") == 0)
		return n;
	struct rlimit no_core = { 0, 0 };
	setrlimit(RLIMIT_CORE, &no_core);
	signal(n, SIG_DFL);
	raise(n);
	fprintf(stderr, "exitprog: signal %d did not kill me\n", n);
	return 101;
}

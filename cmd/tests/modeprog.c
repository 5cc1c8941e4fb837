/* The installed-package test program: prints the guard's mode as the header's helper sees it. */
#include <stdio.h>
#include <mmapguard.h>

int main(void)
{
	printf("mode=%d\n", mmapguard_mode_if_loaded());
	return 0;
}

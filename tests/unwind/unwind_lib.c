/*
 * Loaded, used and closed by unwind_prog: built twice, with frames of different sizes
 * (UNWIND_LIB_PAD) and otherwise the same code at the same addresses, so that a rule kept from
 * one at an address is wrong for the other.
 */
static volatile unsigned long sink;

/* Each function writes its own return address into ra[] (the caller's, ra[0], is fn's). */
__attribute__((noinline)) static void lib_mid(void (*fn)(void), void **ra)
{
	volatile char pad[UNWIND_LIB_PAD];
	pad[0] = (char)sink;
	ra[1] = __builtin_return_address(0);
	fn();
	sink += (unsigned long)pad[0];
}

__attribute__((noinline)) static void lib_outer(void (*fn)(void), void **ra)
{
	ra[2] = __builtin_return_address(0);
	lib_mid(fn, ra);
	sink++;
}

void unwind_lib_run(void (*fn)(void), void **ra)
{
	ra[3] = __builtin_return_address(0);
	lib_outer(fn, ra);
	sink--;
}

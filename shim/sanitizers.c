/*
 * What the guard tells a sanitizer runtime that is loaded after it.
 *
 * AddressSanitizer refuses to start unless its runtime is the first object in the list of loaded
 * libraries; under LD_PRELOAD the guard comes first in every program the user starts, so each
 * ASan-built descendant (the test binaries of a `make check`) would die before main. ASan reads
 * its defaults from __asan_default_options, looked up like any symbol: the executable's own wins,
 * then the preloaded libraries', then the runtime's empty one. This one turns that check off and
 * nothing else; ASAN_OPTIONS still overrides it. A program that is not built with ASan never calls
 * it. Called before the guard's constructor: it touches nothing.
 */
#include "guard.h"

MG_EXPORT const char *__asan_default_options(void);

MG_EXPORT const char *__asan_default_options(void)
{
	return "verify_asan_link_order=0";
}

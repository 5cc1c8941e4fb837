/*
 * A tiny harness for the unit tests: CHECK macros that print what differed and exit(1) on the
 * first failure, a context line (seed, step, operation) printed with every failure, and a
 * self-check that a sanitizer variant really was built with its sanitizer.
 */
#ifndef MG_UNIT_H
#define MG_UNIT_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The CMake variants pass MG_UNIT_EXPECT_ASAN / MG_UNIT_EXPECT_TSAN: refuse to pass silently
 * without the sanitizer they are named after. */
#if defined(MG_UNIT_EXPECT_ASAN) && !defined(__SANITIZE_ADDRESS__)
#error "the _asan variant is being built without -fsanitize=address"
#endif
#if defined(MG_UNIT_EXPECT_TSAN) && !defined(__SANITIZE_THREAD__)
#error "the _tsan variant is being built without -fsanitize=thread"
#endif

/* What the test was doing (seed, step, operation): printed with any failure. */
static char mg_unit_ctx[1024];

static inline void mg_unit_context(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void mg_unit_context(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(mg_unit_ctx, sizeof mg_unit_ctx, fmt, ap);
	va_end(ap);
}

static inline void mg_unit_fail(const char *file, int line, const char *what, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 4, 5)));
static inline void mg_unit_fail(const char *file, int line, const char *what, const char *fmt, ...)
{
	fflush(stdout);
	fprintf(stderr, "%s:%d: FAILED: %s\n", file, line, what);
	if (fmt[0] && fmt[1]) {   /* the macros prefix the message with one space */
		va_list ap;
		va_start(ap, fmt);
		fputs(" ", stderr);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		va_end(ap);
	}
	if (mg_unit_ctx[0])
		fprintf(stderr, "  context: %s\n", mg_unit_ctx);
	fflush(stderr);
	exit(1);
}

/* CHECK(cond) or CHECK(cond, "format", args...) */
#define CHECK(cond, ...) \
	do { \
		if (!(cond)) \
			mg_unit_fail(__FILE__, __LINE__, #cond, " " __VA_ARGS__); \
	} while (0)

#define CHECK_U64(actual, expected, ...) \
	do { \
		uint64_t a_ = (uint64_t)(actual), e_ = (uint64_t)(expected); \
		if (a_ != e_) { \
			char m_[256]; \
			snprintf(m_, sizeof m_, " " __VA_ARGS__); \
			mg_unit_fail(__FILE__, __LINE__, #actual " == " #expected, \
				     "got %" PRIu64 " (0x%" PRIx64 "), expected %" PRIu64 " (0x%" PRIx64 ")%s", \
				     a_, a_, e_, e_, m_); \
		} \
	} while (0)

#define CHECK_STR(actual, expected, ...) \
	do { \
		const char *a_ = (actual), *e_ = (expected); \
		if (strcmp(a_, e_) != 0) { \
			char m_[256]; \
			snprintf(m_, sizeof m_, " " __VA_ARGS__); \
			mg_unit_fail(__FILE__, __LINE__, #actual " == " #expected, \
				     "got \"%s\", expected \"%s\"%s", a_, e_, m_); \
		} \
	} while (0)

static inline const char *mg_unit_sanitizers(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return "address,undefined";
#elif defined(__SANITIZE_THREAD__)
	return "thread";
#else
	return "none";
#endif
}

#define RUN(fn) \
	do { \
		mg_unit_ctx[0] = 0; \
		fn(); \
		printf("ok   %s\n", #fn); \
		fflush(stdout); \
	} while (0)

/* xorshift64*: reproducible from the printed seed. */
static uint64_t mg_rng_state = 1;
static inline void mg_rng_seed(uint64_t s) { mg_rng_state = s ? s : 0x9e3779b97f4a7c15ull; }
static inline uint64_t mg_rng(void)
{
	uint64_t x = mg_rng_state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	mg_rng_state = x;
	return x * 0x2545f4914f6cdd1dull;
}
/* Uniform in [0, n), n > 0 */
static inline uint64_t mg_rng_below(uint64_t n) { return mg_rng() % n; }

/* The seed: MG_UNIT_SEED from the environment, else a fixed default (CTest runs are reproducible). */
static inline uint64_t mg_unit_seed(uint64_t dflt)
{
	const char *s = getenv("MG_UNIT_SEED");
	return s && *s ? strtoull(s, NULL, 0) : dflt;
}

#endif

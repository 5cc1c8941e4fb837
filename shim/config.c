#define _GNU_SOURCE
#include "config.h"
#include "fmt.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include "real.h"

struct mg_config mg_cfg = {
	.mode = MG_MODE_LOG,
	.reopen = MG_REOPEN_TRUNC,
	.format = MG_FORMAT_TEXT,
	.block_errno = ETXTBSY,
	.creation_stacks = true,
	.sigbus = true,
	.map_warn_pct = 90,
	.default_suppressions = true,
	.scope = MG_SCOPE_ALL,
	.scan_ms = 100,
	.scan_reuse_ms = 250,
};
int mg_cfg_ready;

struct mg_name { const char *name; int value; };

static int lookup(const struct mg_name *t, const char *s, int *out)
{
	for (; t->name; t++)
		if (strcasecmp(t->name, s) == 0) {
			*out = t->value;
			return 0;
		}
	return -1;
}

int mg_parse_mode(const char *s, int *out)
{
	static const struct mg_name t[] = {
		{ "log", MG_MODE_LOG }, { "block", MG_MODE_BLOCK }, { "off", MG_MODE_OFF }, { 0, 0 } };
	return lookup(t, s, out);
}

int mg_parse_unwind(const char *s, int *out)
{
	static const struct mg_name t[] = {
		{ "cfi", MG_UNWIND_CFI }, { "libunwind", MG_UNWIND_LIBUNWIND }, { "check", MG_UNWIND_CHECK },
		{ 0, 0 } };
	return lookup(t, s, out);
}

int mg_parse_reopen(const char *s, int *out)
{
	static const struct mg_name t[] = {
		{ "trunc", MG_REOPEN_TRUNC }, { "write", MG_REOPEN_WRITE }, { "any", MG_REOPEN_ANY }, { 0, 0 } };
	return lookup(t, s, out);
}

int mg_parse_format(const char *s, int *out)
{
	static const struct mg_name t[] = { { "text", MG_FORMAT_TEXT }, { "json", MG_FORMAT_JSON }, { 0, 0 } };
	return lookup(t, s, out);
}

int mg_parse_scope(const char *s, int *out)
{
	static const struct mg_name t[] = {
		{ "process", MG_SCOPE_PROCESS }, { "guarded", MG_SCOPE_GUARDED }, { "all", MG_SCOPE_ALL },
		{ 0, 0 } };
	return lookup(t, s, out);
}

/* Errors that make sense for "this file may not be cut now". */
int mg_parse_errno(const char *s, int *out)
{
	static const struct mg_name t[] = {
		{ "ETXTBSY", ETXTBSY }, { "EBUSY", EBUSY }, { "EPERM", EPERM }, { "EACCES", EACCES },
		{ "EAGAIN", EAGAIN }, { "EINVAL", EINVAL }, { "EROFS", EROFS }, { 0, 0 } };
	return lookup(t, s, out);
}

int mg_parse_bool(const char *s, bool *out)
{
	static const struct mg_name t[] = {
		{ "1", 1 }, { "yes", 1 }, { "on", 1 }, { "true", 1 },
		{ "0", 0 }, { "no", 0 }, { "off", 0 }, { "false", 0 }, { 0, 0 } };
	int v;
	if (lookup(t, s, &v) < 0)
		return -1;
	*out = v;
	return 0;
}

int mg_parse_map_warn(const char *s, int *pct, long *abs)
{
	long v = 0;
	const char *p = s;
	if (*p < '0' || *p > '9')
		return -1;
	while (*p >= '0' && *p <= '9') {
		v = v * 10 + (*p++ - '0');
		if (v > 1000000000L)
			return -1;
	}
	if (*p == '%' && p[1] == 0 && v >= 1 && v <= 100) {
		*pct = (int)v;
		*abs = 0;
		return 0;
	}
	if (*p == 0 && v > 0) {
		*pct = 0;
		*abs = v;
		return 0;
	}
	return -1;
}

int mg_parse_leases(const char *s, int *out)
{
	if (strcasecmp(s, "off") == 0 || strcmp(s, "0") == 0)
		*out = MG_LEASES_OFF;
	else if (strcasecmp(s, "watch") == 0)
		*out = MG_LEASES_WATCH;
	else if (strcasecmp(s, "rescue") == 0)
		*out = MG_LEASES_RESCUE;
	else
		return -1;
	return 0;
}

static int parse_uint(const char *s, int *out)
{
	int v = 0;
	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > 1000)
			return -1;
		v = v * 10 + (*s - '0');
	}
	*out = v;
	return 0;
}

int mg_parse_signal(const char *s, int *out)
{
	int n = 0, v;
	if (strncasecmp(s, "SIG", 3) == 0)
		s += 3;
	if (strncasecmp(s, "RTMIN", 5) == 0) {
		s += 5;
		if (*s == '+' && parse_uint(s + 1, &n) < 0)
			return -1;
		if (*s && *s != '+')
			return -1;
		v = SIGRTMIN + n;
	} else if (strncasecmp(s, "RTMAX", 5) == 0) {
		s += 5;
		if (*s == '-' && parse_uint(s + 1, &n) < 0)
			return -1;
		if (*s && *s != '-')
			return -1;
		v = SIGRTMAX - n;
	} else if (parse_uint(s, &v) < 0) {
		return -1;
	}
	if (v < SIGRTMIN || v > SIGRTMAX)
		return -1;
	*out = v;
	return 0;
}

extern char **environ;

/*
 * A program's preinit_array functions run before libc sets environ; a wrapper called from one must
 * still honour MMAPGUARD_*: read the initial environment from /proc/self/environ then.
 */
static const char *early_getenv(const char *name)
{
	static char env[32768];
	static long len = -1;
	if (len < 0) {
		long fd = MG_SYS4(SYS_openat, AT_FDCWD, "/proc/self/environ", O_RDONLY | O_CLOEXEC, 0);
		len = 0;
		if (fd >= 0) {
			long r;
			while (len < (long)sizeof env - 1 &&
			       (r = MG_SYS3(SYS_read, fd, env + len, sizeof env - 1 - (size_t)len)) > 0)
				len += r;
			MG_SYS1(SYS_close, fd);
		}
		env[len] = 0;
	}
	size_t n = strlen(name);
	for (long i = 0; i < len; i += (long)strlen(env + i) + 1)
		if (strncmp(env + i, name, n) == 0 && env[i + (long)n] == '=')
			return env + i + n + 1;
	return NULL;
}

static const char *config_getenv(const char *name)
{
	if (environ)
		return secure_getenv(name);
	return getauxval(AT_SECURE) ? NULL : early_getenv(name);
}

static void complain(const char *var, const char *value, const char *accepted, const char *dflt)
{
	struct mg_buf b;
	char text[512];
	mg_buf_init(&b, text, sizeof text);
	mg_buf_puts(&b, "mmapguard: ");
	mg_buf_puts(&b, var);
	mg_buf_puts(&b, "=");
	mg_buf_puts(&b, value);
	mg_buf_puts(&b, " is not accepted (accepted: ");
	mg_buf_puts(&b, accepted);
	mg_buf_puts(&b, "); using ");
	mg_buf_puts(&b, dflt);
	mg_buf_puts(&b, "\n");
	mg_write_all(2, b.p, b.len);
}

/* A number of milliseconds, 0 to 60000. */
static void parse_ms(const char *name, const char *accepted, const char *dflt, int *out)
{
	const char *v = config_getenv(name);
	if (!v || !*v)
		return;
	int ms = 0;
	const char *p = v;
	while (*p >= '0' && *p <= '9' && ms < 100000)
		ms = ms * 10 + (*p++ - '0');
	if (*p || p == v || ms > 60000)
		complain(name, v, accepted, dflt);
	else
		*out = ms;
}

static void parse_int_var(const char *var, int (*parse)(const char *, int *), int *dst,
			  const char *accepted, const char *dflt)
{
	const char *v = config_getenv(var);
	if (v && *v && parse(v, dst) < 0)
		complain(var, v, accepted, dflt);
}

void mg_config_load(void)
{
	static int loading;
	/* Single loader; concurrent first calls wait briefly (no allocation, no lock). */
	if (__atomic_exchange_n(&loading, 1, __ATOMIC_ACQ_REL)) {
		while (!__atomic_load_n(&mg_cfg_ready, __ATOMIC_ACQUIRE))
			__builtin_ia32_pause();
		return;
	}
	mg_cfg.secure = getauxval(AT_SECURE) != 0;
	parse_int_var("MMAPGUARD_MODE", mg_parse_mode, &mg_cfg.mode, "log, block, off", "log");
	parse_int_var("MMAPGUARD_REOPEN", mg_parse_reopen, &mg_cfg.reopen, "trunc, write, any", "trunc");
	parse_int_var("MMAPGUARD_LOG_FORMAT", mg_parse_format, &mg_cfg.format, "text, json", "text");
	parse_int_var("MMAPGUARD_ERRNO", mg_parse_errno, &mg_cfg.block_errno,
		      "ETXTBSY, EBUSY, EPERM, EACCES, EAGAIN, EINVAL, EROFS", "ETXTBSY");
	const char *v = config_getenv("MMAPGUARD_CREATION_STACKS");
	if (v && *v && mg_parse_bool(v, &mg_cfg.creation_stacks) < 0)
		complain("MMAPGUARD_CREATION_STACKS", v, "1, 0", "1");
	parse_int_var("MMAPGUARD_UNWIND", mg_parse_unwind, &mg_cfg.unwind, "cfi, libunwind, check", "cfi");
	v = config_getenv("MMAPGUARD_SIGBUS");
	if (v && *v && strcasecmp(v, "survive") == 0)
		mg_cfg.sigbus = mg_cfg.sigbus_survive = true;
	else if (v && *v && mg_parse_bool(v, &mg_cfg.sigbus) < 0)
		complain("MMAPGUARD_SIGBUS", v, "1, 0, survive", "1");
	v = config_getenv("MMAPGUARD_MAP_WARN");
	if (v && *v && mg_parse_map_warn(v, &mg_cfg.map_warn_pct, &mg_cfg.map_warn_abs) < 0)
		complain("MMAPGUARD_MAP_WARN", v, "a percentage of vm.max_map_count like 90%, or a VMA count",
			 "90%");
	v = config_getenv("MMAPGUARD_MUNMAP_ENOMEM");
	if (v && *v) {
		if (strcasecmp(v, "release") == 0)
			mg_cfg.munmap_release = true;
		else if (strcasecmp(v, "fail") != 0)
			complain("MMAPGUARD_MUNMAP_ENOMEM", v, "fail, release", "fail");
	}
	v = config_getenv("MMAPGUARD_SUPPRESS");
	if (v && *v) {
		if (strlen(v) < sizeof mg_cfg.suppress)
			memcpy(mg_cfg.suppress, v, strlen(v) + 1);
		else
			complain("MMAPGUARD_SUPPRESS", "(too long)", "at most 4095 bytes of globs", "none");
	}
	parse_int_var("MMAPGUARD_LEASES", mg_parse_leases, &mg_cfg.leases, "off, watch, rescue", "off");
	parse_int_var("MMAPGUARD_LEASE_SIGNAL", mg_parse_signal, &mg_cfg.lease_signal,
		      "a real-time signal: a number, RTMIN+n or RTMAX-n", "RTMAX-4");
	v = config_getenv("MMAPGUARD_SUPPRESSIONS");
	if (v && *v) {
		if (strlen(v) < sizeof mg_cfg.suppressions)
			memcpy(mg_cfg.suppressions, v, strlen(v) + 1);
		else
			complain("MMAPGUARD_SUPPRESSIONS", "(too long)", "at most 4095 bytes of file names", "none");
	}
	v = config_getenv("MMAPGUARD_DEFAULT_SUPPRESSIONS");
	if (v && *v && mg_parse_bool(v, &mg_cfg.default_suppressions) < 0)
		complain("MMAPGUARD_DEFAULT_SUPPRESSIONS", v, "1, 0", "1");
	parse_int_var("MMAPGUARD_SCOPE", mg_parse_scope, &mg_cfg.scope, "process, guarded, all", "all");
	parse_ms("MMAPGUARD_SCAN_MS", "milliseconds, 0 to 60000", "100", &mg_cfg.scan_ms);
	parse_ms("MMAPGUARD_SCAN_REUSE_MS", "milliseconds, 0 (never) to 60000", "250",
		 &mg_cfg.scan_reuse_ms);
	v = config_getenv("MMAPGUARD_INDEX_DIR");
	if (v && *v) {
		if (v[0] == '/' && strlen(v) < sizeof mg_cfg.index_dir - 64)
			memcpy(mg_cfg.index_dir, v, strlen(v) + 1);
		else
			complain("MMAPGUARD_INDEX_DIR", v, "an absolute path", "/dev/shm/mmapguard-UID");
	}
	v = config_getenv("MMAPGUARD_LOG");
	if (v && *v && !mg_cfg.secure) {
		/* A relative path names a file in the directory the program started in, wherever
		 * the program has moved by its first report. */
		size_t cwd = 0;
		if (v[0] != '/') {
			long n = MG_SYS2(SYS_getcwd, mg_cfg.log_path, sizeof mg_cfg.log_path);
			if (n > 0) {
				cwd = strlen(mg_cfg.log_path);
				mg_cfg.log_path[cwd++] = '/';
			}
		}
		if (cwd + strlen(v) < sizeof mg_cfg.log_path) {
			memcpy(mg_cfg.log_path + cwd, v, strlen(v) + 1);
		} else {
			mg_cfg.log_path[0] = 0;
			complain("MMAPGUARD_LOG", "(too long)", "a path shorter than PATH_MAX", "stderr");
		}
	}
	__atomic_store_n(&mg_cfg_ready, 1, __ATOMIC_RELEASE);
}

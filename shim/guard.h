/* Per-thread recursion guard: anything the shim calls goes straight to libc. */
#ifndef MG_GUARD_H
#define MG_GUARD_H

#define MG_HIDDEN __attribute__((visibility("hidden")))
#define MG_EXPORT __attribute__((visibility("default")))
#define MG_TLS    __thread __attribute__((tls_model("initial-exec")))
#define mg_likely(x)   __builtin_expect(!!(x), 1)
#define mg_unlikely(x) __builtin_expect(!!(x), 0)

extern MG_TLS int mg_depth MG_HIDDEN;

static inline int mg_inside(void) { return mg_depth != 0; }
static inline void mg_enter(void) { mg_depth++; __atomic_signal_fence(__ATOMIC_SEQ_CST); }
static inline void mg_leave(void) { __atomic_signal_fence(__ATOMIC_SEQ_CST); mg_depth--; }

#endif

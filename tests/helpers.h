/* Shared fixtures for the Criterion suites: scripted futures, a trace of
 * polls, and invariant checks after every operation. */
#ifndef VRT_TEST_HELPERS_H
#define VRT_TEST_HELPERS_H

#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vrt.h"

/* Asserts every runtime invariant (vrt_runtime_check) holds. */
#define CHECK(rt)                                                            \
    do {                                                                     \
        int64_t check_rc_ = vrt_runtime_check(rt);                           \
        cr_assert_eq(check_rc_, 0, "invariant broken: code %lld",            \
                     (long long)check_rc_);                                  \
    } while (0)

/* 1 when the suite runs under valgrind (make valgrind-tests sets
 * VRT_UNDER_VALGRIND=1): CPU-time limits are meaningless there, as valgrind
 * itself costs the CPU; only those assertions look at it. */
static inline int under_valgrind(void)
{
    const char *v = getenv("VRT_UNDER_VALGRIND");
    return v != NULL && strcmp(v, "1") == 0;
}

/* Asserts an invalid JoinHandle and the errno that came with it. */
#define ASSERT_INVALID_HANDLE(h, err)                                        \
    do {                                                                     \
        cr_assert_eq((h).task_id, -1);                                       \
        cr_assert_null((h).task_ptr);                                        \
        cr_assert_eq(errno, (err), "errno %d, expected %d", errno, (err));   \
    } while (0)

#define ASSERT_FAILS(expr, err)                                              \
    do {                                                                     \
        errno = 0;                                                           \
        int64_t fails_rc_ = (expr);                                          \
        cr_assert_eq(fails_rc_, -1, "%s returned %lld", #expr,              \
                     (long long)fails_rc_);                                  \
        cr_assert_eq(errno, (err), "%s: errno %d, expected %d", #expr,       \
                     errno, (err));                                          \
    } while (0)

/* ---- trace of polls ---- */

#define TRACE_MAX 100000
static int trace_buf[TRACE_MAX];
static int trace_len;

static inline void trace_push(int label)
{
    cr_assert_lt(trace_len, TRACE_MAX, "trace overflow");
    trace_buf[trace_len++] = label;
}

static inline void assert_trace(const int *expected, int n)
{
    cr_assert_eq(trace_len, n, "trace has %d entries, expected %d", trace_len, n);
    for (int i = 0; i < n; i++)
        cr_assert_eq(trace_buf[i], expected[i], "trace[%d] = %d, expected %d",
                     i, trace_buf[i], expected[i]);
}

/* ---- scripted futures ---- */

typedef struct script script_t;
typedef void (*script_hook)(script_t *s);

/* Returns `pending` (Pending by default) `pending_left` times, then
 * Ready(value); pending_left < 0 means Pending forever.  The hook runs at
 * every poll before the result is chosen. */
struct script {
    int label;
    int pending_left;
    int32_t value;
    int64_t pending;
    int polls;
    vrt_runtime_t *rt;
    script_hook hook;
    void *user;
};

static inline int64_t script_poll(int64_t future_ptr)
{
    script_t *s = (script_t *)(intptr_t)future_ptr;
    s->polls++;
    trace_push(s->label);
    if (s->rt != NULL)
        CHECK(s->rt);
    if (s->hook != NULL)
        s->hook(s);
    if (s->pending_left != 0) {
        if (s->pending_left > 0)
            s->pending_left--;
        return s->pending;
    }
    return vrt_poll_ready(s->value);
}

static inline script_t script(vrt_runtime_t *rt, int label, int pending_left,
                              int32_t value)
{
    script_t s;
    memset(&s, 0, sizeof s);
    s.label = label;
    s.pending_left = pending_left;
    s.value = value;
    s.rt = rt;
    return s;
}

static inline int64_t fut(script_t *s)
{
    return (int64_t)(intptr_t)s;
}

/* Spawns and checks the invariants; asserts success. */
static inline vrt_join_handle_t spawn_ok(vrt_runtime_t *rt, script_t *s)
{
    vrt_join_handle_t h = vrt_runtime_spawn(rt, fut(s), script_poll);
    cr_assert_not_null(h.task_ptr, "spawn failed: errno %d", errno);
    CHECK(rt);
    return h;
}

static inline void run_ok(vrt_runtime_t *rt)
{
    cr_assert_eq(vrt_runtime_run(rt), 0, "run failed: errno %d", errno);
    CHECK(rt);
}

#endif

/*
 * Allocation failures for the gcov build of vrt-oracle (coverage/coverage.mk
 * links it with -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc): with
 * VRT_ORACLE_FAIL_ALLOC=N in the environment the Nth call of the three
 * fails with ENOMEM and says so on stderr, so that coverage/oracle_errors.py
 * can run the oracle's out-of-memory paths.  Without it nothing changes.
 * Allocations made inside libc (open_memstream, stdio buffers) are not
 * wrapped: --wrap only redirects the calls of the objects linked here.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

void *__real_malloc(size_t size);
void *__real_calloc(size_t count, size_t size);
void *__real_realloc(void *block, size_t size);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t count, size_t size);
void *__wrap_realloc(void *block, size_t size);

static long fail_at = -1, calls;

/* At exit gcov writes its data with malloc: those calls must succeed. */
static void disarm(void)
{
    fail_at = 0;
}

/* 1 if this call is the one to fail (and then errno is ENOMEM). */
static int fail_this_call(void)
{
    if (fail_at < 0) {
        const char *text = getenv("VRT_ORACLE_FAIL_ALLOC");
        fail_at = text != NULL ? atol(text) : 0;
        atexit(disarm); /* glibc keeps the first handlers without allocating */
    }
    if (fail_at <= 0 || ++calls != fail_at)
        return 0;
    static const char msg[] = "oracle-alloc-fail: allocation failed\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    errno = ENOMEM;
    return 1;
}

void *__wrap_malloc(size_t size)
{
    return fail_this_call() ? NULL : __real_malloc(size);
}

void *__wrap_calloc(size_t count, size_t size)
{
    return fail_this_call() ? NULL : __real_calloc(count, size);
}

void *__wrap_realloc(void *block, size_t size)
{
    return fail_this_call() ? NULL : __real_realloc(block, size);
}

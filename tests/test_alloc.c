/* Allocation: injected failures leave the runtime unchanged, memory goes
 * back to the allocator that gave it, and warm runtimes allocate nothing. */
#include "helpers.h"

struct counting {
    long allocs;
    long releases;
    long fail_at; /* fail the allocation with this 1-based number; 0: never */
};

static void *counting_alloc(void *ctx, size_t size)
{
    struct counting *c = ctx;
    if (c->fail_at != 0 && c->allocs + 1 == c->fail_at)
        return NULL;
    c->allocs++;
    return malloc(size);
}

static void counting_release(void *ctx, void *block)
{
    struct counting *c = ctx;
    c->releases++;
    free(block);
}

static struct counting counter;

static void use_counter(long fail_at)
{
    memset(&counter, 0, sizeof counter);
    counter.fail_at = fail_at;
    vrt_allocator_t a = {counting_alloc, counting_release, &counter};
    cr_assert_eq(vrt_set_allocator(&a), 0);
}

/* rows: set_allocator, Allocator */
Test(alloc, set_allocator_rejects_null_functions)
{
    vrt_allocator_t no_alloc = {NULL, counting_release, NULL};
    vrt_allocator_t no_release = {counting_alloc, NULL, NULL};
    ASSERT_FAILS(vrt_set_allocator(&no_alloc), EINVAL);
    ASSERT_FAILS(vrt_set_allocator(&no_release), EINVAL);
    cr_assert_eq(vrt_set_allocator(NULL), 0);
}

/* rows: set_allocator, Runtime::spawn */
Test(alloc, first_spawn_failure_is_enomem_and_unchanged)
{
    use_counter(1);
    vrt_runtime_t rt = vrt_runtime_new();
    vrt_runtime_t before = rt;
    script_t s = script(&rt, 1, 0, 0);
    errno = 0;
    vrt_join_handle_t h = vrt_runtime_spawn(&rt, fut(&s), script_poll);
    ASSERT_INVALID_HANDLE(h, ENOMEM);
    cr_assert_eq(memcmp(&before, &rt, sizeof rt), 0);
    CHECK(&rt);
    cr_assert_eq(counter.allocs, 0);
    vrt_set_allocator(NULL);
}

/* rows: set_allocator, Runtime::spawn, Runtime::free */
Test(alloc, failure_when_the_pool_grows_is_enomem_and_unchanged)
{
    use_counter(2);
    vrt_runtime_t rt = vrt_runtime_new();
    static script_t s[65];
    for (int i = 0; i < 64; i++) {
        s[i] = script(NULL, i, 0, i);
        spawn_ok(&rt, &s[i]);
    }
    vrt_runtime_t before = rt;
    s[64] = script(NULL, 64, 0, 64);
    errno = 0;
    vrt_join_handle_t h = vrt_runtime_spawn(&rt, fut(&s[64]), script_poll);
    ASSERT_INVALID_HANDLE(h, ENOMEM);
    cr_assert_eq(memcmp(&before, &rt, sizeof rt), 0);
    CHECK(&rt);
    counter.fail_at = 0;
    h = spawn_ok(&rt, &s[64]);
    cr_assert_eq(h.task_id, 64);
    run_ok(&rt);
    cr_assert_eq(vrt_runtime_free(&rt), 0);
    cr_assert_eq(counter.allocs, 2);
    cr_assert_eq(counter.releases, 2);
    vrt_set_allocator(NULL);
}

/* rows: set_allocator, Allocator, Runtime::free */
Test(alloc, every_allocation_is_given_back)
{
    use_counter(0);
    vrt_runtime_t rt = vrt_runtime_new();
    cr_assert_eq(vrt_runtime_set_max_tasks(&rt, 1000), 0);
    static script_t s[1000];
    for (int i = 0; i < 1000; i++) {
        s[i] = script(NULL, i, i % 4, i);
        spawn_ok(&rt, &s[i]);
    }
    run_ok(&rt);
    cr_assert_gt(counter.allocs, 0);
    cr_assert_eq(vrt_runtime_free(&rt), 0);
    cr_assert_eq(counter.releases, counter.allocs);
    vrt_set_allocator(NULL);
}

/* rows: set_allocator, Allocator, Runtime.allocator */
Test(alloc, runtime_keeps_the_allocator_it_captured)
{
    use_counter(0);
    vrt_runtime_t rt = vrt_runtime_new();
    script_t a = script(&rt, 1, 0, 0);
    spawn_ok(&rt, &a);
    cr_assert_eq(counter.allocs, 1);
    cr_assert_eq(vrt_set_allocator(NULL), 0); /* later runtimes use libc */
    cr_assert_eq(vrt_runtime_free(&rt), 0);
    cr_assert_eq(counter.releases, 1, "freed through the allocator that gave it");
}

/* rows: set_allocator, JoinHandle::release */
Test(alloc, warm_runtime_allocates_nothing)
{
    use_counter(0);
    vrt_runtime_t rt = vrt_runtime_new();
    static script_t s[200];
    for (int round = 0; round < 50; round++) {
        vrt_join_handle_t h[200];
        for (int i = 0; i < 200; i++) {
            s[i] = script(NULL, i, i % 2, i);
            h[i] = spawn_ok(&rt, &s[i]);
        }
        run_ok(&rt);
        for (int i = 0; i < 200; i++)
            cr_assert_eq(vrt_join_handle_release(&h[i]), 0);
        CHECK(&rt);
        if (round == 0)
            cr_assert_eq(counter.allocs, 4, "200 nodes take 4 slabs of 64");
    }
    cr_assert_eq(counter.allocs, 4, "no allocation after warm-up");
    vrt_runtime_free(&rt);
    vrt_set_allocator(NULL);
}

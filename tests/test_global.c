/* The global functions: runtime_init, get_runtime, spawn, block_on,
 * run_all, and the shutdown extension. */
#include "helpers.h"

/* rows: runtime_init, get_runtime */
Test(global, runtime_init_is_idempotent)
{
    vrt_runtime_t *a = vrt_runtime_init();
    vrt_runtime_t *b = vrt_runtime_init();
    cr_assert_not_null(a);
    cr_assert_eq(a, b);
    cr_assert_eq(vrt_get_runtime(), a);
    CHECK(a);
}

/* rows: get_runtime, runtime_init */
Test(global, get_runtime_initialises_lazily)
{
    vrt_runtime_t *rt = vrt_get_runtime();
    cr_assert_not_null(rt);
    cr_assert_eq(rt->task_count, 0);
    cr_assert_eq(rt, vrt_runtime_init());
}

/* rows: spawn, run_all, shutdown */
Test(global, spawn_and_run_all)
{
    vrt_runtime_t *rt = vrt_get_runtime();
    script_t a = script(rt, 1, 1, 10), b = script(rt, 2, 0, 20);
    vrt_join_handle_t ha = vrt_spawn(fut(&a), script_poll);
    vrt_join_handle_t hb = vrt_spawn(fut(&b), script_poll);
    CHECK(rt);
    cr_assert_eq(ha.task_id, 0);
    cr_assert_eq(hb.task_id, 1);
    cr_assert_eq(rt->task_count, 2);
    cr_assert_eq(vrt_run_all(), 0);
    CHECK(rt);
    cr_assert_eq(vrt_join_handle_result(&ha), 10);
    cr_assert_eq(vrt_join_handle_result(&hb), 20);
    cr_assert_eq(vrt_shutdown(), 0);
}

/* rows: spawn, block_on */
Test(global, spawn_errors_delegate)
{
    errno = 0;
    vrt_join_handle_t h = vrt_spawn(0, NULL);
    ASSERT_INVALID_HANDLE(h, EINVAL);
    ASSERT_FAILS(vrt_block_on(0, NULL), EINVAL);
}

/* rows: block_on, spawn */
Test(global, block_on_drives_spawned_tasks)
{
    vrt_runtime_t *rt = vrt_get_runtime();
    script_t t = script(rt, 1, 1, 0), f = script(rt, 2, 2, -3);
    vrt_spawn(fut(&t), script_poll);
    cr_assert_eq(vrt_block_on(fut(&f), script_poll), -3);
    const int expected[] = {2, 1, 2, 1, 2};
    assert_trace(expected, 5);
    cr_assert_eq(vrt_shutdown(), 0);
}

static void shutdown_inside(script_t *s)
{
    ASSERT_FAILS(vrt_shutdown(), EBUSY);
    ASSERT_FAILS(vrt_run_all(), EBUSY);
    CHECK(s->rt);
}

/* rows: shutdown, run_all, block_on */
Test(global, shutdown_starts_clean_and_refuses_inside_a_poll)
{
    vrt_runtime_t *rt = vrt_get_runtime();
    script_t a = script(rt, 1, 0, 0), forever = script(rt, 2, -1, 0);
    a.hook = shutdown_inside;
    vrt_spawn(fut(&a), script_poll);
    vrt_spawn(fut(&forever), script_poll);
    script_t f = script(rt, 3, 1, 0);
    cr_assert_eq(vrt_block_on(fut(&f), script_poll), 0);
    cr_assert_eq(rt->task_count, 1);
    cr_assert_eq(vrt_shutdown(), 0);
    cr_assert_eq(vrt_shutdown(), 0, "twice is a no-op");
    rt = vrt_get_runtime();
    cr_assert_eq(rt->task_count, 0);
    cr_assert_eq(rt->next_task_id, 0);
    cr_assert_null(rt->head);
    CHECK(rt);
}

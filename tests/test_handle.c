/* TaskNode and JoinHandle: accessors, release, stale detection, abort. */
#include "helpers.h"

/* rows: TaskNode::new, TaskNode, TASK_PENDING */
Test(task_node, new_sets_fields)
{
    vrt_task_node_t n = vrt_task_node_new(7, 1234, script_poll);
    cr_assert_eq(n.id, 7);
    cr_assert_eq(n.future_ptr, 1234);
    cr_assert_eq(n.poll_fn, script_poll);
    cr_assert_eq(n.status, VRT_TASK_PENDING);
    cr_assert_eq(n.result, 0);
    cr_assert_null(n.next);
}

/* rows: TaskNode::is_completed, TaskNode::is_pending, TASK_PENDING,
 *       TASK_RUNNING, TASK_COMPLETED, TASK_CANCELLED */
Test(task_node, is_completed_and_is_pending)
{
    vrt_task_node_t n = vrt_task_node_new(0, 0, script_poll);
    cr_assert_eq(vrt_task_node_is_pending(&n), 1);
    cr_assert_eq(vrt_task_node_is_completed(&n), 0);
    n.status = VRT_TASK_RUNNING;
    cr_assert_eq(vrt_task_node_is_pending(&n), 0);
    n.status = VRT_TASK_COMPLETED;
    cr_assert_eq(vrt_task_node_is_completed(&n), 1);
    n.status = VRT_TASK_CANCELLED;
    cr_assert_eq(vrt_task_node_is_completed(&n), 0);
    ASSERT_FAILS(vrt_task_node_is_pending(NULL), EINVAL);
    ASSERT_FAILS(vrt_task_node_is_completed(NULL), EINVAL);
}

/* rows: JoinHandle::new, JoinHandle */
Test(join_handle, new_stores_fields)
{
    vrt_task_node_t n = vrt_task_node_new(3, 0, script_poll);
    vrt_join_handle_t h = vrt_join_handle_new(3, &n);
    cr_assert_eq(h.task_id, 3);
    cr_assert_eq(h.task_ptr, &n);
}

/* rows: JoinHandle::is_valid, JoinHandle::status, JoinHandle::result,
 *       TASK_PENDING, TASK_COMPLETED */
Test(join_handle, status_follows_the_task)
{
    vrt_runtime_t rt = vrt_runtime_new();
    script_t s = script(&rt, 1, 1, 4);
    vrt_join_handle_t h = spawn_ok(&rt, &s);
    cr_assert_eq(vrt_join_handle_is_valid(&h), 1);
    cr_assert_eq(vrt_join_handle_status(&h), VRT_TASK_PENDING);
    ASSERT_FAILS(vrt_join_handle_result(&h), EINPROGRESS);
    run_ok(&rt);
    cr_assert_eq(vrt_join_handle_status(&h), VRT_TASK_COMPLETED);
    cr_assert_eq(vrt_join_handle_result(&h), 4);
    vrt_runtime_free(&rt);
}

/* rows: JoinHandle::is_valid, JoinHandle::status, JoinHandle::result,
 *       JoinHandle::abort, JoinHandle::release */
Test(join_handle, bad_handles_einval)
{
    vrt_join_handle_t invalid = {-1, NULL};
    cr_assert_eq(vrt_join_handle_is_valid(NULL), 0);
    cr_assert_eq(vrt_join_handle_is_valid(&invalid), 0);
    ASSERT_FAILS(vrt_join_handle_status(NULL), EINVAL);
    ASSERT_FAILS(vrt_join_handle_status(&invalid), EINVAL);
    ASSERT_FAILS(vrt_join_handle_result(NULL), EINVAL);
    ASSERT_FAILS(vrt_join_handle_result(&invalid), EINVAL);
    ASSERT_FAILS(vrt_join_handle_abort(NULL), EINVAL);
    ASSERT_FAILS(vrt_join_handle_abort(&invalid), EINVAL);
    ASSERT_FAILS(vrt_join_handle_release(NULL), EINVAL);
    ASSERT_FAILS(vrt_join_handle_release(&invalid), EINVAL);

    vrt_runtime_t rt = vrt_runtime_new();
    script_t s = script(&rt, 1, 0, 0);
    vrt_join_handle_t h = spawn_ok(&rt, &s);
    vrt_join_handle_t wrong_id = {h.task_id + 1, h.task_ptr};
    ASSERT_FAILS(vrt_join_handle_status(&wrong_id), EINVAL);
    vrt_join_handle_t negative = {-3, h.task_ptr};
    ASSERT_FAILS(vrt_join_handle_status(&negative), EINVAL);
    CHECK(&rt);
    vrt_runtime_free(&rt);
}

/* rows: JoinHandle::release, JoinHandle::is_valid, JoinHandle::result */
Test(join_handle, release_finished_makes_copies_stale)
{
    vrt_runtime_t rt = vrt_runtime_new();
    script_t s = script(&rt, 1, 0, 8);
    vrt_join_handle_t h = spawn_ok(&rt, &s);
    run_ok(&rt);
    vrt_join_handle_t copy = h;
    cr_assert_eq(vrt_join_handle_release(&h), 0);
    CHECK(&rt);
    cr_assert_eq(h.task_id, -1);
    cr_assert_null(h.task_ptr);
    cr_assert_eq(vrt_join_handle_is_valid(&copy), 0);
    ASSERT_FAILS(vrt_join_handle_result(&copy), EINVAL);
    ASSERT_FAILS(vrt_join_handle_release(&copy), EINVAL);
    ASSERT_FAILS(vrt_join_handle_release(&h), EINVAL);
    vrt_runtime_free(&rt);
}

/* rows: JoinHandle::is_valid, JoinHandle::status, JoinHandle::abort,
 *       JoinHandle::release */
Test(join_handle, reused_node_is_detected_by_id)
{
    vrt_runtime_t rt = vrt_runtime_new();
    script_t a = script(&rt, 1, 0, 1), b = script(&rt, 2, 0, 2);
    vrt_join_handle_t ha = spawn_ok(&rt, &a);
    run_ok(&rt);
    vrt_join_handle_t stale = ha;
    cr_assert_eq(vrt_join_handle_release(&ha), 0);
    vrt_join_handle_t hb = spawn_ok(&rt, &b);
    cr_assert_eq(hb.task_ptr, stale.task_ptr, "the pool reuses the freed node first");
    cr_assert_neq(hb.task_id, stale.task_id);
    cr_assert_eq(vrt_join_handle_is_valid(&stale), 0);
    ASSERT_FAILS(vrt_join_handle_status(&stale), EINVAL);
    ASSERT_FAILS(vrt_join_handle_abort(&stale), EINVAL);
    cr_assert_eq(vrt_join_handle_status(&hb), VRT_TASK_PENDING);
    run_ok(&rt);
    cr_assert_eq(b.polls, 1);
    vrt_runtime_free(&rt);
}

/* rows: JoinHandle::release */
Test(join_handle, release_live_task_detaches_it)
{
    vrt_runtime_t rt = vrt_runtime_new();
    script_t s = script(&rt, 1, 2, 3);
    vrt_join_handle_t h = spawn_ok(&rt, &s);
    vrt_join_handle_t copy = h;
    vrt_task_node_t *node = h.task_ptr;
    cr_assert_eq(vrt_join_handle_release(&h), 0);
    CHECK(&rt);
    cr_assert_eq(vrt_join_handle_is_valid(&copy), 0, "a released handle is stale at once");
    cr_assert_eq(rt.task_count, 1, "the task still runs");
    run_ok(&rt);
    cr_assert_eq(s.polls, 3);
    cr_assert_eq(rt.free_list, node, "recycled when it finished");
    vrt_runtime_free(&rt);
}

/* rows: JoinHandle::abort, JoinHandle::result, TASK_CANCELLED */
Test(join_handle, abort_pending_task)
{
    vrt_runtime_t rt = vrt_runtime_new();
    script_t a = script(&rt, 1, -1, 0), b = script(&rt, 2, 1, 0);
    vrt_join_handle_t ha = spawn_ok(&rt, &a);
    spawn_ok(&rt, &b);
    cr_assert_eq(vrt_join_handle_abort(&ha), 1);
    CHECK(&rt);
    cr_assert_eq(rt.task_count, 1);
    cr_assert_eq(vrt_join_handle_status(&ha), VRT_TASK_CANCELLED);
    ASSERT_FAILS(vrt_join_handle_result(&ha), ECANCELED);
    run_ok(&rt);
    cr_assert_eq(a.polls, 0, "a cancelled task is never polled");
    cr_assert_eq(vrt_join_handle_abort(&ha), 0, "already finished");
    cr_assert_eq(vrt_join_handle_release(&ha), 0);
    CHECK(&rt);
    vrt_runtime_free(&rt);
}

/* rows: JoinHandle::abort */
Test(join_handle, abort_frees_the_slot)
{
    vrt_runtime_t rt = vrt_runtime_new();
    cr_assert_eq(vrt_runtime_set_max_tasks(&rt, 1), 0);
    script_t a = script(&rt, 1, -1, 0), b = script(&rt, 2, 0, 5);
    vrt_join_handle_t ha = spawn_ok(&rt, &a);
    errno = 0;
    vrt_join_handle_t full = vrt_runtime_spawn(&rt, fut(&b), script_poll);
    ASSERT_INVALID_HANDLE(full, EAGAIN);
    cr_assert_eq(vrt_join_handle_abort(&ha), 1);
    vrt_join_handle_t hb = spawn_ok(&rt, &b);
    run_ok(&rt);
    cr_assert_eq(vrt_join_handle_result(&hb), 5);
    vrt_runtime_free(&rt);
}

/* rows: JoinHandle::abort */
Test(join_handle, abort_completed_returns_zero)
{
    vrt_runtime_t rt = vrt_runtime_new();
    script_t a = script(&rt, 1, 0, 6);
    vrt_join_handle_t ha = spawn_ok(&rt, &a);
    run_ok(&rt);
    cr_assert_eq(vrt_join_handle_abort(&ha), 0);
    cr_assert_eq(vrt_join_handle_result(&ha), 6);
    CHECK(&rt);
    vrt_runtime_free(&rt);
}

static vrt_join_handle_t self_handle;

static void abort_self(script_t *s)
{
    cr_assert_eq(vrt_join_handle_abort(&self_handle), 1);
    cr_assert_eq(vrt_join_handle_status(&self_handle), VRT_TASK_CANCELLED);
    cr_assert_eq(vrt_join_handle_abort(&self_handle), 0);
    CHECK(s->rt);
}

/* rows: JoinHandle::abort, TASK_CANCELLED */
Test(join_handle, abort_self_during_poll)
{
    vrt_runtime_t rt = vrt_runtime_new();
    script_t a = script(&rt, 1, 0, 99), b = script(&rt, 2, 1, 0);
    a.hook = abort_self;
    self_handle = spawn_ok(&rt, &a);
    spawn_ok(&rt, &b);
    run_ok(&rt);
    cr_assert_eq(a.polls, 1);
    cr_assert_eq(vrt_join_handle_status(&self_handle), VRT_TASK_CANCELLED,
                 "the Ready returned after the abort does not count");
    ASSERT_FAILS(vrt_join_handle_result(&self_handle), ECANCELED);
    const int expected[] = {1, 2, 2};
    assert_trace(expected, 3);
    vrt_runtime_free(&rt);
}

static vrt_join_handle_t victim;

static void abort_victim(script_t *s)
{
    if (s->polls == 1) {
        cr_assert_eq(vrt_join_handle_abort(&victim), 1);
        cr_assert_eq(vrt_join_handle_release(&victim), 0);
        CHECK(s->rt);
    }
}

/* rows: JoinHandle::abort, JoinHandle::release */
Test(join_handle, abort_and_release_the_next_task_during_a_sweep)
{
    vrt_runtime_t rt = vrt_runtime_new();
    script_t a = script(&rt, 1, 1, 0), b = script(&rt, 2, -1, 0),
             c = script(&rt, 3, 1, 0);
    a.hook = abort_victim;
    spawn_ok(&rt, &a);
    victim = spawn_ok(&rt, &b);
    spawn_ok(&rt, &c);
    run_ok(&rt);
    const int expected[] = {1, 3, 1, 3};
    assert_trace(expected, 4);
    cr_assert_eq(b.polls, 0);
    vrt_runtime_free(&rt);
}

static void release_self(script_t *s)
{
    if (s->polls == 1) {
        cr_assert_eq(vrt_join_handle_release(&self_handle), 0);
        CHECK(s->rt);
    }
}

/* rows: JoinHandle::release */
Test(join_handle, release_self_during_poll)
{
    vrt_runtime_t rt = vrt_runtime_new();
    script_t a = script(&rt, 1, 1, 0);
    a.hook = release_self;
    self_handle = spawn_ok(&rt, &a);
    vrt_task_node_t *node = self_handle.task_ptr;
    run_ok(&rt);
    cr_assert_eq(a.polls, 2);
    cr_assert_eq(rt.free_list, node);
    vrt_runtime_free(&rt);
}
